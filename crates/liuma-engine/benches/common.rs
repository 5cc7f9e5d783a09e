//! Shared helpers of the engine benches: a cheap stream of unique,
//! incompressible data and an engine on temp disks.

#![allow(dead_code)]

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use liuma_disk::{DiskConfig, ShardStore};
use liuma_engine::{ByteStream, Engine, EngineConfig};
use liuma_meta::RedbStore;
use rand::{RngCore, SeedableRng, rngs::StdRng};

pub const CHUNK: usize = 1 << 20;

/// 8 MiB of random bytes; streams are slices of it with a counter stamped
/// into every chunk, so no two chunks (hence blocks) are equal.
pub fn pool() -> Bytes {
    let mut v = vec![0u8; 8 << 20];
    StdRng::seed_from_u64(1).fill_bytes(&mut v);
    Bytes::from(v)
}

/// `len` bytes of unique incompressible data, in 1 MiB chunks.
pub fn stream(pool: &Bytes, len: u64, salt: u64) -> ByteStream {
    let pool = pool.clone();
    let chunks = len.div_ceil(CHUNK as u64);
    Box::pin(futures_util::stream::iter((0..chunks).map(move |i| {
        let off = (i as usize * CHUNK) % pool.len();
        let n = (len - i * CHUNK as u64).min(CHUNK as u64) as usize;
        let mut c = BytesMut::from(&pool[off..off + n]);
        if n >= 16 {
            c[..8].copy_from_slice(&i.to_le_bytes());
            c[8..16].copy_from_slice(&salt.to_le_bytes());
        }
        Ok(c.freeze())
    })))
}

/// An engine on `disks` directories under `dir`.
pub async fn engine(dir: &std::path::Path, disks: usize, cfg: EngineConfig) -> Engine {
    std::fs::create_dir_all(dir).unwrap();
    let meta = RedbStore::open(&dir.join("meta.redb")).unwrap();
    let cfgs: Vec<DiskConfig> = (0..disks)
        .map(|i| DiskConfig::new(dir.join(format!("disk{i}"))))
        .collect();
    let store = Arc::new(ShardStore::open(&cfgs).unwrap());
    Engine::open(cfg, meta, store).unwrap()
}

/// Peak resident set size of this process, in bytes (VmHWM).
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Reset the peak RSS counter (writing 5 to clear_refs resets VmHWM).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
