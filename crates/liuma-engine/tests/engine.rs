//! Engine tests against the real redb store and real shard files in temp dirs.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use liuma_disk::{DiskConfig, Fault, ShardStore};
use liuma_engine::{
    ByteRange, Engine, EngineConfig, Error, GetOptions, ListParams, ListVersionsParams, ObjectMeta,
    PutOptions, Stats, Versioning, body_from_bytes,
};
use liuma_meta::RedbStore;
use rand::{Rng, SeedableRng, rngs::StdRng};

const BS: usize = 64 << 10; // small blocks keep tests fast and multi-block

struct Node {
    engine: Engine,
    dir: tempfile::TempDir,
    disks: usize,
    cfg: EngineConfig,
}

fn config() -> EngineConfig {
    EngineConfig {
        block_size: BS,
        replicate_below: 16 << 10,
        min_part_size: 2 * BS as u64,
        ..Default::default()
    }
}

fn open(dir: &std::path::Path, disks: usize, cfg: EngineConfig) -> Engine {
    let meta = RedbStore::open(&dir.join("meta.redb")).unwrap();
    let cfgs: Vec<DiskConfig> = (0..disks)
        .map(|i| DiskConfig::new(dir.join(format!("disk{i}"))))
        .collect();
    let store = Arc::new(ShardStore::open(&cfgs).unwrap());
    Engine::open(cfg, meta, store).unwrap()
}

impl Node {
    fn new(disks: usize) -> Node {
        Self::with(disks, config())
    }
    fn with(disks: usize, cfg: EngineConfig) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let engine = open(dir.path(), disks, cfg.clone());
        Node {
            engine,
            dir,
            disks,
            cfg,
        }
    }
    /// Drop the engine and open it again on the same files. Async: tasks
    /// that still hold the store (a cache's watch) must get to run and
    /// notice the engine is gone; a blocking sleep here would starve them
    /// on the test's single-threaded runtime.
    async fn reopen(self) -> Node {
        let Node {
            engine,
            dir,
            disks,
            cfg,
        } = self;
        drop(engine);
        // the redb writer thread releases the file when the last handle goes
        for _ in 0..100 {
            let meta = RedbStore::open(&dir.path().join("meta.redb"));
            if let Ok(meta) = meta {
                drop(meta);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let engine = open(dir.path(), disks, cfg.clone());
        Node {
            engine,
            dir,
            disks,
            cfg,
        }
    }
    fn shard_files(&self, disk: usize) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.dir.path().join(format!("disk{disk}"))];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p
                    .extension()
                    .is_some_and(|x| x.to_str().unwrap().parse::<u16>().is_ok())
                {
                    out.push(p);
                }
            }
        }
        out
    }
}

fn random(seed: u64, len: usize) -> Vec<u8> {
    println!("data seed {seed}");
    let mut v = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill(&mut v[..]);
    v
}

/// A body delivered in uneven chunks, like a network stream.
fn chunked(data: &[u8]) -> liuma_engine::ByteStream {
    let mut chunks = Vec::new();
    let mut rest = Bytes::copy_from_slice(data);
    let mut n = 1000;
    while !rest.is_empty() {
        let take = n.min(rest.len());
        chunks.push(Ok(rest.split_to(take)));
        n = n * 7 % 100_003 + 1;
    }
    Box::pin(futures_util::stream::iter(chunks))
}

async fn put(e: &Engine, b: &str, k: &str, data: &[u8]) -> liuma_engine::ObjectInfo {
    e.put_object(b, k, chunked(data), PutOptions::default())
        .await
        .unwrap()
}

