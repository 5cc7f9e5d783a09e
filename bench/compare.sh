#!/usr/bin/env bash
# liuma vs Garage, same machine, same run: both servers on loopback, the same
# `liuma bench` workloads against each one after the other, then ratios,
# each server's peak RSS (/proc/<pid>/status VmHWM), storage efficiency
# (bytes on disk / logical bytes) for a mixed dataset, and the raw disk
# write/read speed of the work directory as the physical limit.
#
# Usage: bench/compare.sh            (not a CI test; takes ~15 min + Garage build)
# Env:   GARAGE_ROOT   where Garage is installed (default ~/.cache/liuma-bench/garage);
#                      installed with `cargo install --locked` when missing (~25 min once)
#        GARAGE_VERSION (2.5.0)   SECS per timed workload (20)   LIST_KEYS (100000)
#        BIG_MIB size of the single-stream object (1024)   MIXED_MIB per data kind (256)
#        WORK directory for both servers' data (default: a temp dir under $TMPDIR)
#        KEEP=1 keeps the work directory
#        PEER=none runs liuma alone (checks the script without Garage)
set -euo pipefail
cd "$(dirname "$0")/.."
GARAGE_ROOT=${GARAGE_ROOT:-$HOME/.cache/liuma-bench/garage}
GARAGE_VERSION=${GARAGE_VERSION:-2.5.0}
SECS=${SECS:-20}
LIST_KEYS=${LIST_KEYS:-100000}
BIG_MIB=${BIG_MIB:-1024}
MIXED_MIB=${MIXED_MIB:-256}
GARAGE=$GARAGE_ROOT/bin/garage
PEER=${PEER:-garage}
LIUMA=target/release/liuma

if [ "$PEER" = garage ] && [ ! -x "$GARAGE" ]; then
    echo "== installing Garage $GARAGE_VERSION into $GARAGE_ROOT (once; ~25 min on 2 cores)"
    cargo install --locked garage --version "$GARAGE_VERSION" --root "$GARAGE_ROOT"
fi
cargo build --release -p liuma-server --quiet

