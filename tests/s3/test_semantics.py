"""S3 semantics to the letter (issue #13 items 3, 6, 7, 8): versioning
details and delete markers, tagging, error bodies and auth edge cases,
listing details. boto3 where it exposes the behaviour, raw HTTP
(conftest.raw) where the exact status, headers or XML matter.
"""

import concurrent.futures
import datetime
import os
import random
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from unittest import mock

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ENDPOINT, REGION, make_client, raw, code, status

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def versioned(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def xml_text(body, tag):
    """Text of every element named `tag` (any namespace) in an XML body."""
    root = ET.fromstring(body)
    return [e.text or "" for e in root.iter() if e.tag.split("}")[-1] == tag]


def anonymous():
    return boto3.client(
        "s3", endpoint_url=ENDPOINT, region_name=REGION,
        config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


# ---------------------------------------------------------------- item 3: versioning


def test_suspending_a_never_versioned_bucket(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    # writes in a suspended bucket make the "null" version, replaced in place
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"1").get("VersionId") == "null"
    s3.put_object(Bucket=bucket, Key="k", Body=b"2")
    vs = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in vs] == [("null", True)]
    # and a delete makes a "null" delete marker
    d = s3.delete_object(Bucket=bucket, Key="k")
    assert d["DeleteMarker"] is True and d["VersionId"] == "null"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def test_delete_marker_headers_on_delete_get_head(s3, bucket):
    versioned(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="doc", Body=b"one")["VersionId"]
    d = s3.delete_object(Bucket=bucket, Key="doc")
    marker = d["VersionId"]
    assert d["DeleteMarker"] is True and marker and marker != v1
    hdrs = d["ResponseMetadata"]["HTTPHeaders"]
    assert hdrs["x-amz-delete-marker"] == "true" and hdrs["x-amz-version-id"] == marker

    # current version is the marker: 404 NoSuchKey with the marker's headers
    for method in ("GET", "HEAD"):
        st, h, body = raw(method, f"/{bucket}/doc")
        assert st == 404, method
        assert h.get("x-amz-delete-marker") == "true", (method, h)
        assert h.get("x-amz-version-id") == marker, (method, h)
        if method == "GET":
            assert xml_text(body, "Code") == ["NoSuchKey"]
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="doc")
    assert status(e) == 404
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"

    # the marker by version id: 405 MethodNotAllowed, with Last-Modified (AWS)
    for method in ("GET", "HEAD"):
        st, h, body = raw(method, f"/{bucket}/doc?versionId={marker}")
        assert st == 405, (method, st, body)
        assert h.get("x-amz-delete-marker") == "true", (method, h)
        assert h.get("x-amz-version-id") == marker
        assert h.get("last-modified", "").endswith("GMT"), h
        if method == "GET":
            assert xml_text(body, "Code") == ["MethodNotAllowed"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="doc", VersionId=marker)
    assert code(e) == "MethodNotAllowed" and status(e) == 405

    # the older version still reads; removing the marker restores the key
    assert s3.get_object(Bucket=bucket, Key="doc", VersionId=v1)["Body"].read() == b"one"
    d = s3.delete_object(Bucket=bucket, Key="doc", VersionId=marker)
    assert d["DeleteMarker"] is True and d["VersionId"] == marker
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"one"
    # a plain object that never existed: 404 without delete-marker headers
    st, h, _ = raw("GET", f"/{bucket}/never")
    assert st == 404 and "x-amz-delete-marker" not in h


