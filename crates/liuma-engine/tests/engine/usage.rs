//! Bucket usage counters (`Engine::bucket_usage`): correct through puts,
//! overwrites, versions, delete markers, version deletes, folding of many
//! deltas, and bucket deletion.

use crate::common::*;
use liuma_engine::BucketUsage;

/// Versions and logical bytes (bytes on disks: `usage_stored.rs`).
fn u(objects: u64, bytes: u64) -> (u64, u64) {
    (objects, bytes)
}

fn ob(u: BucketUsage) -> (u64, u64) {
    (u.objects, u.bytes)
}

#[tokio::test]
async fn usage_follows_puts_overwrites_versions_and_deletes() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("bku", "me").await.unwrap();
    assert_eq!(ob(e.bucket_usage("bku").await.unwrap()), u(0, 0));
    put(e, "bku", "a", b"12345").await;
    put(e, "bku", "b", &[7u8; 300_000]).await;
    assert_eq!(ob(e.bucket_usage("bku").await.unwrap()), u(2, 300_005));
    // overwrite of an unversioned key replaces it
    put(e, "bku", "a", b"123").await;
    assert_eq!(ob(e.bucket_usage("bku").await.unwrap()), u(2, 300_003));
    // versioning keeps the old one; a delete marker counts nothing
    e.set_versioning("bku", Versioning::Enabled).await.unwrap();
    let v = put(e, "bku", "a", b"1234567").await;
    assert_eq!(ob(e.bucket_usage("bku").await.unwrap()), u(3, 300_010));
    let del = e.delete_object("bku", "a", None).await.unwrap();
    assert!(del.delete_marker);
    assert_eq!(ob(e.bucket_usage("bku").await.unwrap()), u(3, 300_010));
    e.delete_object("bku", "a", Some(&v.version_id))
        .await
        .unwrap();
    assert_eq!(ob(e.bucket_usage("bku").await.unwrap()), u(2, 300_003));
    e.delete_object("bku", "b", Some("null")).await.unwrap();
    e.delete_object("bku", "a", Some("null")).await.unwrap();
    assert_eq!(ob(e.bucket_usage("bku").await.unwrap()), u(0, 0));
}

#[tokio::test]
async fn usage_folds_many_deltas_and_dies_with_the_bucket() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("bkf", "me").await.unwrap();
    // the first read counts by a scan and stores the base
    put(e, "bkf", "first", b"x").await;
    assert_eq!(ob(e.bucket_usage("bkf").await.unwrap()), u(1, 1));
    for i in 0..150 {
        put(e, "bkf", &format!("k{i}"), b"ab").await;
    }
    // each read folds up to 100 deltas: the sum never changes
    for _ in 0..3 {
        assert_eq!(ob(e.bucket_usage("bkf").await.unwrap()), u(151, 301));
    }
    assert!(matches!(
        e.bucket_usage("nope").await,
        Err(Error::NoSuchBucket { .. })
    ));
    for i in 0..150 {
        e.delete_object("bkf", &format!("k{i}"), None)
            .await
            .unwrap();
    }
    e.delete_object("bkf", "first", None).await.unwrap();
    assert_eq!(ob(e.bucket_usage("bkf").await.unwrap()), u(0, 0));
    e.delete_bucket("bkf").await.unwrap();
    // a new bucket of the same name starts from nothing
    e.create_bucket("bkf", "me").await.unwrap();
    put(e, "bkf", "z", b"abc").await;
    assert_eq!(ob(e.bucket_usage("bkf").await.unwrap()), u(1, 3));
}

/// Bytes on disks: incompressible data costs its size × (k+m)/k,
/// compressible data its compressed size × (k+m)/k (exactly the shard
/// bytes the engine wrote: its `stored_bytes_written` counter), the same
/// bytes under a second key are counted again (before dedup across
/// objects), a block repeated inside one object once, and deletes take
/// it all back.
#[tokio::test]
async fn bytes_on_disks_follow_compression_erasure_coding_and_dedup() {
    use std::sync::atomic::Ordering::Relaxed;
    let n = Node::with(
        6,
        EngineConfig {
            erasure: Some((4, 2)),
            ..config()
        },
    );
    let e = &n.engine;
    let written = || e.stats().stored_bytes_written.load(Relaxed);
    e.create_bucket("bks", "me").await.unwrap();
    let rnd = random(7, 5 * BS + 123);
    let w0 = written();
    put(e, "bks", "r", &rnd).await;
    let u1 = e.bucket_usage("bks").await.unwrap();
    assert_eq!(u1.stored_bytes, written() - w0, "{u1:?}");
    assert_eq!(u1.unknown_bytes, 0);
    let want = rnd.len() as f64 * 6.0 / 4.0;
    let got = u1.stored_bytes as f64;
    assert!(
        (got - want).abs() / want < 0.01,
        "incompressible: {got} vs {want}"
    );
    // compressible text (each block different): its compressed size × 6/4
    let text: Vec<u8> = (0..)
        .flat_map(|i| format!("line {i} of a log that compresses well\n").into_bytes())
        .take(5 * BS)
        .collect();
    let w1 = written();
    put(e, "bks", "t", &text).await;
    let u2 = e.bucket_usage("bks").await.unwrap();
    let text_disk = u2.stored_bytes - u1.stored_bytes;
    assert_eq!(text_disk, written() - w1, "exactly the shard bytes written");
    assert!(
        text_disk * 3 < text.len() as u64,
        "compressed before coding: {text_disk} for {} bytes",
        text.len()
    );
    // a block repeated within one object counts once; the same bytes
    // under another key count again (nothing new is written)
    let same = [rnd[..BS].to_vec(), rnd[..BS].to_vec()].concat();
    put(e, "bks", "twice", &same).await;
    let u3 = e.bucket_usage("bks").await.unwrap();
    let one_block = u3.stored_bytes - u2.stored_bytes;
    assert!(
        (one_block as f64 - BS as f64 * 1.5).abs() < BS as f64 * 0.02,
        "{one_block}"
    );
    let w2 = written();
    put(e, "bks", "r-again", &rnd).await;
    let u4 = e.bucket_usage("bks").await.unwrap();
    assert_eq!(written(), w2, "deduplicated: no new shards");
    let again = (u4.stored_bytes - u3.stored_bytes) as f64;
    assert!((again - got).abs() / got < 0.01, "{again} vs {got}");
    // a multipart object: the sum of its parts' shard bytes
    let id = e
        .create_multipart("bks", "mp", ObjectMeta::default())
        .await
        .unwrap();
    let parts = [random(11, 2 * BS + 7), random(12, 2 * BS + 9)];
    let w3 = written();
    let mut etags = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as u32 + 1;
        let up = e
            .upload_part("bks", "mp", &id, n, chunked(p), Default::default())
            .await
            .unwrap();
        etags.push((n, up.etag));
    }
    e.complete_multipart("bks", "mp", &id, &etags)
        .await
        .unwrap();
    let u5 = e.bucket_usage("bks").await.unwrap();
    assert_eq!(
        u5.stored_bytes - u4.stored_bytes,
        written() - w3,
        "multipart"
    );
    for k in ["r", "t", "twice", "r-again", "mp"] {
        e.delete_object("bks", k, None).await.unwrap();
    }
    let u6 = e.bucket_usage("bks").await.unwrap();
    assert_eq!((u6.objects, u6.bytes, u6.stored_bytes), (0, 0, 0));
}
