//! Bucket lifecycle: configuration round trip and validation, and the
//! rules applied by a lifecycle pass run "as of" a chosen time.

use liuma_engine::{DAY_MS, due_after};

use crate::harness::Node;

fn now_ms() -> u64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    u64::try_from(d.unwrap().as_millis()).unwrap()
}

const EXPIRE_LOGS: &str = "<Rule><ID>logs</ID><Filter><Prefix>logs/</Prefix></Filter>\
    <Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>";

#[tokio::test]
async fn configuration_round_trip() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("lcb").await.ok();
    c.get_lifecycle("lcb")
        .await
        .err(404, "NoSuchLifecycleConfiguration");
    let rules = format!(
        "{EXPIRE_LOGS}<Rule><ID>old</ID><Prefix>tmp/</Prefix><Status>Disabled</Status>\
         <NoncurrentVersionExpiration><NoncurrentDays>3</NoncurrentDays>\
         <NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration>\
         <AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation>\
         </AbortIncompleteMultipartUpload></Rule>\
         <Rule><ID>big</ID><Filter><And><Prefix>v/</Prefix>\
         <ObjectSizeGreaterThan>100</ObjectSizeGreaterThan>\
         <Tag><Key>class</Key><Value>scratch</Value></Tag></And></Filter>\
         <Status>Enabled</Status><Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration></Rule>"
    );
    c.put_lifecycle("lcb", &rules).await.ok();
    let got = c.get_lifecycle("lcb").await.ok();
    assert_eq!(got.xml("ID"), vec!["logs", "old", "big"]);
    assert_eq!(got.xml("Status"), vec!["Enabled", "Disabled", "Enabled"]);
    assert_eq!(got.xml("Days"), vec!["1"]);
    assert_eq!(got.xml("NewerNoncurrentVersions"), vec!["2"]);
    assert_eq!(got.xml("DaysAfterInitiation"), vec!["7"]);
    assert_eq!(got.xml("ObjectSizeGreaterThan"), vec!["100"]);
    assert_eq!(got.xml("Value"), vec!["scratch"]);
    assert!(got.xml("Date")[0].starts_with("2030-01-01T00:00:00"));
    // The legacy rule-level Prefix reads back as such, not as a Filter.
    assert_eq!(got.xml("Filter").len(), 2, "{}", got.text());
    c.delete_lifecycle("lcb").await.ok();
    c.get_lifecycle("lcb")
        .await
        .err(404, "NoSuchLifecycleConfiguration");
    c.get_lifecycle("nolcb").await.err(404, "NoSuchBucket");
    c.put_lifecycle("nolcb", EXPIRE_LOGS)
        .await
        .err(404, "NoSuchBucket");
}

#[tokio::test]
async fn bad_configurations_store_nothing() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("lcb").await.ok();
    c.put_lifecycle("lcb", EXPIRE_LOGS).await.ok();
    let rule = |body: &str| format!("<Rule><ID>x</ID>{body}</Rule>");
    let cases = [
        (
            rule("<Filter/><Status>Enabled</Status><Expiration><Days>0</Days></Expiration>"),
            400,
            "InvalidArgument",
        ),
        (
            rule(
                "<Filter/><Status>Enabled</Status><Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration>",
            ),
            400,
            "InvalidArgument",
        ),
        (
            rule(
                "<Filter/><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>-1</NoncurrentDays></NoncurrentVersionExpiration>",
            ),
            400,
            "InvalidArgument",
        ),
        (
            rule("<Status>Enabled</Status><Expiration><Days>1</Days></Expiration>"),
            400,
            "MalformedXML",
        ),
        (
            rule("<Filter/><Status>Maybe</Status><Expiration><Days>1</Days></Expiration>"),
            400,
            "MalformedXML",
        ),
        (
            rule(
                "<Filter/><Status>Enabled</Status><Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
            ),
            400,
            "MalformedXML",
        ),
        (
            rule(
                "<Filter><Prefix>a</Prefix><ObjectSizeLessThan>5</ObjectSizeLessThan></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>",
            ),
            400,
            "MalformedXML",
        ),
        (
            rule("<Filter/><Status>Enabled</Status>"),
            400,
            "InvalidRequest",
        ),
        (
            rule(
                "<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>",
            ),
            400,
            "InvalidRequest",
        ),
        (
            rule(
                "<Filter/><Status>Enabled</Status><Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition>",
            ),
            501,
            "NotImplemented",
        ),
        (
            format!(
                "{0}{0}",
                rule("<Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>")
            ),
            400,
            "InvalidArgument",
        ),
        (String::new(), 400, "MalformedXML"),
        ("<Rule>".to_owned(), 400, "MalformedXML"),
    ];
    for (rules, status, code) in cases {
        let r = c.put_lifecycle("lcb", &rules).await;
        assert_eq!(
            (r.status, r.code().as_deref()),
            (status, Some(code)),
            "{rules}: {}",
            r.text()
        );
        // The earlier configuration is untouched.
        let got = c.get_lifecycle("lcb").await.ok();
        assert_eq!(got.xml("ID"), vec!["logs"], "after {rules}");
    }
    let long_id = format!(
        "<Rule><ID>{}</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>",
        "i".repeat(256)
    );
    c.put_lifecycle("lcb", &long_id)
        .await
        .err(400, "InvalidArgument");
}