def check_chains(s3, bucket, keys):
    """Every key: versions newest first, exactly one IsLatest (the first),
    and GET agrees with it."""
    listed = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, MaxKeys=7):
        for v in page.get("Versions", []):
            listed.setdefault(v["Key"], []).append((v["LastModified"], v["VersionId"], v["IsLatest"], False, v["ETag"]))
        for m in page.get("DeleteMarkers", []):
            listed.setdefault(m["Key"], []).append((m["LastModified"], m["VersionId"], m["IsLatest"], True, None))
    for key in keys:
        chain = listed.get(key, [])
        if not chain:
            st, _, _ = raw("HEAD", f"/{bucket}/{key}")
            assert st == 404, key
            continue
        latest = [c for c in chain if c[2]]
        assert len(latest) == 1, (key, chain)
        ids = [c[1] for c in chain]
        assert len(set(ids)) == len(ids), (key, ids)
        _, vid, _, is_marker, etag = latest[0]
        st, h, _ = raw("HEAD", f"/{bucket}/{key}")
        if is_marker:
            assert st == 404 and h.get("x-amz-version-id") == vid, (key, st, h)
        else:
            assert st == 200 and h.get("x-amz-version-id") == vid and h.get("etag") == etag, (key, h)
        # every listed version is readable by id (or is a marker: 405)
        for _, v, _, m, _ in chain:
            st, _, _ = raw("HEAD", f"/{bucket}/{key}?versionId={v}")
            assert st == (405 if m else 200), (key, v, st)


def test_concurrent_batch_deletes_keep_version_chains(s3, bucket):
    versioned(s3, bucket)
    keys = [f"k{i:02d}" for i in range(12)]
    versions = {k: [] for k in keys}
    for k in keys:
        for n in range(3):
            versions[k].append(s3.put_object(Bucket=bucket, Key=k, Body=f"{k}-{n}".encode())["VersionId"])
    rng = random.Random(1313)
    print("seed 1313")
    batches = []
    for t in range(8):
        picked = rng.sample(keys, 8)
        objs = []
        for k in picked:
            if rng.random() < 0.5:
                objs.append({"Key": k})  # a delete marker
            else:
                objs.append({"Key": k, "VersionId": rng.choice(versions[k])})
        batches.append(objs)
    clients = [make_client() for _ in batches]

    def run(i):
        out = []
        for _ in range(3):
            r = clients[i].delete_objects(Bucket=bucket, Delete={"Objects": batches[i]})
            out.append(r)
        return out

    with concurrent.futures.ThreadPoolExecutor(len(batches)) as pool:
        results = list(pool.map(run, range(len(batches))))
    for rs in results:
        for r in rs:
            assert not r.get("Errors"), r["Errors"]
    check_chains(s3, bucket, keys)
    # and racing single puts against batch deletes
    def put(i):
        k = keys[i % len(keys)]
        return clients[i % len(clients)].put_object(Bucket=bucket, Key=k, Body=b"late")

    def delete(i):
        return clients[i % len(clients)].delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i % 3::3]]})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futs = [pool.submit(put if i % 2 else delete, i) for i in range(24)]
        for f in futs:
            f.result()
    check_chains(s3, bucket, keys)


# ---------------------------------------------------------------- item 6: tagging


def tags(s3, bucket, key, **kw):
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key, **kw)["TagSet"]}


def tag_count(resp):
    return resp["ResponseMetadata"]["HTTPHeaders"].get("x-amz-tagging-count")


def test_object_tagging_on_put_get_head(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"data", Tagging="a=1&b%20c=two%20words&empty=")
    assert tags(s3, bucket, "t") == {"a": "1", "b c": "two words", "empty": ""}
    g = s3.get_object(Bucket=bucket, Key="t")
    assert g["TagCount"] == 3 and g["Body"].read() == b"data"
    assert tag_count(s3.head_object(Bucket=bucket, Key="t")) == "3"
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "x", "Value": "y"}]})
    assert tags(s3, bucket, "t") == {"x": "y"}
    assert s3.get_object(Bucket=bucket, Key="t")["TagCount"] == 1
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert tags(s3, bucket, "t") == {}
    assert tag_count(s3.get_object(Bucket=bucket, Key="t")) is None
    assert s3.get_object(Bucket=bucket, Key="t")["Body"].read() == b"data"
    # answered in key order, whatever order they came in (as Ceph's s3-tests expect)
    s3.put_object(Bucket=bucket, Key="o", Body=b"", Tagging="foo=bar&bar")
    assert s3.get_object_tagging(Bucket=bucket, Key="o")["TagSet"] == [
        {"Key": "bar", "Value": ""}, {"Key": "foo", "Value": "bar"}]
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=bucket, Key="missing")
    assert code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="missing", Tagging={"TagSet": []})
    assert code(e) == "NoSuchKey"


