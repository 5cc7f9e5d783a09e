//! Error codes for bad input and bad credentials.

use std::time::Duration;

use http::Method;

use crate::harness::{Client, KEY_ID, Node, Req};

#[tokio::test]
async fn missing_bucket_and_key() {
    let node = Node::start().await;
    let c = &node.client;
    c.get("nobucket", "k").await.err(404, "NoSuchBucket");
    c.put("nobucket", "k", "x").await.err(404, "NoSuchBucket");
    c.list("nobucket", &[]).await.err(404, "NoSuchBucket");
    c.create_bucket("errs").await.ok();
    c.get("errs", "nokey").await.err(404, "NoSuchKey");
    c.head("errs", "nokey").await;
    assert_eq!(c.head("errs", "nokey").await.status, 404);
}

#[tokio::test]
async fn bad_signature_is_refused() {
    let node = Node::start().await;
    node.client.create_bucket("errs").await.ok();
    let wrong = node.client.with_secret("not-the-secret");
    wrong
        .put("errs", "k", "x")
        .await
        .err(403, "SignatureDoesNotMatch");
    node.client.get("errs", "k").await.err(404, "NoSuchKey");
    let stranger = Client::new(node.addr, "nosuchkeyid", "whatever");
    stranger
        .get("errs", "k")
        .await
        .err(403, "InvalidAccessKeyId");
}

#[tokio::test]
async fn tampered_presigned_url_is_refused() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("errs").await.ok();
    c.put("errs", "k", "x").await.ok();
    let url = c.presign(
        &Req::new(Method::GET, Some("errs"), Some("k")),
        Duration::from_secs(60),
    );
    // Another key, same signature.
    let tampered = url.as_str().replace("/errs/k?", "/errs/other?");
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let resp = http.get(tampered.parse().unwrap()).await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(url.as_str().contains(KEY_ID));
}

#[tokio::test]
async fn bad_versioning_document_is_refused() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("errs").await.ok();
    c.set_versioning("errs", "Sometimes")
        .await
        .err(400, "MalformedXML");
    c.send(
        Req::new(Method::PUT, Some("errs"), None)
            .q("versioning", "")
            .body("<not xml"),
    )
    .await
    .err(400, "MalformedXML");
}
