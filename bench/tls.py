#!/usr/bin/env python3
"""Cost of TLS and of SSE-S3 on one node, against the same node without
them (issue #19): server CPU seconds per GiB and per 1 000 small requests,
read per phase from the node's /proc/<pid>/stat, so the figure is the
node's own work, not the wall clock of a machine it shares with the client
and with other jobs.

usage: bench/tls.py [--bin target/release/liuma] [--rounds 3] [--small 2000]
                    [--big-mib 1024] [--modes plain,tls,sse] [--disk]
       bench/tls.py --streams 1,4,8 [--bin ...] [--rounds R] [--small N]

Default: per round, one fresh node per mode (`plain` HTTP; `tls` with a
`liuma tls self-signed` certificate; `sse`: SSE-S3 over plain HTTP;
`tls-sse`: both), the order of the modes rotated from round to round so no
mode always runs first. Each node does four phases with curl (OpenSSL, C:
the client that takes least CPU from the node per byte): a 1 GiB PUT of
random bytes from a file, its GET to /dev/null, N sequential 4 KiB PUTs and
N 4 KiB GETs on one kept-alive connection. Per phase: the node's CPU seconds
(user + system), the wall time and the client's CPU. Printed: every round,
then per mode the median over rounds and its ratio to plain's median; peak
RSS is the node's VmHWM. Data directories and the 1 GiB source file are on
tmpfs (/dev/shm) unless --disk: disk writeback noise stays out, and the PUT
figures are the node's CPU, not the disk's speed (fsync is free on tmpfs).
When the `tls_floor` bench is built (`cargo bench -p liuma-server --bench
tls_floor --no-run`), its rows (the cipher's CPU per GiB on one core) are
printed first, in the same run.

--streams: concurrent GETs with curl, per node: a 256 MiB object fetched by
N curl processes at once (aggregate MB/s), and 4 KiB objects fetched by one
curl with --parallel --parallel-max N over kept-alive connections (GET/s).
"""

import argparse
import glob
import json
import os
import resource
import shutil
import statistics
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


MODES = {
    # name: (TLS, SSE-S3)
    "plain": (False, False),
    "tls": (True, False),
    "sse": (False, True),
    "tls-sse": (True, True),
}
PHASES = ["PUT 1 GiB", "GET 1 GiB", "PUT 4 KiB", "GET 4 KiB"]


