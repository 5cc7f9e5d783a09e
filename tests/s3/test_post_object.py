"""POST Object (browser-based uploads, issue #15): forms made by boto3's
generate_presigned_post, sent with requests as a browser would send them.
Every refusal asserts the status, the code, AWS's reason and that nothing
was stored.

Run by crates/liuma-server/tests/it/s3.rs (s3_post_object).
"""

import base64
import hashlib
import json
import os
import subprocess
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

import pytest
import requests
from conftest import ENDPOINT, make_client


def post(form, data=b"hello", filename="hello.txt", url=None, **kw):
    fields = dict(form["fields"])
    return requests.post(
        url or form["url"],
        data=fields,
        files={"file": (filename, data)},
        allow_redirects=False,
        timeout=60,
        **kw,
    )


def err(r):
    """(status, Code, Message) of an error answer."""
    try:
        root = ET.fromstring(r.content)
    except ET.ParseError:
        return r.status_code, None, None
    return r.status_code, root.findtext("Code"), root.findtext("Message")


def keys(s3, bucket):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_post_stores_the_file_204_by_default(s3, bucket):
    form = s3.generate_presigned_post(bucket, "a/b.txt", ExpiresIn=600)
    r = post(form, b"hello post")
    assert r.status_code == 204, r.text
    md5 = hashlib.md5(b"hello post").hexdigest()
    assert r.headers["ETag"] == f'"{md5}"'
    assert r.headers["Location"].endswith(f"/{bucket}/a/b.txt")
    got = s3.get_object(Bucket=bucket, Key="a/b.txt")
    assert got["Body"].read() == b"hello post"
    assert got["ETag"] == f'"{md5}"'


def test_success_action_status_200_and_201(s3, bucket):
    form = s3.generate_presigned_post(
        bucket, "s200", Fields={"success_action_status": "200"}, Conditions=[{"success_action_status": "200"}]
    )
    r = post(form)
    assert r.status_code == 200 and r.content == b"", r.text
    form = s3.generate_presigned_post(
        bucket, "s201", Fields={"success_action_status": "201"}, Conditions=[{"success_action_status": "201"}]
    )
    r = post(form, b"created")
    assert r.status_code == 201, r.text
    md5 = hashlib.md5(b"created").hexdigest()
    body = r.text
    assert "<PostResponse>" in body
    assert f"<Bucket>{bucket}</Bucket>" in body and "<Key>s201</Key>" in body
    assert f"<ETag>&quot;{md5}&quot;</ETag>" in body
    assert f"/{bucket}/s201</Location>" in body
    assert s3.get_object(Bucket=bucket, Key="s201")["Body"].read() == b"created"
    # an unknown status is the default 204 (AWS)
    form = s3.generate_presigned_post(
        bucket, "s299", Fields={"success_action_status": "299"}, Conditions=[{"success_action_status": "299"}]
    )
    assert post(form).status_code == 204


def test_success_action_redirect_is_303_with_bucket_key_etag(s3, bucket):
    target = "https://example.com/done?x=1"
    form = s3.generate_presigned_post(
        bucket,
        "redir key+&.txt",
        Fields={"success_action_redirect": target},
        Conditions=[["starts-with", "$success_action_redirect", "https://example.com/"]],
    )
    r = post(form, b"r")
    assert r.status_code == 303, r.text
    loc = urllib.parse.urlparse(r.headers["Location"])
    assert loc.netloc == "example.com" and loc.path == "/done"
    q = urllib.parse.parse_qs(loc.query)
    assert q["x"] == ["1"] and q["bucket"] == [bucket] and q["key"] == ["redir key+&.txt"]
    assert q["etag"] == [f'"{hashlib.md5(b"r").hexdigest()}"']
    assert s3.get_object(Bucket=bucket, Key="redir key+&.txt")["Body"].read() == b"r"
    # the older field name `redirect` works too
    form = s3.generate_presigned_post(
        bucket, "old", Fields={"redirect": target}, Conditions=[{"redirect": target}]
    )
    r = post(form)
    assert r.status_code == 303 and r.headers["Location"].startswith("https://example.com/done?x=1&bucket=")


