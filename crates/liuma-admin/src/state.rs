//! [`AdminState`], what every admin handler gets: a module of its own so
//! the router (`admin`) and the handler modules (`cluster`, `lifecycle`)
//! depend on it without depending on each other in a cycle.

use std::sync::Arc;

use liuma_engine::Engine;

use crate::client::AdminTrust;

use liuma_metrics::Metrics;

/// This node's live chart points newer than a time (ms since the epoch),
/// as JSON: the console's sampler ring, served to peers' consoles for the
/// whole-cluster charts (`GET /admin/charts`).
pub type ChartPoints = Arc<dyn Fn(u64) -> serde_json::Value + Send + Sync>;

/// What the admin handlers need.
#[derive(Clone)]
pub struct AdminState {
    /// The engine (readiness probes it).
    pub engine: Engine,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// Bearer token required by every admin path but `/health` and `/ready`.
    pub admin_token: Arc<String>,
    /// The chart points of this node (None: `/admin/charts` answers 404).
    pub charts: Option<ChartPoints>,
    /// Whom this node trusts when it calls other nodes' admin APIs over
    /// https (cluster-wide passes): the OS's store and `--tls-ca`.
    pub peer_trust: AdminTrust,
}
