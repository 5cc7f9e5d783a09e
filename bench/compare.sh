#!/usr/bin/env bash
# liuma vs Garage on one machine, in one script run: the same `liuma bench`
# workloads and the same rclone commands against both servers on loopback,
# each server's peak RSS (/proc/<pid>/status VmHWM), storage efficiency
# (bytes on disk / logical bytes) for a mixed dataset, and the raw disk speed
# of the work directory as the physical limit. Prints a markdown table with
# the commit; WRITE=1 also adds it to BENCHMARKS.md under a dated heading.
#
# How a run is shaped, and why:
# - Two rounds, interleaved: liuma, Garage, liuma, Garage. This VM's disk
#   writes land in a host cache whose speed drifts; interleaving turns that
#   drift into run-to-run spread (visible in the table) instead of a
#   difference between the servers. Each round measures the raw disk first.
# - A server run is five phases. Each phase starts the server on a fresh,
#   empty data dir and wipes it afterwards, because
#     * disk use stays bounded (about 3 GiB at the defaults, see need_mib);
#     * VmHWM can only be reset by a restart, so each phase's peak RSS is its
#       own: the rclone pass gets a figure of its own, and "peak RSS of the
#       liuma bench workloads" is the largest of the first four phases.
#   Phases:
#     big     1 stream: PUT of 2 BIG_MIB objects, GET of one twice
#     64m     8 streams of 64 MiB: PUT of 2×BIG_MIB in all (by bytes, not by
#             time: 20 s at 300+ MB/s would write 6+ GiB), GET for SECS
#     small   4 KiB PUT and GET, 32 concurrent, SECS each; a full listing of
#             LIST_KEYS keys of 0 B, of 1 KiB and of 4 KiB, each its own
#             prefix (listing must not depend on object size: never measure
#             only the size where a weakness disappears); and one 1 000-key
#             ListObjectsV2 page of the 4 KiB keys timed by curl (SigV4 by
#             curl: the server's time per page without an SDK's)
#     mixed   bytes on disk added by MIXED_MIB each of duplicate, text and
#             random data in 8 MiB objects, over the logical size
#     rclone  the client most users have, its defaults plus: a RCLONE_BIG_MIB
#             file PUT (16 MiB parts, 4 at a time), RCLONE_SMALL 4 KiB files
#             PUT (32 transfers), `rclone lsf` of those keys (best of 3),
#             `rclone lsf` of an empty prefix (rclone's own start-up and one
#             request: the floor under any lsf time) and the difference, and
#             the big file GET back (to a local file, rclone's own multi-thread
#             download); rclone is configured by RCLONE_CONFIG_SRV_* env vars
# - The page cache is dropped (when root) before every read workload, so the
#   servers read from disk; the rclone PUT sources are read into the page
#   cache first, so the client's disk reads are not measured.
#
# Usage: bench/compare.sh            (not a CI test; ~30 min + Garage build)
# Env:   LIUMA          liuma binary to test (default: target/release/liuma,
#                       built first; when set, nothing is built)
#        GARAGE_ROOT    where Garage is installed (~/.cache/liuma-bench/garage);
#                       installed with `cargo install --locked` when missing
#                       (~25 min once)
#        GARAGE_VERSION (2.5.0)   PEER=none runs liuma alone (no Garage)
#        SECS per timed workload (20)    LIST_KEYS keys per listing (100000)
#        BIG_MIB single-stream object (1024)   MIXED_MIB per data kind (256)
#        RCLONE_SMALL 4 KiB files (2000)   RCLONE_BIG_MIB rclone's file (1024)
#        WORK work directory (default: a temp dir under $TMPDIR); deleted at
#             the end unless KEEP=1 (which keeps results and logs; server data
#             and rclone's files are deleted as the run goes)
#        WRITE=1 inserts the table into BENCHMARKS.md ("liuma vs Garage")
#        PHASES  the phases to run (default "big 64m small mixed rclone"); rows
#                of phases not run show "–" (e.g. PHASES="small rclone" for
#                the listing and rclone targets alone)
set -euo pipefail