def test_filename_is_substituted_in_the_key(s3, bucket):
    form = s3.generate_presigned_post(bucket, "uploads/${filename}")
    assert ["starts-with", "$key", "uploads/"] in json.loads(base64.b64decode(form["fields"]["policy"]))["conditions"]
    r = post(form, b"cat picture", filename="lolcatz.jpg")
    assert r.status_code == 204, r.text
    assert keys(s3, bucket) == ["uploads/lolcatz.jpg"]
    assert s3.get_object(Bucket=bucket, Key="uploads/lolcatz.jpg")["Body"].read() == b"cat picture"


def test_metadata_content_type_and_headers_are_stored(s3, bucket):
    fields = {
        "Content-Type": "image/png",
        "Cache-Control": "max-age=60",
        "Content-Disposition": 'attachment; filename="x.png"',
        "x-amz-meta-owner": "alice",
        "x-amz-meta-Mixed-Case": "v",
    }
    conditions = [{k: v} for k, v in fields.items()]
    form = s3.generate_presigned_post(bucket, "meta.png", Fields=fields, Conditions=conditions)
    r = post(form, b"\x89PNG")
    assert r.status_code == 204, r.text
    h = s3.head_object(Bucket=bucket, Key="meta.png")
    assert h["ContentType"] == "image/png"
    assert h["CacheControl"] == "max-age=60"
    assert h["ContentDisposition"] == 'attachment; filename="x.png"'
    assert h["Metadata"] == {"owner": "alice", "mixed-case": "v"}
    assert h["ContentLength"] == 4


def test_content_type_starts_with(s3, bucket):
    form = s3.generate_presigned_post(
        bucket, "img", Fields={"Content-Type": "image/jpeg"}, Conditions=[["starts-with", "$Content-Type", "image/"]]
    )
    assert post(form).status_code == 204
    form["fields"]["Content-Type"] = "text/html"
    r = post(form)
    assert err(r) == (403, "AccessDenied", 'Invalid according to Policy: Policy Condition failed: ["starts-with", "$content-type", "image/"]')
    assert s3.head_object(Bucket=bucket, Key="img")["ContentType"] == "image/jpeg"


def test_tagging_field(s3, bucket):
    tagging = "<Tagging><TagSet><Tag><Key>team</Key><Value>web</Value></Tag><Tag><Key>a b</Key><Value>c+d=e</Value></Tag></TagSet></Tagging>"
    form = s3.generate_presigned_post(bucket, "tagged", Fields={"tagging": tagging}, Conditions=[{"tagging": tagging}])
    r = post(form)
    assert r.status_code == 204, r.text
    tags = s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a b", "c+d=e"), ("team", "web")]
    bad = "<Tagging><TagSet><Tag><Key>k</Key>"
    form = s3.generate_presigned_post(bucket, "badtag", Fields={"tagging": bad}, Conditions=[{"tagging": bad}])
    assert err(post(form))[:2] == (400, "MalformedXML")
    assert keys(s3, bucket) == ["tagged"]


def test_checksum_fields(s3, bucket):
    data = b"checked"
    good = base64.b64encode(hashlib.sha256(data).digest()).decode()
    form = s3.generate_presigned_post(
        bucket, "sum", Fields={"x-amz-checksum-sha256": good}, Conditions=[{"x-amz-checksum-sha256": good}]
    )
    assert post(form, data).status_code == 204
    h = s3.head_object(Bucket=bucket, Key="sum", ChecksumMode="ENABLED")
    assert h["ChecksumSHA256"] == good
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    form = s3.generate_presigned_post(
        bucket, "badsum", Fields={"x-amz-checksum-sha256": wrong}, Conditions=[{"x-amz-checksum-sha256": wrong}]
    )
    assert err(post(form, data))[:2] == (400, "BadDigest")
    assert keys(s3, bucket) == ["sum"]


def test_acl_field_is_stored_and_checked(s3, bucket):
    form = s3.generate_presigned_post(bucket, "acl", Fields={"acl": "public-read"}, Conditions=[{"acl": "public-read"}])
    assert post(form).status_code == 204
    # The canned ACL is the object's: anyone may read it, the bucket stays private.
    grants = s3.get_object_acl(Bucket=bucket, Key="acl")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("AllUsers") and g["Permission"] == "READ" for g in grants)
    assert requests.get(f"{ENDPOINT}/{bucket}/acl", timeout=30).content == b"hello"
    assert requests.get(f"{ENDPOINT}/{bucket}", timeout=30).status_code == 403
    form = s3.generate_presigned_post(bucket, "acl2", Fields={"acl": "everyone"}, Conditions=[{"acl": "everyone"}])
    assert err(post(form))[:2] == (400, "InvalidArgument")
    assert keys(s3, bucket) == ["acl"]


