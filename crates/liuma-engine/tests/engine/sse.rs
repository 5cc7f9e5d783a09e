//! Server-side encryption at rest as the engine stores it (issue #19's
//! cost work): encrypted blocks are opaque-id blocks that heal, scrub and
//! re-encode verify by their frame checksums with no key, a GET lets the
//! GCM tag catch rot and then repairs; small encrypted objects are sealed
//! into their record; blocks written in the first envelope format still read.

use liuma_engine::{CustomerKey, KeyRing, SseRequest};

use crate::common::*;

fn sse_config() -> EngineConfig {
    EngineConfig {
        sse_keys: Some(KeyRing::single([0x33; 32])),
        ..config()
    }
}

async fn put_sse(e: &Engine, k: &str, data: &[u8], sse: SseRequest) {
    e.put_object(
        "bkt",
        k,
        chunked(data),
        PutOptions {
            sse: Some(sse),
            ..PutOptions::default()
        },
    )
    .await
    .unwrap();
}

fn keyed(k: Option<&CustomerKey>) -> GetOptions {
    GetOptions {
        customer_key: k.cloned(),
        ..GetOptions::default()
    }
}

/// Every file under the node's directory (shards and the redb metadata).
fn all_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn anywhere_on_disk(root: &std::path::Path, needle: &[u8]) -> bool {
    all_files(root).iter().any(|p| {
        std::fs::read(p)
            .map(|b| b.windows(needle.len()).any(|w| w == needle))
            .unwrap_or(false)
    })
}

#[tokio::test]
async fn rotten_encrypted_shards_are_caught_by_gcm_and_repaired_without_keys() {
    let n = Node::with(4, sse_config()); // 2+2
    let e = &n.engine;
    e.create_bucket("bkt", "me").await.unwrap();
    let data = random(21, 6 * BS);
    put_sse(e, "obj", &data, SseRequest::S3).await;
    // rot every shard on one disk: data shards among them, which a GET reads
    let rotten = (0..4)
        .max_by_key(|&d| {
            n.shard_files(d)
                .iter()
                .filter(|f| f.to_str().unwrap().ends_with(".0"))
                .count()
        })
        .unwrap();
    let files = n.shard_files(rotten);
    assert!(!files.is_empty());
    for f in &files {
        let mut b = std::fs::read(f).unwrap();
        assert_eq!(
            b[5] & 0b100,
            0b100,
            "format-2 envelopes are opaque-id blocks"
        );
        let mid = b.len() / 2 + 50;
        b[mid] ^= 0xff;
        std::fs::write(f, b).unwrap();
    }
    // the GCM tag fails, the verifying read names the rotten shard
    assert_eq!(get(e, "bkt", "obj", GetOptions::default()).await, data);
    assert!(Stats::get(&e.stats().degraded_reads) > 0);
    // the scrubber (no key involved) finds the rest and repairs them
    let report = e.scrub_pass(0).await.unwrap();
    assert_eq!(report.unrecoverable, 0, "{report:?}");
    let again = e.scrub_pass(0).await.unwrap();
    assert_eq!(again.bad_shards, 0, "everything repaired: {report:?}");
    for f in &files {
        let frame = Bytes::from(std::fs::read(f).unwrap());
        liuma_codec::parse_shard(frame).expect("the rebuilt shard verifies");
    }
    let census = e.block_census(true).await.unwrap();
    assert_eq!(census.healthy, census.blocks, "{census:?}");
    assert_eq!(get(e, "bkt", "obj", GetOptions::default()).await, data);
}

#[tokio::test]
async fn encrypted_blocks_reencode_without_keys() {
    let mut n = Node::with(
        6,
        EngineConfig {
            erasure: Some((1, 0)),
            ..sse_config()
        },
    );
    n.engine.create_bucket("bkt", "o").await.unwrap();
    let data = random(22, 3 * BS + 100);
    let ck = CustomerKey::from_bytes([9; 32]);
    put_sse(&n.engine, "s3", &data, SseRequest::S3).await;
    put_sse(&n.engine, "c", &data, SseRequest::Customer(ck.clone())).await;
    n.cfg.erasure = None;
    // a node without the master key moves the blocks just the same
    n.cfg.sse_keys = None;
    let mut n = n.reopen().await;
    let r = n.engine.heal_pass(Default::default()).await.unwrap();
    assert_eq!((r.reencoded, r.failed), (8, 0), "{r:?}");
    let census = n.engine.block_census(true).await.unwrap();
    assert_eq!(census.healthy, 8, "{census:?}");
    n.cfg.sse_keys = sse_config().sse_keys;
    let n = n.reopen().await;
    assert_eq!(&get(&n.engine, "bkt", "s3", keyed(None)).await, &data);
    assert_eq!(&get(&n.engine, "bkt", "c", keyed(Some(&ck))).await, &data);
}

