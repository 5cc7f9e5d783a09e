//! The healer: keeps every block this node maintains at k+m shards on the
//! disks that should hold them.
//!
//! For each block, placement over the disks that take new shards gives the
//! wanted set (the same rendezvous ranking a new write would use). Shards
//! already on a wanted disk stay. The others move:
//! - on a node down longer than the heal grace (or a disk no node has):
//!   rebuilt from any k others onto a wanted disk (*heal*);
//! - on a draining node: copied off (*drain*);
//! - on a live disk that placement no longer picks, when a wanted disk holds
//!   nothing of the block (a node joined): copied over (*rebalance*).
//!
//! Before any of that, a block with less parity than its target (the code
//! the cluster or its bucket wants now) is re-encoded to the target (see
//! [`crate::reencode`]); its new shards are placed as a new write's.
//!
//! A shard on a node down for less than the grace is left alone: restarts
//! and short outages cost nothing. A copy is verified (frame checksum,
//! block id, index) before it travels; if any shard to move is lost or bad,
//! the block's moving shards are rebuilt from any k instead. New locations
//! are recorded with a CAS on the block record; old copies are deleted only
//! after that.

use std::collections::BTreeMap;

use liuma_cluster::DiskHealth;
use liuma_cluster::placement::{rank, spread_capped};
use liuma_codec::BlockId;
use serde::Serialize;

use crate::blocks::index_u16;
use crate::engine::Engine;
use crate::gc::parse_block;
use crate::keys;
use crate::metrics::Stats;
use crate::model::{BlockRecord, BlockState, now_ms};
use crate::reencode::{below, chain};
use crate::scan::{Pager, Throttle};
use crate::{Error, Result};

/// Options of a heal pass.
#[derive(Clone, Copy, Debug)]
pub struct HealOptions {
    /// Move shards to disks placement now prefers (after joins).
    pub rebalance: bool,
    /// Shard bytes read per second (0 = unlimited).
    pub bytes_per_sec: u64,
    /// Walk every block even when nothing changed since the last pass that
    /// left nothing to do (an operator's `POST /admin/heal`); else such a
    /// pass looks only at the blocks marked since (`heal_queue`).
    pub walk_all: bool,
}

impl Default for HealOptions {
    fn default() -> Self {
        HealOptions {
            rebalance: true,
            bytes_per_sec: 128 << 20,
            walk_all: false,
        }
    }
}

/// What one heal pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HealReport {
    /// Blocks this node maintains that were looked at.
    pub blocks_checked: u64,
    /// Shards rebuilt because their node was lost.
    pub rebuilt: u64,
    /// Shards moved off draining nodes.
    pub drained: u64,
    /// Shards moved to disks placement now prefers.
    pub rebalanced: u64,
    /// Shards on nodes down for less than the grace (left alone for now).
    pub waiting: u64,
    /// Shards placement now wants elsewhere, left where they are until the
    /// membership has been stable for the grace (or rebalancing is off).
    pub moves_waiting: u64,
    /// Blocks re-encoded to their target code (more parity).
    pub reencoded: u64,
    /// Blocks still below their target code after this pass (too few
    /// nodes up for the target, or a failure: retried next pass).
    pub below_target: u64,
    /// Blocks whose shards could not be moved or re-encoded this pass
    /// (retried next pass; the log says which shard, disk and error).
    pub failed: u64,
    /// Nothing had changed since the last pass that left nothing to do, so
    /// only the blocks marked since were looked at (see `heal_queue`).
    pub quiet: bool,
}

/// Where a block's shards are and how they are doing (admin status, tests).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BlockCensus {
    /// Live blocks.
    pub blocks: u64,
    /// Blocks with every shard on a live disk (and, when verified, good).
    pub healthy: u64,
    /// Blocks missing a shard (down node, draining node, missing or rotten
    /// file) but still readable.
    pub degraded: u64,
    /// Blocks with fewer than k good shards (verified passes only).
    pub lost: u64,
    /// Blocks with every shard in place but less parity than the code the
    /// cluster (or their bucket) wants now: the healer re-encodes them.
    /// Not counted in `healthy`; a block both degraded and below target is
    /// counted as degraded (or lost).
    pub below_target: u64,
    /// Per bucket, the blocks it refers to that are not healthy (found
    /// through each block's references; blocks of unfinished multipart
    /// uploads count under `""`). Healthy blocks are not looked up.
    pub buckets: BTreeMap<String, BucketCensus>,
    /// Blocks per code, "k+m" (small blocks stored as m+1 replicas show as
    /// "1+m").
    pub codes: BTreeMap<String, u64>,
    /// Shards recorded per node id ("?" for disks no node has).
    pub shards_per_node: BTreeMap<String, u64>,
}

