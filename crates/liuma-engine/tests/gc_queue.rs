//! Incremental GC against the real redb store and shard files: it frees what
//! the full pass would free (deleted and overwritten objects, lost
//! conditional writes, replaced and aborted parts), keeps shared and
//! still-referenced blocks, waits out the grace, and a pass over a store
//! where nothing changed looks at no block at all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use liuma_disk::{DiskConfig, ShardStore};
use liuma_engine::{
    Engine, EngineConfig, GcReport, GetOptions, ObjectMeta, PartOptions, PutOptions,
    body_from_bytes,
};
use liuma_meta::RedbStore;
use rand::{Rng, SeedableRng, rngs::StdRng};

const BS: usize = 64 << 10;

fn engine(dir: &std::path::Path, grace: Duration) -> Engine {
    let cfg = EngineConfig {
        block_size: BS,
        replicate_below: 16 << 10,
        min_part_size: 2 * BS as u64,
        gc_grace: grace,
        ..Default::default()
    };
    let meta = RedbStore::open(&dir.join("meta.redb")).unwrap();
    let store = Arc::new(ShardStore::open(&[DiskConfig::new(dir.join("disk0"))]).unwrap());
    Engine::open(cfg, meta, store).unwrap()
}

fn random(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill(&mut v[..]);
    v
}

async fn put(e: &Engine, b: &str, k: &str, data: &[u8]) {
    e.put_object(b, k, body_from_bytes(data.to_vec()), PutOptions::default())
        .await
        .unwrap();
}

async fn read(e: &Engine, b: &str, k: &str) -> Vec<u8> {
    let mut g = e.get_object(b, k, GetOptions::default()).await.unwrap();
    let mut out = Vec::new();
    while let Some(c) = g.body.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

async fn incremental(e: &Engine) -> GcReport {
    e.gc_incremental_pass(None).await.unwrap()
}

/// The full pass finds nothing the incremental ones left: no stale
/// reference, no block to free. Returns the live block count.
async fn full_pass_agrees(e: &Engine) -> u64 {
    let r = e.gc_pass(None).await.unwrap();
    assert_eq!((r.blocks_deleted, r.refs_deleted), (0, 0), "{r:?}");
    r.blocks_checked
}

#[tokio::test]
async fn frees_deleted_and_overwritten_objects_and_keeps_shared_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), Duration::ZERO);
    e.create_bucket("gcq", "me").await.unwrap();
    let shared = random(1, 3 * BS);
    let own = random(2, 2 * BS + 5);
    put(&e, "gcq", "one", &shared).await;
    put(&e, "gcq", "two", &shared).await; // same blocks (dedup)
    put(&e, "gcq", "three", &own).await;

    // The writes' own entries: each owner looked at once, nothing freed.
    let r = incremental(&e).await;
    assert_eq!((r.owners_checked, r.blocks_deleted), (3, 0), "{r:?}");
    // Nothing changed since: the pass looks at nothing.
    let r = incremental(&e).await;
    assert_eq!((r.owners_checked, r.blocks_checked), (0, 0), "{r:?}");

    e.delete_object("gcq", "one", None).await.unwrap();
    let r = incremental(&e).await;
    assert_eq!(
        (r.owners_checked, r.blocks_deleted),
        (1, 0),
        "still used by 'two': {r:?}"
    );
    assert_eq!(r.refs_deleted, 3, "{r:?}");
    assert_eq!(read(&e, "gcq", "two").await, shared);

    e.delete_object("gcq", "two", None).await.unwrap();
    let r = incremental(&e).await;
    assert_eq!(r.blocks_deleted, 3, "{r:?}");
    // An overwrite (unversioned bucket) removes the old version.
    put(&e, "gcq", "three", b"now inline").await;
    let r = incremental(&e).await;
    assert_eq!(r.blocks_deleted, 3, "{r:?}");
    assert_eq!(read(&e, "gcq", "three").await, b"now inline");
    assert_eq!(full_pass_agrees(&e).await, 0);
}

#[tokio::test]
async fn frees_the_blocks_of_writes_that_never_committed() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), Duration::ZERO);
    e.create_bucket("gcq", "me").await.unwrap();
    put(&e, "gcq", "k", &random(9, 2 * BS)).await;
    // A client that sends four blocks and then drops the connection: the
    // blocks and their references are written, the version never is.
    let cut = futures_util::stream::iter(
        (0..4)
            .map(|i| Ok(bytes::Bytes::from(random(20 + i, BS))))
            .chain([Err(std::io::Error::other("client went away"))]),
    );
    let lost = e
        .put_object("gcq", "k", Box::pin(cut), PutOptions::default())
        .await;
    assert!(lost.is_err(), "{lost:?}");
    let r = incremental(&e).await;
    assert_eq!(r.blocks_deleted, 4, "the cut upload's blocks: {r:?}");
    assert_eq!(full_pass_agrees(&e).await, 2);
    assert_eq!(read(&e, "gcq", "k").await, random(9, 2 * BS));
}

