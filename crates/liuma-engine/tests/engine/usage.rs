//! Bucket usage counters (`Engine::bucket_usage`): correct through puts,
//! overwrites, versions, delete markers, version deletes, folding of many
//! deltas, and bucket deletion.

use crate::common::*;
use liuma_engine::BucketUsage;

fn u(objects: u64, bytes: u64) -> BucketUsage {
    BucketUsage { objects, bytes }
}

#[tokio::test]
async fn usage_follows_puts_overwrites_versions_and_deletes() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("bku", "me").await.unwrap();
    assert_eq!(e.bucket_usage("bku").await.unwrap(), u(0, 0));
    put(e, "bku", "a", b"12345").await;
    put(e, "bku", "b", &[7u8; 300_000]).await;
    assert_eq!(e.bucket_usage("bku").await.unwrap(), u(2, 300_005));
    // overwrite of an unversioned key replaces it
    put(e, "bku", "a", b"123").await;
    assert_eq!(e.bucket_usage("bku").await.unwrap(), u(2, 300_003));
    // versioning keeps the old one; a delete marker counts nothing
    e.set_versioning("bku", Versioning::Enabled).await.unwrap();
    let v = put(e, "bku", "a", b"1234567").await;
    assert_eq!(e.bucket_usage("bku").await.unwrap(), u(3, 300_010));
    let del = e.delete_object("bku", "a", None).await.unwrap();
    assert!(del.delete_marker);
    assert_eq!(e.bucket_usage("bku").await.unwrap(), u(3, 300_010));
    e.delete_object("bku", "a", Some(&v.version_id))
        .await
        .unwrap();
    assert_eq!(e.bucket_usage("bku").await.unwrap(), u(2, 300_003));
    e.delete_object("bku", "b", Some("null")).await.unwrap();
    e.delete_object("bku", "a", Some("null")).await.unwrap();
    assert_eq!(e.bucket_usage("bku").await.unwrap(), u(0, 0));
}

#[tokio::test]
async fn usage_folds_many_deltas_and_dies_with_the_bucket() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("bkf", "me").await.unwrap();
    // the first read counts by a scan and stores the base
    put(e, "bkf", "first", b"x").await;
    assert_eq!(e.bucket_usage("bkf").await.unwrap(), u(1, 1));
    for i in 0..150 {
        put(e, "bkf", &format!("k{i}"), b"ab").await;
    }
    // each read folds up to 100 deltas: the sum never changes
    for _ in 0..3 {
        assert_eq!(e.bucket_usage("bkf").await.unwrap(), u(151, 301));
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
    assert_eq!(e.bucket_usage("bkf").await.unwrap(), u(0, 0));
    e.delete_bucket("bkf").await.unwrap();
    // a new bucket of the same name starts from nothing
    e.create_bucket("bkf", "me").await.unwrap();
    put(e, "bkf", "z", b"abc").await;
    assert_eq!(e.bucket_usage("bkf").await.unwrap(), u(1, 3));
}
