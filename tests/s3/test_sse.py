"""Server-side encryption at rest (issue #19): SSE-S3, bucket default
encryption, SSE-C, through boto3 and the aws cli, as AWS documents them;
dedup across and within encryption domains; and no plaintext on disk.

The node runs with `--sse-c-plain-http` (the suite speaks plain HTTP); the
refusal of SSE-C over plain HTTP is `test_ssec_refused_over_plain_http`,
run by its own node without that option (LIUMA_SSE_PLAIN_HTTP=refused).
The data dir is TMPDIR (the Rust test starts the node there)."""

import base64
import hashlib
import json
import os
import subprocess
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import ENDPOINT, code, raw, status

MiB = 1 << 20
PLAIN_HTTP = os.environ.get("LIUMA_SSE_PLAIN_HTTP", "allowed")


def ssec(key):
    """boto3 SSE-C parameters for a 32-byte key (boto3 adds the base64 and MD5)."""
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


def ssec_headers(key, md5=None):
    return {
        "x-amz-server-side-encryption-customer-algorithm": "AES256",
        "x-amz-server-side-encryption-customer-key": base64.b64encode(key).decode(),
        "x-amz-server-side-encryption-customer-key-MD5": md5
        or base64.b64encode(hashlib.md5(key).digest()).decode(),
    }


def census():
    req = urllib.request.Request(
        os.environ["LIUMA_ADMIN_URL"] + "/admin/blocks",
        headers={"Authorization": "Bearer " + os.environ["LIUMA_ADMIN_TOKEN"]},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["blocks"]


def absent(s3, bucket, key):
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key=key)
    return status(e) == 404


# ---------------------------------------------------------------- SSE-S3


