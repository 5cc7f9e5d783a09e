"""boto3 against a real liuma node: every S3 operation liuma serves, the
error codes for bad input, and "nothing lost": after each failing request
the bucket lists the same objects with the same content."""

import base64
import contextlib
import datetime
import hashlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from unittest import mock

import botocore
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ENDPOINT, make_client, raw, snapshot, code, status, unchanged

MiB = 1 << 20


@pytest.fixture
def filled(s3, bucket):
    for k, v in {"a.txt": b"alpha", "dir/b.txt": b"bravo", "dir/sub/c.txt": b"charlie"}.items():
        s3.put_object(Bucket=bucket, Key=k, Body=v)
    return bucket


# ---------------------------------------------------------------- buckets


def test_bucket_lifecycle(s3):
    name = "life-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=name)
    loc = s3.get_bucket_location(Bucket=name)
    assert loc.get("LocationConstraint") in (None, "")
    # re-creating a bucket you own: 200 in us-east-1 (AWS's legacy rule;
    # 409 elsewhere, test_semantics.py)
    assert s3.create_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert code(e) == "BucketNotEmpty" and status(e) == 409
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert status(e) == 404


def test_empty_puts_do_not_stall_the_next_request(s3, bucket):
    """botocore sends `Expect: 100-continue` on every PutObject; an empty
    body never gets a `100`, and on a reused connection the next request
    then waited for the server's idle deadline (60 s). Each call here must
    take well under a second."""
    for i in range(3):
        started = time.monotonic()
        s3.put_object(Bucket=bucket, Key=f"empty-{i}", Body=b"")
        s3.put_object(Bucket=bucket, Key=f"after-{i}", Body=b"x" * 10)
        assert s3.get_object(Bucket=bucket, Key=f"empty-{i}")["Body"].read() == b""
        took = time.monotonic() - started
        assert took < 5, f"round {i} took {took:.1f} s"


def test_delete_bucket_aborts_incomplete_uploads_but_not_objects(s3):
    """AWS (general-purpose buckets) and Ceph RGW delete a bucket that holds
    only incomplete multipart uploads; objects still block it."""
    name = f"mpu-left-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    up = s3.create_multipart_upload(Bucket=name, Key="big")
    s3.upload_part(Bucket=name, Key="big", UploadId=up["UploadId"], PartNumber=1, Body=b"p" * 1024)
    s3.create_multipart_upload(Bucket=name, Key="other")
    s3.put_object(Bucket=name, Key="obj", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert code(e) == "BucketNotEmpty"
    # the object blocked it: the uploads are still there
    assert len(s3.list_multipart_uploads(Bucket=name).get("Uploads", [])) == 2
    s3.delete_object(Bucket=name, Key="obj")
    s3.delete_bucket(Bucket=name)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name not in names
    with pytest.raises(ClientError) as e:
        s3.list_multipart_uploads(Bucket=name)
    assert code(e) == "NoSuchBucket"


def test_invalid_bucket_names(s3):
    for bad in ["ab", "UPPER-case", "bad_name", "-dash", "192.168.1.1"]:
        with pytest.raises((ClientError, botocore.exceptions.ParamValidationError)) as e:
            s3.create_bucket(Bucket=bad)
        if isinstance(e.value, ClientError):
            assert code(e) == "InvalidBucketName", bad


def test_missing_bucket_key_upload(s3, bucket):
    missing = "nope-" + uuid.uuid4().hex[:10]
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=missing)
    assert code(e) == "NoSuchBucket"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="missing")
    assert code(e) == "NoSuchKey" and status(e) == 404
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="missing")
    assert status(e) == 404
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="k", UploadId="0" * 32, PartNumber=1, Body=b"x")
    assert code(e) == "NoSuchUpload"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId="0" * 24)
    assert code(e) in ("NoSuchVersion", "NoSuchKey")


