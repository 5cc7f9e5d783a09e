//! The admin API: `/health` (liveness), `/ready` (the metadata store
//! answers and the disks are there) — both open, for probes — and, behind
//! `Authorization: Bearer <admin token>`, `/metrics` (Prometheus).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use liuma_engine::Engine;
use subtle::ConstantTimeEq;

use crate::metrics::{Metrics, MetricsLayerState, track};

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

/// The admin router.
pub fn router(state: AdminState) -> Router {
    let layer = MetricsLayerState {
        metrics: state.metrics.clone(),
        api: "admin",
    };
    let protected = Router::new().route("/metrics", get(metrics)).route_layer(
        axum::middleware::from_fn_with_state(state.clone(), require_token),
    );
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .merge(protected)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(layer, track))
}

/// Constant-time check of the admin bearer token.
async fn require_token(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    let sent = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(sent.as_bytes().ct_eq(s.admin_token.as_bytes())) {
        next.run(req).await
    } else {
        let body = serde_json::json!({
            "status": "error", "code": "Unauthorized", "message": "admin token required"
        });
        (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
    }
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
