//! Garbage collection: dedup'd blocks, the grace period (passed on the
//! engine's clock, never slept through), races with re-uploads, orphan shards.

use crate::common::*;

#[tokio::test]
async fn dedup_then_gc_frees_space_after_grace() {
    let cfg = EngineConfig {
        block_size: 1 << 20,
        gc_grace: Duration::from_millis(300),
        ..config()
    };
    let n = Node::with(1, cfg);
    let e = &n.engine;
    e.create_bucket("bkd", "me").await.unwrap();
    let data = random(42, 100 << 20);
    put(e, "bkd", "one", &data).await;
    let written = Stats::get(&e.stats().blocks_written);
    assert_eq!(written, 100);
    // shard bytes of the new blocks: random data does not compress, and
    // parity only adds
    let stored = Stats::get(&e.stats().stored_bytes_written);
    assert!(stored >= data.len() as u64, "{stored}");
    let files = n.shard_files(0).len();
    put(e, "bkd", "two", &data).await;
    assert_eq!(
        Stats::get(&e.stats().blocks_written),
        written,
        "second copy adds no blocks"
    );
    assert_eq!(Stats::get(&e.stats().blocks_deduplicated), 100);
    assert_eq!(
        Stats::get(&e.stats().stored_bytes_written),
        stored,
        "a deduplicated copy stores no shard bytes"
    );
    assert_eq!(n.shard_files(0).len(), files);
    e.delete_object("bkd", "one", None).await.unwrap();
    liuma_engine::testing::advance_clock(e, Duration::from_millis(400));
    let r = e.gc_pass(None).await.unwrap();
    assert_eq!(r.blocks_deleted, 0, "still referenced by 'two'");
    assert_eq!(get(e, "bkd", "two", GetOptions::default()).await, data);
    e.delete_object("bkd", "two", None).await.unwrap();
    let r = e.gc_pass(None).await.unwrap();
    assert_eq!(r.blocks_deleted, 100);
    assert_eq!(n.shard_files(0).len(), 0, "space freed");
}

#[tokio::test]
async fn gc_keeps_unreferenced_blocks_during_grace() {
    let cfg = EngineConfig {
        gc_grace: Duration::from_secs(3600),
        ..config()
    };
    let n = Node::with(1, cfg);
    let e = &n.engine;
    e.create_bucket("bkd", "me").await.unwrap();
    put(e, "bkd", "x", &random(5, 3 * BS)).await;
    e.delete_object("bkd", "x", None).await.unwrap();
    let r = e.gc_pass(None).await.unwrap();
    assert_eq!((r.blocks_checked, r.blocks_deleted), (3, 0));
    assert_eq!(n.shard_files(0).len(), 3);
}

#[tokio::test]
async fn gc_racing_a_reupload_of_the_same_blocks_loses_nothing() {
    let cfg = EngineConfig {
        gc_grace: Duration::from_millis(400),
        ..config()
    };
    let n = Node::with(2, cfg);
    let e = n.engine.clone();
    e.create_bucket("bkg", "me").await.unwrap();
    let data = random(77, 6 * BS);
    for round in 0..6u64 {
        put(&e, "bkg", "old", &data).await;
        e.delete_object("bkg", "old", None).await.unwrap();
        // the blocks are now unreferenced and past their grace period
        liuma_engine::testing::advance_clock(&e, Duration::from_millis(450));
        let gc = {
            let e = e.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(round * 3)).await;
                e.gc_pass(None).await.unwrap()
            })
        };
        let key = format!("new{round}");
        put(&e, "bkg", &key, &data).await;
        gc.await.unwrap();
        assert_eq!(
            get(&e, "bkg", &key, GetOptions::default()).await,
            data,
            "round {round}"
        );
        let report = e.scrub_pass(0).await.unwrap();
        assert_eq!(
            (report.unrecoverable, report.bad_shards),
            (0, 0),
            "round {round}"
        );
        e.delete_object("bkg", &key, None).await.unwrap();
    }
}

#[tokio::test]
async fn gc_removes_orphan_shards_of_interrupted_writes_after_grace() {
    let cfg = EngineConfig {
        gc_grace: Duration::from_secs(3600),
        ..config()
    };
    let n = Node::with(1, cfg);
    let e = &n.engine;
    e.create_bucket("bko", "me").await.unwrap();
    let kept = random(31, 2 * BS);
    put(e, "bko", "kept", &kept).await;
    // shards written by a put that died before committing its block record
    let params = liuma_codec::CodecParams::default();
    let old = liuma_codec::encode_block(&params, Bytes::from(random(32, BS))).unwrap();
    let young = liuma_codec::encode_block(&params, Bytes::from(random(33, BS))).unwrap();
    liuma_engine::testing::disks(e)
        .write_shard(0, &old.shards[0])
        .unwrap();
    let old_path = liuma_engine::testing::disks(e).shard_path(0, &old.id, 0);
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old_path)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    // the committed object's shards are old too, but they have records
    for f in n.shard_files(0) {
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
    }
    liuma_engine::testing::disks(e)
        .write_shard(0, &young.shards[0])
        .unwrap();
    let r = e.gc_pass(None).await.unwrap();
    assert_eq!(r.orphan_shards_deleted, 1, "{r:?}");
    assert!(!old_path.exists());
    assert!(
        liuma_engine::testing::disks(e)
            .shard_path(0, &young.id, 0)
            .exists(),
        "a young orphan may be a write in progress"
    );
    assert_eq!(get(e, "bko", "kept", GetOptions::default()).await, kept);
}