work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/liuma-compare.XXXXXX")}
mkdir -p "$work"
lpid= gpid=
cleanup() {
    for p in $lpid $gpid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
json() { python3 -c "import json,sys;d=json.load(open(sys.argv[1]));print(eval(sys.argv[2]))" "$@"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
hwm() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
disk_bytes() { du -sc --block-size=1 "$@" | tail -1 | cut -f1; }

echo "== raw disk speed of $work (dd, ${BIG_MIB} MiB, fdatasync; page cache dropped if root)"
raw_w=$(dd if=/dev/zero of="$work/raw" bs=4M count=$((BIG_MIB / 4)) conv=fdatasync 2>&1 | awk 'END {print $(NF-1), $NF}')
drop_caches
raw_r=$(dd if="$work/raw" of=/dev/null bs=4M 2>&1 | awk 'END {print $(NF-1), $NF}')
rm -f "$work/raw"
echo "write $raw_w, read $raw_r"

echo "== starting liuma"
$LIUMA server --data "$work/liuma" --admin-listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 \
    --native-listen 127.0.0.1:0 --ready-file "$work/liuma-ready.json" \
    >"$work/liuma.log" 2>&1 &
lpid=$!
for _ in $(seq 300); do [ -s "$work/liuma-ready.json" ] && break; sleep 0.1; done
liuma_ep=http://$(json "$work/liuma-ready.json" 'd["s3"]')
liuma_key=$(sed -n 1p "$work/liuma/secrets/root.key")
liuma_secret=$(sed -n 2p "$work/liuma/secrets/root.key")

start_garage() {
echo "== starting Garage $("$GARAGE" --version 2>/dev/null | head -1)"
rpc_port=$(free_port); s3_port=$(free_port)
mkdir -p "$work/garage"
cat >"$work/garage/garage.toml" <<TOML
metadata_dir = "$work/garage/meta"
data_dir = "$work/garage/data"
db_engine = "lmdb"
replication_factor = 1
compression_level = 1
# liuma's block size, so dedup granularity matches.
block_size = 4194304
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(python3 -c 'import secrets;print(secrets.token_hex(32))')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"
TOML
g() { "$GARAGE" -c "$work/garage/garage.toml" "$@"; }
"$GARAGE" -c "$work/garage/garage.toml" server >"$work/garage.log" 2>&1 &
gpid=$!
for _ in $(seq 300); do g status >/dev/null 2>&1 && break; sleep 0.1; done
node=$(g node id -q | cut -d@ -f1)
g layout assign -z dc1 -c 20G "$node" >/dev/null
g layout apply --version 1 >/dev/null
keyinfo=$(g key create bench-key)
garage_key=$(echo "$keyinfo" | awk -F': *' '/Key ID/ {print $2}')
garage_secret=$(echo "$keyinfo" | awk -F': *' '/Secret key/ {print $2}')
g bucket create liuma-bench >/dev/null
g bucket allow --read --write --owner liuma-bench --key bench-key >/dev/null
garage_ep=http://127.0.0.1:$s3_port
}
servers=liuma
if [ "$PEER" = garage ]; then start_garage; servers="liuma garage"; fi

# bench SERVER NAME ARGS...: one `liuma bench` run, JSON kept in $work/SERVER-NAME.json.
bench() {
    local server=$1 name=$2; shift 2
    local ep key secret region
    if [ "$server" = liuma ]; then ep=$liuma_ep key=$liuma_key secret=$liuma_secret region=us-east-1
    else ep=$garage_ep key=$garage_key secret=$garage_secret region=garage; fi
    drop_caches
    AWS_SECRET_ACCESS_KEY=$secret $LIUMA bench --endpoint "$ep" --access-key "$key" \
        --region "$region" --bucket liuma-bench --prefix "$name/" --seed "${SEED:-1}" --json --quiet "$@" \
        >"$work/$server-$name.json" || echo "($server $name had errors; see $work/$server-$name.json)" >&2
    local pid=$lpid; [ "$server" = liuma ] || pid=$gpid
    printf '%-8s %-16s %s, server peak RSS so far %s MiB\n' "$server" "$name" "$(json "$work/$server-$name.json" \
        '"%.1f MB/s, %.1f ops/s, p99 %.1f ms, errors %d" % (d["total"]["mb_per_sec"], d["total"]["ops_per_sec"], d["total"]["latency_ms"]["p99"], d["total"]["errors"])')" "$(hwm "$pid")"
}

workloads() {
    local s=$1
    bench "$s" put-big -w put --size "${BIG_MIB}MiB" -c 1 --ops 2
    bench "$s" get-big -w get --size "${BIG_MIB}MiB" -c 1 --objects 1 --ops 2
    bench "$s" put-64m -w put --size 64MiB -c 8 --duration "${SECS}s"
    bench "$s" get-64m -w get --size 64MiB -c 8 --objects 8 --duration "${SECS}s"
    bench "$s" put-4k -w put --size 4KiB -c 32 --duration "${SECS}s"
    bench "$s" get-4k -w get --size 4KiB -c 32 --objects 1024 --duration "${SECS}s"
    bench "$s" list -w list --size 0B -c 32 --objects "$LIST_KEYS" --ops 1
}

# The mixed dataset for storage efficiency: duplicate + text + random, 8 MiB objects.
dataset() {
    local s=$1 dirs
    if [ "$s" = liuma ]; then dirs="$work/liuma"; else dirs="$work/garage/meta $work/garage/data"; fi
    sleep 2; local before; before=$(disk_bytes $dirs)
    for mode in duplicate text random; do
        # Its own seed: seed 1's random objects above would dedup against it.
        SEED=7 bench "$s" "mixed-$mode" -w put --size 8MiB --data "$mode" -c 4 --ops $((MIXED_MIB / 8))
    done
    sync; sleep 5
    local after; after=$(disk_bytes $dirs)
    echo "$((after - before))" >"$work/$s-disk"
}

for s in $servers; do workloads "$s"; dataset "$s"; done

echo
echo "== results (ratio = liuma / garage; RSS ratio: lower is better for liuma)"
logical=$((3 * MIXED_MIB * 1048576))
LIST_KEYS=$LIST_KEYS python3 - "$work" "$logical" "$(hwm $lpid)" "$( [ -n "$gpid" ] && hwm "$gpid" || echo 0)" "$raw_w" "$raw_r" "$(git rev-parse --short HEAD)" <<'PY'
import json, os, sys
work, logical, lrss, grss, raw_w, raw_r, commit = sys.argv[1:8]
logical = int(logical)
def load(s, n):
    p = f"{work}/{s}-{n}.json"
    return json.load(open(p)) if os.path.exists(p) else None
def metric(d, k):
    if d is None:
        return None
    if k == "keys_per_sec":
        return d["total"]["keys_listed"] / max(d["duration_secs"], 1e-9)
    return d["total"][k]
def disk(s):
    p = f"{work}/{s}-disk"
    return int(open(p).read()) / logical if os.path.exists(p) else None
def cell(v, unit, fmt):
    return "–" if v is None else f"{v:{fmt}} {unit}".strip()
def ratio(l, g):
    return "–" if l is None or not g else f"{l / g:.2f}"
rows = [("1 GiB PUT, 1 stream", "put-big", "mb_per_sec", "MB/s"),
        ("1 GiB GET, 1 stream", "get-big", "mb_per_sec", "MB/s"),
        ("64 MiB PUT, 8 concurrent", "put-64m", "mb_per_sec", "MB/s"),
        ("64 MiB GET, 8 concurrent", "get-64m", "mb_per_sec", "MB/s"),
        ("4 KiB PUT, 32 concurrent", "put-4k", "ops_per_sec", "ops/s"),
        ("4 KiB GET, 32 concurrent", "get-4k", "ops_per_sec", "ops/s"),
        (f"list of {int(os.environ.get('LIST_KEYS', '100000')):,} keys", "list", "keys_per_sec", "keys/s")]
print(f"commit {commit}; raw disk write {raw_w}, read {raw_r}")
print("| workload | liuma | Garage | liuma/Garage |\n|---|---|---|---|")
for label, n, k, unit in rows:
    l, g = metric(load("liuma", n), k), metric(load("garage", n), k)
    print(f"| {label} | {cell(l, unit, '.1f')} | {cell(g, unit, '.1f')} | {ratio(l, g)} |")
lr, gr = int(lrss), int(grss) or None
print(f"| peak RSS (VmHWM) | {lr} MiB | {cell(gr, 'MiB', 'd')} | {ratio(lr, gr)} |")
ld, gd = disk("liuma"), disk("garage")
print(f"| disk / logical, mixed dataset ({logical >> 20} MiB) | {cell(ld, '', '.3f')} | {cell(gd, '', '.3f')} | {ratio(ld, gd)} |")
PY