/// The unhealthy blocks of one bucket (see [`BlockCensus::buckets`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BucketCensus {
    /// Blocks below their target code.
    pub below_target: u64,
    /// Blocks missing a shard but readable.
    pub degraded: u64,
    /// Blocks with fewer than k good shards.
    pub lost: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    Lost,
    Drain,
    Rebalance,
}

/// One kind of pass (heal or scrub) on this node: running or not, and how
/// the last one ended (admin status, `liuma node status`).
#[derive(Clone, Debug, Serialize)]
pub struct PassInfo<R> {
    /// When the pass running now started (ms since the epoch).
    pub running_since_ms: Option<u64>,
    /// When the last pass ended.
    pub last_done_ms: Option<u64>,
    /// What the last complete pass did.
    pub last: Option<R>,
    /// Why the last pass stopped short, if it did.
    pub last_error: Option<String>,
}

impl<R> Default for PassInfo<R> {
    fn default() -> Self {
        PassInfo {
            running_since_ms: None,
            last_done_ms: None,
            last: None,
            last_error: None,
        }
    }
}

/// The heal and scrub passes of this node.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PassStatus {
    /// Heal passes.
    pub heal: PassInfo<HealReport>,
    /// Scrub passes.
    pub scrub: PassInfo<crate::ScrubReport>,
}

impl<R: Clone> PassInfo<R> {
    pub(crate) fn start(&mut self) {
        self.running_since_ms = Some(now_ms());
    }

    pub(crate) fn finish(&mut self, r: &Result<R>) {
        self.running_since_ms = None;
        self.last_done_ms = Some(now_ms());
        match r {
            Ok(rep) => {
                self.last = Some(rep.clone());
                self.last_error = None;
            }
            Err(e) => self.last_error = Some(chain(e)),
        }
    }
}

impl Engine {
    /// The heal and scrub passes of this node: running, last results.
    pub fn pass_status(&self) -> PassStatus {
        self.inner
            .passes
            .lock()
            .map_or_else(|p| p.into_inner().clone(), |p| p.clone())
    }

