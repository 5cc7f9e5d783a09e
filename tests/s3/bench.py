"""S3 benchmarks against a running liuma node (not a test; run by hand):

    LIUMA_S3_ENDPOINT=http://127.0.0.1:9000 AWS_ACCESS_KEY_ID=... \\
    AWS_SECRET_ACCESS_KEY=... LIUMA_PID=<server pid> python3 tests/s3/bench.py

Single-stream 1 GiB PUT/GET with curl on presigned URLs (UNSIGNED-PAYLOAD:
the client does no hashing, so the numbers are the server's), 4 KiB PUT/GET
ops/s with 32 concurrent keep-alive connections (presigned URLs made up
front), ListObjectsV2 over N keys, and the server's peak RSS (VmHWM).
"""

import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from conftest import ENDPOINT, make_client  # noqa: E402

MiB = 1 << 20


def rss_mib():
    pid = os.environ.get("LIUMA_PID")
    if not pid:
        return None
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def big_file(size):
    path = os.path.join(tempfile.gettempdir(), f"liuma-bench-{size}")
    if not os.path.exists(path) or os.path.getsize(path) != size:
        with open(path, "wb") as f:
            for _ in range(size // (64 * MiB)):
                f.write(os.urandom(64 * MiB))
    return path


def single_stream(s3, bucket, size):
    path = big_file(size)
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "big"}, ExpiresIn=3600)
    t = time.perf_counter()
    subprocess.run(["curl", "-sf", "-o", "/dev/null", "-T", path, put], check=True)
    put_s = time.perf_counter() - t
    get = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "big"}, ExpiresIn=3600)
    t = time.perf_counter()
    subprocess.run(["curl", "-sf", "-o", "/dev/null", get], check=True)
    get_s = time.perf_counter() - t
    return size / MiB / put_s, size / MiB / get_s


def many_small(s3, bucket, n, conc, method):
    body = os.urandom(4096)
    op = "put_object" if method == "PUT" else "get_object"
    urls = [
        s3.generate_presigned_url(op, Params={"Bucket": bucket, "Key": f"small/{i:06d}"}, ExpiresIn=3600)
        for i in range(n)
    ]
    host = urllib.parse.urlsplit(ENDPOINT).netloc
    errors = []

    def worker(part):
        conn = http.client.HTTPConnection(host, timeout=30)
        for u in part:
            p = urllib.parse.urlsplit(u)
            conn.request(method, p.path + "?" + p.query, body=body if method == "PUT" else None)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                errors.append(r.status)

    threads = [threading.Thread(target=worker, args=(urls[i::conc],)) for i in range(conc)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    dt = time.perf_counter() - t
    assert not errors, errors[:5]
    return n / dt


def list_all(s3, bucket):
    t = time.perf_counter()
    n = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        n += page.get("KeyCount", 0)
    return n, time.perf_counter() - t


def main():
    s3 = make_client()
    bucket = "bench-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket)
    size = int(os.environ.get("BENCH_BIG_BYTES", str(1 << 30)))
    n_small = int(os.environ.get("BENCH_SMALL_OPS", "20000"))
    n_list = int(os.environ.get("BENCH_LIST_KEYS", "100000"))
    put, get = single_stream(s3, bucket, size)
    print(f"single-stream PUT {size // MiB} MiB: {put:.0f} MiB/s")
    print(f"single-stream GET {size // MiB} MiB: {get:.0f} MiB/s")
    print(f"peak RSS after big objects: {rss_mib():.0f} MiB" if rss_mib() else "")
    ops = many_small(s3, bucket, n_small, 32, "PUT")
    print(f"4 KiB PUT, 32 concurrent: {ops:.0f} ops/s")
    ops = many_small(s3, bucket, n_small, 32, "GET")
    print(f"4 KiB GET, 32 concurrent: {ops:.0f} ops/s")
    extra = max(0, n_list - n_small)
    if extra:
        # fill up to n_list keys under another prefix
        rate = many_small_prefix(s3, bucket, extra, b"x")
        print(f"(filled {extra} more keys at {rate:.0f} ops/s)")
    n, dt = list_all(s3, bucket)
    print(f"ListObjectsV2 over {n} keys (1000 per page): {dt:.2f} s, {n / dt:.0f} keys/s")
    print(f"peak RSS (VmHWM): {rss_mib():.0f} MiB" if rss_mib() else "")


def many_small_prefix(s3, bucket, n, body):
    urls = [
        s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": f"fill/{i:07d}"}, ExpiresIn=3600)
        for i in range(n)
    ]
    host = urllib.parse.urlsplit(ENDPOINT).netloc

    def worker(part):
        conn = http.client.HTTPConnection(host, timeout=30)
        for u in part:
            p = urllib.parse.urlsplit(u)
            conn.request("PUT", p.path + "?" + p.query, body=body)
            conn.getresponse().read()

    threads = [threading.Thread(target=worker, args=(urls[i::32],)) for i in range(32)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return n / (time.perf_counter() - t)


if __name__ == "__main__":
    main()
