"""Listing and authorisation hot paths (issue #14, branch listfast).

The listing reads rows packed per page and decodes the listing fields with
a small MessagePack reader; parsed policies are cached by their text; users
are found by canonical id through an index. None of this may change what a
client sees: these tests check the visible behaviour around each cache —
a policy replaced or removed takes effect on the next request, a user's
identity policy likewise, an ACL grant names the right user after that
user is deleted and made again — and that listings still return every
field, marker and owner across pages."""

import json
import uuid

import pytest
from botocore.exceptions import ClientError
from conftest import code, make_client
from test_users import User, admin, ok


@pytest.fixture
def alice(s3):
    u = User()
    yield u
    u.cleanup(s3)


def policy(effect, principal_arn, action, resource):
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": effect, "Principal": {"AWS": principal_arn},
                       "Action": action, "Resource": resource}],
    })


def test_bucket_policy_changes_take_effect_on_the_next_request(s3, bucket, alice):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    arn = f"arn:aws:iam:::user/{alice.name}"
    with pytest.raises(ClientError) as e:
        alice.s3.get_object(Bucket=bucket, Key="k")
    assert code(e) == "AccessDenied"
    allow = policy("Allow", arn, "s3:GetObject", f"arn:aws:s3:::{bucket}/*")
    for _ in range(2):  # the same text twice: the second is served from the cache
        s3.put_bucket_policy(Bucket=bucket, Policy=allow)
        assert alice.s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    # Replaced by one that allows something else: refused at once.
    s3.put_bucket_policy(Bucket=bucket, Policy=policy("Allow", arn, "s3:ListBucket", f"arn:aws:s3:::{bucket}"))
    with pytest.raises(ClientError) as e:
        alice.s3.get_object(Bucket=bucket, Key="k")
    assert code(e) == "AccessDenied"
    assert [o["Key"] for o in alice.s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    # The first text again (cached from before): allowed again; removed: refused.
    s3.put_bucket_policy(Bucket=bucket, Policy=allow)
    assert alice.s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    s3.delete_bucket_policy(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        alice.s3.get_object(Bucket=bucket, Key="k")
    assert code(e) == "AccessDenied"


def test_same_policy_text_on_two_buckets_is_each_buckets_own(s3, alice):
    # A bucket policy may only name its own bucket: the cache key holds the
    # bucket, so a text valid for one bucket never passes for another.
    b1, b2 = ("lf-" + uuid.uuid4().hex[:12] for _ in range(2))
    for b in (b1, b2):
        s3.create_bucket(Bucket=b)
    try:
        text = policy("Allow", f"arn:aws:iam:::user/{alice.name}", "s3:GetObject", f"arn:aws:s3:::{b1}/*")
        s3.put_bucket_policy(Bucket=b1, Policy=text)
        with pytest.raises(ClientError) as e:
            s3.put_bucket_policy(Bucket=b2, Policy=text)
        assert code(e) == "MalformedPolicy"
        with pytest.raises(ClientError) as e:
            s3.get_bucket_policy(Bucket=b2)
        assert code(e) == "NoSuchBucketPolicy", "nothing stored"
    finally:
        for b in (b1, b2):
            s3.delete_bucket(Bucket=b)


def test_identity_policy_changes_take_effect_on_the_next_request(s3, bucket, alice):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    read = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]})
    deny = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]})
    ok("PUT", f"/admin/users/{alice.name}/policies/read", {"policy": read})
    assert alice.s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    ok("PUT", f"/admin/users/{alice.name}/policies/deny", {"policy": deny})
    with pytest.raises(ClientError) as e:
        alice.s3.get_object(Bucket=bucket, Key="k")
    assert code(e) == "AccessDenied"
    ok("DELETE", f"/admin/users/{alice.name}/policies/deny")
    assert alice.s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    ok("DELETE", f"/admin/users/{alice.name}/policies/read")
    with pytest.raises(ClientError) as e:
        alice.s3.get_object(Bucket=bucket, Key="k")
    assert code(e) == "AccessDenied"


