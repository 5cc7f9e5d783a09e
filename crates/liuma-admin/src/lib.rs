//! # liuma-admin — the admin API and its client (layer 6, a front door)
//!
//! Serves `/health` (liveness), `/ready` (the metadata store
//! can write and answers, and the disks are there) — both open, for probes — and, behind
//! `Authorization: Bearer <admin token>`, `/metrics` (Prometheus) and
//! access key management (`/admin/keys`, JSON; see [`keys`](self#keys)).
//!
//! # Keys
//! - `POST /admin/keys` `{"name": N}` → the new key with its secret (shown once)
//! - `GET /admin/keys` → every key without secrets
//! - `DELETE /admin/keys/{id}` → the key stops working at once
//! - `POST /admin/keys/{id}/allow` `{"bucket": B, "permission": "read"|"write"|"owner"|"none"}`
//!
//! # Users
//! Users, their keys (disable/enable) and identity policies: `/admin/users...`
//! (see the `users` module). The keys above are the old interface: a key
//! made there gets a user of its own (`key-<id>`), and its grants are
//! mirrored into that user's `legacy-grants` policy.
//!
//! # Backend credentials (native API; see `docs/native-api.md`)
//! - `POST /admin/backends` `{"name": N, "scopes": [...], "bucket": B, "max_size": N,
//!   "expires": DATE, "rate_limit": N, "max_sessions": N, "max_parked_bytes": N}` → the
//!   credential with its secret (shown once)
//! - `GET /admin/backends` → every credential without key material
//! - `DELETE /admin/backends/{id}` → revoked: its requests and tokens fail at once
//! - `POST /admin/backends/{id}/rotate` → a new secret (shown once); older tokens fail
//!
//! # Cluster
//! - `GET /admin/cluster` → this node's view: nodes, live, draining, disks, erasure
//! - `POST /admin/nodes/{id}/drain` (`DELETE` cancels) → the node takes no new
//!   shards and the healers move its shards off; progress in `/admin/blocks`
//! - `DELETE /admin/nodes/{id}` → forget a node that is not live (its certificate is revoked)
//! - `POST /admin/nodes/{id}/revoke` → peers refuse the node's shard API certificates
//! - `POST /admin/certs/{fingerprint}/revoke` → peers refuse that one certificate
//!   (SHA-256 of its DER, hex): for certificates that name no node
//! - `GET /admin/blocks[?verify=true]` → blocks healthy / degraded / lost / below_target
//!   (less parity than the cluster wants now), unhealthy blocks per bucket, shards per node
//! - `POST /admin/heal`, `POST /admin/scrub` → run a pass on this node now (on the
//!   blocks it maintains); `?scope=cluster` runs one on every live node at once and
//!   answers per node (`nodes.{id}.ok/result/error`) with `totals`
//! - `GET /admin/passes[?scope=cluster]` → heal/scrub running now and the last results
//! - `GET /admin/charts[?since_ms=]` → this node's live chart points (the console's
//!   ring of its own metrics), read by another node's console for the whole-cluster charts
//! - `POST /admin/lifecycle[?scope=cluster]` → apply the buckets' lifecycle rules now
//!   (`as_of=MS` on nodes started with `--lifecycle-test-clock` only)
//!
//! # SSE-S3 master keys
//! `GET /admin/sse`, `POST /admin/sse/rotate`, `GET /admin/sse/usage?version=N`,
//! `POST /admin/sse/reencrypt?from=N`, `DELETE /admin/sse/versions/{n}` (see `sse`).
//!
//! # Errors
//! Every error answers `{"status": "error", "code", "message"}` with the
//! status of [`AdminError`] (engine errors:
//! the engine's one status table).
//!
//! # Crate
//! Depends on liuma-engine, liuma-metrics (`/metrics`, request counters)
//! and liuma-native (backend credential management, [`liuma_native::backend`],
//! and its error type, which the admin API reports); handlers see
//! [`liuma_engine::Engine`] and the status types it returns, never the
//! cluster or disk layers.
//!
//! # Layout
//! This file is the router and the key, backend and health handlers; no
//! module depends on it (the module graph is in `docs/design.md`).
//! - [`error`]: the admin API's one error type and JSON shape
//! - `state`: what every admin handler gets ([`AdminState`])
//! - `cluster`: `/admin/cluster`, drain, forget, heal, scrub, census, and
//!   the cluster-wide fan-out
//! - `lifecycle`: `POST /admin/lifecycle` (a lifecycle pass now, or as of a test time)
//! - `users`: `/admin/users...` (users, their keys and identity policies)
//! - `sse`: `/admin/sse...` (SSE-S3 master key rotation, re-encryption, retirement)
//! - [`client`]: the one admin API client (fan-out and the CLI)

pub mod client;
mod cluster;
pub mod error;
mod lifecycle;
mod sse;
mod state;
mod users;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use liuma_engine::{AccessKey, Permission};
use liuma_metrics::{MetricsLayerState, track};
use liuma_native::backend;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::error::{AdminError, AdminResult};

pub use crate::state::{AdminState, ChartPoints};

