//! The scrubber: walks every block record this node maintains (each block
//! has one maintainer among the live nodes), reads and verifies all of its
//! shards wherever they are, and repairs missing or rotten ones. Rate
//! limited (bytes per second) so it does not starve client traffic.

use crate::engine::Engine;
use crate::gc::parse_block;
use crate::keys;
use crate::metrics::Stats;
use crate::model::BlockState;
use crate::scan::{Pager, Throttle};
use crate::{Error, Result};

/// What one scrub pass found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScrubReport {
    /// Blocks verified.
    pub blocks_checked: u64,
    /// Missing or rotten shards found.
    pub bad_shards: u64,
    /// Shards rewritten.
    pub repaired: u64,
    /// Blocks that could not be decoded at all (more than m shards lost).
    pub unrecoverable: u64,
}

impl Engine {
    /// One full scrub pass. `bytes_per_sec` limits the shard bytes read (0 = unlimited).
    pub async fn scrub_pass(&self, bytes_per_sec: u64) -> Result<ScrubReport> {
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
                match self.inner.blocks.scrub(&id, &rec).await {
                    Ok((bad, repaired)) => {
                        report.bad_shards += bad as u64;
                        report.repaired += repaired as u64;
                        Stats::add(&self.inner.stats.scrub_errors, bad as u64);
                    }
                    Err(Error::BlockUnavailable { .. }) => {
                        report.unrecoverable += 1;
                        tracing::error!(block = %id, "block lost: fewer than k good shards");
                    }
                    Err(e) => return Err(e),
                }
                throttle.read_block(&rec).await;
            }
        }
        Stats::add(&self.inner.stats.scrub_passes, 1);
        Ok(report)
    }
}