def test_versioning(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    r = s3.put_object(Bucket=bucket, Key="k", Body=b"v0")
    assert "VersionId" not in r, "no version id while versioning was never enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"v2")["VersionId"]
    assert v1 != v2
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"v1"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"v0"
    d = s3.delete_object(Bucket=bucket, Key="k")
    assert d["DeleteMarker"] is True
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert code(e) == "NoSuchKey"
    vs = s3.list_object_versions(Bucket=bucket)
    assert len(vs["Versions"]) == 3 and len(vs["DeleteMarkers"]) == 1
    assert vs["DeleteMarkers"][0]["IsLatest"] is True
    s3.delete_object(Bucket=bucket, Key="k", VersionId=d["VersionId"])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    r = s3.put_object(Bucket=bucket, Key="k", Body=b"v3")
    assert r["VersionId"] == "null"
    # paginated version listing
    page = s3.list_object_versions(Bucket=bucket, MaxKeys=2)
    assert page["IsTruncated"] is True and len(page["Versions"]) == 2
    rest = s3.list_object_versions(
        Bucket=bucket, KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"]
    )
    assert len(rest["Versions"]) == 1


def test_cors_configuration_preflight_and_headers(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert code(e) == "NoSuchCORSConfiguration"
    rules = [
        {
            "AllowedOrigins": ["https://app.example.com"],
            "AllowedMethods": ["GET", "PUT"],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 600,
        }
    ]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got[0]["AllowedOrigins"] == ["https://app.example.com"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"cors")
    st, h, _ = raw(
        "OPTIONS",
        f"/{bucket}/k",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type, x-amz-date",
        },
        sign=False,
    )
    assert st == 200
    assert h["access-control-allow-origin"] == "https://app.example.com"
    assert "PUT" in h["access-control-allow-methods"]
    assert h["access-control-max-age"] == "600"
    st, _, _ = raw(
        "OPTIONS",
        f"/{bucket}/k",
        headers={"Origin": "https://evil.example.org", "Access-Control-Request-Method": "GET"},
        sign=False,
    )
    assert st == 403
    st, h, body = raw("GET", f"/{bucket}/k", headers={"Origin": "https://app.example.com"})
    assert st == 200 and body == b"cors"
    assert h["access-control-allow-origin"] == "https://app.example.com"
    assert h["access-control-expose-headers"] == "ETag"
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)


# ---------------------------------------------------------------- objects


def test_put_get_head_with_metadata(s3, bucket):
    s3.put_object(
        Bucket=bucket,
        Key="docs/report.txt",
        Body=b"hello world",
        ContentType="text/plain",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="r.txt"',
        ContentLanguage="en",
        Metadata={"Color": "blue", "owner": "qa"},
    )
    h = s3.head_object(Bucket=bucket, Key="docs/report.txt")
    assert h["ContentLength"] == 11
    assert h["ContentType"] == "text/plain"
    assert h["CacheControl"] == "max-age=60"
    assert h["ContentLanguage"] == "en"
    assert h["Metadata"] == {"color": "blue", "owner": "qa"}
    assert h["ETag"] == '"%s"' % hashlib.md5(b"hello world").hexdigest()
    g = s3.get_object(Bucket=bucket, Key="docs/report.txt")
    assert g["Body"].read() == b"hello world"
    assert g["ContentDisposition"] == 'attachment; filename="r.txt"'


def test_empty_and_unicode_keys(s3, bucket):
    for key in ["empty", "spaces in name.txt", "ünïcödé/☃.txt", "a+b=c&d?.txt", "dir//double"]:
        body = b"" if key == "empty" else key.encode()
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "ünïcödé/☃.txt" in keys and "a+b=c&d?.txt" in keys


def test_content_md5_and_checksums(s3, bucket):
    data = b"checked data" * 1000
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    s3.put_object(Bucket=bucket, Key="ok", Body=data, ContentMD5=md5)
    for alg in ["CRC32", "SHA1", "SHA256"]:  # CRC32C needs botocore[crt]
        r = s3.put_object(Bucket=bucket, Key=f"ok-{alg}", Body=data, ChecksumAlgorithm=alg)
        assert s3.get_object(Bucket=bucket, Key=f"ok-{alg}")["Body"].read() == data
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    with unchanged(s3, bucket):
        bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="ok", Body=b"replacement", ContentMD5=bad)
        assert code(e) == "BadDigest"
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="bad-sha", Body=data, ChecksumSHA256=base64.b64encode(b"\0" * 32).decode())
        assert code(e) == "BadDigest"
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="bad-crc", Body=data, ChecksumCRC32="AAAAAA==")
        assert code(e) == "BadDigest"