    pub(crate) fn note_pass(&self, f: impl FnOnce(&mut PassStatus)) {
        let mut p = self
            .inner
            .passes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut p);
    }

    /// One heal pass over the blocks this node maintains.
    pub async fn heal_pass(&self, opts: HealOptions) -> Result<HealReport> {
        self.note_pass(|p| p.heal.start());
        let r = self.heal_pass_inner(opts).await;
        self.note_pass(|p| p.heal.finish(&r));
        r
    }

    async fn heal_pass_inner(&self, opts: HealOptions) -> Result<HealReport> {
        let mut report = HealReport::default();
        let mut throttle = Throttle::new(opts.bytes_per_sec);
        let targets = self.targets().await?;
        let conditions = crate::heal_queue::conditions(&self.cluster().view(), &targets);
        // Nothing changed since a pass that left nothing to do: only the
        // blocks marked since (see `heal_queue`).
        let quiet = !opts.walk_all && self.heal_quiet_since() == Some(conditions);
        if !quiet {
            let mut pager = Pager::prefix(keys::BLOCK.as_bytes(), 128);
            while let Some(page) = pager.next(&self.inner.meta).await? {
                for kv in page {
                    let (id, rec) = parse_block(&kv)?;
                    let work = (&targets, opts, &mut throttle);
                    self.heal_one(&id, rec, kv.mod_revision, work, &mut report)
                        .await?;
                }
            }
        }
        self.heal_marked(&targets, opts, &mut throttle, &mut report)
            .await?;
        let clean = report.waiting == 0
            && report.moves_waiting == 0
            && report.failed == 0
            && report.below_target == 0;
        self.set_heal_quiet(clean.then_some(conditions));
        report.quiet = quiet;
        Stats::set(&self.inner.stats.blocks_below_target, report.below_target);
        Stats::add(&self.inner.stats.heal_passes, 1);
        Ok(report)
    }

    /// Heal one block if this node maintains it: re-encode it to its
    /// target, or move the shards that are not where they should be.
    pub(crate) async fn heal_one(
        &self,
        id: &BlockId,
        rec: BlockRecord,
        rev: u64,
        (targets, opts, throttle): (&crate::reencode::Targets, HealOptions, &mut Throttle),
        report: &mut HealReport,
    ) -> Result<()> {
        if rec.state != BlockState::Live || !self.cluster().view().maintains(id) {
            return Ok(());
        }
        let grace = u64::try_from(self.inner.cfg.heal_grace.as_millis()).unwrap_or(u64::MAX);
        report.blocks_checked += 1;
        let target = self.block_target(id, targets).await?;
        if below(&rec, target, self.inner.cfg.replicate_below)
            && self.heal_reencode(id, &rec, rev, target, report).await
        {
            throttle.read_block(&rec).await;
            return Ok(());
        }
        let plan = self.heal_plan(id, &rec, grace, opts.rebalance, report);
        if plan.is_empty() {
            return Ok(());
        }
        match self.heal_block(id, rec.clone(), rev, &plan).await {
            Ok(done) => {
                let stats = &self.inner.stats;
                for why in &done {
                    match why {
                        Why::Lost => report.rebuilt += 1,
                        Why::Drain => report.drained += 1,
                        Why::Rebalance => report.rebalanced += 1,
                    }
                    // Counted as they happen: a long pass shows progress.
                    let counter = match why {
                        Why::Lost => &stats.heal_rebuilt,
                        Why::Drain | Why::Rebalance => &stats.heal_moved,
                    };
                    Stats::add(counter, 1);
                }
            }
            Err(e) => {
                report.failed += 1;
                let shards: Vec<String> = plan
                    .iter()
                    .map(|(i, t, why)| {
                        let from = &rec.disks[usize::from(*i)];
                        let to = t.as_deref().unwrap_or("any");
                        format!("{i}:{from}->{to} ({why:?})")
                    })
                    .collect();
                tracing::warn!(block = %id, shards = %shards.join(" "), error = %chain(&e),
                    "heal of block failed; retrying next pass");
            }
        }
        throttle.read_block(&rec).await;
        Ok(())
    }

    /// Re-encode one block below its target, unless the nodes up now cannot
    /// hold the target code (then it waits, with no log line every pass, and
    /// is healed at its own code meanwhile). True when it was attempted.
    async fn heal_reencode(
        &self,
        id: &BlockId,
        rec: &BlockRecord,
        rev: u64,
        target: (u16, u16),
        report: &mut HealReport,
    ) -> bool {
        if self.inner.blocks.check_floor(target.0, target.1).is_err() {
            report.below_target += 1;
            return false;
        }
        let mut attempt = self.reencode(id, rec, rev, target).await;
        if attempt.is_err() {
            // Another node may have changed the block meanwhile (maintainers
            // change while a cluster grows; a rebalance may have moved the
            // shards this record names): judge by the record as it is now,
            // and re-encode once more from it if it still needs it.
            match self.fresh_record(id, rev).await {
                Some((now, _)) if !below(&now, target, self.inner.cfg.replicate_below) => {
                    tracing::debug!(block = %id, "re-encoded by another pass first");
                    return true;
                }
                Some((now, now_rev)) => attempt = self.reencode(id, &now, now_rev, target).await,
                None => {}
            }
        }
        match attempt {
            Ok(_) => {
                report.reencoded += 1;
                Stats::add(&self.inner.stats.heal_reencoded, 1);
            }
            Err(e) => {
                report.below_target += 1;
                report.failed += 1;
                tracing::warn!(block = %id, from = %format!("{}+{}", rec.k, rec.m),
                    to = %format!("{}+{}", target.0, target.1), disks = %rec.disks.join(","),
                    error = %chain(&e), "re-encoding block failed; retrying next pass");
            }
        }
        true
    }

    /// The block's live record if it changed since revision `rev`.
    async fn fresh_record(&self, id: &BlockId, rev: u64) -> Option<(BlockRecord, u64)> {
        let kv = self.inner.meta.get(&keys::block(id)).await.ok()??;
        if kv.mod_revision == rev {
            return None;
        }
        let (_, rec) = parse_block(&kv).ok()?;
        (rec.state == BlockState::Live).then_some((rec, kv.mod_revision))
    }

    /// Which shards of a block move, and where: (index, target disk, why).
    fn heal_plan(
        &self,
        id: &BlockId,
        rec: &BlockRecord,
        grace_ms: u64,
        rebalance: bool,
        report: &mut HealReport,
    ) -> Vec<(u16, Option<String>, Why)> {
        let view = self.cluster().view();
        let now = now_ms();
        let cands = view.candidates();
        let cap = self.inner.blocks.per_node_cap(rec.m);
        let wanted: Vec<String> =
            spread_capped(&cands, &rank(id, &cands), rec.disks.len(), &[], cap)
                .into_iter()
                .map(|i| cands[i].disk.clone())
                .collect();
        let mut free: Vec<Option<&str>> = wanted.iter().map(|d| Some(d.as_str())).collect();
        let mut movers = Vec::new();
        for (i, disk) in rec.disks.iter().enumerate() {
            let why = match view.disk_health(disk, now) {
                DiskHealth::Up => {
                    if let Some(slot) = free.iter().position(|d| *d == Some(disk.as_str())) {
                        free[slot] = None;
                        continue;
                    }
                    Why::Rebalance
                }
                DiskHealth::Draining => Why::Drain,
                DiskHealth::Down { for_ms } if for_ms < grace_ms => {
                    report.waiting += 1;
                    continue;
                }
                DiskHealth::Down { .. } | DiskHealth::Unknown => Why::Lost,
            };
            movers.push((index_u16(i), why));
        }
        // Lost shards first, then drains, then rebalancing, onto wanted disks
        // nothing of this block is on yet.
        movers.sort_by_key(|(_, why)| *why as u8);
        let mut targets = free.into_iter().flatten();
        let mut plan = Vec::new();
        for (i, why) in movers {
            match (targets.next(), why) {
                (Some(t), _) => plan.push((i, Some(t.to_owned()), why)),
                (None, Why::Lost | Why::Drain) => plan.push((i, None, why)),
                (None, Why::Rebalance) => {}
            }
        }
        // Rebalancing waits until membership has been stable for the grace:
        // a node back from a freeze or a restart sets off no wave of moves.
        if !rebalance || !self.cluster().settled(grace_ms) {
            let before = plan.len();
            plan.retain(|(_, _, why)| *why != Why::Rebalance);
            report.moves_waiting += (before - plan.len()) as u64;
        }
        plan
    }

    async fn heal_block(
        &self,
        id: &BlockId,
        rec: BlockRecord,
        rev: u64,
        plan: &[(u16, Option<String>, Why)],
    ) -> Result<Vec<Why>> {
        let blocks = &self.inner.blocks;
        let moves: Vec<(u16, Option<String>)> =
            plan.iter().map(|(i, t, _)| (*i, t.clone())).collect();
        let old = rec.disks.clone();
        // Moving shards that are all still readable (drain, rebalance):
        // copy each one, verified, instead of reading k and re-encoding.
        let placed = match self.read_verified(id, &rec, plan).await {
            Some(shards) => blocks.relocate(id, rec, rev, &shards, &moves).await?,
            None => self.rebuild_for(id, rec, rev, &moves).await?,
        };
        // Old copies go once the record points elsewhere (a fallback may
        // have landed a shard back on its old disk: that one stays).
        let leftovers: Vec<(String, u16)> = plan
            .iter()
            .filter(|(_, _, why)| *why != Why::Lost)
            .map(|(i, _, _)| (old[usize::from(*i)].clone(), *i))
            .filter(|old| !placed.contains(old))
            .collect();
        blocks.remove(id, &leftovers).await;
        // What actually changed disk (a refused target can send a shard back
        // where it was: not a move, and not worth counting).
        Ok(plan
            .iter()
            .filter(|(i, _, _)| !placed.contains(&(old[usize::from(*i)].clone(), *i)))
            .map(|(_, _, why)| *why)
            .collect())
    }

    /// The planned shards themselves, read from where they are and verified
    /// (frame checksum, block id, index); None if any is lost or bad.
    async fn read_verified(
        &self,
        id: &BlockId,
        rec: &BlockRecord,
        plan: &[(u16, Option<String>, Why)],
    ) -> Option<Vec<liuma_codec::Shard>> {
        if plan.iter().any(|(_, _, why)| *why == Why::Lost) {
            return None;
        }
        let which: Vec<usize> = plan.iter().map(|(i, _, _)| usize::from(*i)).collect();
        let frames = self.inner.blocks.read_frames(id, rec, &which).await;
        frames
            .into_iter()
            .map(|(i, f)| {
                let s = liuma_codec::parse_shard(f?).ok()?;
                (s.header.block_id == *id && usize::from(s.header.index) == i).then_some(s)
            })
            .collect()
    }

    /// Rebuild the planned shards from any k readable ones.
    async fn rebuild_for(
        &self,
        id: &BlockId,
        rec: BlockRecord,
        rev: u64,
        moves: &[(u16, Option<String>)],
    ) -> Result<Vec<(String, u16)>> {
        let readable = self.inner.blocks.live_shards(&rec);
        let frames = self.read_shards_logged(id, &rec, &readable, "heal").await;
        self.inner
            .blocks
            .rebuild_into(id, rec, rev, &frames, moves)
            .await
    }

    /// Count where every live block's shards are; with `verify`, read and
    /// check every shard too (expensive: the whole data set is read).
    pub async fn block_census(&self, verify: bool) -> Result<BlockCensus> {
        let mut c = BlockCensus::default();
        let targets = self.targets().await?;
        let mut pager = Pager::prefix(keys::BLOCK.as_bytes(), 256);
        while let Some(page) = pager.next(&self.inner.meta).await? {
            for kv in page {
                let (id, rec) = parse_block(&kv)?;
                if rec.state != BlockState::Live {
                    continue;
                }
                c.blocks += 1;
                *c.codes.entry(format!("{}+{}", rec.k, rec.m)).or_default() += 1;
                let view = self.cluster().view();
                let now = now_ms();
                let mut up = 0;
                for d in &rec.disks {
                    let node = view.node_of(d).map_or("?", |n| n.info.id.as_str());
                    *c.shards_per_node.entry(node.to_owned()).or_default() += 1;
                    if view.disk_health(d, now) == DiskHealth::Up {
                        up += 1;
                    }
                }
                let mut good = up;
                if verify {
                    let all: Vec<usize> = (0..rec.disks.len()).collect();
                    let frames = self.inner.blocks.frames_at(&id, &rec, &all).await;
                    let opaque = rec.opaque;
                    good = match tokio::task::spawn_blocking(move || {
                        liuma_codec::decode_block_expect_as(&id, &frames, opaque)
                            .map(|(_, bad)| frames.len() - bad.len())
                    })
                    .await
                    {
                        Ok(Ok(g)) => g.min(up),
                        Ok(Err(_)) => 0,
                        Err(e) => return Err(Error::internal(e)),
                    };
                }
                let short = below(
                    &rec,
                    self.block_target(&id, &targets).await?,
                    self.inner.cfg.replicate_below,
                );
                // Worst first: a block both degraded and below target is degraded.
                let count: Option<fn(&mut BucketCensus)> = if good < usize::from(rec.k) {
                    c.lost += 1;
                    Some(|b| b.lost += 1)
                } else if good < rec.disks.len() {
                    c.degraded += 1;
                    Some(|b| b.degraded += 1)
                } else if short {
                    c.below_target += 1;
                    Some(|b| b.below_target += 1)
                } else {
                    c.healthy += 1;
                    None
                };
                if let Some(count) = count {
                    let mut buckets = self.block_buckets(&id).await?;
                    buckets.sort();
                    buckets.dedup();
                    for b in buckets {
                        count(c.buckets.entry(b.unwrap_or_default()).or_default());
                    }
                }
            }
        }
        Ok(c)
    }
}
