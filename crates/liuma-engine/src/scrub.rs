//! The scrubber: walks every block record this node maintains (each block
//! has one maintainer among the live nodes), reads and verifies all of its
//! shards wherever they are, and repairs missing or rotten ones. Rate
//! limited (bytes per second) so it does not starve client traffic.

use liuma_codec::BlockId;

use crate::engine::Engine;
use crate::gc::parse_block;
use crate::keys;
use crate::metrics::Stats;
use crate::model::{BlockRecord, BlockState};
use crate::reencode::chain;
use crate::scan::{Pager, Throttle};
use crate::{Error, Result};

/// What one scrub pass found.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScrubReport {
    /// Blocks verified.
    pub blocks_checked: u64,
    /// Missing or rotten shards found.
    pub bad_shards: u64,
    /// Shards rewritten.
    pub repaired: u64,
    /// Blocks that could not be decoded at all (more than m shards lost).
    pub unrecoverable: u64,
    /// Blocks whose repair failed this pass (retried next pass).
    pub failed: u64,
}

impl Engine {
    /// One full scrub pass. `bytes_per_sec` limits the shard bytes read (0 = unlimited).
    pub async fn scrub_pass(&self, bytes_per_sec: u64) -> Result<ScrubReport> {
        self.note_pass(|p| p.scrub.start());
        let r = self.scrub_pass_inner(bytes_per_sec).await;
        self.note_pass(|p| p.scrub.finish(&r));
        r
    }

    async fn scrub_pass_inner(&self, bytes_per_sec: u64) -> Result<ScrubReport> {
        let mut report = ScrubReport::default();
        let mut throttle = Throttle::new(bytes_per_sec);
        let mut pager = Pager::prefix(keys::BLOCK.as_bytes(), 128);
        while let Some(page) = pager.next(&self.inner.meta).await? {
            for kv in page {
                let (id, rec) = parse_block(&kv)?;
                // In a cluster each block has one maintainer among the live nodes.
                if !self.cluster().view().maintains(&id) {
                    continue;
                }
                if rec.state != BlockState::Live {
                    continue;
                }
                report.blocks_checked += 1;
                Stats::add(&self.inner.stats.scrub_blocks_checked, 1);
                match self.scrub_block(&id, &rec).await {
                    Ok((bad, repaired)) => {
                        report.bad_shards += bad as u64;
                        report.repaired += repaired as u64;
                        Stats::add(&self.inner.stats.scrub_errors, bad as u64);
                    }
                    Err(Error::BlockUnavailable { have, need, .. }) => {
                        report.unrecoverable += 1;
                        tracing::error!(block = %id, have, need, disks = %rec.disks.join(","),
                            "block lost: fewer than k good shards (shard errors logged above)");
                    }
                    Err(e) => {
                        // One block's repair failing (a full disk, a lost
                        // CAS) must not end the pass for every other block.
                        report.failed += 1;
                        tracing::warn!(block = %id, disks = %rec.disks.join(","), error = %chain(&e),
                            "scrub: repairing block failed; retrying next pass");
                    }
                }
                throttle.read_block(&rec).await;
            }
        }
        Stats::add(&self.inner.stats.scrub_passes, 1);
        Ok(report)
    }

    /// Read every shard of a block, verify it and repair the bad ones,
    /// logging each bad shard with its disk and what is wrong with it.
    /// Returns (bad shards found, shards repaired).
    async fn scrub_block(&self, id: &BlockId, rec: &BlockRecord) -> Result<(usize, usize)> {
        let all: Vec<usize> = (0..rec.disks.len()).collect();
        let frames = self.read_shards_logged(id, rec, &all, "scrub").await;
        let (bid, copy, opaque) = (*id, frames.clone(), rec.opaque);
        let decoded = tokio::task::spawn_blocking(move || {
            liuma_codec::decode_block_expect_as(&bid, &copy, opaque)
        })
        .await?;
        let (_, bad) = decoded.map_err(|_| Error::BlockUnavailable {
            block: *id,
            have: frames.iter().filter(|f| f.is_some()).count(),
            need: usize::from(rec.k),
        })?;
        for &i in &bad {
            let slot = usize::from(i);
            if let Some(frame) = &frames[slot] {
                let why = match liuma_codec::parse_shard(frame.clone()) {
                    Ok(_) => "wrong block or index".to_owned(),
                    Err(e) => chain(&e),
                };
                tracing::warn!(job = "scrub", block = %id, shard = slot, disk = %rec.disks[slot],
                    error = %why, "shard rotten");
            }
        }
        if bad.is_empty() {
            return Ok((0, 0));
        }
        let repaired = self.inner.blocks.repair(id, &frames, &bad).await?;
        Ok((bad.len(), repaired))
    }
}