#[tokio::test]
async fn unversioned_objects_expire_at_midnight_after_their_days() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("lcb").await.ok();
    c.put("lcb", "logs/a", "a").await.ok();
    c.put("lcb", "keep/b", "b").await.ok();
    c.put_lifecycle("lcb", EXPIRE_LOGS).await.ok();
    let due = due_after(node.mtime("lcb", "logs/a").await, 1);
    // A day and a bit is not enough: AWS rounds up to the next midnight UTC.
    let r = node.lifecycle_at(due - 1).await;
    assert_eq!((r.buckets, r.objects_expired), (1, 0), "{r:?}");
    c.get("lcb", "logs/a").await.ok();
    let r = node.lifecycle_at(due).await;
    assert_eq!(r.objects_expired, 1, "{r:?}");
    c.get("lcb", "logs/a").await.err(404, "NoSuchKey");
    assert_eq!(c.get("lcb", "keep/b").await.ok().body, "b");
    // Nothing was left behind: no version, no marker.
    assert!(c.list_versions("lcb").await.ok().xml("Key") == vec!["keep/b"]);
    // Idempotent.
    assert_eq!(node.lifecycle_at(due).await.objects_expired, 0);
}

#[tokio::test]
async fn versioned_expiry_adds_a_marker_then_noncurrent_versions_go() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("lcb").await.ok();
    c.set_versioning("lcb", "Enabled").await.ok();
    let v1 = c
        .put("lcb", "k", "one")
        .await
        .ok()
        .header("x-amz-version-id");
    let v2 = c
        .put("lcb", "k", "two")
        .await
        .ok()
        .header("x-amz-version-id");
    let v3 = c
        .put("lcb", "k", "three")
        .await
        .ok()
        .header("x-amz-version-id");
    c.put_lifecycle(
        "lcb",
        "<Rule><ID>all</ID><Filter/><Status>Enabled</Status>\
         <Expiration><Days>1</Days></Expiration>\
         <NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>\
         <NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>",
    )
    .await
    .ok();
    let t = node.mtime("lcb", "k").await + 3 * DAY_MS;
    // Pass 1: the current version expires behind a delete marker.
    let r = node.lifecycle_at(t).await;
    assert_eq!(r.objects_expired, 1, "{r:?}");
    c.get("lcb", "k").await.err(404, "NoSuchKey");
    assert_eq!(c.get_version("lcb", "k", &v3).await.ok().body, "three");
    // Pass 2: noncurrent versions beyond the newest one go (v3 stays, the
    // newest noncurrent; v2 and v1 are older and past their days).
    let r = node.lifecycle_at(t).await;
    assert_eq!(r.versions_expired, 2, "{r:?}");
    assert_eq!(c.get_version("lcb", "k", &v3).await.ok().body, "three");
    c.get_version("lcb", "k", &v2)
        .await
        .err(404, "NoSuchVersion");
    c.get_version("lcb", "k", &v1)
        .await
        .err(404, "NoSuchVersion");
    let listed = c.list_versions("lcb").await.ok();
    assert_eq!(listed.xml("Version").len(), 1);
    assert_eq!(listed.xml("DeleteMarker").len(), 1);
}

#[tokio::test]
async fn noncurrent_days_count_from_the_successor() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("lcb").await.ok();
    c.set_versioning("lcb", "Enabled").await.ok();
    let v1 = c
        .put("lcb", "k", "one")
        .await
        .ok()
        .header("x-amz-version-id");
    c.put("lcb", "k", "two").await.ok();
    c.put_lifecycle(
        "lcb",
        "<Rule><ID>nc</ID><Filter/><Status>Enabled</Status>\
         <NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays>\
         </NoncurrentVersionExpiration></Rule>",
    )
    .await
    .ok();
    let due = due_after(node.mtime("lcb", "k").await, 2);
    assert_eq!(node.lifecycle_at(due - 1).await.versions_expired, 0);
    assert_eq!(c.get_version("lcb", "k", &v1).await.ok().body, "one");
    assert_eq!(node.lifecycle_at(due).await.versions_expired, 1);
    c.get_version("lcb", "k", &v1)
        .await
        .err(404, "NoSuchVersion");
    // The current version is never touched by a noncurrent rule.
    assert_eq!(c.get("lcb", "k").await.ok().body, "two");
}