def test_tagging_per_version_keeps_data(s3, bucket):
    versioned(s3, bucket)
    v1 = s3.put_object(Bucket=bucket, Key="v", Body=b"first", Tagging="gen=1")
    v2 = s3.put_object(Bucket=bucket, Key="v", Body=b"second", Tagging="gen=2")
    r = s3.put_object_tagging(Bucket=bucket, Key="v", VersionId=v1["VersionId"],
                              Tagging={"TagSet": [{"Key": "gen", "Value": "old"}, {"Key": "k", "Value": "v"}]})
    assert r["VersionId"] == v1["VersionId"]
    assert tags(s3, bucket, "v", VersionId=v1["VersionId"]) == {"gen": "old", "k": "v"}
    assert tags(s3, bucket, "v") == {"gen": "2"}
    old = s3.get_object(Bucket=bucket, Key="v", VersionId=v1["VersionId"])
    assert old["Body"].read() == b"first" and old["ETag"] == v1["ETag"] and old["TagCount"] == 2
    # tagging the current version changes what GET of the key shows
    s3.put_object_tagging(Bucket=bucket, Key="v", Tagging={"TagSet": [{"Key": "now", "Value": "yes"}]})
    cur = s3.get_object(Bucket=bucket, Key="v")
    assert cur["TagCount"] == 1 and cur["VersionId"] == v2["VersionId"] and cur["Body"].read() == b"second"
    vs = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in vs] == [(v2["VersionId"], True), (v1["VersionId"], False)]
    s3.delete_object_tagging(Bucket=bucket, Key="v", VersionId=v1["VersionId"])
    assert tags(s3, bucket, "v", VersionId=v1["VersionId"]) == {}
    assert tags(s3, bucket, "v") == {"now": "yes"}
    # a delete marker has no tags: 404 as the current version, 405 by id
    marker = s3.delete_object(Bucket=bucket, Key="v")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=bucket, Key="v")
    assert code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="v", VersionId=marker, Tagging={"TagSet": []})
    assert code(e) == "MethodNotAllowed" and status(e) == 405
    assert tags(s3, bucket, "v", VersionId=v2["VersionId"]) == {"now": "yes"}


BAD_TAG_SETS = [
    ([{"Key": f"k{i}", "Value": "v"} for i in range(11)], "greater than 10"),
    ([{"Key": "k" * 129, "Value": "v"}], "TagKey you have provided is too long"),
    ([{"Key": "k", "Value": "v" * 257}], "TagValue you have provided is too long"),
    ([{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}], "same key"),
    ([{"Key": "a*b", "Value": "v"}], "TagKey you have provided is invalid"),
    ([{"Key": "k", "Value": "a#b"}], "TagValue you have provided is invalid"),
    ([{"Key": "aws:reserved", "Value": "v"}], "aws:"),
]


@pytest.mark.parametrize("tag_set,message", BAD_TAG_SETS)
def test_invalid_object_tags_change_nothing(s3, bucket, tag_set, message):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", Tagging="keep=me")
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="o", Tagging={"TagSet": tag_set})
    assert code(e) == "InvalidTag" and status(e) == 400
    assert message in e.value.response["Error"]["Message"]
    assert tags(s3, bucket, "o") == {"keep": "me"}
    header = urllib.parse.urlencode([(t["Key"], t["Value"]) for t in tag_set])
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="new", Body=b"x", Tagging=header)
    assert code(e) == "InvalidTag"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="new")
    assert status(e) == 404


def test_limits_at_the_edge_are_accepted(s3, bucket):
    ok = [{"Key": "k" * 128, "Value": "v" * 256}] + [{"Key": f"é{i}", "Value": "+-=._:/@ x"} for i in range(9)]
    s3.put_object(Bucket=bucket, Key="edge", Body=b"x")
    s3.put_object_tagging(Bucket=bucket, Key="edge", Tagging={"TagSet": ok})
    assert len(tags(s3, bucket, "edge")) == 10


