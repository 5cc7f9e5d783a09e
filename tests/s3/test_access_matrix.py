"""The access matrix (issue #15): every S3 action the API has, tried by
the bucket's owner, another user, another user a bucket policy grants, a
user whose identity policy grants reads only, an anonymous caller on a
private bucket and an anonymous caller on a public-read bucket, through
boto3. Each cell is the expected allow or 403 AccessDenied; after every
refusal the bucket's objects (keys and contents) are checked unchanged.

Every request goes through the one access decision of the S3 front
(`liuma-s3/src/authz.rs`); this test is what proves no operation skips it."""

import json
import uuid

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError
from conftest import code, make_client, snapshot, status
from test_users import User, ok

ALLOW, DENY = "allow", "deny"

# (name, call(client, bucket, scratch_key), reads_only, public_read_allows)
# Each call is one S3 action; a write uses a fresh key so that an allowed
# write leaves the shared objects as they were.
ACTIONS = [
    ("ListObjectsV2", lambda c, b, k: c.list_objects_v2(Bucket=b), True, True),
    ("ListObjects", lambda c, b, k: c.list_objects(Bucket=b), True, True),
    ("HeadBucket", lambda c, b, k: c.head_bucket(Bucket=b), True, True),
    ("GetObject", lambda c, b, k: c.get_object(Bucket=b, Key="shared")["Body"].read(), True, True),
    ("HeadObject", lambda c, b, k: c.head_object(Bucket=b, Key="shared"), True, True),
    ("GetObjectTagging", lambda c, b, k: c.get_object_tagging(Bucket=b, Key="shared"), False, False),
    ("ListObjectVersions", lambda c, b, k: c.list_object_versions(Bucket=b), False, False),
    ("ListMultipartUploads", lambda c, b, k: c.list_multipart_uploads(Bucket=b), False, False),
    ("GetBucketVersioning", lambda c, b, k: c.get_bucket_versioning(Bucket=b), False, False),
    ("GetBucketLocation", lambda c, b, k: c.get_bucket_location(Bucket=b), False, False),
    ("GetBucketAcl", lambda c, b, k: c.get_bucket_acl(Bucket=b), False, False),
    ("GetObjectAcl", lambda c, b, k: c.get_object_acl(Bucket=b, Key="shared"), False, False),
    ("PutObjectAcl", lambda c, b, k: c.put_object_acl(Bucket=b, Key="shared", ACL="private"), False, False),
    ("PutObject", lambda c, b, k: c.put_object(Bucket=b, Key=k, Body=b"new"), False, False),
    ("CopyObject", lambda c, b, k: c.copy_object(Bucket=b, Key=k, CopySource={"Bucket": b, "Key": "shared"}), False, False),
    ("CreateMultipartUpload", lambda c, b, k: c.create_multipart_upload(Bucket=b, Key=k), False, False),
    ("PutObjectTagging", lambda c, b, k: c.put_object_tagging(
        Bucket=b, Key="shared", Tagging={"TagSet": [{"Key": "t", "Value": "v"}]}), False, False),
    ("DeleteObject", lambda c, b, k: c.delete_object(Bucket=b, Key="shared"), False, False),
    ("DeleteObjects", lambda c, b, k: c.delete_objects(
        Bucket=b, Delete={"Objects": [{"Key": "shared"}]}), False, False),
    ("PutBucketVersioning", lambda c, b, k: c.put_bucket_versioning(
        Bucket=b, VersioningConfiguration={"Status": "Enabled"}), False, False),
    ("PutBucketCors", lambda c, b, k: c.put_bucket_cors(Bucket=b, CORSConfiguration={
        "CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]}), False, False),
    ("PutBucketTagging", lambda c, b, k: c.put_bucket_tagging(
        Bucket=b, Tagging={"TagSet": [{"Key": "t", "Value": "v"}]}), False, False),
    ("GetBucketPolicy", lambda c, b, k: c.get_bucket_policy(Bucket=b), False, False),
    ("DeleteBucketPolicy", lambda c, b, k: c.delete_bucket_policy(Bucket=b), False, False),
    ("DeleteBucket", lambda c, b, k: c.delete_bucket(Bucket=b), False, False),
]

# Errors that mean "the request was let through" (the operation itself
# answered): the access decision allowed it.
LET_THROUGH = {"NoSuchBucketPolicy", "NoSuchTagSet", "BucketNotEmpty", "NoSuchCORSConfiguration"}


def attempt(client, bucket, name, call):
    """ALLOW or DENY for one call; anything but AccessDenied fails the test."""
    try:
        out = call(client, bucket, "w-" + uuid.uuid4().hex[:8])
        # DeleteObjects answers 200 and refuses key by key, as AWS does.
        errors = out.get("Errors") if isinstance(out, dict) else None
        if errors:
            assert all(e["Code"] == "AccessDenied" for e in errors), errors
            return DENY
        return ALLOW
    except ClientError as e:
        c = e.response["Error"]["Code"]
        if c in LET_THROUGH:
            return ALLOW
        st = e.response["ResponseMetadata"]["HTTPStatusCode"]
        # HEAD answers carry no error body: 403 is the refusal.
        if c in ("AccessDenied", "403") and st == 403:
            return DENY
        raise AssertionError(f"{name}: unexpected {c} ({st})") from e


def anonymous():
    return make_client(signature_version=UNSIGNED)


def reads_policy(bucket, principal):
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{bucket}/*"},
            {"Effect": "Allow", "Principal": principal, "Action": "s3:ListBucket",
             "Resource": f"arn:aws:s3:::{bucket}"},
        ],
    })


@pytest.fixture
def world(s3):
    """alice owns a bucket with one object; bob is a stranger; carol is
    granted everything by alice's bucket policy; dave holds an identity
    policy granting reads of alice's bucket."""
    users = {n: User() for n in ("alice", "bob", "carol", "dave")}
    alice = users["alice"]
    bucket = alice.bucket()
    alice.s3.put_object(Bucket=bucket, Key="shared", Body=b"shared bytes")
    carol_arn = f"arn:aws:iam:::user/{users['carol'].name}"
    alice.s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": [carol_arn]}, "Action": "s3:*",
                       "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}],
    }))
    ok("PUT", f"/admin/users/{users['dave'].name}/policies/reads",
       {"policy": json.dumps({"Version": "2012-10-17", "Statement": [
           {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]})})
    yield users, bucket
    for u in users.values():
        u.cleanup(s3)


def expected(who, reads_only, public_read_allows):
    return {
        "owner": ALLOW,
        "bob": DENY,
        "carol": ALLOW,
        "dave": ALLOW if reads_only else DENY,
        "anonymous": DENY,
    }[who]


@pytest.mark.parametrize("action", ACTIONS, ids=[a[0] for a in ACTIONS])
def test_matrix_private_bucket(s3, world, action):
    users, bucket = world
    name, call, reads_only, _ = action
    # Refusals first (they must change nothing), then the allowed callers;
    # the owner last, as its DeleteObject/DeleteBucket change the bucket.
    order = [("bob", users["bob"].s3), ("anonymous", anonymous()),
             ("dave", users["dave"].s3), ("carol", users["carol"].s3),
             ("owner", users["alice"].s3)]
    for who, client in order:
        before = snapshot(s3, bucket) if expected(who, reads_only, False) == DENY else None
        got = attempt(client, bucket, name, call)
        assert got == expected(who, reads_only, False), f"{name} by {who}: {got}"
        if before is not None:
            assert snapshot(s3, bucket) == before, f"{name} by {who} changed the bucket"
        if name in ("DeleteObject", "DeleteObjects") and got == ALLOW:
            users["alice"].s3.put_object(Bucket=bucket, Key="shared", Body=b"shared bytes")


@pytest.mark.parametrize("action", ACTIONS, ids=[a[0] for a in ACTIONS])
def test_matrix_public_read_bucket(s3, world, action):
    """Anonymous on a bucket whose policy makes reads public: reads only."""
    users, bucket = world
    name, call, _, public_read_allows = action
    users["alice"].s3.put_bucket_policy(Bucket=bucket, Policy=reads_policy(bucket, "*"))
    before = snapshot(s3, bucket)
    got = attempt(anonymous(), bucket, name, call)
    assert got == (ALLOW if public_read_allows else DENY), f"{name} anonymous on public bucket: {got}"
    if got == DENY:
        assert snapshot(s3, bucket) == before


def test_deleteobjects_refuses_per_key_and_deletes_nothing_refused(s3, world):
    users, bucket = world
    users["alice"].s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    out = users["bob"].s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "shared"}, {"Key": "other"}]})
    assert not out.get("Deleted")
    assert sorted(e["Code"] for e in out["Errors"]) == ["AccessDenied", "AccessDenied"]
    assert set(snapshot(s3, bucket)) == {"shared", "other"}


def test_copy_needs_read_of_the_source(s3, world):
    """bob may write his own bucket but not read alice's: a copy from it is refused."""
    users, bucket = world
    mine = users["bob"].bucket()
    with pytest.raises(ClientError) as e:
        users["bob"].s3.copy_object(Bucket=mine, Key="stolen", CopySource={"Bucket": bucket, "Key": "shared"})
    assert status(e) == 403 and code(e) == "AccessDenied"
    assert snapshot(s3, mine) == {}
    # dave's identity policy grants reads of alice's bucket: he may copy
    # into his own bucket.
    his = users["dave"].bucket()
    users["dave"].s3.copy_object(Bucket=his, Key="copied", CopySource={"Bucket": bucket, "Key": "shared"})
    assert users["dave"].s3.get_object(Bucket=his, Key="copied")["Body"].read() == b"shared bytes"


def test_explicit_deny_beats_every_allow(s3, world):
    users, bucket = world
    carol_arn = f"arn:aws:iam:::user/{users['carol'].name}"
    users["alice"].s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": [carol_arn]}, "Action": "s3:*",
             "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
             "Resource": f"arn:aws:s3:::{bucket}/*"},
        ],
    }))
    for who in ("carol", "alice"):
        with pytest.raises(ClientError) as e:
            users[who].s3.delete_object(Bucket=bucket, Key="shared")
        assert code(e) == "AccessDenied", who
    assert "shared" in snapshot(s3, bucket)
    # root stays all-powerful.
    s3.delete_object(Bucket=bucket, Key="shared")


def test_listbuckets_shows_buckets_a_policy_lets_list(s3, world):
    users, bucket = world
    names = lambda u: {b["Name"] for b in u.s3.list_buckets()["Buckets"]}  # noqa: E731
    assert bucket in names(users["carol"])
    assert bucket in names(users["dave"])
    assert bucket not in names(users["bob"])


def test_identity_policy_conditions_prefix(s3, world):
    """An identity policy limited by s3:prefix: listing other prefixes is refused."""
    users, bucket = world
    ok("PUT", f"/admin/users/{users['bob'].name}/policies/photos",
       {"policy": json.dumps({"Version": "2012-10-17", "Statement": [
           {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": "photos/*"}}}]})})
    users["bob"].s3.list_objects_v2(Bucket=bucket, Prefix="photos/2024")
    with pytest.raises(ClientError) as e:
        users["bob"].s3.list_objects_v2(Bucket=bucket, Prefix="secret/")
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        users["bob"].s3.list_objects_v2(Bucket=bucket)
    assert code(e) == "AccessDenied"


def test_malformed_identity_policy_is_refused_and_not_stored(s3, world):
    users, _ = world
    from test_users import admin
    st, out = admin("PUT", f"/admin/users/{users['bob'].name}/policies/bad",
                    {"policy": json.dumps({"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Action": "s3:NoSuchAction", "Resource": "*"}]})})
    assert st == 400 and out.get("code") == "MalformedPolicy", out
    st, out = admin("GET", f"/admin/users/{users['bob'].name}/policies")
    assert "bad" not in json.dumps(out)