def test_ranges(s3, bucket):
    data = bytes(range(256)) * 40
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    g = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert g["Body"].read() == data[10:20]
    assert g["ContentRange"] == f"bytes 10-19/{len(data)}"
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == data[-5:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=10000-")["Body"].read() == data[10000:]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={len(data)}-")
    assert code(e) == "InvalidRange" and status(e) == 416


def test_conditional_get(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"cond")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"cond"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert status(e) == 412
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert status(e) == 304
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=future)
    assert status(e) == 304
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["Body"].read() == b"cond"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    assert status(e) == 412
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert status(e) == 304


def test_response_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", ContentType="text/plain")
    g = s3.get_object(
        Bucket=bucket,
        Key="o",
        ResponseContentType="application/json",
        ResponseContentDisposition="inline",
        ResponseCacheControl="no-store",
    )
    assert g["ContentType"] == "application/json"
    assert g["ContentDisposition"] == "inline"
    assert g["CacheControl"] == "no-store"


def test_delete_and_batch_delete(s3, bucket):
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"d/{i}", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="d/0")
    s3.delete_object(Bucket=bucket, Key="d/does-not-exist")  # idempotent, 204
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d/1"}, {"Key": "d/2"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["d/1", "d/2"]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d/3"}], "Quiet": True})
    assert not r.get("Deleted")
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert left == ["d/4"]


def test_malformed_xml(s3, filled):
    with unchanged(s3, filled):
        body = b"<Delete><Object><Key>a.txt</Key></Object"
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        st, _, resp = raw("POST", f"/{filled}?delete", body=body, headers={"Content-MD5": md5})
        assert st == 400 and b"MalformedXML" in resp, resp
        up = s3.create_multipart_upload(Bucket=filled, Key="mp")["UploadId"]
        st, _, resp = raw("POST", f"/{filled}/mp?uploadId={up}", body=b"<CompleteMultipartUpload><Part>")
        assert st == 400 and b"MalformedXML" in resp, resp
        s3.abort_multipart_upload(Bucket=filled, Key="mp", UploadId=up)


def test_copy_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", ContentType="text/plain", Metadata={"a": "1"})
    src_etag = s3.head_object(Bucket=bucket, Key="src")["ETag"]
    r = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert r["CopyObjectResult"]["ETag"] == src_etag
    h = s3.head_object(Bucket=bucket, Key="dst")
    assert h["Metadata"] == {"a": "1"} and h["ContentType"] == "text/plain"
    s3.copy_object(
        Bucket=bucket,
        Key="dst2",
        CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="application/x-test",
    )
    h = s3.head_object(Bucket=bucket, Key="dst2")
    assert h["Metadata"] == {"b": "2"} and h["ContentType"] == "application/x-test"
    assert s3.get_object(Bucket=bucket, Key="dst2")["Body"].read() == b"copy me"
    with unchanged(s3, bucket):
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="dst3", CopySource=f"{bucket}/src", CopySourceIfMatch='"00"')
        assert status(e) == 412
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="dst3", CopySource=f"{bucket}/src", CopySourceIfNoneMatch=src_etag)
        assert status(e) == 412
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src")
        assert code(e) == "InvalidRequest"
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/missing")
        assert code(e) == "NoSuchKey"
    # copy onto itself with REPLACE updates metadata in place
    s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src", MetadataDirective="REPLACE", Metadata={"c": "3"})
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"c": "3"}


