#!/usr/bin/env python3
"""Chaos suite for a liuma cluster (issue #12): a *verified load* runs while
nodes are SIGKILLed, SIGSTOPped, restarted, shard files corrupted and etcd
killed; after each fault the cluster recovers (restart / SIGCONT / etcd back,
`POST /admin/heal` on every node) and every acknowledged key is read back.

The load: writer threads PUT objects of mixed sizes (0 B .. 20 MiB, random
bytes from a recorded seed) through random running nodes, under unique keys;
only a 200 counts as acknowledged, and every acknowledged key is recorded with
its size and SHA-256. Reader threads GET random acknowledged keys meanwhile
and check the hash. Every request's latency is recorded; errors are counted
by HTTP status (or `timeout` / `conn` / `cut` = a 200 whose body broke off).

Scenarios (one cluster of NODES nodes on one etcd for the first six, run in
this order; read-backs cover every key acknowledged so far in that cluster):
  kill2       SIGKILL two nodes, keep loading KILL_SECS, restart them
  freeze      SIGSTOP one node for FREEZE_SECS, SIGCONT (max latency meanwhile)
  corrupt     flip bytes in / truncate / delete shard files on two nodes
              (never more than m damaged shards per block), scrub, heal
  etcd        SIGKILL etcd for ETCD_SECS, restart it on the same dir and ports
  crash_all   SIGKILL every node at once, restart them all
  three_down  SIGKILL three nodes, read everything (503 = "unavailable", not
              corruption), restart them
  growth      a new cluster: one node, then NODES-1 more joining one by one
              while writing, heal, census, SIGKILL two nodes and read back

Per scenario one line (or one JSON object with --json) on stdout:
  acked        keys acknowledged (PUT 200) during the scenario
  checked      keys read back after recovery (every key acknowledged so far)
  lost         acknowledged, but 404 or unreadable after recovery (3 tries)
  corrupted    keys ever served with a 200 and wrong bytes (load or read-back)
  unavailable  load requests answered 503 while the fault was on
  max / p99    latency of the load's requests during the scenario (without
               requests whose own node was killed or stopped under them)
  dur          the scenario's wall time, recovery and read-back included
then after "|": cut (200s whose body broke off: a network error for the
client, not wrong bytes), errors by request and status ("@faulted-node":
the node the request went to was killed or stopped meanwhile), and what the
scenario saw (nodes hit, max latency during the freeze, readable / 503 with
three nodes down, the census after the heal, ...).
Progress goes to stderr. Exit status 1 if anything acknowledged was lost or
corrupted, or (growth) unreadable with two of six nodes down, which a 4+2
cluster promises to survive; 2 if the suite itself failed.

Requests are sent only to nodes the suite has not faulted (a client cannot
expect an answer from a SIGSTOPped or dead node); what is measured is how the
other nodes cope with the faulted one.

Usage: bench/chaos.sh [--quick] [--json] [scenario ...]
Env (or the matching --flag): LIUMA binary (target/release/liuma), ETCD (etcd),
  NODES (6), WRITERS (4), READERS (4), LOAD_SECS (load before each fault, 10),
  KILL_SECS (20), FREEZE_SECS (30), ETCD_SECS (10), DOWN_SECS (20),
  HEAL_GRACE (10), HEAL_INTERVAL (5), BLOCK_SIZE (server default), SEED,
  CORRUPT_FRACTION (share of a node's shard files damaged, 0.3),
  WORK (parent of the temp dir), KEEP=1 (keep data and logs)
--quick: 2 writers, 3 readers, 2 s of load before each fault, 5 s kills and
  corruption, 10 s freeze, 3 s with three down, growth steps 2 s apart.
The suite kills only the processes it started (etcd and nodes, each in its own
process group), also on Ctrl-C, SIGTERM or an error.
"""

import argparse
import collections
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

import boto3
import botocore.exceptions as bexc
from botocore.config import Config

KIB, MIB = 1 << 10, 1 << 20
# (size, weight): small objects are common, big ones rare.
SIZES = [(0, 1), (KIB, 3), (4 * KIB, 3), (100 * KIB, 3), (MIB, 3), (6 * MIB, 1), (20 * MIB, 0.5)]
BUCKET = "chaos"
SLOW_SECS = 5
SCENARIOS = ["kill2", "freeze", "corrupt", "etcd", "crash_all", "three_down", "growth"]

PROCS = []  # every process the suite started (etcd, nodes), for the cleanup
PROCS_LOCK = threading.Lock()


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(args, logpath, env=None):
    """Start a process in its own process group (killed as a group)."""
    out = open(logpath, "a")
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         start_new_session=True, env=env)
    out.close()
    with PROCS_LOCK:
        PROCS.append(p)
    return p


def hard_kill(p):
    """SIGKILL the process group of `p` (one we started) and reap it."""
    if p is None or p.poll() is not None:
        return
    for sig in (signal.SIGCONT, signal.SIGKILL):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
    p.wait()


def tail(path, n=15):
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def pct(values, q):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))]


def gen(size, seed):
    return random.Random(seed).randbytes(size)


# --------------------------------------------------------------------- etcd

