//! Tests of `sse_admin` (and of the fence in `sse_fence` it raises):
//! rotation, re-encryption, retirement, and writes racing a retirement.

use liuma_codec::BlockId;
use liuma_disk::{DiskConfig, ShardStore};
use liuma_meta::RedbStore;

use super::*;
use crate::model::{Tags, Versioning};
use crate::sse_fence::FenceState;
use crate::{EngineConfig, PutOptions, SseRequest, body_from_bytes};

/// The ring kept in memory.
struct MemRing(std::sync::Mutex<KeyRing>);

#[async_trait::async_trait]
impl RingStore for MemRing {
    async fn load(&self) -> std::result::Result<KeyRing, String> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn swap(&self, old: &KeyRing, new: &KeyRing) -> std::result::Result<bool, String> {
        let mut cur = self.0.lock().unwrap();
        if *cur != *old {
            return Ok(false);
        }
        *cur = new.clone();
        Ok(true)
    }
}

/// An engine over `meta` and `disks` whose ring starts as `ring`.
fn engine_on(meta: liuma_meta::DynMetaStore, disks: Arc<ShardStore>, ring: &KeyRing) -> Engine {
    let cfg = EngineConfig {
        block_size: 64 << 10,
        erasure: Some((1, 0)),
        sse_keys: Some(ring.clone()),
        ..EngineConfig::default()
    };
    Engine::open(cfg, meta, disks).expect("engine")
}

fn engine(dir: &std::path::Path) -> Engine {
    engine_and_store(dir).0
}

/// An engine keeping its ring in memory, and its metadata store and disks.
fn engine_and_store(dir: &std::path::Path) -> (Engine, liuma_meta::DynMetaStore, Arc<ShardStore>) {
    let meta = RedbStore::open(&dir.join("meta.redb")).expect("redb");
    let disks = vec![DiskConfig::new(dir.join("disk0"))];
    let disks = Arc::new(ShardStore::open(&disks).expect("disks"));
    let ring = KeyRing::generate();
    let e = engine_on(meta.clone(), disks.clone(), &ring);
    e.set_ring_store(Arc::new(MemRing(std::sync::Mutex::new(ring))));
    (e, meta, disks)
}

/// Two nodes of one store: `a` manages the ring; `b` took it at start and
/// never re-reads it (its refresh is failing), so after a rotation it still
/// seals new objects under the old version.
fn two_nodes(dir: &std::path::Path) -> (Engine, Engine) {
    let (a, meta, disks) = engine_and_store(dir);
    let ring = a.inner.sse_ring().expect("ring");
    let b = engine_on(meta, disks, &ring);
    (a, b)
}

async fn put(e: &Engine, key: &str, data: &[u8]) -> crate::ObjectInfo {
    e.put_object(
        "bkt",
        key,
        body_from_bytes(data.to_vec()),
        PutOptions {
            sse: Some(SseRequest::S3),
            ..PutOptions::default()
        },
    )
    .await
    .expect("put")
}

async fn get(e: &Engine, key: &str, version: Option<String>) -> Vec<u8> {
    let mut g = e
        .get_object(
            "bkt",
            key,
            GetOptions {
                version_id: version,
                ..GetOptions::default()
            },
        )
        .await
        .expect("get");
    let mut out = Vec::new();
    while let Some(c) = g.body.next().await {
        out.extend_from_slice(&c.expect("chunk"));
    }
    out
}

