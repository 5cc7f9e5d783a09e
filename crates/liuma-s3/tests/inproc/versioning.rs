//! Versioning basics: versions kept, delete markers, reading old versions.

use crate::harness::Node;

#[tokio::test]
async fn versions_and_delete_markers() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("ver").await.ok();
    // A never-versioned bucket reports no Status.
    let r = c
        .send(crate::harness::Req::new(http::Method::GET, Some("ver"), None).q("versioning", ""))
        .await
        .ok();
    assert!(r.xml("Status").is_empty(), "{}", r.text());
    c.set_versioning("ver", "Enabled").await.ok();
    let v1 = c
        .put("ver", "k", "one")
        .await
        .ok()
        .header("x-amz-version-id");
    let v2 = c
        .put("ver", "k", "two")
        .await
        .ok()
        .header("x-amz-version-id");
    assert!(!v1.is_empty() && v1 != v2 && v1 != "null");
    assert_eq!(c.get("ver", "k").await.ok().body, "two");
    assert_eq!(c.get_version("ver", "k", &v1).await.ok().body, "one");
    let del = c.delete("ver", "k").await.ok();
    assert_eq!(del.header("x-amz-delete-marker"), "true");
    let marker = del.header("x-amz-version-id");
    c.get("ver", "k").await.err(404, "NoSuchKey");
    let l = c.list_versions("ver").await.ok();
    assert_eq!(l.xml("Version").len(), 2);
    assert_eq!(l.xml("DeleteMarker").len(), 1);
    // Removing the marker brings v2 back.
    c.delete_version("ver", "k", &marker).await.ok();
    assert_eq!(c.get("ver", "k").await.ok().body, "two");
    // Removing a version for good.
    c.delete_version("ver", "k", &v2).await.ok();
    assert_eq!(c.get("ver", "k").await.ok().body, "one");
    c.get_version("ver", "k", &v2)
        .await
        .err(404, "NoSuchVersion");
}

#[tokio::test]
async fn suspended_writes_null_versions() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("ver").await.ok();
    c.set_versioning("ver", "Enabled").await.ok();
    let v1 = c
        .put("ver", "k", "one")
        .await
        .ok()
        .header("x-amz-version-id");
    c.set_versioning("ver", "Suspended").await.ok();
    let n = c.put("ver", "k", "two").await.ok();
    assert!(matches!(n.header("x-amz-version-id").as_str(), "" | "null"));
    c.put("ver", "k", "three").await.ok();
    // The null version was replaced; the enabled-era version stays.
    let l = c.list_versions("ver").await.ok();
    assert_eq!(l.xml("VersionId"), vec!["null".to_owned(), v1.clone()]);
    assert_eq!(c.get_version("ver", "k", "null").await.ok().body, "three");
    assert_eq!(c.get_version("ver", "k", &v1).await.ok().body, "one");
}

#[tokio::test]
async fn bucket_with_versions_cannot_be_deleted() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("ver").await.ok();
    c.set_versioning("ver", "Enabled").await.ok();
    c.put("ver", "k", "one").await.ok();
    c.delete("ver", "k").await.ok();
    // Only a noncurrent version and a delete marker remain: still not empty.
    c.delete_bucket("ver").await.err(409, "BucketNotEmpty");
}