def test_sse_s3_round_trip_and_headers(s3, bucket):
    data = os.urandom(300_000)
    put = s3.put_object(Bucket=bucket, Key="k", Body=data, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"].strip('"') == hashlib.md5(data).hexdigest(), "SSE-S3 keeps the MD5 ETag"
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ServerSideEncryption"] == "AES256"
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["ServerSideEncryption"] == "AES256"
    assert got["Body"].read() == data
    part = s3.get_object(Bucket=bucket, Key="k", Range="bytes=1000-1999")
    assert part["Body"].read() == data[1000:2000]
    # small objects too (sealed into the record, see test_sse_inline.py)
    s3.put_object(Bucket=bucket, Key="small", Body=b"tiny secret", ServerSideEncryption="AES256")
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"tiny secret"
    assert s3.head_object(Bucket=bucket, Key="small")["ServerSideEncryption"] == "AES256"
    # a plain object has no encryption header
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bucket, Key="plain")
    # copy: the target's own setting decides
    c = s3.copy_object(Bucket=bucket, Key="c1", CopySource={"Bucket": bucket, "Key": "k"},
                       ServerSideEncryption="AES256")
    assert c["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="c1")["Body"].read() == data
    c = s3.copy_object(Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": "k"})
    assert "ServerSideEncryption" not in c
    assert s3.get_object(Bucket=bucket, Key="c2")["Body"].read() == data
    # copying an object onto itself to encrypt it is legal
    c = s3.copy_object(Bucket=bucket, Key="plain", CopySource={"Bucket": bucket, "Key": "plain"},
                       ServerSideEncryption="AES256")
    assert c["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == b"x"


def test_sse_s3_multipart(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="AES256")
    assert up["ServerSideEncryption"] == "AES256"
    parts = [os.urandom(5 * MiB), os.urandom(MiB)]
    listed = []
    for n, p in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=n, Body=p)
        assert r["ServerSideEncryption"] == "AES256"
        listed.append({"PartNumber": n, "ETag": r["ETag"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": listed})
    assert done["ServerSideEncryption"] == "AES256"
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["ServerSideEncryption"] == "AES256"
    assert got["Body"].read() == b"".join(parts)
    r = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={4 * MiB - 10}-{4 * MiB + 9}")
    assert r["Body"].read() == b"".join(parts)[4 * MiB - 10:4 * MiB + 10], "across a block boundary"


def test_kms_and_unknown_values_refused_nothing_stored(s3, bucket):
    for value, want in [("aws:kms", 501), ("aws:kms:dsse", 501), ("AES128", 400)]:
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="kms", Body=b"secret", ServerSideEncryption=value)
        assert status(e) == want, value
        assert code(e) == ("NotImplemented" if want == 501 else "InvalidArgument")
        assert absent(s3, bucket, "kms")
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="kms", ServerSideEncryption="aws:kms")
    assert code(e) == "NotImplemented"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    # SSE-S3 and SSE-C together
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="kms", Body=b"x", ServerSideEncryption="AES256",
                      **ssec(os.urandom(32)))
    assert code(e) == "InvalidArgument"
    assert absent(s3, bucket, "kms")


# ------------------------------------------------------- bucket default


def test_bucket_default_encryption(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_encryption(Bucket=bucket)
    assert code(e) == "ServerSideEncryptionConfigurationNotFoundError"
    assert status(e) == 404
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                   "BucketKeyEnabled": True}]})
    conf = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    rule = conf["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert rule["BucketKeyEnabled"] is True
    # written without headers: encrypted
    put = s3.put_object(Bucket=bucket, Key="d", Body=b"by default")
    assert put["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="d")["ServerSideEncryption"] == "AES256"
    up = s3.create_multipart_upload(Bucket=bucket, Key="dm")
    assert up["ServerSideEncryption"] == "AES256"
    s3.abort_multipart_upload(Bucket=bucket, Key="dm", UploadId=up["UploadId"])
    # SSE-C still wins over the default
    key = os.urandom(32)
    put = s3.put_object(Bucket=bucket, Key="c", Body=b"mine", **ssec(key))
    assert put["SSECustomerAlgorithm"] == "AES256" and "ServerSideEncryption" not in put
    s3.delete_bucket_encryption(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_encryption(Bucket=bucket)
    assert code(e) == "ServerSideEncryptionConfigurationNotFoundError"
    put = s3.put_object(Bucket=bucket, Key="after", Body=b"plain again")
    assert "ServerSideEncryption" not in put
    assert s3.get_object(Bucket=bucket, Key="d")["Body"].read() == b"by default"


def test_bucket_encryption_malformed_or_kms_refused(s3, bucket):
    bad = [
        b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>"
        b"<SSEAlgorithm>FOO</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>"
        b"</ServerSideEncryptionConfiguration>",
        b"<ServerSideEncryptionConfiguration></ServerSideEncryptionConfiguration>",
        b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>",
    ]
    for body in bad:
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        st, _, resp = raw("PUT", f"/{bucket}?encryption", body, {"Content-MD5": md5})
        assert st == 400 and b"MalformedXML" in resp, (body, resp)
    with pytest.raises(ClientError) as e:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
    assert code(e) == "NotImplemented"
    with pytest.raises(ClientError) as e:
        s3.get_bucket_encryption(Bucket=bucket)
    assert code(e) == "ServerSideEncryptionConfigurationNotFoundError", "nothing stored"


# ----------------------------------------------------------------- SSE-C


def test_ssec_round_trip_and_key_checks(s3, bucket):
    key, other = os.urandom(32), os.urandom(32)
    data = os.urandom(200_000)
    put = s3.put_object(Bucket=bucket, Key="c", Body=data, **ssec(key))
    md5 = base64.b64encode(hashlib.md5(key).digest()).decode()
    assert put["SSECustomerAlgorithm"] == "AES256"
    assert put["SSECustomerKeyMD5"] == md5
    assert put["ETag"].strip('"') != hashlib.md5(data).hexdigest(), "AWS: not the MD5 for SSE-C"
    got = s3.get_object(Bucket=bucket, Key="c", **ssec(key))
    assert got["SSECustomerKeyMD5"] == md5
    assert got["Body"].read() == data
    head = s3.head_object(Bucket=bucket, Key="c", **ssec(key))
    assert head["SSECustomerAlgorithm"] == "AES256" and head["ContentLength"] == len(data)
    r = s3.get_object(Bucket=bucket, Key="c", Range="bytes=-100", **ssec(key))
    assert r["Body"].read() == data[-100:]
    # without the key: 400; with another: 403, and no bytes
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="c")
    assert status(e) == 400
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c")
    assert status(e) == 400 and code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="c", **ssec(other))
    assert status(e) == 403
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", **ssec(other))
    assert status(e) == 403 and code(e) == "AccessDenied"
    # SSE-C headers on a plain object: 400
    s3.put_object(Bucket=bucket, Key="p", Body=b"plain")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="p", **ssec(key))
    assert status(e) == 400 and code(e) == "InvalidRequest"


