#!/usr/bin/env bash
# Cost of server-side encryption at rest: PUT/GET of 64 MiB and 4 KiB
# objects, plain vs SSE-S3 vs SSE-C, against one liuma node, same run.
#
#   bench/sse.sh [path/to/liuma]        (default: target/release/liuma)
#
# Env: SECS (per 4 KiB phase, default 10), OPS64 (64 MiB PUTs, default 8),
# DATA (node data dir, default a temp dir; removed afterwards).
# The node runs with --sse-c-plain-http (the bench speaks plain HTTP).
# Prints `uptime` with the figures: the machine may be shared.
set -euo pipefail
LIUMA=${1:-target/release/liuma}
SECS=${SECS:-10}
OPS64=${OPS64:-8}
DATA=${DATA:-$(mktemp -d /tmp/liuma-sse-bench.XXXXXX)}
PORT=${PORT:-19300}
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$DATA"' EXIT

"$LIUMA" server --data "$DATA" --s3-listen "127.0.0.1:$PORT" --native-listen "127.0.0.1:$((PORT + 1))" \
    --admin-listen "127.0.0.1:$((PORT + 2))" --console-listen "127.0.0.1:$((PORT + 4))" \
    --sse-c-plain-http >"$DATA.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    [ -f "$DATA/secrets/root.key" ] && curl -s -o /dev/null "http://127.0.0.1:$((PORT + 2))/health" && break
    sleep 0.2
done
key=$(sed -n 1p "$DATA/secrets/root.key")
export AWS_SECRET_ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$(sed -n 2p "$DATA/secrets/root.key")

bench() {
    local name=$1 sse=$2; shift 2
    local out
    out=$("$LIUMA" bench --endpoint "http://127.0.0.1:$PORT" --access-key "$key" --bucket sse-bench \
        --prefix "$sse-$name/" --seed 1 --json --quiet --sse "$sse" "$@")
    python3 -c 'import json,sys; d=json.load(sys.stdin)["total"]
print("%-7s %-9s %8.1f MB/s %9.1f ops/s  p50 %7.2f ms  p99 %7.2f ms  errors %d" % (sys.argv[1], sys.argv[2],
 d["mb_per_sec"], d["ops_per_sec"], d["latency_ms"]["p50"], d["latency_ms"]["p99"], d["errors"]))' "$sse" "$name" <<<"$out"
}

echo "# $(date -u +%FT%TZ) $(uptime)"
for sse in none s3 c; do
    bench put-64m "$sse" -w put --size 64MiB -c 1 --ops "$OPS64" --data random
    bench get-64m "$sse" -w get --size 64MiB -c 1 --objects 2 --ops "$OPS64" --data random
    bench put-4k "$sse" -w put --size 4KiB -c 16 --duration "${SECS}s" --data random
    bench get-4k "$sse" -w get --size 4KiB -c 16 --objects 512 --duration "${SECS}s" --data random
done
echo "# $(uptime)"
