//! Objects: put, get, head, delete, ranges, metadata.

use http::Method;

use crate::harness::{BLOCK, Node, Req, pattern};

#[tokio::test]
async fn put_get_head_delete() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("objs").await.ok();
    let put = c.put("objs", "a/b c.txt", "hello world").await.ok();
    // MD5("hello world")
    assert_eq!(put.header("etag"), "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"");
    let got = c.get("objs", "a/b c.txt").await.ok();
    assert_eq!(got.body, "hello world");
    assert_eq!(got.header("etag"), put.header("etag"));
    let head = c.head("objs", "a/b c.txt").await.ok();
    assert_eq!(head.header("content-length"), "11");
    assert!(head.body.is_empty());
    c.delete("objs", "a/b c.txt").await.ok();
    c.get("objs", "a/b c.txt").await.err(404, "NoSuchKey");
    assert_eq!(c.head("objs", "a/b c.txt").await.status, 404);
    // Deleting what is not there is a success (204), as S3.
    assert_eq!(c.delete("objs", "a/b c.txt").await.ok().status, 204);
}

#[tokio::test]
async fn multi_block_object_round_trips() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("objs").await.ok();
    let data = pattern(3 * BLOCK + 1234, 5);
    c.put("objs", "big", data.clone()).await.ok();
    assert_eq!(c.get("objs", "big").await.ok().body, data);
}

#[tokio::test]
async fn overwrite_replaces() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("objs").await.ok();
    c.put("objs", "k", "one").await.ok();
    c.put("objs", "k", "two").await.ok();
    assert_eq!(c.get("objs", "k").await.ok().body, "two");
}

#[tokio::test]
async fn user_metadata_and_content_type() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("objs").await.ok();
    c.send(
        Req::new(Method::PUT, Some("objs"), Some("m"))
            .h("content-type", "text/plain")
            .h("x-amz-meta-color", "blue")
            .body("x"),
    )
    .await
    .ok();
    let h = c.head("objs", "m").await.ok();
    assert_eq!(h.header("content-type"), "text/plain");
    assert_eq!(h.header("x-amz-meta-color"), "blue");
}

#[tokio::test]
async fn ranges() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("objs").await.ok();
    let data = pattern(2 * BLOCK + 100, 9);
    c.put("objs", "r", data.clone()).await.ok();
    // Across a block boundary.
    let (s, e) = (BLOCK - 10, BLOCK + 10);
    let r = c.get_range("objs", "r", &format!("bytes={s}-{e}")).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, data[s..=e]);
    assert_eq!(
        r.header("content-range"),
        format!("bytes {s}-{e}/{}", data.len())
    );
    // Suffix and open-ended.
    let r = c.get_range("objs", "r", "bytes=-5").await;
    assert_eq!((r.status, &r.body[..]), (206, &data[data.len() - 5..]));
    let r = c
        .get_range("objs", "r", &format!("bytes={}-", data.len() - 3))
        .await;
    assert_eq!((r.status, &r.body[..]), (206, &data[data.len() - 3..]));
    // An end past the size is cut to the size.
    let r = c.get_range("objs", "r", "bytes=0-999999999").await;
    assert_eq!((r.status, r.body.len()), (206, data.len()));
    // A start past the end: 416 InvalidRange.
    c.get_range("objs", "r", &format!("bytes={}-", data.len()))
        .await
        .err(416, "InvalidRange");
}

#[tokio::test]
async fn copy_object() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("objs").await.ok();
    c.put("objs", "src", pattern(BLOCK + 7, 1)).await.ok();
    c.send(Req::new(Method::PUT, Some("objs"), Some("dst")).h("x-amz-copy-source", "/objs/src"))
        .await
        .ok();
    assert_eq!(c.get("objs", "dst").await.ok().body, pattern(BLOCK + 7, 1));
}
