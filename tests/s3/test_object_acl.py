"""Object ACLs (issue #15): Put/GetObjectAcl (canned, x-amz-grant-* headers,
XML body, versionId) and the canned ACL / grant headers of PutObject,
CopyObject and CreateMultipartUpload; what the ACL lets other users and
anonymous clients do; BlockPublicAcls, IgnorePublicAcls and
BucketOwnerEnforced/Preferred; refused requests store nothing."""

import json
import uuid

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError
from conftest import code, make_client, status
from test_users import alice, bob, ok  # noqa: F401 - fixtures shared with the users suite

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def anon():
    return make_client(signature_version=UNSIGNED)


def grants(s3, bucket, key, **kw):
    out = s3.get_object_acl(Bucket=bucket, Key=key, **kw)
    return {(g["Grantee"].get("ID") or g["Grantee"].get("URI"), g["Permission"]) for g in out["Grants"]}


def error(fn, **kw):
    with pytest.raises(ClientError) as e:
        fn(**kw)
    return status(e), code(e)


def owner_id(s3, bucket):
    return s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]


def test_put_get_object_acl_round_trips(s3, bucket):
    me = owner_id(s3, bucket)
    other = ok("POST", "/admin/users", {"name": "grantee-" + uuid.uuid4().hex[:8]})["canonical_id"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    out = s3.get_object_acl(Bucket=bucket, Key="k")
    assert out["Owner"]["ID"] == me and out["Owner"]["DisplayName"]
    assert grants(s3, bucket, "k") == {(me, "FULL_CONTROL")}, "private by default"
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    assert grants(s3, bucket, "k") == {(me, "FULL_CONTROL"), (ALL_USERS, "READ")}
    s3.put_object_acl(Bucket=bucket, Key="k", GrantRead=f'id="{other}"', GrantFullControl=f"id={me}")
    assert grants(s3, bucket, "k") == {(me, "FULL_CONTROL"), (other, "READ")}
    body = {"Owner": {"ID": me}, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": me}, "Permission": "FULL_CONTROL"},
        {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"},
        {"Grantee": {"Type": "CanonicalUser", "ID": other}, "Permission": "READ_ACP"}]}
    s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy=body)
    assert grants(s3, bucket, "k") == {(me, "FULL_CONTROL"), (ALL_USERS, "READ"), (other, "READ_ACP")}
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    assert grants(s3, bucket, "k") == {(me, "FULL_CONTROL")}
    assert error(s3.get_object_acl, Bucket=bucket, Key="missing")[:2] == (404, "NoSuchKey")
    assert error(s3.put_object_acl, Bucket=bucket, Key="missing", ACL="public-read") == (404, "NoSuchKey")


def test_object_acl_per_version(s3, bucket):
    me = owner_id(s3, bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"1", ACL="public-read")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"2")["VersionId"]
    assert grants(s3, bucket, "k", VersionId=v1) == {(me, "FULL_CONTROL"), (ALL_USERS, "READ")}
    assert grants(s3, bucket, "k") == {(me, "FULL_CONTROL")}
    s3.put_object_acl(Bucket=bucket, Key="k", VersionId=v2, ACL="authenticated-read")
    s3.put_object_acl(Bucket=bucket, Key="k", VersionId=v1, ACL="private")
    assert grants(s3, bucket, "k", VersionId=v1) == {(me, "FULL_CONTROL")}
    assert (me, "FULL_CONTROL") in grants(s3, bucket, "k", VersionId=v2)
    assert len(grants(s3, bucket, "k")) == 2


def test_acl_on_put_copy_and_multipart(s3, bucket):
    me = owner_id(s3, bucket)
    public = {(me, "FULL_CONTROL"), (ALL_USERS, "READ")}
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", ACL="public-read")
    assert grants(s3, bucket, "src") == public
    # The copy gets the ACL of its own request, never the source's.
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "src"})
    assert grants(s3, bucket, "copy") == {(me, "FULL_CONTROL")}
    s3.copy_object(Bucket=bucket, Key="copy2", CopySource={"Bucket": bucket, "Key": "copy"},
                   GrantRead=f'uri="{ALL_USERS}"')
    assert grants(s3, bucket, "copy2") == {(ALL_USERS, "READ")}
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ACL="public-read")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"p")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert grants(s3, bucket, "mp") == public
    assert anon().get_object(Bucket=bucket, Key="mp")["Body"].read() == b"p"


def test_other_user_reads_by_grant(alice, bob):
    b = alice.bucket()
    alice.s3.put_object(Bucket=b, Key="shared", Body=b"s", GrantRead=f'id="{bob.canonical_id}"')
    alice.s3.put_object(Bucket=b, Key="mine", Body=b"m")
    assert bob.s3.get_object(Bucket=b, Key="shared")["Body"].read() == b"s"
    assert error(bob.s3.get_object, Bucket=b, Key="mine") == (403, "AccessDenied")
    # READ is not READ_ACP: a stranger may not read or change the ACL.
    assert error(bob.s3.get_object_acl, Bucket=b, Key="shared") == (403, "AccessDenied")
    assert error(bob.s3.get_object_acl, Bucket=b, Key="mine") == (403, "AccessDenied")
    assert error(bob.s3.put_object_acl, Bucket=b, Key="mine", ACL="public-read") == (403, "AccessDenied")
    assert grants(alice.s3, b, "mine") == {(alice.canonical_id, "FULL_CONTROL")}
    # Granting READ_ACP opens GetObjectAcl to bob; the Owner is alice.
    alice.s3.put_object_acl(Bucket=b, Key="mine", GrantReadACP=f"id={bob.canonical_id}")
    out = bob.s3.get_object_acl(Bucket=b, Key="mine")
    assert out["Owner"] == {"ID": alice.canonical_id, "DisplayName": alice.name}


