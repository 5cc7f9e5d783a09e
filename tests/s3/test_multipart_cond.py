"""Multipart edge cases and conditional writes (issue #13, items 2 and 4),
through boto3 against a liuma node:

- a retried CompleteMultipartUpload answers 200 with the same ETag and
  version; concurrent completes make one object;
- a part number uploaded twice keeps the upload that finished last;
- GetObject/HeadObject with PartNumber (206, Content-Range, PartsCount);
- PutObject and CompleteMultipartUpload with If-None-Match: * and
  If-Match, atomic against racing writers.
"""

import contextlib
import hashlib
import http.client
import os
import threading
import urllib.parse

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ENDPOINT, REGION, make_client, raw, snapshot, code, status, unchanged

MiB = 1 << 20


def versioned(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def upload(s3, bucket, key, parts):
    """Create an upload and send `parts` (bytes each); (upload id, part list)."""
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    listed = []
    for n, body in enumerate(parts, start=1):
        e = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=body)["ETag"]
        listed.append({"PartNumber": n, "ETag": e})
    return uid, listed


def s3_etag(parts):
    return '"%s-%d"' % (hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest(), len(parts))


def race(n, fn):
    """Run fn(i) on n threads released together; [(result or None, ClientError or None)]."""
    start = threading.Barrier(n)
    out = [None] * n

    def run(i):
        start.wait(timeout=30)
        try:
            out[i] = (fn(i), None)
        except ClientError as e:  # noqa: PERF203 - each thread records its own answer
            out[i] = (None, e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a racing request hung"
    return out


# ------------------------------------------------------ retried / concurrent complete


def test_retried_complete_answers_the_same(s3, bucket):
    versioned(s3, bucket)
    parts = [os.urandom(5 * MiB), b"tail"]
    uid, listed = upload(s3, bucket, "obj", parts)
    first = s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload={"Parts": listed})
    again = s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload={"Parts": listed})
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert first["ETag"] == again["ETag"] == s3_etag(parts)
    for field in ("VersionId", "Bucket", "Key", "Location", "ChecksumCRC64NVME", "ChecksumType"):
        assert first[field] == again[field], field
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert len(versions) == 1, "a retry makes no second version"
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"".join(parts)
    # another part list is not the upload that completed
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload={"Parts": listed[:1]})
    assert (status(e), code(e)) == (404, "NoSuchUpload")
    # the upload itself is gone
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="obj", UploadId=uid)
    assert code(e) == "NoSuchUpload"


def test_concurrent_completes_make_one_object(s3, bucket):
    versioned(s3, bucket)
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"end"]
    uid, listed = upload(s3, bucket, "obj", parts)
    clients = [make_client() for _ in range(4)]
    answers = race(
        4,
        lambda i: clients[i].complete_multipart_upload(
            Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload={"Parts": listed}
        ),
    )
    assert all(err is None for _, err in answers), answers
    assert {r["ETag"] for r, _ in answers} == {s3_etag(parts)}
    assert len({r["VersionId"] for r, _ in answers}) == 1
    assert len(s3.list_object_versions(Bucket=bucket)["Versions"]) == 1
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"".join(parts)


# ------------------------------------------------------ a part uploaded twice


def presigned_part_put(bucket, key, uid, number, body):
    """A signed UploadPart sent by hand, so that its body can stall half way."""
    q = urllib.parse.urlencode({"partNumber": number, "uploadId": uid})
    url = f"{ENDPOINT}/{bucket}/{key}?{q}"
    req = AWSRequest(method="PUT", url=url, data=body, headers={"Content-Length": str(len(body))})
    creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    S3SigV4Auth(creds, "s3", REGION).add_auth(req)
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.putrequest("PUT", f"{u.path}?{u.query}", skip_accept_encoding=True)
    for k, v in req.headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    return conn


