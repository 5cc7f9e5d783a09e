"""S3 additional checksums (x-amz-checksum-*), GetObjectAttributes,
aws-chunked trailers and Content-Encoding, and PUTs without a length
(issue #13 items 5 and 9), through boto3, hand-made SigV4 requests and
the aws cli.

The node runs with `[s3] max_put_bytes = 16 MiB` (see `s3_checksums` in
crates/liuma-server/tests/it/s3.rs) so EntityTooLarge is cheap to reach.

boto3 computes CRC32, SHA-1 and SHA-256 itself; CRC32C and CRC64NVME
need awscrt, so their values are computed here (bitwise CRCs, small data).
"""

import base64
import hashlib
import http.client
import os
import socket
import subprocess
import urllib.parse
import zlib

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ENDPOINT, REGION, make_client

MiB = 1 << 20
MAX_PUT = 16 * MiB


# --- checksums computed here -------------------------------------------------


def _crc_reflected(data, poly, width):
    mask = (1 << width) - 1
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    crc = mask
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ mask


def crc32c(data):
    return _crc_reflected(data, 0x82F63B78, 32).to_bytes(4, "big")


def crc64nvme(data):
    return _crc_reflected(data, 0x9A6C9329AC4BC9B5, 64).to_bytes(8, "big")


def crc32(data):
    return zlib.crc32(data).to_bytes(4, "big")


RAW = {
    "CRC32": crc32,
    "CRC32C": crc32c,
    "CRC64NVME": crc64nvme,
    "SHA1": lambda d: hashlib.sha1(d).digest(),
    "SHA256": lambda d: hashlib.sha256(d).digest(),
}


def b64(raw):
    return base64.b64encode(raw).decode()


def value(alg, data):
    return b64(RAW[alg](data))


def test_vectors_of_this_file():
    assert crc32c(b"123456789").hex() == "e3069283"
    assert crc64nvme(b"123456789").hex() == "ae8b14860a799888"


# --- clients -------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain():
    """A client that neither sends nor asks for checksums unless told to."""
    return make_client(
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


def code_of(exc):
    return exc.value.response["Error"]["Code"]


def status_of(exc):
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def absent(s3, bucket, key):
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key=key)
    return status_of(e) == 404


# --- PutObject -------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_put_verifies_stores_and_returns_each_algorithm(s3, plain, bucket, alg):
    data = os.urandom(3000) + b"checksummed"
    field = "Checksum" + alg
    if alg in ("CRC32C", "CRC64NVME"):
        r = plain.put_object(Bucket=bucket, Key="k", Body=data, **{field: value(alg, data)})
    else:
        r = s3.put_object(Bucket=bucket, Key="k", Body=data, ChecksumAlgorithm=alg)
    assert r[field] == value(alg, data)
    h = plain.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert h[field] == value(alg, data)
    assert h["ChecksumType"] == "FULL_OBJECT"
    g = plain.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert g[field] == value(alg, data)
    assert g["Body"].read() == data
    # Only when asked, and only for the whole object.
    assert field not in plain.head_object(Bucket=bucket, Key="k")
    assert field not in plain.get_object(Bucket=bucket, Key="k")
    ranged = plain.get_object(Bucket=bucket, Key="k", Range="bytes=0-9", ChecksumMode="ENABLED")
    assert field not in ranged and ranged["Body"].read() == data[:10]
    # boto3's own response validation (when_supported) accepts what we return.
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data


