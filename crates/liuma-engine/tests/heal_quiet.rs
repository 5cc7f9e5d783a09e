//! Quiet heal passes: after a pass that left nothing to do, passes under
//! the same conditions look at no block; an operator's walk still does.

use std::sync::Arc;

use liuma_disk::{DiskConfig, ShardStore};
use liuma_engine::{Engine, EngineConfig, HealOptions, PutOptions, body_from_bytes};
use liuma_meta::RedbStore;

const BS: usize = 64 << 10;

fn heal(walk_all: bool) -> HealOptions {
    HealOptions {
        rebalance: true,
        bytes_per_sec: 0,
        walk_all,
    }
}

#[tokio::test]
async fn passes_under_unchanged_conditions_look_at_no_block() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EngineConfig {
        block_size: BS,
        replicate_below: 16 << 10,
        ..Default::default()
    };
    let meta = RedbStore::open(&dir.path().join("meta.redb")).unwrap();
    let disks: Vec<DiskConfig> = (0..3)
        .map(|i| DiskConfig::new(dir.path().join(format!("disk{i}"))))
        .collect();
    let e = Engine::open(cfg, meta, Arc::new(ShardStore::open(&disks).unwrap())).unwrap();
    e.create_bucket("heal", "me").await.unwrap();
    for i in 0..4u8 {
        let body = body_from_bytes(vec![i; 2 * BS + 7]);
        e.put_object("heal", &format!("k{i}"), body, PutOptions::default())
            .await
            .unwrap();
    }
    let first = e.heal_pass(heal(false)).await.unwrap();
    assert!(!first.quiet && first.blocks_checked >= 8, "{first:?}");
    let second = e.heal_pass(heal(false)).await.unwrap();
    assert!(second.quiet, "{second:?}");
    assert_eq!(second.blocks_checked, 0, "{second:?}");
    // A new block written where placement wants it needs no mark.
    let body = body_from_bytes(vec![9; 3 * BS]);
    e.put_object("heal", "new", body, PutOptions::default())
        .await
        .unwrap();
    let third = e.heal_pass(heal(false)).await.unwrap();
    assert_eq!((third.quiet, third.blocks_checked), (true, 0), "{third:?}");
    // The operator's walk looks at every block.
    let walk = e.heal_pass(heal(true)).await.unwrap();
    assert!(
        !walk.quiet && walk.blocks_checked > first.blocks_checked,
        "{walk:?}"
    );
}