async fn wait_job(e: &Engine) -> ReencryptStatus {
    for _ in 0..400 {
        let j = e.reencrypt_status();
        if !j.running {
            return j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("re-encryption did not finish");
}

type Held = (
    tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
    tokio::task::JoinHandle<Result<crate::ObjectInfo>>,
);

/// An SSE-S3 PUT of `key` on `e` whose body is held open after its first
/// block was sealed and stored: it ends (and commits) when the sender is
/// dropped.
async fn held_put(e: &Engine, key: &str) -> Held {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(1);
    let body: ByteStream = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let slow = tokio::spawn({
        let (e, key) = (e.clone(), key.to_owned());
        async move {
            e.put_object(
                "bkt",
                &key,
                body,
                PutOptions {
                    sse: Some(SseRequest::S3),
                    ..PutOptions::default()
                },
            )
            .await
        }
    });
    // the second send returns once the body's reader took the first: the
    // write has chosen its key version and sealed a block by then
    for _ in 0..2 {
        let chunk = Ok(bytes::Bytes::from(vec![1u8; 100_000]));
        tokio::time::timeout(std::time::Duration::from_secs(10), tx.send(chunk))
            .await
            .unwrap()
            .unwrap();
    }
    (tx, slow)
}

/// An SSE write on `e` of a small object, SSE-S3 or SSE-C.
async fn try_put(e: &Engine, key: &str, sse: SseRequest) -> Result<crate::ObjectInfo> {
    e.put_object(
        "bkt",
        key,
        body_from_bytes(b"small".to_vec()),
        PutOptions {
            sse: Some(sse),
            ..PutOptions::default()
        },
    )
    .await
}

async fn open_upload(e: &Engine, key: &str, sse: SseRequest) -> Result<String> {
    e.create_multipart_sse(
        "bkt",
        key,
        crate::ObjectMeta::default(),
        None,
        Tags::new(),
        String::new(),
        None,
        Some(sse),
    )
    .await
}

async fn put_part(e: &Engine, key: &str, upload: &str) -> Result<crate::PartInfo> {
    e.upload_part(
        "bkt",
        key,
        upload,
        1,
        body_from_bytes(vec![3u8; 100_000]),
        crate::PartOptions::default(),
    )
    .await
}

fn retired(r: Result<impl std::fmt::Debug>) {
    match r {
        Err(Error::SseKeyRetired { version: 1 }) => {}
        other => panic!("expected SseKeyRetired {{ version: 1 }}, got {other:?}"),
    }
}

/// A write sealed under version 1 on a node that never saw the rotation
/// (its ring re-read fails), with the retirement of version 1 run between
/// its sealing and its commit (its body held open): the retirement
/// succeeds, the write commits nothing (`SseKeyRetired`), nothing
/// unreadable is stored. That node's own ring check cannot see it; the
/// fence in the commit does. Before the fence, its writes commit and are
/// counted (refused retirement); a part under the old version counts too,
/// one under the new version does not.
#[tokio::test]
async fn a_write_sealed_before_a_retirement_cannot_commit_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_nodes(dir.path());
    a.create_bucket("bkt", "root").await.unwrap();
    a.sse_rotate().await.unwrap();
    let early: Vec<u8> = (0..150_000u32).map(|i| (i % 7) as u8).collect();
    put(&b, "early", &early).await;
    let stale_upload = open_upload(&b, "mp-old", SseRequest::S3).await.unwrap();
    put_part(&b, "mp-old", &stale_upload).await.unwrap();
    let new_upload = open_upload(&a, "mp-new", SseRequest::S3).await.unwrap();
    put_part(&a, "mp-new", &new_upload).await.unwrap();
    match a.sse_retire(1).await {
        Err(KeyAdminError::InUse(u)) => {
            assert_eq!((u.object_versions, u.uploads), (1, 1), "{u:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        a.fences().await.unwrap().is_empty(),
        "a refusal lowers the fence"
    );
    retired_not(&b).await;
    a.abort_multipart("bkt", "mp-old", &stale_upload)
        .await
        .unwrap();
    a.sse_reencrypt_start(1).unwrap();
    assert_eq!(wait_job(&a).await.rewritten, 1);

    let (tx, slow) = held_put(&b, "slow").await;
    let st = a.sse_retire(1).await.unwrap();
    assert_eq!((st.versions, st.fenced), (vec![2], vec![1]));
    assert_eq!(a.fences().await.unwrap(), vec![(1, FenceState::Retired)]);
    drop(tx);
    retired(slow.await.unwrap());
    assert!(matches!(
        a.head_object("bkt", "slow", None).await,
        Err(Error::NoSuchKey { .. })
    ));
    // every kind of write from the stale node needing version 1 fails:
    // sealed inline, a part, an SSE-C key check (made under its newest
    // version), an SSE-C upload
    retired(try_put(&b, "inline", SseRequest::S3).await);
    let up = open_upload(&b, "mp", SseRequest::S3).await.unwrap();
    retired(put_part(&b, "mp", &up).await);
    let ck = crate::CustomerKey::from_bytes([5; 32]);
    retired(try_put(&b, "ssec", SseRequest::Customer(ck.clone())).await);
    retired(open_upload(&b, "mp-c", SseRequest::Customer(ck)).await);
    for key in ["inline", "ssec"] {
        assert!(matches!(
            a.head_object("bkt", key, None).await,
            Err(Error::NoSuchKey { .. })
        ));
    }
    // what is stored reads; nothing needs version 1
    assert_eq!(get(&a, "early", None).await, early);
    assert_eq!(
        a.sse_usage(1).await.unwrap(),
        SseUsage {
            version: 1,
            ..SseUsage::default()
        }
    );
    // the upload under version 2 completes
    let part = a
        .list_parts("bkt", "mp-new", &new_upload, 0, 10)
        .await
        .unwrap()
        .0;
    a.complete_multipart("bkt", "mp-new", &new_upload, &[(1, part[0].etag.clone())])
        .await
        .unwrap();
    assert_eq!(get(&a, "mp-new", None).await, vec![3u8; 100_000]);
    // once the stale node re-reads the ring, it writes under version 2
    b.set_ring_store(a.inner.ring_store.get().unwrap().clone());
    assert!(b.sse_refresh().await.unwrap());
    put(&b, "fresh", b"new").await;
    assert_eq!(get(&a, "fresh", None).await, b"new");
}

/// With no fence up, the stale node's writes under version 1 commit.
async fn retired_not(b: &Engine) {
    try_put(b, "unfenced", SseRequest::S3).await.unwrap();
    b.delete_object("bkt", "unfenced", None).await.unwrap();
}

/// A retirement cut short leaves its fence up: writes that need the
/// version (copies sharing blocks sealed under it) answer `SseKeyRetired`
/// and the status shows the fence, until a retirement runs again: in use,
/// it lowers the fence and refuses.
#[tokio::test]
async fn a_fence_left_by_a_cut_short_retirement() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.create_bucket("bkt", "root").await.unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 13) as u8).collect();
    put(&e, "old", &data).await;
    put(&e, "tiny", b"sealed inline").await;
    e.sse_rotate().await.unwrap();
    assert!(matches!(e.raise_fence(1).await.unwrap(), Fence::Raised(_)));
    assert_eq!(e.sse_key_status().await.unwrap().fenced, vec![1]);
    for src in ["old", "tiny"] {
        let copy = format!("{src}-copy");
        retired(e.copy_object("bkt", src, None, "bkt", &copy, None).await);
        assert!(matches!(
            e.head_object("bkt", &copy, None).await,
            Err(Error::NoSuchKey { .. })
        ));
    }
    // a new write seals under version 2: not fenced
    put(&e, "new", b"fine").await;
    match e.sse_retire(1).await {
        Err(KeyAdminError::InUse(u)) => assert_eq!(u.object_versions, 2, "{u:?}"),
        other => panic!("{other:?}"),
    }
    assert!(e.sse_key_status().await.unwrap().fenced.is_empty());
    e.copy_object("bkt", "old", None, "bkt", "old-copy", None)
        .await
        .unwrap();
    assert_eq!(get(&e, "old-copy", None).await, data);
}

