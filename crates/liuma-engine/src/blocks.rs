//! Block storage on the node's disks: dedup by block id, encode, place,
//! write shards in parallel with fallback disks, read with degraded decode,
//! and repair what a read finds missing or rotten.
//!
//! GC safety: an upload that reuses a block "touches" its record with a CAS
//! write; GC only deletes a block whose record has not been touched for the
//! grace period and flips it to `Deleting` with a CAS on the same revision,
//! so a concurrent upload either sees `Deleting` (and waits until the block
//! is gone, then writes it afresh) or wins the race and GC backs off.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use liuma_codec::{BlockId, CodecParams, Shard};
use liuma_disk::ShardStore;
use liuma_meta::{Compare, DynMetaStore, Op, Txn};

use crate::keys;
use crate::metrics::Stats;
use crate::model::{BlockRecord, BlockState, decode, encode, now_ms};
use crate::placement::{self, Candidate};
use crate::{Error, Result};

/// Outcome of storing one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    Written,
    Deduplicated,
}

/// How long an upload waits for GC to finish deleting a block it wants.
const DELETING_WAIT: Duration = Duration::from_secs(10);

pub(crate) struct BlockStore {
    meta: DynMetaStore,
    disks: Arc<ShardStore>,
    stats: Arc<Stats>,
    codec: CodecParams,
    gc_grace_ms: u64,
    disk_index: HashMap<String, usize>,
    candidates: Vec<Candidate>,
}

impl BlockStore {
    pub fn new(
        meta: DynMetaStore,
        disks: Arc<ShardStore>,
        stats: Arc<Stats>,
        codec: CodecParams,
        gc_grace: Duration,
    ) -> Self {
        let mut disk_index = HashMap::new();
        let mut candidates = Vec::new();
        for i in 0..disks.disk_count() {
            let id = disks.disk_id(i).0.clone();
            let weight = disks.usage(i).map_or(1 << 30, |u| u.total_bytes);
            disk_index.insert(id.clone(), i);
            candidates.push(Candidate {
                index: i,
                id,
                weight,
            });
        }
        BlockStore {
            meta,
            disks,
            stats,
            codec,
            gc_grace_ms: u64::try_from(gc_grace.as_millis()).unwrap_or(u64::MAX),
            disk_index,
            candidates,
        }
    }

    pub fn disks(&self) -> &Arc<ShardStore> {
        &self.disks
    }

    /// The block record and its revision, if the block is stored.
    pub async fn record(&self, id: &BlockId) -> Result<Option<(BlockRecord, u64)>> {
        match self.meta.get(&keys::block(id)).await? {
            Some(kv) => Ok(Some((decode(&kv.value)?, kv.mod_revision))),
            None => Ok(None),
        }
    }

    /// Store `plain` (whose BLAKE3 is `id`) unless it is stored already.
    pub async fn store(&self, id: BlockId, plain: Bytes, erasure: (u16, u16)) -> Result<Stored> {
        let waited = std::time::Instant::now();
        loop {
            match self.record(&id).await? {
                Some((rec, rev)) if rec.state == BlockState::Live => {
                    if self.touch(&id, rec, rev).await? {
                        Stats::add(&self.stats.blocks_deduplicated, 1);
                        return Ok(Stored::Deduplicated);
                    }
                }
                Some(_) if waited.elapsed() < DELETING_WAIT => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Some(_) => {
                    return Err(Error::Conflict {
                        what: format!("block {id} being deleted"),
                    });
                }
                None => break,
            }
        }
        let mut params = self.codec.clone();
        (params.data_shards, params.parity_shards) = erasure;
        let plain_len = plain.len() as u64;
        let encoded = tokio::task::spawn_blocking(move || {
            liuma_codec::encode_block_with_id(&params, id, plain)
        })
        .await?
        .map_err(Error::internal)?;
        let disks = self.write_shards(&id, &encoded.shards).await?;
        let now = now_ms();
        let rec = BlockRecord {
            k: encoded.data_shards,
            m: encoded.parity_shards,
            plain_len,
            stored_len: encoded.stored_len,
            compressed: encoded.compressed,
            disks,
            state: BlockState::Live,
            created_ms: now,
            touched_ms: now,
        };
        let key = keys::block(&id);
        let txn = Txn::new()
            .when(Compare::Absent(key.clone()))
            .and_then(Op::put(key, encode(&rec)));
        // Losing the race means a concurrent upload stored the same bytes
        // (placement is deterministic, so normally on the same disks).
        self.meta.txn(txn).await?;
        Stats::add(&self.stats.blocks_written, 1);
        Stats::add(
            &self.stats.compression_saved_bytes,
            plain_len.saturating_sub(rec.stored_len),
        );
        Ok(Stored::Written)
    }