def test_resent_part_that_finishes_last_wins(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="obj")["UploadId"]
    slow = os.urandom(5 * MiB)
    fast = os.urandom(5 * MiB)
    tail = b"tail"
    # part 1 starts and stalls half way...
    conn = presigned_part_put(bucket, "obj", uid, 1, slow)
    conn.send(slow[: len(slow) // 2])
    # ...while part 2 and a resent part 1 finish
    e2 = s3.upload_part(Bucket=bucket, Key="obj", UploadId=uid, PartNumber=2, Body=tail)["ETag"]
    e_fast = s3.upload_part(Bucket=bucket, Key="obj", UploadId=uid, PartNumber=1, Body=fast)["ETag"]
    # then the first part 1 finishes: it is the one kept
    conn.send(slow[len(slow) // 2 :])
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    e_slow = resp.getheader("ETag")
    conn.close()
    assert e_slow == '"%s"' % hashlib.md5(slow).hexdigest()
    parts = s3.list_parts(Bucket=bucket, Key="obj", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in parts] == [(1, e_slow), (2, e2)]
    # the replaced part's ETag no longer completes; order is never the problem
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="obj", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e_fast}, {"PartNumber": 2, "ETag": e2}]},
        )
    assert code(e) == "InvalidPart"
    r = s3.complete_multipart_upload(
        Bucket=bucket, Key="obj", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e_slow}, {"PartNumber": 2, "ETag": e2}]},
    )
    assert r["ETag"] == s3_etag([slow, tail])
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == slow + tail


# ------------------------------------------------------ GET/HEAD ?partNumber


def test_get_and_head_one_part(s3, bucket):
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB + 3), b"last part"]
    uid, listed = upload(s3, bucket, "mp", parts)
    etag = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": listed})["ETag"]
    total = sum(len(p) for p in parts)
    start = 0
    for n, p in enumerate(parts, start=1):
        g = s3.get_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert g["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert g["Body"].read() == p
        assert g["PartsCount"] == 3 and g["ETag"] == etag
        assert g["ContentLength"] == len(p)
        assert g["ContentRange"] == f"bytes {start}-{start + len(p) - 1}/{total}"
        h = s3.head_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert h["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert h["ContentLength"] == len(p) and h["PartsCount"] == 3
        assert h["ContentRange"] == g["ContentRange"]
        start += len(p)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=4)
    assert (status(e), code(e)) == (416, "InvalidPartNumber")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="mp", PartNumber=4)
    assert status(e) == 416
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=1, Range="bytes=0-1")
    assert (status(e), code(e)) == (400, "InvalidRequest")
    for bad in ("0", "10001"):
        st, _, body = raw("GET", f"/{bucket}/mp?partNumber={bad}")
        assert st == 400 and b"InvalidArgument" in body, (bad, st, body)


def test_part_one_of_a_plain_object_is_all_of_it(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="plain", Body=b"hello world")
    g = s3.get_object(Bucket=bucket, Key="plain", PartNumber=1)
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert g["Body"].read() == b"hello world" and g["ETag"] == put["ETag"]
    assert g["ContentRange"] == "bytes 0-10/11"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="plain", PartNumber=2)
    assert (status(e), code(e)) == (416, "InvalidPartNumber")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="absent", PartNumber=1)
    assert code(e) == "NoSuchKey"
    # an empty object: part 1 is its zero bytes
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert s3.get_object(Bucket=bucket, Key="empty", PartNumber=1)["Body"].read() == b""


# ------------------------------------------------------ conditional PutObject


