//! SSE-S3 master key management on a running node: rotation, retirement
//! and re-encryption (`liuma sse ...` through the admin API).
//!
//! The ring a node uses lives in `Inner::sse_ring` and is replaced at run
//! time; where it is *kept* is a [`RingStore`] the server gives the engine
//! (in a cluster the sealed `cl/sse` record, on one node `secrets/sse.key`).
//! Every change is a compare-and-swap on the store, so two concurrent
//! rotations cannot lose a version: the loser reloads and rotates again.
//! Other nodes pick the change up with [`Engine::sse_refresh`], which the
//! server calls every few seconds.
//!
//! * **Rotation** adds a version one above the newest; new writes seal
//!   under it at once on this node, on the others after their next refresh.
//! * **Re-encryption** ([`Engine::sse_reencrypt_start`]) walks every object
//!   version; an SSE-S3 version with a block sealed under the old version is
//!   read (plaintext), written again as new blocks under the current
//!   version, and its record swapped in one transaction that only succeeds
//!   if the version record (and the key's latest pointer) are still the ones
//!   read: a concurrent overwrite or delete wins and the rewrite is dropped
//!   (its blocks go to GC as any uncommitted write's do). Version id, ETag,
//!   size, metadata, tags, ACL and the modification time are kept. Running
//!   it again resumes: versions already rewritten are skipped.
//! * **Retirement** ([`Engine::sse_retire`]) refuses while anything still
//!   needs the version (see [`SseUsage`]), then removes it from the ring.
//!
//! Which version sealed a block is read from its envelope header (see
//! `crypt`): counting and re-encrypting read each encrypted block once.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::StreamExt;
use liuma_codec::BlockId;
use liuma_meta::{Compare, KeyValue, Op, Txn};

use crate::crypt::{KeyRing, Sealer, Sse};
use crate::engine::{Engine, Inner};
use crate::ingest::{ByteStream, ContentSha256, IngestOptions};
use crate::keys;
use crate::model::{Body, Owner, UploadRecord, VersionRecord, decode, encode, random_id};
use crate::object::{GetOptions, detach_body, queue_for_gc};
use crate::scan::Pager;
use crate::{Error, Result};

/// Records read per page while scanning.
const PAGE: usize = 256;
/// Attempts of a compare-and-swap on the ring before giving up.
const RING_ATTEMPTS: usize = 8;

/// Where a node's key ring is kept, so that changes reach every node.
#[async_trait::async_trait]
pub trait RingStore: Send + Sync {
    /// The ring as stored now.
    async fn load(&self) -> std::result::Result<KeyRing, String>;
    /// Store `new` if the stored ring is still `old`; false if it changed.
    async fn swap(&self, old: &KeyRing, new: &KeyRing) -> std::result::Result<bool, String>;
}

/// Why a key management request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyAdminError {
    /// The ring comes from `--sse-master-key-file`: liuma does not own it.
    #[error(
        "this node's SSE master key comes from --sse-master-key-file: change versions in that file (every node) and restart"
    )]
    External,
    /// No ring at all.
    #[error("SSE is not available on this node")]
    Unavailable,
    /// The current version cannot be retired or re-encrypted away from.
    #[error(
        "SSE master key version {0} is the current one: rotate first, then re-encrypt from it and retire it"
    )]
    Current(u32),
    /// The version is not in the ring.
    #[error("SSE master key version {version} is not in the key ring (versions {versions:?})")]
    Unknown {
        /// Asked for.
        version: u32,
        /// Held.
        versions: Vec<u32>,
    },
    /// Something still needs the version.
    #[error(
        "SSE master key version {} is still in use: {} object version(s) with blocks sealed under it, {} SSE-C object version(s) whose key check uses it, {} open encrypted multipart upload(s); run `liuma sse reencrypt --from-version {}` first (SSE-C objects must be rewritten by their clients)",
        .0.version, .0.object_versions, .0.customer_versions, .0.uploads, .0.version
    )]
    InUse(SseUsage),
    /// A re-encryption job runs already.
    #[error("a re-encryption job is running already (from version {0})")]
    Running(u32),
    /// The ring store failed.
    #[error("the SSE master key store failed: {0}")]
    Store(String),
    /// The ring kept changing under us.
    #[error("the SSE key ring changed concurrently too often; retry")]
    Contended,
    /// An engine operation failed.
    #[error(transparent)]
    Engine(#[from] Error),
}

