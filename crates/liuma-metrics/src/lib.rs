//! # liuma-metrics — the Prometheus registry of a node (layer 6, beside the fronts)
//!
//! Per-request counters/latency recorded by one generic middleware
//! ([`track`]) for every front door (S3 through liuma-server, the native
//! API, the admin API), the native API's per-credential counters, the
//! listeners' connection counters ([`ConnStats`]), and the engine's
//! counters and disk gauges collected at scrape time. One module; depends
//! on liuma-engine only (for [`liuma_engine::Stats`]), so every front door
//! can use it without depending on another.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use liuma_engine::{Engine, Stats};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of the request metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// "s3", "native" or "admin".
    pub api: String,
    /// HTTP method.
    pub method: String,
    /// HTTP status code.
    pub status: u16,
}

/// Labels of the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// "s3", "native" or "admin".
    pub api: String,
}

/// Labels of the per-credential counter of the native API.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    /// Backend credential id, "system" (legacy system token), or the id
    /// claimed by a refused request ("anonymous" when none).
    pub credential: String,
    /// "backend" (a backend-authenticated call) or "token" (a token use).
    pub kind: String,
    /// "ok" or the native error code.
    pub result: String,
}

/// Counters of one listener's connections, kept by the server's accept
/// loop and I/O wrappers and exported at scrape time.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Connections open now.
    pub open: std::sync::atomic::AtomicUsize,
    /// Connections refused at the listener's limit.
    pub refused: std::sync::atomic::AtomicU64,
    /// Connections or request bodies cut by a deadline (head, idle, body, write).
    pub timed_out: std::sync::atomic::AtomicU64,
}

/// The listeners whose connections are counted.
pub const LISTENERS: [&str; 5] = ["s3", "native", "admin", "shard", "console"];

/// The process-wide registry and the request instruments.
pub struct Metrics {
    registry: Registry,
    listeners: Arc<[Arc<ConnStats>; 5]>,
    requests: Family<RequestLabels, Counter>,
    duration: Family<ApiLabels, Histogram>,
    backend: Family<BackendLabels, Counter>,
}

