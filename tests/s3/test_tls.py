"""TLS on the public listeners, against a node started by
crates/liuma-server/tests/it/tls.rs with `--tls-cert/--tls-key` from
`liuma tls self-signed` (reload every second). Environment:

  LIUMA_S3_ENDPOINT   https://127.0.0.1:PORT
  LIUMA_ADMIN_URL     https://127.0.0.1:PORT
  LIUMA_NATIVE_URL    https://127.0.0.1:PORT
  LIUMA_TLS_CA        the development CA clients trust
  LIUMA_TLS_DIR       where `liuma tls self-signed` wrote the files
  LIUMA_NODE_LOG      the node's log (to see a rejected certificate)
  LIUMA_BIN           the liuma binary
"""

import hashlib
import http.client
import os
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

ENDPOINT = os.environ["LIUMA_S3_ENDPOINT"]
CA = os.environ["LIUMA_TLS_CA"]
TLS_DIR = os.environ["LIUMA_TLS_DIR"]
HOST = urllib.parse.urlparse(ENDPOINT).hostname
PORT = urllib.parse.urlparse(ENDPOINT).port


def client(verify=CA, **cfg):
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        verify=verify,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, signature_version="s3v4", **cfg),
    )


def env():
    e = os.environ.copy()
    for k in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        e.pop(k, None)
    return e


def run(cmd, check=True, timeout=300):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=timeout)
    if check:
        assert r.returncode == 0, f"{cmd}: {r.stdout}\n{r.stderr}"
    return r


def served_serial(ctx=None):
    """The serial of the certificate a new connection is given (int)."""
    ctx = ctx or ssl.create_default_context(cafile=CA)
    with socket.create_connection((HOST, PORT), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=HOST) as t:
            return int(t.getpeercert()["serialNumber"], 16)


def rotate():
    """Issue a new server certificate from the same CA; its serial (int)."""
    out = run([os.environ["LIUMA_BIN"], "tls", "self-signed", "--host", "127.0.0.1", "--host", "localhost", "--out", TLS_DIR]).stdout
    line = next(line for line in out.splitlines() if line.startswith("serial:"))
    return int(line.split(":", 1)[1].strip(), 16)


def wait_for(pred, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def bucket():
    s3 = client()
    name = "tls-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    yield name
    for o in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=o["Key"])
    s3.delete_bucket(Bucket=name)


def test_boto3_over_https(bucket):
    s3 = client()
    body = os.urandom(3 << 20)
    s3.put_object(Bucket=bucket, Key="a", Body=body)
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == body
    assert s3.get_object(Bucket=bucket, Key="a", Range="bytes=5-9")["Body"].read() == body[5:10]
    # multipart through the transfer manager
    from boto3.s3.transfer import TransferConfig
    import io

    big = os.urandom(12 << 20)
    tc = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
    s3.upload_fileobj(io.BytesIO(big), bucket, "big", Config=tc)
    got = io.BytesIO()
    s3.download_fileobj(bucket, "big", got, Config=tc)
    assert hashlib.sha256(got.getvalue()).digest() == hashlib.sha256(big).digest()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["a", "big"]


def test_sse_c_and_sse_s3_over_https(bucket):
    """SSE-C needs TLS (this node runs without --sse-c-plain-http): over
    https it round-trips, and the key checks answer as AWS does."""
    s3 = client()
    key, other = os.urandom(32), os.urandom(32)
    ssec = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
    body = os.urandom(1 << 20)
    put = s3.put_object(Bucket=bucket, Key="c", Body=body, **ssec)
    assert put["SSECustomerAlgorithm"] == "AES256"
    got = s3.get_object(Bucket=bucket, Key="c", Range="bytes=100-199", **ssec)
    assert got["Body"].read() == body[100:200]
    assert s3.head_object(Bucket=bucket, Key="c", **ssec)["ContentLength"] == len(body)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=other)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    s3.put_object(Bucket=bucket, Key="s", Body=b"sse-s3 over tls", ServerSideEncryption="AES256")
    got = s3.get_object(Bucket=bucket, Key="s")
    assert got["ServerSideEncryption"] == "AES256"
    assert got["Body"].read() == b"sse-s3 over tls"


