#!/usr/bin/env python3
"""Load-and-abuse suite for one liuma node (issue #11): every scenario runs
against a real node with real clients while a *probe* client (a 1 MiB PUT
and its GET, signed by curl --aws-sigv4) measures what a normal user sees.

Prints per scenario: requests, errors by code, the probe's max latency and
the node's peak RSS during the scenario (VmHWM, reset before each one).

Usage: bench/abuse.sh [scenario ...]   (builds the release binary first)
Env:   LIUMA       binary (default target/release/liuma)
       GET_MIB     object size of the GET flood (64)    GETS   concurrent GETs (64)
       PUT_MIB     object size of the PUT flood (1024)  PUTS   concurrent PUTs (16)
       BIG_MIB     object size of `big` (1024)          BIG_N  parallel streams (16)
       GET64_SECS  length of `get64` (10)               PROBE=0 no probe client
       WORK        data directory (default a temp dir, removed at the end
                   unless KEEP=1: the flood writes 16 GiB)
"""

import collections
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from botocore.config import Config

LIUMA = os.environ.get("LIUMA", "target/release/liuma")
GET_MIB = int(os.environ.get("GET_MIB", "64"))
GETS = int(os.environ.get("GETS", "64"))
PUT_MIB = int(os.environ.get("PUT_MIB", "1024"))
PUTS = int(os.environ.get("PUTS", "16"))
BIG_MIB = int(os.environ.get("BIG_MIB", "1024"))
BIG_N = int(os.environ.get("BIG_N", "16"))
GET64_SECS = int(os.environ.get("GET64_SECS", "10"))


class Node:
    def __init__(self, work):
        self.work = work
        ready = os.path.join(work, "ready.json")
        self.log = open(os.path.join(work, "node.log"), "w")
        self.proc = subprocess.Popen(
            [LIUMA, "server", "--data", os.path.join(work, "data"),
             "--admin-listen", "127.0.0.1:0", "--s3-listen", "127.0.0.1:0",
             "--console-listen", "127.0.0.1:0",
             "--native-listen", "127.0.0.1:0", "--ready-file", ready],
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            if os.path.exists(ready) and os.path.getsize(ready) > 0:
                break
            time.sleep(0.1)
        info = json.load(open(ready))
        self.s3 = info["s3"]
        key = open(os.path.join(work, "data", "secrets", "root.key")).read().split()
        self.key_id, self.secret = key[0], key[1]
        self.client = boto3.client(
            "s3", endpoint_url=f"http://{self.s3}", aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret, region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 1}))
        self.client.create_bucket(Bucket="abuse")

    def reset_peak(self):
        with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
            f.write("5")

    def peak_mib(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1]) // 1024
        return -1

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


class Probe(threading.Thread):
    """A normal client, once every 200 ms: PUT 1 MiB, GET it back."""

    def __init__(self, node):
        super().__init__(daemon=True)
        self.node = node
        self.stop_flag = threading.Event()
        self.lat = []
        self.by_op = collections.defaultdict(float)
        self.errors = collections.Counter()
        self.file = os.path.join(node.work, "probe.bin")
        with open(self.file, "wb") as f:
            f.write(os.urandom(1 << 20))

    def curl(self, args):
        out = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-m", "60", "-w", "%{http_code} %{time_total}",
             "--aws-sigv4", "aws:amz:us-east-1:s3", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
             "--user", f"{self.node.key_id}:{self.node.secret}"] + args,
            capture_output=True, text=True)
        code, secs = out.stdout.split()
        if code != "200":
            self.errors[code] += 1
        return float(secs)

    def run(self):
        i = 0
        while not self.stop_flag.is_set():
            url = f"http://{self.node.s3}/abuse/probe-{i % 8}"
            put = self.curl(["-T", self.file, url])
            get = self.curl([url])
            self.lat += [put, get]
            self.by_op["PUT"] = max(self.by_op["PUT"], put)
            self.by_op["GET"] = max(self.by_op["GET"], get)
            i += 1
            time.sleep(0.2)

    def finish(self):
        self.stop_flag.set()
        self.join()
        return max(self.lat) if self.lat else float("nan"), len(self.lat)


