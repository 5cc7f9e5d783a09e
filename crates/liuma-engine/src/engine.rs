//! The [`Engine`] facade: the only thing front ends see.

use std::sync::Arc;

use liuma_cluster::Cluster;
use liuma_codec::CodecParams;
use liuma_disk::ShardStore;
use liuma_meta::{CachedStore, DynMetaStore};

use crate::Result;
use crate::blocks::{BlockStore, SpreadPolicy};
use crate::budget::{Budget, BudgetConfig, BudgetStats};
use crate::clock::Clock;
use crate::config::{EngineConfig, target_erasure};
use crate::keys;
use crate::metrics::Stats;
use crate::model::now_ms;

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
    /// Block buffers in flight, across every request (see [`crate::budget`]).
    pub budget: Arc<Budget>,
    /// The heal and scrub passes of this node (admin status).
    pub passes: std::sync::Mutex<crate::heal::PassStatus>,
    /// The conditions of the last heal pass that left nothing to do
    /// (`heal_queue`): while they hold, passes skip the walk.
    pub heal_quiet: std::sync::Mutex<Option<u64>>,
    /// The clock of record times (shared with `blocks`; see [`crate::clock`]).
    pub clock: Clock,
    /// The SSE-S3 master key ring in use (replaced at run time by
    /// rotation and retirement; see [`crate::sse_admin`]).
    pub sse_ring: std::sync::RwLock<Option<Arc<crate::KeyRing>>>,
    /// Where the ring is kept, when it can be changed at run time.
    pub ring_store: std::sync::OnceLock<Arc<dyn crate::RingStore>>,
    /// The last (or running) re-encryption job of this node.
    pub reencrypt: std::sync::Mutex<crate::ReencryptStatus>,
    /// User names by canonical id, a hint filled by
    /// [`Engine::user_by_canonical_id`]: every hit is checked against the
    /// user record, so a deleted or re-created user never answers wrongly.
    pub canonical_ids: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl Engine {
    /// Open an engine over a metadata store and the node's disks (a node on its own).
    pub fn open(cfg: EngineConfig, meta: DynMetaStore, disks: Arc<ShardStore>) -> Result<Engine> {
        Self::open_in(cfg, meta, Cluster::single(disks))
    }

    /// Open an engine whose shards live across `cluster`.
    pub fn open_in(cfg: EngineConfig, meta: DynMetaStore, cluster: Cluster) -> Result<Engine> {
        cfg.validate()?;
        // Access keys, users and bucket records are read by every request
        // and rarely written: served from a watch-invalidated cache.
        let meta: DynMetaStore = CachedStore::wrap(
            meta,
            &[
                keys::ACCESS_KEY.as_bytes(),
                keys::BUCKET.as_bytes(),
                keys::USER.as_bytes(),
            ],
        );
        let stats = Arc::new(Stats::default());
        let clock = Clock::default();
        let codec = CodecParams {
            zstd_level: cfg.zstd_level,
            compress: cfg.compress,
            replicate_below: cfg.replicate_below,
            ..CodecParams::default()
        };
        let blocks = Arc::new(BlockStore::new(
            meta.clone(),
            cluster,
            stats.clone(),
            codec,
            cfg.gc_grace,
            clock.clone(),
            SpreadPolicy {
                min_domains: cfg.min_failure_domains,
                allow_doubling: cfg.allow_shard_doubling,
            },
        ));
        let budget = Budget::new(BudgetConfig {
            grants: cfg.inflight_blocks,
            max_queue: cfg.max_waiting,
            max_wait: cfg.max_wait,
            stall: cfg.stall_release,
            // a shard frame's header fits in the slack
            buffer_size: cfg.block_size + 4096,
        });
        let sse_ring = std::sync::RwLock::new(cfg.sse_keys.clone().map(Arc::new));
        let engine = Engine {
            inner: Arc::new(Inner {
                sse_ring,
                ring_store: std::sync::OnceLock::new(),
                reencrypt: std::sync::Mutex::default(),
                cfg,
                meta,
                blocks,
                stats,
                budget,
                passes: std::sync::Mutex::default(),
                heal_quiet: std::sync::Mutex::default(),
                clock,
                canonical_ids: std::sync::Mutex::default(),
            }),
        };
        let (k, m) = engine.erasure();
        tracing::info!(
            k,
            m,
            block_size = engine.inner.cfg.block_size,
            "engine open"
        );
        Ok(engine)
    }

    /// Counters for metrics.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// Counters of the memory budget (waiting, refused, evicted), for metrics.
    pub fn budget_stats(&self) -> &BudgetStats {
        &self.inner.budget.stats
    }

    /// Block buffers of the budget's pool that exist now (in use or idle;
    /// never more than the budget), and how many times one was reused.
    pub fn block_pool(&self) -> (usize, usize) {
        let pool = &self.inner.budget.pool;
        (pool.allocated(), pool.reused())
    }

    /// Grants of the memory budget free now, and the total.
    pub fn budget_free(&self) -> (usize, usize) {
        (
            self.inner.budget.available(),
            self.inner.cfg.inflight_blocks,
        )
    }

    /// The erasure code (k, m) for new blocks unless a bucket overrides it,
    /// and the target every block is re-encoded to when below it: the
    /// configured one, else the default for the cluster's disk count (live
    /// disks, plus those of nodes down for less than the heal grace),
    /// narrowed to what its failure domains can hold (see
    /// [`crate::config::target_erasure`]).
    pub fn erasure(&self) -> (u16, u16) {
        let cfg = &self.inner.cfg;
        cfg.erasure.unwrap_or_else(|| {
            let grace = u64::try_from(cfg.heal_grace.as_millis()).unwrap_or(u64::MAX);
            let view = self.cluster().view();
            let now = now_ms();
            let disks = view.disks_for_erasure(now, grace);
            // On its own (or told to double up), a node's disks are its
            // failure domains, as before clusters existed.
            let domains = if self.doubling_allowed() {
                disks
            } else {
                view.domains_for_erasure(now, grace)
            };
            target_erasure(disks, domains)
        })
    }

    /// More than m shards of a block may share a node: a node on its own,
    /// or the operator allowed it (`allow_shard_doubling`).
    pub(crate) fn doubling_allowed(&self) -> bool {
        self.inner.cfg.allow_shard_doubling || !self.cluster().is_clustered()
    }

    /// The cluster this engine stores shards in (a cluster of one on its own).
    /// Crate-private: front ends see its state through
    /// [`Engine::cluster_status`] and change it through the engine's methods.
    pub(crate) fn cluster(&self) -> &Cluster {
        self.inner.blocks.cluster()
    }

    /// The node's own disks.
    pub(crate) fn disks(&self) -> &Arc<ShardStore> {
        self.cluster().local()
    }

    /// Whether the metadata store can commit writes right now (no I/O).
    pub fn meta_health(&self) -> liuma_meta::Health {
        self.inner.meta.health()
    }

    /// Ready to serve: the metadata store can write and answers, and every disk is there.
    pub async fn check_ready(&self) -> Result<()> {
        // A store that answers reads but cannot commit (full disk) is not ready either:
        // every PUT and DELETE would fail.
        self.meta_health().check()?;
        // A key outside the cached prefixes: this must reach the store.
        self.inner.meta.get(b"st/").await?;
        let disks = self.disks().clone();
        tokio::task::spawn_blocking(move || {
            (0..disks.disk_count()).try_for_each(|i| disks.usage(i).map(|_| ()))
        })
        .await?
        .map_err(|e| crate::Error::DiskFailed(Box::new(e.into())))
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.cfg
    }

    /// Now on the clock of record times (see [`crate::clock`]).
    pub fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }
}