def peak_rss(pid):
    """The node's peak resident set size in MiB (VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def client_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def curl_config(path, pairs):
    """A curl --config file of (option, value) lines: thousands of transfers
    in one curl, hence on one kept-alive connection, without an argv limit."""
    with open(path, "w") as f:
        for k, v in pairs:
            f.write(f'{k} = "{v}"\n')
    return path


def phase(pid, argv):
    """Run one curl; the node's CPU seconds, the wall seconds and the client's CPU seconds it took."""
    c, w, cc = server_cpu(pid), time.monotonic(), client_cpu()
    subprocess.run(argv, check=True)
    return server_cpu(pid) - c, time.monotonic() - w, client_cpu() - cc


def run_cost(a, root, tls, mode, tag, big_file, small_file):
    """One fresh node in `mode`: the four phases; per phase (server CPU, wall, client CPU)."""
    use_tls, use_sse = MODES[mode]
    data = os.path.join(root, f"{mode}-{tag}")
    extra = ["--tls-cert", f"{tls}/server.pem", "--tls-key", f"{tls}/server-key.pem"] if use_tls else []
    p, ready = start(a.bin, data, extra)
    try:
        scheme = "https" if use_tls else "http"
        base = curl_base(data, f"{tls}/ca.pem" if use_tls else None)
        if use_sse:
            base += ["-H", "x-amz-server-side-encryption: AES256"]
        url = f"{scheme}://{ready['s3']}/bench"
        subprocess.run(base + ["-X", "PUT", url], check=True)
        out = {}
        out["PUT 1 GiB"] = phase(p.pid, base + ["-T", big_file, f"{url}/big"])
        out["GET 1 GiB"] = phase(p.pid, base + ["-o", "/dev/null", f"{url}/big"])
        puts = curl_config(os.path.join(root, "puts.cfg"),
                           [x for i in range(a.small) for x in (("upload-file", small_file), ("url", f"{url}/s/{i}"))])
        gets = curl_config(os.path.join(root, "gets.cfg"),
                           [x for i in range(a.small) for x in (("output", "/dev/null"), ("url", f"{url}/s/{i}"))])
        out["PUT 4 KiB"] = phase(p.pid, base + ["--config", puts])
        out["GET 4 KiB"] = phase(p.pid, base + ["--config", gets])
        out["rss"] = peak_rss(p.pid)
        return out
    finally:
        p.terminate()
        p.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)


def print_floor():
    """The tls_floor bench's rows, when it is built: the cipher's cost in this same run."""
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    built = sorted(glob.glob(f"{target}/release/deps/tls_floor-*"), key=os.path.getmtime)
    built = [b for b in built if os.access(b, os.X_OK) and not b.endswith(".d")]
    if not built:
        print("(tls_floor not built: `cargo bench -p liuma-server --bench tls_floor --no-run` adds the cipher floor)\n")
        return
    print(f"cipher floor ({os.path.basename(built[-1])}):\n")
    subprocess.run([built[-1], "--bench"], check=True)
    print()


def main_cost(a, root, tls):
    modes = a.modes.split(",")
    assert modes[0] == "plain" and all(m in MODES for m in modes), "--modes: plain first, then of tls, sse, tls-sse"
    big = a.big_mib << 20
    big_file = os.path.join(root, "big.bin")
    with open(big_file, "wb") as f:
        for _ in range(0, big, 64 << 20):
            f.write(os.urandom(min(64 << 20, big)))
    small_file = os.path.join(root, "small.bin")
    with open(small_file, "wb") as f:
        f.write(os.urandom(4096))
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, load average {os.getloadavg()}, "
          f"{a.rounds} rounds, {a.big_mib} MiB and {a.small} × 4 KiB per node, data on "
          f"{'disk' if a.disk else 'tmpfs'}\n")
    print_floor()
    gib = big / GIB
    units = {"PUT 1 GiB": gib, "GET 1 GiB": gib, "PUT 4 KiB": a.small / 1000, "GET 4 KiB": a.small / 1000}
    runs = {m: [] for m in modes}
    print("| round | mode | load | " + " | ".join(f"{ph} CPU-s/{'GiB' if 'GiB' in ph else '1k ops'}"
                                                for ph in PHASES) + " | peak RSS |")
    print("|---|---|---|" + "---|" * len(PHASES) + "---|")
    for r in range(a.rounds):
        order = modes[r % len(modes):] + modes[:r % len(modes)]
        for m in order:
            out = run_cost(a, root, tls, m, r, big_file, small_file)
            runs[m].append(out)
            cells = " | ".join(f"{out[ph][0] / units[ph]:.3f} ({units[ph] / out[ph][1] * (1000 if 'KiB' in ph else GIB / 1e6):.0f} "
                               f"{'ops/s' if 'KiB' in ph else 'MB/s'}, client {out[ph][2] / units[ph]:.2f})"
                               for ph in PHASES)
            print(f"| {r + 1} | {m} | {os.getloadavg()[0]:.1f} | {cells} | {out['rss']:.0f} MiB |", flush=True)
    print(f"\nload average after: {os.getloadavg()}\n")
    print("Medians over rounds; server CPU-s per GiB (1 GiB rows) or per 1 000 requests (4 KiB rows); "
          "ratio to plain in parentheses.\n")
    print("| mode | " + " | ".join(PHASES) + " | " + " | ".join(f"{ph} throughput" for ph in PHASES) + " | peak RSS |")
    print("|---|" + "---|" * (2 * len(PHASES) + 1))
    med = {m: {ph: (statistics.median([o[ph][0] for o in runs[m]]) / units[ph], statistics.median([units[ph] / o[ph][1] for o in runs[m]]))
               for ph in PHASES} for m in modes}
    for m in modes:
        cpu = " | ".join(f"{med[m][ph][0]:.3f} ({med[m][ph][0] / med['plain'][ph][0]:.2f}×)" for ph in PHASES)
        rate = " | ".join(f"{med[m][ph][1] * (1000 if 'KiB' in ph else GIB / 1e6):.0f} {'ops/s' if 'KiB' in ph else 'MB/s'} "
                          f"({med[m][ph][1] / med['plain'][ph][1]:.2f}×)" for ph in PHASES)
        print(f"| {m} | {cpu} | {rate} | {statistics.median([o['rss'] for o in runs[m]]):.0f} MiB |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/liuma")
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--modes", default="plain,tls,sse", help="of plain, tls, sse, tls-sse; plain first (the reference)")
    ap.add_argument("--disk", action="store_true", help="data on the temp dir's disk instead of /dev/shm")
    ap.add_argument("--streams", default="", help="e.g. 1,4,8: concurrent GETs with curl instead")
    a = ap.parse_args()
    base = None if a.disk or not os.path.isdir("/dev/shm") else "/dev/shm"
    root = tempfile.mkdtemp(prefix="liuma-tls-bench-", dir=base)
    try:
        tls = os.path.join(root, "tls")
        subprocess.run([a.bin, "tls", "self-signed", "--host", "127.0.0.1", "--out", tls], check=True,
                       stdout=subprocess.DEVNULL)
        if a.streams:
            main_streams(a, root, tls, os.urandom(64 << 20))
            return
        main_cost(a, root, tls)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