async fn get(e: &Engine, b: &str, k: &str, opts: GetOptions) -> Vec<u8> {
    let mut g = e.get_object(b, k, opts).await.unwrap();
    let mut out = Vec::new();
    while let Some(c) = g.body.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

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
async fn versioning_enabled_suspended_and_delete_markers() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("bkv", "me").await.unwrap();
    let v0 = put(e, "bkv", "k", b"unversioned").await;
    assert_eq!(v0.version_id, "null");
    e.set_versioning("bkv", Versioning::Enabled).await.unwrap();
    let v1 = put(e, "bkv", "k", b"one").await;
    let v2 = put(e, "bkv", "k", b"two").await;
    assert_ne!(v1.version_id, v2.version_id);
    assert_eq!(get(e, "bkv", "k", GetOptions::default()).await, b"two");
    let old = GetOptions {
        version_id: Some(v1.version_id.clone()),
        ..Default::default()
    };
    assert_eq!(get(e, "bkv", "k", old).await, b"one");
    let null = GetOptions {
        version_id: Some("null".into()),
        ..Default::default()
    };
    assert_eq!(get(e, "bkv", "k", null).await, b"unversioned");

    let del = e.delete_object("bkv", "k", None).await.unwrap();
    assert!(del.delete_marker);
    assert!(matches!(
        e.head_object("bkv", "k", None).await,
        Err(Error::NoSuchKey { .. })
    ));
    let listed = e
        .list_objects(
            "bkv",
            &ListParams {
                max_keys: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(listed.objects.is_empty(), "delete marker hides the key");
    let vs = e
        .list_versions(
            "bkv",
            &ListVersionsParams {
                max_keys: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let shape: Vec<_> = vs
        .versions
        .iter()
        .map(|v| (v.delete_marker, v.is_latest))
        .collect();
    assert_eq!(
        shape,
        [(true, true), (false, false), (false, false), (false, false)]
    );
    // removing the delete marker brings v2 back
    e.delete_object("bkv", "k", del.version_id.as_deref())
        .await
        .unwrap();
    assert_eq!(get(e, "bkv", "k", GetOptions::default()).await, b"two");
    // deleting the latest version promotes the previous one
    e.delete_object("bkv", "k", Some(&v2.version_id))
        .await
        .unwrap();
    assert_eq!(get(e, "bkv", "k", GetOptions::default()).await, b"one");

    // suspended: writes replace the null version, keep the others
    e.set_versioning("bkv", Versioning::Suspended)
        .await
        .unwrap();
    let s1 = put(e, "bkv", "k", b"s1").await;
    assert_eq!(s1.version_id, "null");
    put(e, "bkv", "k", b"s2").await;
    let vs = e
        .list_versions(
            "bkv",
            &ListVersionsParams {
                max_keys: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ids: Vec<_> = vs.versions.iter().map(|v| v.version_id.as_str()).collect();
    assert_eq!(
        ids,
        ["null", v1.version_id.as_str()],
        "one null version, v1 kept"
    );
    assert_eq!(get(e, "bkv", "k", GetOptions::default()).await, b"s2");
    // version listing pagination with markers
    let p1 = e
        .list_versions(
            "bkv",
            &ListVersionsParams {
                max_keys: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(p1.is_truncated);
    let p2 = e
        .list_versions(
            "bkv",
            &ListVersionsParams {
                key_marker: p1.next_key_marker,
                version_id_marker: p1.next_version_id_marker,
                max_keys: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(p2.versions[0].version_id, v1.version_id);
    assert!(!p2.versions[0].is_latest);
    assert!(matches!(
        e.set_versioning("nob", Versioning::Enabled).await,
        Err(Error::NoSuchBucket { .. })
    ));
}

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
    let files = n.shard_files(0).len();
    put(e, "bkd", "two", &data).await;
    assert_eq!(
        Stats::get(&e.stats().blocks_written),
        written,
        "second copy adds no blocks"
    );
    assert_eq!(Stats::get(&e.stats().blocks_deduplicated), 100);
    assert_eq!(n.shard_files(0).len(), files);
    e.delete_object("bkd", "one", None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
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
        tokio::time::sleep(Duration::from_millis(450)).await;
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

#[tokio::test]
async fn suspending_a_never_versioned_bucket_makes_it_suspended() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("bks", "me").await.unwrap();
    assert_eq!(e.bucket("bks").await.unwrap().versioning, Versioning::Off);
    let b = e
        .set_versioning("bks", Versioning::Suspended)
        .await
        .unwrap();
    assert_eq!(b.versioning, Versioning::Suspended);
    assert_eq!(put(e, "bks", "k", b"1").await.version_id, "null");
    put(e, "bks", "k", b"2").await;
    let vs = e
        .list_versions(
            "bks",
            &ListVersionsParams {
                max_keys: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(vs.versions.len(), 1, "one null version, replaced in place");
}

#[tokio::test]
async fn tags_live_with_each_version_and_leave_its_data() {
    let n = Node::new(1);
    let e = &n.engine;
    e.create_bucket("bkt", "me").await.unwrap();
    e.set_versioning("bkt", Versioning::Enabled).await.unwrap();
    let opts = |tags: &[(&str, &str)]| PutOptions {
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Default::default()
    };
    let data = random(7, 3 * BS + 5);
    let v1 = e
        .put_object("bkt", "k", chunked(&data), opts(&[("gen", "1")]))
        .await
        .unwrap();
    let v2 = e
        .put_object("bkt", "k", chunked(b"two"), opts(&[]))
        .await
        .unwrap();
    assert_eq!((v1.tag_count, v2.tag_count), (1, 0));
    let new_tags = vec![
        ("a".to_owned(), "b".to_owned()),
        ("c".to_owned(), String::new()),
    ];
    let vid = e
        .set_object_tags("bkt", "k", Some(&v1.version_id), new_tags.clone())
        .await
        .unwrap();
    assert_eq!(vid, v1.version_id);
    let (_, got) = e
        .object_tags("bkt", "k", Some(&v1.version_id))
        .await
        .unwrap();
    assert_eq!(got, new_tags);
    assert_eq!(e.object_tags("bkt", "k", None).await.unwrap().1, vec![]);
    let old = GetOptions {
        version_id: Some(v1.version_id.clone()),
        ..Default::default()
    };
    assert_eq!(get(e, "bkt", "k", old).await, data, "data untouched");
    let h = e
        .head_object("bkt", "k", Some(&v1.version_id))
        .await
        .unwrap();
    assert_eq!((h.etag, h.tag_count, h.is_latest), (v1.etag, 2, false));
    // the current version: its copy under the latest pointer changes too
    e.set_object_tags("bkt", "k", None, new_tags).await.unwrap();
    assert_eq!(e.head_object("bkt", "k", None).await.unwrap().tag_count, 2);
    let listed = e
        .list_objects(
            "bkt",
            &ListParams {
                max_keys: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.objects[0].tag_count, 2);
    // a delete marker has no tags
    e.delete_object("bkt", "k", None).await.unwrap();
    assert!(matches!(
        e.object_tags("bkt", "k", None).await,
        Err(Error::NoSuchKey { .. })
    ));
    assert!(matches!(
        e.set_object_tags("bkt", "k", None, vec![]).await,
        Err(Error::NoSuchKey { .. })
    ));
    let marker = e.version_info("bkt", "k", None).await.unwrap();
    assert!(marker.delete_marker && marker.is_latest);
}

/// Racing deletes of versions (and new delete markers) on the same keys
/// leave every key a well-formed chain: the latest pointer names the
/// newest remaining version. Deleting the latest version while another
/// request deletes the one below it used to leave the pointer naming a
/// removed version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_version_deletes_keep_chains_consistent() {
    let n = Node::new(1);
    let e = n.engine.clone();
    e.create_bucket("bkr", "me").await.unwrap();
    e.set_versioning("bkr", Versioning::Enabled).await.unwrap();
    let seed = 1313;
    println!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    for round in 0..6 {
        let mut ids = Vec::new();
        for k in 0..4 {
            for i in 0..4 {
                let v = put(
                    &e,
                    "bkr",
                    &format!("k{k}"),
                    format!("{round}-{i}").as_bytes(),
                )
                .await;
                ids.push((format!("k{k}"), v.version_id));
            }
        }
        let mut tasks = Vec::new();
        for _ in 0..24 {
            let (key, vid) = ids[rng.gen_range(0..ids.len())].clone();
            let marker = rng.gen_bool(0.25);
            let e = e.clone();
            tasks.push(tokio::spawn(async move {
                let v = (!marker).then_some(vid);
                e.delete_object("bkr", &key, v.as_deref()).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let vs = e
            .list_versions(
                "bkr",
                &ListVersionsParams {
                    max_keys: 1000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        for k in 0..4 {
            let key = format!("k{k}");
            let chain: Vec<_> = vs.versions.iter().filter(|v| v.key == key).collect();
            let current = e.version_info("bkr", &key, None).await;
            match chain.first() {
                None => assert!(matches!(current, Err(Error::NoSuchKey { .. }))),
                Some(newest) => {
                    let current = current.unwrap();
                    assert_eq!(current.version_id, newest.version_id, "round {round} {key}");
                    assert_eq!(chain.iter().filter(|v| v.is_latest).count(), 1);
                    for v in &chain {
                        e.version_info("bkr", &key, Some(&v.version_id))
                            .await
                            .unwrap();
                    }
                }
            }
        }
    }
}
