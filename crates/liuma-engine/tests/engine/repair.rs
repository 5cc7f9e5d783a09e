//! Lost, rotten, full and vanished disks: degraded reads, repair, heal,
//! rebalance and re-encoding.

use crate::common::*;

async fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("condition not reached in 5 s");
}

#[tokio::test]
async fn reads_survive_lost_and_rotten_shards_and_repair_them() {
    let n = Node::new(4); // 2+2
    let e = &n.engine;
    assert_eq!(e.erasure(), (2, 2));
    e.create_bucket("bkr", "me").await.unwrap();
    // whole blocks only: a small tail block would be replicated (k = 1), where
    // index 1 is a copy that a read does not touch
    let data = random(11, 6 * BS);
    put(e, "bkr", "obj", &data).await;
    // lose the data shards (index 0 and 1) on one disk: every read needs them
    let is_data = |f: &std::path::PathBuf| {
        let name = f.to_str().unwrap();
        name.ends_with(".0") || name.ends_with(".1")
    };
    let lost_disk = (0..4)
        .max_by_key(|&d| n.shard_files(d).iter().filter(|f| is_data(f)).count())
        .unwrap();
    let lost: Vec<_> = n
        .shard_files(lost_disk)
        .into_iter()
        .filter(is_data)
        .collect();
    assert!(
        !lost.is_empty(),
        "some data shards live on disk {lost_disk}"
    );
    for f in &lost {
        std::fs::remove_file(f).unwrap();
    }
    // and rot every shard on another disk (data or parity)
    let rotten = n.shard_files((lost_disk + 1) % 4);
    for f in &rotten {
        let mut b = std::fs::read(f).unwrap();
        let mid = b.len() / 2;
        b[mid] ^= 0xff;
        std::fs::write(f, b).unwrap();
    }
    assert_eq!(get(e, "bkr", "obj", GetOptions::default()).await, data);
    // The repair runs in the background: files first, then its counter.
    wait_for(|| {
        lost.iter().all(|f| f.exists())
            && Stats::get(&e.stats().shards_repaired) >= lost.len() as u64
    })
    .await;
    assert!(Stats::get(&e.stats().degraded_reads) > 0);
    // rotten parity shards were not read; the scrubber finds and repairs them
    let report = e.scrub_pass(0).await.unwrap();
    assert_eq!(report.unrecoverable, 0);
    let again = e.scrub_pass(0).await.unwrap();
    assert_eq!(again.bad_shards, 0, "everything repaired: {report:?}");
    for f in &rotten {
        let frame = Bytes::from(std::fs::read(f).unwrap());
        liuma_codec::parse_shard(frame).expect("repaired shard verifies");
    }
    assert_eq!(get(e, "bkr", "obj", GetOptions::default()).await, data);
}

#[tokio::test]
async fn too_many_lost_shards_is_a_clear_error() {
    let n = Node::new(2); // 1+1: two replicas
    let e = &n.engine;
    e.create_bucket("bkr", "me").await.unwrap();
    put(e, "bkr", "obj", &random(12, 2 * BS)).await;
    for d in 0..2 {
        for f in n.shard_files(d) {
            std::fs::remove_file(f).unwrap();
        }
    }
    // The first block is read before the response starts, so the error is
    // a status (503 upstream), not a body cut short.
    let r = e.get_object("bkr", "obj", GetOptions::default()).await;
    assert!(
        matches!(r, Err(Error::BlockUnavailable { .. })),
        "{:?}",
        r.err()
    );
}

#[tokio::test]
async fn full_disks_fail_cleanly_and_fallback_works() {
    let n = Node::new(4);
    let e = &n.engine;
    e.create_bucket("bkf", "me").await.unwrap();
    // one full disk: shards go elsewhere, the write succeeds
    liuma_engine::testing::disks(e).inject_fault(0, Some(Fault::Full));
    let data = random(13, 3 * BS);
    put(e, "bkf", "ok", &data).await;
    assert!(n.shard_files(0).is_empty());
    assert_eq!(get(e, "bkf", "ok", GetOptions::default()).await, data);
    // every disk full: typed error, no object, no shards left behind
    for d in 0..4 {
        liuma_engine::testing::disks(e).inject_fault(d, Some(Fault::Full));
    }
    let before: usize = (0..4).map(|d| n.shard_files(d).len()).sum();
    let r = e
        .put_object(
            "bkf",
            "no",
            chunked(&random(14, 3 * BS)),
            PutOptions::default(),
        )
        .await;
    assert!(matches!(r, Err(Error::StorageFull(_))), "{r:?}");
    assert!(matches!(
        e.head_object("bkf", "no", None).await,
        Err(Error::NoSuchKey { .. })
    ));
    let after: usize = (0..4).map(|d| n.shard_files(d).len()).sum();
    assert_eq!(before, after);
}