impl KeyAdminError {
    /// HTTP status for the admin API.
    pub fn http_status(&self) -> u16 {
        match self {
            KeyAdminError::External | KeyAdminError::Unavailable => 409,
            KeyAdminError::Current(_) | KeyAdminError::Unknown { .. } => 400,
            KeyAdminError::InUse(_) | KeyAdminError::Running(_) => 409,
            KeyAdminError::Store(_) | KeyAdminError::Contended => 503,
            KeyAdminError::Engine(e) => e.http_status(),
        }
    }

    /// Error code for the admin API.
    pub fn code(&self) -> &'static str {
        match self {
            KeyAdminError::External => "ExternalMasterKey",
            KeyAdminError::Unavailable => "SseUnavailable",
            KeyAdminError::Current(_) => "CurrentKeyVersion",
            KeyAdminError::Unknown { .. } => "NoSuchKeyVersion",
            KeyAdminError::InUse(_) => "KeyVersionInUse",
            KeyAdminError::Running(_) => "ReencryptRunning",
            KeyAdminError::Store(_) => "KeyStoreFailed",
            KeyAdminError::Contended => "KeyStoreContended",
            KeyAdminError::Engine(e) => e.code(),
        }
    }
}

/// What still needs one master key version.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SseUsage {
    /// The version counted.
    pub version: u32,
    /// SSE-S3 object versions with at least one block sealed under it.
    pub object_versions: u64,
    /// SSE-C object versions whose customer key check uses it (their
    /// blocks are sealed under the customer key; only the check needs the
    /// master key, and liuma cannot redo it without the customer's key).
    pub customer_versions: u64,
    /// Open encrypted multipart uploads (their parts may be sealed under it).
    pub uploads: u64,
}

impl SseUsage {
    fn total(&self) -> u64 {
        self.object_versions + self.customer_versions + self.uploads
    }
}

/// A re-encryption job's progress (the last one, or the one running).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReencryptStatus {
    /// True while it runs.
    pub running: bool,
    /// Version rewritten away from (0: never ran).
    pub from_version: u32,
    /// Object versions looked at.
    pub scanned: u64,
    /// Versions rewritten under the current key version.
    pub rewritten: u64,
    /// Versions overwritten or deleted while being rewritten (nothing to do).
    pub raced: u64,
    /// Versions that failed (the job goes on; run it again).
    pub failed: u64,
    /// The last failure.
    pub last_error: Option<String>,
    /// Start and end, ms since the epoch (end 0 while running).
    pub started_ms: u64,
    /// End.
    pub finished_ms: u64,
}

/// The ring as the admin API shows it (never a key).
#[derive(Clone, Debug, serde::Serialize)]
pub struct SseKeyStatus {
    /// The version new writes use.
    pub current: u32,
    /// Every version held, oldest first.
    pub versions: Vec<u32>,
    /// Whether rotation and retirement work here (false: external key file).
    pub managed: bool,
    /// This node's re-encryption job.
    pub reencrypt: ReencryptStatus,
}

impl Inner {
    /// The ring in use now.
    pub(crate) fn sse_ring(&self) -> Option<Arc<KeyRing>> {
        self.sse_ring
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether SSE-S3 key `version` is still in this node's ring.
    pub(crate) fn sse_version_live(&self, version: u32) -> bool {
        self.sse_ring().is_some_and(|r| r.get(version).is_some())
    }

    fn set_sse_ring(&self, ring: KeyRing) {
        let mut cur = self
            .sse_ring
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cur.as_deref() != Some(&ring) {
            tracing::info!(versions = ?ring.versions(), current = ring.newest().version,
                "SSE master key ring changed");
            *cur = Some(Arc::new(ring));
        }
    }
}

impl Engine {
    /// Keep the ring in `store` from now on (the server calls this once).
    pub fn set_ring_store(&self, store: Arc<dyn RingStore>) {
        let _ = self.inner.ring_store.set(store);
    }

    fn ring_store(&self) -> std::result::Result<&Arc<dyn RingStore>, KeyAdminError> {
        self.inner.ring_store.get().ok_or(KeyAdminError::External)
    }

    /// The ring as the admin API shows it.
    pub fn sse_key_status(&self) -> std::result::Result<SseKeyStatus, KeyAdminError> {
        let ring = self.inner.sse_ring().ok_or(KeyAdminError::Unavailable)?;
        Ok(SseKeyStatus {
            current: ring.newest().version,
            versions: ring.versions(),
            managed: self.inner.ring_store.get().is_some(),
            reencrypt: self.reencrypt_status(),
        })
    }

