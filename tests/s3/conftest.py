"""Shared fixtures for the S3 suites: a liuma node started by the Rust
process test (crates/liuma-server/tests/it/s3.rs), reached through env:

  LIUMA_S3_ENDPOINT       http://127.0.0.1:PORT
  AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY   the root key
  LIUMA_ADMIN_URL / LIUMA_ADMIN_TOKEN         the admin API (key management)
  LIUMA_BIN               the liuma binary (for `liuma key ...`)
  LIUMA_S3_REGION         the node's region when not us-east-1
"""

import contextlib
import hashlib
import os
import urllib.error
import urllib.request
import uuid

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

ENDPOINT = os.environ.get("LIUMA_S3_ENDPOINT", "http://127.0.0.1:9000")
# The node's region (liuma serve --s3-region); us-east-1 unless a test starts it elsewhere.
REGION = os.environ.get("LIUMA_S3_REGION", "us-east-1")


def make_client(access_key=None, secret_key=None, **cfg):
    cfg.setdefault("signature_version", "s3v4")
    config = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
        **cfg,
    )
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=access_key or os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=secret_key or os.environ["AWS_SECRET_ACCESS_KEY"],
        config=config,
    )


@pytest.fixture(scope="session")
def s3():
    return make_client()


@pytest.fixture
def bucket(s3):
    name = "t-" + uuid.uuid4().hex[:16]
    s3.create_bucket(Bucket=name)
    yield name
    # best-effort cleanup: every version and upload, then the bucket
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
        for u in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=name, Key=u["Key"], UploadId=u["UploadId"])
        s3.delete_bucket(Bucket=name)
    except Exception:  # noqa: BLE001 - cleanup must not mask the test's own failure
        pass


def raw(method, path, body=b"", headers=None, sign=True, creds=None):
    """A hand-made request (signed with SigV4 unless sign=False): (status, headers, body)."""
    url = ENDPOINT + path
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    if sign:
        c = creds or Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
        S3SigV4Auth(c, "s3", REGION).add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(url, data=body if body else None, method=method, headers=dict(prepared.headers.items()))
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def code(exc_info):
    """The S3 error code of a `pytest.raises(ClientError)` result."""
    return exc_info.value.response["Error"]["Code"]


def status(exc_info):
    """The HTTP status of a `pytest.raises(ClientError)` result."""
    return exc_info.value.response["ResponseMetadata"]["HTTPStatusCode"]


@contextlib.contextmanager
def unchanged(s3, bucket):
    """Assert the bucket's objects and contents are the same after the block."""
    before = snapshot(s3, bucket)
    yield
    assert snapshot(s3, bucket) == before


def snapshot(s3, bucket):
    """Every current object of a bucket with the SHA-256 of its content."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            out[o["Key"]] = hashlib.sha256(body).hexdigest()
    return out
