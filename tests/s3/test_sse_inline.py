"""Small encrypted objects are sealed into their record (issue #19, the
cost of SSE): an SSE-S3 or SSE-C object up to the inline threshold stores
no block (like a plain small object), reads back whole and by range,
copies between encryption modes, and leaves no plaintext anywhere under
the data dir (the metadata store included)."""

import os

import pytest
from botocore.exceptions import ClientError

from conftest import code, status
from test_sse import census, found_on_disk, ssec


def test_small_encrypted_objects_store_no_block(s3, bucket):
    before = census()
    key = os.urandom(32)
    data = os.urandom(4096)
    s3.put_object(Bucket=bucket, Key="s", Body=data, ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="c", Body=data, **ssec(key))
    s3.put_object(Bucket=bucket, Key="empty", Body=b"", ServerSideEncryption="AES256")
    assert census() == before, "sealed inline: no block"
    assert s3.get_object(Bucket=bucket, Key="s")["Body"].read() == data
    assert s3.get_object(Bucket=bucket, Key="c", **ssec(key))["Body"].read() == data
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""
    r = s3.get_object(Bucket=bucket, Key="s", Range="bytes=100-199")
    assert r["Body"].read() == data[100:200]
    r = s3.get_object(Bucket=bucket, Key="c", Range="bytes=-10", **ssec(key))
    assert r["Body"].read() == data[-10:]
    head = s3.head_object(Bucket=bucket, Key="s")
    assert head["ServerSideEncryption"] == "AES256" and head["ContentLength"] == 4096
    # one byte over the threshold: a block, as before
    s3.put_object(Bucket=bucket, Key="big", Body=data + b"x", ServerSideEncryption="AES256")
    assert census() == before + 1
    # the wrong key is still refused, with no bytes
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", **ssec(os.urandom(32)))
    assert status(e) == 403 and code(e) == "AccessDenied"


def test_small_encrypted_objects_copy_between_modes(s3, bucket):
    key = os.urandom(32)
    data = os.urandom(1500)
    src = {"Bucket": bucket, "Key": "s"}
    s3.put_object(Bucket=bucket, Key="s", Body=data, ServerSideEncryption="AES256")
    s3.copy_object(Bucket=bucket, Key="s2", CopySource=src, ServerSideEncryption="AES256")
    s3.copy_object(Bucket=bucket, Key="c", CopySource=src, **ssec(key))
    s3.copy_object(Bucket=bucket, Key="p", CopySource=src)
    assert s3.get_object(Bucket=bucket, Key="s2")["Body"].read() == data
    assert s3.get_object(Bucket=bucket, Key="c", **ssec(key))["Body"].read() == data
    plain = s3.get_object(Bucket=bucket, Key="p")
    assert "ServerSideEncryption" not in plain and plain["Body"].read() == data
    back = s3.copy_object(
        Bucket=bucket, Key="s3", ServerSideEncryption="AES256",
        CopySource={"Bucket": bucket, "Key": "c"},
        CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=key)
    assert back["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="s3")["Body"].read() == data


def test_no_plaintext_of_small_encrypted_objects_on_disk(s3, bucket):
    def windows(data):
        return [data[i:i + 32] for i in range(0, len(data) - 32, 400)]
    enc_s3, enc_c, plain = os.urandom(3000), os.urandom(3000), os.urandom(3000)
    s3.put_object(Bucket=bucket, Key="s", Body=enc_s3, ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="c", Body=enc_c, **ssec(os.urandom(32)))
    s3.put_object(Bucket=bucket, Key="p", Body=plain)
    assert found_on_disk(windows(enc_s3)) == set(), "SSE-S3 plaintext in the metadata"
    assert found_on_disk(windows(enc_c)) == set(), "SSE-C plaintext in the metadata"
    assert found_on_disk(windows(plain)), "the scan finds a plain small object"
