//! Buckets and objects: create, put, get (ranges), head, delete, list, copy,
//! reopen, racing writers.

use crate::common::*;

#[tokio::test]
async fn buckets_create_list_delete_and_errors() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("alpha", "me").await.unwrap();
    e.create_bucket("beta", "me").await.unwrap();
    assert!(matches!(
        e.create_bucket("alpha", "me").await,
        Err(Error::BucketAlreadyOwnedByYou { .. })
    ));
    assert!(matches!(
        e.create_bucket("alpha", "you").await,
        Err(Error::BucketAlreadyExists { .. })
    ));
    assert!(matches!(
        e.create_bucket("Bad_Name", "me").await,
        Err(Error::InvalidBucketName { .. })
    ));
    let names: Vec<_> = e
        .list_buckets()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    put(e, "alpha", "k", b"x").await;
    assert!(matches!(
        e.delete_bucket("alpha").await,
        Err(Error::BucketNotEmpty { .. })
    ));
    e.delete_object("alpha", "k", None).await.unwrap();
    e.delete_bucket("alpha").await.unwrap();
    assert!(matches!(
        e.bucket("alpha").await,
        Err(Error::NoSuchBucket { .. })
    ));
    assert!(matches!(
        e.delete_bucket("alpha").await,
        Err(Error::NoSuchBucket { .. })
    ));
    let err = e
        .put_object("nope", "k", body_from_bytes("x"), PutOptions::default())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::NoSuchBucket { .. }));
}

#[tokio::test]
async fn put_get_inline_and_multi_block_with_hashes() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("bkb", "me").await.unwrap();
    for (i, len) in [0usize, 1, 4096, 4097, BS - 1, BS, BS + 1, 5 * BS + 123]
        .into_iter()
        .enumerate()
    {
        let data = random(i as u64, len);
        let info = put(e, "bkb", &format!("obj{len}"), &data).await;
        assert_eq!(info.size, len as u64);
        assert_eq!(info.etag, md5_hex(&data));
        use sha2::Digest;
        assert_eq!(
            info.sha256.as_deref(),
            Some(hex::encode(sha2::Sha256::digest(&data)).as_str())
        );
        assert_eq!(
            get(e, "bkb", &format!("obj{len}"), GetOptions::default()).await,
            data,
            "len {len}"
        );
    }
    // inline objects write no blocks
    // 4097 → 1, BS-1 → 1, BS → 1, BS+1 → 2, 5*BS+123 → 6; the rest inline
    assert_eq!(Stats::get(&e.stats().blocks_written), 11);
}