def test_post_object_over_https_answers_an_https_location(bucket):
    import requests

    form = client().generate_presigned_post(bucket, "posted.txt", ExpiresIn=600)
    assert form["url"].startswith("https://")
    r = requests.post(form["url"], data=form["fields"], files={"file": ("f.txt", b"via post")},
                      allow_redirects=False, timeout=60, verify=CA)
    assert r.status_code == 204, r.text
    assert r.headers["Location"] == f"https://{HOST}:{PORT}/{bucket}/posted.txt", r.headers["Location"]
    assert client().get_object(Bucket=bucket, Key="posted.txt")["Body"].read() == b"via post"


def test_boto3_refuses_the_certificate_without_the_ca():
    # the system trust store does not know the development CA
    with pytest.raises(botocore.exceptions.SSLError):
        client(verify=True).list_buckets()


def test_awscli_over_https(bucket, tmp_path):
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(7 << 20))
    aws = ["aws", "--endpoint-url", ENDPOINT, "--region", "us-east-1"]
    run([*aws, "--ca-bundle", CA, "s3", "cp", str(src), f"s3://{bucket}/f.bin"])
    assert "f.bin" in run([*aws, "--ca-bundle", CA, "s3", "ls", f"s3://{bucket}/"]).stdout
    back = tmp_path / "back.bin"
    run([*aws, "--ca-bundle", CA, "s3", "cp", f"s3://{bucket}/f.bin", str(back)])
    assert back.read_bytes() == src.read_bytes()
    r = run([*aws, "s3", "ls"], check=False)
    assert r.returncode != 0 and "SSL" in r.stderr, r.stderr


def test_rclone_over_https(bucket, tmp_path):
    tree = tmp_path / "tree"
    (tree / "d").mkdir(parents=True)
    for i in range(20):
        (tree / "d" / f"{i}.txt").write_bytes(os.urandom(1000 + i))
    (tree / "big.bin").write_bytes(os.urandom(9 << 20))
    e = env()
    e.update(
        {
            "RCLONE_CONFIG_LM_TYPE": "s3",
            "RCLONE_CONFIG_LM_PROVIDER": "Other",
            "RCLONE_CONFIG_LM_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
            "RCLONE_CONFIG_LM_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
            "RCLONE_CONFIG_LM_ENDPOINT": ENDPOINT,
            "RCLONE_CONFIG_LM_REGION": "us-east-1",
            "RCLONE_CONFIG_LM_FORCE_PATH_STYLE": "true",
        }
    )

    def rclone(*args, check=True):
        r = subprocess.run(["rclone", *args], capture_output=True, text=True, env=e, timeout=300)
        if check:
            assert r.returncode == 0, f"rclone {args}: {r.stderr}"
        return r

    rclone("--ca-cert", CA, "sync", str(tree), f"lm:{bucket}/t")
    rclone("--ca-cert", CA, "check", str(tree), f"lm:{bucket}/t")
    r = rclone("--retries", "1", "--low-level-retries", "1", "lsf", f"lm:{bucket}/t", check=False)
    assert r.returncode != 0 and "certificate" in r.stderr, r.stderr
    rclone("--ca-cert", CA, "purge", f"lm:{bucket}/t")


def test_admin_and_native_listeners_speak_tls():
    ctx = ssl.create_default_context(cafile=CA)
    with urllib.request.urlopen(os.environ["LIUMA_ADMIN_URL"] + "/health", context=ctx, timeout=10) as r:
        assert r.status == 200
    # the native API answers over TLS (here: its JSON refusal without the system token)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(os.environ["LIUMA_NATIVE_URL"] + "/server/active", context=ctx, timeout=10)
    assert e.value.code == 401 and b"InvalidSystemToken" in e.value.read()


