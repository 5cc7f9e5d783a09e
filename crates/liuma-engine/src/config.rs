//! The engine's own configuration (the server maps its config file onto it).

use std::time::Duration;

/// Tunables of the object engine. Every field has a sane default.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Size objects are cut into, in bytes. Default 4 MiB.
    pub block_size: usize,
    /// zstd level for block compression. Default 3: about 10 % smaller than
    /// level 1 on text at three quarters of its speed; incompressible blocks
    /// are not affected (a 64 KiB probe skips them).
    pub zstd_level: i32,
    /// Try compression at all. Default true.
    pub compress: bool,
    /// Objects up to this many bytes live inside their metadata record. Default 4 KiB.
    pub inline_threshold: usize,
    /// Blocks smaller than this are stored as m+1 whole replicas instead of
    /// k+m shards (same failure tolerance, no decode). Default 128 KiB.
    pub replicate_below: usize,
    /// Erasure code (k data, m parity) overriding the disk-count default.
    pub erasure: Option<(u16, u16)>,
    /// Writes are refused (503) while fewer failure domains (live nodes, or
    /// zones when zones are configured) than this take shards, instead of
    /// doubling shards up on the ones left. None = m+1 for the code in use.
    /// Cluster mode only; a node on its own places shards over its disks.
    pub min_failure_domains: Option<usize>,
    /// Allow more than m shards of a block on one node (and codes wider
    /// than the nodes allow), e.g. for a two-node cluster with several disks
    /// each. Off by default: a node loss must never lose a block.
    pub allow_shard_doubling: bool,
    /// Unreferenced blocks are deleted only after this long. Default 24 h.
    pub gc_grace: Duration,
    /// A node down this long has its shards rebuilt elsewhere (cluster). Default 5 min.
    pub heal_grace: Duration,
    /// Minimum size of every multipart part but the last, in bytes. Default 5 MiB.
    pub min_part_size: u64,
    /// Largest single object or part accepted, in bytes. Default 5 TiB.
    pub max_object_size: u64,
    /// Budget of block buffers in flight across all uploads and downloads,
    /// in blocks. Bounds memory whatever the number of concurrent requests. Default 14
    /// (peak RSS 238 MiB under a 64 × 64 MiB GET + 16 × 1 GiB PUT flood; 16
    /// gave 259–265 MiB, over the 256 MiB target).
    pub inflight_blocks: usize,
    /// Requests that may wait for budget at once; beyond, 503 SlowDown at
    /// once. Default 256.
    pub max_waiting: usize,
    /// Longest wait for budget before a request gets 503 SlowDown. Default 10 s.
    pub max_wait: Duration,
    /// A download whose client has not read for this long gives its parked
    /// blocks back to waiting requests (re-read when the client resumes).
    /// Default 500 ms.
    pub stall_release: Duration,
    /// Blocks of one upload processed concurrently (pipeline depth): several
    /// fsyncs in flight hide their latency. Default 4.
    pub pipeline_depth: usize,
    /// Key sealing the S3 secret keys in the metadata store. The server
    /// always sets it (derived from the cluster secret); None stores
    /// secrets as issued, for tests and tools only. Default None.
    pub secret_seal: Option<crate::SealKey>,
    /// Let the admin API run a lifecycle pass "as of" a time other than
    /// now (`POST /admin/lifecycle?as_of=`), so tests of day-long rules
    /// need no waiting. Off by default: a pass as of a future time expires
    /// objects early, which no production node should allow.
    pub lifecycle_test_clock: bool,
    /// The SSE-S3 master key ring (see [`crate::crypt`]). The server always
    /// sets it; None refuses SSE requests (`NotImplemented`). Default None.
    pub sse_keys: Option<crate::KeyRing>,
    /// New buckets get SSE-S3 as their default encryption (a node option;
    /// DeleteBucketEncryption still turns it off per bucket). Default false.
    pub sse_by_default: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            block_size: 4 << 20,
            zstd_level: 3,
            compress: true,
            inline_threshold: 4 << 10,
            replicate_below: 128 << 10,
            erasure: None,
            min_failure_domains: None,
            allow_shard_doubling: false,
            gc_grace: Duration::from_secs(24 * 3600),
            heal_grace: Duration::from_secs(300),
            min_part_size: 5 << 20,
            max_object_size: 5 << 40,
            inflight_blocks: 14,
            max_waiting: 256,
            max_wait: Duration::from_secs(10),
            stall_release: Duration::from_millis(500),
            pipeline_depth: 4,
            secret_seal: None,
            lifecycle_test_clock: false,
            sse_keys: None,
            sse_by_default: false,
        }
    }
}