def test_acl_grant_by_canonical_id_finds_the_user_and_not_a_gone_one(s3, bucket):
    u = User()
    try:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
        grant = f'id="{u.canonical_id}"'
        s3.put_object_acl(Bucket=bucket, Key="k", GrantRead=grant, GrantFullControl=f'id="{owner}"')
        grants = s3.get_object_acl(Bucket=bucket, Key="k")["Grants"]
        assert u.canonical_id in {g["Grantee"].get("ID") for g in grants}
        assert u.s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
        old_id = u.canonical_id
        u.cleanup(s3)
        # Made again under the same name: a new canonical id; the old one
        # names nobody (400 InvalidArgument, as AWS answers an unknown id).
        again = ok("POST", "/admin/users", {"name": u.name})["canonical_id"]
        assert again != old_id
        with pytest.raises(ClientError) as e:
            s3.put_object_acl(Bucket=bucket, Key="k", GrantRead=f'id="{old_id}"')
        assert code(e) == "InvalidArgument"
        s3.put_object_acl(Bucket=bucket, Key="k", GrantRead=f'id="{again}"')
        grants = s3.get_object_acl(Bucket=bucket, Key="k")["Grants"]
        assert {g["Grantee"].get("ID") for g in grants} >= {again}
    finally:
        admin("DELETE", f"/admin/users/{u.name}")


def test_listings_return_every_field_across_pages(s3, bucket):
    # Objects with metadata, tags, an ACL and a content type: the fields a
    # listing skips sit between those it reads in the stored record.
    keys = [f"d{i % 3}/k{i:03d}" for i in range(25)] + ["top"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode(), ContentType="text/plain",
                      Metadata={"m": "v" * 50}, Tagging="a=b&c=d", ACL="private")
    heads = {k: s3.head_object(Bucket=bucket, Key=k) for k in keys}
    seen, token = [], None
    while True:
        args = {"Bucket": bucket, "MaxKeys": 7, "FetchOwner": True}
        if token:
            args["ContinuationToken"] = token
        out = s3.list_objects_v2(**args)
        for o in out.get("Contents", []):
            h = heads[o["Key"]]
            assert o["ETag"] == h["ETag"] and o["Size"] == len(o["Key"])
            # HEAD's Last-Modified is an HTTP date (whole seconds)
            assert o["LastModified"].replace(microsecond=0) == h["LastModified"]
            assert o["StorageClass"] == "STANDARD" and o["Owner"]["ID"]
            seen.append(o["Key"])
        if not out["IsTruncated"]:
            break
        token = out["NextContinuationToken"]
    assert seen == sorted(keys)
    # v1 with a delimiter: common prefixes and markers across pages.
    entries, marker = [], ""
    while True:
        out = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2, Marker=marker)
        page = [p["Prefix"] for p in out.get("CommonPrefixes", [])] + [o["Key"] for o in out.get("Contents", [])]
        entries += page
        if not out["IsTruncated"]:
            break
        marker = out["NextMarker"]
        assert marker == max(page)
    assert sorted(entries) == ["d0/", "d1/", "d2/", "top"]
    # Versions: page by page, markers continue where the last one stopped.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="top", Body=b"v2")
    s3.delete_object(Bucket=bucket, Key="d0/k000")
    got, km, vm = [], None, None
    while True:
        args = {"Bucket": bucket, "MaxKeys": 4}
        if km:
            args.update(KeyMarker=km, VersionIdMarker=vm)
        out = s3.list_object_versions(**args)
        for v in out.get("Versions", []) + out.get("DeleteMarkers", []):
            got.append((v["Key"], v["VersionId"], v["IsLatest"], "ETag" in v))
        if not out["IsTruncated"]:
            break
        km, vm = out["NextKeyMarker"], out["NextVersionIdMarker"]
    assert len(got) == len(keys) + 2 and len(set(got)) == len(got)
    latest = {(k, is_latest) for k, _, is_latest, _ in got if k in ("top", "d0/k000")}
    assert latest == {("top", True), ("top", False), ("d0/k000", True), ("d0/k000", False)}
    assert sum(1 for _, _, _, has_etag in got if not has_etag) == 1, "one delete marker"