def test_ssec_key_md5_mismatch_and_bad_key(s3, bucket):
    key = os.urandom(32)
    wrong_md5 = base64.b64encode(hashlib.md5(b"another").digest()).decode()
    st, _, body = raw("PUT", f"/{bucket}/m", b"secret", ssec_headers(key, wrong_md5))
    assert st == 400 and b"InvalidArgument" in body
    st, _, body = raw("PUT", f"/{bucket}/m", b"secret", ssec_headers(b"short key"))
    assert st == 400 and b"InvalidArgument" in body
    h = ssec_headers(key)
    h["x-amz-server-side-encryption-customer-algorithm"] = "AES128"
    st, _, body = raw("PUT", f"/{bucket}/m", b"secret", h)
    assert st == 400 and b"InvalidEncryptionAlgorithmError" in body
    assert absent(s3, bucket, "m"), "nothing stored"
    s3.put_object(Bucket=bucket, Key="m", Body=b"secret", **ssec(key))
    st, _, body = raw("GET", f"/{bucket}/m", b"", ssec_headers(key, wrong_md5))
    assert st == 400 and b"InvalidArgument" in body and b"secret" not in body


def test_ssec_copy_between_modes(s3, bucket):
    k1, k2 = os.urandom(32), os.urandom(32)
    data = os.urandom(150_000)
    s3.put_object(Bucket=bucket, Key="src", Body=data, **ssec(k1))
    src = {"Bucket": bucket, "Key": "src"}
    src_key = {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": k1}
    # without the source key: refused
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x", CopySource=src)
    assert status(e) == 400
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x", CopySource=src,
                       CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=k2)
    assert status(e) == 403
    assert absent(s3, bucket, "x")
    # SSE-C -> SSE-S3, -> plain, -> SSE-C under another key, -> same key
    c = s3.copy_object(Bucket=bucket, Key="to-s3", CopySource=src, ServerSideEncryption="AES256", **src_key)
    assert c["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="to-s3")["Body"].read() == data
    c = s3.copy_object(Bucket=bucket, Key="to-plain", CopySource=src, **src_key)
    assert "ServerSideEncryption" not in c and "SSECustomerAlgorithm" not in c
    assert s3.get_object(Bucket=bucket, Key="to-plain")["Body"].read() == data
    c = s3.copy_object(Bucket=bucket, Key="to-k2", CopySource=src, **src_key, **ssec(k2))
    assert c["SSECustomerKeyMD5"] == base64.b64encode(hashlib.md5(k2).digest()).decode()
    assert s3.get_object(Bucket=bucket, Key="to-k2", **ssec(k2))["Body"].read() == data
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="to-k2", **ssec(k1))
    assert status(e) == 403
    s3.copy_object(Bucket=bucket, Key="to-k1", CopySource=src, **src_key, **ssec(k1))
    assert s3.get_object(Bucket=bucket, Key="to-k1", **ssec(k1))["Body"].read() == data
    # and back: SSE-S3 -> SSE-C
    c = s3.copy_object(Bucket=bucket, Key="back", CopySource={"Bucket": bucket, "Key": "to-s3"}, **ssec(k2))
    assert c["SSECustomerAlgorithm"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="back", **ssec(k2))["Body"].read() == data


def test_ssec_multipart(s3, bucket):
    key, other = os.urandom(32), os.urandom(32)
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", **ssec(key))
    assert up["SSECustomerAlgorithm"] == "AES256"
    uid = up["UploadId"]
    parts = [os.urandom(5 * MiB), os.urandom(3 * MiB)]
    # a part under another key: 403; without a key: 400
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=parts[0], **ssec(other))
    assert status(e) == 403
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=parts[0])
    assert status(e) == 400
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid).get("Parts", []) == []
    listed = []
    for n, p in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=n, Body=p, **ssec(key))
        assert r["SSECustomerAlgorithm"] == "AES256"
        listed.append({"PartNumber": n, "ETag": r["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": listed})
    whole = b"".join(parts)
    assert s3.get_object(Bucket=bucket, Key="mp", **ssec(key))["Body"].read() == whole
    r = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={4 * MiB - 5}-{6 * MiB}", **ssec(key))
    assert r["Body"].read() == whole[4 * MiB - 5:6 * MiB + 1]
    r = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2, **ssec(key))
    assert r["Body"].read() == parts[1]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert status(e) == 400