    fn reencrypt_status(&self) -> ReencryptStatus {
        self.inner
            .reencrypt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn update_job(&self, f: impl FnOnce(&mut ReencryptStatus)) {
        f(&mut self
            .inner
            .reencrypt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    /// Take the stored ring if it differs from the one in use (another
    /// node rotated or retired). True when it changed.
    pub async fn sse_refresh(&self) -> std::result::Result<bool, KeyAdminError> {
        let stored = self
            .ring_store()?
            .load()
            .await
            .map_err(KeyAdminError::Store)?;
        let changed = self.inner.sse_ring().as_deref() != Some(&stored);
        if changed {
            self.inner.set_sse_ring(stored);
        }
        Ok(changed)
    }

    /// Add a master key version and make it current for new writes.
    pub async fn sse_rotate(&self) -> std::result::Result<SseKeyStatus, KeyAdminError> {
        let store = self.ring_store()?;
        for _ in 0..RING_ATTEMPTS {
            let cur = store.load().await.map_err(KeyAdminError::Store)?;
            let next = cur.rotated();
            if store
                .swap(&cur, &next)
                .await
                .map_err(KeyAdminError::Store)?
            {
                tracing::info!(version = next.newest().version, "SSE master key rotated");
                self.inner.set_sse_ring(next);
                return self.sse_key_status();
            }
        }
        Err(KeyAdminError::Contended)
    }

    /// Remove `version` from the ring, refused while anything needs it.
    pub async fn sse_retire(
        &self,
        version: u32,
    ) -> std::result::Result<SseKeyStatus, KeyAdminError> {
        let store = self.ring_store()?;
        for _ in 0..RING_ATTEMPTS {
            let cur = store.load().await.map_err(KeyAdminError::Store)?;
            check_old_version(&cur, version)?;
            let usage = self.sse_usage(version).await?;
            if usage.total() > 0 {
                return Err(KeyAdminError::InUse(usage));
            }
            let Some(next) = cur.without(version) else {
                return Err(KeyAdminError::Current(version));
            };
            if store
                .swap(&cur, &next)
                .await
                .map_err(KeyAdminError::Store)?
            {
                tracing::info!(version, "SSE master key version retired");
                self.inner.set_sse_ring(next);
                return self.sse_key_status();
            }
        }
        Err(KeyAdminError::Contended)
    }

    /// Count what still needs `version` (see [`SseUsage`]).
    pub async fn sse_usage(&self, version: u32) -> Result<SseUsage> {
        let mut usage = SseUsage {
            version,
            ..SseUsage::default()
        };
        let mut seen = HashMap::new();
        let mut pager = Pager::prefix(keys::VERSION.as_bytes(), PAGE);
        while let Some(page) = pager.next(&self.inner.meta).await? {
            for kv in page {
                let rec: VersionRecord = decode(&kv.value)?;
                match &rec.sse {
                    Some(Sse::S3) => match self.uses_version(&rec, version, &mut seen).await {
                        Ok(true) => usage.object_versions += 1,
                        Ok(false) => {}
                        // deleted since the page was read: nothing to count
                        Err(e) => match self.inner.meta.get(&kv.key).await? {
                            Some(now) if now.mod_revision == kv.mod_revision => return Err(e),
                            _ => {}
                        },
                    },
                    Some(Sse::Customer { check_version, .. }) if *check_version == version => {
                        usage.customer_versions += 1;
                    }
                    _ => {}
                }
            }
        }
        let mut pager = Pager::prefix(keys::UPLOAD.as_bytes(), PAGE);
        while let Some(page) = pager.next(&self.inner.meta).await? {
            for kv in page {
                let up: UploadRecord = decode(&kv.value)?;
                if up.sse.is_some() {
                    usage.uploads += 1;
                }
            }
        }
        Ok(usage)
    }

    /// Whether a block of `rec` is sealed under `version` (block headers
    /// cached in `seen`: dedup shares blocks between versions).
    async fn uses_version(
        &self,
        rec: &VersionRecord,
        version: u32,
        seen: &mut HashMap<BlockId, Option<u32>>,
    ) -> Result<bool> {
        // A small object sealed into its record has no block to look at.
        if let Body::SealedInline { envelope, .. } = self.inner.body_of(rec).await?.as_ref() {
            return Ok(crate::crypt::envelope_key_version(envelope) == Some(version));
        }
        for entry in self.inner.manifest(rec).await? {
            if entry.kid.is_none() {
                continue;
            }
            let id = entry.block_id();
            let v = match seen.get(&id) {
                Some(v) => *v,
                None => {
                    let envelope = self.inner.blocks.read(&id).await?;
                    let v = crate::crypt::envelope_key_version(&envelope);
                    seen.insert(id, v);
                    v
                }
            };
            if v == Some(version) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Start rewriting every SSE-S3 version with blocks under `from` with
    /// the current version, in the background; progress in
    /// [`Engine::sse_key_status`].
    pub fn sse_reencrypt_start(
        &self,
        from: u32,
    ) -> std::result::Result<ReencryptStatus, KeyAdminError> {
        let ring = self.inner.sse_ring().ok_or(KeyAdminError::Unavailable)?;
        check_old_version(&ring, from)?;
        {
            let mut job = self
                .inner
                .reencrypt
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if job.running {
                return Err(KeyAdminError::Running(job.from_version));
            }
            *job = ReencryptStatus {
                running: true,
                from_version: from,
                started_ms: crate::model::now_ms(),
                ..ReencryptStatus::default()
            };
        }
        let engine = self.clone();
        tokio::spawn(async move {
            if let Err(e) = engine.reencrypt_all(from).await {
                tracing::warn!(error = %e, "SSE re-encryption stopped");
                engine.update_job(|j| j.last_error = Some(e.to_string()));
            }
            engine.update_job(|j| {
                j.running = false;
                j.finished_ms = crate::model::now_ms();
            });
            let j = engine.reencrypt_status();
            tracing::info!(
                from,
                rewritten = j.rewritten,
                raced = j.raced,
                failed = j.failed,
                "SSE re-encryption done"
            );
        });
        Ok(self.reencrypt_status())
    }

    async fn reencrypt_all(&self, from: u32) -> Result<()> {
        let mut seen = HashMap::new();
        let mut pager = Pager::prefix(keys::VERSION.as_bytes(), PAGE);
        while let Some(page) = pager.next(&self.inner.meta).await? {
            for kv in page {
                self.update_job(|j| j.scanned += 1);
                let rec: VersionRecord = decode(&kv.value)?;
                if rec.sse != Some(Sse::S3) {
                    continue;
                }
                let outcome = match self.uses_version(&rec, from, &mut seen).await {
                    Ok(false) => continue,
                    Ok(true) => self.reencrypt_version(&kv, rec).await,
                    Err(e) => Err(e),
                };
                // A version overwritten or deleted after its page was read
                // fails to read (its body record is gone): moot, not failed.
                let outcome = match outcome {
                    Err(e) => match self.inner.meta.get(&kv.key).await? {
                        Some(now) if now.mod_revision == kv.mod_revision => Err(e),
                        _ => Ok(false),
                    },
                    ok => ok,
                };
                match outcome {
                    Ok(true) => self.update_job(|j| j.rewritten += 1),
                    Ok(false) => self.update_job(|j| j.raced += 1),
                    Err(e) => {
                        let e = crate::reencode::chain(&e);
                        tracing::warn!(error = %e, "re-encrypting a version failed");
                        self.update_job(|j| {
                            j.failed += 1;
                            j.last_error = Some(e);
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Rewrite one version (its record `kv`) under the current key version.
    /// False when it was overwritten or deleted meanwhile (nothing swapped).
    async fn reencrypt_version(&self, kv: &KeyValue, rec: VersionRecord) -> Result<bool> {
        let Some(rest) = kv.key.get(keys::VERSION.len()..) else {
            return Ok(false);
        };
        let Some(slash) = rest.iter().position(|&b| b == b'/') else {
            return Ok(false);
        };
        let bucket = String::from_utf8_lossy(&rest[..slash]).into_owned();
        let Some((key, _)) = keys::parse_version(&bucket, &kv.key) else {
            return Ok(false);
        };
        let b = match self.bucket(&bucket).await {
            Ok(b) => b,
            Err(Error::NoSuchBucket { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let ring = self.inner.sse_ring().ok_or(Error::SseUnavailable)?;
        let got = match self
            .get_object(
                &bucket,
                &key,
                GetOptions {
                    version_id: Some(rec.version_id()),
                    range: None,
                    customer_key: None,
                },
            )
            .await
        {
            Ok(g) => g,
            Err(Error::NoSuchKey { .. } | Error::NoSuchVersion { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let body: ByteStream = Box::pin(got.body.map(|r| r.map_err(std::io::Error::other)));
        let uid = random_id();
        let owner = Owner::Version {
            bucket: bucket.clone(),
            key: key.clone(),
            uid: uid.clone(),
        };
        let erasure = b.erasure.unwrap_or_else(|| self.erasure());
        let ing = self
            .inner
            .ingest(
                body,
                owner,
                &uid,
                erasure,
                IngestOptions {
                    max_size: self.inner.cfg.max_object_size,
                    allow_inline: false,
                    sha256: ContentSha256::Skip,
                    sealer: Some(Sealer::s3(ring.newest())),
                },
            )
            .await?;
        // A single-part SSE-S3 ETag is the plaintext's MD5: what was read
        // must be what was stored.
        let md5 = (rec.parts == 0)
            .then(|| {
                let mut m = [0u8; 16];
                hex::decode_to_slice(&rec.etag, &mut m).ok().map(|()| m)
            })
            .flatten();
        if let Err(e) = ing.check(Some(rec.size), md5, None) {
            // "null" names the newest null version: an overwrite between
            // listing and reading shows up as other bytes. Moot then.
            self.discard_uncommitted(&VersionRecord {
                uid: uid.clone(),
                body: ing.body,
                ..rec.clone()
            })
            .await?;
            return match self.inner.meta.get(&kv.key).await? {
                Some(now) if now.mod_revision == kv.mod_revision => Err(e),
                _ => Ok(false),
            };
        }
        let mut new = rec.clone();
        new.uid = uid;
        new.body = ing.body;
        new.part_checksums = self.inner.parts_of(&rec).await?.into_owned();
        let unsaved = new.clone();
        let body_op = detach_body(&mut new);
        let value = encode(&new);
        let lk = keys::latest(&bucket, &key);
        for _ in 0..RING_ATTEMPTS {
            let mut txn = Txn::new()
                .when(Compare::ModRevision(kv.key.clone(), kv.mod_revision))
                .and_then(Op::put(kv.key.clone(), value.clone()));
            match self.latest(&bucket, &key).await? {
                Some((l, rev)) if l.vsort == rec.vsort => {
                    txn = txn
                        .when(Compare::ModRevision(lk.clone(), rev))
                        .and_then(Op::put(lk.clone(), value.clone()));
                }
                // Not current: the pointer must still not name it.
                Some((_, rev)) => txn = txn.when(Compare::ModRevision(lk.clone(), rev)),
                None => break,
            }
            if let Some(op) = &body_op {
                txn = txn.and_then(op.clone());
            }
            txn = txn.and_then(Op::delete(keys::version_data(&rec.uid)));
            if matches!(rec.body, Body::Paged { .. } | Body::Detached) {
                let start = keys::manifest_pages(&rec.uid);
                let end = liuma_meta::prefix_end(&start);
                txn = txn.and_then(Op::DeleteRange { start, end });
            }
            txn = queue_for_gc(txn, &rec.uid);
            if self.inner.meta.txn(txn).await?.succeeded {
                return Ok(true);
            }
            // Only the pointer moved (a write of a newer version): try again;
            // the record itself changed or went: the rewrite is moot.
            match self.inner.meta.get(&kv.key).await? {
                Some(now) if now.mod_revision == kv.mod_revision => {}
                _ => break,
            }
        }
        self.discard_uncommitted(&unsaved).await?;
        Ok(false)
    }
}

/// `version` is one that may be re-encrypted away from or retired.
fn check_old_version(ring: &KeyRing, version: u32) -> std::result::Result<(), KeyAdminError> {
    if ring.get(version).is_none() {
        return Err(KeyAdminError::Unknown {
            version,
            versions: ring.versions(),
        });
    }
    if ring.newest().version == version {
        return Err(KeyAdminError::Current(version));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use liuma_disk::{DiskConfig, ShardStore};
    use liuma_meta::RedbStore;

    use super::*;
    use crate::model::{Tags, Versioning};
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

    fn engine(dir: &std::path::Path) -> Engine {
        let meta = RedbStore::open(&dir.join("meta.redb")).expect("redb");
        let disks = vec![DiskConfig::new(dir.join("disk0"))];
        let ring = KeyRing::generate();
        let cfg = EngineConfig {
            block_size: 64 << 10,
            erasure: Some((1, 0)),
            sse_keys: Some(ring.clone()),
            ..EngineConfig::default()
        };
        let e = Engine::open(
            cfg,
            meta,
            Arc::new(ShardStore::open(&disks).expect("disks")),
        )
        .expect("engine");
        e.set_ring_store(Arc::new(MemRing(std::sync::Mutex::new(ring))));
        e
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
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(1);
        let body: ByteStream = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        }));
        let slow = tokio::spawn({
            let e = e.clone();
            async move {
                e.put_object(
                    "bkt",
                    "slow",
                    body,
                    PutOptions {
                        sse: Some(SseRequest::S3),
                        ..PutOptions::default()
                    },
                )
                .await
            }
        });
        // the second send returns once the body's reader took the first:
        // the write has chosen its key version by then
        for _ in 0..2 {
            let chunk = Ok(bytes::Bytes::from(vec![1u8; 100_000]));
            tokio::time::timeout(std::time::Duration::from_secs(10), tx.send(chunk))
                .await
                .unwrap()
                .unwrap();
        }
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
}
