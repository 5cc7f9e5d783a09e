"""Bucket access settings through boto3 (issue #15): Put/Get/DeleteBucketPolicy,
GetBucketPolicyStatus, Put/GetBucketAcl (canned, x-amz-grant-* headers, XML body),
Put/Get/DeleteBucketOwnershipControls and Put/Get/DeletePublicAccessBlock.
Round trips, AWS's error codes for bad input, and nothing stored on an error.
(Enforcement of these settings on other requests is the access matrix's job.)"""

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import code, status
from test_users import ok

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


def public_read(bucket):
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PublicRead",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject"],
            "Resource": f"arn:aws:s3:::{bucket}/*",
        }],
    }


def error(fn, **kw):
    with pytest.raises(ClientError) as e:
        fn(**kw)
    return status(e), code(e), e.value.response["Error"].get("Message", "")


def policy_of(s3, bucket):
    try:
        return s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchBucketPolicy"
        return None


# ---- bucket policy ----

def test_policy_round_trip_and_status(s3, bucket):
    assert error(s3.get_bucket_policy, Bucket=bucket)[:2] == (404, "NoSuchBucketPolicy")
    assert error(s3.get_bucket_policy_status, Bucket=bucket)[:2] == (404, "NoSuchBucketPolicy")
    text = json.dumps(public_read(bucket), indent=2)
    r = s3.put_bucket_policy(Bucket=bucket, Policy=text)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == text, "stored as given"
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    # Limited to a CIDR or to named users: not public.
    limited = public_read(bucket)
    limited["Statement"][0]["Condition"] = {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(limited))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    named = public_read(bucket)
    named["Statement"][0]["Principal"] = {"AWS": ["arn:aws:iam:::user/alice", "bob"]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(named))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    r = s3.delete_bucket_policy(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert policy_of(s3, bucket) is None
    s3.delete_bucket_policy(Bucket=bucket)  # deleting none is fine, as on AWS


def test_policy_full_grammar_accepted(s3, bucket):
    doc = {
        "Version": "2012-10-17",
        "Id": "full",
        "Statement": [
            {
                "Sid": "ListSomePrefixes",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {
                    "StringLike": {"s3:prefix": ["home/*", "docs/?"]},
                    "NumericLessThanEquals": {"s3:max-keys": "100"},
                    "Bool": {"aws:SecureTransport": "true"},
                    "DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"},
                    "IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]},
                },
            },
            {
                "Sid": "NoDeletes",
                "Effect": "Deny",
                "NotPrincipal": {"CanonicalUser": "a" * 64},
                "Action": ["s3:Delete*", "s3:PutObjectAcl"],
                "NotResource": f"arn:aws:s3:::{bucket}/tmp/*",
                "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-acl": "private"},
                              "ForAnyValue:StringEquals": {"aws:username": ["x"]},
                              "Null": {"s3:prefix": "true"}},
            },
            {
                "Effect": "Allow",
                "Principal": "*",
                "NotAction": "s3:GetObject",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"NotIpAddress": {"aws:SourceIp": "0.0.0.0/0"}},
            },
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(doc))
    assert json.loads(policy_of(s3, bucket)) == doc