def test_default_checksum_is_crc64nvme(plain, bucket):
    data = b"no checksum sent" * 100
    r = plain.put_object(Bucket=bucket, Key="k", Body=data)
    assert r["ChecksumCRC64NVME"] == value("CRC64NVME", data)
    h = plain.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert h["ChecksumCRC64NVME"] == value("CRC64NVME", data)
    assert h["ChecksumType"] == "FULL_OBJECT"


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_wrong_checksum_is_bad_digest_and_stores_nothing(plain, bucket, alg):
    plain.put_object(Bucket=bucket, Key="kept", Body=b"first version")
    wrong = value(alg, b"other data")
    for key in ("new", "kept"):
        with pytest.raises(ClientError) as e:
            plain.put_object(Bucket=bucket, Key=key, Body=b"the data", **{"Checksum" + alg: wrong})
        assert code_of(e) == "BadDigest" and status_of(e) == 400
        assert alg in e.value.response["Error"]["Message"]
    assert absent(plain, bucket, "new")
    assert plain.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"first version"


def test_malformed_or_several_checksums_are_invalid_request(plain, bucket):
    with pytest.raises(ClientError) as e:
        plain.put_object(Bucket=bucket, Key="k", Body=b"x", ChecksumCRC32="AAAA")
    assert code_of(e) == "InvalidRequest" and status_of(e) == 400
    with pytest.raises(ClientError) as e:
        plain.put_object(
            Bucket=bucket,
            Key="k",
            Body=b"x",
            ChecksumCRC32=value("CRC32", b"x"),
            ChecksumSHA1=value("SHA1", b"x"),
        )
    assert code_of(e) == "InvalidRequest"
    assert absent(plain, bucket, "k")


# --- aws-chunked with a trailer, Content-Encoding ---------------------------------


class FixedPayload(S3SigV4Auth):
    """SigV4 with a given x-amz-content-sha256 (streaming payload modes)."""

    def __init__(self, payload):
        creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
        super().__init__(creds, "s3", REGION)
        self._payload = payload

    def payload(self, request):
        return self._payload


def signed_headers(method, path, headers, payload):
    req = AWSRequest(method=method, url=ENDPOINT + path, headers=headers)
    FixedPayload(payload).add_auth(req)
    return dict(req.headers.items())


def send(method, path, body, headers, payload, chunked_te=False):
    """A SigV4-signed request: (status, headers, body). With `chunked_te`,
    `body` is an iterable sent with Transfer-Encoding: chunked and no
    Content-Length, over a raw socket so that a server answering before
    the body's end (EntityTooLarge) is still heard."""
    hdrs = signed_headers(method, path, headers, payload)
    u = urllib.parse.urlsplit(ENDPOINT)
    if not chunked_te:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        hdrs["Content-Length"] = str(len(body))
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        conn.close()
        return out
    return send_chunked(u.hostname, u.port, method, path, hdrs, body)


