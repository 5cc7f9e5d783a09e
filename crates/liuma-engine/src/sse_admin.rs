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
//!   size, metadata, tags, ACL and the modification time are kept; the
//!   bytes on disks (`disk_bytes`) are those of the new blocks, and the
//!   bucket's usage moves by the difference in the same transaction. Running
//!   it again resumes: versions already rewritten are skipped.
//! * **Retirement** ([`Engine::sse_retire`]) raises the version's fence in
//!   the metadata store (see `sse_fence`), counts what still needs it (see
//!   [`SseUsage`]) and refuses while anything does (lowering the fence);
//!   otherwise the fence stays for good and the version leaves the ring.
//!   Every commit of data sealed under a version checks its fence in the
//!   same transaction, so no write (a long one, or one from a node whose
//!   ring is stale) can commit under a version once its count has begun.
//!
//! Which version sealed a block is recorded in its block list entry
//! (`BlockEntry::kv`): counting and re-encrypting read no block, except for
//! entries written before that was recorded, whose envelope header is read
//! once per block id (cached in a bounded `HeaderCache`).

use std::sync::Arc;

use futures_util::StreamExt;
use liuma_meta::{Compare, KeyValue, Op, Txn};

use crate::crypt::{KeyRing, Sealer, Sse};
use crate::engine::{Engine, Inner};
use crate::ingest::{ByteStream, ContentSha256, IngestOptions};
use crate::keys;
use crate::model::{Body, Owner, UploadRecord, VersionRecord, decode, encode, random_id};
use crate::object::{GetOptions, detach_body, queue_for_gc};
use crate::scan::Pager;
use crate::sse_fence::{Fence, HEADER_CACHE_ENTRIES, HeaderCache};
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
        "SSE master key version {} is still in use: {} object version(s) with blocks sealed under it, {} SSE-C object version(s) whose key check uses it, {} open multipart upload(s) that need it; run `liuma sse reencrypt --from-version {}` first (SSE-C objects must be rewritten by their clients, uploads completed or aborted)",
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
    /// Open multipart uploads that need it: SSE-S3 uploads with a part
    /// sealed under it, SSE-C uploads whose key check uses it.
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
    /// Versions whose retirement fence is up: retired ones, and any whose
    /// retirement runs now or was cut short (writes under those answer
    /// 503; `liuma sse retire N` again finishes or lowers it).
    pub fenced: Vec<u32>,
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
    pub async fn sse_key_status(&self) -> std::result::Result<SseKeyStatus, KeyAdminError> {
        let fenced = self.fences().await?.into_iter().map(|(v, _)| v).collect();
        self.status_with(fenced)
    }

    /// The status after a ring change that has already been stored: a
    /// failed read of the fences must not report the change as failed (an
    /// operator would rotate twice), so they are shown only if readable.
    async fn status_after_change(&self) -> std::result::Result<SseKeyStatus, KeyAdminError> {
        let fenced = match self.fences().await {
            Ok(f) => f.into_iter().map(|(v, _)| v).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "the ring changed; reading the SSE key fences for the status failed");
                Vec::new()
            }
        };
        self.status_with(fenced)
    }

    /// Versions of the ring in use that this store retired (their fence
    /// says so): a ring from outside liuma that brings one back would have
    /// every write under it refused, so the server refuses to start.
    pub async fn sse_retired_versions_in_ring(&self) -> Result<Vec<u32>> {
        let Some(ring) = self.inner.sse_ring() else {
            return Ok(Vec::new());
        };
        Ok(self
            .fences()
            .await?
            .into_iter()
            .filter(|(v, state)| {
                *state == crate::sse_fence::FenceState::Retired && ring.get(*v).is_some()
            })
            .map(|(v, _)| v)
            .collect())
    }

    /// Whether this node's ring is liuma's to change (not from outside).
    pub fn sse_ring_managed(&self) -> bool {
        self.inner.ring_store.get().is_some()
    }

    fn status_with(&self, fenced: Vec<u32>) -> std::result::Result<SseKeyStatus, KeyAdminError> {
        let ring = self.inner.sse_ring().ok_or(KeyAdminError::Unavailable)?;
        Ok(SseKeyStatus {
            current: ring.newest().version,
            versions: ring.versions(),
            managed: self.inner.ring_store.get().is_some(),
            reencrypt: self.reencrypt_status(),
            fenced,
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
                return self.status_after_change().await;
            }
        }
        Err(KeyAdminError::Contended)
    }

    /// Remove `version` from the ring, refused while anything needs it.
    /// The version's fence is up while it is counted, and stays up once
    /// it is retired (see `sse_fence`).
    pub async fn sse_retire(
        &self,
        version: u32,
    ) -> std::result::Result<SseKeyStatus, KeyAdminError> {
        let store = self.ring_store()?;
        check_old_version(&store.load().await.map_err(KeyAdminError::Store)?, version)?;
        self.fence_unused(version).await?;
        for _ in 0..RING_ATTEMPTS {
            let cur = store.load().await.map_err(KeyAdminError::Store)?;
            let Some(next) = cur.without(version) else {
                if cur.get(version).is_none() {
                    // a concurrent retirement of it swapped first
                    self.inner.set_sse_ring(cur);
                    return self.status_after_change().await;
                }
                return Err(KeyAdminError::Current(version));
            };
            if store
                .swap(&cur, &next)
                .await
                .map_err(KeyAdminError::Store)?
            {
                tracing::info!(version, "SSE master key version retired");
                self.inner.set_sse_ring(next);
                return self.status_after_change().await;
            }
        }
        Err(KeyAdminError::Contended)
    }

    /// Raise `version`'s fence, count what needs it, and leave the fence
    /// `Retired` if nothing does; else lower it and refuse with the count.
    async fn fence_unused(&self, version: u32) -> std::result::Result<(), KeyAdminError> {
        for _ in 0..RING_ATTEMPTS {
            let ours = match self.raise_fence(version).await? {
                Fence::Retired => return Ok(()),
                Fence::Raised(ours) => ours,
            };
            let refusal = match self.sse_usage(version).await {
                Ok(usage) if usage.total() == 0 => {
                    if self.seal_fence(version, &ours).await? {
                        return Ok(());
                    }
                    // another retirement of `version` took the fence
                    // meanwhile: our count may have missed a commit
                    continue;
                }
                Ok(usage) => KeyAdminError::InUse(usage),
                Err(e) => KeyAdminError::Engine(e),
            };
            if let Err(e) = self.lower_fence(version, &ours).await {
                tracing::warn!(version, error = %e,
                    "lowering an SSE key version fence failed; `liuma sse retire` again lowers it");
            }
            return Err(refusal);
        }
        Err(KeyAdminError::Contended)
    }

    /// Count what still needs `version` (see [`SseUsage`]).
    pub async fn sse_usage(&self, version: u32) -> Result<SseUsage> {
        let mut usage = SseUsage {
            version,
            ..SseUsage::default()
        };
        let mut cache = HeaderCache::new(HEADER_CACHE_ENTRIES);
        let mut pager = Pager::prefix(keys::VERSION.as_bytes(), PAGE);
        while let Some(page) = pager.next(&self.inner.meta).await? {
            for kv in page {
                let rec: VersionRecord = decode(&kv.value)?;
                match &rec.sse {
                    Some(Sse::S3) => match self.uses_version(&rec, version, &mut cache).await {
                        Ok(true) => usage.object_versions += 1,
                        Ok(false) => {}
                        // Deleted since the page was read: nothing to count.
                        // Still there (even changed in place, e.g. new tags):
                        // it may need the version, so the count fails and a
                        // retirement is refused rather than guessed.
                        Err(e) => {
                            if self.inner.meta.get(&kv.key).await?.is_some() {
                                return Err(e);
                            }
                        }
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
                if self.upload_uses(&up, version, &mut cache).await? {
                    usage.uploads += 1;
                }
            }
        }
        Ok(usage)
    }

    /// Whether an open upload needs `version`: an SSE-C one for its key
    /// check, an SSE-S3 one when a part stored so far is sealed under it.
    async fn upload_uses(
        &self,
        up: &UploadRecord,
        version: u32,
        cache: &mut HeaderCache,
    ) -> Result<bool> {
        match &up.sse {
            None => Ok(false),
            Some(Sse::Customer { check_version, .. }) => Ok(*check_version == version),
            Some(Sse::S3) => {
                // (a failure to read is an error, never "not in use": a
                // retirement must not proceed on a count it could not make)
                for part in self.part_records(&up.upload_id, 0, usize::MAX).await? {
                    let entries = self.inner.body_manifest(&part.uid, &part.body).await?;
                    if self.any_sealed_under(&entries, version, cache).await? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }

    /// Whether a block of `rec` is sealed under `version`.
    async fn uses_version(
        &self,
        rec: &VersionRecord,
        version: u32,
        cache: &mut HeaderCache,
    ) -> Result<bool> {
        // A small object sealed into its record has no block to look at.
        if let Body::SealedInline { envelope, .. } = self.inner.body_of(rec).await?.as_ref() {
            return Ok(crate::crypt::envelope_key_version(envelope) == Some(version));
        }
        let entries = self.inner.manifest(rec).await?;
        self.any_sealed_under(&entries, version, cache).await
    }

    /// Whether a block of `entries` is sealed under `version`.
    async fn any_sealed_under(
        &self,
        entries: &[crate::model::BlockEntry],
        version: u32,
        cache: &mut HeaderCache,
    ) -> Result<bool> {
        for entry in entries {
            if self.inner.entry_key_version(entry, cache).await? == Some(version) {
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
        let mut cache = HeaderCache::new(HEADER_CACHE_ENTRIES);
        let mut pager = Pager::prefix(keys::VERSION.as_bytes(), PAGE);
        while let Some(page) = pager.next(&self.inner.meta).await? {
            for kv in page {
                self.update_job(|j| j.scanned += 1);
                let rec: VersionRecord = decode(&kv.value)?;
                if rec.sse != Some(Sse::S3) {
                    continue;
                }
                let outcome = match self.uses_version(&rec, from, &mut cache).await {
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
        let sealer = Sealer::s3(ring.newest());
        let fences: Vec<u32> = sealer.s3_version().into_iter().collect();
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
                    sealer: Some(sealer),
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
        // the new blocks' bytes on disks (compression and code may differ)
        new.disk_bytes = Some(ing.disk_bytes);
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
            // the bucket's usage: the old version out, the new one in
            // (same count and size; the bytes on disks move)
            txn = crate::usage::replace_ops(txn, &bucket, &rec, &unsaved);
            txn = crate::sse_fence::fenced(txn, &fences);
            if self.inner.meta.txn(txn).await?.succeeded {
                return Ok(true);
            }
            if let Err(e) = self.inner.check_fences(&fences).await {
                self.discard_uncommitted(&unsaved).await?;
                return Err(e);
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
#[path = "sse_admin_tests.rs"]
mod tests;
