//! The admin API: `/health` (liveness), `/ready` (the metadata store
//! answers and the disks are there) and `/metrics` (Prometheus).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use liuma_engine::Engine;

use crate::metrics::{Metrics, MetricsLayerState, track};

/// What the admin handlers need.
#[derive(Clone)]
pub struct AdminState {
    /// The engine (readiness probes it).
    pub engine: Engine,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
}

/// The admin router. None of its paths need credentials: they reveal no data.
pub fn router(state: AdminState) -> Router {
    let layer = MetricsLayerState {
        metrics: state.metrics.clone(),
        api: "admin",
    };
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(layer, track))
}

async fn health() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

async fn ready(State(s): State<AdminState>) -> Response {
    match s.engine.check_ready().await {
        Ok(()) => (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"status":"ready"}"#,
        )
            .into_response(),
        Err(e) => {
            let body = serde_json::json!({"status": "not ready", "reason": e.to_string()});
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
}

async fn metrics(State(s): State<AdminState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
}
