//! Quiet heal passes: skip the walk over every block when nothing that
//! decides where shards belong has changed.
//!
//! Where a block's shards should be, and with which code, follows from the
//! cluster's nodes and disks (live, draining, capacity), the cluster's code
//! and the buckets' overrides: the pass's *conditions*. A full pass that
//! leaves nothing to do (no shard waiting for the grace, no failure, no
//! block below target) records them; while they stay the same, later passes
//! skip the walk. What can still need healing then is marked as it
//! happens, in `hq/<block>`:
//! - a block written while a peer was suspect or a shard fell back to
//!   another disk (its shards are not where placement wants them);
//! - (nothing else: reads and the scrubber repair in place, and a disk
//!   lost or a node gone changes the conditions.)
//!
//! Every pass, quiet or not, takes the marked blocks this node maintains
//! and drops their marks once they are where they should be.

use liuma_cluster::View;
use liuma_meta::Op;

use crate::engine::Engine;
use crate::heal::{HealOptions, HealReport};
use crate::keys;
use crate::reencode::Targets;
use crate::scan::{Pager, Throttle};
use crate::{Result, gc::parse_block};

/// A digest of what decides every block's wanted placement and code.
pub(crate) fn conditions(view: &View, targets: &Targets) -> u64 {
    let mut h = blake3::Hasher::new();
    for n in view.nodes.values() {
        h.update(n.info.id.as_bytes());
        h.update(&[u8::from(n.live), u8::from(n.draining)]);
        h.update(n.info.zone.as_bytes());
        for d in &n.info.disks {
            h.update(d.id.as_bytes());
            h.update(&d.total_bytes.to_le_bytes());
        }
    }
    h.update(&targets.cluster.0.to_le_bytes());
    h.update(&targets.cluster.1.to_le_bytes());
    let mut buckets: Vec<_> = targets.buckets.iter().collect();
    buckets.sort();
    for (name, (k, m)) in buckets {
        h.update(name.as_bytes());
        h.update(&k.to_le_bytes());
        h.update(&m.to_le_bytes());
    }
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
    u64::from_le_bytes(out)
}

/// The op that marks a block for the next heal pass.
pub(crate) fn mark(id: &liuma_codec::BlockId) -> Op {
    Op::put(keys::heal_mark(id), Vec::new())
}

impl Engine {
    /// The conditions of the last pass that left nothing to do, if no pass
    /// since has left something.
    pub(crate) fn heal_quiet_since(&self) -> Option<u64> {
        *self
            .inner
            .heal_quiet
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn set_heal_quiet(&self, conditions: Option<u64>) {
        *self
            .inner
            .heal_quiet
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = conditions;
    }

    /// Heal the marked blocks this node maintains; drop the marks of those
    /// that are where they should be now (or gone).
    pub(crate) async fn heal_marked(
        &self,
        targets: &Targets,
        opts: HealOptions,
        throttle: &mut Throttle,
        report: &mut HealReport,
    ) -> Result<()> {
        let mut pager = Pager::prefix(keys::HEAL_QUEUE.as_bytes(), 128);
        while let Some(page) = pager.next(&self.inner.meta).await? {
            for mark in page {
                let Some(id) = keys::parse_heal_mark(&mark.key) else {
                    self.delete_keys(vec![mark.key]).await?;
                    continue;
                };
                if !self.cluster().view().maintains(&id) {
                    continue;
                }
                let Some(kv) = self.inner.meta.get(&keys::block(&id)).await? else {
                    self.delete_keys(vec![mark.key]).await?;
                    continue;
                };
                let (_, rec) = parse_block(&kv)?;
                let left = |r: &HealReport| (r.waiting, r.moves_waiting, r.failed, r.below_target);
                let before = left(report);
                self.heal_one(&id, rec, kv.mod_revision, (targets, opts, throttle), report)
                    .await?;
                if left(report) == before {
                    self.delete_keys(vec![mark.key]).await?;
                }
            }
        }
        Ok(())
    }
}
