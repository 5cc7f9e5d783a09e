"""Users (issue #15): each user's keys see only its own buckets, another
user's bucket name is 409 BucketAlreadyExists, disabled and deleted keys
are refused with 403 InvalidAccessKeyId (as AWS answers an inactive key),
and Owner fields carry the owning user's canonical id and display name.
Users and keys are managed through the admin API (`/admin/users...`)."""

import json
import os
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError
from conftest import code, make_client, status


def admin(method, path, body=None):
    """(status, JSON body) of an admin API call."""
    url = os.environ["LIUMA_ADMIN_URL"] + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": "Bearer " + os.environ["LIUMA_ADMIN_TOKEN"], "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def ok(method, path, body=None):
    st, out = admin(method, path, body)
    assert st == 200, (method, path, st, out)
    return out


class User:
    """A user with one key and an S3 client signed with it."""

    def __init__(self):
        self.name = "u-" + uuid.uuid4().hex[:12]
        self.canonical_id = ok("POST", "/admin/users", {"name": self.name})["canonical_id"]
        self.key_id, self.s3 = self.new_key()

    def new_key(self):
        k = ok("POST", f"/admin/users/{self.name}/keys", {"name": "test"})
        return k["id"], make_client(k["id"], k["secret"])

    def bucket(self):
        name = "ub-" + uuid.uuid4().hex[:16]
        self.s3.create_bucket(Bucket=name)
        return name

    def cleanup(self, root):
        for b in root.list_buckets()["Buckets"]:
            if b["Name"].startswith("ub-"):
                try:
                    for o in root.list_object_versions(Bucket=b["Name"]).get("Versions", []):
                        root.delete_object(Bucket=b["Name"], Key=o["Key"], VersionId=o["VersionId"])
                    root.delete_bucket(Bucket=b["Name"])
                except ClientError:
                    pass
        admin("DELETE", f"/admin/users/{self.name}")


@pytest.fixture
def alice(s3):
    u = User()
    yield u
    u.cleanup(s3)


@pytest.fixture
def bob(s3):
    u = User()
    yield u
    u.cleanup(s3)


def names(out):
    return sorted(b["Name"] for b in out["Buckets"])


def test_each_user_sees_only_its_own_buckets(s3, alice, bob):
    a, b = alice.bucket(), bob.bucket()
    assert names(alice.s3.list_buckets()) == [a]
    assert names(bob.s3.list_buckets()) == [b]
    everything = names(s3.list_buckets())
    assert a in everything and b in everything, "root sees every bucket"
    # A second key of the same user sees the same buckets and may write in them.
    _, alice2 = alice.new_key()
    assert names(alice2.list_buckets()) == [a]
    alice2.put_object(Bucket=a, Key="k", Body=b"x")
    assert alice.s3.get_object(Bucket=a, Key="k")["Body"].read() == b"x"
    # The other user may not touch it.
    with pytest.raises(ClientError) as e:
        bob.s3.get_object(Bucket=a, Key="k")
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        bob.s3.put_object(Bucket=a, Key="k", Body=b"bob")
    assert code(e) == "AccessDenied"
    assert alice.s3.get_object(Bucket=a, Key="k")["Body"].read() == b"x", "nothing changed"


def test_another_users_bucket_name_is_409_bucket_already_exists(s3, alice, bob):
    a = alice.bucket()
    with pytest.raises(ClientError) as e:
        bob.s3.create_bucket(Bucket=a)
    assert (code(e), status(e)) == ("BucketAlreadyExists", 409)
    # root is another user too
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=a)
    assert (code(e), status(e)) == ("BucketAlreadyExists", 409)
    # the owner again: us-east-1's legacy 200 (409 BucketAlreadyOwnedByYou elsewhere)
    alice.s3.create_bucket(Bucket=a)
    assert names(bob.s3.list_buckets()) == [], "bob got nothing"
    assert s3.get_bucket_acl(Bucket=a)["Owner"]["ID"] == alice.canonical_id


