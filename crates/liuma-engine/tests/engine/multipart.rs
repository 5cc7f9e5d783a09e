//! Multipart uploads: parts out of order, errors, and the completed object.

use crate::common::*;

#[tokio::test]
async fn multipart_out_of_order_and_errors() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("bkm", "me").await.unwrap();
    let id = e
        .create_multipart("bkm", "big", ObjectMeta::default())
        .await
        .unwrap();
    let parts: Vec<Vec<u8>> = (0..3)
        .map(|i| random(100 + i, if i == 2 { 1000 } else { 2 * BS + 7 }))
        .collect();
    let mut etags = Vec::new();
    for i in [2usize, 0, 1] {
        let p = e
            .upload_part(
                "bkm",
                "big",
                &id,
                i as u32 + 1,
                chunked(&parts[i]),
                Default::default(),
            )
            .await
            .unwrap();
        etags.push((i as u32 + 1, p.etag));
    }
    // re-sending part 2 replaces it
    let p2 = e
        .upload_part("bkm", "big", &id, 2, chunked(&parts[1]), Default::default())
        .await
        .unwrap();
    etags.sort();
    let (listed, truncated) = e.list_parts("bkm", "big", &id, 0, 1000).await.unwrap();
    assert_eq!(
        listed.iter().map(|p| p.part_number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(!truncated);
    assert_eq!(
        e.list_uploads("bkm", "", 100).await.unwrap().uploads.len(),
        1
    );

    let wrong_order = vec![etags[1].clone(), etags[0].clone(), etags[2].clone()];
    assert!(matches!(
        e.complete_multipart("bkm", "big", &id, &wrong_order).await,
        Err(Error::InvalidPartOrder)
    ));
    let mut wrong_etag = etags.clone();
    wrong_etag[1].1 = "0".repeat(32);
    assert!(matches!(
        e.complete_multipart("bkm", "big", &id, &wrong_etag).await,
        Err(Error::InvalidPart { part_number: 2 })
    ));
    let missing = vec![etags[0].clone(), (9, "x".into())];
    assert!(matches!(
        e.complete_multipart("bkm", "big", &id, &missing).await,
        Err(Error::InvalidPart { .. })
    ));
    assert_eq!(p2.etag, etags[1].1);

    let id2 = e
        .create_multipart("bkm", "big2", ObjectMeta::default())
        .await
        .unwrap();
    let a = e
        .upload_part(
            "bkm",
            "big2",
            &id2,
            1,
            chunked(&parts[2]),
            Default::default(),
        )
        .await
        .unwrap();
    let b = e
        .upload_part(
            "bkm",
            "big2",
            &id2,
            2,
            chunked(&parts[2]),
            Default::default(),
        )
        .await
        .unwrap();
    let r = e
        .complete_multipart("bkm", "big2", &id2, &[(1, a.etag), (2, b.etag)])
        .await;
    assert!(matches!(
        r,
        Err(Error::EntityTooSmall { part_number: 1, .. })
    ));
    e.abort_multipart("bkm", "big2", &id2).await.unwrap();
    assert!(matches!(
        e.list_parts("bkm", "big2", &id2, 0, 10).await,
        Err(Error::NoSuchUpload { .. })
    ));
    assert!(matches!(
        e.abort_multipart("bkm", "big2", &id2).await,
        Err(Error::NoSuchUpload { .. })
    ));
    let r = e
        .upload_part(
            "bkm",
            "big2",
            &id2,
            1,
            body_from_bytes("x"),
            Default::default(),
        )
        .await;
    assert!(matches!(r, Err(Error::NoSuchUpload { .. })));
    let r = e
        .upload_part(
            "bkm",
            "big",
            "bogus",
            0,
            body_from_bytes("x"),
            Default::default(),
        )
        .await;
    assert!(matches!(r, Err(Error::InvalidPartNumber { .. })));
}

#[tokio::test]
async fn multipart_complete_builds_the_object_and_s3_etag() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("bkm", "me").await.unwrap();
    let id = e
        .create_multipart("bkm", "obj", ObjectMeta::default())
        .await
        .unwrap();
    let parts: Vec<Vec<u8>> = vec![random(1, 2 * BS + 3), random(2, 2 * BS), random(3, 10)];
    let mut list = Vec::new();
    for (i, p) in parts.iter().enumerate().rev() {
        let info = e
            .upload_part(
                "bkm",
                "obj",
                &id,
                i as u32 + 1,
                chunked(p),
                Default::default(),
            )
            .await
            .unwrap();
        list.push((i as u32 + 1, format!("\"{}\"", info.etag)));
    }
    list.reverse();
    let written_before = Stats::get(&e.stats().blocks_written);
    let info = e
        .complete_multipart("bkm", "obj", &id, &list)
        .await
        .unwrap();
    assert_eq!(
        Stats::get(&e.stats().blocks_written),
        written_before,
        "complete copies no data"
    );
    let whole: Vec<u8> = parts.concat();
    let mut md5s = Vec::new();
    for p in &parts {
        md5s.extend(hex::decode(md5_hex(p)).unwrap());
    }
    assert_eq!(info.etag, format!("{}-3", md5_hex(&md5s)));
    assert_eq!(info.size, whole.len() as u64);
    assert_eq!(get(e, "bkm", "obj", GetOptions::default()).await, whole);
    let r = GetOptions {
        range: Some(ByteRange::FromTo(2 * BS as u64, 2 * BS as u64 + 10)),
        ..Default::default()
    };
    assert_eq!(get(e, "bkm", "obj", r).await, whole[2 * BS..2 * BS + 11]);
    // a retried complete answers as the first did (see tests/mpcond.rs)
    let again = e
        .complete_multipart("bkm", "obj", &id, &list)
        .await
        .unwrap();
    assert_eq!(
        (again.etag, again.version_id),
        (info.etag.clone(), info.version_id.clone())
    );
    use sha2::Digest;
    assert_eq!(
        e.content_sha256("bkm", "obj", None).await.unwrap(),
        <[u8; 32]>::from(sha2::Sha256::digest(&whole))
    );
}