# --------------------------------------------------------------- refusals


def test_violated_conditions_are_403_with_the_reason(s3, bucket):
    other = "o-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=other)
    try:
        form = s3.generate_presigned_post(
            bucket,
            "in/${filename}",
            Fields={"x-amz-meta-a": "1"},
            Conditions=[["starts-with", "$x-amz-meta-a", ""], ["eq", "$x-amz-meta-b", ""]],
        )
        cases = []
        # key outside the allowed prefix
        f = dict(form["fields"], key="out/x")
        cases.append((f, None, 'Policy Condition failed: ["starts-with", "$key", "in/"]'))
        # eq on a field given with another value
        f = dict(form["fields"], **{"x-amz-meta-b": "2"})
        cases.append((f, None, 'Policy Condition failed: ["eq", "$x-amz-meta-b", ""]'))
        # a field no condition names
        f = dict(form["fields"], **{"x-amz-meta-extra": "1", "Cache-Control": "no"})
        cases.append((f, None, "Extra input fields: x-amz-meta-extra, cache-control"))
        # the policy names another bucket
        cases.append((form["fields"], f"{ENDPOINT}/{other}", f'Policy Condition failed: ["eq", "$bucket", "{bucket}"]'))
        for fields, url, reason in cases:
            r = post({"url": form["url"], "fields": fields}, url=url)
            assert err(r) == (403, "AccessDenied", "Invalid according to Policy: " + reason), (fields, r.text)
        # the x-ignore- prefix needs no condition
        f = dict(form["fields"], **{"x-ignore-note": "hi"})
        assert post({"url": form["url"], "fields": f}, filename="ok").status_code == 204
        assert keys(s3, bucket) == ["in/ok"]
        assert keys(s3, other) == []
    finally:
        s3.delete_bucket(Bucket=other)


def test_expired_policy(s3, bucket):
    form = s3.generate_presigned_post(bucket, "late", ExpiresIn=-5)
    r = post(form)
    assert err(r) == (403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    assert keys(s3, bucket) == []


def test_bad_signature_and_tampered_policy(s3, bucket):
    form = s3.generate_presigned_post(bucket, "sig")
    f = dict(form["fields"])
    f["x-amz-signature"] = "0" * 64
    assert err(post({"url": form["url"], "fields": f}))[:2] == (403, "SignatureDoesNotMatch")
    # a policy widened by the client no longer matches its signature
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if not (isinstance(c, list) and c[1] == "$key")]
    policy["conditions"].append(["starts-with", "$key", ""])
    f = dict(form["fields"], key="anything", policy=base64.b64encode(json.dumps(policy).encode()).decode())
    assert err(post({"url": form["url"], "fields": f}))[:2] == (403, "SignatureDoesNotMatch")
    # an unknown access key
    stranger = make_client("AKIDNOTAKEY000000000", "secret")
    form = stranger.generate_presigned_post(bucket, "sig")
    assert err(post(form))[:2] == (403, "InvalidAccessKeyId")
    assert keys(s3, bucket) == []


def test_size_range_enforced_while_streaming(s3, bucket):
    form = s3.generate_presigned_post(bucket, "sized", Conditions=[["content-length-range", 10, 100]])
    assert err(post(form, b"x" * 101)) == (
        400,
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size of 100 bytes",
    )
    assert err(post(form, b"x" * 9)) == (
        400,
        "EntityTooSmall",
        "Your proposed upload is smaller than the minimum allowed size of 10 bytes",
    )
    assert keys(s3, bucket) == []
    assert post(form, b"x" * 10).status_code == 204
    assert post(form, b"y" * 100).status_code == 204
    assert s3.get_object(Bucket=bucket, Key="sized")["Body"].read() == b"y" * 100


