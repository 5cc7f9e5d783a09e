"""Integrity checks and signing rules (issue #11), each asserting the exact
error AND that nothing was stored or deleted.

Run by crates/liuma-server/tests/it/security.rs: `test_sigv2_allowed_*`
against a node started with --s3-allow-sigv2, the rest against a default node.
"""

import base64
import hashlib
import urllib.error
import urllib.request

import os

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from conftest import ENDPOINT, REGION, make_client, raw


def code(e):
    return e.value.response["Error"]["Code"]


def status(e):
    return e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def keys(s3, bucket):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def xml_code(body):
    text = body.decode(errors="replace")
    return text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in text else text


def b64md5(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


# ------------------------------------------------------------ DeleteObjects


def delete_body(*names):
    objs = "".join(f"<Object><Key>{n}</Key></Object>" for n in names)
    return f'<?xml version="1.0" encoding="UTF-8"?><Delete>{objs}</Delete>'.encode()


def test_delete_objects_wrong_md5_is_bad_digest_and_deletes_nothing(s3, bucket):
    for k in ("a", "b"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    body = delete_body("a", "b")
    st, _, out = raw("POST", f"/{bucket}?delete", body, {"Content-MD5": b64md5(b"something else")})
    assert st == 400 and xml_code(out) == "BadDigest", out
    assert keys(s3, bucket) == ["a", "b"]
    # A malformed digest is InvalidDigest, and deletes nothing either.
    st, _, out = raw("POST", f"/{bucket}?delete", body, {"Content-MD5": "not-base64!"})
    assert st == 400 and xml_code(out) == "InvalidDigest", out
    assert keys(s3, bucket) == ["a", "b"]
    # The right digest deletes; no digest at all is accepted too (AWS now
    # also takes an x-amz-checksum-* instead of Content-MD5).
    st, _, out = raw("POST", f"/{bucket}?delete", delete_body("a"), {"Content-MD5": b64md5(delete_body("a"))})
    assert st == 200, out
    assert keys(s3, bucket) == ["b"]
    st, _, out = raw("POST", f"/{bucket}?delete", delete_body("b"))
    assert st == 200, out
    assert keys(s3, bucket) == []


# ------------------------------------------------------ x-amz-content-sha256


def put_swapped(path, signed_body, sent_body):
    """PUT `sent_body` with a valid SigV4 signature over `signed_body`: the
    signed x-amz-content-sha256 names the other body (botocore computes it)."""
    url = ENDPOINT + path
    req = AWSRequest(method="PUT", url=url, data=signed_body)
    creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    S3SigV4Auth(creds, "s3", REGION).add_auth(req)
    headers = dict(req.prepare().headers.items())
    headers["Content-Length"] = str(len(sent_body))
    r = urllib.request.Request(url, data=sent_body, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_payload_sha256_mismatch_stores_nothing(s3, bucket):
    st, out = put_swapped(f"/{bucket}/k", b"another body", b"the real body")
    assert st == 400 and xml_code(out) == "XAmzContentSHA256Mismatch", out
    assert keys(s3, bucket) == []
    # Same for a body above the inline threshold (block path).
    st, out = put_swapped(f"/{bucket}/big", b"y" * (300 << 10), b"z" * (300 << 10))
    assert st == 400 and xml_code(out) == "XAmzContentSHA256Mismatch", out
    assert keys(s3, bucket) == []
    # And the matching hash is accepted.
    st, out = put_swapped(f"/{bucket}/k", b"the real body", b"the real body")
    assert st == 200, out
    assert keys(s3, bucket) == ["k"]


# -------------------------------------------------------------------- CORS


def test_cors_over_64k_is_malformed_xml_and_not_stored(s3, bucket):
    rule = {"AllowedOrigins": ["https://" + "o" * 1000 + ".example"], "AllowedMethods": ["GET"]}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule] * 80})
    assert status(e) == 400 and code(e) == "MalformedXML"
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert code(e) == "NoSuchCORSConfiguration"
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
    assert len(s3.get_bucket_cors(Bucket=bucket)["CORSRules"]) == 1


# -------------------------------------------------------------------- keys


def test_nul_in_key_is_invalid_argument(s3, bucket):
    st, _, out = raw("PUT", f"/{bucket}/a%00b", b"data")
    assert st == 400 and xml_code(out) == "InvalidArgument", out
    assert keys(s3, bucket) == []
    st, _, out = raw("PUT", f"/{bucket}/" + "k" * 1025, b"data")
    assert st == 400 and xml_code(out) == "KeyTooLongError", out
    assert keys(s3, bucket) == []


def test_empty_key_stores_nothing(s3, bucket):
    # An empty key in DeleteObjects is refused per key (InvalidArgument).
    s3.put_object(Bucket=bucket, Key="keep", Body=b"x")
    # (boto3 refuses an empty Key itself, so the request is made by hand.)
    st, _, out = raw("POST", f"/{bucket}?delete", delete_body(""))
    assert st == 200 and "<Error>" in out.decode() and xml_code(out) == "InvalidArgument", out
    # PUT /bucket/ is CreateBucket in S3's grammar: never an object with an empty key.
    st, _, out = raw("PUT", f"/{bucket}/", b"")
    assert 400 <= st < 500 or st == 200, out
    assert keys(s3, bucket) == ["keep"]


# ------------------------------------------------------ presigned and SigV2


def test_presigned_expiry_capped_at_seven_days(s3, bucket):
    s3.put_object(Bucket=bucket, Key="p", Body=b"presigned")
    ok = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=604800)
    with urllib.request.urlopen(ok) as r:
        assert r.read() == b"presigned"
    long = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=604801)
    assert "X-Amz-Expires=604801" in long
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(long)
    assert e.value.code == 403 and xml_code(e.value.read()) == "AuthorizationQueryParametersError"
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "q"}, ExpiresIn=10**6)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(put, data=b"no", method="PUT"))
    assert e.value.code == 403
    assert keys(s3, bucket) == ["p"]


def test_sigv2_refused_by_default(s3, bucket):
    v2 = make_client(signature_version="s3")
    with pytest.raises(ClientError) as e:
        v2.put_object(Bucket=bucket, Key="v2", Body=b"x")
    assert status(e) == 400 and code(e) == "InvalidRequest"
    s3.put_object(Bucket=bucket, Key="v4", Body=b"x")
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v4"}, ExpiresIn=60)
    assert "Signature=" in url and "X-Amz-Signature" not in url
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url)
    assert e.value.code == 400 and xml_code(e.value.read()) == "InvalidRequest"
    assert keys(s3, bucket) == ["v4"]


def test_sigv2_allowed_with_the_flag_and_capped(s3, bucket):
    v2 = make_client(signature_version="s3")
    v2.put_object(Bucket=bucket, Key="v2", Body=b"sigv2 body")
    assert v2.get_object(Bucket=bucket, Key="v2")["Body"].read() == b"sigv2 body"
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2"}, ExpiresIn=3600)
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"sigv2 body"
    long = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2"}, ExpiresIn=604800 + 3600)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(long)
    assert e.value.code == 403 and xml_code(e.value.read()) == "AuthorizationQueryParametersError"