/// Store `rec`'s block list (`entries`) as listed before key versions
/// were recorded.
async fn forget_key_versions(
    meta: &liuma_meta::DynMetaStore,
    rec: &VersionRecord,
    entries: &[crate::model::BlockEntry],
) {
    let vd = keys::version_data(&rec.uid);
    let mut data: crate::model::VersionData =
        decode(&meta.get(&vd).await.unwrap().unwrap().value).unwrap();
    data.body = Body::Blocks(
        entries
            .iter()
            .map(|x| crate::model::BlockEntry { kv: None, ..*x })
            .collect(),
    );
    meta.put(&vd, &encode(&data)).await.unwrap();
}

/// Counting reads no block for entries that record their key version
/// (with the block records hidden, it still counts); entries listed before
/// versions were recorded are looked up in the envelope header.
#[tokio::test]
async fn usage_reads_no_block_for_recorded_versions() {
    let dir = tempfile::tempdir().unwrap();
    let (e, meta, _) = engine_and_store(dir.path());
    e.create_bucket("bkt", "root").await.unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    put(&e, "a", &data).await;
    let kvs = Pager::prefix(&keys::versions_of("bkt", "a"), 10)
        .collect(&meta)
        .await
        .unwrap();
    let rec: VersionRecord = decode(&kvs[0].value).unwrap();
    let entries = e.inner.manifest(&rec).await.unwrap();
    assert!(entries.len() > 1);
    assert!(entries.iter().all(|x| x.kv == Some(1)), "{entries:?}");
    let blocks = Pager::prefix(keys::BLOCK.as_bytes(), 100)
        .collect(&meta)
        .await
        .unwrap();
    for kv in &blocks {
        meta.delete(&kv.key).await.unwrap();
    }
    assert_eq!(e.sse_usage(1).await.unwrap().object_versions, 1);
    forget_key_versions(&meta, &rec, &entries).await;
    assert!(e.sse_usage(1).await.is_err(), "needs the blocks now");
    for kv in &blocks {
        meta.put(&kv.key, &kv.value).await.unwrap();
    }
    assert_eq!(e.sse_usage(1).await.unwrap().object_versions, 1);
    assert_eq!(e.sse_usage(2).await.unwrap().object_versions, 0);
    assert_eq!(get(&e, "a", None).await, data);
}

