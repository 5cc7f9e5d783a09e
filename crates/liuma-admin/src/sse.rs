//! SSE-S3 master key management (`liuma sse ...`; see the engine's
//! `sse_admin` module for what each step does):
//! - `GET /admin/sse` → `{current, versions, managed, reencrypt, fenced}`
//!   (no key bytes; `fenced`: versions whose retirement fence is up)
//! - `POST /admin/sse/rotate` → a new version, current for new writes
//! - `GET /admin/sse/usage?version=N` → what still needs version N
//! - `POST /admin/sse/reencrypt?from=N` → start rewriting version-N objects
//!   under the current version (progress in `GET /admin/sse`)
//! - `DELETE /admin/sse/versions/{n}` → retire version N (refused while used)

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{AdminError, AdminResult};
use crate::state::AdminState;

/// The routes (behind the admin token).
pub(crate) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/admin/sse", get(status))
        .route("/admin/sse/rotate", post(rotate))
        .route("/admin/sse/usage", get(usage))
        .route("/admin/sse/reencrypt", post(reencrypt))
        .route("/admin/sse/versions/{n}", delete(retire))
}

fn json<T: serde::Serialize>(v: &T) -> Json<Value> {
    Json(serde_json::to_value(v).unwrap_or(Value::Null))
}

async fn status(State(s): State<AdminState>) -> AdminResult<Json<Value>> {
    Ok(json(&s.engine.sse_key_status().await?))
}

async fn rotate(State(s): State<AdminState>) -> AdminResult<Json<Value>> {
    Ok(json(&s.engine.sse_rotate().await?))
}

/// `?version=N` / `?from=N`.
#[derive(Debug, Deserialize)]
struct VersionQuery {
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    from: Option<u32>,
}

async fn usage(
    State(s): State<AdminState>,
    Query(q): Query<VersionQuery>,
) -> AdminResult<Json<Value>> {
    let v = q
        .version
        .ok_or(AdminError::BadRequest("usage needs ?version=N"))?;
    Ok(json(&s.engine.sse_usage(v).await?))
}

async fn reencrypt(
    State(s): State<AdminState>,
    Query(q): Query<VersionQuery>,
) -> AdminResult<Json<Value>> {
    let v = q
        .from
        .ok_or(AdminError::BadRequest("reencrypt needs ?from=N"))?;
    Ok(json(&s.engine.sse_reencrypt_start(v)?))
}

async fn retire(State(s): State<AdminState>, Path(n): Path<u32>) -> AdminResult<Json<Value>> {
    Ok(json(&s.engine.sse_retire(n).await?))
}