def test_only_tls_1_2_and_up():
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = ssl.create_default_context(cafile=CA)
        ctx.minimum_version = ctx.maximum_version = v
        with socket.create_connection((HOST, PORT), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname=HOST) as t:
                assert t.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[v]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(CA)
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection((HOST, PORT), timeout=10) as s:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(s, server_hostname=HOST)


def recv_all(s):
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    return out


def test_plain_http_to_the_tls_port_gets_400_and_the_server_lives_on():
    with socket.create_connection((HOST, PORT), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        resp = recv_all(s)
    assert resp.startswith(b"HTTP/1.0 400 Bad Request\r\n"), resp
    assert b"use https://" in resp
    # what a client library sees
    c = http.client.HTTPConnection(HOST, PORT, timeout=10)
    c.request("PUT", "/some-bucket/key", body=b"x" * 1000)
    r = c.getresponse()
    assert r.status == 400 and b"https://" in r.read()
    c.close()
    # neither TLS nor HTTP: rustls answers a fatal alert (decode_error) and closes
    with socket.create_connection((HOST, PORT), timeout=10) as s:
        s.sendall(b"\x00\x01\x02 garbage\r\n\r\n")
        assert recv_all(s) == b"\x15\x03\x03\x00\x02\x02\x32"
    # a TLS client that never finishes its handshake does not block others
    hung = socket.create_connection((HOST, PORT), timeout=10)
    hung.sendall(b"\x16\x03\x01")
    try:
        assert client().list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
    finally:
        hung.close()


def test_certificate_rotation_under_load(bucket):
    s3 = client()
    body = os.urandom(64 << 10)
    s3.put_object(Bucket=bucket, Key="load", Body=body)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "load"}, ExpiresIn=3600)
    path = url[len(ENDPOINT) :]
    stop = threading.Event()
    failures, counts = [], {"keepalive": 0, "fresh": 0}

    def keepalive_loop():
        # one pooled client: its connections outlive the rotations
        c = client()
        i = 0
        while not stop.is_set():
            try:
                c.put_object(Bucket=bucket, Key=f"k{i % 8}", Body=body)
                assert c.get_object(Bucket=bucket, Key="load")["Body"].read() == body
                counts["keepalive"] += 1
            except Exception as e:  # noqa: BLE001 - every failure is recorded
                failures.append(f"keep-alive: {e!r}")
            i += 1

    def fresh_loop():
        # a new TLS connection for every request: each handshake sees
        # whatever certificate is current
        ctx = ssl.create_default_context(cafile=CA)
        while not stop.is_set():
            try:
                c = http.client.HTTPSConnection(HOST, PORT, context=ctx, timeout=10)
                c.request("GET", path)
                r = c.getresponse()
                data = r.read()
                c.close()
                assert r.status == 200 and data == body, r.status
                counts["fresh"] += 1
            except Exception as e:  # noqa: BLE001
                failures.append(f"fresh: {e!r}")

    threads = [threading.Thread(target=keepalive_loop), threading.Thread(target=fresh_loop), threading.Thread(target=fresh_loop)]
    for t in threads:
        t.start()
    try:
        seen = [served_serial()]
        for _ in range(3):
            new = rotate()
            wait_for(lambda: served_serial() == new, f"the new certificate {new:x}")
            seen.append(new)
        # a broken certificate file: the node keeps the last good one
        log = os.environ["LIUMA_NODE_LOG"]
        with open(os.path.join(TLS_DIR, "server.pem"), "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nAAAA\n")
        wait_for(lambda: "cannot be used" in open(log).read(), "the rejection in the log")
        assert served_serial() == seen[-1]
        new = rotate()
        wait_for(lambda: served_serial() == new, "the repaired certificate")
        seen.append(new)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert len(set(seen)) == len(seen)
    assert failures == [], failures[:5]
    assert counts["keepalive"] > 0 and counts["fresh"] > 0, counts