def test_tagging_on_multipart_and_copy(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="from=mpu&n=1")
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"m" * 1024)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert tags(s3, bucket, "mp") == {"from": "mpu", "n": "1"}
    with pytest.raises(ClientError) as e:
        s3.create_multipart_upload(Bucket=bucket, Key="mp2", Tagging="k=1&k=2")
    assert code(e) == "InvalidTag"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    src = {"Bucket": bucket, "Key": "mp"}
    s3.copy_object(Bucket=bucket, Key="copied", CopySource=src)
    assert tags(s3, bucket, "copied") == {"from": "mpu", "n": "1"}
    s3.copy_object(Bucket=bucket, Key="copied2", CopySource=src, TaggingDirective="COPY", Tagging="ignored=1")
    assert tags(s3, bucket, "copied2") == {"from": "mpu", "n": "1"}
    s3.copy_object(Bucket=bucket, Key="replaced", CopySource=src, TaggingDirective="REPLACE", Tagging="new=tag")
    assert tags(s3, bucket, "replaced") == {"new": "tag"}
    s3.copy_object(Bucket=bucket, Key="cleared", CopySource=src, TaggingDirective="REPLACE")
    assert tags(s3, bucket, "cleared") == {}
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="bad", CopySource=src, TaggingDirective="REPLACE", Tagging="aws:x=1")
    assert code(e) == "InvalidTag"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")


def test_bucket_tagging(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(e) == "NoSuchTagSet" and status(e) == 404
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "storage"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "storage"}]
    fifty = [{"Key": f"k{i}", "Value": str(i)} for i in range(50)]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": fifty})
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50
    with pytest.raises(ClientError) as e:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": fifty + [{"Key": "one-more", "Value": ""}]})
    assert code(e) == "InvalidTag"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]})
    assert code(e) == "InvalidTag"
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(e) == "NoSuchTagSet"


# ---------------------------------------------------------------- item 7: errors and auth


def assert_complete_error(st, h, body, want_code, resource):
    rid = h.get("x-amz-request-id")
    assert rid, h
    assert xml_text(body, "Code") == [want_code], body
    msg = xml_text(body, "Message")
    assert len(msg) == 1 and msg[0] and msg[0] != "Unknown", body
    assert xml_text(body, "Resource") == [resource], body
    assert xml_text(body, "RequestId") == [rid], (body, rid)


def test_error_bodies_are_complete(s3, bucket):
    s3.put_object(Bucket=bucket, Key="x", Body=b"x")
    # from an operation (engine errors)
    st, h, body = raw("GET", f"/{bucket}/nope")
    assert st == 404
    assert_complete_error(st, h, body, "NoSuchKey", f"/{bucket}/nope")
    st, h, body = raw("GET", "/no-such-bucket-here/k")
    assert_complete_error(st, h, body, "NoSuchBucket", "/no-such-bucket-here/k")
    # from s3s (query validation, signature check)
    for bad in ("-1", "abc"):
        st, h, body = raw("GET", f"/{bucket}?list-type=2&max-keys={bad}")
        assert st == 400
        assert_complete_error(st, h, body, "InvalidArgument", f"/{bucket}")
    st, h, body = raw("GET", f"/{bucket}/x", creds=Credentials(os.environ["AWS_ACCESS_KEY_ID"], "wrong-secret"))
    assert st == 403
    assert_complete_error(st, h, body, "SignatureDoesNotMatch", f"/{bucket}/x")
    # from the front layer (header limits)
    st, h, body = raw("GET", f"/{bucket}/x", headers={"x-amz-meta-big": "v" * 20000})
    assert st == 400
    assert_complete_error(st, h, body, "RequestHeaderSectionTooLarge", f"/{bucket}/x")
    # success answers carry a request id too; ids differ per request
    a = s3.head_object(Bucket=bucket, Key="x")["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    b = s3.head_object(Bucket=bucket, Key="x")["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    assert a and b and a != b
    # HEAD errors have no body but the header; boto3 never shows "Unknown"
    st, h, body = raw("HEAD", f"/{bucket}/nope")
    assert st == 404 and h.get("x-amz-request-id") and body == b""
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="nope")
    err = e.value.response["Error"]
    assert err["Message"] == "The specified key does not exist."
    assert e.value.response["ResponseMetadata"]["RequestId"]