class Etcd:
    def __init__(self, bin_, dir_):
        self.bin = bin_
        self.dir = dir_
        os.makedirs(dir_, exist_ok=True)
        self.client, self.peer = free_port(), free_port()
        self.proc = None
        self.start()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.client}"

    def start(self):
        """Start (or restart) etcd on the same data directory and ports."""
        c, p = self.endpoint, f"http://127.0.0.1:{self.peer}"
        self.proc = spawn([self.bin, "--name=chaos", f"--data-dir={self.dir}/data",
                           f"--listen-client-urls={c}", f"--advertise-client-urls={c}",
                           f"--listen-peer-urls={p}", f"--initial-advertise-peer-urls={p}",
                           f"--initial-cluster=chaos={p}", "--initial-cluster-state=new"],
                          os.path.join(self.dir, "etcd.log"),
                          env={k: v for k, v in os.environ.items() if k != "ETCDCTL_API"})
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited during start:\n{tail(self.dir + '/etcd.log')}")
            try:
                with urllib.request.urlopen(self.endpoint + "/health", timeout=2) as r:
                    if json.load(r).get("health") == "true":
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"etcd not healthy in 30 s:\n{tail(self.dir + '/etcd.log')}")

    def kill(self):
        hard_kill(self.proc)


# --------------------------------------------------------------------- nodes