def test_malformed_forms(s3, bucket):
    form = s3.generate_presigned_post(bucket, "m")
    # no key field
    f = {k: v for k, v in form["fields"].items() if k != "key"}
    st, c, msg = err(post({"url": form["url"], "fields": f}))
    assert (st, c) == (400, "InvalidArgument") and "field named 'key'" in msg
    # no file
    r = requests.post(form["url"], files={k: (None, v) for k, v in form["fields"].items()}, timeout=30)
    assert err(r)[:2] == (400, "InvalidArgument")
    # fields before the file over 20 KB
    f = dict(form["fields"], **{"x-ignore-pad": "p" * 30000})
    assert err(post({"url": form["url"], "fields": f}))[:2] == (400, "MaxPostPreDataLengthExceededError")
    # a policy that is not base64 JSON
    f = dict(form["fields"], policy="bm90IGpzb24=")
    assert err(post({"url": form["url"], "fields": f}))[:2] in ((400, "InvalidPolicyDocument"), (403, "SignatureDoesNotMatch"))
    assert keys(s3, bucket) == []


def test_anonymous_and_unauthorized_forms_are_refused(s3, bucket):
    # no signature at all: an anonymous upload to a private bucket
    r = requests.post(f"{ENDPOINT}/{bucket}", data={"key": "anon"}, files={"file": ("a", b"a")}, timeout=30)
    assert err(r)[:2] == (403, "AccessDenied")
    # a valid form signed by a key that may only read this bucket
    env = dict(os.environ)
    bin_ = os.environ["LIUMA_BIN"]
    args = ["--admin-url", os.environ["LIUMA_ADMIN_URL"]]
    out = subprocess.run([bin_, "key", *args, "create", "reader"], env=env, capture_output=True, text=True, check=True).stdout
    kid = out.split("access key id:")[1].split()[0]
    secret = out.split("secret access key:")[1].split()[0]
    try:
        subprocess.run([bin_, "key", *args, "allow", kid, bucket, "read"], env=env, check=True, capture_output=True)
        reader = make_client(kid, secret)
        r = post(reader.generate_presigned_post(bucket, "ro"))
        assert err(r)[:2] == (403, "AccessDenied")
        subprocess.run([bin_, "key", *args, "allow", kid, bucket, "write"], env=env, check=True, capture_output=True)
        assert post(reader.generate_presigned_post(bucket, "rw")).status_code == 204
    finally:
        subprocess.run([bin_, "key", *args, "delete", kid], env=env, capture_output=True)
    assert keys(s3, bucket) == ["rw"]


def test_virtual_hosted_style_post(s3, bucket):
    # the form's URL names the bucket in the host; the node is reached by IP
    form = s3.generate_presigned_post(bucket, "vh")
    host = urllib.parse.urlparse(ENDPOINT).netloc
    port = host.rsplit(":", 1)[1]
    r = post(form, url=f"http://127.0.0.1:{port}/", headers={"Host": f"{bucket}.s3.localhost:{port}"})
    assert r.status_code == 204, r.text
    assert keys(s3, bucket) == ["vh"]


def sigv2_form(bucket, key, secret=None):
    import datetime
    import hmac

    expiration = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    policy = {"expiration": expiration, "conditions": [{"bucket": bucket}, {"key": key}]}
    b64 = base64.b64encode(json.dumps(policy).encode()).decode()
    secret = secret or os.environ["AWS_SECRET_ACCESS_KEY"]
    sig = base64.b64encode(hmac.new(secret.encode(), b64.encode(), hashlib.sha1).digest()).decode()
    fields = {"key": key, "AWSAccessKeyId": os.environ["AWS_ACCESS_KEY_ID"], "policy": b64, "signature": sig}
    return {"url": f"{ENDPOINT}/{bucket}", "fields": fields}


def test_sigv2_form(s3, bucket):
    """SigV2 forms: refused (400 InvalidRequest) unless the node allows SigV2
    (LIUMA_SIGV2=1, run by s3_post_object_sigv2), then verified."""
    r = post(sigv2_form(bucket, "v2"))
    if os.environ.get("LIUMA_SIGV2") != "1":
        assert err(r)[:2] == (400, "InvalidRequest")
        assert keys(s3, bucket) == []
        return
    assert r.status_code == 204, r.text
    assert s3.get_object(Bucket=bucket, Key="v2")["Body"].read() == b"hello"
    r = post(sigv2_form(bucket, "v2bad", secret="wrong"))
    assert err(r)[:2] == (403, "SignatureDoesNotMatch")
    assert keys(s3, bucket) == ["v2"]