/// A re-encrypted version's bytes on disks are those of its new blocks
/// (here written under another code: twice the bytes), and its bucket's
/// usage moves in the same swap.
#[tokio::test]
async fn reencryption_recounts_bytes_on_disks() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.create_bucket("bkt", "root").await.unwrap();
    let data: Vec<u8> = (0..150_000u32).map(|_| rand::random::<u8>()).collect();
    let v = put(&e, "a", &data).await;
    let disk_bytes = |e: &Engine| {
        let e = e.clone();
        async move {
            let (rec, _) = e.find_version("bkt", "a", None).await.unwrap();
            rec.disk_bytes.unwrap()
        }
    };
    let before = disk_bytes(&e).await;
    assert_eq!(e.bucket_usage("bkt").await.unwrap().stored_bytes, before);
    e.update_bucket("bkt", |b| {
        b.erasure = Some((1, 1));
        Ok(())
    })
    .await
    .unwrap();
    e.sse_rotate().await.unwrap();
    e.sse_reencrypt_start(1).unwrap();
    assert_eq!(wait_job(&e).await.rewritten, 1);
    let after = disk_bytes(&e).await;
    assert_eq!(after, 2 * before, "one more copy of each block");
    let usage = e.bucket_usage("bkt").await.unwrap();
    assert_eq!((usage.objects, usage.bytes), (1, data.len() as u64));
    assert_eq!((usage.stored_bytes, usage.unknown_bytes), (after, 0));
    let h = e.head_object("bkt", "a", None).await.unwrap();
    assert_eq!(h.etag, v.etag);
    assert_eq!(get(&e, "a", None).await, data);
}