impl Metrics {
    /// Create the registry, with the engine's counters collected on each scrape.
    pub fn new(engine: Engine) -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("liuma");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests served", requests.clone());
        let duration = Family::<ApiLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            duration.clone(),
        );
        let backend = Family::<BackendLabels, Counter>::default();
        registry.register(
            "native_backend_requests",
            "Native API backend calls and token uses, per backend credential",
            backend.clone(),
        );
        registry.register_collector(Box::new(EngineCollector { engine }));
        let listeners: Arc<[Arc<ConnStats>; 5]> = Arc::default();
        registry.register_collector(Box::new(ConnCollector(listeners.clone())));
        Arc::new(Metrics {
            registry,
            listeners,
            requests,
            duration,
            backend,
        })
    }

    /// The connection counters of `listener` (one of [`LISTENERS`]).
    pub fn listener(&self, listener: &str) -> Arc<ConnStats> {
        let i = LISTENERS
            .iter()
            .position(|l| *l == listener)
            .expect("a listener named in LISTENERS");
        self.listeners[i].clone()
    }

    /// Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// Count one native backend call or token use of `credential`.
    pub fn count_backend(&self, credential: &str, kind: &str, result: &str) {
        // Unverified ids are client input: bound what becomes a label.
        let credential: String = credential
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(32)
            .collect();
        self.backend
            .get_or_create(&BackendLabels {
                credential,
                kind: kind.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    fn record(&self, api: &str, method: &str, status: u16, started: Instant) {
        self.requests
            .get_or_create(&RequestLabels {
                api: api.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.duration
            .get_or_create(&ApiLabels {
                api: api.to_owned(),
            })
            .observe(started.elapsed().as_secs_f64());
    }
}

/// State of the metrics middleware: which API it counts for.
#[derive(Clone)]
pub struct MetricsLayerState {
    /// The registry.
    pub metrics: Arc<Metrics>,
    /// API label.
    pub api: &'static str,
}

/// axum middleware counting every request of an API.
pub async fn track(State(s): State<MetricsLayerState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let resp = next.run(req).await;
    s.metrics
        .record(s.api, &method, resp.status().as_u16(), started);
    resp
}

#[derive(Debug)]
struct ConnCollector(Arc<[Arc<ConnStats>; 5]>);

impl Collector for ConnCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use std::sync::atomic::Ordering::Relaxed;
        let g0 = ConstGauge::new(0i64);
        let mut open = enc.encode_descriptor(
            "connections_open",
            "open connections per listener",
            None,
            g0.metric_type(),
        )?;
        for (name, s) in LISTENERS.iter().zip(self.0.iter()) {
            let g = ConstGauge::new(i64::try_from(s.open.load(Relaxed)).unwrap_or(i64::MAX));
            g.encode(open.encode_family(&[("listener", *name)])?)?;
        }
        type Field = fn(&ConnStats) -> &std::sync::atomic::AtomicU64;
        let counters: [(&str, &str, Field); 2] = [
            (
                "connections_refused",
                "connections refused at the listener's limit (503)",
                |s| &s.refused,
            ),
            (
                "connection_timeouts",
                "connections or request bodies cut by a deadline",
                |s| &s.timed_out,
            ),
        ];
        for (metric, help, field) in counters {
            let c0 = ConstCounter::new(0u64);
            let mut family = enc.encode_descriptor(metric, help, None, c0.metric_type())?;
            for (name, s) in LISTENERS.iter().zip(self.0.iter()) {
                let c = ConstCounter::new(field(s).load(Relaxed));
                c.encode(family.encode_family(&[("listener", *name)])?)?;
            }
        }
        Ok(())
    }
}

struct EngineCollector {
    engine: Engine,
}

impl std::fmt::Debug for EngineCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EngineCollector")
    }
}

