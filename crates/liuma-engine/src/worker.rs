//! Background workers: periodic GC, scrub, heal and lifecycle passes (heal
//! also runs soon after the cluster membership changes) and the one-off
//! upgrade of an older metadata layout, stopped by a shutdown signal.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::engine::Engine;
use crate::heal::HealOptions;

/// Schedule of the background work.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Time between GC passes. Default 1 h. Most passes are incremental
    /// (only the owners written or removed since, see `gc_queue`).
    pub gc_interval: Duration,
    /// Time between full GC passes (every block record and shard file; the
    /// first pass after start is one too). Default 24 h.
    pub gc_full_interval: Duration,
    /// Time between scrub passes. Default 24 h.
    pub scrub_interval: Duration,
    /// Scrub read rate limit in bytes/s (0 = unlimited). Default 64 MiB/s.
    pub scrub_rate: u64,
    /// Multipart uploads older than this are aborted by GC. Default 7 days.
    pub upload_expiry: Duration,
    /// Time between heal passes (also run a few seconds after any
    /// membership change). Default 60 s.
    pub heal_interval: Duration,
    /// Heal read rate limit in bytes/s (0 = unlimited). Default 128 MiB/s.
    pub heal_rate: u64,
    /// Time between lifecycle passes (bucket expiration rules). Default 1 h:
    /// rules are in days, so an hour late is within AWS's "asynchronously".
    pub lifecycle_interval: Duration,
    /// Most changes a lifecycle pass makes per second (expirations,
    /// removals, aborts; 0 = unlimited). Default 100.
    pub lifecycle_rate: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            gc_interval: Duration::from_secs(3600),
            gc_full_interval: Duration::from_secs(24 * 3600),
            scrub_interval: Duration::from_secs(24 * 3600),
            scrub_rate: 64 << 20,
            upload_expiry: Duration::from_secs(7 * 24 * 3600),
            heal_interval: Duration::from_secs(60),
            heal_rate: 128 << 20,
            lifecycle_interval: Duration::from_secs(3600),
            lifecycle_rate: 100,
        }
    }
}

/// Start the GC, scrub, heal, lifecycle and layout workers; they stop when
/// `shutdown` turns true.
pub fn spawn_workers(
    engine: &Engine,
    cfg: WorkerConfig,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let gc = spawn_gc(engine.clone(), &cfg, shutdown.clone());
    let heal = spawn_healer(engine.clone(), &cfg, shutdown.clone());
    let lifecycle = spawn_lifecycle(engine.clone(), &cfg, shutdown.clone());
    let scrub = spawn_scrubber(engine.clone(), &cfg, shutdown.clone());
    let layout = spawn_layout_upgrade(engine.clone(), shutdown);
    vec![gc, scrub, heal, lifecycle, layout]
}

/// GC every `gc_interval`: incremental passes, and a full one every
/// `gc_full_interval` or while something may have been left for it.
fn spawn_gc(engine: Engine, cfg: &WorkerConfig, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let expiry = u64::try_from(cfg.upload_expiry.as_millis()).unwrap_or(u64::MAX);
    let full_every = cfg.gc_full_interval;
    // Shared with each pass's future: when the last full pass began (ms
    // since the epoch). Shard files left by a failed write or re-encode
    // are found only by a full pass's sweep, which leaves files younger
    // than the grace alone: full passes follow a leftover until one
    // begins a grace period after it.
    let last_full = std::sync::Arc::new(std::sync::Mutex::new(None::<u64>));
    every(cfg.gc_interval, shutdown, move || {
        let engine = engine.clone();
        let last_full = last_full.clone();
        async move {
            let began = crate::model::now_ms();
            let full_every = u64::try_from(full_every.as_millis()).unwrap_or(u64::MAX);
            let leftover = crate::Stats::get(&engine.stats().shard_leftover_ms);
            let grace = engine.gc_grace_ms();
            let due = last_full
                .lock()
                .map(|t| {
                    t.is_none_or(|at| {
                        began.saturating_sub(at) >= full_every
                            || (leftover > 0 && leftover.saturating_add(grace) >= at)
                    })
                })
                .unwrap_or(true);
            let r = if due {
                engine.gc_pass(Some(expiry)).await
            } else {
                engine.gc_incremental_pass(Some(expiry)).await
            };
            match r {
                Ok(r) => {
                    if due && let Ok(mut t) = last_full.lock() {
                        *t = Some(began);
                    }
                    tracing::info!(?r, full = due, "gc pass done");
                }
                Err(e) => tracing::warn!(error = %e, full = due, "gc pass failed"),
            }
        }
    })
}