#[tokio::test]
async fn expired_delete_markers_are_removed() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("lcb").await.ok();
    c.set_versioning("lcb", "Enabled").await.ok();
    let v1 = c
        .put("lcb", "gone", "x")
        .await
        .ok()
        .header("x-amz-version-id");
    c.delete("lcb", "gone").await.ok();
    c.put("lcb", "kept", "x").await.ok();
    c.delete("lcb", "kept").await.ok();
    c.put_lifecycle(
        "lcb",
        "<Rule><ID>m</ID><Filter/><Status>Enabled</Status>\
         <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>",
    )
    .await
    .ok();
    // Both markers still hide a version: nothing to do.
    let t = now_ms();
    assert_eq!(node.lifecycle_at(t).await.delete_markers_removed, 0);
    // Remove the only version behind one marker: that marker is expired.
    c.delete_version("lcb", "gone", &v1).await.ok();
    assert_eq!(node.lifecycle_at(t).await.delete_markers_removed, 1);
    let listed = c.list_versions("lcb").await.ok();
    assert_eq!(listed.xml("Key"), vec!["kept", "kept"], "{}", listed.text());
}

#[tokio::test]
async fn suspended_bucket_expiry_replaces_the_null_version() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("lcb").await.ok();
    c.set_versioning("lcb", "Enabled").await.ok();
    let v1 = c
        .put("lcb", "k", "one")
        .await
        .ok()
        .header("x-amz-version-id");
    c.set_versioning("lcb", "Suspended").await.ok();
    c.put("lcb", "k", "null one").await.ok();
    c.put_lifecycle(
        "lcb",
        "<Rule><ID>e</ID><Filter/><Status>Enabled</Status>\
         <Expiration><Days>1</Days></Expiration></Rule>",
    )
    .await
    .ok();
    let t = node.mtime("lcb", "k").await + 2 * DAY_MS;
    assert_eq!(node.lifecycle_at(t).await.objects_expired, 1);
    // A "null" delete marker took the null version's place; v1 stays.
    c.get("lcb", "k").await.err(404, "NoSuchKey");
    let listed = c.list_versions("lcb").await.ok();
    assert_eq!(listed.xml("VersionId"), vec!["null".to_owned(), v1.clone()]);
    assert_eq!(listed.xml("DeleteMarker").len(), 1);
    assert_eq!(c.get_version("lcb", "k", &v1).await.ok().body, "one");
}

#[tokio::test]
async fn filters_disabled_rules_and_dates() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("lcb").await.ok();
    c.put("lcb", "small", vec![1u8; 10]).await.ok();
    c.put("lcb", "large", vec![1u8; 5000]).await.ok();
    c.put("lcb", "tagged", "x").await.ok();
    c.put("lcb", "off/k", "x").await.ok();
    c.put("lcb", "dated/k", "x").await.ok();
    c.put_lifecycle(
        "lcb",
        "<Rule><ID>big</ID><Filter><ObjectSizeGreaterThan>1000</ObjectSizeGreaterThan></Filter>\
         <Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>\
         <Rule><ID>tag</ID><Filter><Tag><Key>t</Key><Value>v</Value></Tag></Filter>\
         <Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>\
         <Rule><ID>off</ID><Filter><Prefix>off/</Prefix></Filter>\
         <Status>Disabled</Status><Expiration><Days>1</Days></Expiration></Rule>\
         <Rule><ID>date</ID><Filter><Prefix>dated/</Prefix></Filter><Status>Enabled</Status>\
         <Expiration><Date>2040-01-01T00:00:00Z</Date></Expiration></Rule>",
    )
    .await
    .ok();
    let in_a_week = node.mtime("lcb", "large").await + 7 * DAY_MS;
    let r = node.lifecycle_at(in_a_week).await;
    assert_eq!(r.objects_expired, 1, "{r:?}");
    c.get("lcb", "large").await.err(404, "NoSuchKey");
    // Smaller than the filter; tags (none stored yet) never match; a
    // disabled rule does nothing; the date has not come.
    for k in ["small", "tagged", "off/k", "dated/k"] {
        c.get("lcb", k).await.ok();
    }
    // 2040-01-01T00:00:00Z
    let r = node.lifecycle_at(2_208_988_800_000).await;
    assert_eq!(r.objects_expired, 1, "{r:?}");
    c.get("lcb", "dated/k").await.err(404, "NoSuchKey");
    c.get("lcb", "off/k").await.ok();
}

#[tokio::test]
async fn incomplete_uploads_are_aborted_after_their_days() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("lcb").await.ok();
    let up = c.create_upload("lcb", "tmp/big").await;
    let other = c.create_upload("lcb", "keep/big").await;
    c.put_lifecycle(
        "lcb",
        "<Rule><ID>a</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status>\
         <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>\
         </AbortIncompleteMultipartUpload></Rule>",
    )
    .await
    .ok();
    assert_eq!(node.lifecycle_at(now_ms()).await.uploads_aborted, 0);
    let r = node.lifecycle_at(now_ms() + 2 * DAY_MS).await;
    assert_eq!(r.uploads_aborted, 1, "{r:?}");
    let listed = c
        .send(crate::harness::Req::new(http::Method::GET, Some("lcb"), None).q("uploads", ""))
        .await
        .ok();
    assert_eq!(listed.xml("UploadId"), vec![other]);
    assert_ne!(listed.xml("UploadId"), vec![up]);
}
