#!/usr/bin/env bash
# Chaos suite for a cluster (issue #12): a verified load (every acknowledged
# key with its SHA-256) while nodes are SIGKILLed, SIGSTOPped, restarted,
# shard files corrupted and etcd killed, each fault followed by a heal on every
# node and a full read-back; plus growth from one node to six and three nodes
# down. Prints per scenario: acknowledged / lost / corrupted / 503s while
# faulted / max and p99 request latency. Exit 1 if anything acknowledged was
# lost or corrupted.
# Not a CI test (the full run takes a while); --quick is a few minutes.
# Usage: bench/chaos.sh [--quick] [--json] [kill2|freeze|corrupt|etcd|crash_all|three_down|growth ...]
# Env: see bench/chaos.py (NODES, FREEZE_SECS, LOAD_SECS, KEEP=1, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p liuma-server --quiet
python3 -c 'import boto3' 2>/dev/null || { echo "bench/chaos.sh needs boto3 (pip install boto3)" >&2; exit 1; }
command -v "${ETCD:-etcd}" >/dev/null || { echo "bench/chaos.sh needs etcd (apt-get install etcd-server)" >&2; exit 1; }
exec python3 bench/chaos.py "$@"