class Node:
    def __init__(self, cluster, node_id, zone):
        self.cluster = cluster
        self.id = node_id
        self.zone = zone
        self.data = os.path.join(cluster.dir, node_id)
        self.proc = None
        self.up = False  # running and not stopped: a target for requests
        self.epoch = 0  # bumped by every kill / stop / continue
        self.s3 = self.admin_addr = None

    def spawn(self):
        os.makedirs(self.data, exist_ok=True)
        os.chmod(self.data, 0o700)
        self.ready = os.path.join(self.data, "ready.json")
        if os.path.exists(self.ready):
            os.remove(self.ready)
        o = self.cluster.opts
        args = [o.liuma, "server", "--data", self.data,
                "--etcd", self.cluster.etcd.endpoint, "--etcd-prefix", self.cluster.prefix,
                "--node-id", self.id, "--zone", self.zone,
                "--heal-grace-secs", str(o.heal_grace), "--heal-interval-secs", str(o.heal_interval),
                "--admin-listen", "127.0.0.1:0", "--s3-listen", "127.0.0.1:0",
                "--console-listen", "127.0.0.1:0",
                "--native-listen", "127.0.0.1:0", "--cluster-listen", "127.0.0.1:0",
                "--ready-file", self.ready]
        if o.block_size:
            args += ["--block-size", str(o.block_size)]
        self.proc = spawn(args, os.path.join(self.data, "node.log"))

    def wait_ready(self, limit=60):
        deadline = time.time() + limit
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.id} exited ({self.proc.returncode}) during start:\n"
                                   f"{tail(os.path.join(self.data, 'node.log'))}")
            try:
                info = json.load(open(self.ready))
                self.s3, self.admin_addr, self.shard_api = info["s3"], info["admin"], info.get("cluster")
                self.up = True
                return
            except (OSError, ValueError, KeyError):
                time.sleep(0.05)
        raise RuntimeError(f"{self.id} not ready in {limit} s:\n{tail(os.path.join(self.data, 'node.log'))}")

    def kill(self):
        self.up = False
        self.epoch += 1
        hard_kill(self.proc)

    def signal(self, sig):
        self.epoch += 1
        os.kill(self.proc.pid, sig)

    def admin(self, method, path, timeout=30):
        """(status, JSON or text) of an admin API call with the admin token."""
        token = open(os.path.join(self.data, "secrets", "admin.token")).read().strip()
        req = urllib.request.Request(f"http://{self.admin_addr}{path}", method=method,
                                     headers={"Authorization": f"Bearer {token}"},
                                     data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        except OSError as e:
            return 0, str(e)
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body.decode(errors="replace")[:300]


def copy_secrets(src, dst):
    """Give a node the secrets of node 1 (root key, tokens, cluster secret)."""
    d = os.path.join(dst, "secrets")
    os.makedirs(d, exist_ok=True)
    os.chmod(dst, 0o700)
    os.chmod(d, 0o700)
    for name in os.listdir(os.path.join(src, "secrets")):
        shutil.copyfile(os.path.join(src, "secrets", name), os.path.join(d, name))
        os.chmod(os.path.join(d, name), 0o600)


class Cluster:
    def __init__(self, opts, root, name):
        self.opts = opts
        self.name = name
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.etcd = Etcd(opts.etcd, os.path.join(self.dir, "etcd"))
        self.prefix = f"/chaos-{name}/"
        self.nodes = {}
        self.key = None
        self._clients = threading.local()
        self._client_lock = threading.Lock()
        self._session = boto3.session.Session()

    # ---- membership

    def add(self, node_id):
        """Start a new node (with n1's secrets)."""
        i = int(node_id[1:])
        node = Node(self, node_id, f"z{(i - 1) % 3 + 1}")
        if node_id != "n1":
            copy_secrets(self.nodes["n1"].data, node.data)
        node.spawn()
        node.wait_ready()
        self.nodes[node_id] = node
        if self.key is None:
            lines = open(os.path.join(node.data, "secrets", "root.key")).read().split()
            self.key = (lines[0], lines[1])
        return node

    def up(self):
        return [n for n in self.nodes.values() if n.up]

    def random_up(self, rng=random):
        up = self.up()
        return rng.choice(up) if up else None

    def kill(self, ids):
        for i in ids:  # SIGKILL all first, then reap: "at once"
            self.nodes[i].up = False
            self.nodes[i].epoch += 1
            p = self.nodes[i].proc
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for i in ids:
            self.nodes[i].kill()

    def restart(self, ids):
        for i in ids:
            self.nodes[i].spawn()
        for i in ids:
            self.nodes[i].wait_ready()

    def wait_live(self, n, limit=90):
        """Until every running node sees `n` live nodes, among them every
        running node at its current shard API address (a restarted node's old
        lease may still count as live for a while); seconds waited."""
        started = time.time()
        last = ""
        while time.time() - started < limit:
            want = {node.id: node.shard_api for node in self.up()}
            ok = True
            for node in self.up():
                st, body = node.admin("GET", "/admin/cluster", timeout=5)
                if st != 200 or not isinstance(body, dict):
                    ok, last = False, f"{node.id}: {st} {body}"
                    break
                have = {x.get("id"): x.get("shard_api") for x in body.get("nodes", []) if x.get("live")}
                missing = [i for i, a in want.items() if have.get(i) != a]
                if body.get("live_nodes") != n or missing:
                    ok = False
                    last = f"{node.id} sees {body.get('live_nodes')} live, not {missing} at their new address"
                    break
            if ok:
                return time.time() - started
            time.sleep(0.25)
        raise RuntimeError(f"{self.name}: nodes do not all see {n} live nodes in {limit} s: {last}")

    def each(self, method, path, timeout=900):
        """Admin call on every running node: {id: (status, body)}."""
        return {n.id: n.admin(method, path, timeout=timeout) for n in self.up()}

    def heal_all(self, passes=3):
        """POST /admin/heal on every running node, again (up to `passes`
        rounds) while some node reports blocks it could not fix; summed report."""
        total = collections.Counter()
        errors = []
        t = time.time()
        for round_ in range(1, passes + 1):
            failed = 0
            for nid, (st, body) in self.each("POST", "/admin/heal").items():
                if st == 200 and isinstance(body, dict):
                    total.update({k: v for k, v in body.items() if isinstance(v, int)})
                    failed += body.get("failed", 0)
                else:
                    errors.append(f"{nid}:{st} {body}"[:200])
            if not failed:
                break
        total = {k: v for k, v in total.items() if k != "blocks_checked" and v}
        total["rounds"] = round_
        total["secs"] = round(time.time() - t, 1)
        if errors:
            total["errors"] = errors
        return total

    def scrub_all(self):
        total = collections.Counter()
        for nid, (st, body) in self.each("POST", "/admin/scrub").items():
            if st == 200 and isinstance(body, dict):
                total.update({k: v for k, v in body.items() if isinstance(v, int)})
            else:
                total[f"error {nid} {st}"] += 1
        return dict(total)

    def census(self, verify=False):
        node = self.random_up()
        st, body = node.admin("GET", "/admin/blocks" + ("?verify=true" if verify else ""), timeout=900)
        return body if st == 200 else {"error": f"{st} {body}"}

    def stop_all(self):
        for n in self.nodes.values():
            n.kill()
        self.etcd.kill()

    # ---- S3

    def client(self, node):
        """This thread's boto3 client for `node`'s current S3 address."""
        cache = getattr(self._clients, "c", None)
        if cache is None:
            cache = self._clients.c = {}
        c = cache.get(node.s3)
        if c is None:
            with self._client_lock:
                c = self._session.client(
                    "s3", endpoint_url=f"http://{node.s3}", region_name="us-east-1",
                    aws_access_key_id=self.key[0], aws_secret_access_key=self.key[1],
                    config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                  # one attempt: a hang or a 503 is measured, never retried away
                                  retries={"total_max_attempts": 1, "mode": "standard"},
                                  connect_timeout=5, read_timeout=self.opts.read_timeout,
                                  response_checksum_validation="when_required",
                                  max_pool_connections=4))
            # botocore sends "Expect: 100-continue" with every PutObject. When
            # the server answers such a request at once with its final status
            # (liuma does for a 0-byte body, as RFC 9110 allows), botocore
            # keeps that status for the connection's next Expect request and
            # then reads its response until the server closes the idle
            # connection (60 s): a client stall, not the server's. No Expect
            # header (it is not signed) avoids it.
            c.meta.events.register("before-send.s3.PutObject", _drop_expect)
            cache[node.s3] = c
        return c

    def create_bucket(self):
        deadline = time.time() + 60
        while True:
            node = self.random_up()
            try:
                self.client(node).create_bucket(Bucket=BUCKET)
                return
            except bexc.ClientError as e:
                if e.response["Error"].get("Code") in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    return
                if time.time() > deadline:
                    raise
            except bexc.BotoCoreError:
                if time.time() > deadline:
                    raise
            time.sleep(1)


def _drop_expect(request, **_):
    if "Expect" in request.headers:
        del request.headers["Expect"]


def outcome_of(e):
    """A short label for a failed request: HTTP status or error kind."""
    if isinstance(e, bexc.ClientError):
        return str(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or
                   e.response.get("Error", {}).get("Code") or "?")
    if isinstance(e, (bexc.ReadTimeoutError, bexc.ConnectTimeoutError)):
        return "timeout"
    if isinstance(e, (bexc.EndpointConnectionError, bexc.ConnectionClosedError)):
        return "conn"
    return type(e).__name__


