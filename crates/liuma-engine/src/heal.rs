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
//! A shard on a node down for less than the grace is left alone: restarts
//! and short outages cost nothing. A copy is verified (frame checksum,
//! block id, index) before it travels; if any shard to move is lost or bad,
//! the block's moving shards are rebuilt from any k instead. New locations
//! are recorded with a CAS on the block record; old copies are deleted only
//! after that.

use std::collections::BTreeMap;

use liuma_cluster::DiskHealth;
use liuma_cluster::placement::{rank, spread};
use liuma_codec::BlockId;
use serde::Serialize;

use crate::blocks::index_u16;
use crate::engine::Engine;
use crate::gc::parse_block;
use crate::keys;
use crate::metrics::Stats;
use crate::model::{BlockRecord, BlockState, now_ms};
use crate::scan::{Pager, Throttle};
use crate::{Error, Result};

/// Options of a heal pass.
#[derive(Clone, Copy, Debug)]
pub struct HealOptions {
    /// Move shards to disks placement now prefers (after joins).
    pub rebalance: bool,
    /// Shard bytes read per second (0 = unlimited).
    pub bytes_per_sec: u64,
}

impl Default for HealOptions {
    fn default() -> Self {
        HealOptions {
            rebalance: true,
            bytes_per_sec: 128 << 20,
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
    /// Blocks whose shards could not be moved this pass (retried next pass).
    pub failed: u64,
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
    /// Shards recorded per node id ("?" for disks no node has).
    pub shards_per_node: BTreeMap<String, u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    Lost,
    Drain,
    Rebalance,
}

impl Engine {
    /// One heal pass over the blocks this node maintains.
    pub async fn heal_pass(&self, opts: HealOptions) -> Result<HealReport> {
        let mut report = HealReport::default();
        let grace = u64::try_from(self.inner.cfg.heal_grace.as_millis()).unwrap_or(u64::MAX);
        let mut throttle = Throttle::new(opts.bytes_per_sec);
        let mut pager = Pager::prefix(keys::BLOCK.as_bytes(), 128);
        while let Some(page) = pager.next(&self.inner.meta).await? {
            for kv in page {
                let (id, rec) = parse_block(&kv)?;
                if rec.state != BlockState::Live || !self.cluster().view().maintains(&id) {
                    continue;
                }
                report.blocks_checked += 1;
                let plan = self.heal_plan(&id, &rec, grace, opts.rebalance, &mut report);
                if plan.is_empty() {
                    continue;
                }
                match self
                    .heal_block(&id, rec.clone(), kv.mod_revision, &plan)
                    .await
                {
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
                        tracing::warn!(block = %id, error = %e, "heal of block failed; retrying next pass");
                    }
                }
                throttle.read_block(&rec).await;
            }
        }
        Stats::add(&self.inner.stats.heal_passes, 1);
        Ok(report)
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
        let wanted: Vec<String> = spread(&cands, &rank(id, &cands), rec.disks.len())
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
        if !rebalance {
            plan.retain(|(_, _, why)| *why != Why::Rebalance);
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
        let view = self.cluster().view();
        let now = now_ms();
        let readable: Vec<usize> = (0..rec.disks.len())
            .filter(|&i| {
                matches!(
                    view.disk_health(&rec.disks[i], now),
                    DiskHealth::Up | DiskHealth::Draining
                )
            })
            .collect();
        let blocks = &self.inner.blocks;
        let frames = blocks.frames_at(id, &rec, &readable).await;
        blocks.rebuild_into(id, rec, rev, &frames, moves).await
    }

    /// Count where every live block's shards are; with `verify`, read and
    /// check every shard too (expensive: the whole data set is read).
    pub async fn block_census(&self, verify: bool) -> Result<BlockCensus> {
        let mut c = BlockCensus::default();
        let mut pager = Pager::prefix(keys::BLOCK.as_bytes(), 256);
        while let Some(page) = pager.next(&self.inner.meta).await? {
            for kv in page {
                let (id, rec) = parse_block(&kv)?;
                if rec.state != BlockState::Live {
                    continue;
                }
                c.blocks += 1;
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
                    good = match tokio::task::spawn_blocking(move || {
                        liuma_codec::decode_block_expect(&id, &frames)
                            .map(|(_, bad)| frames.len() - bad.len())
                    })
                    .await
                    {
                        Ok(Ok(g)) => g.min(up),
                        Ok(Err(_)) => 0,
                        Err(e) => return Err(Error::internal(e)),
                    };
                }
                if good == rec.disks.len() {
                    c.healthy += 1;
                } else if good >= usize::from(rec.k) {
                    c.degraded += 1;
                } else {
                    c.lost += 1;
                }
            }
        }
        Ok(c)
    }
}
