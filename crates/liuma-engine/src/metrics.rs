//! Engine counters. Plain atomics: the HTTP layer renders them for
//! Prometheus, so the engine does not depend on a metrics library.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Monotonic counters (and a few gauges) of the engine's work.
#[derive(Debug, Default)]
pub struct Stats {
    /// Object bytes received by put/upload-part.
    pub bytes_in: AtomicU64,
    /// Object bytes sent by get.
    pub bytes_out: AtomicU64,
    /// Blocks newly written to disks.
    pub blocks_written: AtomicU64,
    /// Blocks found already stored (deduplicated).
    pub blocks_deduplicated: AtomicU64,
    /// Bytes saved by compression (plain − stored) over written blocks.
    pub compression_saved_bytes: AtomicU64,
    /// Shards rewritten after a read or scrub found them missing or rotten.
    pub shards_repaired: AtomicU64,
    /// Blocks read that needed reconstruction from parity.
    pub degraded_reads: AtomicU64,
    /// Block reads that asked parity shards because data shards were slow.
    pub hedged_reads: AtomicU64,
    /// Downloads ended early because a block failed after the status line.
    pub streams_cut: AtomicU64,
    /// Blocks the scrubber verified.
    pub scrub_blocks_checked: AtomicU64,
    /// Bad shards the scrubber found.
    pub scrub_errors: AtomicU64,
    /// Completed scrub passes.
    pub scrub_passes: AtomicU64,
    /// Blocks deleted by GC.
    pub gc_blocks_deleted: AtomicU64,
    /// Stale references removed by GC.
    pub gc_refs_deleted: AtomicU64,
    /// Times a write, re-encode or delete may have left shard files no
    /// record places, or blocks no reference or GC queue entry accounts for
    /// (a failed upload whose references could not be written): the next GC
    /// pass is a full one.
    pub shard_leftovers: AtomicU64,
    /// Gauge: when the last of those happened (ms since the epoch). Full
    /// passes follow until one starts a grace period after it, since the
    /// sweep leaves files younger than the grace alone.
    pub shard_leftover_ms: AtomicU64,
    /// Shards rebuilt by the healer because their node was lost.
    pub heal_rebuilt: AtomicU64,
    /// Shards moved by the healer (drain, rebalance).
    pub heal_moved: AtomicU64,
    /// Completed heal passes.
    pub heal_passes: AtomicU64,
    /// Blocks re-encoded by the healer to their target code.
    pub heal_reencoded: AtomicU64,
    /// Gauge: blocks this node maintains that its last heal pass left below
    /// their target code.
    pub blocks_below_target: AtomicU64,
    /// Current versions expired by lifecycle rules (deleted, or made
    /// noncurrent by a delete marker).
    pub lifecycle_objects_expired: AtomicU64,
    /// Noncurrent versions and expired delete markers removed by lifecycle rules.
    pub lifecycle_versions_expired: AtomicU64,
    /// Incomplete multipart uploads aborted by lifecycle rules.
    pub lifecycle_uploads_aborted: AtomicU64,
    /// Completed lifecycle passes.
    pub lifecycle_passes: AtomicU64,
    /// Gauge: duration of the last lifecycle pass, in milliseconds.
    pub lifecycle_last_pass_ms: AtomicU64,
    /// Shard payload bytes written for new blocks: what the object bytes
    /// received cost on disk after dedup, compression and erasure coding
    /// (the console charts it against `bytes_in`).
    pub stored_bytes_written: AtomicU64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Something may have been left for a full GC pass (see
    /// [`Stats::shard_leftovers`]).
    pub(crate) fn note_leftover(&self) {
        Stats::add(&self.shard_leftovers, 1);
        self.shard_leftover_ms
            .fetch_max(crate::model::now_ms(), Relaxed);
    }

    pub(crate) fn set(gauge: &AtomicU64, v: u64) {
        gauge.store(v, Relaxed);
    }

    /// Read a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }
}
