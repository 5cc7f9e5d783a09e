//! `POST /admin/lifecycle`: run a lifecycle pass now, on this node (the
//! buckets it maintains) or with `?scope=cluster` on every live node.
//!
//! `?as_of=<ms since the epoch>` evaluates the rules as of that time
//! instead of now, so a test of a one-day rule needs no waiting. A pass as
//! of a future time expires objects early, so it is refused (403) unless
//! the node was started with the hidden `--lifecycle-test-clock` flag; it is
//! never forwarded to other nodes.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use liuma_engine::{Engine, LifecycleOptions};
use serde::Deserialize;
use serde_json::Value;

use crate::cluster::{PASS_TIMEOUT, fan_out};
use crate::error::{AdminError, AdminResult};
use crate::state::AdminState;

/// Query of `POST /admin/lifecycle`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LifecycleQuery {
    /// "cluster" runs the pass on every live node.
    #[serde(default)]
    scope: Option<String>,
    /// Evaluate the rules as of this time (ms since the epoch); test nodes only.
    #[serde(default)]
    as_of: Option<u64>,
}

/// `POST /admin/lifecycle[?scope=cluster][&as_of=MS]`.
pub(crate) async fn run(
    State(s): State<AdminState>,
    Query(q): Query<LifecycleQuery>,
) -> AdminResult<Response> {
    let cluster = q.scope.as_deref() == Some("cluster");
    if let Some(t) = q.as_of {
        if !s.engine.config().lifecycle_test_clock {
            return Err(AdminError::Forbidden(
                "as_of needs a node started with --lifecycle-test-clock (tests only)",
            ));
        }
        if cluster {
            return Err(AdminError::BadRequest(
                "as_of runs on one node only: leave scope=cluster out",
            ));
        }
        return Ok(Json(pass(&s.engine, t).await?).into_response());
    }
    let now = now_ms();
    if cluster {
        return Ok(fan_out(
            &s,
            "POST",
            "/admin/lifecycle",
            PASS_TIMEOUT,
            |e| async move { pass(&e, now).await.map_err(|e| e.to_string()) },
        )
        .await);
    }
    Ok(Json(pass(&s.engine, now).await?).into_response())
}

/// One unthrottled pass as of `now_ms`, as JSON.
async fn pass(engine: &Engine, now_ms: u64) -> liuma_engine::Result<Value> {
    let r = engine
        .lifecycle_pass(LifecycleOptions {
            now_ms,
            ops_per_sec: 0,
        })
        .await?;
    Ok(serde_json::to_value(r).unwrap_or(Value::Null))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
