//! Garbage collection: blocks no live object version or part refers to are
//! deleted once the grace period has passed since they were written or last
//! reused; stale references and expired multipart uploads are removed.
//!
//! A reference is live when its owner record exists with the same uid, or
//! when it is younger than the grace period (its upload may still be
//! running: refs are written before the version record is committed).

use std::collections::HashMap;

use liuma_codec::BlockId;
use liuma_meta::{Compare, Op, Txn};

use crate::engine::Engine;
use crate::keys;
use crate::metrics::Stats;
use crate::model::{
    BlockRecord, BlockState, Owner, PartRecord, RefRecord, UploadRecord, decode, encode,
};
use crate::scan::{Pager, apply_batched};
use crate::{Error, Result};

/// What one GC pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Block records examined.
    pub blocks_checked: u64,
    /// Blocks deleted (shards and record).
    pub blocks_deleted: u64,
    /// Stale references removed.
    pub refs_deleted: u64,
    /// Owners taken off the GC queue (incremental passes): written or
    /// removed objects and parts whose blocks were looked at.
    pub owners_checked: u64,
    /// Expired multipart uploads aborted.
    pub uploads_aborted: u64,
    /// Shard files with no block record (a write cut short before its
    /// record was committed), removed once older than the grace period.
    pub orphan_shards_deleted: u64,
}

/// The block id and record of a `bl/<hex>` entry.
pub(crate) fn parse_block(kv: &liuma_meta::KeyValue) -> Result<(BlockId, BlockRecord)> {
    let hex = kv
        .key
        .get(keys::BLOCK.len()..)
        .and_then(|h| std::str::from_utf8(h).ok());
    let id = hex
        .and_then(|h| BlockId::from_hex(h).ok())
        .ok_or_else(|| Error::internal(std::io::Error::other("malformed block key")))?;
    Ok((id, decode(&kv.value)?))
}

/// The references among `keys` with their reverse-index entries (`go/`)
/// added: a stale reference and its index entry go together.
pub(crate) fn with_owned_index(keys: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let index: Vec<Vec<u8>> = keys.iter().filter_map(|k| keys::owned_of_ref(k)).collect();
    keys.into_iter().chain(index).collect()
}

impl Engine {
    /// One full GC pass over every block record (and every shard file, for
    /// orphans): the safety net behind the incremental passes, which look
    /// only at what changed (see [`crate::gc_queue`]). `upload_expiry_ms`:
    /// abort multipart uploads older than this (None: keep them).
    pub async fn gc_pass(&self, upload_expiry_ms: Option<u64>) -> Result<GcReport> {
        let mut report = self.gc_uploads(upload_expiry_ms).await?;
        let grace = self.gc_grace_ms();
        let mut owners: HashMap<String, bool> = HashMap::new();
        let mut pager = Pager::prefix(keys::BLOCK.as_bytes(), 256);
        while let Some(page) = pager.next(&self.inner.meta).await? {
            for kv in page {
                let (id, rec) = parse_block(&kv)?;
                // In a cluster each block has one maintainer among the live nodes.
                if !self.cluster().view().maintains(&id) {
                    continue;
                }
                report.blocks_checked += 1;
                let age = self
                    .now_ms()
                    .saturating_sub(rec.created_ms.max(rec.touched_ms));
                if rec.state == BlockState::Live && age < grace {
                    continue;
                }
                let (live, stale) = self.block_refs(&id, grace, &mut owners).await?;
                report.refs_deleted += stale.len() as u64;
                if live && rec.state == BlockState::Live {
                    self.delete_keys(with_owned_index(stale)).await?;
                    continue;
                }
                if self.delete_block(&id, rec, kv.mod_revision, stale).await? {
                    report.blocks_deleted += 1;
                }
            }
        }
        report.orphan_shards_deleted = self.sweep_orphan_shards(grace).await?;
        Stats::add(&self.inner.stats.gc_blocks_deleted, report.blocks_deleted);
        Stats::add(&self.inner.stats.gc_refs_deleted, report.refs_deleted);
        Ok(report)
    }

    /// The upload housekeeping every pass does first: abort expired
    /// multipart uploads, forget old completed ones.
    pub(crate) async fn gc_uploads(&self, upload_expiry_ms: Option<u64>) -> Result<GcReport> {
        let mut report = GcReport::default();
        if let Some(age) = upload_expiry_ms {
            report.uploads_aborted = self.abort_expired_uploads(age).await?;
        }
        self.prune_completed_uploads(self.now_ms()).await?;
        Ok(report)
    }

    pub(crate) fn gc_grace_ms(&self) -> u64 {
        u64::try_from(self.inner.cfg.gc_grace.as_millis()).unwrap_or(u64::MAX)
    }

    /// (any live ref?, keys of stale refs)
    pub(crate) async fn block_refs(
        &self,
        id: &BlockId,
        grace: u64,
        owners: &mut HashMap<String, bool>,
    ) -> Result<(bool, Vec<Vec<u8>>)> {
        let mut live = false;
        let mut stale = Vec::new();
        let mut pager = Pager::prefix(&keys::refs_of(id), 256);
        while let Some(page) = pager.next(&self.inner.meta).await? {
            for kv in page {
                let r: RefRecord = decode(&kv.value)?;
                if self.now_ms().saturating_sub(r.created_ms) < grace
                    || self.owner_live(&r.owner, owners).await?
                {
                    live = true;
                } else {
                    stale.push(kv.key);
                }
            }
        }
        Ok((live, stale))
    }