def test_anonymous_request_for_missing_bucket_is_404(s3, bucket):
    anon = anonymous()
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket="no-such-bucket-" + uuid.uuid4().hex[:8], Key="k")
    assert code(e) == "NoSuchBucket" and status(e) == 404
    with pytest.raises(ClientError) as e:
        anon.list_objects_v2(Bucket="no-such-bucket-" + uuid.uuid4().hex[:8])
    assert code(e) == "NoSuchBucket"
    # an existing private bucket stays 403, for existing and missing keys alike
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    for key in ("k", "missing"):
        with pytest.raises(ClientError) as e:
            anon.get_object(Bucket=bucket, Key=key)
        assert code(e) == "AccessDenied" and status(e) == 403
    st, h, body = raw("PUT", f"/{bucket}/k", body=b"defaced", sign=False)
    assert st == 403 and xml_text(body, "Code") == ["AccessDenied"]
    # anonymous CreateBucket is refused, not "no such bucket"
    st, _, body = raw("PUT", "/anon-" + uuid.uuid4().hex[:8], sign=False)
    assert st == 403 and xml_text(body, "Code") == ["AccessDenied"]


def expect_expired(url, method="GET", data=None):
    req = urllib.request.Request(url, data=data, method=method)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    body = e.value.read()
    assert e.value.code == 403, body
    assert xml_text(body, "Code") == ["AccessDenied"]
    assert xml_text(body, "Message") == ["Request has expired"]


def test_expired_presigned_urls_are_403(s3, bucket):
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p"},
                                    ExpiresIn=0, HttpMethod="PUT")
    expect_expired(put, "PUT", b"foo")
    expect_expired(s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=0))
    # a negative expiry: 403 as AWS answers it (not "expired", and not 400)
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p"},
                                    ExpiresIn=-1000, HttpMethod="PUT")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(put, data=b"foo", method="PUT"), timeout=30)
    body = e.value.read()
    assert e.value.code == 403
    assert xml_text(body, "Code") == ["AuthorizationQueryParametersError"]
    assert xml_text(body, "Message") == ["X-Amz-Expires must be non-negative"]
    # signed an hour ago for 60 s (no sleeping: botocore's clock is moved)
    hour_ago = lambda: datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)  # noqa: E731
    with mock.patch("botocore.auth.get_current_datetime", hour_ago):
        put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p"},
                                        ExpiresIn=60, HttpMethod="PUT")
    expect_expired(put, "PUT", b"foo")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="p")
    assert status(e) == 404


def test_create_bucket_you_own(s3, bucket):
    region = REGION
    if region == "us-east-1":
        # AWS's legacy rule in us-east-1: 200, nothing changes
        s3.put_object(Bucket=bucket, Key="kept", Body=b"x")
        r = s3.create_bucket(Bucket=bucket)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"x"
    else:
        with pytest.raises(ClientError) as e:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        assert code(e) == "BucketAlreadyOwnedByYou" and status(e) == 409


# ---------------------------------------------------------------- item 8: listings