def send_chunked(host, port, method, target, hdrs, body):
    sock = socket.create_connection((host, port), timeout=60)
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    for k, v in hdrs.items():
        if k.lower() != "host":
            head += f"{k}: {v}\r\n"
    head += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    try:
        sock.sendall(head.encode())
        for c in body:
            sock.sendall(b"%x\r\n" % len(c) + c + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered early; read what it said
    r = http.client.HTTPResponse(sock)
    r.begin()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    sock.close()
    return out


def aws_chunked(data, trailers):
    body = b""
    for i in range(0, len(data), 64 * 1024):
        c = data[i : i + 64 * 1024]
        body += b"%x\r\n" % len(c) + c + b"\r\n"
    body += b"0\r\n"
    for k, v in trailers:
        body += f"{k}:{v}\r\n".encode()
    return body + b"\r\n"


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "CRC64NVME", "SHA256"])
def test_trailer_checksum_verified_and_content_encoding_stripped(plain, bucket, alg):
    data = os.urandom(200 * 1024)
    name = "x-amz-checksum-" + alg.lower()
    headers = {
        "x-amz-trailer": name,
        "x-amz-decoded-content-length": str(len(data)),
        "content-encoding": "gzip, aws-chunked" if alg == "CRC32" else "aws-chunked",
        "x-amz-sdk-checksum-algorithm": alg,
    }
    body = aws_chunked(data, [(name, value(alg, data))])
    st, _, out = send("PUT", f"/{bucket}/t", body, headers, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert st == 200, out
    h = plain.head_object(Bucket=bucket, Key="t", ChecksumMode="ENABLED")
    assert h["Checksum" + alg] == value(alg, data)
    assert h["ContentLength"] == len(data)
    if alg == "CRC32":
        assert h["ContentEncoding"] == "gzip"
    else:
        assert "ContentEncoding" not in h
    # A wrong trailer: BadDigest, nothing stored.
    body = aws_chunked(data, [(name, value(alg, b"something else"))])
    st, _, out = send("PUT", f"/{bucket}/bad", body, headers, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert st == 400 and b"<Code>BadDigest</Code>" in out, out
    assert absent(plain, bucket, "bad")


# --- multipart ------------------------------------------------------------------------


def parts_of(n, size=5 * MiB):
    return [os.urandom(size) for _ in range(n - 1)] + [os.urandom(1234)]


def composite(alg, parts):
    return b64(RAW[alg](b"".join(RAW[alg](p) for p in parts))) + f"-{len(parts)}"


@pytest.mark.parametrize("alg", ["CRC32", "SHA1", "SHA256"])
def test_multipart_composite(s3, plain, bucket, alg):
    parts = parts_of(3)
    field = "Checksum" + alg
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm=alg)
    assert up["ChecksumAlgorithm"] == alg and up.get("ChecksumType") == "COMPOSITE"
    uid = up["UploadId"]
    done = []
    for i, p in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=i, Body=p, ChecksumAlgorithm=alg)
        assert r[field] == value(alg, p)
        done.append({"PartNumber": i, "ETag": r["ETag"], field: r[field]})
    lp = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert [p[field] for p in lp["Parts"]] == [value(alg, p) for p in parts]
    assert lp["ChecksumAlgorithm"] == alg
    c = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": done})
    assert c[field] == composite(alg, parts)
    assert c["ChecksumType"] == "COMPOSITE"
    h = plain.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert h[field] == composite(alg, parts) and h["ChecksumType"] == "COMPOSITE"
    # boto3 skips validating composite values and still reads the object.
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(parts)


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "CRC64NVME"])
def test_multipart_full_object_crc_is_combined_from_parts(plain, bucket, alg):
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"tail"] if alg == "CRC32" else [b"a" * (5 * MiB), b"tail part"]
    field = "Checksum" + alg
    up = plain.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm=alg, ChecksumType="FULL_OBJECT")
    assert up.get("ChecksumType") == "FULL_OBJECT"
    uid = up["UploadId"]
    done = []
    for i, p in enumerate(parts, 1):
        r = plain.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=i, Body=p, **{field: value(alg, p)})
        done.append({"PartNumber": i, "ETag": r["ETag"], field: r[field]})
    whole = b"".join(parts)
    c = plain.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=uid,
        MultipartUpload={"Parts": done},
        ChecksumType="FULL_OBJECT",
        **{field: value(alg, whole)},
    )
    assert c[field] == value(alg, whole) and c["ChecksumType"] == "FULL_OBJECT"
    g = plain.get_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert g[field] == value(alg, whole) and g["ChecksumType"] == "FULL_OBJECT"


def test_multipart_without_algorithm_gets_default_crc64nvme(s3, plain, bucket):
    parts = [b"x" * (5 * MiB), b"end"]
    uid = plain.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    # boto3's default client sends a CRC32 with each part; it is verified,
    # listed, and the object still gets the full-object CRC64NVME.
    done = []
    for i, p in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=i, Body=p)
        done.append({"PartNumber": i, "ETag": r["ETag"]})
    plain.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": done})
    h = plain.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert h["ChecksumCRC64NVME"] == value("CRC64NVME", b"".join(parts))
    assert h["ChecksumType"] == "FULL_OBJECT"


