//! A store written by liuma with metadata layout 1 (bodies inside version
//! records) opens, lists and reads with today's engine, before and after
//! the upgrade to layout 2, and keeps working for writes and deletes.
//!
//! `fixtures/layout1.tar.gz` holds the metadata (`meta/liuma.redb`) and the
//! shard disk (`disk0`) of a node of commit a098016 (layout 1), filled by
//! `fixtures/make_layout1.py` through boto3 with 64 KiB blocks: inline,
//! multi-block, copied, multipart and 0-byte objects, versions and a delete
//! marker. Its contents are recomputed here with the same pattern.

use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use liuma_disk::{DiskConfig, ShardStore};
use liuma_engine::{
    CURRENT_LAYOUT, Engine, EngineConfig, GetOptions, ListParams, ListVersionsParams, PutOptions,
    body_from_bytes,
};
use liuma_meta::RedbStore;

/// `pat()` of make_layout1.py: compressible, distinct per block.
fn pat(tag: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    let mut i = 0usize;
    while out.len() < n {
        out.extend_from_slice(format!("{tag}-block-{:06}-line-{i:08}\n", i / 1000).as_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}

/// Every current object of the fixture's `plain` bucket.
fn plain_objects() -> Vec<(&'static str, Vec<u8>)> {
    let mut multi = pat("mp1", 5 << 20);
    multi.extend(pat("mp2", 70 << 10));
    vec![
        ("big", pat("big", 300 << 10)),
        ("copy-dst", pat("cp", 100 << 10)),
        ("copy-src", pat("cp", 100 << 10)),
        ("dir/sub/nested", pat("nested", 3000)),
        ("empty", Vec::new()),
        ("four-kib", pat("4k", 4096)),
        ("multi", multi),
        ("one-kib", pat("1k", 1024)),
    ]
}

fn unpack(dir: &Path) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layout1.tar.gz");
    let st = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&fixture)
        .arg("-C")
        .arg(dir)
        .status()
        .expect("running tar");
    assert!(st.success(), "tar -xzf {fixture:?}");
}

fn open(dir: &Path) -> Engine {
    let meta = RedbStore::open(&dir.join("meta/liuma.redb")).expect("redb store");
    let disks = ShardStore::open(&[DiskConfig::new(dir.join("disk0"))]).expect("disk");
    let cfg = EngineConfig {
        block_size: 64 << 10,
        ..EngineConfig::default()
    };
    Engine::open(cfg, meta, Arc::new(disks)).expect("engine")
}

async fn read(e: &Engine, bucket: &str, key: &str, version: Option<String>) -> Vec<u8> {
    let mut got = e
        .get_object(
            bucket,
            key,
            GetOptions {
                version_id: version,
                range: None,
                customer_key: None,
            },
        )
        .await
        .unwrap_or_else(|err| panic!("GET {bucket}/{key}: {err}"));
    let mut out = Vec::new();
    while let Some(chunk) = got.body.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    out
}

