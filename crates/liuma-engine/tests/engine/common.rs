//! What every engine scenario uses: a node over temp dirs, deterministic data,
//! put/get shorthands.

pub use std::sync::Arc;
pub use std::time::Duration;

pub use bytes::Bytes;
pub use futures_util::StreamExt;
pub use liuma_disk::{DiskConfig, Fault, ShardStore};
pub use liuma_engine::{
    ByteRange, Engine, EngineConfig, Error, GetOptions, ListParams, ListVersionsParams, ObjectMeta,
    PutOptions, Stats, Versioning, body_from_bytes,
};
pub use liuma_meta::RedbStore;
pub use rand::{Rng, SeedableRng, rngs::StdRng};

pub const BS: usize = 64 << 10; // small blocks keep tests fast and multi-block

pub struct Node {
    pub engine: Engine,
    pub dir: tempfile::TempDir,
    pub disks: usize,
    pub cfg: EngineConfig,
}

pub fn config() -> EngineConfig {
    EngineConfig {
        block_size: BS,
        replicate_below: 16 << 10,
        min_part_size: 2 * BS as u64,
        ..Default::default()
    }
}

pub fn open(dir: &std::path::Path, disks: usize, cfg: EngineConfig) -> Engine {
    let meta = RedbStore::open(&dir.join("meta.redb")).unwrap();
    let cfgs: Vec<DiskConfig> = (0..disks)
        .map(|i| DiskConfig::new(dir.join(format!("disk{i}"))))
        .collect();
    let store = Arc::new(ShardStore::open(&cfgs).unwrap());
    Engine::open(cfg, meta, store).unwrap()
}

impl Node {
    pub fn new(disks: usize) -> Node {
        Self::with(disks, config())
    }
    pub fn with(disks: usize, cfg: EngineConfig) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let engine = open(dir.path(), disks, cfg.clone());
        Node {
            engine,
            dir,
            disks,
            cfg,
        }
    }
    /// Drop the engine and open it again on the same files. Async: tasks
    /// that still hold the store (a cache's watch) must get to run and
    /// notice the engine is gone; a blocking sleep here would starve them
    /// on the test's single-threaded runtime.
    pub async fn reopen(self) -> Node {
        let Node {
            engine,
            dir,
            disks,
            cfg,
        } = self;
        drop(engine);
        // the redb writer thread releases the file when the last handle goes
        for _ in 0..100 {
            let meta = RedbStore::open(&dir.path().join("meta.redb"));
            if let Ok(meta) = meta {
                drop(meta);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let engine = open(dir.path(), disks, cfg.clone());
        Node {
            engine,
            dir,
            disks,
            cfg,
        }
    }
    pub fn shard_files(&self, disk: usize) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.dir.path().join(format!("disk{disk}"))];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p
                    .extension()
                    .is_some_and(|x| x.to_str().unwrap().parse::<u16>().is_ok())
                {
                    out.push(p);
                }
            }
        }
        out
    }
}

pub fn random(seed: u64, len: usize) -> Vec<u8> {
    println!("data seed {seed}");
    let mut v = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill(&mut v[..]);
    v
}

/// A body delivered in uneven chunks, like a network stream.
pub fn chunked(data: &[u8]) -> liuma_engine::ByteStream {
    let mut chunks = Vec::new();
    let mut rest = Bytes::copy_from_slice(data);
    let mut n = 1000;
    while !rest.is_empty() {
        let take = n.min(rest.len());
        chunks.push(Ok(rest.split_to(take)));
        n = n * 7 % 100_003 + 1;
    }
    Box::pin(futures_util::stream::iter(chunks))
}

pub async fn put(e: &Engine, b: &str, k: &str, data: &[u8]) -> liuma_engine::ObjectInfo {
    e.put_object(b, k, chunked(data), PutOptions::default())
        .await
        .unwrap()
}

pub async fn get(e: &Engine, b: &str, k: &str, opts: GetOptions) -> Vec<u8> {
    let mut g = e.get_object(b, k, opts).await.unwrap();
    let mut out = Vec::new();
    while let Some(c) = g.body.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}
