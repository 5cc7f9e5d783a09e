#!/usr/bin/env bash
# A million objects on one node: does liuma slow down as the count grows?
# Writes ROUNDS × PER_ROUND objects of SIZE (default 10 × 100 000 × 1 KiB)
# with `liuma bench -w put`, and after every round prints: the round's PUT
# ops/s and latency percentiles, the time of one full listing of the bucket
# (every page), metadata bytes per object on disk, and the node's peak RSS.
# With ETCD=1 the node keeps its metadata in a fresh etcd instead of redb
# (etcd bytes per object from its db size after compaction + defrag).
# Not a CI test.
#
# Usage: bench/million.sh
# Env:   ROUNDS (10)  PER_ROUND (100000)  SIZE (1KiB)  CONC (32)  ETCD (0)
#        BIN (target/release/liuma, built if missing)
#        WORK (temp dir; removed unless KEEP=1)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/liuma}
[ -x "$BIN" ] || cargo build --release -p liuma-server --quiet
ROUNDS=${ROUNDS:-10}
PER_ROUND=${PER_ROUND:-100000}
SIZE=${SIZE:-1KiB}
CONC=${CONC:-32}
work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/liuma-million.XXXXXX")}
mkdir -p "$work"
pid= etcd_pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "$etcd_pid" ] && kill "$etcd_pid" 2>/dev/null && wait "$etcd_pid" 2>/dev/null
    [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
command -v rclone >/dev/null || { echo "bench/million.sh needs rclone" >&2; exit 1; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

port=$(free_port)
etcd_args=()
if [ "${ETCD:-0}" = 1 ]; then
    command -v etcd >/dev/null || { echo "ETCD=1 needs etcd (apt-get install etcd-server)" >&2; exit 1; }
    eport=$(free_port); epeer=$(free_port)
    etcd --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$eport" \
        --advertise-client-urls "http://127.0.0.1:$eport" --listen-peer-urls "http://127.0.0.1:$epeer" \
        --quota-backend-bytes $((8 << 30)) >"$work/etcd.log" 2>&1 &
    etcd_pid=$!
    etcd_args=(--etcd "http://127.0.0.1:$eport")
    for _ in $(seq 100); do curl -s "127.0.0.1:$eport/health" | grep -q true && break; sleep 0.1; done
fi
"$BIN" server --data "$work/n" --s3-listen "127.0.0.1:$port" --admin-listen 127.0.0.1:0 --console-listen 127.0.0.1:0 \
    --native-listen 127.0.0.1:0 "${etcd_args[@]}" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 300); do
    [ -s "$work/n/secrets/root.key" ] && curl -s -o /dev/null "127.0.0.1:$port" && break
    sleep 0.1
done
key=$(sed -n 1p "$work/n/secrets/root.key")
export AWS_SECRET_ACCESS_KEY; AWS_SECRET_ACCESS_KEY=$(sed -n 2p "$work/n/secrets/root.key")
bench() { "$BIN" bench --endpoint "http://127.0.0.1:$port" --access-key "$key" --bucket million --json --quiet "$@"; }

meta_bytes() {
    if [ "${ETCD:-0}" = 1 ]; then
        # compact to the current revision and defragment, then the db size
        local ep="http://127.0.0.1:$eport" rev
        rev=$(curl -s "$ep/v3/kv/range" -d '{"key":"AA=="}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["header"]["revision"])')
        curl -s "$ep/v3/kv/compaction" -d "{\"revision\":\"$rev\",\"physical\":true}" >/dev/null
        curl -s -X POST "$ep/v3/maintenance/defragment" -d '{}' >/dev/null
        curl -s -X POST "$ep/v3/maintenance/status" -d '{}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["dbSize"])'
    else
        du -sb "$work/n/meta" | cut -f1
    fi
}

echo "liuma $("$BIN" --version 2>/dev/null | head -1) — $ROUNDS × $PER_ROUND objects of $SIZE, $CONC clients, metadata: $([ "${ETCD:-0}" = 1 ] && echo etcd || echo redb)"
printf '%-9s %9s %8s %8s %8s %10s %11s %8s\n' objects "PUT ops/s" "p50 ms" "p99 ms" "errors" "list s" "meta B/obj" "RSS MiB"
for round in $(seq "$ROUNDS"); do
    bench -w put --size "$SIZE" -c "$CONC" --ops "$PER_ROUND" --prefix "m/r$(printf %03d "$round")/" >"$work/put.json"
    total=$((round * PER_ROUND))
    # one listing of every key (all pages, no delimiter), by rclone
    list_secs=$( { /usr/bin/time -f %e env -u AWS_CA_BUNDLE RCLONE_CONFIG_X_TYPE=s3 RCLONE_CONFIG_X_PROVIDER=Other \
        RCLONE_CONFIG_X_ACCESS_KEY_ID="$key" RCLONE_CONFIG_X_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
        RCLONE_CONFIG_X_ENDPOINT="http://127.0.0.1:$port" RCLONE_CONFIG_X_FORCE_PATH_STYLE=true \
        rclone lsf -q -R --files-only --fast-list x:million/m/ >"$work/list.txt"; } 2>&1 | tail -1 )
    python3 - "$work/put.json" "$(wc -l <"$work/list.txt")" "$total" "$list_secs" "$(meta_bytes)" \
        "$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status")" <<'PY'
import json, sys
put = json.load(open(sys.argv[1]))
listed = int(sys.argv[2])
total, list_secs, meta, rss = int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
t = put["total"]
if listed < total:
    print(f"listing saw {listed} keys of {total}", file=sys.stderr)
    sys.exit(1)
print(f"{total:<9} {t['ops'] / put['duration_secs']:>9,.0f} {t['latency_ms']['p50']:>8.1f} "
      f"{t['latency_ms']['p99']:>8.1f} {t['errors']:>8} {float(list_secs):>10.2f} {meta / total:>11,.0f} {rss:>8}")
PY
done
