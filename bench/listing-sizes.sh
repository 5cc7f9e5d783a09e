#!/usr/bin/env bash
# Listing speed by object size: does listing slow down when objects carry
# bytes? For each binary (A, then B, ROUNDS times, interleaved), a fresh
# node gets KEYS objects of 0 B, 1 KiB and 4 KiB in three buckets; then
# `liuma bench -w list` lists each bucket OPS times (keys/s and the p50 of
# one full listing), rclone lists the 4 KiB bucket, and the node's peak RSS
# and metadata size are printed. Not a CI test.
#
# Usage: bench/listing-sizes.sh
# Env:   A, B     liuma binaries to compare (default: B = target/release/liuma,
#                 built if missing; A unset = B alone). E.g. A = a build of an
#                 older commit (a098016 has metadata layout 1).
#        KEYS (20000)  OPS (25)  ROUNDS (1)  WORK (temp dir; removed unless KEEP=1)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-target/release/liuma}
[ -x "$B" ] || cargo build --release -p liuma-server --quiet
KEYS=${KEYS:-20000}
OPS=${OPS:-25}
ROUNDS=${ROUNDS:-1}
work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/liuma-listing.XXXXXX")}
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
command -v rclone >/dev/null || { echo "rclone is needed" >&2; exit 1; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# one_node LABEL BINARY ROUND: start, fill, list, measure, stop, clean.
one_node() {
    local label=$1 bin=$2 round=$3 d="$work/$1" port
    port=$(free_port)
    rm -rf "$d"; mkdir -p "$d"
    "$bin" server --data "$d/n" --s3-listen "127.0.0.1:$port" --admin-listen 127.0.0.1:0 --console-listen 127.0.0.1:0 \
        --native-listen 127.0.0.1:0 >"$d/log" 2>&1 &
    pid=$!
    for _ in $(seq 300); do
        [ -s "$d/n/secrets/root.key" ] && curl -s -o /dev/null "127.0.0.1:$port" && break
        sleep 0.1
    done
    local key secret
    key=$(sed -n 1p "$d/n/secrets/root.key"); secret=$(sed -n 2p "$d/n/secrets/root.key")
    for size in 0B 1KiB 4KiB; do
        local bucket; bucket="ls-$(echo "$size" | tr 'A-Z' 'a-z')"
        # the client is always B's `liuma bench`, so only the server differs
        AWS_SECRET_ACCESS_KEY=$secret "$B" bench --endpoint "http://127.0.0.1:$port" \
            --access-key "$key" --region us-east-1 --bucket "$bucket" --prefix p/ --json --quiet \
            -w list --size "$size" -c 1 --objects "$KEYS" --ops "$OPS" >"$d/$size.json"
        python3 - "$d/$size.json" "$label" "$size" "$round" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
t = d["total"]
print(f"round {sys.argv[4]} {sys.argv[2]:>2} {sys.argv[3]:>5}: {t['keys_listed'] / d['duration_secs']:>9,.0f} keys/s, "
      f"p50 {t['latency_ms']['p50']:.1f} ms per listing, errors {t['errors']}")
PY
    done
    local secs
    secs=$( { /usr/bin/time -f %e env -u AWS_CA_BUNDLE RCLONE_CONFIG_X_TYPE=s3 RCLONE_CONFIG_X_PROVIDER=Other \
        RCLONE_CONFIG_X_ACCESS_KEY_ID="$key" RCLONE_CONFIG_X_SECRET_ACCESS_KEY="$secret" \
        RCLONE_CONFIG_X_ENDPOINT="http://127.0.0.1:$port" RCLONE_CONFIG_X_FORCE_PATH_STYLE=true \
        rclone lsf -q x:ls-4kib/p/ >/dev/null; } 2>&1 | tail -1 )
    echo "round $round $label rclone lsf of $KEYS keys of 4 KiB: $secs s; peak RSS $(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status") MiB"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    echo "round $round $label metadata on disk: $(du -sh "$d/n/meta" | cut -f1)"
    rm -rf "$d"
}

for round in $(seq "$ROUNDS"); do
    [ -n "${A:-}" ] && one_node A "$A" "$round"
    one_node B "$B" "$round"
done
