//! Multipart uploads: complete, abort, part rules.

use http::Method;

use crate::harness::{BLOCK, MIN_PART, Node, Req, pattern};

#[tokio::test]
async fn upload_in_parts_and_read_back() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("mpu").await.ok();
    let up = c.create_upload("mpu", "obj").await;
    let (p1, p2) = (pattern(MIN_PART, 1), pattern(1000, 2));
    let e1 = c.upload_part("mpu", "obj", &up, 1, p1.clone()).await;
    let e2 = c.upload_part("mpu", "obj", &up, 2, p2.clone()).await;
    let listed = c
        .send(Req::new(Method::GET, Some("mpu"), Some("obj")).q("uploadId", up.as_str()))
        .await
        .ok();
    assert_eq!(listed.xml("PartNumber"), vec!["1", "2"]);
    let done = c
        .complete_upload("mpu", "obj", &up, &[(1, e1), (2, e2)])
        .await
        .ok();
    let etag = done.xml("ETag").into_iter().next().unwrap();
    assert!(etag.ends_with("-2\""), "{etag}");
    let got = c.get("mpu", "obj").await.ok();
    assert_eq!(got.body.len(), p1.len() + p2.len());
    assert_eq!(got.body[..p1.len()], p1[..]);
    assert_eq!(got.body[p1.len()..], p2[..]);
    assert_eq!(got.header("etag"), etag);
    // The upload is gone.
    c.send(Req::new(Method::GET, Some("mpu"), Some("obj")).q("uploadId", up.as_str()))
        .await
        .err(404, "NoSuchUpload");
}

#[tokio::test]
async fn small_part_and_bad_etag_are_refused() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("mpu").await.ok();
    let up = c.create_upload("mpu", "obj").await;
    let e1 = c.upload_part("mpu", "obj", &up, 1, vec![1u8; 100]).await;
    let e2 = c.upload_part("mpu", "obj", &up, 2, vec![2u8; 100]).await;
    c.complete_upload("mpu", "obj", &up, &[(1, e1.clone()), (2, e2)])
        .await
        .err(400, "EntityTooSmall");
    // A part that was never uploaded (its ETag does not match): InvalidPart.
    let big = c
        .upload_part("mpu", "obj", &up, 1, vec![1u8; MIN_PART])
        .await;
    let bogus = "\"00000000000000000000000000000000\"".to_owned();
    c.complete_upload("mpu", "obj", &up, &[(1, big), (2, bogus)])
        .await
        .err(400, "InvalidPart");
    c.get("mpu", "obj").await.err(404, "NoSuchKey");
}

#[tokio::test]
async fn abort_removes_the_upload() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("mpu").await.ok();
    let up = c.create_upload("mpu", "obj").await;
    c.upload_part("mpu", "obj", &up, 1, vec![1u8; 10]).await;
    c.send(Req::new(Method::DELETE, Some("mpu"), Some("obj")).q("uploadId", up.as_str()))
        .await
        .ok();
    let r = c
        .send(Req::new(Method::GET, Some("mpu"), None).q("uploads", ""))
        .await
        .ok();
    assert!(r.xml("UploadId").is_empty(), "{}", r.text());
    c.complete_upload("mpu", "obj", &up, &[(1, "\"x\"".into())])
        .await
        .err(404, "NoSuchUpload");
}

/// An unreadable block of the source of an UploadPartCopy is the
/// service's failure (503, retry), not the client's body (400
/// IncompleteBody): the engine error travels typed through the copy's
/// body stream.
#[tokio::test]
async fn upload_part_copy_of_an_unreadable_source_is_a_5xx() {
    let node = Node::start().await;
    let c = &node.client;
    c.create_bucket("mpu").await.ok();
    // Three distinct blocks (no dedup between them).
    let mut x = 0x9e37_79b9_u32;
    let data: Vec<u8> = (0..3 * BLOCK)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect();
    c.put("mpu", "src", data.clone()).await.ok();
    // Lose every shard of the second block: the first is read before the
    // answer starts, the second only while the copy streams.
    let second = liuma_codec::BlockId::of(&data[BLOCK..2 * BLOCK]);
    let mut removed = 0;
    for index in 0..32u16 {
        if std::fs::remove_file(node.disks.shard_path(0, &second, index)).is_ok() {
            removed += 1;
        }
    }
    assert!(removed > 0, "the second block's shards are on disk 0");
    let up = c.create_upload("mpu", "dst").await;
    let r = c
        .send(
            Req::new(Method::PUT, Some("mpu"), Some("dst"))
                .q("partNumber", "1")
                .q("uploadId", up.as_str())
                .h("x-amz-copy-source", "/mpu/src"),
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(
        r.code().as_deref(),
        Some("ServiceUnavailable"),
        "{}",
        r.text()
    );
    // Nothing was stored as the part.
    let listed = c
        .send(Req::new(Method::GET, Some("mpu"), Some("dst")).q("uploadId", up.as_str()))
        .await
        .ok();
    assert!(listed.xml("PartNumber").is_empty(), "{}", listed.text());
}