#[tokio::test]
async fn frees_replaced_and_aborted_parts_and_keeps_completed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), Duration::ZERO);
    e.create_bucket("gcq", "me").await.unwrap();
    let part = |n: u64| body_from_bytes(random(n, 2 * BS));
    let up = e
        .create_multipart("gcq", "big", ObjectMeta::default())
        .await
        .unwrap();
    e.upload_part("gcq", "big", &up, 1, part(1), PartOptions::default())
        .await
        .unwrap();
    // part 1 again with other bytes: the first upload's blocks are garbage
    let p1 = e
        .upload_part("gcq", "big", &up, 1, part(2), PartOptions::default())
        .await
        .unwrap();
    let p2 = e
        .upload_part("gcq", "big", &up, 2, part(3), PartOptions::default())
        .await
        .unwrap();
    let r = incremental(&e).await;
    assert_eq!(r.blocks_deleted, 2, "replaced part: {r:?}");
    e.complete_multipart("gcq", "big", &up, &[(1, p1.etag), (2, p2.etag)])
        .await
        .unwrap();
    let r = incremental(&e).await;
    assert_eq!(
        r.blocks_deleted, 0,
        "the object holds the parts' blocks: {r:?}"
    );
    let mut want = random(2, 2 * BS);
    want.extend(random(3, 2 * BS));
    assert_eq!(read(&e, "gcq", "big").await, want);

    let up = e
        .create_multipart("gcq", "gone", ObjectMeta::default())
        .await
        .unwrap();
    e.upload_part("gcq", "gone", &up, 1, part(4), PartOptions::default())
        .await
        .unwrap();
    e.abort_multipart("gcq", "gone", &up).await.unwrap();
    let r = incremental(&e).await;
    assert_eq!(r.blocks_deleted, 2, "aborted upload: {r:?}");
    assert_eq!(full_pass_agrees(&e).await, 4);
}

#[tokio::test]
async fn waits_out_the_grace_without_looking_again_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), Duration::from_secs(3600));
    e.create_bucket("gcq", "me").await.unwrap();
    put(&e, "gcq", "x", &random(5, 3 * BS)).await;
    // The write's own entry is due in an hour: not looked at yet.
    let r = incremental(&e).await;
    assert_eq!(r.owners_checked, 0, "{r:?}");
    e.delete_object("gcq", "x", None).await.unwrap();
    // The removal is due now, but the blocks are younger than the grace:
    // kept, and the owner is put back in the queue for when it has passed.
    let r = incremental(&e).await;
    assert_eq!((r.owners_checked, r.blocks_deleted), (1, 0), "{r:?}");
    let r = incremental(&e).await;
    assert_eq!(
        r.owners_checked, 0,
        "rescheduled, not looked at again: {r:?}"
    );
}

/// What an idle GC or heal pass costs next to a full one (figures
/// for BENCHMARKS.md: `cargo test --release -p liuma-engine --test gc_queue
/// -- --ignored --nocapture`).
#[tokio::test]
#[ignore = "measurement; run by hand"]
async fn idle_pass_cost() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), Duration::ZERO);
    e.create_bucket("gcq", "me").await.unwrap();
    let objects: u64 = std::env::var("GC_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    for i in 0..objects {
        put(&e, "gcq", &format!("o{i:08}"), &random(i, BS + 100)).await;
    }
    incremental(&e).await; // the writes' own entries
    let t = Instant::now();
    let full = e.gc_pass(None).await.unwrap();
    let full_t = t.elapsed();
    let t = Instant::now();
    let idle = incremental(&e).await;
    let idle_t = t.elapsed();
    println!(
        "{objects} objects, {} blocks: full pass {full_t:.2?} ({} blocks checked), \
         idle incremental pass {idle_t:.2?} ({} blocks checked)",
        full.blocks_checked, full.blocks_checked, idle.blocks_checked
    );
    assert_eq!(idle.blocks_checked, 0);
    // The same for heal: a walk, then a quiet pass under the same conditions.
    let heal = liuma_engine::HealOptions {
        rebalance: true,
        bytes_per_sec: 0,
        walk_all: false,
    };
    let t = Instant::now();
    let walk = e.heal_pass(heal).await.unwrap();
    let walk_t = t.elapsed();
    let t = Instant::now();
    let quiet = e.heal_pass(heal).await.unwrap();
    let quiet_t = t.elapsed();
    println!(
        "heal: walk {walk_t:.2?} ({} blocks checked), quiet pass {quiet_t:.2?} ({} blocks checked)",
        walk.blocks_checked, quiet.blocks_checked
    );
    assert!(quiet.quiet && quiet.blocks_checked == 0, "{quiet:?}");
}

#[tokio::test]
async fn an_upload_of_many_reference_batches_is_queued_once() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), Duration::ZERO);
    e.create_bucket("gcq", "me").await.unwrap();
    // 130 distinct blocks: three batches of references (63 per batch).
    let data = random(77, 130 * BS);
    put(&e, "gcq", "big", &data).await;
    let r = incremental(&e).await;
    assert_eq!((r.owners_checked, r.blocks_deleted), (1, 0), "{r:?}");
    e.delete_object("gcq", "big", None).await.unwrap();
    let r = incremental(&e).await;
    assert_eq!((r.owners_checked, r.blocks_deleted), (1, 130), "{r:?}");
    assert_eq!(full_pass_agrees(&e).await, 0);
}