def stmt(**kw):
    base = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::BUCKET/*"}
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


MALFORMED = [
    ("not json", "This policy contains invalid Json"),
    ({"Version": "2012-10-17"}, "Missing required field Statement"),
    ({"Version": "2012-10-17", "Statement": []}, "Could not parse the policy: Statement is empty!"),
    ({"Version": "2012-10-17", "Statement": [stmt(Action="s3:GetObjekt")]}, "Policy has invalid action"),
    ({"Version": "2012-10-17", "Statement": [stmt(Action="ec2:*")]}, "Policy has invalid action"),
    ({"Version": "2012-10-17", "Statement": [stmt(Principal={"AWS": "no such:thing"})]}, "Invalid principal in policy"),
    ({"Version": "2012-10-17", "Statement": [stmt(Principal=None)]}, "Missing required field Principal"),
    ({"Version": "2012-10-17", "Statement": [stmt(Resource="arn:aws:s3:::another-bucket/*")]}, "Policy has invalid resource"),
    ({"Version": "2012-10-17", "Statement": [stmt(Resource="*")]}, "Policy has invalid resource"),
    ({"Version": "2012-10-17", "Statement": [stmt(Resource="arn:aws:s3:::BUCKET")]},
     "Action does not apply to any resource(s) in statement"),
    ({"Version": "2012-10-17", "Statement": [stmt(Effect="Permit")]}, "Invalid effect: Permit"),
    ({"Version": "2012-10-17", "Statement": [stmt(Condition={"StringSorta": {"s3:prefix": "a"}})]},
     "Invalid Condition type : StringSorta"),
    ({"Version": "2012-10-17", "Statement": [stmt(Condition={"IpAddress": {"aws:SourceIp": "300.1.1.1/8"}})]},
     "Invalid Condition value for IpAddress: 300.1.1.1/8"),
    ({"Version": "2012-10-17", "Statement": [stmt(Condition={"DateLessThan": {"aws:CurrentTime": "soon"}})]},
     "Invalid Condition value for DateLessThan: soon"),
    ({"Version": "2012-10-17", "Statement": [stmt(Sid="a"), stmt(Sid="a")]},
     "Statement IDs (SID) in a single policy must be unique"),
    ({"Version": "1999-01-01", "Statement": [stmt()]}, "The policy must contain a valid version string"),
]


@pytest.mark.parametrize("doc,message", MALFORMED, ids=[m for _, m in MALFORMED])
def test_malformed_policy(s3, bucket, doc, message):
    good = json.dumps(public_read(bucket))
    s3.put_bucket_policy(Bucket=bucket, Policy=good)
    text = doc if isinstance(doc, str) else json.dumps(doc).replace("BUCKET", bucket)
    st, c, msg = error(s3.put_bucket_policy, Bucket=bucket, Policy=text)
    assert (st, c, msg) == (400, "MalformedPolicy", message)
    assert policy_of(s3, bucket) == good, "the old policy stays"


def test_malformed_policy_on_bucket_without_one(s3, bucket):
    text = json.dumps({"Statement": [stmt(Resource="arn:aws:s3:::elsewhere/*")]})
    assert error(s3.put_bucket_policy, Bucket=bucket, Policy=text)[:2] == (400, "MalformedPolicy")
    assert policy_of(s3, bucket) is None, "nothing stored"


def test_policy_on_missing_bucket(s3):
    st, c, _ = error(s3.put_bucket_policy, Bucket="no-such-bucket-x1", Policy=json.dumps(public_read("x")))
    assert (st, c) == (404, "NoSuchBucket")


# ---- public access block ----

def test_public_access_block(s3, bucket):
    st, c, _ = error(s3.get_public_access_block, Bucket=bucket)
    assert (st, c) == (404, "NoSuchPublicAccessBlockConfiguration")
    cfg = {"BlockPublicAcls": True, "IgnorePublicAcls": False,
           "BlockPublicPolicy": True, "RestrictPublicBuckets": False}
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=cfg)
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == cfg
    # BlockPublicPolicy: a public policy is refused (403), a limited one is not.
    st, c, _ = error(s3.put_bucket_policy, Bucket=bucket, Policy=json.dumps(public_read(bucket)))
    assert (st, c) == (403, "AccessDenied")
    assert policy_of(s3, bucket) is None, "nothing stored"
    named = public_read(bucket)
    named["Statement"][0]["Principal"] = {"AWS": "alice"}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(named))
    # BlockPublicAcls: public ACLs are refused (canned and grant headers).
    before = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert error(s3.put_bucket_acl, Bucket=bucket, ACL="public-read")[:2] == (403, "AccessDenied")
    assert error(s3.put_bucket_acl, Bucket=bucket, GrantRead=f'uri="{AUTH_USERS}"')[:2] == (403, "AccessDenied")
    assert s3.get_bucket_acl(Bucket=bucket)["Grants"] == before
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.delete_public_access_block(Bucket=bucket)
    assert error(s3.get_public_access_block, Bucket=bucket)[0] == 404
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_read(bucket)))
    # Flags left out are false.
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"IgnorePublicAcls": True})
    got = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got == {"BlockPublicAcls": False, "IgnorePublicAcls": True,
                   "BlockPublicPolicy": False, "RestrictPublicBuckets": False}


# ---- ownership controls ----

def ownership(s3, bucket):
    return s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"][0]["ObjectOwnership"]


def test_ownership_controls(s3, bucket):
    st, c, _ = error(s3.get_bucket_ownership_controls, Bucket=bucket)
    assert (st, c) == (404, "OwnershipControlsNotFoundError")
    for o in ["ObjectWriter", "BucketOwnerPreferred", "BucketOwnerEnforced"]:
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": o}]})
        assert ownership(s3, bucket) == o
    # BucketOwnerEnforced: ACLs other than the owner's full control are refused.
    st, c, _ = error(s3.put_bucket_acl, Bucket=bucket, ACL="public-read")
    assert (st, c) == (400, "AccessControlListNotSupported")
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert len(s3.get_bucket_acl(Bucket=bucket)["Grants"]) == 1
    st, c, _ = error(s3.put_bucket_ownership_controls, Bucket=bucket,
                     OwnershipControls={"Rules": [{"ObjectOwnership": "Whoever"}]})
    assert (st, c) == (400, "MalformedXML")
    assert ownership(s3, bucket) == "BucketOwnerEnforced", "nothing stored"
    s3.delete_bucket_ownership_controls(Bucket=bucket)
    assert error(s3.get_bucket_ownership_controls, Bucket=bucket)[0] == 404


def test_enforced_refused_while_acl_is_public(s3, bucket):
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    st, c, _ = error(s3.put_bucket_ownership_controls, Bucket=bucket,
                     OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert (st, c) == (400, "InvalidBucketAclWithObjectOwnership")
    assert error(s3.get_bucket_ownership_controls, Bucket=bucket)[0] == 404, "nothing stored"
    s3.put_bucket_acl(Bucket=bucket, ACL="private")


# ---- bucket ACL ----

def grants(s3, bucket):
    out = set()
    for g in s3.get_bucket_acl(Bucket=bucket)["Grants"]:
        who = g["Grantee"].get("URI") or g["Grantee"].get("ID")
        out.add((who, g["Permission"]))
    return out


def test_canned_acls(s3, bucket):
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    assert len(owner) == 64
    assert grants(s3, bucket) == {(owner, "FULL_CONTROL")}
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    assert grants(s3, bucket) == {(owner, "FULL_CONTROL"), (ALL_USERS, "READ"), (ALL_USERS, "WRITE")}
    s3.put_bucket_acl(Bucket=bucket, ACL="authenticated-read")
    assert grants(s3, bucket) == {(owner, "FULL_CONTROL"), (AUTH_USERS, "READ")}
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert grants(s3, bucket) == {(owner, "FULL_CONTROL"), (ALL_USERS, "READ")}
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert grants(s3, bucket) == {(owner, "FULL_CONTROL")}


def test_grant_headers_and_xml_body(s3, bucket):
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    other = ok("POST", "/admin/users", {"name": "grantee-" + uuid.uuid4().hex[:8]})["canonical_id"]
    s3.put_bucket_acl(Bucket=bucket, GrantFullControl=f'id="{owner}"',
                      GrantRead=f'uri="{AUTH_USERS}", id="{other}"', GrantWriteACP=f"id={other}")
    assert grants(s3, bucket) == {(owner, "FULL_CONTROL"), (AUTH_USERS, "READ"),
                                  (other, "READ"), (other, "WRITE_ACP")}
    body = {
        "Owner": {"ID": owner},
        "Grants": [
            {"Grantee": {"Type": "CanonicalUser", "ID": owner}, "Permission": "FULL_CONTROL"},
            {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"},
            {"Grantee": {"Type": "CanonicalUser", "ID": other}, "Permission": "READ_ACP"},
        ],
    }
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy=body)
    assert grants(s3, bucket) == {(owner, "FULL_CONTROL"), (ALL_USERS, "READ"), (other, "READ_ACP")}


BAD_ACLS = [
    ({"GrantRead": 'emailAddress="someone@example.com"'}, 400, "InvalidArgument"),
    ({"GrantRead": 'uri="http://acs.amazonaws.com/groups/s3/LogDelivery"'}, 400, "InvalidArgument"),
    ({"GrantRead": 'id="not-a-canonical-id"'}, 400, "InvalidArgument"),
    ({"GrantWrite": 'name="x"'}, 400, "InvalidArgument"),
    ({"ACL": "public-read", "GrantRead": f'uri="{ALL_USERS}"'}, 400, "InvalidRequest"),
    ({"AccessControlPolicy": {"Owner": {"ID": "c" * 64}, "Grants": [
        {"Grantee": {"Type": "AmazonCustomerByEmail", "EmailAddress": "a@b.c"}, "Permission": "READ"}]}},
     400, "InvalidArgument"),
    ({"AccessControlPolicy": {"Owner": {"ID": "c" * 64}, "Grants": [
        {"Grantee": {"Type": "Group", "URI": "http://example.com/everyone"}, "Permission": "READ"}]}},
     400, "InvalidArgument"),
]


@pytest.mark.parametrize("kw,st,c", BAD_ACLS, ids=[str(i) for i in range(len(BAD_ACLS))])
def test_bad_acl(s3, bucket, kw, st, c):
    s3.put_bucket_acl(Bucket=bucket, ACL="authenticated-read")
    before = grants(s3, bucket)
    assert error(s3.put_bucket_acl, Bucket=bucket, **kw)[:2] == (st, c)
    assert grants(s3, bucket) == before, "nothing stored"