impl Collector for EngineCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.engine.stats();
        let counters: [(&str, &str, &std::sync::atomic::AtomicU64); 24] = [
            ("bytes_in", "object bytes received", &s.bytes_in),
            ("bytes_out", "object bytes sent", &s.bytes_out),
            (
                "stored_bytes_written",
                "shard bytes written for new blocks (after dedup, compression and erasure coding)",
                &s.stored_bytes_written,
            ),
            ("blocks_written", "blocks newly written", &s.blocks_written),
            (
                "blocks_deduplicated",
                "blocks found already stored",
                &s.blocks_deduplicated,
            ),
            (
                "compression_saved_bytes",
                "bytes saved by compression",
                &s.compression_saved_bytes,
            ),
            (
                "shards_repaired",
                "shards rewritten after a read or scrub",
                &s.shards_repaired,
            ),
            (
                "degraded_reads",
                "block reads that needed parity",
                &s.degraded_reads,
            ),
            (
                "hedged_reads",
                "block reads that asked parity because data shards were slow",
                &s.hedged_reads,
            ),
            (
                "streams_cut",
                "downloads ended early: a block failed after the status line",
                &s.streams_cut,
            ),
            (
                "scrub_blocks_checked",
                "blocks verified by the scrubber",
                &s.scrub_blocks_checked,
            ),
            (
                "scrub_errors",
                "bad shards found by the scrubber",
                &s.scrub_errors,
            ),
            ("scrub_passes", "completed scrub passes", &s.scrub_passes),
            (
                "gc_blocks_deleted",
                "blocks deleted by GC",
                &s.gc_blocks_deleted,
            ),
            (
                "gc_refs_deleted",
                "stale references removed by GC",
                &s.gc_refs_deleted,
            ),
            (
                "shard_leftovers",
                "writes, re-encodes or deletes that may have left files or blocks for a full GC pass",
                &s.shard_leftovers,
            ),
            (
                "heal_shards_rebuilt",
                "shards rebuilt by the healer after a node was lost",
                &s.heal_rebuilt,
            ),
            (
                "heal_shards_moved",
                "shards moved by the healer (drain, rebalance)",
                &s.heal_moved,
            ),
            ("heal_passes", "completed heal passes", &s.heal_passes),
            (
                "heal_blocks_reencoded",
                "blocks re-encoded by the healer to the code the cluster wants now",
                &s.heal_reencoded,
            ),
            (
                "lifecycle_objects_expired",
                "current versions expired by lifecycle rules (deleted or hidden by a delete marker)",
                &s.lifecycle_objects_expired,
            ),
            (
                "lifecycle_versions_expired",
                "noncurrent versions and expired delete markers removed by lifecycle rules",
                &s.lifecycle_versions_expired,
            ),
            (
                "lifecycle_uploads_aborted",
                "incomplete multipart uploads aborted by lifecycle rules",
                &s.lifecycle_uploads_aborted,
            ),
            (
                "lifecycle_passes",
                "completed lifecycle passes",
                &s.lifecycle_passes,
            ),
        ];
        for (name, help, value) in counters {
            let c = ConstCounter::new(Stats::get(value));
            c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let b = self.engine.budget_stats();
        let (free, total) = self.engine.budget_free();
        let (pooled, reused) = self.engine.block_pool();
        let budget: [(&str, &str, u64); 3] = [
            (
                "budget_buffers_reused",
                "block buffers handed out again from the budget's pool (not allocated)",
                reused as u64,
            ),
            (
                "budget_refused",
                "requests answered 503 SlowDown: memory budget queue full or wait too long",
                b.refused.load(std::sync::atomic::Ordering::Relaxed) as u64,
            ),
            (
                "budget_evicted_blocks",
                "parked blocks taken back from downloads whose client stopped reading",
                b.evicted.load(std::sync::atomic::Ordering::Relaxed) as u64,
            ),
        ];
        for (name, help, v) in budget {
            let c = ConstCounter::new(v);
            c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let gauges: [(&str, &str, usize); 6] = [
            (
                "budget_buffers",
                "block buffers the budget's pool holds (in use or idle; at most the budget)",
                pooled,
            ),
            (
                "blocks_below_target",
                "blocks this node maintains that its last heal pass left below their target code",
                usize::try_from(Stats::get(&s.blocks_below_target)).unwrap_or(usize::MAX),
            ),
            (
                "budget_waiting",
                "requests waiting for the memory budget",
                b.waiting.load(std::sync::atomic::Ordering::Relaxed),
            ),
            (
                "budget_free_blocks",
                "block buffers of the budget free now",
                free,
            ),
            ("budget_blocks", "block buffers of the budget in all", total),
            (
                "lifecycle_last_pass_ms",
                "duration of the last lifecycle pass, in milliseconds",
                usize::try_from(Stats::get(&s.lifecycle_last_pass_ms)).unwrap_or(usize::MAX),
            ),
        ];
        for (name, help, v) in gauges {
            let g = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
            g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        // 1 while the metadata store can commit, 0 while it is failed (e.g. its disk is
        // full): the alert to pair with the disk gauges.
        let writable = ConstGauge::new(i64::from(self.engine.meta_health().check().is_ok()));
        writable.encode(enc.encode_descriptor(
            "meta_writable",
            "1 when the metadata store can commit writes, 0 while it is failed",
            None,
            writable.metric_type(),
        )?)?;
        let disks = self.engine.local_disk_usage();
        for (name, help) in [
            ("disk_free_bytes", "free bytes per disk"),
            ("disk_total_bytes", "capacity per disk"),
        ] {
            let g0 = ConstGauge::new(0i64);
            let mut family = enc.encode_descriptor(name, help, None, g0.metric_type())?;
            for u in &disks {
                let v = if name == "disk_free_bytes" {
                    u.free_bytes
                } else {
                    u.total_bytes
                };
                let labels = [("disk", u.id.as_str())];
                let g = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
                g.encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