def test_disabled_key_is_refused_until_enabled(alice):
    a = alice.bucket()
    out = ok("POST", f"/admin/users/{alice.name}/keys/{alice.key_id}/disable")
    assert out["disabled"] is True
    for call in (alice.s3.list_buckets, lambda: alice.s3.put_object(Bucket=a, Key="k", Body=b"1")):
        with pytest.raises(ClientError) as e:
            call()
        assert (code(e), status(e)) == ("InvalidAccessKeyId", 403)
    # another key of the same user still works, and nothing was stored
    _, other = alice.new_key()
    assert other.list_objects_v2(Bucket=a)["KeyCount"] == 0
    listed = ok("GET", f"/admin/users/{alice.name}/keys")
    assert {k["id"]: k["disabled"] for k in listed}[alice.key_id] is True
    ok("POST", f"/admin/users/{alice.name}/keys/{alice.key_id}/enable")
    assert names(alice.s3.list_buckets()) == [a]


def test_deleted_key_and_deleted_user_are_refused(s3, alice, bob):
    kid, extra = bob.new_key()
    assert extra.list_buckets()["Buckets"] == []
    ok("DELETE", f"/admin/users/{bob.name}/keys/{kid}")
    with pytest.raises(ClientError) as e:
        extra.list_buckets()
    assert (code(e), status(e)) == ("InvalidAccessKeyId", 403)
    # a key of another user is not this user's to delete
    st, err = admin("DELETE", f"/admin/users/{bob.name}/keys/{alice.key_id}")
    assert (st, err["code"]) == (404, "InvalidAccessKeyId")
    assert alice.s3.list_buckets()["Buckets"] == []
    # a user owning buckets is kept, then goes with its keys
    b = bob.bucket()
    st, err = admin("DELETE", f"/admin/users/{bob.name}")
    assert (st, err["code"]) == (409, "UserOwnsBuckets") and b in err["message"]
    assert bob.s3.list_buckets()["Buckets"][0]["Name"] == b
    s3.delete_bucket(Bucket=b)
    ok("DELETE", f"/admin/users/{bob.name}")
    with pytest.raises(ClientError) as e:
        bob.s3.list_buckets()
    assert code(e) == "InvalidAccessKeyId"
    st, err = admin("GET", f"/admin/users/{bob.name}")
    assert (st, err["code"]) == (404, "NoSuchUser")


def test_owner_fields_carry_the_users_canonical_id(s3, alice):
    a = alice.bucket()
    alice.s3.put_bucket_versioning(Bucket=a, VersioningConfiguration={"Status": "Enabled"})
    alice.s3.put_object(Bucket=a, Key="k", Body=b"1")
    alice.s3.delete_object(Bucket=a, Key="k")
    me = {"ID": alice.canonical_id, "DisplayName": alice.name}
    assert alice.s3.list_buckets()["Owner"] == me
    alice.s3.put_object(Bucket=a, Key="j", Body=b"2")
    v2 = alice.s3.list_objects_v2(Bucket=a, FetchOwner=True)["Contents"]
    assert [o["Owner"] for o in v2] == [me]
    assert "Owner" not in alice.s3.list_objects_v2(Bucket=a)["Contents"][0]
    v1 = alice.s3.list_objects(Bucket=a)["Contents"]
    assert [o["Owner"] for o in v1] == [me]
    versions = alice.s3.list_object_versions(Bucket=a)
    owners = [v["Owner"] for v in versions["Versions"] + versions["DeleteMarkers"]]
    assert owners == [me] * 3
    acl = alice.s3.get_bucket_acl(Bucket=a)
    assert acl["Owner"] == me
    assert acl["Grants"][0]["Grantee"]["ID"] == alice.canonical_id
    root_owner = s3.list_buckets()["Owner"]
    assert len(root_owner["ID"]) == 64 and root_owner["DisplayName"] == "root"
    up = alice.s3.create_multipart_upload(Bucket=a, Key="mp")["UploadId"]
    listed = alice.s3.list_multipart_uploads(Bucket=a)["Uploads"][0]
    assert listed["Owner"] == me and listed["Initiator"]["ID"] == alice.canonical_id
    assert alice.s3.list_parts(Bucket=a, Key="mp", UploadId=up)["Owner"] == me
    alice.s3.abort_multipart_upload(Bucket=a, Key="mp", UploadId=up)