def test_oversized_metadata_and_headers(s3, filled):
    with unchanged(s3, filled):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=filled, Key="a.txt", Body=b"new", Metadata={"big": "x" * 3000})
        assert code(e) == "MetadataTooLarge"
        st, _, body = raw("GET", f"/{filled}/a.txt", headers={f"x-pad-{i}": "y" * 1000 for i in range(20)}, sign=False)
        assert st == 400 and b"RequestHeaderSectionTooLarge" in body


# ---------------------------------------------------------------- listing


def test_list_v2_prefix_delimiter_pagination(s3, bucket):
    keys = [f"p/{i:03d}" for i in range(25)] + ["p/sub/x", "p/sub/y", "q/z", "top"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["p/", "q/"]
    assert [o["Key"] for o in r["Contents"]] == ["top"]
    r = s3.list_objects_v2(Bucket=bucket, Prefix="p/", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["p/sub/"]
    assert len(r["Contents"]) == 25
    seen = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 7}):
        assert page["KeyCount"] <= 7
        seen += [o["Key"] for o in page.get("Contents", [])]
    assert seen == sorted(keys)
    r = s3.list_objects_v2(Bucket=bucket, StartAfter="p/020", MaxKeys=3)
    assert [o["Key"] for o in r["Contents"]] == ["p/021", "p/022", "p/023"]
    r = s3.list_objects_v2(Bucket=bucket, Prefix="q/", FetchOwner=True)
    assert "Owner" in r["Contents"][0]
    assert "Owner" not in s3.list_objects_v2(Bucket=bucket, Prefix="q/")["Contents"][0]
    assert s3.list_objects_v2(Bucket=bucket, MaxKeys=0)["KeyCount"] == 0


def test_list_v1_and_url_encoding(s3, bucket):
    keys = ["a b/1", "a b/2", "c+d", "é/x"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    seen = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 1}):
        seen += [o["Key"] for o in page.get("Contents", [])]
    assert seen == sorted(keys)
    r = s3.list_objects(Bucket=bucket, Delimiter="/", Marker="a b/")
    assert [o["Key"] for o in r["Contents"]] == ["c+d"]
    # asked for explicitly, botocore leaves the encoded names to the caller
    r = s3.list_objects_v2(Bucket=bucket, EncodingType="url", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a%20b/", "%C3%A9/"]
    st, _, body = raw("GET", f"/{bucket}?list-type=2&encoding-type=url")
    assert b"<Key>a%20b/1</Key>" in body and b"c%2Bd" in body


# ---------------------------------------------------------------- multipart


def test_multipart_full_cycle(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="big", ContentType="application/x-big", Metadata={"m": "1"})
    uid = up["UploadId"]
    p1 = os.urandom(5 * MiB)
    p2 = os.urandom(5 * MiB)
    p3 = b"tail"
    e1 = s3.upload_part(Bucket=bucket, Key="big", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="big", UploadId=uid, PartNumber=2, Body=p2)["ETag"]
    e3 = s3.upload_part(Bucket=bucket, Key="big", UploadId=uid, PartNumber=3, Body=p3)["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key="big", UploadId=uid)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1, 2, 3] and parts[2]["Size"] == 4
    page = s3.list_parts(Bucket=bucket, Key="big", UploadId=uid, MaxParts=2)
    assert page["IsTruncated"] and page["NextPartNumberMarker"] == 2
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["UploadId"] for u in uploads] == [uid]
    with unchanged(s3, bucket):
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(
                Bucket=bucket, Key="big", UploadId=uid,
                MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]},
            )
        assert code(e) == "InvalidPartOrder"
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(
                Bucket=bucket, Key="big", UploadId=uid,
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]},
            )
        assert code(e) == "InvalidPart"
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(
                Bucket=bucket, Key="big", UploadId=uid,
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 4, "ETag": e3}]},
            )
        assert code(e) == "InvalidPart"
    r = s3.complete_multipart_upload(
        Bucket=bucket, Key="big", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}, {"PartNumber": 3, "ETag": e3}]},
    )
    md5s = b"".join(hashlib.md5(p).digest() for p in (p1, p2, p3))
    assert r["ETag"] == '"%s-3"' % hashlib.md5(md5s).hexdigest()
    g = s3.get_object(Bucket=bucket, Key="big")
    assert g["Body"].read() == p1 + p2 + p3
    assert g["ContentType"] == "application/x-big" and g["Metadata"] == {"m": "1"}
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="big", UploadId=uid)
    assert code(e) == "NoSuchUpload"