/// Rotate, count, re-encrypt (versions keep their ids, ETags and
/// bytes; a version overwritten meanwhile is not swapped), retire.
#[tokio::test]
async fn rotate_reencrypt_retire() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.create_bucket("bkt", "root").await.unwrap();
    e.set_versioning("bkt", Versioning::Enabled).await.unwrap();
    let a1: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let a2: Vec<u8> = (0..150_000u32).map(|i| (i % 13) as u8).collect();
    let v1 = put(&e, "a", &a1).await;
    let v2 = put(&e, "a", &a2).await;
    put(&e, "b", b"small").await;
    assert_eq!(e.sse_usage(1).await.unwrap().object_versions, 3);
    assert!(matches!(
        e.sse_retire(1).await,
        Err(KeyAdminError::Current(1))
    ));
    assert!(matches!(
        e.sse_retire(5).await,
        Err(KeyAdminError::Unknown { version: 5, .. })
    ));
    assert!(matches!(
        e.sse_reencrypt_start(1),
        Err(KeyAdminError::Current(1))
    ));
    let st = e.sse_rotate().await.unwrap();
    assert_eq!((st.current, st.versions.clone()), (2, vec![1, 2]));
    let c = put(&e, "c", b"after rotation").await;
    assert_eq!(e.sse_usage(2).await.unwrap().object_versions, 1);
    match e.sse_retire(1).await {
        Err(KeyAdminError::InUse(u)) => assert_eq!(u.object_versions, 3),
        other => panic!("{other:?}"),
    }
    // A version overwritten between read and swap is left alone: in an
    // unversioned bucket the overwrite replaces the record that was read.
    e.create_bucket("unv", "root").await.unwrap();
    let put_un = |data: &'static [u8]| {
        e.put_object(
            "unv",
            "n",
            body_from_bytes(data.to_vec()),
            PutOptions {
                sse: Some(SseRequest::S3),
                ..PutOptions::default()
            },
        )
    };
    // A concurrent change of the record (tags) makes the swap lose too.
    let kvs = Pager::prefix(&keys::versions_of("bkt", "b"), 10)
        .collect(&e.inner.meta)
        .await
        .unwrap();
    let rec: VersionRecord = decode(&kvs[0].value).unwrap();
    e.set_object_tags("bkt", "b", None, Tags::default())
        .await
        .unwrap();
    assert!(!e.reencrypt_version(&kvs[0], rec).await.unwrap());
    put_un(b"first").await.unwrap();
    let kvs = Pager::prefix(&keys::versions_of("unv", "n"), 10)
        .collect(&e.inner.meta)
        .await
        .unwrap();
    let rec: VersionRecord = decode(&kvs[0].value).unwrap();
    put_un(b"second, concurrent").await.unwrap();
    assert!(!e.reencrypt_version(&kvs[0], rec).await.unwrap());
    let mut g = e
        .get_object("unv", "n", GetOptions::default())
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(c) = g.body.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    assert_eq!(out, b"second, concurrent");
    e.sse_reencrypt_start(1).unwrap();
    let job = wait_job(&e).await;
    assert_eq!((job.rewritten, job.failed), (3, 0), "{job:?}");
    assert_eq!(e.sse_usage(1).await.unwrap().object_versions, 0);
    // bytes, version ids and ETags kept
    assert_eq!(get(&e, "a", Some(v1.version_id.clone())).await, a1);
    assert_eq!(get(&e, "a", Some(v2.version_id.clone())).await, a2);
    assert_eq!(get(&e, "a", None).await, a2);
    assert_eq!(get(&e, "b", None).await, b"small");
    let h = e.head_object("bkt", "a", None).await.unwrap();
    assert_eq!((h.etag, h.version_id), (v2.etag, v2.version_id));
    let h1 = e
        .head_object("bkt", "a", Some(&v1.version_id))
        .await
        .unwrap();
    assert_eq!(h1.last_modified_ms, v1.last_modified_ms);
    let st = e.sse_retire(1).await.unwrap();
    assert_eq!(st.versions, vec![2]);
    assert_eq!(get(&e, "a", Some(v1.version_id)).await, a1);
    assert_eq!(get(&e, "c", Some(c.version_id)).await, b"after rotation");
    assert!(matches!(
        e.sse_retire(2).await,
        Err(KeyAdminError::Current(2))
    ));
}

/// A PUT that began before a rotation and ends after its key version
/// was retired commits nothing: its object could never be read.
#[tokio::test]
async fn a_write_outliving_its_key_version_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.create_bucket("bkt", "root").await.unwrap();
    let (tx, slow) = held_put(&e, "slow").await;
    e.sse_rotate().await.unwrap();
    // nothing committed under version 1 yet: retirement is allowed
    e.sse_retire(1).await.unwrap();
    drop(tx);
    let err = slow.await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::SseKeyRetired { version: 1 }),
        "{err:?}"
    );
    assert!(matches!(
        e.head_object("bkt", "slow", None).await,
        Err(Error::NoSuchKey { .. })
    ));
    // a write after the retirement seals under the new version
    put(&e, "fresh", b"new").await;
    assert_eq!(get(&e, "fresh", None).await, b"new");
}

#[test]
fn old_versions_only() {
    let ring = KeyRing::generate().rotated();
    assert!(check_old_version(&ring, 1).is_ok());
    assert!(matches!(
        check_old_version(&ring, 2),
        Err(KeyAdminError::Current(2))
    ));
    assert!(matches!(
        check_old_version(&ring, 7),
        Err(KeyAdminError::Unknown { version: 7, .. })
    ));
    assert_eq!(ring.without(1).map(|r| r.versions()), Some(vec![2]));
    assert!(KeyRing::generate().without(1).is_none());
    assert!(ring.without(9).is_none());
}