def test_bad_user_and_policy_input_stores_nothing(alice):
    st, err = admin("POST", "/admin/users", {"name": "bad name"})
    assert (st, err["code"]) == (400, "InvalidArgument")
    st, err = admin("POST", "/admin/users", {"name": alice.name})
    assert (st, err["code"]) == (409, "UserAlreadyExists")
    assert all(u["name"] != "bad name" for u in ok("GET", "/admin/users"))
    st, err = admin("POST", "/admin/users/nobody-here/keys", {"name": "k"})
    assert (st, err["code"]) == (404, "NoSuchUser")
    st, err = admin("DELETE", "/admin/users/root")
    assert (st, err["code"]) == (400, "InvalidArgument")
    for bad in ["not json", "[1]", ""]:
        st, err = admin("PUT", f"/admin/users/{alice.name}/policies/p", {"policy": bad})
        assert (st, err["code"]) == (400, "MalformedPolicy"), bad
    assert ok("GET", f"/admin/users/{alice.name}/policies") == []
    text = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
            '"Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]}')
    ok("PUT", f"/admin/users/{alice.name}/policies/read-only", {"policy": text})
    got = ok("GET", f"/admin/users/{alice.name}/policies/read-only")
    assert got["policy"] == text, "kept as given"
    assert ok("GET", f"/admin/users/{alice.name}/policies") == ["read-only"]
    ok("DELETE", f"/admin/users/{alice.name}/policies/read-only")
    st, err = admin("GET", f"/admin/users/{alice.name}/policies/read-only")
    assert (st, err["code"]) == (404, "NoSuchUserPolicy")


def test_objects_are_owned_by_their_writer(s3, alice):
    """A key of another user granted write (the old per-key grants) writes
    objects owned by its own user; Owner in listings says so."""
    a = alice.bucket()
    alice.s3.put_object(Bucket=a, Key="mine", Body=b"1")
    k = ok("POST", "/admin/keys", {"name": "writer"})
    writer_user = "key-" + k["id"].lower()
    assert k["user"] == writer_user, "an old-style key gets a user of its own"
    try:
        ok("POST", f"/admin/keys/{k['id']}/allow", {"bucket": a, "permission": "write"})
        policy = ok("GET", f"/admin/users/{writer_user}/policies/legacy-grants")["policy"]
        assert f"arn:aws:s3:::{a}/*" in policy and "s3:PutObject*" in policy
        writer = make_client(k["id"], k["secret"])
        writer.put_object(Bucket=a, Key="theirs", Body=b"2")
        writer.copy_object(Bucket=a, Key="copied", CopySource=f"{a}/mine")
        theirs = {"ID": ok("GET", f"/admin/users/{writer_user}")["canonical_id"], "DisplayName": writer_user}
        me = {"ID": alice.canonical_id, "DisplayName": alice.name}
        listed = alice.s3.list_objects_v2(Bucket=a, FetchOwner=True)["Contents"]
        assert {o["Key"]: o["Owner"] for o in listed} == {"copied": theirs, "mine": me, "theirs": theirs}
        # the bucket stays alice's: the writer does not see it as its own
        assert names(alice.s3.list_buckets()) == [a]
        assert s3.get_bucket_acl(Bucket=a)["Owner"] == me
    finally:
        admin("DELETE", f"/admin/keys/{k['id']}")
        admin("DELETE", f"/admin/users/{writer_user}")
