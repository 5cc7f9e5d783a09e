//! The [`Engine`] facade: the only thing front ends see.

use std::sync::Arc;

use liuma_codec::CodecParams;
use liuma_disk::ShardStore;
use liuma_meta::DynMetaStore;
use tokio::sync::Semaphore;

use crate::Result;
use crate::blocks::BlockStore;
use crate::config::{EngineConfig, default_erasure};
use crate::metrics::Stats;

/// The object engine. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub cfg: EngineConfig,
    pub meta: DynMetaStore,
    pub blocks: Arc<BlockStore>,
    pub stats: Arc<Stats>,
    /// Block buffers in flight, across every request.
    pub permits: Arc<Semaphore>,
    /// Erasure code for new blocks unless a bucket overrides it.
    pub erasure: (u16, u16),
}

impl Engine {
    /// Open an engine over a metadata store and the node's disks.
    pub fn open(cfg: EngineConfig, meta: DynMetaStore, disks: Arc<ShardStore>) -> Result<Engine> {
        cfg.validate()?;
        let erasure = cfg
            .erasure
            .unwrap_or_else(|| default_erasure(disks.disk_count()));
        let stats = Arc::new(Stats::default());
        let codec = CodecParams {
            data_shards: erasure.0,
            parity_shards: erasure.1,
            zstd_level: cfg.zstd_level,
            compress: cfg.compress,
            replicate_below: cfg.replicate_below,
            ..CodecParams::default()
        };
        let blocks = Arc::new(BlockStore::new(
            meta.clone(),
            disks,
            stats.clone(),
            codec,
            cfg.gc_grace,
        ));
        let permits = Arc::new(Semaphore::new(cfg.inflight_blocks));
        tracing::info!(
            k = erasure.0,
            m = erasure.1,
            block_size = cfg.block_size,
            "engine open"
        );
        Ok(Engine {
            inner: Arc::new(Inner {
                cfg,
                meta,
                blocks,
                stats,
                permits,
                erasure,
            }),
        })
    }

    /// Counters for metrics.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// The erasure code (k, m) used for new blocks by default.
    pub fn erasure(&self) -> (u16, u16) {
        self.inner.erasure
    }

    /// The node's disks.
    pub fn disks(&self) -> &Arc<ShardStore> {
        self.inner.blocks.disks()
    }

    /// Ready to serve: the metadata store answers and every disk is there.
    pub async fn check_ready(&self) -> Result<()> {
        self.inner.meta.get(b"bk/").await?;
        let disks = self.disks().clone();
        tokio::task::spawn_blocking(move || {
            (0..disks.disk_count()).try_for_each(|i| disks.usage(i).map(|_| ()))
        })
        .await?
        .map_err(crate::Error::StorageFull)
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.cfg
    }
}