def test_ssec_upload_part_copy(s3, bucket):
    """UploadPartCopy as AWS documents it: the source's key in the
    CopySourceSSECustomer* parameters, the upload's key in SSECustomer*."""
    src_key, dst_key, other = os.urandom(32), os.urandom(32), os.urandom(32)
    src = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="upc-src", Body=src, **ssec(src_key))
    s3.put_object(Bucket=bucket, Key="upc-plain", Body=b"p" * (5 * MiB))
    up = s3.create_multipart_upload(Bucket=bucket, Key="upc", **ssec(dst_key))
    uid = up["UploadId"]
    source = {"Bucket": bucket, "Key": "upc-src"}
    src_params = {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": src_key}

    def copy_part(n, **kw):
        return s3.upload_part_copy(Bucket=bucket, Key="upc", UploadId=uid, PartNumber=n, **kw)

    # refusals first: none may leave a part behind
    with pytest.raises(ClientError) as e:  # the source's key missing
        copy_part(1, CopySource=source, **ssec(dst_key))
    assert status(e) == 400
    with pytest.raises(ClientError) as e:  # the wrong source key
        copy_part(1, CopySource=source, CopySourceSSECustomerAlgorithm="AES256",
                  CopySourceSSECustomerKey=other, **ssec(dst_key))
    assert status(e) == 403
    with pytest.raises(ClientError) as e:  # the wrong key for the upload
        copy_part(1, CopySource=source, **src_params, **ssec(other))
    assert status(e) == 403
    with pytest.raises(ClientError) as e:  # no key for the upload
        copy_part(1, CopySource=source, **src_params)
    assert status(e) == 400
    assert s3.list_parts(Bucket=bucket, Key="upc", UploadId=uid).get("Parts", []) == []

    # part 1: a range of the SSE-C source; part 2: a plain source
    r1 = copy_part(1, CopySource=source, CopySourceRange=f"bytes=0-{5 * MiB - 1}",
                   **src_params, **ssec(dst_key))
    assert r1["SSECustomerAlgorithm"] == "AES256"
    r2 = copy_part(2, CopySource={"Bucket": bucket, "Key": "upc-plain"}, **ssec(dst_key))
    parts = [{"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
             {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]
    s3.complete_multipart_upload(Bucket=bucket, Key="upc", UploadId=uid, MultipartUpload={"Parts": parts})
    whole = src[:5 * MiB] + b"p" * (5 * MiB)
    got = s3.get_object(Bucket=bucket, Key="upc", **ssec(dst_key))
    assert got["SSECustomerAlgorithm"] == "AES256"
    assert got["Body"].read() == whole
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="upc", **ssec(src_key))
    assert status(e) == 403
    # the source is untouched and still needs its own key
    assert s3.get_object(Bucket=bucket, Key="upc-src", **ssec(src_key))["Body"].read() == src


def test_ssec_presigned_get(s3, bucket):
    key = os.urandom(32)
    s3.put_object(Bucket=bucket, Key="ps", Body=b"presigned secret", **ssec(key))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "ps", **ssec(key)},
                                    ExpiresIn=300)
    req = urllib.request.Request(url, headers=ssec_headers(key))
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.read() == b"presigned secret"
        assert r.headers["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
    try:
        urllib.request.urlopen(urllib.request.Request(url), timeout=30)
        raise AssertionError("read without the key")
    except urllib.error.HTTPError as e:
        assert e.code in (400, 403)


# -------------------------------------------------- dedup and the disk


def test_dedup_domains(s3, bucket):
    data = os.urandom(MiB)  # one block
    before = census()
    s3.put_object(Bucket=bucket, Key="a", Body=data, ServerSideEncryption="AES256")
    one = census()
    assert one == before + 1
    s3.put_object(Bucket=bucket, Key="b", Body=data, ServerSideEncryption="AES256")
    assert census() == one, "identical content under SSE-S3 dedups"
    s3.put_object(Bucket=bucket, Key="p", Body=data)
    assert census() == one + 1, "plain and encrypted copies are different blocks"
    k1, k2 = os.urandom(32), os.urandom(32)
    s3.put_object(Bucket=bucket, Key="c1", Body=data, **ssec(k1))
    assert census() == one + 2
    s3.put_object(Bucket=bucket, Key="c1b", Body=data, **ssec(k1))
    assert census() == one + 2, "the same customer key dedups"
    s3.put_object(Bucket=bucket, Key="c2", Body=data, **ssec(k2))
    assert census() == one + 3, "two customer keys never share a block"


def files_under(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith(("pytest-of", "sse-cli"))]
        for f in files:
            if f.endswith(".log"):
                continue
            yield os.path.join(d, f)


def found_on_disk(windows):
    root = os.environ["TMPDIR"]
    hits = set()
    for path in files_under(root):
        try:
            with open(path, "rb") as f:
                blob = f.read()
        except OSError:
            continue
        for i, w in enumerate(windows):
            if w in blob:
                hits.add(i)
    return hits


def test_no_plaintext_on_disk(s3, bucket):
    def windows(data):
        step = len(data) // 8
        return [data[i * step:i * step + 32] for i in range(8)]
    enc_s3 = os.urandom(600_000)
    enc_c = os.urandom(600_000)
    small = os.urandom(2000)
    plain = os.urandom(600_000)
    s3.put_object(Bucket=bucket, Key="s", Body=enc_s3, ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="small", Body=small, ServerSideEncryption="AES256")
    key = os.urandom(32)
    s3.put_object(Bucket=bucket, Key="c", Body=enc_c, **ssec(key))
    s3.put_object(Bucket=bucket, Key="p", Body=plain)
    assert found_on_disk(windows(enc_s3)) == set(), "SSE-S3 plaintext on disk"
    assert found_on_disk(windows(enc_c)) == set(), "SSE-C plaintext on disk"
    assert found_on_disk(windows(small)[:4]) == set(), "small SSE-S3 object inline in the metadata"
    assert found_on_disk(windows(plain)) == set(range(8)), "the scan finds a plain object"
    assert key not in b"".join(open(p, "rb").read() for p in files_under(os.environ["TMPDIR"]))


# ---------------------------------------------------------------- aws cli


def test_aws_cli_sse(bucket, tmp_path):
    base = os.path.join(os.environ["TMPDIR"], "sse-cli-" + uuid.uuid4().hex[:8])
    os.makedirs(base)
    src = os.path.join(base, "src.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(3 * MiB))
    keyfile = os.path.join(base, "key.bin")
    key = os.urandom(32)
    with open(keyfile, "wb") as f:
        f.write(key)

    def aws(*args):
        r = subprocess.run(["aws", "--endpoint-url", ENDPOINT, "--region", "us-east-1", *args],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout

    aws("s3", "cp", src, f"s3://{bucket}/s3.bin", "--sse", "AES256")
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "s3.bin"))
    assert head["ServerSideEncryption"] == "AES256"
    aws("s3", "cp", f"s3://{bucket}/s3.bin", os.path.join(base, "back1.bin"))
    aws("s3", "cp", src, f"s3://{bucket}/c.bin", "--sse-c", "AES256", "--sse-c-key", f"fileb://{keyfile}")
    aws("s3", "cp", f"s3://{bucket}/c.bin", os.path.join(base, "back2.bin"),
        "--sse-c", "AES256", "--sse-c-key", f"fileb://{keyfile}")
    with open(src, "rb") as f:
        want = f.read()
    for name in ("back1.bin", "back2.bin"):
        with open(os.path.join(base, name), "rb") as f:
            assert f.read() == want
    r = subprocess.run(["aws", "--endpoint-url", ENDPOINT, "--region", "us-east-1", "s3", "cp",
                        f"s3://{bucket}/c.bin", os.path.join(base, "nokey.bin")], capture_output=True, text=True)
    assert r.returncode != 0
    for name in os.listdir(base):
        os.remove(os.path.join(base, name))
    os.rmdir(base)


# ------------------------------------------------- plain HTTP (own node)


@pytest.mark.skipif(PLAIN_HTTP != "refused", reason="needs a node without --sse-c-plain-http")
def test_ssec_refused_over_plain_http(s3, bucket):
    """AWS refuses SSE-C over plain HTTP (the key would travel in clear): 400."""
    key = os.urandom(32)
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"secret", **ssec(key))
    assert status(e) == 400 and code(e) == "InvalidRequest"
    assert absent(s3, bucket, "k")
    s3.put_object(Bucket=bucket, Key="k", Body=b"fine", ServerSideEncryption="AES256")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", **ssec(key))
    assert status(e) == 400