def test_empty_delimiter_is_no_delimiter(s3, bucket):
    for k in ("a/1", "a/2", "b"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    for query in ("list-type=2&delimiter=", "delimiter=", "versions&delimiter="):
        st, _, body = raw("GET", f"/{bucket}?{query}")
        assert st == 200, body
        assert b"<Delimiter" not in body, (query, body)
        assert b"<CommonPrefixes>" not in body, (query, body)
        assert sorted(xml_text(body, "Key")) == ["a/1", "a/2", "b"], (query, body)


def q(v):
    return urllib.parse.quote(v, safe="")


def test_url_encoding_covers_every_echoed_name(s3, bucket):
    keys = ["dir one/a+b.txt", "dir one/c&d.txt", "dir one/sub dir/e.txt", "plain"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    pre, delim, after = "dir one/", " ", "dir one/a+b.txt"
    enc = lambda s: urllib.parse.quote(s, safe="/~")  # noqa: E731 - what liuma sends (%20, %2B)

    # v2: Prefix, Delimiter, StartAfter, Key, CommonPrefixes
    st, _, body = raw("GET", f"/{bucket}?list-type=2&encoding-type=url&prefix={q(pre)}&delimiter=%2F"
                             f"&start-after={q(after)}")
    assert st == 200, body
    assert xml_text(body, "Prefix")[0] == enc(pre)
    assert xml_text(body, "StartAfter") == [enc(after)]
    assert xml_text(body, "Key") == [enc("dir one/c&d.txt")]
    assert xml_text(body, "Prefix")[1:] == [enc("dir one/sub dir/")]
    # a delimiter that needs encoding
    st, _, body = raw("GET", f"/{bucket}?list-type=2&encoding-type=url&delimiter={q(delim)}")
    assert xml_text(body, "Delimiter") == ["%20"]
    assert xml_text(body, "Prefix")[1:] == ["dir%20"]

    # v1: Prefix, Marker, NextMarker, Delimiter
    st, _, body = raw("GET", f"/{bucket}?encoding-type=url&prefix={q(pre)}&marker={q(after)}&max-keys=1&delimiter=%2F")
    assert xml_text(body, "Marker") == [enc(after)]
    assert xml_text(body, "NextMarker") == [enc("dir one/c&d.txt")]
    assert xml_text(body, "Delimiter") == ["/"]

    # versions: Prefix, KeyMarker, NextKeyMarker
    st, _, body = raw("GET", f"/{bucket}?versions&encoding-type=url&prefix={q(pre)}&key-marker={q(after)}&max-keys=1")
    assert xml_text(body, "KeyMarker") == [enc(after)]
    assert xml_text(body, "NextKeyMarker") == [enc("dir one/c&d.txt")]
    assert xml_text(body, "Key") == [enc("dir one/c&d.txt")]

    # boto3 decodes all of it back
    r = s3.list_objects_v2(Bucket=bucket, Prefix=pre, Delimiter="/", StartAfter=after)
    assert r["Prefix"] == pre and r["StartAfter"] == after
    assert [c["Prefix"] for c in r["CommonPrefixes"]] == ["dir one/sub dir/"]


def test_list_buckets_pagination(s3):
    tag = uuid.uuid4().hex[:8]
    names = sorted(f"lb-{tag}-{i}" for i in range(5))
    for n in names:
        s3.create_bucket(Bucket=n)
    try:
        seen, token, pages = [], None, 0
        while True:
            kw = {"MaxBuckets": 2, "Prefix": f"lb-{tag}-"}
            if token:
                kw["ContinuationToken"] = token
            r = s3.list_buckets(**kw)
            pages += 1
            assert r["Prefix"] == f"lb-{tag}-"
            seen += [b["Name"] for b in r["Buckets"]]
            assert all(b["BucketRegion"] == REGION for b in r["Buckets"])
            token = r.get("ContinuationToken")
            if not token:
                break
        assert seen == names and pages == 3
        assert [b["Name"] for b in s3.get_paginator("list_buckets").paginate(
            Prefix=f"lb-{tag}-", PaginationConfig={"PageSize": 4}).build_full_result()["Buckets"]] == names
        assert s3.list_buckets(Prefix=f"lb-{tag}-", BucketRegion="xx-nowhere-1")["Buckets"] == []
        # (boto3 refuses these itself: raw requests)
        for bad in ("max-buckets=0", "max-buckets=10001", "max-buckets=x", "continuation-token=%21%21"):
            st, h, body = raw("GET", f"/?{bad}")
            assert st == 400 and xml_text(body, "Code") == ["InvalidArgument"], (bad, body)
    finally:
        for n in names:
            s3.delete_bucket(Bucket=n)