    /// Record a reuse of a live block so GC leaves it alone. False when the
    /// record changed under us (the caller re-reads).
    async fn touch(&self, id: &BlockId, mut rec: BlockRecord, rev: u64) -> Result<bool> {
        let now = now_ms();
        if now.saturating_sub(rec.touched_ms) < self.gc_grace_ms / 4 {
            return Ok(true);
        }
        rec.touched_ms = now;
        let key = keys::block(id);
        let txn = Txn::new()
            .when(Compare::ModRevision(key.clone(), rev))
            .and_then(Op::put(key, encode(&rec)));
        Ok(self.meta.txn(txn).await?.succeeded)
    }

    /// Write every shard to its own disk (falling back to the next ranked
    /// disk on failure). Returns the disk id per shard index.
    async fn write_shards(&self, id: &BlockId, shards: &[Shard]) -> Result<Vec<String>> {
        let ranked = placement::rank(id, &self.candidates);
        let targets = placement::assign(&ranked, shards.len());
        let writes = shards.iter().zip(&targets).map(|(shard, &disk)| {
            let store = self.disks.clone();
            let shard = shard.clone();
            async move {
                let s = shard.clone();
                let st = store.clone();
                let r = tokio::task::spawn_blocking(move || st.write_shard(disk, &s)).await;
                (disk, shard, r)
            }
        });
        let mut placed = Vec::with_capacity(shards.len());
        let mut failed = Vec::new();
        for (disk, shard, r) in join_all(writes).await {
            match r? {
                Ok(()) => placed.push(Some(disk)),
                Err(e) => {
                    tracing::warn!(disk, block = %id, error = %e, "shard write failed, trying another disk");
                    failed.push((placed.len(), shard, e));
                    placed.push(None);
                }
            }
        }
        for (slot, shard, first_err) in failed {
            match self.write_fallback(&ranked, &placed, shard).await {
                Ok(disk) => placed[slot] = Some(disk),
                Err(e) => {
                    self.remove_written(id, &placed).await;
                    tracing::warn!(block = %id, error = %e, "no disk can take the shard");
                    return Err(Error::StorageFull(first_err));
                }
            }
        }
        Ok(placed
            .into_iter()
            .map(|d| self.candidates[d.expect("every shard placed")].id.clone())
            .collect())
    }

    async fn write_fallback(
        &self,
        ranked: &[usize],
        placed: &[Option<usize>],
        shard: Shard,
    ) -> Result<usize, liuma_disk::Error> {
        let used: Vec<usize> = placed.iter().flatten().copied().collect();
        // Prefer disks not holding a shard of this block; reuse them only if
        // nothing else is left (less tolerance beats no write at all).
        let order = ranked
            .iter()
            .filter(|d| !used.contains(d))
            .chain(ranked.iter());
        let mut last = None;
        for &disk in order {
            let store = self.disks.clone();
            let s = shard.clone();
            match tokio::task::spawn_blocking(move || store.write_shard(disk, &s)).await {
                Ok(Ok(())) => return Ok(disk),
                Ok(Err(e)) => last = Some(e),
                Err(_) => {}
            }
        }
        Err(last.unwrap_or(liuma_disk::Error::NoSuchDisk(0)))
    }

    async fn remove_written(&self, id: &BlockId, placed: &[Option<usize>]) {
        for (i, disk) in placed.iter().enumerate() {
            if let Some(disk) = *disk {
                let store = self.disks.clone();
                let id = *id;
                let index = u16::try_from(i).unwrap_or(u16::MAX);
                let _ =
                    tokio::task::spawn_blocking(move || store.delete_shard(disk, &id, index)).await;
            }
        }
    }

    fn disk_of(&self, disk_id: &str) -> Option<usize> {
        self.disk_index.get(disk_id).copied()
    }

    async fn read_frames(
        &self,
        id: &BlockId,
        rec: &BlockRecord,
        which: &[usize],
    ) -> Vec<(usize, Option<Bytes>)> {
        let reads = which.iter().map(|&i| {
            let disk = self.disk_of(&rec.disks[i]);
            let store = self.disks.clone();
            let id = *id;
            async move {
                let Some(disk) = disk else { return (i, None) };
                let index = u16::try_from(i).unwrap_or(u16::MAX);
                let r =
                    tokio::task::spawn_blocking(move || store.read_shard_frame(disk, &id, index))
                        .await;
                (i, r.ok().and_then(Result::ok))
            }
        });
        join_all(reads).await
    }