#[tokio::test]
async fn small_encrypted_objects_are_sealed_inline() {
    let n = Node::with(2, sse_config());
    let e = &n.engine;
    e.create_bucket("bkt", "me").await.unwrap();
    let marker = b"liuma-sse-inline-marker-0123456789".repeat(60); // ~2 KiB
    let ck = CustomerKey::from_bytes([7; 32]);
    put_sse(e, "s3", &marker, SseRequest::S3).await;
    put_sse(e, "c", &marker, SseRequest::Customer(ck.clone())).await;
    let shards: usize = (0..2).map(|d| n.shard_files(d).len()).sum();
    assert_eq!(
        shards, 0,
        "no block, no shard file: like a plain small object"
    );
    assert_eq!(get(e, "bkt", "s3", keyed(None)).await, marker);
    assert_eq!(get(e, "bkt", "c", keyed(Some(&ck))).await, marker);
    let range = GetOptions {
        range: Some(ByteRange::FromTo(10, 99)),
        customer_key: Some(ck.clone()),
        ..GetOptions::default()
    };
    assert_eq!(get(e, "bkt", "c", range).await, &marker[10..100]);
    // the wrong customer key and no key are refused
    let other = CustomerKey::from_bytes([8; 32]);
    assert!(matches!(
        e.get_object("bkt", "c", keyed(Some(&other))).await,
        Err(Error::SseCustomerKeyMismatch)
    ));
    assert!(matches!(
        e.get_object("bkt", "c", keyed(None)).await,
        Err(Error::SseCustomerKeyRequired)
    ));
    // a copy stored alike keeps the sealed body; it still reads
    e.copy_object("bkt", "s3", None, "bkt", "s3-copy", None)
        .await
        .unwrap();
    assert_eq!(get(e, "bkt", "s3-copy", keyed(None)).await, marker);
    // no plaintext in the metadata file (nor anywhere else)
    assert!(!anywhere_on_disk(n.dir.path(), &marker[..34]));
    // a plain small object is found by the same scan
    put(e, "bkt", "plain", &marker).await;
    assert!(anywhere_on_disk(n.dir.path(), &marker[..34]));
    // and the sealed ones survive a reopen (records decode)
    let n = n.reopen().await;
    assert_eq!(get(&n.engine, "bkt", "s3", keyed(None)).await, marker);
}

#[tokio::test]
async fn blocks_of_the_first_envelope_format_still_read() {
    let n = Node::with(4, sse_config());
    let e = &n.engine;
    e.create_bucket("bkt", "me").await.unwrap();
    let data = random(23, 3 * BS + 7);
    let ck = CustomerKey::from_bytes([5; 32]);
    liuma_engine::testing::seal_format_1(true);
    put_sse(e, "old", &data, SseRequest::S3).await;
    put_sse(e, "old-c", &data, SseRequest::Customer(ck.clone())).await;
    liuma_engine::testing::seal_format_1(false);
    let old_files: usize = (0..4).map(|d| n.shard_files(d).len()).sum();
    for d in 0..4 {
        for f in n.shard_files(d) {
            let b = std::fs::read(f).unwrap();
            assert_eq!(b[5] & 0b100, 0, "format 1: named by the envelope's hash");
        }
    }
    // the same content as "old" (SSE-S3, same key), sealed in format 2
    put_sse(e, "new", &data, SseRequest::S3).await;
    let all: usize = (0..4).map(|d| n.shard_files(d).len()).sum();
    assert_eq!(
        all,
        old_files + old_files / 2,
        "format 2 does not dedup with format 1"
    );
    let n = n.reopen().await;
    let e = &n.engine;
    assert_eq!(get(e, "bkt", "old", keyed(None)).await, data);
    assert_eq!(get(e, "bkt", "old-c", keyed(Some(&ck))).await, data);
    assert_eq!(get(e, "bkt", "new", keyed(None)).await, data);
    let report = e.scrub_pass(0).await.unwrap();
    assert_eq!((report.bad_shards, report.unrecoverable), (0, 0));
}