def s3_put(cluster, node, key, body):
    try:
        cluster.client(node).put_object(Bucket=BUCKET, Key=key, Body=body)
        return "200"
    except Exception as e:  # noqa: BLE001 - every failure is an outcome
        return outcome_of(e)


def s3_get(cluster, node, key):
    """(outcome, body): outcome "200" with the body, "cut" when a 200's body broke off."""
    try:
        r = cluster.client(node).get_object(Bucket=BUCKET, Key=key)
    except Exception as e:  # noqa: BLE001
        return outcome_of(e), None
    try:
        return "200", r["Body"].read()
    except Exception:  # noqa: BLE001 - the status line said 200, the body did not arrive
        return "cut", None


# --------------------------------------------------------------------- bookkeeping

class Obj:
    __slots__ = ("key", "size", "seed", "sha", "live", "scenario")

    def __init__(self, key, size, seed, sha, live, scenario):
        self.key, self.size, self.seed, self.sha, self.live, self.scenario = key, size, seed, sha, live, scenario


class Registry:
    """Every acknowledged key of one cluster, with its size, seed and SHA-256."""

    def __init__(self):
        self.lock = threading.Lock()
        self.objs = []
        self.corrupted = {}  # key -> first description

    def add(self, obj):
        with self.lock:
            self.objs.append(obj)

    def pick(self, rng):
        with self.lock:
            return rng.choice(self.objs) if self.objs else None

    def all(self):
        with self.lock:
            return list(self.objs)

    def check(self, obj, body, where):
        """"ok", "cut" (a short body that is a prefix of the object) or "corrupt"."""
        if len(body) == obj.size and hashlib.sha256(body).hexdigest() == obj.sha:
            return "ok"
        if len(body) < obj.size and gen(obj.size, obj.seed)[:len(body)] == body:
            return "cut"
        with self.lock:
            if obj.key not in self.corrupted:
                self.corrupted[obj.key] = f"{where}: {len(body)} bytes, expected {obj.size}"
                log(f"CORRUPTED {obj.key}: {self.corrupted[obj.key]}")
        return "corrupt"