/// The admin router.
pub fn router(state: AdminState) -> Router {
    let layer = MetricsLayerState {
        metrics: state.metrics.clone(),
        api: "admin",
    };
    let protected = Router::new()
        .route("/metrics", get(metrics))
        .route("/admin/charts", get(charts))
        .route("/admin/keys", post(create_key).get(list_keys))
        .route("/admin/keys/{id}", axum::routing::delete(delete_key))
        .route("/admin/keys/{id}/allow", post(allow_key))
        .route("/admin/backends", post(create_backend).get(list_backends))
        .route(
            "/admin/backends/{id}",
            axum::routing::delete(revoke_backend),
        )
        .route("/admin/backends/{id}/rotate", post(rotate_backend))
        .route("/admin/cluster", get(cluster::status))
        .route(
            "/admin/nodes/{id}/drain",
            post(cluster::drain).delete(cluster::undrain),
        )
        .route("/admin/nodes/{id}", axum::routing::delete(cluster::forget))
        .route("/admin/nodes/{id}/revoke", post(cluster::revoke))
        .route(
            "/admin/certs/{fingerprint}/revoke",
            post(cluster::revoke_cert),
        )
        .route("/admin/blocks", get(cluster::census))
        .route("/admin/heal", post(cluster::heal))
        .route("/admin/scrub", post(cluster::scrub))
        .route("/admin/passes", get(cluster::passes))
        .route("/admin/lifecycle", post(crate::lifecycle::run))
        .merge(users::routes())
        .merge(sse::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ));
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
        AdminError::Unauthorized.into_response()
    }
}

async fn health() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

/// `/ready`: 200 `{"status":"ready","meta":"writable"}`, or 503 with the reason, e.g.
/// `{"status":"not ready","meta":"failed","reason":"metadata store unavailable: metadata
/// disk full: ..."}`. `meta` is the metadata store's own state, so a probe can tell a failed
/// store from a missing disk.
async fn ready(State(s): State<AdminState>) -> Response {
    let meta = match s.engine.meta_health().check() {
        Ok(()) => "writable",
        Err(_) => "failed",
    };
    match s.engine.check_ready().await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ready", "meta": meta})).into_response(),
        Err(e) => {
            let body =
                serde_json::json!({"status": "not ready", "meta": meta, "reason": e.to_string()});
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

#[derive(Deserialize)]
struct ChartsQuery {
    #[serde(default)]
    since_ms: u64,
}

/// `GET /admin/charts[?since_ms=]`: this node's chart points (the
/// console's ring of its own metrics) newer than `since_ms`, so another
/// node's console draws the whole cluster without a Prometheus server.
async fn charts(
    State(s): State<AdminState>,
    axum::extract::Query(q): axum::extract::Query<ChartsQuery>,
) -> Response {
    match &s.charts {
        Some(f) => axum::Json(f(q.since_ms)).into_response(),
        None => AdminError::NotFound("this node keeps no chart points").into_response(),
    }
}

fn permission_name(p: Permission) -> &'static str {
    match p {
        Permission::Read => "read",
        Permission::Write => "write",
        Permission::Owner => "owner",
    }
}

/// A key as the admin API shows it; the secret only when just created.
fn key_json(k: &AccessKey, with_secret: bool) -> serde_json::Value {
    let buckets: serde_json::Map<String, serde_json::Value> = k
        .buckets
        .iter()
        .map(|(b, p)| (b.clone(), permission_name(*p).into()))
        .collect();
    let mut v = serde_json::json!({
        "id": k.id, "name": k.name, "root": k.root,
        "created_ms": k.created_ms, "buckets": buckets,
        "user": k.user, "disabled": k.disabled,
    });
    if with_secret {
        v["secret"] = k.secret.clone().into();
    }
    v
}

/// Body of `POST /admin/keys`.
#[derive(Debug, Deserialize)]
struct CreateKey {
    name: String,
}

async fn create_key(
    State(s): State<AdminState>,
    axum::Json(req): axum::Json<CreateKey>,
) -> AdminResult<Response> {
    let k = s.engine.create_key(&req.name).await?;
    Ok(axum::Json(key_json(&k, true)).into_response())
}

async fn list_keys(State(s): State<AdminState>) -> AdminResult<Response> {
    let keys = s.engine.list_keys().await?;
    let list: Vec<_> = keys.iter().map(|k| key_json(k, false)).collect();
    Ok(axum::Json(serde_json::Value::Array(list)).into_response())
}

async fn delete_key(State(s): State<AdminState>, Path(id): Path<String>) -> AdminResult<Response> {
    s.engine.delete_key(&id).await?;
    Ok(axum::Json(serde_json::json!({"status": "deleted", "id": id})).into_response())
}

/// Body of `POST /admin/keys/{id}/allow`.
#[derive(Debug, Deserialize)]
struct AllowKey {
    bucket: String,
    permission: String,
}

async fn allow_key(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    axum::Json(req): axum::Json<AllowKey>,
) -> AdminResult<Response> {
    let perm = if req.permission == "none" {
        None
    } else {
        Some(req.permission.parse::<Permission>()?)
    };
    let k = s.engine.allow_key(&id, &req.bucket, perm).await?;
    Ok(axum::Json(key_json(&k, false)).into_response())
}

/// A credential and its new secret (shown only in this answer).
fn with_secret(c: &backend::Credential, secret: String) -> Response {
    let mut v = c.to_json();
    v["secret"] = secret.into();
    axum::Json(v).into_response()
}

async fn create_backend(
    State(s): State<AdminState>,
    axum::Json(req): axum::Json<backend::NewCredential>,
) -> AdminResult<Response> {
    let (c, secret) = backend::create(&s.engine, &req).await?;
    Ok(with_secret(&c, secret))
}

async fn list_backends(State(s): State<AdminState>) -> AdminResult<Response> {
    let list = backend::list(&s.engine).await?;
    let list: Vec<_> = list.iter().map(backend::Credential::to_json).collect();
    Ok(axum::Json(serde_json::Value::Array(list)).into_response())
}

async fn revoke_backend(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> AdminResult<Response> {
    let c = backend::revoke(&s.engine, &id).await?;
    Ok(axum::Json(c.to_json()).into_response())
}

async fn rotate_backend(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> AdminResult<Response> {
    let (c, secret) = backend::rotate(&s.engine, &id).await?;
    Ok(with_secret(&c, secret))
}
