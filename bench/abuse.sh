#!/usr/bin/env bash
# Load-and-abuse suite for one node (issue #11): a 64 × 64 MiB GET flood with
# 16 × 1 GiB PUTs, 16 stalled uploads + 16 downloads that never read, 2000
# idle connections, each next to a probe client. Prints one JSON line per
# scenario: requests, errors by code, probe max latency, peak RSS.
# Not a CI test (the flood writes 16 GiB); CI runs a slice in
# crates/liuma-server/tests/it/abuse.rs.
# Usage: bench/abuse.sh [quiet|flood|stalled|idle|big|get64 ...]   Env: see bench/abuse.py
# (big: 16 parallel 1 GiB PUTs then GETs, peak RSS of each; get64: GET MB/s)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p liuma-server --quiet
python3 -c 'import boto3' 2>/dev/null || { echo "bench/abuse.sh needs boto3 (pip install boto3)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench/abuse.sh needs curl" >&2; exit 1; }
exec python3 bench/abuse.py "$@"