def test_anonymous_public_read_object(s3, alice):
    b = alice.bucket()
    alice.s3.put_object(Bucket=b, Key="pub", Body=b"hello", ACL="public-read")
    alice.s3.put_object(Bucket=b, Key="priv", Body=b"no")
    a = anon()
    assert a.get_object(Bucket=b, Key="pub")["Body"].read() == b"hello"
    assert error(a.get_object, Bucket=b, Key="priv") == (403, "AccessDenied")
    assert error(a.list_objects_v2, Bucket=b) == (403, "AccessDenied"), "the bucket stays private"
    alice.s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": True,
        "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
    assert error(a.get_object, Bucket=b, Key="pub") == (403, "AccessDenied")
    alice.s3.delete_public_access_block(Bucket=b)
    assert a.get_object(Bucket=b, Key="pub")["Body"].read() == b"hello"


def test_block_public_acls(s3, bucket):
    me = owner_id(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": False,
        "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
    assert error(s3.put_object, Bucket=bucket, Key="new", Body=b"x", ACL="public-read") == (403, "AccessDenied")
    assert error(s3.head_object, Bucket=bucket, Key="new")[0] == 404, "nothing stored"
    assert error(s3.create_multipart_upload, Bucket=bucket, Key="mp", ACL="public-read") == (403, "AccessDenied")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert error(s3.copy_object, Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "k"},
                 GrantRead=f'uri="{ALL_USERS}"') == (403, "AccessDenied")
    assert error(s3.head_object, Bucket=bucket, Key="c")[0] == 404
    assert error(s3.put_object_acl, Bucket=bucket, Key="k", ACL="public-read") == (403, "AccessDenied")
    assert grants(s3, bucket, "k") == {(me, "FULL_CONTROL")}
    s3.put_object(Bucket=bucket, Key="ok", Body=b"x", ACL="private")


def test_bucket_owner_enforced(s3, bucket):
    me = owner_id(s3, bucket)
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert error(s3.put_object, Bucket=bucket, Key="k", Body=b"x", ACL="public-read") == \
        (400, "AccessControlListNotSupported")
    assert error(s3.head_object, Bucket=bucket, Key="k")[0] == 404, "nothing stored"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    assert error(s3.put_object_acl, Bucket=bucket, Key="k", ACL="public-read") == \
        (400, "AccessControlListNotSupported")
    assert grants(s3, bucket, "k") == {(me, "FULL_CONTROL")}


def test_bucket_owner_preferred(alice, bob):
    b = alice.bucket()
    alice.s3.put_bucket_ownership_controls(Bucket=b, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": [bob.name]}, "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{b}/*"}]}
    alice.s3.put_bucket_policy(Bucket=b, Policy=json.dumps(policy))
    bob.s3.put_object(Bucket=b, Key="given", Body=b"g", ACL="bucket-owner-full-control")
    bob.s3.put_object(Bucket=b, Key="kept", Body=b"k", ACL="bucket-owner-read")
    assert alice.s3.get_object_acl(Bucket=b, Key="given")["Owner"]["ID"] == alice.canonical_id
    kept = alice.s3.get_object_acl(Bucket=b, Key="kept")
    assert kept["Owner"]["ID"] == bob.canonical_id
    assert {(g["Grantee"]["ID"], g["Permission"]) for g in kept["Grants"]} == {
        (bob.canonical_id, "FULL_CONTROL"), (alice.canonical_id, "READ")}


@pytest.mark.parametrize("header", ['id="not-a-canonical-id"', 'emailAddress="a@b.c"',
                                    'uri="http://example.com/everyone"',
                                    # well formed, but no user has it (AWS: "Invalid id")
                                    'id="' + "e" * 64 + '"'])
def test_bad_grantee_stores_nothing(s3, bucket, header):
    me = owner_id(s3, bucket)
    assert error(s3.put_object, Bucket=bucket, Key="k", Body=b"x", GrantRead=header) == (400, "InvalidArgument")
    assert error(s3.head_object, Bucket=bucket, Key="k")[0] == 404, "nothing stored"
    assert error(s3.create_multipart_upload, Bucket=bucket, Key="k", GrantRead=header) == (400, "InvalidArgument")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error(s3.put_object_acl, Bucket=bucket, Key="k", GrantRead=header) == (400, "InvalidArgument")
    assert grants(s3, bucket, "k") == {(me, "FULL_CONTROL")}
    assert error(s3.put_object_acl, Bucket=bucket, Key="k", ACL="public-read",
                 GrantRead=f'uri="{ALL_USERS}"') == (400, "InvalidRequest")
    assert error(s3.put_object_acl, Bucket=bucket, Key="k", ACL="nonsense")[0] == 400
    assert grants(s3, bucket, "k") == {(me, "FULL_CONTROL")}