def test_put_if_none_match_race_has_one_winner(s3, bucket):
    bodies = [os.urandom(1 * MiB + i) for i in range(8)]
    clients = [make_client() for _ in bodies]
    answers = race(
        8, lambda i: clients[i].put_object(Bucket=bucket, Key="lock", Body=bodies[i], IfNoneMatch="*")
    )
    won = [i for i, (r, _) in enumerate(answers) if r is not None]
    assert len(won) == 1, answers
    for i, (_, err) in enumerate(answers):
        if i != won[0]:
            assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 412, err.response
            assert err.response["Error"]["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="lock")["Body"].read() == bodies[won[0]]
    assert answers[won[0]][0]["ETag"] == '"%s"' % hashlib.md5(bodies[won[0]]).hexdigest()


def test_put_if_match(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v1", IfMatch='"%s"' % hashlib.md5(b"v0").hexdigest())
    assert (status(e), code(e)) == (404, "NoSuchKey")
    assert not s3.list_objects_v2(Bucket=bucket).get("Contents"), "nothing stored"
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"v1", IfNoneMatch="*")["ETag"]
    with unchanged(s3, bucket):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfNoneMatch="*")
        assert (status(e), code(e)) == (412, "PreconditionFailed")
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch='"%s"' % ("0" * 32))
        assert (status(e), code(e)) == (412, "PreconditionFailed")
        # If-None-Match takes only '*' on writes
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfNoneMatch=v1)
        assert (status(e), code(e)) == (501, "NotImplemented")
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch=v1)["ETag"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
    # compare-and-swap: the second writer with the same old ETag loses
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v3", IfMatch=v1)
    assert code(e) == "PreconditionFailed"
    # a delete marker as current version counts as no object
    versioned(s3, bucket)
    s3.delete_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v3", IfMatch=v2)
    assert (status(e), code(e)) == (404, "NoSuchKey")
    s3.put_object(Bucket=bucket, Key="k", Body=b"v3", IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v3"


def test_if_match_race_is_a_compare_and_swap(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="ctr", Body=b"0")["ETag"]
    clients = [make_client() for _ in range(8)]
    answers = race(8, lambda i: clients[i].put_object(Bucket=bucket, Key="ctr", Body=b"%d" % (i + 1), IfMatch=etag))
    won = [i for i, (r, _) in enumerate(answers) if r is not None]
    assert len(won) == 1, answers
    assert all(err.response["Error"]["Code"] == "PreconditionFailed" for _, err in answers if err is not None)
    assert s3.get_object(Bucket=bucket, Key="ctr")["Body"].read() == b"%d" % (won[0] + 1)


# ------------------------------------------------------ conditional CompleteMultipartUpload


def test_complete_if_none_match_and_if_match(s3, bucket):
    s3.put_object(Bucket=bucket, Key="obj", Body=b"old")
    parts = [os.urandom(5 * MiB), b"tail"]
    uid, listed = upload(s3, bucket, "obj", parts)
    mp = {"Parts": listed}
    with unchanged(s3, bucket):
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload=mp, IfNoneMatch="*")
        assert (status(e), code(e)) == (412, "PreconditionFailed")
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(
                Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload=mp, IfMatch='"%s"' % ("0" * 32)
            )
        assert (status(e), code(e)) == (412, "PreconditionFailed")
    # the upload is still open after a failed condition
    assert len(s3.list_parts(Bucket=bucket, Key="obj", UploadId=uid)["Parts"]) == 2
    old = '"%s"' % hashlib.md5(b"old").hexdigest()
    r = s3.complete_multipart_upload(Bucket=bucket, Key="obj", UploadId=uid, MultipartUpload=mp, IfMatch=old)
    assert r["ETag"] == s3_etag(parts)
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"".join(parts)
    # a new key with If-None-Match; If-Match on an absent key is 404
    uid2, listed2 = upload(s3, bucket, "new", [b"x"])
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="new", UploadId=uid2, MultipartUpload={"Parts": listed2}, IfMatch=old
        )
    assert (status(e), code(e)) == (404, "NoSuchKey")
    s3.complete_multipart_upload(
        Bucket=bucket, Key="new", UploadId=uid2, MultipartUpload={"Parts": listed2}, IfNoneMatch="*"
    )
    # a retry of that conditional complete still answers 200
    r = s3.complete_multipart_upload(
        Bucket=bucket, Key="new", UploadId=uid2, MultipartUpload={"Parts": listed2}, IfNoneMatch="*"
    )
    assert r["ETag"] == s3_etag([b"x"])


def test_racing_conditional_completes_of_two_uploads(s3, bucket):
    uploads = [upload(s3, bucket, "obj", [os.urandom(5 * MiB), b"%d" % i]) for i in range(2)]
    clients = [make_client() for _ in uploads]
    answers = race(
        2,
        lambda i: clients[i].complete_multipart_upload(
            Bucket=bucket, Key="obj", UploadId=uploads[i][0],
            MultipartUpload={"Parts": uploads[i][1]}, IfNoneMatch="*",
        ),
    )
    won = [i for i, (r, _) in enumerate(answers) if r is not None]
    assert len(won) == 1, answers
    lost = 1 - won[0]
    assert answers[lost][1].response["Error"]["Code"] == "PreconditionFailed"
    assert s3.head_object(Bucket=bucket, Key="obj")["ETag"] == answers[won[0]][0]["ETag"]
    # the loser's upload stays open (AWS: retry or abort it)
    s3.abort_multipart_upload(Bucket=bucket, Key="obj", UploadId=uploads[lost][0])