    /// Read and decode a block: data shards first, the rest only if needed.
    /// Shards found missing or rotten are rewritten in the background.
    pub async fn read(self: &Arc<Self>, id: &BlockId) -> Result<Bytes> {
        let Some((rec, _)) = self.record(id).await? else {
            return Err(Error::BlockUnavailable {
                block: *id,
                have: 0,
                need: 1,
            });
        };
        let n = rec.disks.len();
        let k = usize::from(rec.k);
        let mut frames: Vec<Option<Bytes>> = vec![None; n];
        let mut attempted = vec![false; n];
        let first: Vec<usize> = (0..k.min(n)).collect();
        for (i, f) in self.read_frames(id, &rec, &first).await {
            attempted[i] = true;
            frames[i] = f;
        }
        let decoded = match decode_off_thread(id, &frames).await? {
            Ok(ok) => ok,
            Err(_) => {
                let rest: Vec<usize> = (k.min(n)..n).collect();
                for (i, f) in self.read_frames(id, &rec, &rest).await {
                    attempted[i] = true;
                    frames[i] = f;
                }
                Stats::add(&self.stats.degraded_reads, 1);
                decode_off_thread(id, &frames).await?.map_err(|_| {
                    let have = frames.iter().filter(|f| f.is_some()).count();
                    Error::BlockUnavailable {
                        block: *id,
                        have,
                        need: k,
                    }
                })?
            }
        };
        let (data, bad) = decoded;
        let bad: Vec<u16> = bad
            .into_iter()
            .filter(|&i| attempted[usize::from(i)])
            .collect();
        if !bad.is_empty() {
            let this = self.clone();
            let id = *id;
            tokio::spawn(async move {
                if let Err(e) = this.repair(&id, &frames, &bad).await {
                    tracing::warn!(block = %id, error = %e, "repair after read failed");
                }
            });
        }
        Ok(data)
    }

    /// Rebuild the shards `bad` from the good `frames` and write them back
    /// (to their own disk, or another one if it is gone).
    pub async fn repair(
        &self,
        id: &BlockId,
        frames: &[Option<Bytes>],
        bad: &[u16],
    ) -> Result<usize> {
        let frames = frames.to_vec();
        let wanted = bad.to_vec();
        let rebuilt =
            tokio::task::spawn_blocking(move || liuma_codec::rebuild_shards(&frames, &wanted))
                .await?
                .map_err(Error::internal)?;
        let Some((mut rec, rev)) = self.record(id).await? else {
            return Ok(0);
        };
        let ranked = placement::rank(id, &self.candidates);
        let mut moved = false;
        let mut repaired = 0;
        for shard in rebuilt {
            let i = usize::from(shard.header.index);
            let home = self.disk_of(&rec.disks[i]);
            let store = self.disks.clone();
            let s = shard.clone();
            let result = match home {
                Some(disk) => {
                    tokio::task::spawn_blocking(move || store.write_shard(disk, &s).map(|()| disk))
                        .await?
                }
                None => Err(liuma_disk::Error::NoSuchDisk(i)),
            };
            let disk = match result {
                Ok(d) => d,
                Err(_) => {
                    let placed: Vec<Option<usize>> =
                        rec.disks.iter().map(|d| self.disk_of(d)).collect();
                    moved = true;
                    self.write_fallback(&ranked, &placed, shard)
                        .await
                        .map_err(Error::StorageFull)?
                }
            };
            rec.disks[i] = self.candidates[disk].id.clone();
            repaired += 1;
        }
        if moved {
            let key = keys::block(id);
            let txn = Txn::new()
                .when(Compare::ModRevision(key.clone(), rev))
                .and_then(Op::put(key, encode(&rec)));
            self.meta.txn(txn).await?;
        }
        Stats::add(&self.stats.shards_repaired, repaired as u64);
        tracing::info!(block = %id, repaired, "shards repaired");
        Ok(repaired)
    }

    /// Read every shard of a block, verify it and repair the bad ones.
    /// Returns (bad shards found, shards repaired).
    pub async fn scrub(&self, id: &BlockId, rec: &BlockRecord) -> Result<(usize, usize)> {
        let all: Vec<usize> = (0..rec.disks.len()).collect();
        let mut frames = vec![None; rec.disks.len()];
        for (i, f) in self.read_frames(id, rec, &all).await {
            frames[i] = f;
        }
        let (_, bad) =
            liuma_codec::decode_block_expect(id, &frames).map_err(|_| Error::BlockUnavailable {
                block: *id,
                have: frames.iter().filter(|f| f.is_some()).count(),
                need: usize::from(rec.k),
            })?;
        if bad.is_empty() {
            return Ok((0, 0));
        }
        let repaired = self.repair(id, &frames, &bad).await?;
        Ok((bad.len(), repaired))
    }

    /// Delete every shard of a block (GC, after the record is `Deleting`).
    pub async fn delete_shards(&self, id: &BlockId, rec: &BlockRecord) {
        let placed: Vec<Option<usize>> = rec.disks.iter().map(|d| self.disk_of(d)).collect();
        self.remove_written(id, &placed).await;
    }
}

/// Verify and decode on the blocking pool: hashing 4 MiB takes about a
/// millisecond, too long for a runtime worker, and read-ahead blocks then
/// decode on both cores at once.
async fn decode_off_thread(
    id: &BlockId,
    frames: &[Option<Bytes>],
) -> Result<liuma_codec::Result<(Bytes, Vec<u16>)>> {
    let (id, frames) = (*id, frames.to_vec());
    Ok(tokio::task::spawn_blocking(move || liuma_codec::decode_block_expect(&id, &frames)).await?)
}