impl EngineConfig {
    /// Reject settings the engine cannot work with.
    pub fn validate(&self) -> Result<(), crate::Error> {
        use crate::Error::InvalidConfig;
        if self.block_size < 64 << 10 || self.block_size > 64 << 20 {
            return Err(InvalidConfig(
                "block_size must be between 64 KiB and 64 MiB",
            ));
        }
        if self.inline_threshold > 64 << 10 {
            return Err(InvalidConfig("inline_threshold must be at most 64 KiB"));
        }
        if let Some((k, m)) = self.erasure
            && (k == 0 || k + m > 32)
        {
            return Err(InvalidConfig("erasure needs k >= 1 and k + m <= 32"));
        }
        if self.min_failure_domains == Some(0) {
            return Err(InvalidConfig("min_failure_domains must be at least 1"));
        }
        if self.inflight_blocks < 2 || self.pipeline_depth == 0 {
            return Err(InvalidConfig(
                "inflight_blocks >= 2 and pipeline_depth >= 1 needed",
            ));
        }
        Ok(())
    }
}

/// Default erasure code for a number of disks (DESIGN.md): 1 → 1+0,
/// 2 → 1+1, 3 → 2+1, 4–5 → 2+2, 6–11 → 4+2, 12+ → 8+4.
pub fn default_erasure(disks: usize) -> (u16, u16) {
    match disks {
        0 | 1 => (1, 0),
        2 => (1, 1),
        3 => (2, 1),
        4 | 5 => (2, 2),
        6..=11 => (4, 2),
        _ => (8, 4),
    }
}

/// The default codes, widest first (the steps of [`default_erasure`]).
const LADDER: [(u16, u16); 6] = [(8, 4), (4, 2), (2, 2), (2, 1), (1, 1), (1, 0)];

/// Default erasure code for a cluster with `disks` disks over `domains`
/// failure domains: [`default_erasure`] for the disks, stepped down to the
/// widest code the domains can hold without losing a block when one domain
/// goes (see [`fits_domains`]). A node on its own passes `domains = disks`.
pub fn target_erasure(disks: usize, domains: usize) -> (u16, u16) {
    let widest = default_erasure(disks);
    LADDER
        .into_iter()
        .skip_while(|&c| c != widest)
        .find(|&(k, m)| fits_domains(k, m, domains))
        .unwrap_or((1, 0))
}

/// Whether a k+m code spread evenly over `domains` failure domains survives
/// the loss of any one domain and has m+1 domains at least: at most m
/// shards per domain. A code without parity (1+0) fits anything: it has no
/// tolerance to lose.
pub fn fits_domains(k: u16, m: u16, domains: usize) -> bool {
    let (n, m) = (usize::from(k) + usize::from(m), usize::from(m));
    m == 0 || (domains > m && n.div_ceil(domains) <= m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_follows_disks_then_domains() {
        // One disk per node: the disk rule alone.
        for n in 1..=14 {
            assert_eq!(target_erasure(n, n), default_erasure(n), "{n} nodes");
        }
        // Two nodes with three disks each: 4+2 would put 3 shards on a node.
        assert_eq!(target_erasure(6, 2), (1, 1));
        // Three nodes, 12 disks: 8+4 needs m+1 = 5 domains; 4+2 fits.
        assert_eq!(target_erasure(12, 3), (4, 2));
        assert_eq!(target_erasure(12, 5), (8, 4));
        assert_eq!(target_erasure(6, 1), (1, 0));
        assert!(!fits_domains(2, 1, 2));
        assert!(fits_domains(4, 2, 3));
        assert!(!fits_domains(2, 2, 2));
    }
}