#[tokio::test]
async fn a_disk_that_disappears_degrades_reads_and_redirects_writes() {
    let n = Node::new(4); // 2+2
    let e = &n.engine;
    e.create_bucket("bkd", "me").await.unwrap();
    let before = random(21, 5 * BS);
    put(e, "bkd", "before", &before).await;
    liuma_engine::testing::disks(e).inject_fault(2, Some(Fault::Gone));
    // Not ready, and for the right reason: a failed disk, not "storage full".
    let r = e.check_ready().await;
    assert!(matches!(r, Err(Error::DiskFailed(_))), "{r:?}");
    assert_eq!(r.unwrap_err().http_status(), 503);
    assert_eq!(get(e, "bkd", "before", GetOptions::default()).await, before);
    let after = random(22, 5 * BS);
    put(e, "bkd", "after", &after).await;
    assert_eq!(get(e, "bkd", "after", GetOptions::default()).await, after);
    // when the disk comes back, the scrubber puts the shards it missed back
    liuma_engine::testing::disks(e).inject_fault(2, None);
    e.check_ready().await.unwrap();
    let report = e.scrub_pass(0).await.unwrap();
    assert_eq!(report.unrecoverable, 0);
    assert_eq!(e.scrub_pass(0).await.unwrap().bad_shards, 0);
}

/// Open the engine over an explicit list of disk directories (names under the temp dir).
fn open_disks(dir: &std::path::Path, names: &[&str], cfg: EngineConfig) -> Engine {
    let meta = RedbStore::open(&dir.join("meta.redb")).unwrap();
    let cfgs: Vec<DiskConfig> = names.iter().map(|n| DiskConfig::new(dir.join(n))).collect();
    Engine::open(cfg, meta, Arc::new(ShardStore::open(&cfgs).unwrap())).unwrap()
}

fn heal_now() -> liuma_engine::HealOptions {
    liuma_engine::HealOptions {
        rebalance: true,
        bytes_per_sec: 0,
        walk_all: true,
    }
}

#[tokio::test]
async fn heal_rebuilds_shards_of_a_lost_disk_and_rebalances_onto_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EngineConfig {
        erasure: Some((2, 1)),
        ..config()
    };
    let data = random(7, 20 * BS + 123);
    {
        let e = open_disks(dir.path(), &["a", "b", "c"], cfg.clone());
        e.create_bucket("bkt", "o").await.unwrap();
        put(&e, "bkt", "k", &data).await;
        let c = e.block_census(true).await.unwrap();
        assert_eq!((c.blocks, c.healthy), (21, 21), "{c:?}");
    }
    // Disk "c" is lost for good; "d" replaces it.
    std::fs::remove_dir_all(dir.path().join("c")).unwrap();
    let e = open_disks(dir.path(), &["a", "b", "d"], cfg.clone());
    let before = e.block_census(false).await.unwrap();
    // 20 full blocks of 2+1 use all three disks; the 123-byte tail is two
    // replicas, which may or may not have used c.
    let lost_shards = before.shards_per_node["?"];
    assert!((20..=21).contains(&lost_shards), "{before:?}");
    assert_eq!(before.degraded, lost_shards, "{before:?}");
    let total_shards: u64 = before.shards_per_node.values().sum();
    assert_eq!(total_shards, 62);
    assert_eq!(
        get(&e, "bkt", "k", GetOptions::default()).await,
        data,
        "degraded read"
    );
    // The read above repairs in the background too; heal may race it (a CAS
    // conflict is retried by the next pass), so run passes until quiet.
    let mut rebuilt = 0;
    for _ in 0..10 {
        let r = e.heal_pass(heal_now()).await.unwrap();
        rebuilt += r.rebuilt;
        if r.failed == 0 && r.rebuilt == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let repaired = Stats::get(&e.stats().shards_repaired);
    assert!(
        rebuilt > 0 && repaired >= lost_shards,
        "rebuilt {rebuilt}, repaired {repaired}"
    );
    let after = e.block_census(true).await.unwrap();
    assert_eq!((after.healthy, after.lost), (21, 0), "{after:?}");
    assert_eq!(
        e.heal_pass(heal_now()).await.unwrap().rebuilt,
        0,
        "nothing left to do"
    );
    drop(e);

    // A fourth disk joins: heal moves about a quarter of the shards onto it.
    let e = open_disks(dir.path(), &["a", "b", "d", "e"], cfg);
    let r = e.heal_pass(heal_now()).await.unwrap();
    assert!(
        (5..=30).contains(&r.rebalanced),
        "62 shards over 4 disks: about 15 move, got {r:?}"
    );
    let c = e.block_census(true).await.unwrap();
    assert_eq!((c.healthy, c.lost), (21, 0), "{c:?}");
    let on_new = std::fs::read_dir(dir.path().join("e/shards"))
        .unwrap()
        .count();
    assert!(on_new > 0, "the new disk holds shards");
    assert_eq!(get(&e, "bkt", "k", GetOptions::default()).await, data);
    // Moved shards left their old disks: 62 shard files in all.
    let files = ["a", "b", "d", "e"]
        .iter()
        .map(|d| count_files(&dir.path().join(d).join("shards")))
        .sum::<usize>();
    assert_eq!(files, 62);
}