# LIUMA may be relative to the caller's directory: resolve it before the cd.
if [ -n "${LIUMA:-}" ]; then LIUMA=$(realpath "$LIUMA"); fi
cd "$(dirname "$0")/.."
GARAGE_ROOT=${GARAGE_ROOT:-$HOME/.cache/liuma-bench/garage}
GARAGE_VERSION=${GARAGE_VERSION:-2.5.0}
GARAGE=$GARAGE_ROOT/bin/garage
PEER=${PEER:-garage}
SECS=${SECS:-20}
LIST_KEYS=${LIST_KEYS:-100000}
BIG_MIB=${BIG_MIB:-1024}
MIXED_MIB=${MIXED_MIB:-256}
RCLONE_SMALL=${RCLONE_SMALL:-2000}
RCLONE_BIG_MIB=${RCLONE_BIG_MIB:-1024}
PHASES=${PHASES:-big 64m small mixed rclone}
BUCKET=liuma-bench

log() { echo "== $*"; }
die() {
    echo "compare.sh: $*" >&2
    [ -z "${work:-}" ] || [ "${KEEP:-0}" = 1 ] || echo "compare.sh: $work is deleted on exit; KEEP=1 keeps its logs" >&2
    exit 1
}

case $PEER in garage) servers="liuma garage" ;; none) servers=liuma ;; *) die "PEER is garage or none" ;; esac
command -v rclone >/dev/null || die "rclone is not installed"
if [ "$PEER" = garage ] && [ ! -x "$GARAGE" ]; then
    log "installing Garage $GARAGE_VERSION into $GARAGE_ROOT (once; ~25 min on 2 cores)"
    cargo install --locked garage --version "$GARAGE_VERSION" --root "$GARAGE_ROOT"
fi
if [ -n "${LIUMA:-}" ]; then
    binary_note="liuma binary $LIUMA (given by LIUMA: not necessarily built from this commit)"
else
    LIUMA=target/release/liuma
    cargo build --release -p liuma-server --quiet
    binary_note="liuma built from this commit (target/release/liuma)"
fi
[ -x "$LIUMA" ] || die "no liuma binary at $LIUMA"

work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/liuma-compare.XXXXXX")}
mkdir -p "$work"
work=$(realpath "$work")
res=$work/results logs=$work/logs src=$work/rclone-src data=$work/data
mkdir -p "$res" "$logs"

# Disk bound: the rclone sources stay for the whole run; beside them at most
# one phase's data: 2×BIG_MIB in big and 64m, the RCLONE_BIG_MIB object plus
# its downloaded copy in rclone, 3 × LIST_KEYS small objects plus the 4 KiB
# PUTs in small (16 KiB per listed key, generously). Plus 512 MiB of slack.
max() { if [ "$1" -gt "$2" ]; then echo "$1"; else echo "$2"; fi; }
need_mib=$((RCLONE_BIG_MIB + $(max $((2 * BIG_MIB)) $(max $((2 * RCLONE_BIG_MIB)) $((LIST_KEYS * 16 / 1024)))) + 512))
free_mib=$(df --output=avail -m "$work" | tail -1 | tr -d ' ')
[ "$free_mib" -ge "$need_mib" ] || die "$work has $free_mib MiB free, the run needs about $need_mib MiB"

