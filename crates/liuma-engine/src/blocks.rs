//! Block storage across the cluster's disks: dedup by block id, encode,
//! place, write shards in parallel with fallback disks, read with degraded
//! decode, and repair what a read finds missing or rotten. Shards are
//! addressed by disk id; [`Cluster`] reaches the disk, local or remote.
//!
//! GC safety: an upload that reuses a block "touches" its record with a CAS
//! write; GC only deletes a block whose record has not been touched for the
//! grace period and flips it to `Deleting` with a CAS on the same revision,
//! so a concurrent upload either sees `Deleting` (and waits until the block
//! is gone, then writes it afresh) or wins the race and GC backs off.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use liuma_cluster::placement::{rank, spread_capped, spread_from};
use liuma_cluster::{Candidate, Cluster, DiskHealth};
use liuma_codec::{BlockId, CodecParams, Shard};
use liuma_meta::{Compare, DynMetaStore, Op, Txn};

use crate::budget::PoolBuf;
use crate::clock::Clock;
use crate::keys;
use crate::metrics::Stats;
use crate::model::{BlockRecord, BlockState, decode, encode, now_ms};
use crate::{Error, Result};

/// Outcome of storing one block, with the bytes its shards occupy on disks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    Written(u64),
    Deduplicated(u64),
}

impl Stored {
    /// Shard bytes of the block (written now or found stored).
    pub(crate) fn disk_bytes(self) -> u64 {
        match self {
            Stored::Written(n) | Stored::Deduplicated(n) => n,
        }
    }
}

/// Shard bytes of a stored block: its stored (compressed) length over k
/// data shards, times k+m (a replicated block: k = 1, m = copies - 1).
pub(crate) fn shard_bytes_of(rec: &BlockRecord) -> u64 {
    let k = u64::from(rec.k.max(1));
    rec.stored_len.div_ceil(k) * (k + u64::from(rec.m))
}

/// How long an upload waits for GC to finish deleting a block it wants.
const DELETING_WAIT: Duration = Duration::from_secs(10);

/// Where a write may put shards (see `EngineConfig::min_failure_domains`
/// and `allow_shard_doubling`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpreadPolicy {
    /// Fewest failure domains up for a write; None = m+1.
    pub min_domains: Option<usize>,
    /// More than m shards of a block may share a node.
    pub allow_doubling: bool,
}

pub(crate) struct BlockStore {
    meta: DynMetaStore,
    cluster: Cluster,
    stats: Arc<Stats>,
    codec: CodecParams,
    gc_grace_ms: u64,
    /// Record times (creation, reuse): the engine's clock.
    clock: Clock,
    policy: SpreadPolicy,
}

impl BlockStore {
    pub fn new(
        meta: DynMetaStore,
        cluster: Cluster,
        stats: Arc<Stats>,
        codec: CodecParams,
        gc_grace: Duration,
        clock: Clock,
        policy: SpreadPolicy,
    ) -> Self {
        BlockStore {
            meta,
            cluster,
            stats,
            codec,
            gc_grace_ms: u64::try_from(gc_grace.as_millis()).unwrap_or(u64::MAX),
            clock,
            policy,
        }
    }

    /// The codec settings new blocks are encoded with (k, m aside).
    pub fn codec(&self) -> &CodecParams {
        &self.codec
    }

    /// Most shards of one block a node may hold for a code with `m` parity
    /// shards: m (a lost node costs no more than the code can lose), 1 for
    /// a code without parity; unlimited on a node on its own or when the
    /// operator allowed doubling up.
    pub fn per_node_cap(&self, m: u16) -> usize {
        if self.policy.allow_doubling || !self.cluster.is_clustered() {
            usize::MAX
        } else {
            usize::from(m).max(1)
        }
    }

