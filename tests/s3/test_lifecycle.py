"""Bucket lifecycle through boto3 (issue #13 item 10): configuration round
trip, AWS's validation errors (nothing stored), and rules applied by a pass
run "as of" a later time through the admin API
(`POST /admin/lifecycle?as_of=MS`, which the node accepts only because the
Rust test starts it with the hidden --lifecycle-test-clock flag): a rule
of one day is tested without waiting a day, and without any sleep.
"""

import datetime
import json
import os
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

DAY_MS = 86_400_000


def admin(method, path):
    req = urllib.request.Request(
        os.environ["LIUMA_ADMIN_URL"] + path,
        method=method,
        headers={"Authorization": "Bearer " + os.environ["LIUMA_ADMIN_TOKEN"]},
        data=b"" if method == "POST" else None,
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read().decode()


def lifecycle_pass(as_of_ms):
    return json.loads(admin("POST", f"/admin/lifecycle?as_of={as_of_ms}"))


def now_ms():
    return int(time.time() * 1000)


def code(e):
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


RULES = [
    {
        "ID": "logs",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 1},
    },
    {
        "ID": "versions",
        "Filter": {
            "And": {
                "Prefix": "data/",
                "Tags": [{"Key": "class", "Value": "scratch"}],
                "ObjectSizeGreaterThan": 10,
            }
        },
        "Status": "Disabled",
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30, "NewerNoncurrentVersions": 3},
    },
    {
        "ID": "uploads",
        "Filter": {},
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2},
    },
    {
        "ID": "date",
        "Filter": {"ObjectSizeLessThan": 1000},
        "Status": "Enabled",
        "Expiration": {"Date": datetime.datetime(2040, 1, 1, tzinfo=datetime.timezone.utc)},
    },
]


def test_configuration_round_trip(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code(e) == ("NoSuchLifecycleConfiguration", 404)
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": RULES})
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in got] == ["logs", "versions", "uploads", "date"]
    assert got[0]["Filter"] == {"Prefix": "logs/"}
    assert got[0]["Expiration"] == {"Days": 1}
    assert got[1]["Filter"] == RULES[1]["Filter"]
    assert got[1]["Status"] == "Disabled"
    assert got[1]["NoncurrentVersionExpiration"] == RULES[1]["NoncurrentVersionExpiration"]
    assert got[2]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}
    assert got[3]["Expiration"]["Date"] == RULES[3]["Expiration"]["Date"]
    # A later PUT replaces the whole configuration.
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": RULES[:1]})
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == ["logs"]
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code(e) == ("NoSuchLifecycleConfiguration", 404)


def test_legacy_prefix_and_generated_id(s3, bucket):
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={"Rules": [{"Prefix": "tmp/", "Status": "Enabled", "Expiration": {"Days": 7}}]},
    )
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Prefix"] == "tmp/" and "Filter" not in rule
    assert rule["ID"]


BAD = [
    ({"ID": "x", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 0}}, "InvalidArgument", 400),
    (
        {"ID": "x", "Filter": {}, "Status": "Enabled",
         "Expiration": {"Date": datetime.datetime(2040, 1, 1, 12, tzinfo=datetime.timezone.utc)}},
        "InvalidArgument",
        400,
    ),
    ({"ID": "i" * 256, "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}}, "InvalidArgument", 400),
    ({"ID": "x", "Status": "Enabled", "Expiration": {"Days": 1}}, "MalformedXML", 400),
    ({"ID": "x", "Filter": {}, "Status": "Enabled", "Expiration": {}}, "MalformedXML", 400),
    (
        {"ID": "x", "Filter": {}, "Status": "Enabled",
         "Expiration": {"Days": 1, "ExpiredObjectDeleteMarker": True}},
        "MalformedXML",
        400,
    ),
    ({"ID": "x", "Filter": {}, "Status": "Enabled"}, "InvalidRequest", 400),
    (
        {"ID": "x", "Filter": {"Tag": {"Key": "k", "Value": "v"}}, "Status": "Enabled",
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
        "InvalidRequest",
        400,
    ),
    (
        {"ID": "x", "Filter": {}, "Status": "Enabled",
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 101}},
        "InvalidArgument",
        400,
    ),
    (
        {"ID": "x", "Filter": {}, "Status": "Enabled",
         "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]},
        "NotImplemented",
        501,
    ),
]


@pytest.mark.parametrize("rule,want,status", BAD, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD)])
def test_bad_rules_are_refused_and_store_nothing(s3, bucket, rule, want, status):
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": RULES[:1]})
    with pytest.raises(ClientError) as e:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    assert code(e) == (want, status)
    assert e.value.response["Error"].get("Message")
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == ["logs"]