fn count_files(p: &std::path::Path) -> usize {
    std::fs::read_dir(p).map_or(0, |rd| {
        rd.flatten()
            .map(|e| {
                if e.file_type().unwrap().is_dir() {
                    count_files(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

fn files_under(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[tokio::test]
async fn rebalance_never_copies_a_rotten_shard() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EngineConfig {
        erasure: Some((2, 1)),
        ..config()
    };
    let data = random(9, 20 * BS);
    {
        let e = open_disks(dir.path(), &["a", "b", "c"], cfg.clone());
        e.create_bucket("bkt", "o").await.unwrap();
        put(&e, "bkt", "k", &data).await;
    }
    // Every shard on disk a rots (one payload byte flipped).
    let rotten = files_under(&dir.path().join("a/shards"));
    assert_eq!(rotten.len(), 20);
    for f in &rotten {
        let mut b = std::fs::read(f).unwrap();
        b[150] ^= 0x20;
        std::fs::write(f, b).unwrap();
    }
    // A new disk joins; whatever moves from a to e must arrive good.
    let e = open_disks(dir.path(), &["a", "b", "c", "e"], cfg);
    let mut moved = 0;
    for _ in 0..5 {
        let r = e.heal_pass(heal_now()).await.unwrap();
        moved += r.rebalanced;
        if r.rebalanced == 0 && r.failed == 0 {
            break;
        }
    }
    let arrived = files_under(&dir.path().join("e/shards"));
    assert!(moved > 0 && !arrived.is_empty(), "moved {moved}");
    for f in &arrived {
        let frame = Bytes::from(std::fs::read(f).unwrap());
        assert!(
            liuma_codec::parse_shard(frame).is_ok(),
            "{} arrived rotten",
            f.display()
        );
    }
    assert_eq!(get(&e, "bkt", "k", GetOptions::default()).await, data);
}

/// A node that wrote 1+0 blocks (as a first cluster node alone does) and is
/// then asked for more parity: one heal pass re-encodes every block to the
/// target, deletes the old shards, and the data reads back. Redundancy is
/// never reduced, and a second pass has nothing left to do.
#[tokio::test]
async fn heal_reencodes_blocks_below_the_target_code() {
    let mut n = Node::with(
        6,
        EngineConfig {
            erasure: Some((1, 0)),
            ..config()
        },
    );
    n.engine.create_bucket("bkt", "o").await.unwrap();
    let objects = [
        ("multi", random(1, 5 * BS + 1000)),
        ("one-block", random(2, 40 << 10)),
        ("replicated", random(3, 10 << 10)),
    ];
    for (k, d) in &objects {
        put(&n.engine, "bkt", k, d).await;
    }
    let files = |n: &Node| (0..6).map(|d| n.shard_files(d).len()).sum::<usize>();
    assert_eq!(files(&n), 8, "one shard per block at 1+0");
    // Target now: the disk-count default, 4+2 for six disks.
    n.cfg.erasure = None;
    let n = n.reopen().await;
    assert_eq!(n.engine.erasure(), (4, 2));
    let census = n.engine.block_census(true).await.unwrap();
    assert_eq!(
        (census.blocks, census.below_target, census.healthy),
        (8, 8, 0)
    );
    assert_eq!(census.buckets["bkt"].below_target, 8, "{census:?}");

    let began = std::time::Instant::now();
    let r = n.engine.heal_pass(Default::default()).await.unwrap();
    println!("re-encoded {} blocks in {:?}", r.reencoded, began.elapsed());
    assert_eq!((r.reencoded, r.below_target, r.failed), (8, 0, 0), "{r:?}");
    let census = n.engine.block_census(true).await.unwrap();
    assert_eq!((census.healthy, census.below_target), (8, 0), "{census:?}");
    // 5 full blocks and the 40 KiB one are 4+2 (6 shards each); the
    // 1000-byte tail and the 10 KiB object, under replicate_below, are
    // 3 whole replicas each.
    assert_eq!(
        files(&n),
        6 * 6 + 2 * 3,
        "old shards deleted, new ones placed"
    );
    for (k, d) in &objects {
        assert_eq!(&get(&n.engine, "bkt", k, GetOptions::default()).await, d);
    }
    let again = n.engine.heal_pass(Default::default()).await.unwrap();
    assert_eq!(
        (again.reencoded, again.rebalanced, again.rebuilt),
        (0, 0, 0)
    );

    // A smaller code is never a reason to rewrite: 1+1 < 4+2 stays 4+2.
    let mut n = n;
    n.cfg.erasure = Some((1, 1));
    let n = n.reopen().await;
    let r = n.engine.heal_pass(Default::default()).await.unwrap();
    assert_eq!(r.reencoded, 0);
    assert_eq!(files(&n), 6 * 6 + 2 * 3);
}