def test_multipart_checksum_errors(plain, bucket):
    # CRC64NVME is full-object only; SHA-256 composite only (AWS).
    for alg, kind in (("CRC64NVME", "COMPOSITE"), ("SHA256", "FULL_OBJECT")):
        with pytest.raises(ClientError) as e:
            plain.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm=alg, ChecksumType=kind)
        assert code_of(e) == "InvalidRequest" and status_of(e) == 400
    uid = plain.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="SHA256")["UploadId"]
    p = b"p" * 1000
    # A part with another algorithm than the upload's.
    with pytest.raises(ClientError) as e:
        plain.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=p, ChecksumCRC32=value("CRC32", p))
    assert code_of(e) == "InvalidRequest"
    # A wrong part checksum: BadDigest, the part is not stored.
    with pytest.raises(ClientError) as e:
        plain.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=p, ChecksumSHA256=value("SHA256", b"q"))
    assert code_of(e) == "BadDigest"
    assert plain.list_parts(Bucket=bucket, Key="mp", UploadId=uid).get("Parts", []) == []
    r = plain.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=p, ChecksumSHA256=value("SHA256", p))
    # A completion listing another checksum for the part: InvalidPart.
    with pytest.raises(ClientError) as e:
        plain.complete_multipart_upload(
            Bucket=bucket,
            Key="mp",
            UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"], "ChecksumSHA256": value("SHA256", b"q")}]},
        )
    assert code_of(e) == "InvalidPart"
    # The wrong checksum type at completion.
    with pytest.raises(ClientError) as e:
        plain.complete_multipart_upload(
            Bucket=bucket,
            Key="mp",
            UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]},
            ChecksumType="FULL_OBJECT",
        )
    assert code_of(e) == "InvalidRequest"
    assert absent(plain, bucket, "mp")
    c = plain.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]}]},
    )
    assert c["ChecksumSHA256"] == composite("SHA256", [p])


# --- GetObjectAttributes ---------------------------------------------------------------


ALL_ATTRS = ["ETag", "Checksum", "ObjectParts", "ObjectSize", "StorageClass"]


def test_get_object_attributes_single_and_versions(plain, bucket):
    plain.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = plain.put_object(Bucket=bucket, Key="k", Body=b"one", ChecksumSHA256=value("SHA256", b"one"))
    plain.put_object(Bucket=bucket, Key="k", Body=b"second")
    a = plain.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=ALL_ATTRS)
    assert a["ObjectSize"] == 6 and a["StorageClass"] == "STANDARD"
    assert a["Checksum"]["ChecksumCRC64NVME"] == value("CRC64NVME", b"second")
    assert a["Checksum"]["ChecksumType"] == "FULL_OBJECT"
    assert "ObjectParts" not in a
    a = plain.get_object_attributes(Bucket=bucket, Key="k", VersionId=v1["VersionId"], ObjectAttributes=ALL_ATTRS)
    assert a["ObjectSize"] == 3 and a["VersionId"] == v1["VersionId"]
    # AWS shows this ETag unquoted; s3s 0.14 always quotes ETags.
    assert a["ETag"].strip('"') == v1["ETag"].strip('"')
    assert a["Checksum"]["ChecksumSHA256"] == value("SHA256", b"one")
    only = plain.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])
    assert "ETag" not in only and "Checksum" not in only and only["ObjectSize"] == 6
    with pytest.raises(ClientError) as e:
        plain.get_object_attributes(Bucket=bucket, Key="nope", ObjectAttributes=ALL_ATTRS)
    assert status_of(e) == 404