def test_duplicate_ids_are_refused(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": RULES[:1] * 2})
    assert code(e) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code(e) == ("NoSuchLifecycleConfiguration", 404)


def test_missing_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_lifecycle_configuration(Bucket="no-such-bucket-lc", LifecycleConfiguration={"Rules": RULES[:1]})
    assert code(e) == ("NoSuchBucket", 404)


def test_one_day_rule_expires_with_a_test_clock(s3, bucket):
    s3.put_object(Bucket=bucket, Key="logs/old", Body=b"x")
    s3.put_object(Bucket=bucket, Key="other/keep", Body=b"y")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="logs/partial")["UploadId"]
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={"Rules": [RULES[0], RULES[2]]},
    )
    # Now: nothing is due.
    r = lifecycle_pass(now_ms())
    assert r["objects_expired"] == 0 and r["uploads_aborted"] == 0, r
    s3.head_object(Bucket=bucket, Key="logs/old")
    # Three days on: the object is past its day (rounded up to midnight UTC)
    # and the upload past its two days.
    r = lifecycle_pass(now_ms() + 3 * DAY_MS)
    assert r["objects_expired"] == 1 and r["uploads_aborted"] == 1, r
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="logs/old")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert s3.get_object(Bucket=bucket, Key="other/keep")["Body"].read() == b"y"
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert upload not in [u["UploadId"] for u in uploads]
    metrics = admin("GET", "/metrics")
    assert "liuma_lifecycle_objects_expired_total" in metrics
    assert "liuma_lifecycle_uploads_aborted_total" in metrics


def test_versioned_expiry_leaves_a_delete_marker(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"1")["VersionId"]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": RULES[:1]})
    lifecycle_pass(now_ms() + 3 * DAY_MS)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="logs/a")
    versions = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in versions["Versions"]] == [v1]
    assert not versions["Versions"][0]["IsLatest"]
    assert len(versions["DeleteMarkers"]) == 1 and versions["DeleteMarkers"][0]["IsLatest"]
    assert s3.get_object(Bucket=bucket, Key="logs/a", VersionId=v1)["Body"].read() == b"1"


def test_tag_filter_expires_only_tagged_objects(s3, bucket):
    # tags from x-amz-tagging and from PutObjectTagging both count
    s3.put_object(Bucket=bucket, Key="t/tagged", Body=b"x", Tagging="class=scratch")
    s3.put_object(Bucket=bucket, Key="t/plain", Body=b"y")
    s3.put_object(Bucket=bucket, Key="t/other", Body=b"z", Tagging="class=keep")
    s3.put_object(Bucket=bucket, Key="t/later", Body=b"w")
    s3.put_object_tagging(Bucket=bucket, Key="t/later",
                          Tagging={"TagSet": [{"Key": "class", "Value": "scratch"}]})
    rule = {
        "ID": "scratch",
        "Filter": {"Tag": {"Key": "class", "Value": "scratch"}},
        "Status": "Enabled",
        "Expiration": {"Days": 1},
    }
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    r = lifecycle_pass(now_ms() + 3 * DAY_MS)
    assert r["objects_expired"] >= 2, r
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["t/other", "t/plain"]