def test_multipart_entity_too_small_and_abort(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=1, Body=b"a" * 1000)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=2, Body=b"b" * 1000)["ETag"]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="small", UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
        )
    assert code(e) == "EntityTooSmall"
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=10001, Body=b"x")
    assert code(e) == "InvalidArgument"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=uid)
    with pytest.raises(ClientError) as e:
        s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=uid)
    assert code(e) == "NoSuchUpload"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="small")


def test_upload_part_copy(s3, bucket):
    src = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="src", Body=src)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    r1 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1, CopySource=f"{bucket}/src")
    r2 = s3.upload_part_copy(
        Bucket=bucket, Key="dst", UploadId=uid, PartNumber=2, CopySource=f"{bucket}/src", CopySourceRange="bytes=100-199"
    )
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(
            Bucket=bucket, Key="dst", UploadId=uid, PartNumber=3, CopySource=f"{bucket}/src",
            CopySourceRange=f"bytes=0-{len(src)}",
        )
    assert code(e) == "InvalidRange"
    s3.complete_multipart_upload(
        Bucket=bucket, Key="dst", UploadId=uid,
        MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
            {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]},
        ]},
    )
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == src + src[100:200]


# ---------------------------------------------------------------- auth


def test_wrong_secret_and_unknown_key(filled):
    bad = make_client(secret_key="x" * 40)
    with pytest.raises(ClientError) as e:
        bad.list_objects_v2(Bucket=filled)
    assert code(e) == "SignatureDoesNotMatch" and status(e) == 403
    unknown = make_client(access_key="LMNOSUCHKEY000000000", secret_key="x" * 40)
    with pytest.raises(ClientError) as e:
        unknown.list_buckets()
    assert code(e) == "InvalidAccessKeyId"


def test_presigned_urls_tampered_and_expired(s3, filled):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": filled, "Key": "a.txt"}, ExpiresIn=300)
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"alpha"
    sig = url.split("X-Amz-Signature=")[1].split("&")[0]
    tampered = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(tampered)
    assert e.value.code == 403 and b"SignatureDoesNotMatch" in e.value.read()
    other_key = url.replace("/a.txt?", "/dir/b.txt?")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(other_key)
    assert e.value.code == 403
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": filled, "Key": "presigned"}, ExpiresIn=300)
    req = urllib.request.Request(put_url, data=b"via presign", method="PUT")
    with urllib.request.urlopen(req) as r:
        assert r.status == 200
    assert s3.get_object(Bucket=filled, Key="presigned")["Body"].read() == b"via presign"
    # signed 5 s ago for 1 s: expired (no sleeping: botocore's clock is moved)
    five_s_ago = lambda: datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)  # noqa: E731
    with mock.patch("botocore.auth.get_current_datetime", five_s_ago):
        short = s3.generate_presigned_url("get_object", Params={"Bucket": filled, "Key": "a.txt"}, ExpiresIn=1)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(short)
    assert e.value.code == 403 and b"AccessDenied" in e.value.read()


def test_skewed_clock(filled):
    skewed = make_client()
    later = lambda: datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)  # noqa: E731
    with mock.patch("botocore.auth.get_current_datetime", later):
        with pytest.raises(ClientError) as e:
            skewed.list_objects_v2(Bucket=filled)
    assert code(e) == "RequestTimeTooSkewed"