def test_get_object_attributes_parts_pagination(plain, bucket):
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(5 * MiB), b"last"]
    uid = plain.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC32")["UploadId"]
    done = []
    for i, p in enumerate(parts, 1):
        r = plain.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=i, Body=p, ChecksumCRC32=value("CRC32", p))
        done.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    c = plain.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": done})
    a = plain.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=ALL_ATTRS, MaxParts=2)
    assert a["ETag"].strip('"') == c["ETag"].strip('"')
    assert a["Checksum"]["ChecksumCRC32"] == composite("CRC32", parts)
    assert a["Checksum"]["ChecksumType"] == "COMPOSITE"
    op = a["ObjectParts"]
    assert op["TotalPartsCount"] == 4 and op["IsTruncated"] and op["MaxParts"] == 2
    assert [(p["PartNumber"], p["Size"], p["ChecksumCRC32"]) for p in op["Parts"]] == [
        (1, 5 * MiB, value("CRC32", parts[0])),
        (2, 5 * MiB, value("CRC32", parts[1])),
    ]
    a = plain.get_object_attributes(
        Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=2, PartNumberMarker=op["NextPartNumberMarker"]
    )
    op = a["ObjectParts"]
    assert not op["IsTruncated"]
    assert [(p["PartNumber"], p["Size"]) for p in op["Parts"]] == [(3, 5 * MiB), (4, 4)]


# --- aws cli -----------------------------------------------------------------------------


def test_awscli_multipart_copy_keeps_working(bucket, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(20 * MiB))
    env = dict(os.environ)
    env["AWS_REGION"] = REGION
    base = ["aws", "--endpoint-url", ENDPOINT, "s3"]
    subprocess.run(
        base + ["cp", str(src), f"s3://{bucket}/big.bin", "--only-show-errors"], check=True, env=env, timeout=120
    )
    back = tmp_path / "back.bin"
    subprocess.run(base + ["cp", f"s3://{bucket}/big.bin", str(back), "--only-show-errors"], check=True, env=env, timeout=120)
    assert back.read_bytes() == src.read_bytes()


# --- uploads without a length (item 9) ------------------------------------------------------


BLOCK = os.urandom(256 * 1024)


def chunks(total, size=256 * 1024):
    block = BLOCK[:size]
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield block[:n]
        sent += n


def test_chunked_put_without_length_unsigned_payload(plain, bucket):
    total = 9 * MiB + 17
    st, _, out = send("PUT", f"/{bucket}/chunked", chunks(total), {}, "UNSIGNED-PAYLOAD", chunked_te=True)
    assert st == 200, out
    got = plain.get_object(Bucket=bucket, Key="chunked", ChecksumMode="ENABLED")
    data = got["Body"].read()
    assert len(data) == total and data == b"".join(chunks(total))
    assert got["ChecksumCRC64NVME"] == value("CRC64NVME", data)


def test_chunked_put_without_length_presigned(plain, bucket):
    url = plain.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=300)
    u = urllib.parse.urlsplit(url)
    st, _, out = send_chunked(u.hostname, u.port, "PUT", u.path + "?" + u.query, {}, chunks(3 * MiB))
    assert st == 200, out
    assert plain.head_object(Bucket=bucket, Key="pre")["ContentLength"] == 3 * MiB


def test_chunked_put_beyond_limit_is_entity_too_large(plain, bucket):
    st, _, out = send("PUT", f"/{bucket}/huge", chunks(MAX_PUT + MiB), {}, "UNSIGNED-PAYLOAD", chunked_te=True)
    assert st in (400, 413) and b"<Code>EntityTooLarge</Code>" in out, (st, out)
    assert absent(plain, bucket, "huge")


def test_chunked_put_with_curl(plain, bucket):
    data = os.urandom(2 * MiB)
    url = f"{ENDPOINT}/{bucket}/curl"
    r = subprocess.run(
        [
            "curl", "-sS", "-f", "-T", "-", url,
            "--aws-sigv4", f"aws:amz:{REGION}:s3",
            "--user", f"{os.environ['AWS_ACCESS_KEY_ID']}:{os.environ['AWS_SECRET_ACCESS_KEY']}",
            "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
        ],
        input=data,
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr + r.stdout
    assert plain.get_object(Bucket=bucket, Key="curl")["Body"].read() == data