# The running server (start_<server>, stop_server) and the current phase's
# tag (rRUN-SERVER: results file prefix) and server log; set by phase().
srv_pid= srv_ep= srv_key= srv_secret= srv_region= tag= srv_log=/dev/null server=
cleanup() {
    stop_server
    rm -rf "$src" "$data" "$data.ready.json" "$work/raw" "$work/rclone-get.bin"
    [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
json() { python3 -c "import json,sys;d=json.load(open(sys.argv[1]));print(eval(sys.argv[2]))" "$@"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
hwm() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
disk_bytes() { du -sc --block-size=1 "$@" | tail -1 | cut -f1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }
# wait_for SECONDS CMD...: polls CMD every 0.1 s; fails after SECONDS.
wait_for() {
    local deadline=$(($(date +%s) + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# raw_disk RUN: dd write (fdatasync) and cold read of BIG_MIB, with no server
# running; the result is the physical limit of that round.
raw_disk() {
    log "run $1: raw disk speed of $work (dd, ${BIG_MIB} MiB, fdatasync; page cache dropped if root)"
    local w r
    w=$(dd if=/dev/zero of="$work/raw" bs=4M count=$((BIG_MIB / 4)) conv=fdatasync 2>&1 | awk 'END {print $(NF-1), $NF}')
    drop_caches
    r=$(dd if="$work/raw" of=/dev/null bs=4M 2>&1 | awk 'END {print $(NF-1), $NF}')
    rm -f "$work/raw"
    echo "write $w, read $r"
    echo "$w / $r" >"$res/r$1-raw"
}

# The rclone sources, made once so every server gets the same bytes:
# incompressible, so neither server's compression changes the figures.
make_rclone_sources() {
    log "rclone sources: one ${RCLONE_BIG_MIB} MiB file, $RCLONE_SMALL files of 4 KiB"
    python3 - "$src" "$RCLONE_BIG_MIB" "$RCLONE_SMALL" <<'PY'
import os, sys
src, big_mib, small = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(f"{src}/small", exist_ok=True)
with open(f"{src}/big.bin", "wb") as f:
    for _ in range(big_mib):
        f.write(os.urandom(1 << 20))
for i in range(small):
    with open(f"{src}/small/{i:05d}", "wb") as f:
        f.write(os.urandom(4096))
PY
}

# --- servers: start_<server> DIR sets srv_pid, srv_ep, srv_key, srv_secret, srv_region.

start_liuma() {
    local dir=$1
    "$LIUMA" server --data "$dir" --admin-listen 127.0.0.1:0 --console-listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 \
        --native-listen 127.0.0.1:0 --ready-file "$dir.ready.json" >>"$srv_log" 2>&1 &
    srv_pid=$!
    wait_for 30 test -s "$dir.ready.json" || die "liuma did not start; see $srv_log"
    srv_ep=http://$(json "$dir.ready.json" 'd["s3"]')
    srv_key=$(sed -n 1p "$dir/secrets/root.key")
    srv_secret=$(sed -n 2p "$dir/secrets/root.key")
    srv_region=us-east-1
}

start_garage() {
    local dir=$1 rpc_port s3_port
    rpc_port=$(free_port) s3_port=$(free_port)
    mkdir -p "$dir"
    cat >"$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
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
    g() { "$GARAGE" -c "$dir/garage.toml" "$@"; }
    "$GARAGE" -c "$dir/garage.toml" server >>"$srv_log" 2>&1 &
    srv_pid=$!
    wait_for 30 g status || die "Garage did not start; see $srv_log"
    local node keyinfo
    node=$(g node id -q | cut -d@ -f1)
    g layout assign -z dc1 -c 20G "$node" >/dev/null
    g layout apply --version 1 >/dev/null
    keyinfo=$(g key create bench-key)
    srv_key=$(echo "$keyinfo" | awk -F': *' '/Key ID/ {print $2}')
    srv_secret=$(echo "$keyinfo" | awk -F': *' '/Secret key/ {print $2}')
    # Garage keys may not create buckets: the bucket is made here, for both clients.
    g bucket create "$BUCKET" >/dev/null
    g bucket allow --read --write --owner "$BUCKET" --key bench-key >/dev/null
    srv_ep=http://127.0.0.1:$s3_port
    srv_region=garage
}

# stop_server: TERM, then KILL after 30 s (never hang on a stuck shutdown).
stop_server() {
    [ -n "$srv_pid" ] || return 0
    kill "$srv_pid" 2>/dev/null || true
    if ! wait_for 30 eval "! kill -0 $srv_pid"; then kill -9 "$srv_pid" 2>/dev/null || true; fi
    wait "$srv_pid" 2>/dev/null || true
    srv_pid=
}

# phase SERVER RUN NAME: the named phase on a fresh server and data dir;
# records the server's VmHWM of that phase, then stops it and wipes its data.
phase() {
    local run=$2 name=$3
    server=$1 tag=r$run-$1 srv_log=$logs/r$run-$1-server.log
    rm -rf "$data" "$data.ready.json"
    echo "--- phase $name, $(date -u +%H:%M:%S)" >>"$srv_log"
    "start_$server" "$data"
    "phase_$name"
    kill -0 "$srv_pid" 2>/dev/null || die "$server died during phase $name; see $srv_log"
    hwm "$srv_pid" >"$res/$tag-rss-$name"
    printf '%-8s run %s phase %-7s peak RSS %s MiB\n' "$server" "$run" "$name" "$(cat "$res/$tag-rss-$name")"
    stop_server
    rm -rf "$data" "$data.ready.json"
}

# bench NAME ARGS...: one `liuma bench` run against the running server;
# JSON kept in $res/$tag-NAME.json.
bench() {
    local name=$1; shift
    local out=$res/$tag-$name.json
    drop_caches
    AWS_SECRET_ACCESS_KEY=$srv_secret "$LIUMA" bench --endpoint "$srv_ep" --access-key "$srv_key" \
        --region "$srv_region" --bucket "$BUCKET" --prefix "$name/" --seed "${SEED:-1}" --json --quiet "$@" \
        >"$out" 2>>"$logs/$tag-bench.log" || echo "($server $name had errors; see $out)" >&2
    local summary
    summary=$(json "$out" '"%.1f MB/s, %.1f ops/s, p99 %.1f ms, errors %d" % (d["total"]["mb_per_sec"],
        d["total"]["ops_per_sec"], d["total"]["latency_ms"]["p99"], d["total"]["errors"])' 2>/dev/null) || summary="no result"
    printf '%-8s %-16s %s\n' "$server" "$name" "$summary"
}

phase_big() {
    bench put-big -w put --size "${BIG_MIB}MiB" -c 1 --ops 2
    bench get-big -w get --size "${BIG_MIB}MiB" -c 1 --objects 1 --ops 2
}

phase_64m() {
    local ops=$((2 * BIG_MIB / 64)); [ "$ops" -ge 8 ] || ops=8
    bench put-64m -w put --size 64MiB -c 8 --ops "$ops"
    bench get-64m -w get --size 64MiB -c 8 --objects 8 --duration "${SECS}s"
}

phase_small() {
    bench put-4k -w put --size 4KiB -c 32 --duration "${SECS}s"
    bench get-4k -w get --size 4KiB -c 32 --objects 1024 --duration "${SECS}s"
    bench list-0 -w list --size 0B -c 32 --objects "$LIST_KEYS" --ops 1
    bench list-1k -w list --size 1KiB -c 32 --objects "$LIST_KEYS" --ops 1
    bench list-4k -w list --size 4KiB -c 32 --objects "$LIST_KEYS" --ops 1
    page_time list-4k
}

# page_time PREFIX: one ListObjectsV2 page of 1 000 keys of PREFIX, timed by
# curl (SigV4 by curl itself: no SDK in the time), best of 5 on one
# connection each; seconds in $res/$tag-page-PREFIX. The server's time per
# page, which is what an `rclone lsf` adds to rclone's own start-up.
page_time() {
    local prefix=$1 best= i t
    command -v curl >/dev/null || return 0
    for i in 1 2 3 4 5; do
        # Query parameters in sorted order: curl 7.x signs them as written.
        t=$(curl -sf -o /dev/null -w '%{time_total}' --aws-sigv4 "aws:amz:$srv_region:s3" \
            --user "$srv_key:$srv_secret" \
            -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
            "$srv_ep/$BUCKET?list-type=2&max-keys=1000&prefix=$prefix%2F") || continue
        if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN {exit !(a < b)}'; then best=$t; fi
    done
    if [ -n "$best" ]; then
        echo "$best" >"$res/$tag-page-$prefix"
        printf '%-8s page of 1000 %-6s %s s (curl, best of 5)\n' "$server" "$prefix" "$best"
    else
        echo "($server: the timed ListObjectsV2 page failed)" >&2
    fi
}

# Storage efficiency: what the mixed dataset adds on disk (data + metadata).
phase_mixed() {
    sleep 2; local before after
    before=$(disk_bytes "$data")
    for mode in duplicate text random; do
        SEED=7 bench "mixed-$mode" -w put --size 8MiB --data "$mode" -c 4 --ops $((MIXED_MIB / 8))
    done
    sync; sleep 5
    after=$(disk_bytes "$data")
    echo "$((after - before))" >"$res/$tag-disk"
}

# rc ARGS...: rclone against the running server, configured by env vars only
# (no config file). --retries 1: a failed command is reported, not silently
# re-run inside the timing. rclone does not check or create the bucket
# (the script makes it) unless rc_check_bucket=1. AWS_CA_BUNDLE (set on some
# machines) makes rclone's S3 backend fail on plain HTTP: it is dropped.
rc() {
    RCLONE_CONFIG_SRV_TYPE=s3 RCLONE_CONFIG_SRV_PROVIDER=Other \
        RCLONE_CONFIG_SRV_ENDPOINT=$srv_ep RCLONE_CONFIG_SRV_REGION=$srv_region \
        RCLONE_CONFIG_SRV_ACCESS_KEY_ID=$srv_key RCLONE_CONFIG_SRV_SECRET_ACCESS_KEY=$srv_secret \
        RCLONE_CONFIG_SRV_FORCE_PATH_STYLE=true \
        RCLONE_CONFIG_SRV_NO_CHECK_BUCKET=$([ "${rc_check_bucket:-0}" = 1 ] && echo false || echo true) \
        env -u AWS_CA_BUNDLE rclone --config "" --retries 1 -q "$@" 2>>"$logs/$tag-rclone.log"
}

# cpu_secs PID: user + system CPU seconds the process used so far.
cpu_secs() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"; }

# rc_timed NAME UNIT AMOUNT ARGS...: runs `rc ARGS`, stores AMOUNT/seconds
# (MB/s or ops/s) in $res/$tag-rclone-NAME and the server's CPU seconds
# during it in $res/$tag-rclone-NAME-cpu (on a shared machine the CPU a
# server spends is steadier than the wall time); a failure stores nothing.
rc_timed() {
    local name=$1 unit=$2 amount=$3 t0 secs c0; shift 3
    t0=$(now) c0=$(cpu_secs "$srv_pid")
    if rc "$@"; then
        secs=$(since "$t0")
        awk -v a="$c0" -v b="$(cpu_secs "$srv_pid")" 'BEGIN {printf "%.2f", b - a}' >"$res/$tag-rclone-$name-cpu"
        awk -v a="$amount" -v s="$secs" 'BEGIN {printf "%.1f", a / s}' >"$res/$tag-rclone-$name"
        printf '%-8s rclone %-9s %s %s (%s s)\n' "$server" "$name" "$(cat "$res/$tag-rclone-$name")" "$unit" "$secs"
    else
        echo "($server rclone $name failed; see $logs/$tag-rclone.log)" >&2
    fi
}

# rc_lsf NAME PATH KEYS: `rclone lsf PATH`, best of 3 (page cache dropped
# before each), seconds in $res/$tag-rclone-NAME; checks it listed KEYS keys.
rc_lsf() {
    local name=$1 path=$2 keys=$3 best= i t0 secs n
    for i in 1 2 3; do
        drop_caches; t0=$(now)
        if n=$(rc lsf "$path" | wc -l); then
            secs=$(since "$t0")
            [ "$n" -eq "$keys" ] || echo "($server rclone $name listed $n keys, expected $keys)" >&2
            if [ -z "$best" ] || awk -v a="$secs" -v b="$best" 'BEGIN {exit !(a < b)}'; then best=$secs; fi
        fi
    done
    if [ -n "$best" ]; then
        echo "$best" >"$res/$tag-rclone-$name"
        printf '%-8s rclone %-9s %s s (best of 3)\n' "$server" "$name" "$best"
    else
        echo "($server rclone $name failed; see $logs/$tag-rclone.log)" >&2
    fi
}

phase_rclone() {
    local big_mb small_dir=$BUCKET/rclone-small
    big_mb=$((RCLONE_BIG_MIB * 1048576 / 1000000))
    # Garage's bucket was made with its CLI (start_garage); liuma's root key makes its own.
    if [ "$server" = liuma ]; then
        rc_check_bucket=1 rc mkdir "srv:$BUCKET" || die "rclone could not make the bucket; see $logs/$tag-rclone.log"
    fi
    # The sources come from the page cache: the client's disk is not measured.
    sync; cat "$src/big.bin" "$src"/small/* >/dev/null
    rc_timed put-big MB/s "$big_mb" copyto "$src/big.bin" "srv:$BUCKET/rclone-big.bin" \
        --s3-chunk-size 16M --s3-upload-concurrency 4
    sync
    rc_timed put-small ops/s "$RCLONE_SMALL" copy "$src/small" "srv:$small_dir" --transfers 32
    rc_lsf lsf "srv:$small_dir/" "$RCLONE_SMALL"
    # rclone's own start-up and one request: what part of the lsf time is not listing.
    rc_lsf lsf-empty "srv:$BUCKET/rclone-none/" 0
    drop_caches
    rc_timed get-big MB/s "$big_mb" copyto "srv:$BUCKET/rclone-big.bin" "$work/rclone-get.bin"
    if [ -e "$work/rclone-get.bin" ] && [ "$(stat -c %s "$work/rclone-get.bin")" -ne $((RCLONE_BIG_MIB * 1048576)) ]; then
        echo "($server rclone get-big: wrong size)" >&2; rm -f "$res/$tag-rclone-get-big"
    fi
    rm -f "$work/rclone-get.bin"
}

# server_run SERVER RUN: every phase against SERVER.
server_run() {
    local s=$1 run=$2 p what=liuma
    [ "$s" = liuma ] || what=$("$GARAGE" --version 2>/dev/null | head -1)
    log "run $run: $what"
    for p in $PHASES; do phase "$s" "$run" "$p"; done
}

make_rclone_sources
for run in 1 2; do
    raw_disk "$run"
    for s in $servers; do server_run "$s" "$run"; done
done
rm -rf "$src"

commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || echo "+uncommitted")
peer_note=$([ "$PEER" = garage ] && echo "Garage $("$GARAGE" --version 2>/dev/null | head -1 | awk '{print $2}')" || echo "liuma alone (PEER=none)")
table=$res/table.md
heading="### bench/compare.sh, $(date -u '+%Y-%m-%d %H:%M') UTC"
about="commit $commit; $binary_note; $peer_note; $(nproc) cores"
SECS=$SECS LIST_KEYS=$LIST_KEYS BIG_MIB=$BIG_MIB MIXED_MIB=$MIXED_MIB RCLONE_SMALL=$RCLONE_SMALL \
    RCLONE_BIG_MIB=$RCLONE_BIG_MIB PHASES=$PHASES LOAD="$(cut -d' ' -f1-3 /proc/loadavg)" python3 - "$res" "$PEER" "$heading" "$about" <<'PY' >"$table"
import json, os, sys
res, peer, heading, about = sys.argv[1:5]
env = lambda k: int(os.environ[k])
secs, list_keys, big, mixed = env("SECS"), env("LIST_KEYS"), env("BIG_MIB"), env("MIXED_MIB")
rc_small, rc_big = env("RCLONE_SMALL"), env("RCLONE_BIG_MIB")
print(heading)
print()
print(f"{about}; SECS={secs} LIST_KEYS={list_keys} BIG_MIB={big} MIXED_MIB={mixed} "
      f"RCLONE_SMALL={rc_small} RCLONE_BIG_MIB={rc_big}. "
      + ("Two runs, interleaved (liuma, Garage, liuma, Garage); " if peer == "garage" else "Two runs; ")
      + "every phase on a fresh server and data dir (peak RSS = VmHWM of a phase)."
      + (f" Phases run: {os.environ['PHASES']}." if os.environ["PHASES"] != "big 64m small mixed rclone" else "")
      + f" Load average at the end (1, 5, 15 min): {os.environ['LOAD']}."
      + (" Ratio = liuma / Garage; for seconds and RSS lower is better for liuma." if peer == "garage" else ""))
print()

def read(path):
    return open(path).read().strip() if os.path.exists(path) else None
def bench(run, s, name, key):
    """A `liuma bench` figure; None when missing or when any operation failed."""
    try:
        d = json.load(open(f"{res}/r{run}-{s}-{name}.json"))
    except (OSError, ValueError):
        return None
    if d["total"]["errors"]:
        return None
    if key == "keys_per_sec":
        return d["total"]["keys_listed"] / max(d["duration_secs"], 1e-9)
    return d["total"][key]
def num(run, s, name):
    v = read(f"{res}/r{run}-{s}-{name}")
    return None if v is None else float(v)
def rss_bench(run, s):
    v = [num(run, s, f"rss-{p}") for p in ("big", "64m", "small", "mixed")]
    return None if None in v else max(v)
def lsf_listing(run, s):
    a, b = num(run, s, "rclone-lsf"), num(run, s, "rclone-lsf-empty")
    return None if a is None or b is None else a - b
def disk(run, s):
    v = num(run, s, "disk")
    return None if v is None else v / (3 * mixed * 1048576)
def fmt(v, unit, f):
    return "–" if v is None else f"{v:{f}} {unit}".strip()
def ratio(l, g):
    return "–" if l is None or not g else f"{l / g:.2f}"
def size(mib):
    return f"{mib // 1024} GiB" if mib % 1024 == 0 else f"{mib} MiB"
def B(name, key, unit, f=".1f"):
    return (lambda run, s: bench(run, s, name, key)), unit, f
def N(name, unit, f=".1f"):
    return (lambda run, s: num(run, s, name)), unit, f

rows = [
    (f"{size(big)} PUT, 1 stream", *B("put-big", "mb_per_sec", "MB/s")),
    (f"{size(big)} GET, 1 stream", *B("get-big", "mb_per_sec", "MB/s")),
    (f"64 MiB PUT, 8 concurrent, {size(max(2 * big, 512))} in all", *B("put-64m", "mb_per_sec", "MB/s")),
    (f"64 MiB GET, 8 concurrent, {secs} s", *B("get-64m", "mb_per_sec", "MB/s")),
    (f"4 KiB PUT, 32 concurrent, {secs} s", *B("put-4k", "ops_per_sec", "ops/s", ".0f")),
    (f"4 KiB GET, 32 concurrent, {secs} s", *B("get-4k", "ops_per_sec", "ops/s", ".0f")),
    (f"list {list_keys:,} keys of 0 B", *B("list-0", "keys_per_sec", "keys/s", ",.0f")),
    (f"list {list_keys:,} keys of 1 KiB", *B("list-1k", "keys_per_sec", "keys/s", ",.0f")),
    (f"list {list_keys:,} keys of 4 KiB", *B("list-4k", "keys_per_sec", "keys/s", ",.0f")),
    ("one ListObjectsV2 page of 1,000 keys of 4 KiB (curl; s, best of 5)", *N("page-list-4k", "s", ".4f")),
    ("8 MiB text PUT, 4 concurrent", *B("mixed-text", "mb_per_sec", "MB/s")),
    (f"disk / logical, mixed dataset ({3 * mixed} MiB)", disk, "", ".3f"),
    ("peak RSS, `liuma bench` phases (largest of 4)", rss_bench, "MiB", ".0f"),
    (f"rclone {size(rc_big)} PUT (16 MiB parts × 4)", *N("rclone-put-big", "MB/s")),
    (f"server CPU s during that PUT", *N("rclone-put-big-cpu", "s", ".2f")),
    (f"rclone {rc_small:,} × 4 KiB PUT, 32 transfers", *N("rclone-put-small", "ops/s", ".0f")),
    (f"server CPU s during that PUT", *N("rclone-put-small-cpu", "s", ".2f")),
    (f"rclone lsf of {rc_small:,} keys (s, best of 3)", *N("rclone-lsf", "s", ".3f")),
    ("rclone lsf of an empty prefix (start-up; s, best of 3)", *N("rclone-lsf-empty", "s", ".3f")),
    (f"rclone lsf of {rc_small:,} keys minus that start-up (the listing; s)", lsf_listing, "s", ".3f"),
    (f"rclone {size(rc_big)} GET", *N("rclone-get-big", "MB/s")),
    ("peak RSS, rclone pass alone", *N("rss-rclone", "MiB", ".0f")),
]
runs = (1, 2)
raw = [read(f"{res}/r{r}-raw") or "–" for r in runs]
if peer == "garage":
    print("| workload | run 1 liuma | run 1 Garage | ratio | run 2 liuma | run 2 Garage | ratio |")
    print("|---|---|---|---|---|---|---|")
    print(f"| raw disk write / read (dd) | {raw[0]} | | | {raw[1]} | | |")
    for label, get, unit, f in rows:
        cells = []
        for r in runs:
            l, g = get(r, "liuma"), get(r, "garage")
            cells += [fmt(l, unit, f), fmt(g, unit, f), ratio(l, g)]
        if any(c != "–" for c in cells):  # rows of phases not run are left out
            print(f"| {label} | " + " | ".join(cells) + " |")
else:
    print("| workload | run 1 | run 2 |\n|---|---|---|")
    print(f"| raw disk write / read (dd) | {raw[0]} | {raw[1]} |")
    for label, get, unit, f in rows:
        cells = [fmt(get(r, "liuma"), unit, f) for r in runs]
        if any(c != "–" for c in cells):
            print(f"| {label} | " + " | ".join(cells) + " |")
PY

echo
log "results"
cat "$table"

# WRITE=1: the table goes at the end of BENCHMARKS.md's "liuma vs Garage"
# section (before the next "## " heading), or at the end of the file.
if [ "${WRITE:-0}" = 1 ]; then
    python3 - "$table" BENCHMARKS.md <<'PY'
import re, sys
table, path = open(sys.argv[1]).read(), sys.argv[2]
doc = open(path).read()
m = re.search(r"^## liuma vs Garage.*$", doc, re.M)
nxt = re.search(r"^## ", doc[m.end():], re.M) if m else None
at = m.end() + nxt.start() if nxt else len(doc)
doc = doc[:at].rstrip("\n") + "\n\n" + table.rstrip("\n") + "\n\n" + doc[at:].lstrip("\n")
open(path, "w").write(doc.rstrip("\n") + "\n")
PY
    log "table added to BENCHMARKS.md"
fi
