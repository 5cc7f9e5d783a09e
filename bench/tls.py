#!/usr/bin/env python3
"""TLS cost on one node, same run: a node with plain HTTP and a node with
TLS (a `liuma tls self-signed` certificate), one after the other, the same
binary and data. Per node: a 1 GiB PUT and GET (boto3, one stream each:
`put_object` with the whole body, `get_object` read in 1 MiB chunks) and
N sequential 4 KiB PUTs on one kept-alive connection. Each node gets its
own data directory (so the second PUT is not deduplicated against the
first), removed after its run; at most ~1 GiB of data is on disk at once.

usage: bench/tls.py [--bin target/release/liuma] [--small N] [--rounds R]
       bench/tls.py --streams 1,4,8 [--bin ...] [--rounds R]

--streams: concurrent GETs with curl (OpenSSL, C: the client's decryption
costs far less than boto3's), per node: a 256 MiB object fetched by N curl
processes at once (aggregate MB/s), and 4 KiB objects fetched by one curl
with --parallel --parallel-max N over kept-alive connections (GET/s).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config

GIB = 1 << 30
TICK = os.sysconf("SC_CLK_TCK")


def server_cpu(pid):
    """CPU seconds (user + system) the node has used so far: the server's own cost of a phase,
    apart from the client's, which shares this machine's cores and skews wall-clock ratios."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def start(binary, data, extra):
    os.makedirs(data, exist_ok=True)
    ready = os.path.join(data, "ready.json")
    log = open(os.path.join(data, "stderr.log"), "w")
    p = subprocess.Popen(
        [binary, "server", "--data", data, "--admin-listen", "127.0.0.1:0", "--native-listen", "127.0.0.1:0",
         "--s3-listen", "127.0.0.1:0", "--ready-file", ready, *extra],
        stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with open(ready) as f:
                return p, json.load(f)
        except (OSError, ValueError):
            time.sleep(0.1)
    p.kill()
    sys.exit("node did not start")


def client(endpoint, data, verify):
    with open(os.path.join(data, "secrets/root.key")) as f:
        kid, secret = f.read().split()[:2]
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=kid,
                        aws_secret_access_key=secret, verify=verify,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


class Chunked:
    """A 1 GiB body from one 64 MiB random buffer repeated, each repeat
    with a different first 8 bytes so no two blocks deduplicate."""

    def __init__(self, size, seed_buf):
        self.size, self.buf, self.pos = size, seed_buf, 0

    def __len__(self):
        return self.size

    def read(self, n=-1):
        if self.pos >= self.size:
            return b""
        n = self.size - self.pos if n is None or n < 0 else min(n, self.size - self.pos)
        out = bytearray()
        while len(out) < n:
            off = (self.pos + len(out)) % len(self.buf)
            take = min(n - len(out), len(self.buf) - off)
            chunk = bytearray(self.buf[off:off + take])
            # every 4 MiB block starts with its own index: unique content
            start = self.pos + len(out)
            if start % (4 << 20) == 0 and take >= 8:
                chunk[:8] = (start // (4 << 20)).to_bytes(8, "little")
            out += chunk
        self.pos += n
        return bytes(out)

    def seek(self, pos, whence=0):
        self.pos = pos if whence == 0 else (self.size + pos if whence == 2 else self.pos + pos)
        return self.pos

    def tell(self):
        return self.pos


def run_node(binary, root, name, extra, endpoint_scheme, verify, seed_buf, small):
    data = os.path.join(root, name)
    p, ready = start(binary, data, extra)
    try:
        s3 = client(f"{endpoint_scheme}://{ready['s3']}", data, verify)
        s3.create_bucket(Bucket="bench")
        t = time.monotonic()
        s3.put_object(Bucket="bench", Key="big", Body=Chunked(GIB, seed_buf), ContentLength=GIB)
        put = GIB / (time.monotonic() - t) / 1e6
        t = time.monotonic()
        body = s3.get_object(Bucket="bench", Key="big")["Body"]
        got = 0
        for chunk in iter(lambda: body.read(1 << 20), b""):
            got += len(chunk)
        get = GIB / (time.monotonic() - t) / 1e6
        assert got == GIB
        s3.delete_object(Bucket="bench", Key="big")
        small_body = os.urandom(4096)
        s3.put_object(Bucket="bench", Key="warm", Body=small_body)
        t = time.monotonic()
        for i in range(small):
            s3.put_object(Bucket="bench", Key=f"s/{i}", Body=small_body)
        ops = small / (time.monotonic() - t)
        return put, get, ops
    finally:
        p.terminate()
        p.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)


def curl_base(data, ca):
    with open(os.path.join(data, "secrets/root.key")) as f:
        kid, secret = f.read().split()[:2]
    base = ["curl", "-s", "--no-progress-meter", "-f", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", f"{kid}:{secret}",
            "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]
    return base + (["--cacert", ca] if ca else [])


def run_streams(binary, root, name, extra, scheme, ca, seed_buf, streams, small):
    """Aggregate GET MB/s of a 256 MiB object with N curls at once, and 4 KiB GET/s with N parallel
    transfers, for each N in `streams`."""
    data = os.path.join(root, name)
    p, ready = start(binary, data, extra)
    try:
        s3 = client(f"{scheme}://{ready['s3']}", data, ca)
        s3.create_bucket(Bucket="bench")
        big = 256 << 20
        s3.put_object(Bucket="bench", Key="big", Body=Chunked(big, seed_buf), ContentLength=big)
        body = os.urandom(4096)
        for i in range(small):
            s3.put_object(Bucket="bench", Key=f"s/{i}", Body=body)
        base = curl_base(data, ca)
        url = f"{scheme}://{ready['s3']}/bench"
        out = {}
        for n in streams:
            t, c = time.monotonic(), server_cpu(p.pid)
            procs = [subprocess.Popen(base + ["-o", "/dev/null", f"{url}/big"]) for _ in range(n)]
            assert all(q.wait() == 0 for q in procs), "a curl GET failed"
            big_rate = n * big / (time.monotonic() - t) / 1e6
            # server CPU seconds per GiB sent: what TLS costs the node, whoever the client is
            big_cpu = (server_cpu(p.pid) - c) / (n * big / GIB)
            urls = []
            for i in range(small):
                urls += ["-o", "/dev/null", f"{url}/s/{i}"]
            t = time.monotonic()
            subprocess.run(base + ["--parallel", "--parallel-max", str(n), *urls], check=True)
            small_rate = small / (time.monotonic() - t)
            out[n] = (big_rate, small_rate, big_cpu)
        return out
    finally:
        p.terminate()
        p.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)


def main_streams(a, root, tls, seed_buf):
    streams = [int(x) for x in a.streams.split(",")]
    print(f"load before: {os.getloadavg()[0]:.1f}")
    rows = []
    for r in range(a.rounds):
        plain = run_streams(a.bin, root, f"plain{r}", [], "http", None, seed_buf, streams, a.small)
        https = run_streams(a.bin, root, f"tls{r}",
                            ["--tls-cert", f"{tls}/server.pem", "--tls-key", f"{tls}/server-key.pem"],
                            "https", f"{tls}/ca.pem", seed_buf, streams, a.small)
        rows.append((r + 1, plain, https))
    print(f"load after: {os.getloadavg()[0]:.1f}")
    print("| round | streams | 256 MiB GET http | 256 MiB GET https | server CPU-s/GiB http | server CPU-s/GiB https "
          "| 4 KiB GET/s http | 4 KiB GET/s https |")
    print("|---|---|---|---|---|---|---|---|")
    for r, plain, https in rows:
        for n in streams:
            (pb, ps, pc), (tb, ts, tc) = plain[n], https[n]
            print(f"| {r} | {n} | {pb:.0f} MB/s | {tb:.0f} MB/s ({tb / pb - 1:+.1%}) | {pc:.2f} | {tc:.2f} ({tc / pc - 1:+.1%}) "
                  f"| {ps:.0f} | {ts:.0f} ({ts / ps - 1:+.1%}) |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/liuma")
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--streams", default="", help="e.g. 1,4,8: concurrent GETs with curl instead")
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="liuma-tls-bench-")
    try:
        tls = os.path.join(root, "tls")
        subprocess.run([a.bin, "tls", "self-signed", "--host", "127.0.0.1", "--out", tls], check=True,
                       stdout=subprocess.DEVNULL)
        seed_buf = os.urandom(64 << 20)
        if a.streams:
            main_streams(a, root, tls, seed_buf)
            return
        rows = []
        for r in range(a.rounds):
            plain = run_node(a.bin, root, f"plain{r}", [], "http", None, seed_buf, a.small)
            https = run_node(a.bin, root, f"tls{r}",
                             ["--tls-cert", f"{tls}/server.pem", "--tls-key", f"{tls}/server-key.pem"],
                             "https", f"{tls}/ca.pem", seed_buf, a.small)
            rows.append((r + 1, plain, https))
        print("| round | 1 GiB PUT http | 1 GiB PUT https | 1 GiB GET http | 1 GiB GET https | 4 KiB PUT/s http | 4 KiB PUT/s https |")
        print("|---|---|---|---|---|---|---|")
        for r, (pp, pg, ps), (tp, tg, ts) in rows:
            print(f"| {r} | {pp:.0f} MB/s | {tp:.0f} MB/s ({tp / pp - 1:+.1%}) | {pg:.0f} MB/s | {tg:.0f} MB/s ({tg / pg - 1:+.1%}) "
                  f"| {ps:.0f} | {ts:.0f} ({ts / ps - 1:+.1%}) |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