class Stats:
    """Requests of one scenario's load: latency, outcomes, fault windows."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reqs = []  # (start, seconds, op, outcome)
        self.windows = []  # (start, end) of faults
        self.fault_start = None
        self.acked = 0
        self.corrupted = 0
        self.cut = 0
        self.missing = 0  # 404 on an acknowledged key during the load
        self.slow = 0  # requests over SLOW_SECS (the first 20 are logged)

    def record(self, op, t0, secs, outcome, detail="", hit=False):
        if hit and outcome != "200":
            outcome += "@faulted-node"
        with self.lock:
            self.reqs.append((t0, secs, op, outcome, hit))
            slow = secs > SLOW_SECS
            if slow:
                self.slow += 1
        if slow and self.slow <= 20:
            log(f"slow: {op} {detail} -> {outcome}{' (its node was faulted)' if hit else ''} in {secs:.1f} s "
                f"(started {time.strftime('%H:%M:%S', time.localtime(t0))})")

    def fault_on(self):
        self.fault_start = time.time()

    def fault_off(self):
        self.windows.append((self.fault_start, time.time()))
        self.fault_start = None

    def faulted(self, t0, secs):
        end = t0 + secs
        ws = self.windows + ([(self.fault_start, time.time())] if self.fault_start else [])
        return any(t0 < b and end > a for a, b in ws)

    def summary(self):
        with self.lock:
            reqs = list(self.reqs)
        # a request whose own node was killed or stopped under it measures
        # the fault, not the cluster: left out of the latency figures
        to_faulted = [r[1] for r in reqs if r[4]]
        reqs_ok = [r for r in reqs if not r[4]]
        lat = [r[1] for r in reqs_ok]
        errors = collections.Counter(f"{r[2]} {r[3]}" for r in reqs if r[3] != "200")
        unavail = sum(1 for r in reqs if r[3] == "503" and self.faulted(r[0], r[1]))
        in_fault = [r[1] for r in reqs_ok if self.faulted(r[0], r[1])]
        return {"requests": len(reqs), "errors": dict(sorted(errors.items())),
                "to_faulted_node": len(to_faulted), "to_faulted_node_max_s": round(max(to_faulted, default=0), 2),
                "unavailable": unavail, "max_s": round(max(lat, default=0), 2),
                "p99_s": round(pct(lat, 0.99), 2),
                "fault_max_s": round(max(in_fault, default=0), 2),
                "fault_over_3s": sum(1 for x in in_fault if x > 3)}


class Load:
    """Writers and readers against the running nodes of a cluster."""

    def __init__(self, cluster, reg, stats, scenario, opts):
        self.cluster, self.reg, self.stats, self.scenario, self.opts = cluster, reg, stats, scenario, opts
        self.stop_flag = threading.Event()
        self.threads = []
        self.seq = 0
        self.seq_lock = threading.Lock()
        self.base_seed = opts.rng.getrandbits(32)

    def start(self):
        for i in range(self.opts.writers):
            self.threads.append(threading.Thread(target=self.writer, args=(i,), daemon=True))
        for i in range(self.opts.readers):
            self.threads.append(threading.Thread(target=self.reader, args=(i,), daemon=True))
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join()

    def writer(self, i):
        rng = random.Random(self.base_seed * 1000 + i)
        sizes, weights = zip(*SIZES)
        while not self.stop_flag.is_set():
            node = self.cluster.random_up(rng)
            if node is None:
                time.sleep(0.1)
                continue
            with self.seq_lock:
                self.seq += 1
                seq = self.seq
            size = rng.choices(sizes, weights)[0]
            seed = rng.getrandbits(64)
            body = gen(size, seed)
            key = f"{self.scenario}/{seq:06d}-{size}"
            live = len(self.cluster.up())
            epoch = node.epoch
            t0 = time.time()
            out = s3_put(self.cluster, node, key, body)
            hit = node.epoch != epoch  # the node it was sent to was killed or stopped meanwhile
            self.stats.record("PUT", t0, time.time() - t0, out, f"{key} via {node.id}", hit)
            if out == "200":
                self.reg.add(Obj(key, size, seed, hashlib.sha256(body).hexdigest(), live, self.scenario))
                with self.stats.lock:
                    self.stats.acked += 1
            elif out.startswith(("conn", "timeout")):
                time.sleep(0.05)

    def reader(self, i):
        rng = random.Random(self.base_seed * 1000 + 500 + i)
        while not self.stop_flag.is_set():
            obj, node = self.reg.pick(rng), self.cluster.random_up(rng)
            if obj is None or node is None:
                time.sleep(0.1)
                continue
            epoch = node.epoch
            t0 = time.time()
            out, body = s3_get(self.cluster, node, obj.key)
            if out == "200":
                v = self.reg.check(obj, body, f"GET via {node.id} during {self.scenario}")
                if v != "ok":
                    out = v
            hit = node.epoch != epoch  # the node serving it was killed or stopped meanwhile
            self.stats.record("GET", t0, time.time() - t0, out, f"{obj.key} via {node.id}", hit)
            with self.stats.lock:
                if out == "corrupt":
                    self.stats.corrupted += 1
                elif out == "cut" and not hit:
                    self.stats.cut += 1
                elif out == "404":
                    self.stats.missing += 1
            if out.startswith(("conn", "timeout")):
                time.sleep(0.05)


def read_back(cluster, reg, objs, opts, attempts=3, label="read-back"):
    """GET every object from a random running node, `attempts` tries each
    (a 404 or wrong bytes are final). Counts per result and the bad keys."""
    counts = collections.Counter()
    bad = {}
    lat = []
    lock = threading.Lock()
    it = iter(objs)
    rng_lock = threading.Lock()

    def work(seed):
        rng = random.Random(seed)
        while True:
            with rng_lock:
                obj = next(it, None)
            if obj is None:
                return
            result, last = "unreadable", []
            for attempt in range(attempts):
                node = cluster.random_up(rng)
                t0 = time.time()
                out, body = s3_get(cluster, node, obj.key)
                with lock:
                    lat.append(time.time() - t0)
                if out == "200":
                    v = reg.check(obj, body, f"{label} via {node.id}")
                    if v == "ok":
                        result = "ok"
                        break
                    out = v
                last.append(out)
                if out in ("404", "corrupt"):
                    result = {"404": "missing", "corrupt": "corrupt"}[out]
                    break
                if attempt + 1 < attempts:
                    time.sleep(1)
            with lock:
                counts[result] += 1
                for o in last:
                    counts["attempt " + o] += 1
                if result != "ok":
                    bad[obj.key] = (result, last)

    threads = [threading.Thread(target=work, args=(opts.rng.getrandbits(32),), daemon=True)
               for _ in range(opts.readers)]
    t = time.time()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    counts["secs"] = round(time.time() - t, 1)
    counts["max_s"] = round(max(lat, default=0), 2)
    return counts, bad


# --------------------------------------------------------------------- scenarios

def fault_kill2(c, load, stats, opts):
    ids = sorted(opts.rng.sample([n.id for n in c.up()], 2))
    log(f"kill2: SIGKILL {ids}, loading {opts.kill_secs:g} s")
    stats.fault_on()
    c.kill(ids)
    time.sleep(opts.kill_secs)
    c.restart(ids)
    c.wait_live(opts.nodes)
    stats.fault_off()
    return {"killed": ",".join(ids)}


def fault_freeze(c, load, stats, opts):
    node = opts.rng.choice(c.up())
    log(f"freeze: SIGSTOP {node.id} for {opts.freeze_secs:g} s")
    stats.fault_on()
    node.up = False
    node.signal(signal.SIGSTOP)
    time.sleep(opts.freeze_secs)
    node.signal(signal.SIGCONT)
    node.up = True
    stats.fault_off()
    c.wait_live(opts.nodes)
    s = stats.summary()
    return {"frozen": node.id, "freeze_s": opts.freeze_secs,
            "max_during_freeze_s": s["fault_max_s"], "over_3s_during_freeze": s["fault_over_3s"]}


def shard_files(node):
    out = []
    for root, _, files in os.walk(os.path.join(node.data, "disk0", "shards")):
        for f in files:
            block, _, index = f.partition(".")
            if len(block) == 64 and index.isdigit() and all(ch in "0123456789abcdef" for ch in block.lower()):
                out.append((block, os.path.join(root, f)))
    return out


def fault_corrupt(c, load, stats, opts):
    st, info = c.random_up().admin("GET", "/admin/cluster")
    m = int(str(info.get("erasure", "4+2")).split("+")[1]) if st == 200 else 2
    ids = sorted(opts.rng.sample([n.id for n in c.up()], 2))
    stats.fault_on()
    damaged = collections.Counter()  # block -> shards damaged (never above m)
    done = collections.Counter()
    for nid in ids:
        files = shard_files(c.nodes[nid])
        opts.rng.shuffle(files)
        for block, path in files[:max(1, int(len(files) * opts.corrupt_fraction))]:
            if damaged[block] >= m:
                continue
            how = ("flip", "truncate", "delete")[sum(done.values()) % 3]
            try:
                if how == "delete":
                    os.remove(path)
                else:
                    size = os.path.getsize(path)
                    if size == 0:
                        continue
                    with open(path, "r+b") as f:
                        if how == "truncate":
                            f.truncate(size // 2)
                        else:
                            for _ in range(4):
                                off = opts.rng.randrange(size)
                                f.seek(off)
                                byte = f.read(1)
                                f.seek(off)
                                f.write(bytes([byte[0] ^ 0xFF]))
            except OSError:
                continue  # moved or deleted by the healer meanwhile
            damaged[block] += 1
            done[how] += 1
    log(f"corrupt: on {ids} (at most {m} shards per block): {dict(done)}; "
        f"loading {opts.kill_secs:g} s on the damaged shards, then scrub on every node")
    time.sleep(opts.kill_secs)
    scrub = c.scrub_all()
    stats.fault_off()
    return {"nodes": ",".join(ids), "flipped": done["flip"], "truncated": done["truncate"],
            "deleted": done["delete"], "blocks_hit": len(damaged),
            "scrub_bad": scrub.get("bad_shards"), "scrub_repaired": scrub.get("repaired"),
            "scrub_unrecoverable": scrub.get("unrecoverable"),
            "scrub_errors": {k: v for k, v in scrub.items() if k.startswith("error")} or None}


def fault_etcd(c, load, stats, opts):
    log(f"etcd: SIGKILL etcd for {opts.etcd_secs:g} s")
    stats.fault_on()
    c.etcd.kill()
    time.sleep(opts.etcd_secs)
    back = time.time()
    c.etcd.start()
    c.wait_live(opts.nodes)
    # wait until a load PUT succeeds again (at most 60 s)
    ok = None
    while ok is None and time.time() - back < 60:
        with stats.lock:
            ok = next((r[0] + r[1] for r in stats.reqs if r[2] == "PUT" and r[3] == "200" and r[0] > back), None)
        time.sleep(0.2)
    stats.fault_off()
    return {"first_put_after_restart_s": round(ok - back, 1) if ok else "none in 60 s"}


def fault_crash_all(c, load, stats, opts):
    ids = sorted(c.nodes)
    acked_before = len(load.reg.all())
    log(f"crash_all: SIGKILL {ids}")
    stats.fault_on()
    c.kill(ids)
    t = time.time()
    c.restart(ids)
    c.wait_live(opts.nodes)
    stats.fault_off()
    return {"acked_before_crash": acked_before, "all_live_after_s": round(time.time() - t, 1)}


def fault_three_down(c, load, stats, opts):
    ids = sorted(opts.rng.sample([n.id for n in c.up()], 3))
    log(f"three_down: SIGKILL {ids}, loading {opts.down_secs:g} s, then reading every key")
    stats.fault_on()
    c.kill(ids)
    time.sleep(opts.down_secs)
    objs = load.reg.all()
    counts, bad = read_back(c, load.reg, objs, opts, attempts=1, label="three_down pass")
    c.restart(ids)
    c.wait_live(opts.nodes)
    stats.fault_off()
    log(f"three_down: with {ids} down: {dict(counts)}")
    other = {k[8:]: v for k, v in counts.items()
             if k.startswith("attempt ") and k[8:] not in ("503", "cut", "404", "corrupt")}
    return {"killed": ",".join(ids), "down_read": len(objs), "down_readable": counts["ok"],
            "down_unavailable_503": counts["attempt 503"], "down_cut_200": counts["attempt cut"],
            "down_missing_404": counts["missing"], "down_corrupted": counts["corrupt"],
            "down_other": other or None}


FAULTS = {"kill2": fault_kill2, "freeze": fault_freeze, "corrupt": fault_corrupt,
          "etcd": fault_etcd, "crash_all": fault_crash_all, "three_down": fault_three_down}


def flat(d):
    return " ".join(f"{k}={json.dumps(v, separators=(',', ':')) if isinstance(v, (dict, list)) else v}"
                    for k, v in d.items() if v is not None)


def result_line(r):
    return (f"{r['scenario']:<10} acked={r['acked']} checked={r['checked']} lost={r['lost']} "
            f"corrupted={r['corrupted']} unavailable={r['unavailable']} max={r['max_s']}s "
            f"p99={r['p99_s']}s dur={r['secs']}s | cut={r['cut']} "
            f"errors={json.dumps(r['errors'], separators=(',', ':'))} {flat(r['notes'])}")


def report(r, opts):
    print(json.dumps(r) if opts.json else result_line(r), flush=True)
    return r


def failures(r):
    why = []
    if r["lost"]:
        why.append(f"{r['lost']} lost")
    if r["corrupted"]:
        why.append(f"{r['corrupted']} corrupted")
    if r["notes"].get("two_down_unreadable"):
        why.append(f"{r['notes']['two_down_unreadable']} unreadable with two nodes down")
    return why


def result(name, stats, reg, objs, bad, started, notes, details):
    s = stats.summary()
    lost = sorted(k for k, (res, _) in bad.items() if res in ("missing", "unreadable"))
    r = {"scenario": name, "acked": stats.acked, "checked": len(objs), "lost": len(lost),
         "corrupted": len(reg.corrupted), "unavailable": s["unavailable"],
         "max_s": s["max_s"], "p99_s": s["p99_s"], "secs": round(time.time() - started, 1),
         "cut": stats.cut, "errors": s["errors"], "notes": notes,
         "details": {"requests": s["requests"], "slow_over_5s": stats.slow,
                     "to_faulted_node": s["to_faulted_node"],
                     "to_faulted_node_max_s": s["to_faulted_node_max_s"], **details}}
    if stats.missing:
        notes["404_during_load"] = stats.missing
    if lost:
        r["details"]["lost_keys"] = lost[:20]
    if reg.corrupted:
        r["details"]["corrupted_keys"] = dict(list(reg.corrupted.items())[:20])
    return r


def census_summary(census):
    out = {k: census.get(k) for k in ("blocks", "healthy", "degraded", "lost") if k in census}
    # below_target and any k+m distribution, if the census has them (names may vary)
    out.update({k: v for k, v in census.items()
                if k not in ("blocks", "healthy", "degraded", "lost", "shards_per_node")})
    return out


def run_fault(name, c, reg, opts):
    started = time.time()
    stats = Stats()
    load = Load(c, reg, stats, name, opts)
    log(f"== {name}: load ({opts.writers} writers, {opts.readers} readers) for {opts.load_secs:g} s")
    load.start()
    try:
        time.sleep(opts.load_secs)
        notes = FAULTS[name](c, load, stats, opts)
        time.sleep(opts.settle_secs)
    except BaseException:
        load.stop_flag.set()  # no waiting for requests in flight
        raise
    load.stop()
    c.wait_live(opts.nodes)
    heal = c.heal_all()
    objs = reg.all()
    log(f"{name}: heal on every node {heal}; reading back {len(objs)} keys")
    counts, bad = read_back(c, reg, objs, opts)
    census = census_summary(c.census(verify=name == "corrupt"))
    notes["census"] = census
    return report(result(name, stats, reg, objs, bad, started, notes, {
        "heal": heal, "readback": dict(counts)}), opts)


def run_growth(opts, root):
    started = time.time()
    c = Cluster(opts, root, "growth")
    reg = Registry()
    stats = Stats()
    try:
        c.add("n1")
        c.wait_live(1)
        c.create_bucket()
        load = Load(c, reg, stats, "growth", opts)
        log(f"== growth: one node, load for {opts.growth_small_secs:g} s, then "
            f"{opts.nodes - 1} more nodes {opts.growth_step_secs:g} s apart")
        load.start()
        try:
            time.sleep(opts.growth_small_secs)
            for i in range(2, opts.nodes + 1):
                c.add(f"n{i}")
                log(f"growth: n{i} started")
                time.sleep(opts.growth_step_secs)
        except BaseException:
            load.stop_flag.set()
            raise
        load.stop()
        c.wait_live(opts.nodes)
        st, info = c.nodes["n1"].admin("GET", "/admin/cluster")
        heal = c.heal_all()
        census = census_summary(c.census(verify=True))
        log(f"growth: heal on every node {heal}; census {census}")
        objs = reg.all()
        small = {o.key for o in objs if o.live < opts.nodes}
        ids = sorted(opts.rng.sample(sorted(c.nodes), 2))
        log(f"growth: SIGKILL {ids}; reading back {len(objs)} keys "
            f"({len(small)} written with fewer than {opts.nodes} nodes)")
        stats.fault_on()
        c.kill(ids)
        counts, bad = read_back(c, reg, objs, opts, attempts=2, label="growth, two down")
        unreadable = sorted(k for k, (res, _) in bad.items() if res != "ok")
        log(f"growth: with {ids} down: {dict(counts)}")
        c.restart(ids)
        c.wait_live(opts.nodes)
        stats.fault_off()
        heal2 = c.heal_all()
        counts2, bad2 = read_back(c, reg, objs, opts)
        notes = {"erasure": info.get("erasure") if st == 200 else None,
                 "written_small": len(small), "census": census,
                 "below_target": census.get("below_target", "n/a (not in /admin/blocks)"),
                 "killed": ",".join(ids),
                 "two_down_unreadable": len(unreadable),
                 "two_down_unreadable_written_small": sum(1 for k in unreadable if k in small),
                 "two_down_503": counts["attempt 503"], "two_down_cut_200": counts["attempt cut"]}
        return report(result("growth", stats, reg, objs, bad2, started, notes, {
            "heal": heal, "heal_after_restart": heal2, "two_down_read": dict(counts),
            "two_down_unreadable_keys": unreadable[:20], "readback": dict(counts2)}), opts)
    finally:
        c.stop_all()


def main():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__[__doc__.index("Usage:"):])
    ap.add_argument("scenarios", nargs="*", metavar="scenario",
                    help=" ".join(SCENARIOS) + " (default: all)")
    ap.add_argument("--quick", action="store_true", help="a short run: small load, short phases")
    ap.add_argument("--json", action="store_true", help="one JSON object per scenario")
    ap.add_argument("--nodes", type=int, default=int(env("NODES", "6")))
    ap.add_argument("--writers", type=int, default=env("WRITERS"))
    ap.add_argument("--readers", type=int, default=env("READERS"))
    ap.add_argument("--load-secs", type=float, default=env("LOAD_SECS"), help="load before each fault")
    ap.add_argument("--kill-secs", type=float, default=env("KILL_SECS"))
    ap.add_argument("--freeze-secs", type=float, default=env("FREEZE_SECS"))
    ap.add_argument("--etcd-secs", type=float, default=env("ETCD_SECS"))
    ap.add_argument("--down-secs", type=float, default=env("DOWN_SECS"))
    ap.add_argument("--seed", type=int, default=env("SEED"))
    ap.add_argument("--liuma", default=env("LIUMA", "target/release/liuma"))
    ap.add_argument("--etcd", default=env("ETCD", "etcd"))
    opts = ap.parse_args()
    q = opts.quick
    defaults = {"writers": (4, 2), "readers": (4, 3), "load_secs": (10, 2), "kill_secs": (20, 5),
                "freeze_secs": (30, 10), "etcd_secs": (10, 10), "down_secs": (20, 3)}
    for k, (full, quick) in defaults.items():
        v = getattr(opts, k)
        setattr(opts, k, type(full)(v) if v is not None else (quick if q else full))
    opts.settle_secs = 1 if q else 5
    opts.growth_small_secs = 4 if q else 15
    opts.growth_step_secs = 2 if q else 5
    opts.corrupt_fraction = float(env("CORRUPT_FRACTION", "0.3"))
    opts.heal_grace = int(env("HEAL_GRACE", "10"))
    opts.heal_interval = int(env("HEAL_INTERVAL", "5"))
    opts.block_size = env("BLOCK_SIZE")
    opts.read_timeout = max(60, int(opts.freeze_secs) + 30)
    opts.seed = opts.seed if opts.seed is not None else random.randrange(1 << 30)
    opts.rng = random.Random(opts.seed)
    unknown = [s for s in opts.scenarios if s not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario {' '.join(unknown)} (choose from {' '.join(SCENARIOS)})")
    scenarios = [s for s in SCENARIOS if s in (opts.scenarios or SCENARIOS)]
    if opts.nodes < 4:
        ap.error("--nodes must be at least 4")
    if not os.access(opts.liuma, os.X_OK):
        ap.error(f"no liuma binary at {opts.liuma} (cargo build --release -p liuma-server)")
    if not shutil.which(opts.etcd):
        ap.error(f"no etcd binary ({opts.etcd}); apt-get install etcd-server or set ETCD")
    opts.liuma = os.path.abspath(opts.liuma)

    root = tempfile.mkdtemp(prefix="liuma-chaos-", dir=env("WORK"))
    keep = env("KEEP") == "1"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.time()
    log(f"chaos: {' '.join(scenarios)}; {opts.nodes} nodes, seed {opts.seed}, data in {root}; "
        f"binary {opts.liuma} built {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(os.path.getmtime(opts.liuma)))}")
    free = shutil.disk_usage(root).free / (1 << 30)
    want = 6 if q else 40
    if free < want:
        log(f"WARNING: only {free:.1f} GiB free under {root}; this run may write ~{want} GiB "
            f"(stored 1.5x with 4+2). A full disk fails the suite; set WORK to another place.")
    results = []
    status = 0
    try:
        main_faults = [s for s in scenarios if s in FAULTS]
        if main_faults:
            c = Cluster(opts, root, "main")
            try:
                for i in range(1, opts.nodes + 1):
                    c.add(f"n{i}")
                c.wait_live(opts.nodes)
                st, info = c.nodes["n1"].admin("GET", "/admin/cluster")
                log(f"main cluster: {opts.nodes} nodes, erasure {info.get('erasure') if st == 200 else st}")
                c.create_bucket()
                reg = Registry()
                for name in main_faults:
                    results.append(run_fault(name, c, reg, opts))
            finally:
                c.stop_all()
        if "growth" in scenarios:
            results.append(run_growth(opts, root))
    except (KeyboardInterrupt, SystemExit) as e:
        status = 2
        log(f"chaos suite interrupted ({type(e).__name__})")
    except Exception:  # noqa: BLE001 - report, clean up, exit 2
        status = 2
        log("chaos suite failed:\n" + traceback.format_exc())
        try:
            for dirpath, _, files in sorted(os.walk(root)):
                for f in files:
                    if f.endswith(".log"):
                        path = os.path.join(dirpath, f)
                        print(f"--- {os.path.relpath(path, root)} (last 10 lines)\n{tail(path, 10)}",
                              file=sys.stderr)
        except OSError:
            pass
    finally:
        with PROCS_LOCK:
            procs = list(PROCS)
        for p in procs:
            hard_kill(p)
        if keep:
            log(f"data and logs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    bad = [f"{r['scenario']}: {', '.join(failures(r))}" for r in results if failures(r)]
    log(f"chaos: {len(results)} of {len(scenarios)} scenarios in {time.time() - started:.0f} s; "
        + (f"FAILED: {'; '.join(bad)}" if bad else
           "the suite did not finish" if status else "nothing acknowledged was lost or corrupted"))
    return status or (1 if bad else 0)


if __name__ == "__main__":
    sys.exit(main())
