//! [`AdminState`], what every admin handler gets: a module of its own so
//! the router (`admin`) and the handler modules (`cluster`, `lifecycle`)
//! depend on it without depending on each other in a cycle.

use std::sync::Arc;

use liuma_engine::Engine;

use liuma_metrics::Metrics;

/// What the admin handlers need.
#[derive(Clone)]
pub struct AdminState {
    /// The engine (readiness probes it).
    pub engine: Engine,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// Bearer token required by every admin path but `/health` and `/ready`.
    pub admin_token: Arc<String>,
}