def bench(node, args):
    env = dict(os.environ, AWS_SECRET_ACCESS_KEY=node.secret)
    return subprocess.Popen(
        [LIUMA, "bench", "--endpoint", f"http://{node.s3}", "--access-key", node.key_id,
         "--bucket", "load", "--json", "--quiet"] + args,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def bench_result(p, what):
    out, err = p.communicate()
    try:
        r = json.loads(out)
    except ValueError:
        return {"requests": 0, "errors": {f"no report: {err.strip()[-200:]}": 1}}
    t = r["total"]
    # liuma bench counts errors and keeps the first one's text (with its code)
    errs = {(t.get("first_error") or "error")[:80]: t["errors"]} if t["errors"] else {}
    return {"requests": t["ops"], "errors": errs, "MB/s": round(t["mb_per_sec"], 1)}


def presigned_path(node, method, key):
    op = {"GET": "get_object", "PUT": "put_object"}[method]
    url = node.client.generate_presigned_url(op, Params={"Bucket": "abuse", "Key": key}, ExpiresIn=600)
    return url[len(f"http://{node.s3}"):]


class NoProbe:
    errors, by_op = {}, {}

    def start(self):
        pass

    def finish(self):
        return 0.0, 0


def scenario(node, name, run):
    node.reset_peak()
    probe = Probe(node) if os.environ.get("PROBE", "1") != "0" else NoProbe()
    probe.start()
    t = time.time()
    result = run(node)
    worst, n = probe.finish()
    result.update({
        "scenario": name,
        "seconds": round(time.time() - t, 1),
        "probe requests": n,
        "probe errors": dict(probe.errors),
        "probe max ms": round(worst * 1000),
        "probe max ms by op": {k: round(v * 1000) for k, v in probe.by_op.items()},
        "peak RSS MiB": node.peak_mib(),
    })
    print(json.dumps(result), flush=True)
    return result


def quiet(node):
    time.sleep(5)
    return {"requests": 0, "errors": {}}


def flood(node):
    gets = bench(node, ["-w", "get", "--size", f"{GET_MIB}MiB", "-c", str(GETS),
                        "--ops", str(2 * GETS), "--objects", "16"])
    time.sleep(3)  # let the GETs' objects be written first
    puts = bench(node, ["-w", "put", "--size", f"{PUT_MIB}MiB", "-c", str(PUTS), "--ops", str(PUTS)])
    g = bench_result(gets, "gets")
    p = bench_result(puts, "puts")
    errors = collections.Counter(g["errors"]) + collections.Counter(p["errors"])
    return {"requests": g["requests"] + p["requests"], "errors": dict(errors),
            "GET MB/s": g.get("MB/s"), "PUT MB/s": p.get("MB/s")}


def big(node):
    """BIG_N parallel PUTs of BIG_MIB each (liuma bench's prepare phase),
    then BIG_N parallel GETs of them: peak RSS of each phase apart (VmHWM
    is read and reset once every object is committed)."""
    n, mib = BIG_N, BIG_MIB
    p = bench(node, ["-w", "get", "--size", f"{mib}MiB", "-c", str(n), "--ops", str(n),
                     "--objects", str(n), "--prefix", "big/"])
    t = time.time()
    while p.poll() is None:
        try:
            listed = node.client.list_objects_v2(Bucket="load", Prefix="big/")
            if listed.get("KeyCount", 0) >= n:
                break
        except Exception:
            pass  # the bucket is not created yet
        time.sleep(0.2)
    put_secs = time.time() - t
    put_peak = node.peak_mib()
    node.reset_peak()
    g = bench_result(p, "big")
    return {"requests": 2 * n, "errors": g["errors"],
            "PUT MB/s": round(n * mib * 1.048576 / put_secs, 1), "PUT peak RSS MiB": put_peak,
            "GET MB/s": g.get("MB/s"), "GET peak RSS MiB": node.peak_mib()}


def get64(node):
    """`liuma bench -w get --size 64MiB -c 4` for GET64_SECS: GET throughput."""
    p = bench(node, ["-w", "get", "--size", "64MiB", "-c", "4", "--duration", f"{GET64_SECS}s"])
    g = bench_result(p, "get64")
    return {"requests": g["requests"], "errors": g["errors"], "GET MB/s": g.get("MB/s")}


def addr(node):
    host, port = node.s3.rsplit(":", 1)
    return host, int(port)


def stalled(node):
    node.client.put_object(Bucket="abuse", Key="big", Body=os.urandom(32 << 20))
    socks = []
    for i in range(16):
        path = presigned_path(node, "PUT", f"stalled-{i}")
        s = socket.create_connection(addr(node))
        s.sendall(f"PUT {path} HTTP/1.1\r\nHost: {node.s3}\r\nContent-Length: {8 << 20}\r\n\r\nx".encode())
        socks.append(s)
    path = presigned_path(node, "GET", "big")
    for _ in range(16):
        s = socket.create_connection(addr(node))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {node.s3}\r\n\r\n".encode())
        socks.append(s)
    time.sleep(15)
    stored = 0
    for i in range(16):
        try:
            node.client.head_object(Bucket="abuse", Key=f"stalled-{i}")
            stored += 1
        except Exception:
            pass
    for s in socks:
        s.close()
    return {"requests": 32, "errors": {}, "stalled PUTs stored (must be 0)": stored}


def idle(node):
    host, port = node.s3.rsplit(":", 1)
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    socks = [socket.create_connection((host, int(port))) for _ in range(2000)]
    time.sleep(5)
    for s in socks:
        s.close()
    return {"requests": 2000, "errors": {}}


SCENARIOS = {"quiet": quiet, "flood": flood, "stalled": stalled, "idle": idle, "big": big,
             "get64": get64}


def main():
    names = sys.argv[1:] or list(SCENARIOS)
    own = not os.environ.get("WORK")
    work = os.environ.get("WORK") or tempfile.mkdtemp(prefix="liuma-abuse.")
    node = None
    try:
        node = Node(work)
        for n in names:
            scenario(node, n, SCENARIOS[n])
    finally:
        if node:
            node.stop()
        if own and os.environ.get("KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