    pub(crate) async fn owner_live(
        &self,
        owner: &Owner,
        cache: &mut HashMap<String, bool>,
    ) -> Result<bool> {
        let uid = match owner {
            Owner::Version { uid, .. } | Owner::Part { uid, .. } => uid.clone(),
        };
        if let Some(&live) = cache.get(&uid) {
            return Ok(live);
        }
        let live = match owner {
            Owner::Version { bucket, key, uid } => self
                .versions(bucket, key)
                .await?
                .iter()
                .any(|v| &v.uid == uid),
            Owner::Part {
                upload_id,
                part_number,
                uid,
            } => {
                match self
                    .inner
                    .meta
                    .get(&keys::part(upload_id, *part_number))
                    .await?
                {
                    Some(kv) => decode::<PartRecord>(&kv.value)?.uid == *uid,
                    None => false,
                }
            }
        };
        cache.insert(uid, live);
        Ok(live)
    }

    /// Flip the record to `Deleting` (CAS: an upload reusing the block wins),
    /// delete the shards, then the record and its stale refs.
    pub(crate) async fn delete_block(
        &self,
        id: &BlockId,
        mut rec: BlockRecord,
        rev: u64,
        stale: Vec<Vec<u8>>,
    ) -> Result<bool> {
        let key = keys::block(id);
        if rec.state == BlockState::Live {
            rec.state = BlockState::Deleting;
            let txn = Txn::new()
                .when(Compare::ModRevision(key.clone(), rev))
                .and_then(Op::put(key.clone(), encode(&rec)));
            if !self.inner.meta.txn(txn).await?.succeeded {
                return Ok(false);
            }
        }
        self.inner.blocks.delete_shards(id, &rec).await;
        let mut keys_to_delete = with_owned_index(stale);
        keys_to_delete.push(key);
        self.delete_keys(keys_to_delete).await?;
        tracing::debug!(block = %id, "block collected");
        Ok(true)
    }

    pub(crate) async fn delete_keys(&self, keys: Vec<Vec<u8>>) -> Result<()> {
        apply_batched(&self.inner.meta, keys.into_iter().map(Op::delete).collect()).await
    }

    /// Delete shard files whose block has no record (and whose file is older
    /// than the grace period, so a write in progress is never touched).
    pub(crate) async fn sweep_orphan_shards(&self, grace_ms: u64) -> Result<u64> {
        let disks = self.disks().clone();
        // File times are on the system clock; grace is on the engine's.
        let grace =
            std::time::Duration::from_millis(grace_ms).saturating_sub(self.inner.clock.ahead());
        // (disk, block, index) of old enough files, listed off the runtime
        let candidates = tokio::task::spawn_blocking(move || {
            let mut old = Vec::new();
            for disk in 0..disks.disk_count() {
                for (id, index) in disks.list_shards(disk).flatten() {
                    let age = std::fs::metadata(disks.shard_path(disk, &id, index))
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok());
                    if age.is_some_and(|a| a >= grace) {
                        old.push((disk, id, index));
                    }
                }
            }
            old
        })
        .await?;
        // A shard is an orphan when its block has no record, or the record
        // places that index on another disk (the shard was moved away).
        let mut known: HashMap<BlockId, Option<Vec<String>>> = HashMap::new();
        let mut deleted = 0;
        for (disk, id, index) in candidates {
            if let std::collections::hash_map::Entry::Vacant(slot) = known.entry(id) {
                let disks = match self.inner.meta.get(&keys::block(&id)).await? {
                    Some(kv) => Some(decode::<BlockRecord>(&kv.value)?.disks),
                    None => None,
                };
                slot.insert(disks);
            }
            let here = &self.disks().disk_id(disk).0;
            let recorded = known[&id]
                .as_ref()
                .is_some_and(|d| d.get(usize::from(index)) == Some(here));
            if recorded {
                continue;
            }
            let disks = self.disks().clone();
            let removed = tokio::task::spawn_blocking(move || disks.delete_shard(disk, &id, index))
                .await?
                .unwrap_or(false);
            if removed {
                tracing::debug!(block = %id, index, disk, "orphan shard removed");
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    async fn abort_expired_uploads(&self, age_ms: u64) -> Result<u64> {
        let mut aborted = 0;
        let mut pager = Pager::prefix(keys::UPLOAD.as_bytes(), 256);
        while let Some(page) = pager.next(&self.inner.meta).await? {
            for kv in page {
                let u: UploadRecord = decode(&kv.value)?;
                if self.now_ms().saturating_sub(u.created_ms) >= age_ms {
                    match self.abort_multipart(&u.bucket, &u.key, &u.upload_id).await {
                        Ok(()) => aborted += 1,
                        Err(Error::NoSuchUpload { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(aborted)
    }
}
