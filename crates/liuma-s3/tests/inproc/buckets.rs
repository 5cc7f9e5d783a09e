//! Buckets: create, head, delete; DeleteBucket aborts incomplete uploads
//! but refuses while objects remain.

use http::Method;

use crate::harness::{Node, Req};

#[tokio::test]
async fn create_head_delete() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("bkt-one").await.ok();
    c.head_bucket("bkt-one").await.ok();
    let r = c.send(Req::new(Method::GET, None, None)).await.ok();
    assert_eq!(r.xml("Name"), vec!["bkt-one"]);
    c.delete_bucket("bkt-one").await.ok();
    assert_eq!(c.head_bucket("bkt-one").await.status, 404);
    assert!(node.engine.list_buckets().await.unwrap().is_empty());
    c.delete_bucket("bkt-one").await.err(404, "NoSuchBucket");
}

#[tokio::test]
async fn create_twice_is_refused() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("bkt-two").await.ok();
    let r = c.create_bucket("bkt-two").await;
    // us-east-1 answers 200 for a bucket you own (AWS's legacy rule) or
    // 409 BucketAlreadyOwnedByYou; never a second bucket.
    assert!(
        r.status == 200 || r.code().as_deref() == Some("BucketAlreadyOwnedByYou"),
        "{r:?}"
    );
}

#[tokio::test]
async fn invalid_bucket_name() {
    let node = Node::start().await;
    node.client
        .create_bucket("Bad_Name")
        .await
        .err(400, "InvalidBucketName");
}

#[tokio::test]
async fn delete_bucket_aborts_uploads_but_not_objects() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("bkt-mpu").await.ok();
    let upload = c.create_upload("bkt-mpu", "big").await;
    c.upload_part("bkt-mpu", "big", &upload, 1, vec![7u8; 1000])
        .await;
    c.put("bkt-mpu", "obj", "x").await.ok();
    // An object keeps the bucket: BucketNotEmpty, and the upload survives.
    c.delete_bucket("bkt-mpu").await.err(409, "BucketNotEmpty");
    c.delete("bkt-mpu", "obj").await.ok();
    // Only the incomplete upload left: it is aborted and the bucket goes.
    c.delete_bucket("bkt-mpu").await.ok();
    assert_eq!(c.head_bucket("bkt-mpu").await.status, 404);
}