/// Everything the fixture holds, listed and read back byte for byte.
async fn check_contents(e: &Engine) {
    let listed = e
        .list_objects(
            "plain",
            &ListParams {
                max_keys: 1000,
                ..ListParams::default()
            },
        )
        .await
        .expect("list plain");
    let want = plain_objects();
    let keys: Vec<&str> = listed.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, want.iter().map(|(k, _)| *k).collect::<Vec<_>>());
    for (o, (key, data)) in listed.objects.iter().zip(&want) {
        assert_eq!(o.size, data.len() as u64, "{key}");
        assert_eq!(read(e, "plain", key, None).await, *data, "{key}");
    }
    // a range inside the multi-block object
    let mut got = e
        .get_object(
            "plain",
            "big",
            GetOptions {
                version_id: None,
                range: Some(liuma_engine::ByteRange::FromTo(100_000, 200_000)),
                customer_key: None,
            },
        )
        .await
        .expect("range");
    let mut part = Vec::new();
    while let Some(c) = got.body.next().await {
        part.extend_from_slice(&c.expect("chunk"));
    }
    assert_eq!(part, pat("big", 300 << 10)[100_000..=200_000]);
    let head = e.head_object("plain", "one-kib", None).await.expect("head");
    assert_eq!(head.meta.content_type.as_deref(), Some("text/plain"));
    assert_eq!(
        head.meta.user.get("color").map(String::as_str),
        Some("blue")
    );
    let multi = e.head_object("plain", "multi", None).await.expect("head");
    assert_eq!(multi.parts, 2);
    assert!(multi.etag.ends_with("-2"), "{}", multi.etag);

    let versions = e
        .list_versions(
            "versioned",
            &ListVersionsParams {
                max_keys: 1000,
                ..ListVersionsParams::default()
            },
        )
        .await
        .expect("list versions");
    let summary: Vec<(&str, bool, bool, u64)> = versions
        .versions
        .iter()
        .map(|v| (v.key.as_str(), v.delete_marker, v.is_latest, v.size))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("doc", false, true, 2050),
            ("doc", false, false, 2049),
            ("doc", false, false, 2048),
            ("gone", true, true, 0),
            ("gone", false, false, 5000),
            ("zero", false, true, 0),
        ]
    );
    for v in versions.versions.iter().filter(|v| !v.delete_marker) {
        let want = match (v.key.as_str(), v.size) {
            ("doc", n) => pat(
                &format!("doc-v{}", n - 2048),
                usize::try_from(n).expect("small"),
            ),
            ("gone", n) => pat("gone", usize::try_from(n).expect("small")),
            (_, _) => Vec::new(),
        };
        let got = read(e, "versioned", &v.key, Some(v.version_id.clone())).await;
        assert_eq!(got, want, "{} {}", v.key, v.version_id);
    }
    assert!(
        e.get_object("versioned", "gone", GetOptions::default())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_layout_1_store_reads_upgrades_and_keeps_working() {
    let dir = tempfile::tempdir().expect("temp dir");
    unpack(dir.path());
    let e = open(dir.path());
    assert_eq!(e.layout().await.expect("layout"), 1);
    // read as found, before any upgrade
    check_contents(&e).await;

    let up = e.upgrade_layout().await.expect("upgrade");
    assert_eq!(up.from, 1);
    // every non-empty version record: 8 latest + 7 non-empty versions'
    // `vr/` copies of plain (8 objects, one empty) and versioned (4
    // non-empty versions, each in `vr/`, the latest doc also in `ob/`)
    assert_eq!(up.rewritten, 7 + 7 + 1 + 4, "{up:?}");
    assert_eq!(up.raced, 0);
    assert_eq!(e.layout().await.expect("layout"), CURRENT_LAYOUT);
    check_contents(&e).await;

    // idempotent: a second run reads one key
    let again = e.upgrade_layout().await.expect("second upgrade");
    assert_eq!((again.from, again.rewritten), (CURRENT_LAYOUT, 0));

    // writes, overwrites and deletes on the upgraded store
    e.put_object(
        "plain",
        "one-kib",
        body_from_bytes(pat("new", 1500)),
        PutOptions::default(),
    )
    .await
    .expect("overwrite");
    assert_eq!(read(&e, "plain", "one-kib", None).await, pat("new", 1500));
    e.delete_object("plain", "big", None).await.expect("delete");
    assert!(e.head_object("plain", "big", None).await.is_err());
    let vid = e
        .list_versions(
            "versioned",
            &ListVersionsParams {
                max_keys: 1,
                ..ListVersionsParams::default()
            },
        )
        .await
        .expect("versions")
        .versions[0]
        .version_id
        .clone();
    e.delete_object("versioned", "doc", Some(&vid))
        .await
        .expect("delete newest doc");
    assert_eq!(
        read(&e, "versioned", "doc", None).await,
        pat("doc-v1", 2049)
    );

    // and it all survives a reopen
    drop(e);
    tokio::task::yield_now().await;
    let e = open(dir.path());
    assert_eq!(e.layout().await.expect("layout"), CURRENT_LAYOUT);
    assert_eq!(read(&e, "plain", "one-kib", None).await, pat("new", 1500));
    assert_eq!(
        read(&e, "plain", "multi", None).await.len(),
        (5 << 20) + (70 << 10)
    );
}
