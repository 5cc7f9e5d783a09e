#!/usr/bin/env bash
# Cluster benchmark on one machine, in one run: a single node, then clusters
# of 3 and 6 nodes (scripts/cluster-local: etcd + nodes on loopback), the
# same `liuma bench` workloads against each, then with 6 nodes a degraded
# GET (2 nodes SIGKILLed) and the time to heal HEAL_GIB after losing a node.
#
#   bench/cluster.sh            # prints a table; JSON and logs in $WORK
# Env: BIG_MIB (1024), SECS (15), HEAL_GIB (10), NODES ("3 6"), WORK, KEEP=1
set -euo pipefail
cd "$(dirname "$0")/.."
BIG_MIB=${BIG_MIB:-1024}
SECS=${SECS:-15}
HEAL_GIB=${HEAL_GIB:-10}
NODES=${NODES:-3 6}
LIUMA=$PWD/target/release/liuma
cargo build --release -p liuma-server --quiet
work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/liuma-cluster-bench.XXXXXX")}
mkdir -p "$work"
spid=
cleanup() {
    [ -n "$spid" ] && kill "$spid" 2>/dev/null || true
    DIR=$work/c scripts/cluster-local stop >/dev/null 2>&1 || true
    [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
json() { python3 -c "import json,sys;d=json.load(open(sys.argv[1]));print(eval(sys.argv[2]))" "$@"; }

# bench LABEL NAME ENDPOINT KEYFILE ARGS...
bench() {
    local label=$1 name=$2 ep=$3 keyfile=$4; shift 4
    AWS_SECRET_ACCESS_KEY=$(sed -n 2p "$keyfile") "$LIUMA" bench --endpoint "$ep" \
        --access-key "$(sed -n 1p "$keyfile")" --bucket cbench --prefix "$name/" \
        --json --quiet "$@" >"$work/$label-$name.json" || echo "($label $name had errors)" >&2
    printf '%-10s %-12s %s\n' "$label" "$name" "$(json "$work/$label-$name.json" \
        '"%.1f MB/s, %.1f ops/s, p50 %.1f ms, p99 %.1f ms, errors %d" % (d["total"]["mb_per_sec"], d["total"]["ops_per_sec"], d["total"]["latency_ms"]["p50"], d["total"]["latency_ms"]["p99"], d["total"]["errors"])')"
}

workloads() {
    local label=$1 ep=$2 keyfile=$3
    bench "$label" put-big "$ep" "$keyfile" -w put --size "${BIG_MIB}MiB" -c 1 --ops 2
    bench "$label" get-big "$ep" "$keyfile" -w get --size "${BIG_MIB}MiB" -c 1 --objects 1 --ops 2
    bench "$label" put-4k "$ep" "$keyfile" -w put --size 4KiB -c 32 --duration "${SECS}s"
    bench "$label" get-4k "$ep" "$keyfile" -w get --size 4KiB -c 32 --objects 512 --duration "${SECS}s"
}

echo "== single node"
"$LIUMA" server --data "$work/single" --admin-listen 127.0.0.1:0 --console-listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 \
    --native-listen 127.0.0.1:0 --ready-file "$work/single.ready" >"$work/single.log" 2>&1 &
spid=$!
for _ in $(seq 300); do [ -s "$work/single.ready" ] && break; sleep 0.1; done
workloads single "http://$(json "$work/single.ready" 'd["s3"]')" "$work/single/secrets/root.key"
kill "$spid"; wait "$spid" 2>/dev/null || true; spid=
rm -rf "$work/single"

for n in $NODES; do
    echo "== cluster of $n"
    rm -rf "$work/c"
    DIR=$work/c LIUMA=$LIUMA EXTRA="--heal-grace-secs 5 --heal-interval-secs 5" \
        scripts/cluster-local start "$n" >/dev/null
    sleep 2
    key=$work/c/n1/secrets/root.key
    echo "erasure: $(curl -s -H "Authorization: Bearer $(cat "$work/c/n1/secrets/admin.token")" \
        http://127.0.0.1:11002/admin/cluster | python3 -c 'import json,sys;print(json.load(sys.stdin)["erasure"])')"
    workloads "c$n" http://127.0.0.1:11000 "$key"
    if [ "$n" = 6 ]; then
        # HEAL_GIB more data, then lose 2 nodes: GET degraded at once, and
        # time until every block has all its shards on live nodes again.
        bench c6 put-heal http://127.0.0.1:11000 "$key" -w put --size 1GiB -c 2 --ops "$HEAL_GIB"
        kill -9 "$(cat "$work/c/n5.pid")" "$(cat "$work/c/n6.pid")"
        t0=$(date +%s.%N)
        rm -f "$work"/c/n[56].pid "$work"/c/n[56].ready
        bench c6-2down get-big http://127.0.0.1:11000 "$key" -w get --size "${BIG_MIB}MiB" -c 1 --objects 1 --ops 2
        tok=$(cat "$work/c/n1/secrets/admin.token")
        # The census counts shards on live nodes as healthy: first wait until
        # the dead nodes' leases run out.
        until curl -s -H "Authorization: Bearer $tok" http://127.0.0.1:11002/admin/cluster \
            | python3 -c 'import json,sys;sys.exit(json.load(sys.stdin)["live_nodes"] != 4)'; do sleep 0.5; done
        while :; do
            h=$(curl -s -H "Authorization: Bearer $tok" http://127.0.0.1:11002/admin/blocks \
                | python3 -c 'import json,sys;d=json.load(sys.stdin);print(d["healthy"]==d["blocks"] and not any(k in ("n5","n6","?") for k in d["shards_per_node"]))')
            [ "$h" = True ] && break
            sleep 1
        done
        t1=$(date +%s.%N)
        python3 -c "print('heal: %d GiB + earlier data, 2 of 6 nodes SIGKILLed: all blocks healthy again after %.1f s (incl. ~10 s lease expiry and 5 s grace)' % ($HEAL_GIB, $t1 - $t0))"
    fi
    rss=""
    for f in "$work"/c/n*.pid; do
        [ -f "$f" ] && rss="$rss $(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$(cat "$f")/status" 2>/dev/null)"
    done
    echo "peak RSS per live node (MiB):$rss"
    DIR=$work/c scripts/cluster-local stop >/dev/null
done

echo "== ratios (cluster / single node, same run)"
python3 - "$work" $NODES <<'PY'
import json, sys
work, nodes = sys.argv[1], sys.argv[2:]
def m(label, name, key):
    d = json.load(open(f"{work}/{label}-{name}.json"))["total"]
    return d["mb_per_sec"] if key == "mb" else d["ops_per_sec"] if key == "ops" else d["latency_ms"]["p99"]
for n in nodes:
    for name, key in [("put-big", "mb"), ("get-big", "mb"), ("put-4k", "ops"), ("get-4k", "ops")]:
        s, c = m("single", name, key), m(f"c{n}", name, key)
        print(f"{n} nodes {name:8} {c:9.1f} vs single {s:9.1f}  ratio {c / s:5.2f}")
PY