#[tokio::test]
async fn range_reads_across_block_boundaries() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("bkb", "me").await.unwrap();
    let data = random(7, 3 * BS + 500);
    put(e, "bkb", "r", &data).await;
    let size = data.len() as u64;
    let cases = [
        (ByteRange::FromTo(0, 0), 0..1),
        (
            ByteRange::FromTo(BS as u64 - 10, BS as u64 + 9),
            BS - 10..BS + 10,
        ),
        (ByteRange::FromTo(BS as u64, 2 * BS as u64 - 1), BS..2 * BS),
        (ByteRange::From(2 * BS as u64 + 1), 2 * BS + 1..data.len()),
        (ByteRange::Suffix(700), data.len() - 700..data.len()),
        (ByteRange::FromTo(10, size * 2), 10..data.len()),
    ];
    for (r, want) in cases {
        let got = get(
            e,
            "bkb",
            "r",
            GetOptions {
                range: Some(r),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(got, data[want.clone()], "{r:?}");
    }
    let past = e
        .get_object(
            "bkb",
            "r",
            GetOptions {
                range: Some(ByteRange::From(size)),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(past.err().unwrap(), Error::InvalidRange { .. }));
}

#[tokio::test]
async fn head_delete_missing_and_bad_keys() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("bkb", "me").await.unwrap();
    let mut meta = ObjectMeta {
        content_type: Some("text/plain".into()),
        ..Default::default()
    };
    meta.user.insert("color".into(), "blue".into());
    meta.headers
        .insert("cache-control".into(), "no-cache".into());
    e.put_object(
        "bkb",
        "k",
        body_from_bytes("hello"),
        PutOptions {
            meta: meta.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let h = e.head_object("bkb", "k", None).await.unwrap();
    assert_eq!((h.size, h.meta), (5, meta));
    assert!(matches!(
        e.head_object("bkb", "nope", None).await,
        Err(Error::NoSuchKey { .. })
    ));
    assert!(matches!(
        e.head_object("nob", "k", None).await,
        Err(Error::NoSuchBucket { .. })
    ));
    assert!(matches!(
        e.head_object("bkb", "k", Some("zzz")).await,
        Err(Error::NoSuchVersion { .. })
    ));
    let long = "a".repeat(1025);
    for bad in ["", long.as_str(), "a\0b"] {
        let r = e
            .put_object("bkb", bad, body_from_bytes("x"), PutOptions::default())
            .await;
        assert!(matches!(r, Err(Error::InvalidKey { .. })), "{bad:?}");
    }
    let mut big = ObjectMeta::default();
    big.user.insert("bkx".into(), "y".repeat(3000));
    let r = e
        .put_object(
            "bkb",
            "m",
            body_from_bytes("x"),
            PutOptions {
                meta: big,
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(r, Err(Error::MetadataTooLarge { .. })));
    // wrong digests and short bodies are refused and leave nothing visible
    let r = e
        .put_object(
            "bkb",
            "d",
            body_from_bytes("data"),
            PutOptions {
                content_md5: Some([0; 16]),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(r, Err(Error::BadDigest { algorithm: "md5" })));
    let r = e
        .put_object(
            "bkb",
            "d",
            body_from_bytes("data"),
            PutOptions {
                content_length: Some(10),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(r, Err(Error::IncompleteBody { .. })));
    let broken: liuma_engine::ByteStream = Box::pin(futures_util::stream::iter(vec![
        Ok(Bytes::from(vec![1u8; BS * 2])),
        Err(std::io::Error::other("client went away")),
    ]));
    assert!(matches!(
        e.put_object("bkb", "d", broken, PutOptions::default())
            .await,
        Err(Error::Body(_))
    ));
    assert!(matches!(
        e.head_object("bkb", "d", None).await,
        Err(Error::NoSuchKey { .. })
    ));
    let listed = e
        .list_objects(
            "bkb",
            &ListParams {
                max_keys: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.objects.len(), 1, "only k is visible");
    e.delete_object("bkb", "k", None).await.unwrap();
    assert!(matches!(
        e.head_object("bkb", "k", None).await,
        Err(Error::NoSuchKey { .. })
    ));
    // deleting a missing key is not an error (S3 semantics)
    e.delete_object("bkb", "k", None).await.unwrap();
}

#[tokio::test]
async fn list_prefix_delimiter_and_pagination() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("bkb", "me").await.unwrap();
    let keys = ["a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d", "é/ü 1"];
    for k in keys {
        put(e, "bkb", k, k.as_bytes()).await;
    }
    let all = e
        .list_objects(
            "bkb",
            &ListParams {
                max_keys: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let got: Vec<_> = all.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(got, keys);
    let d = ListParams {
        delimiter: Some("/".into()),
        max_keys: 1000,
        ..Default::default()
    };
    let r = e.list_objects("bkb", &d).await.unwrap();
    assert_eq!(
        r.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        ["b", "d"]
    );
    assert_eq!(r.common_prefixes, ["a/", "c/", "é/"]);
    let p = ListParams {
        prefix: "a/".into(),
        delimiter: Some("/".into()),
        max_keys: 1000,
        ..Default::default()
    };
    let r = e.list_objects("bkb", &p).await.unwrap();
    assert_eq!(
        r.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        ["a/1", "a/2"]
    );
    assert_eq!(r.common_prefixes, ["a/b/"]);
    // paginate 2 at a time with the delimiter: entries are objects + prefixes
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let r = e
            .list_objects(
                "bkb",
                &ListParams {
                    delimiter: Some("/".into()),
                    start_after: marker.clone(),
                    max_keys: 2,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        seen.extend(r.objects.iter().map(|o| o.key.clone()));
        seen.extend(r.common_prefixes.iter().cloned());
        assert!(r.objects.len() + r.common_prefixes.len() <= 2);
        if !r.is_truncated {
            break;
        }
        marker = r.next_marker;
    }
    seen.sort();
    assert_eq!(seen, ["a/", "b", "c/", "d", "é/"]);
    let exact = e
        .list_objects(
            "bkb",
            &ListParams {
                max_keys: keys.len(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!exact.is_truncated, "no more entries after the last page");
    assert!(matches!(
        e.list_objects("nob", &ListParams::default()).await,
        Err(Error::NoSuchBucket { .. })
    ));
}

#[tokio::test]
async fn copy_adds_references_not_data() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("src", "me").await.unwrap();
    e.create_bucket("dst", "me").await.unwrap();
    let data = random(9, 4 * BS);
    put(e, "src", "a", &data).await;
    let written = Stats::get(&e.stats().blocks_written);
    let meta = ObjectMeta {
        content_type: Some("application/x-new".into()),
        ..Default::default()
    };
    let c = e
        .copy_object("src", "a", None, "dst", "b", Some(meta))
        .await
        .unwrap();
    assert_eq!(Stats::get(&e.stats().blocks_written), written);
    assert_eq!(c.etag, md5_hex(&data));
    assert_eq!(
        e.head_object("dst", "b", None)
            .await
            .unwrap()
            .meta
            .content_type
            .as_deref(),
        Some("application/x-new")
    );
    e.delete_object("src", "a", None).await.unwrap();
    assert_eq!(get(e, "dst", "b", GetOptions::default()).await, data);
    let r = e.copy_object("src", "a", None, "dst", "c", None).await;
    assert!(matches!(r, Err(Error::NoSuchKey { .. })));
}

#[tokio::test]
async fn data_survives_reopen() {
    let n = Node::new(3);
    n.engine.create_bucket("bkp", "me").await.unwrap();
    let data = random(15, 5 * BS + 1);
    put(&n.engine, "bkp", "k", &data).await;
    put(&n.engine, "bkp", "small", b"tiny").await;
    let n = n.reopen().await;
    assert_eq!(
        get(&n.engine, "bkp", "k", GetOptions::default()).await,
        data
    );
    assert_eq!(
        get(&n.engine, "bkp", "small", GetOptions::default()).await,
        b"tiny"
    );
}

#[tokio::test]
async fn concurrent_puts_of_the_same_key_leave_one_consistent_object() {
    let n = Node::new(1);
    let e = n.engine.clone();
    e.create_bucket("bkc", "me").await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let e = e.clone();
        tasks.push(tokio::spawn(async move {
            put(&e, "bkc", "k", &random(i, BS + 5)).await
        }));
    }
    let mut etags = Vec::new();
    for t in tasks {
        etags.push(t.await.unwrap().etag);
    }
    let got = get(&e, "bkc", "k", GetOptions::default()).await;
    assert!(etags.contains(&md5_hex(&got)));
    let vs = e
        .list_versions(
            "bkc",
            &ListVersionsParams {
                max_keys: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(vs.versions.len(), 1, "unversioned bucket keeps one version");
}

/// An upload's block is counted by the memory budget once it is more than
/// a sixteenth of a block in (gathered into the pooled buffer of its
/// grant), not before: a client that stalls early pins no grant, one that
/// stalls later pins one, never more; everything comes back at the end.
#[tokio::test]
async fn an_upload_gathers_into_its_grant_after_the_first_sixteenth() {
    let node = Node::new(1);
    let e = node.engine.clone();
    e.create_bucket("gather", "me").await.unwrap();
    let (_, total) = e.budget_free();
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(1);
    let body: liuma_engine::ByteStream =
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async {
            rx.recv().await.map(|item| (item, rx))
        }));
    let data = random(7, 3 * BS);
    let put = tokio::spawn({
        let e = e.clone();
        async move {
            e.put_object("gather", "k", body, PutOptions::default())
                .await
        }
    });
    // Sends `chunk` and returns once the upload has handled it: it takes
    // the next item only after it is done with the one before, and the
    // channel holds one.
    let send = |chunk: &[u8]| {
        let (tx, chunk) = (tx.clone(), Bytes::copy_from_slice(chunk));
        async move {
            tx.send(Ok(chunk)).await.unwrap();
            tx.send(Ok(Bytes::new())).await.unwrap();
            tx.send(Ok(Bytes::new())).await.unwrap();
        }
    };
    let sixteenth = BS / 16;
    send(&data[..sixteenth]).await;
    assert_eq!(e.budget_free().0, total, "a sixteenth in: nothing counted");
    send(&data[sixteenth..sixteenth + 1]).await;
    assert_eq!(e.budget_free().0, total - 1, "past it: the block's grant");
    send(&data[sixteenth + 1..2 * BS + 10]).await;
    send(&data[2 * BS + 10..]).await;
    drop(tx);
    put.await.unwrap().unwrap();
    assert_eq!(e.budget_free().0, total, "every grant back");
    assert_eq!(get(&e, "gather", "k", GetOptions::default()).await, data);
}
