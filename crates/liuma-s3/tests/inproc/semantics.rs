//! Issue #13 items 3, 6, 7, 8 in seconds (the boto3 suite
//! `tests/s3/test_semantics.py` covers them through a real client):
//! complete error bodies, delete-marker reads, tagging, listing details.

use http::Method;

use crate::harness::{Node, Req};

#[tokio::test]
async fn error_bodies_carry_message_resource_and_the_request_id() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("errb").await.ok();
    let r = c.get("errb", "nokey").await.err(404, "NoSuchKey");
    let id = r.header("x-amz-request-id");
    assert_eq!(id.len(), 16, "{r:?}");
    assert_eq!(r.xml("RequestId"), [id]);
    assert_eq!(r.xml("Resource"), ["/errb/nokey"]);
    assert_eq!(r.xml("Message"), ["The specified key does not exist."]);
    // an error s3s makes itself (signature check)
    let r = c.with_secret("wrong").get("errb", "nokey").await;
    let r = r.err(403, "SignatureDoesNotMatch");
    assert_eq!(r.xml("RequestId"), [r.header("x-amz-request-id")]);
    assert_eq!(r.xml("Message").len(), 1);
    // successes carry an id too, a new one each time
    let a = c.head_bucket("errb").await.ok().header("x-amz-request-id");
    let b = c.head_bucket("errb").await.ok().header("x-amz-request-id");
    assert!(!a.is_empty() && a != b);
}

#[tokio::test]
async fn delete_marker_reads_answer_404_or_405_with_its_headers() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("dmk").await.ok();
    c.set_versioning("dmk", "Enabled").await.ok();
    c.put("dmk", "k", "v").await.ok();
    let marker = c.delete("dmk", "k").await.ok().header("x-amz-version-id");
    for r in [c.get("dmk", "k").await, c.head("dmk", "k").await] {
        assert_eq!(r.status, 404);
        assert_eq!(r.header("x-amz-delete-marker"), "true");
        assert_eq!(r.header("x-amz-version-id"), marker);
    }
    let r = c
        .get_version("dmk", "k", &marker)
        .await
        .err(405, "MethodNotAllowed");
    assert_eq!(r.header("x-amz-delete-marker"), "true");
    assert_eq!(r.header("x-amz-version-id"), marker);
    assert!(r.header("last-modified").ends_with("GMT"), "{r:?}");
}

#[tokio::test]
async fn suspending_a_never_versioned_bucket() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("susp").await.ok();
    c.set_versioning("susp", "Suspended").await.ok();
    let r = c
        .send(Req::new(Method::GET, Some("susp"), None).q("versioning", ""))
        .await
        .ok();
    assert_eq!(r.xml("Status"), ["Suspended"]);
}

#[tokio::test]
async fn tags_round_trip_and_bad_ones_change_nothing() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("tags").await.ok();
    let put = Req::new(Method::PUT, Some("tags"), Some("o"))
        .h("x-amz-tagging", "b=2&a=1")
        .body("data");
    c.send(put).await.ok();
    let r = c.get("tags", "o").await.ok();
    assert_eq!(r.header("x-amz-tagging-count"), "2");
    let get_tags = || Req::new(Method::GET, Some("tags"), Some("o")).q("tagging", "");
    let r = c.send(get_tags()).await.ok();
    assert_eq!(r.xml("Key"), ["a", "b"], "key order");
    let eleven: String = (0..11)
        .map(|i| format!("<Tag><Key>k{i}</Key><Value>v</Value></Tag>"))
        .collect();
    let body = format!("<Tagging><TagSet>{eleven}</TagSet></Tagging>");
    let r = c
        .send(
            Req::new(Method::PUT, Some("tags"), Some("o"))
                .q("tagging", "")
                .body(body),
        )
        .await
        .err(400, "InvalidTag");
    assert_eq!(r.xml("Message"), ["Object tags cannot be greater than 10"]);
    assert_eq!(c.send(get_tags()).await.ok().xml("Key"), ["a", "b"]);
    let r = c
        .send(Req::new(Method::GET, Some("tags"), None).q("tagging", ""))
        .await;
    r.err(404, "NoSuchTagSet");
}

#[tokio::test]
async fn empty_delimiter_is_no_delimiter() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("dlm").await.ok();
    c.put("dlm", "a/b", "x").await.ok();
    let r = c
        .list("dlm", &[("list-type", "2"), ("delimiter", "")])
        .await
        .ok();
    assert!(r.xml("Delimiter").is_empty(), "{}", r.text());
    assert!(r.xml("CommonPrefixes").is_empty());
    assert_eq!(r.xml("Key"), ["a/b"]);
}