    /// Refuse a k+m write up front when the failure domains up now cannot
    /// hold it: fewer than `min_failure_domains` (default m+1), or too few
    /// nodes to keep every node at `per_node_cap` shards.
    pub fn check_floor(&self, k: u16, m: u16) -> Result<()> {
        if self.per_node_cap(m) == usize::MAX {
            return Ok(());
        }
        let view = self.cluster.view();
        let nodes = view.live_nodes().filter(|n| !n.draining).count();
        let domains = view.live_failure_domains();
        let needed = self.policy.min_domains.unwrap_or(usize::from(m) + 1);
        if domains < needed {
            return Err(Error::TooFewFailureDomains {
                domain: if domains == nodes { "node" } else { "zone" },
                live: domains,
                needed,
                k,
                m,
            });
        }
        let n = usize::from(k) + usize::from(m);
        let needed_nodes = n.div_ceil(self.per_node_cap(m));
        if nodes < needed_nodes {
            return Err(Error::TooFewFailureDomains {
                domain: "node",
                live: nodes,
                needed: needed_nodes,
                k,
                m,
            });
        }
        Ok(())
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The block record and its revision, if the block is stored.
    pub async fn record(&self, id: &BlockId) -> Result<Option<(BlockRecord, u64)>> {
        match self.meta.get(&keys::block(id)).await? {
            Some(kv) => Ok(Some((decode(&kv.value)?, kv.mod_revision))),
            None => Ok(None),
        }
    }

    /// Whether the block can be read now as far as membership tells: its
    /// record exists and at least k of its shards are on live nodes. Checked
    /// for every block of a download before its status line, so a block
    /// that cannot be read fails the request with 503, not a cut-off 200.
    pub async fn check_readable(&self, id: &BlockId) -> Result<()> {
        let Some((rec, _)) = self.record(id).await? else {
            return Err(Error::BlockUnavailable {
                block: *id,
                have: 0,
                need: 1,
            });
        };
        let have = self.live_shards(&rec).len();
        let need = usize::from(rec.k);
        if have < need {
            return Err(Error::BlockUnavailable {
                block: *id,
                have,
                need,
            });
        }
        Ok(())
    }

    /// Indices of the shards of `rec` on live nodes' disks (draining ones
    /// included: they still serve reads).
    pub(crate) fn live_shards(&self, rec: &BlockRecord) -> Vec<usize> {
        let view = self.cluster.view();
        let now = crate::model::now_ms();
        (0..rec.disks.len())
            .filter(|&i| {
                matches!(
                    view.disk_health(&rec.disks[i], now),
                    liuma_cluster::DiskHealth::Up | liuma_cluster::DiskHealth::Draining
                )
            })
            .collect()
    }

    /// Store `plain` (whose BLAKE3 is `id`) unless it is stored already.
    pub async fn store(&self, id: BlockId, plain: Bytes, erasure: (u16, u16)) -> Result<Stored> {
        self.store_coded(id, plain, erasure, false).await
    }

    /// [`Self::store`] of an encrypted envelope (see `crypt`): never
    /// compressed by the codec (compressed before encryption), and in
    /// format 2 `id` is the envelope's keyed id, not its hash: the codec
    /// marks the shards opaque-id, and their checksums verify them.
    pub async fn store_sealed(
        &self,
        id: BlockId,
        envelope: Bytes,
        erasure: (u16, u16),
    ) -> Result<Stored> {
        self.store_coded(id, envelope, erasure, true).await
    }

    async fn store_coded(
        &self,
        id: BlockId,
        plain: Bytes,
        erasure: (u16, u16),
        sealed: bool,
    ) -> Result<Stored> {
        let opaque = sealed && crate::crypt::is_opaque_envelope(&plain);
        let waited = std::time::Instant::now();
        loop {
            match self.record(&id).await? {
                Some((rec, rev)) if rec.state == BlockState::Live => {
                    let disk_bytes = shard_bytes_of(&rec);
                    if self.touch(&id, rec, rev).await? {
                        Stats::add(&self.stats.blocks_deduplicated, 1);
                        return Ok(Stored::Deduplicated(disk_bytes));
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
        // Shards written now could never be committed while the metadata store is failed:
        // refuse before writing any (GC would only sweep them up later).
        self.meta.health().check()?;
        // Too few nodes for the code: refuse now rather than double shards up.
        self.check_floor(erasure.0, erasure.1)?;
        let mut params = self.codec.clone();
        (params.data_shards, params.parity_shards) = erasure;
        params.compress &= !sealed;
        params.opaque_id = opaque;
        let plain_len = plain.len() as u64;
        let encoded = tokio::task::spawn_blocking(move || {
            liuma_codec::encode_block_with_id(&params, id, plain)
        })
        .await?
        .map_err(Error::internal)?;
        let shard_bytes: u64 = encoded.shards.iter().map(|s| s.payload.len() as u64).sum();
        let cap = self.per_node_cap(encoded.parity_shards);
        let (disks, as_wanted) = self.write_shards(&id, &encoded.shards, cap).await?;
        let now = self.clock.now_ms();
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
            opaque,
        };
        let key = keys::block(&id);
        let mut txn = Txn::new()
            .when(Compare::Absent(key.clone()))
            .and_then(Op::put(key, encode(&rec)));
        if !as_wanted {
            // A suspect peer skipped or a fallback disk: the heal moves it.
            txn = txn.and_then(crate::heal_queue::mark(&id));
        }
        // Losing the race means a concurrent upload stored the same bytes
        // (placement is deterministic, so normally on the same disks).
        match self.meta.txn(txn).await {
            Ok(r) if r.succeeded => {}
            Ok(_) => self.stats.note_leftover(),
            Err(e) => {
                self.stats.note_leftover();
                return Err(e.into());
            }
        }
        Stats::add(&self.stats.blocks_written, 1);
        Stats::add(&self.stats.stored_bytes_written, shard_bytes);
        Stats::add(
            &self.stats.compression_saved_bytes,
            plain_len.saturating_sub(rec.stored_len),
        );
        Ok(Stored::Written(shard_bytes))
    }

    /// Record a reuse of a live block so GC leaves it alone. False when the
    /// record changed under us (the caller re-reads).
    async fn touch(&self, id: &BlockId, mut rec: BlockRecord, rev: u64) -> Result<bool> {
        let now = self.clock.now_ms();
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

    /// Write every shard to its own disk (on distinct nodes when there
    /// are enough, never more than `cap` on one node), falling back to the
    /// next ranked disk on failure (or after a slow peer's deadline; nodes
    /// that missed one recently are not candidates). Returns the disk id
    /// per shard index, and whether those are the disks placement over
    /// every live disk wants (no suspect skipped, no fallback): the healer's
    /// wanted set.
    async fn write_shards(
        &self,
        id: &BlockId,
        shards: &[Shard],
        cap: usize,
    ) -> Result<(Vec<String>, bool)> {
        let (cands, skipped_suspects) = self.cluster.write_candidates();
        if cands.is_empty() {
            return Err(Error::StorageFull(Box::new(liuma_cluster::Error::NoDisks)));
        }
        let ranked = rank(id, &cands);
        let targets = spread_capped(&cands, &ranked, shards.len(), &[], cap);
        if targets.len() < shards.len() {
            // The view changed since the floor check: same refusal.
            let nodes: std::collections::HashSet<&str> =
                cands.iter().map(|c| c.node.as_str()).collect();
            let (k, m) = shards
                .first()
                .map_or((0, 0), |s| (s.header.data_shards, s.header.parity_shards));
            return Err(Error::TooFewFailureDomains {
                domain: "node",
                live: nodes.len(),
                needed: shards.len().div_ceil(cap),
                k,
                m,
            });
        }
        let writes = shards.iter().zip(&targets).map(|(shard, &t)| {
            let disk = &cands[t].disk;
            async move { self.cluster.write_shard(disk, shard).await }
        });
        let mut placed: Vec<Option<usize>> = Vec::with_capacity(shards.len());
        let mut failed = Vec::new();
        for ((r, &t), shard) in join_all(writes).await.into_iter().zip(&targets).zip(shards) {
            match r {
                Ok(()) => placed.push(Some(t)),
                Err(e) => {
                    tracing::warn!(disk = %cands[t].disk, block = %id, error = %e,
                        "shard write failed, trying another disk");
                    failed.push((placed.len(), t, shard, e));
                    placed.push(None);
                }
            }
        }
        let as_wanted = !skipped_suspects && failed.is_empty();
        for (slot, target, shard, first_err) in failed {
            let taken: Vec<usize> = placed.iter().flatten().copied().collect();
            match self
                .write_fallback(&cands, &ranked, &taken, Some(target), shard, cap)
                .await
            {
                Some(t) => placed[slot] = Some(t),
                None => {
                    let written: Vec<(String, u16)> = placed
                        .iter()
                        .enumerate()
                        .filter_map(|(i, t)| t.map(|t| (cands[t].disk.clone(), index_u16(i))))
                        .collect();
                    self.remove(id, &written).await;
                    tracing::warn!(block = %id, error = %first_err, "no disk can take the shard");
                    return Err(Error::from_cluster(first_err));
                }
            }
        }
        let disks = placed
            .into_iter()
            .map(|t| cands[t.expect("every shard placed")].disk.clone())
            .collect();
        Ok((disks, as_wanted))
    }

    /// Write `shard` to the best disk not in `taken` (new nodes first);
    /// reuse taken disks only if nothing else is left (less tolerance beats
    /// no write at all), but never beyond `cap` shards on one node. `failed`
    /// (a target that just refused) is not tried again. Returns the
    /// candidate index written.
    async fn write_fallback(
        &self,
        cands: &[Candidate],
        ranked: &[usize],
        taken: &[usize],
        failed: Option<usize>,
        shard: &Shard,
        cap: usize,
    ) -> Option<usize> {
        let on_node = |t: usize| {
            taken
                .iter()
                .filter(|&&j| cands[j].node == cands[t].node)
                .count()
        };
        let fresh = spread_from(
            cands,
            ranked,
            ranked.len().saturating_sub(taken.len()),
            taken,
        );
        let mut tried: std::collections::HashSet<usize> = failed.into_iter().collect();
        for &t in fresh.iter().chain(ranked.iter()) {
            if !tried.insert(t) || on_node(t) >= cap {
                continue;
            }
            match self.cluster.write_shard(&cands[t].disk, shard).await {
                Ok(()) => return Some(t),
                Err(e) => {
                    tracing::debug!(block = %shard.header.block_id, shard = shard.header.index,
                        disk = %cands[t].disk, error = %e, "fallback write failed")
                }
            }
        }
        None
    }

    /// Delete shards (disk id, index); failures are left to the orphan sweep.
    pub async fn remove(&self, id: &BlockId, shards: &[(String, u16)]) {
        let deletes = shards
            .iter()
            .map(|(disk, index)| self.cluster.delete_shard(disk, id, *index));
        for (r, (disk, index)) in join_all(deletes).await.into_iter().zip(shards) {
            if let Err(e) = r {
                self.stats.note_leftover();
                tracing::debug!(block = %id, %disk, index, error = %e, "shard delete failed");
            }
        }
    }

    pub(crate) async fn read_frames(
        &self,
        id: &BlockId,
        rec: &BlockRecord,
        which: &[usize],
    ) -> Vec<(usize, Option<Bytes>)> {
        let reads = which.iter().map(|&i| async move {
            let r = self.cluster.read_shard(&rec.disks[i], id, index_u16(i)).await;
            if let Err(e) = &r
                && !e.is_not_found()
            {
                tracing::debug!(block = %id, index = i, disk = %rec.disks[i], error = %e, "shard read failed");
            }
            (i, r.ok())
        });
        join_all(reads).await
    }

    /// The frames of shards `which`, in slots by index (None where not
    /// read or not readable), as the decoder takes them.
    pub(crate) async fn frames_at(
        &self,
        id: &BlockId,
        rec: &BlockRecord,
        which: &[usize],
    ) -> Vec<Option<Bytes>> {
        let mut frames = vec![None; rec.disks.len()];
        for (i, f) in self.read_frames(id, rec, which).await {
            frames[i] = f;
        }
        frames
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
        let (frames, attempted) = self.read_any_k(id, &rec).await;
        self.decode_read(id, &rec, frames, attempted).await
    }

    /// Decode what [`Self::read_any_k`] read (asking the other shards
    /// when that fails); rewrite the bad shards in the background.
    async fn decode_read(
        self: &Arc<Self>,
        id: &BlockId,
        rec: &BlockRecord,
        mut frames: Vec<Option<Bytes>>,
        mut attempted: Vec<bool>,
    ) -> Result<Bytes> {
        let n = rec.disks.len();
        let k = usize::from(rec.k);
        let decoded = match decode_off_thread(id, &frames, rec.opaque).await? {
            Ok(ok) => ok,
            Err(_) => {
                // Some shard read was bad (rotten, missing): ask every shard
                // not answered yet, then decode from whatever is good.
                let rest: Vec<usize> = (0..n).filter(|&i| !attempted[i]).collect();
                for (i, f) in self.read_frames(id, rec, &rest).await {
                    attempted[i] = true;
                    frames[i] = f;
                }
                Stats::add(&self.stats.degraded_reads, 1);
                decode_off_thread(id, &frames, rec.opaque)
                    .await?
                    .map_err(|_| {
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

    /// The first `len` bytes of a stored block (an envelope's header):
    /// one shard is read when it starts with them, a replica or data shard
    /// 0 of a systematic code (the first 1/k of the block), verified by its
    /// frame checksum as every read is. When that shard is missing, rotten
    /// or of another kind (a codec-compressed block), the block is read as
    /// [`Self::read`] does. Counting which key version sealed old blocks
    /// (`sse_fence`) reads this instead of whole blocks.
    pub async fn read_head(self: &Arc<Self>, id: &BlockId, len: usize) -> Result<Bytes> {
        let Some((rec, _)) = self.record(id).await? else {
            return Err(Error::BlockUnavailable {
                block: *id,
                have: 0,
                need: 1,
            });
        };
        if !rec.compressed
            && let Some(disk) = rec.disks.first()
            && let Ok(frame) = self.cluster.read_shard(disk, id, 0).await
        {
            let want = *id;
            let head = tokio::task::spawn_blocking(move || {
                let shard = liuma_codec::parse_shard(frame).ok()?;
                let h = &shard.header;
                (h.block_id == want && h.index == 0 && !h.compressed && shard.payload.len() >= len)
                    .then(|| shard.payload.slice(..len))
            })
            .await?;
            if let Some(head) = head {
                return Ok(head);
            }
        }
        let whole = self.read(id).await?;
        Ok(whole.slice(..len.min(whole.len())))
    }

    /// [`Self::read`] into `buf`, a block buffer of the budget's pool: a
    /// replicated block (k = 1, every single-disk node's and every small
    /// block's layout) with a copy on a local disk is read straight into it,
    /// and the block is a slice of it (no allocation, no copy; the buffer
    /// returns to the pool with the last slice). Anything else (erasure
    /// coded, remote, missing or damaged copy) is read as [`Self::read`]
    /// does, and `buf` goes back unused.
    pub async fn read_into(self: &Arc<Self>, id: &BlockId, mut buf: PoolBuf) -> Result<Bytes> {
        let Some((rec, _)) = self.record(id).await? else {
            return Err(Error::BlockUnavailable {
                block: *id,
                have: 0,
                need: 1,
            });
        };
        let n = rec.disks.len();
        let local = (rec.k == 1)
            .then(|| (0..n).find(|&i| self.cluster.is_local_disk(&rec.disks[i])))
            .flatten();
        if let Some(i) = local {
            let vec = buf.take_vec();
            let read = self
                .cluster
                .read_local_shard_into(&rec.disks[i], id, index_u16(i), vec);
            // With other copies to ask, a slow local disk is not waited on
            // longer than a read would wait before hedging to them.
            let got = if n > 1 {
                tokio::time::timeout(self.cluster.hedge_delay(), read)
                    .await
                    .ok()
                    .flatten()
            } else {
                read.await
            };
            if let Some((vec, Ok(()))) = got {
                buf.put_back(vec);
                let mut frames = vec![None; n];
                frames[i] = Some(buf.freeze());
                if let Ok((data, _)) = decode_off_thread(id, &frames, rec.opaque).await? {
                    return Ok(data);
                }
            }
        }
        // Missing or damaged here: the full read finds the good copies and
        // repairs this one.
        self.read(id).await
    }

    /// Read an encrypted block and `open` it. A format-2 envelope (an
    /// opaque-id block) authenticates itself: its shards are not hashed,
    /// the GCM tag is the check. Only if opening fails for want of
    /// authenticity is the block read again the verifying way (every frame's
    /// checksum: names and repairs a rotten shard) and opened once more.
    /// Format-1 envelopes are read as before (verified by their id).
    pub async fn read_sealed<F>(self: &Arc<Self>, id: &BlockId, open: F) -> Result<Bytes>
    where
        F: Fn(Bytes) -> std::result::Result<Bytes, crate::crypt::CryptError>
            + Send
            + Sync
            + 'static,
    {
        let open = Arc::new(open);
        let Some((rec, _)) = self.record(id).await? else {
            return Err(Error::BlockUnavailable {
                block: *id,
                have: 0,
                need: 1,
            });
        };
        let (frames, attempted) = self.read_any_k(id, &rec).await;
        let (bid, o) = (*id, open.clone());
        let fast = tokio::task::spawn_blocking(move || {
            let Some(env) = liuma_codec::decode_block_unverified(&bid, &frames) else {
                // not opaque (format 1) or a data shard missing: decoded
                // the verifying way from what was read
                return Err(frames);
            };
            // the envelope may now be the only reference to its buffer:
            // decrypted in place
            drop(frames);
            Ok(o(env))
        })
        .await?;
        let envelope = match fast {
            Ok(Ok(plain)) => return Ok(plain),
            Ok(Err(crate::crypt::CryptError::Authentication)) => {
                // rot (or the wrong key): read again, verifying every frame
                Stats::add(&self.stats.degraded_reads, 1);
                self.read(id).await?
            }
            Ok(Err(e)) => return Err(e.into()),
            Err(frames) => self.decode_read(id, &rec, frames, attempted).await?,
        };
        Ok(tokio::task::spawn_blocking(move || open(envelope)).await??)
    }

    /// Read shards until k have answered with a frame: data shards first
    /// (no decoding needed), parity for each one that fails, and parity
    /// also for the data shards still missing after the hedge delay, so a
    /// slow or hung peer costs a read that delay, not its timeout. Shards
    /// on suspect peers are asked last. Returns the frames by index and
    /// which reads completed (a read abandoned after k answers is neither
    /// good nor bad).
    async fn read_any_k(&self, id: &BlockId, rec: &BlockRecord) -> (Vec<Option<Bytes>>, Vec<bool>) {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        let n = rec.disks.len();
        let k = usize::from(rec.k).min(n);
        // stable: data before parity, suspect peers after everything else
        let suspect: Vec<bool> = rec
            .disks
            .iter()
            .map(|d| self.cluster.is_suspect_disk(d))
            .collect();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (suspect[i], i >= k));
        let mut order = order.into_iter();
        let mut frames: Vec<Option<Bytes>> = vec![None; n];
        let mut attempted = vec![false; n];
        // (index, frame, whether the answer says anything about the shard:
        // a peer too slow or unreachable says nothing, and its shard must
        // not be "repaired" away while it is merely hung)
        let read = |i: usize| async move {
            let r = self
                .cluster
                .read_shard(&rec.disks[i], id, index_u16(i))
                .await;
            let definite = match &r {
                Ok(_) => true,
                Err(e) => {
                    if !e.is_not_found() {
                        tracing::debug!(block = %id, index = i, disk = %rec.disks[i], error = %e, "shard read failed");
                    }
                    !matches!(
                        e,
                        liuma_cluster::Error::TooSlow { .. }
                            | liuma_cluster::Error::Unreachable { .. }
                    )
                }
            };
            (i, r.ok(), definite)
        };
        let mut pending = FuturesUnordered::new();
        for i in order.by_ref().take(k) {
            pending.push(read(i));
        }
        let hedge = tokio::time::sleep(self.cluster.hedge_delay());
        tokio::pin!(hedge);
        let mut hedged = false;
        let mut good = 0;
        while good < k {
            tokio::select! {
                done = pending.next() => {
                    let Some((i, f, definite)) = done else { break };
                    attempted[i] = definite;
                    if f.is_some() {
                        good += 1;
                    } else if let Some(j) = order.next() {
                        pending.push(read(j));
                    }
                    frames[i] = f;
                }
                () = &mut hedge, if !hedged => {
                    hedged = true;
                    // one more shard for each read still outstanding
                    for j in order.by_ref().take(pending.len()) {
                        pending.push(read(j));
                    }
                }
            }
        }
        if hedged {
            Stats::add(&self.stats.hedged_reads, 1);
        }
        (frames, attempted)
    }

    /// Rebuild the shards `bad` from the good `frames` and write them back
    /// to their own disk, or to another one if that disk is not up.
    pub async fn repair(
        &self,
        id: &BlockId,
        frames: &[Option<Bytes>],
        bad: &[u16],
    ) -> Result<usize> {
        let Some((rec, rev)) = self.record(id).await? else {
            return Ok(0);
        };
        // The block may have been re-encoded since `frames` were read: shards
        // rebuilt from the old code must not land in the new record.
        let same_code = frames.iter().flatten().find_map(|f| {
            let h = liuma_codec::parse_shard(f.clone()).ok()?.header;
            Some((h.data_shards, h.parity_shards) == (rec.k, rec.m))
        });
        if same_code != Some(true) || frames.len() != rec.disks.len() {
            return Ok(0);
        }
        let view = self.cluster.view();
        let now = now_ms();
        let moves: Vec<(u16, Option<String>)> = bad
            .iter()
            .map(|&i| {
                let home = &rec.disks[usize::from(i)];
                let keep = matches!(
                    view.disk_health(home, now),
                    DiskHealth::Up | DiskHealth::Draining
                );
                (i, keep.then(|| home.clone()))
            })
            .collect();
        Ok(self.rebuild_into(id, rec, rev, frames, &moves).await?.len())
    }

    /// Rebuild shard `index` for each `(index, target)` from `frames` (any
    /// k good ones) and write it to `target`, or to a new disk chosen by
    /// placement when `None`; then record the new locations (CAS on `rev`).
    /// Returns the disk each rebuilt shard went to (index, disk).
    pub(crate) async fn rebuild_into(
        &self,
        id: &BlockId,
        rec: BlockRecord,
        rev: u64,
        frames: &[Option<Bytes>],
        moves: &[(u16, Option<String>)],
    ) -> Result<Vec<(String, u16)>> {
        if moves.is_empty() {
            return Ok(Vec::new());
        }
        let frames = frames.to_vec();
        let wanted: Vec<u16> = moves.iter().map(|(i, _)| *i).collect();
        let rebuilt =
            tokio::task::spawn_blocking(move || liuma_codec::rebuild_shards(&frames, &wanted))
                .await?
                .map_err(Error::internal)?;
        self.relocate(id, rec, rev, &rebuilt, moves).await
    }

    /// Write `shards` (one per entry of `moves`, same order) to their
    /// targets (or a placement fallback), then record the new locations with
    /// a CAS on `rev`. Returns where each shard went (disk, index).
    pub(crate) async fn relocate(
        &self,
        id: &BlockId,
        mut rec: BlockRecord,
        rev: u64,
        shards: &[Shard],
        moves: &[(u16, Option<String>)],
    ) -> Result<Vec<(String, u16)>> {
        let cands = self.cluster.view().candidates();
        let ranked = rank(id, &cands);
        let mut written: Vec<(String, u16)> = Vec::new();
        let mut moved = false;
        for (shard, (index, target)) in shards.iter().zip(moves) {
            let i = usize::from(*index);
            let home_ok = match target {
                Some(disk) => match self.cluster.write_shard(disk, shard).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(block = %id, shard = index, %disk, error = %e,
                            "target refused the shard; trying another disk");
                        false
                    }
                },
                None => false,
            };
            let failed = target
                .as_ref()
                .and_then(|d| cands.iter().position(|c| &c.disk == d));
            let disk = if home_ok {
                target.clone().expect("home target")
            } else {
                let taken: Vec<usize> = rec
                    .disks
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .filter_map(|(_, d)| cands.iter().position(|c| &c.disk == d))
                    .collect();
                let t = self
                    .write_fallback(
                        &cands,
                        &ranked,
                        &taken,
                        failed,
                        shard,
                        self.per_node_cap(rec.m),
                    )
                    .await
                    .ok_or(Error::StorageFull(Box::new(liuma_cluster::Error::NoDisks)))?;
                cands[t].disk.clone()
            };
            moved |= disk != rec.disks[i];
            written.push((disk.clone(), *index));
            rec.disks[i] = disk;
        }
        if moved {
            let key = keys::block(id);
            let txn = Txn::new()
                .when(Compare::ModRevision(key.clone(), rev))
                .and_then(Op::put(key, encode(&rec)));
            if !self.meta.txn(txn).await?.succeeded {
                // The record changed under us (GC, a concurrent repair that
                // may have put the same shard on the same disk): remove what
                // we wrote unless the record now points at it.
                let now = self.record(id).await?.map(|(r, _)| r.disks);
                let ours: Vec<(String, u16)> = written
                    .into_iter()
                    .filter(|(d, i)| {
                        now.as_ref()
                            .and_then(|disks| disks.get(usize::from(*i)))
                            .is_none_or(|recorded| recorded != d)
                    })
                    .collect();
                self.remove(id, &ours).await;
                return Err(Error::Conflict {
                    what: format!("block {id} changed during repair"),
                });
            }
        }
        Stats::add(&self.stats.shards_repaired, written.len() as u64);
        tracing::info!(block = %id, repaired = written.len(), moved, "shards rebuilt");
        Ok(written)
    }

    /// Delete every shard of a block (GC, after the record is `Deleting`).
    pub async fn delete_shards(&self, id: &BlockId, rec: &BlockRecord) {
        let all: Vec<(String, u16)> = rec
            .disks
            .iter()
            .enumerate()
            .map(|(i, d)| (d.clone(), index_u16(i)))
            .collect();
        self.remove(id, &all).await;
    }
}

pub(crate) fn index_u16(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}

/// Verify and decode on the blocking pool: hashing 4 MiB takes about a
/// millisecond, too long for a runtime worker, and read-ahead blocks then
/// decode on both cores at once.
async fn decode_off_thread(
    id: &BlockId,
    frames: &[Option<Bytes>],
    opaque: bool,
) -> Result<liuma_codec::Result<(Bytes, Vec<u16>)>> {
    let (id, frames) = (*id, frames.to_vec());
    Ok(
        tokio::task::spawn_blocking(move || {
            liuma_codec::decode_block_fast_as(&id, &frames, opaque)
        })
        .await?,
    )
}