/// The key version of a block listed before versions were recorded is
/// read from the one shard that starts the block (data shard 0 of a 2+1
/// code: a read that needs it alone still answers with the other data
/// shard and the parity gone), and from the whole block when that shard
/// is missing.
#[tokio::test]
async fn an_old_entry_is_read_from_its_first_shard() {
    let dir = tempfile::tempdir().unwrap();
    let meta = RedbStore::open(&dir.path().join("meta.redb")).expect("redb");
    let cfgs: Vec<DiskConfig> = (0..3)
        .map(|i| DiskConfig::new(dir.path().join(format!("disk{i}"))))
        .collect();
    let disks = Arc::new(ShardStore::open(&cfgs).expect("disks"));
    let cfg = EngineConfig {
        block_size: 64 << 10,
        erasure: Some((2, 1)),
        replicate_below: 0,
        sse_keys: Some(KeyRing::generate()),
        ..EngineConfig::default()
    };
    let e = Engine::open(cfg, meta, disks.clone()).expect("engine");
    e.create_bucket("bkt", "root").await.unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|_| rand::random::<u8>()).collect();
    put(&e, "a", &data).await;
    let (rec, _) = e.find_version("bkt", "a", None).await.unwrap();
    let entries = e.inner.manifest(&rec).await.unwrap();
    assert_eq!(entries.len(), 2);
    let drop_shards = |id: &BlockId, which: &[u16]| {
        for d in 0..3 {
            for i in which {
                let _ = std::fs::remove_file(disks.shard_path(d, id, *i));
            }
        }
    };
    let legacy = |x: &crate::model::BlockEntry| crate::model::BlockEntry { kv: None, ..*x };
    let mut cache = HeaderCache::new(16);
    // first block: only shard 0 left, no full read possible
    let first = entries[0].block_id();
    let (got, _) = e.inner.blocks.record(&first).await.unwrap().unwrap();
    assert_eq!((got.k, got.m), (2, 1));
    drop_shards(&first, &[1, 2]);
    assert!(e.inner.blocks.read(&first).await.is_err());
    let v = e
        .inner
        .entry_key_version(&legacy(&entries[0]), &mut cache)
        .await;
    assert_eq!(v.unwrap(), Some(1));
    // second block: shard 0 gone, the other two decode it
    let second = entries[1].block_id();
    drop_shards(&second, &[0]);
    let v = e
        .inner
        .entry_key_version(&legacy(&entries[1]), &mut cache)
        .await;
    assert_eq!(v.unwrap(), Some(1));
}

/// A copy sharing blocks listed before key versions were recorded learns
/// their version (to fence it) and records it in its own block list.
#[tokio::test]
async fn a_copy_of_old_entries_records_their_versions() {
    let dir = tempfile::tempdir().unwrap();
    let (e, meta, _) = engine_and_store(dir.path());
    e.create_bucket("bkt", "root").await.unwrap();
    let data: Vec<u8> = (0..150_000u32).map(|i| (i % 7) as u8).collect();
    put(&e, "a", &data).await;
    let (rec, _) = e.find_version("bkt", "a", None).await.unwrap();
    let entries = e.inner.manifest(&rec).await.unwrap();
    forget_key_versions(&meta, &rec, &entries).await;
    e.copy_object("bkt", "a", None, "bkt", "b", None)
        .await
        .unwrap();
    let (copy, _) = e.find_version("bkt", "b", None).await.unwrap();
    let copied = e.inner.manifest(&copy).await.unwrap();
    assert_eq!(copied, entries, "same blocks, versions recorded");
    assert_eq!(get(&e, "b", None).await, data);
}

/// A copy of an SSE-C object reads no block to learn key versions (its
/// blocks are sealed under the customer's key; only its key check's
/// version is fenced): it succeeds with the block records hidden.
#[tokio::test]
async fn an_sse_c_copy_reads_no_block() {
    let dir = tempfile::tempdir().unwrap();
    let (e, meta, _) = engine_and_store(dir.path());
    e.create_bucket("bkt", "root").await.unwrap();
    let ck = crate::CustomerKey::from_bytes([7; 32]);
    e.put_object(
        "bkt",
        "c",
        body_from_bytes(vec![9u8; 150_000]),
        PutOptions {
            sse: Some(SseRequest::Customer(ck)),
            ..PutOptions::default()
        },
    )
    .await
    .unwrap();
    for kv in Pager::prefix(keys::BLOCK.as_bytes(), 100)
        .collect(&meta)
        .await
        .unwrap()
    {
        meta.delete(&kv.key).await.unwrap();
    }
    e.copy_object("bkt", "c", None, "bkt", "c2", None)
        .await
        .unwrap();
    let (copy, _) = e.find_version("bkt", "c2", None).await.unwrap();
    let entries = e.inner.manifest(&copy).await.unwrap();
    assert!(entries.iter().all(|x| x.kid.is_some() && x.kv.is_none()));
}