def test_anonymous_and_public_read(s3, filled):
    anon = make_client()
    anon = __import__("boto3").client(
        "s3", endpoint_url=ENDPOINT, region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket=filled, Key="a.txt")
    assert code(e) == "AccessDenied"
    s3.put_bucket_acl(Bucket=filled, ACL="public-read")
    # As on AWS, a public-read bucket ACL lets anyone list the bucket, not
    # read its objects: that takes the object's ACL or a bucket policy.
    assert len(anon.list_objects_v2(Bucket=filled)["Contents"]) == 3
    grants = s3.get_bucket_acl(Bucket=filled)["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket=filled, Key="a.txt")
    assert code(e) == "AccessDenied"
    s3.put_bucket_policy(Bucket=filled, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{filled}/*"}]}))
    assert anon.get_object(Bucket=filled, Key="a.txt")["Body"].read() == b"alpha"
    with unchanged(s3, filled):
        with pytest.raises(ClientError) as e:
            anon.put_object(Bucket=filled, Key="a.txt", Body=b"defaced")
        assert code(e) == "AccessDenied"
        with pytest.raises(ClientError) as e:
            anon.delete_object(Bucket=filled, Key="a.txt")
        assert code(e) == "AccessDenied"
    s3.delete_bucket_policy(Bucket=filled)
    s3.put_bucket_acl(Bucket=filled, ACL="private")
    with pytest.raises(ClientError):
        anon.get_object(Bucket=filled, Key="a.txt")
    with pytest.raises(ClientError):
        anon.list_objects_v2(Bucket=filled)


def admin(method, path, body=None):
    url = os.environ["LIUMA_ADMIN_URL"] + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": "Bearer " + os.environ["LIUMA_ADMIN_TOKEN"], "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def test_keys_see_only_their_buckets(s3, filled):
    k = admin("POST", "/admin/keys", {"name": "alice"})
    alice = make_client(k["id"], k["secret"])
    assert alice.list_buckets()["Buckets"] == []
    with unchanged(s3, filled):
        with pytest.raises(ClientError) as e:
            alice.get_object(Bucket=filled, Key="a.txt")
        assert code(e) == "AccessDenied"
    own = "alice-" + uuid.uuid4().hex[:10]
    alice.create_bucket(Bucket=own)
    alice.put_object(Bucket=own, Key="mine", Body=b"1")
    assert [b["Name"] for b in alice.list_buckets()["Buckets"]] == [own]
    admin("POST", f"/admin/keys/{k['id']}/allow", {"bucket": filled, "permission": "read"})
    assert alice.get_object(Bucket=filled, Key="a.txt")["Body"].read() == b"alpha"
    with unchanged(s3, filled):
        with pytest.raises(ClientError) as e:
            alice.put_object(Bucket=filled, Key="a.txt", Body=b"overwrite")
        assert code(e) == "AccessDenied"
        with pytest.raises(ClientError) as e:
            alice.copy_object(Bucket=filled, Key="copy", CopySource=f"{filled}/a.txt")
        assert code(e) == "AccessDenied"
        with pytest.raises(ClientError) as e:
            alice.delete_bucket(Bucket=filled)
        assert code(e) == "AccessDenied"
    # copying from a readable bucket into her own works
    alice.copy_object(Bucket=own, Key="copied", CopySource=f"{filled}/a.txt")
    keys = [x["id"] for x in admin("GET", "/admin/keys")]
    assert k["id"] in keys
    admin("DELETE", f"/admin/keys/{k['id']}")
    with pytest.raises(ClientError) as e:
        alice.list_buckets()
    assert code(e) == "InvalidAccessKeyId"
    s3.delete_object(Bucket=own, Key="mine")
    s3.delete_object(Bucket=own, Key="copied")
    s3.delete_bucket(Bucket=own)


def test_key_cli(s3):
    env = dict(os.environ)
    bin_ = os.environ["LIUMA_BIN"]
    args = ["--admin-url", os.environ["LIUMA_ADMIN_URL"]]
    out = subprocess.run([bin_, "key", *args, "create", "bob"], env=env, capture_output=True, text=True, check=True).stdout
    kid = out.split("access key id:")[1].split()[0]
    secret = out.split("secret access key:")[1].split()[0]
    bob = make_client(kid, secret)
    name = "bob-" + uuid.uuid4().hex[:10]
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError):
        bob.list_objects_v2(Bucket=name)
    subprocess.run([bin_, "key", *args, "allow", kid, name, "write"], env=env, check=True, capture_output=True)
    bob.put_object(Bucket=name, Key="k", Body=b"bob")
    listing = subprocess.run([bin_, "key", *args, "list"], env=env, capture_output=True, text=True, check=True).stdout
    assert f"{name}:write" in listing and kid in listing
    subprocess.run([bin_, "key", *args, "delete", kid], env=env, check=True, capture_output=True)
    with pytest.raises(ClientError):
        bob.list_buckets()
    bad = subprocess.run([bin_, "key", *args, "delete", kid], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "404" in bad.stderr
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)


def _hmac(key, msg):
    import hmac

    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def test_aws_chunked_signed_streaming_payload(s3, bucket):
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD, each chunk signed, as SDKs send it."""
    import os as _os

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    data = _os.urandom(200_000)
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)] + [b""]
    sizes = [len(c) for c in chunks]
    # encoded length: hex size + ";chunk-signature=" + 64 + CRLF + data + CRLF per chunk
    enc_len = sum(len(f"{n:x}") + 17 + 64 + 2 + n + 2 for n in sizes)
    url = f"{ENDPOINT}/{bucket}/chunked"
    headers = {
        "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(data)),
        "Content-Length": str(enc_len),
    }
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], secret)

    def send(tamper):
        class StreamingAuth(S3SigV4Auth):
            def payload(self, request):
                return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

        req = AWSRequest(method="PUT", url=url, headers=dict(headers))
        StreamingAuth(creds, "s3", "us-east-1").add_auth(req)
        amz_date = req.headers["X-Amz-Date"]
        day = amz_date[:8]
        scope = f"{day}/us-east-1/s3/aws4_request"
        prev = req.headers["Authorization"].split("Signature=")[1]
        key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), day), "us-east-1"), "s3"), "aws4_request")
        body = b""
        empty = hashlib.sha256(b"").hexdigest()
        for c in chunks:
            sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, empty, hashlib.sha256(c).hexdigest()])
            sig = __import__("hmac").new(key, sts.encode(), hashlib.sha256).hexdigest()
            if tamper and c:
                sig = "0" * 64
            body += f"{len(c):x};chunk-signature={sig}\r\n".encode() + c + b"\r\n"
            prev = sig
        assert len(body) == enc_len
        r = urllib.request.Request(url, data=body, method="PUT", headers=dict(req.headers.items()))
        try:
            with urllib.request.urlopen(r) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    st, body = send(tamper=False)
    assert st == 200, body
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == data
    with unchanged(s3, bucket):
        st, body = send(tamper=True)
        assert st in (400, 403), body


def test_virtual_hosted_style(s3, filled):
    """With --s3-domain D, `Host: BUCKET.D` addresses the bucket; IP hosts stay path-style."""
    import http.client

    domain = os.environ.get("LIUMA_S3_DOMAIN")
    if not domain:
        pytest.fail("the boto3 suite must run on a node started with --s3-domain (tests/it/s3.rs does)")
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    hostport = ENDPOINT.removeprefix("http://")
    port = hostport.rsplit(":", 1)[1]
    vhost = f"{filled}.{domain}:{port}"
    req = AWSRequest(method="GET", url=f"http://{vhost}/dir/b.txt")
    S3SigV4Auth(Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]), "s3", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection(hostport, timeout=10)
    conn.request("GET", "/dir/b.txt", headers=dict(req.headers.items()) | {"Host": vhost})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read() == b"bravo"
    # a listing through the virtual host
    req = AWSRequest(method="GET", url=f"http://{vhost}/?list-type=2")
    S3SigV4Auth(Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]), "s3", "us-east-1").add_auth(req)
    conn.request("GET", "/?list-type=2", headers=dict(req.headers.items()) | {"Host": vhost})
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 200 and b"<Key>dir/sub/c.txt</Key>" in body
    # path-style through the IP keeps working (the rest of the suite relies on it)
    assert s3.get_object(Bucket=filled, Key="a.txt")["Body"].read() == b"alpha"