/// A lifecycle pass as of now every `lifecycle_interval`.
fn spawn_lifecycle(
    engine: Engine,
    cfg: &WorkerConfig,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let rate = cfg.lifecycle_rate;
    every(cfg.lifecycle_interval, shutdown, move || {
        let engine = engine.clone();
        async move {
            let opts = crate::LifecycleOptions {
                now_ms: crate::model::now_ms(),
                ops_per_sec: rate,
            };
            match engine.lifecycle_pass(opts).await {
                Ok(r) if r.buckets > 0 => tracing::info!(?r, "lifecycle pass done"),
                Ok(r) => tracing::debug!(?r, "lifecycle pass done"),
                Err(e) => tracing::warn!(error = %e, "lifecycle pass failed"),
            }
        }
    })
}

/// A scrub pass at `scrub_rate` every `scrub_interval`.
fn spawn_scrubber(
    engine: Engine,
    cfg: &WorkerConfig,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let rate = cfg.scrub_rate;
    every(cfg.scrub_interval, shutdown, move || {
        let engine = engine.clone();
        async move {
            match engine.scrub_pass(rate).await {
                Ok(r) => tracing::info!(?r, "scrub pass done"),
                Err(e) => {
                    tracing::warn!(error = %crate::reencode::chain(&e), "scrub pass failed")
                }
            }
        }
    })
}

/// Upgrade an older metadata layout once, in the background (readers take
/// both layouts); retried every minute while it fails (metadata store down).
fn spawn_layout_upgrade(engine: Engine, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                r = engine.upgrade_layout() => match r {
                    Ok(_) => return,
                    Err(e) => tracing::warn!(error = %e, "metadata layout upgrade failed; retrying in 60 s"),
                },
                _ = shutdown.changed() => return,
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(60)) => {}
                _ = shutdown.changed() => return,
            }
        }
    })
}

/// Heal every `heal_interval`, and a few seconds after membership changes
/// (a node joined, left, or is to be drained).
fn spawn_healer(
    engine: Engine,
    cfg: &WorkerConfig,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let opts = HealOptions {
        rebalance: true,
        bytes_per_sec: cfg.heal_rate,
        walk_all: false,
    };
    let period = cfg.heal_interval;
    let mut changes = engine.cluster().subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(period) => {}
                r = changes.changed() => {
                    if r.is_err() { return; }
                    // Let a burst of changes (a node and its disks) settle.
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    changes.borrow_and_update();
                }
                _ = shutdown.changed() => return,
            }
            tokio::select! {
                r = engine.heal_pass(opts) => match r {
                    Ok(r) if r.rebuilt + r.drained + r.rebalanced + r.reencoded + r.failed > 0 => {
                        tracing::info!(?r, "heal pass done");
                    }
                    Ok(r) => tracing::debug!(?r, "heal pass done"),
                    Err(e) => tracing::warn!(error = %crate::reencode::chain(&e), "heal pass failed"),
                },
                _ = shutdown.changed() => return,
            }
        }
    })
}

fn every<F, Fut>(
    period: Duration,
    mut shutdown: watch::Receiver<bool>,
    mut job: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(period) => {}
                _ = shutdown.changed() => return,
            }
            tokio::select! {
                () = job() => {}
                _ = shutdown.changed() => return,
            }
        }
    })
}
