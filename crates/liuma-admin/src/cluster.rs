//! The admin handlers of the cluster: its status (`/admin/cluster`, the
//! engine's [`liuma_engine::ClusterStatus`]), membership changes (drain,
//! forget) and maintenance now (heal, scrub, census), on this node or, with
//! `?scope=cluster`, on every live node through [`crate::client`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;
use liuma_engine::{Engine, HealOptions};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::{AdminClient, AdminEndpoint};
use crate::error::AdminResult;
use crate::state::AdminState;

/// `GET /admin/cluster`: the cluster as this node sees it.
pub(crate) async fn status(State(s): State<AdminState>) -> Json<liuma_engine::ClusterStatus> {
    Json(s.engine.cluster_status())
}

/// `POST /admin/nodes/{id}/drain` (and `DELETE` to cancel).
pub(crate) async fn drain(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> AdminResult<Json<Value>> {
    set_drain(&s, &id, true).await
}

/// `DELETE /admin/nodes/{id}/drain`
pub(crate) async fn undrain(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> AdminResult<Json<Value>> {
    set_drain(&s, &id, false).await
}

async fn set_drain(s: &AdminState, id: &str, on: bool) -> AdminResult<Json<Value>> {
    s.engine.set_node_draining(id, on).await?;
    tracing::info!(target: "audit", node = id, draining = on, "drain mark changed");
    Ok(Json(json!({"node": id, "draining": on})))
}

/// `DELETE /admin/nodes/{id}`: forget a node that is not live.
pub(crate) async fn forget(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> AdminResult<Json<Value>> {
    s.engine.forget_node(&id).await?;
    tracing::info!(target: "audit", node = %id, "node forgotten");
    Ok(Json(json!({"node": id, "forgotten": true})))
}

/// `POST /admin/nodes/{id}/revoke`: peers refuse the node's shard API
/// certificates issued until now.
pub(crate) async fn revoke(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> AdminResult<Json<Value>> {
    let at = s.engine.revoke_node_cert(&id).await?;
    tracing::info!(target: "audit", node = %id, "node certificate revoked");
    Ok(Json(json!({"node": id, "revoked_ms": at})))
}

/// `POST /admin/certs/{fingerprint}/revoke`: peers refuse that one shard
/// API certificate (SHA-256 of its DER, hex), for certificates that name
/// no node.
pub(crate) async fn revoke_cert(
    State(s): State<AdminState>,
    Path(fingerprint): Path<String>,
) -> AdminResult<Json<Value>> {
    let (hex, at) = s.engine.revoke_cert_fingerprint(&fingerprint).await?;
    tracing::info!(target: "audit", fingerprint = %hex, "certificate revoked");
    Ok(Json(json!({"fingerprint": hex, "revoked_ms": at})))
}

#[derive(Deserialize)]
pub(crate) struct CensusQuery {
    #[serde(default)]
    verify: bool,
}

/// `GET /admin/blocks[?verify=true]`: where shards are and how many blocks
/// are healthy, degraded or lost (verify reads every shard).
pub(crate) async fn census(
    State(s): State<AdminState>,
    Query(q): Query<CensusQuery>,
) -> AdminResult<Response> {
    Ok(Json(s.engine.block_census(q.verify).await?).into_response())
}

/// `?scope=`: `node` (default) acts on the blocks this node maintains;
/// `cluster` asks every live node to act on its own, and reports per node.
#[derive(Deserialize)]
pub(crate) struct ScopeQuery {
    #[serde(default)]
    scope: Scope,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Scope {
    #[default]
    Node,
    Cluster,
}

/// How long a peer may take to run a whole pass for a fan-out.
pub(crate) const PASS_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long a peer may take to answer a status request.
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

/// `POST /admin/heal[?scope=cluster]`: run a heal pass now (unthrottled).
pub(crate) async fn heal(
    State(s): State<AdminState>,
    Query(q): Query<ScopeQuery>,
) -> AdminResult<Response> {
    Ok(match q.scope {
        Scope::Node => Json(heal_here(&s.engine).await?).into_response(),
        Scope::Cluster => {
            fan_out(&s, "POST", "/admin/heal", PASS_TIMEOUT, |e| async move {
                heal_here(&e).await.map_err(|e| e.to_string())
            })
            .await
        }
    })
}

async fn heal_here(engine: &Engine) -> liuma_engine::Result<Value> {
    let opts = HealOptions {
        rebalance: true,
        bytes_per_sec: 0,
        walk_all: true,
    };
    let r = engine.heal_pass(opts).await?;
    Ok(serde_json::to_value(r).unwrap_or(Value::Null))
}

/// `POST /admin/scrub[?scope=cluster]`: run a scrub pass now (unthrottled).
pub(crate) async fn scrub(
    State(s): State<AdminState>,
    Query(q): Query<ScopeQuery>,
) -> AdminResult<Response> {
    Ok(match q.scope {
        Scope::Node => Json(scrub_here(&s.engine).await?).into_response(),
        Scope::Cluster => {
            fan_out(&s, "POST", "/admin/scrub", PASS_TIMEOUT, |e| async move {
                scrub_here(&e).await.map_err(|e| e.to_string())
            })
            .await
        }
    })
}

async fn scrub_here(engine: &Engine) -> liuma_engine::Result<Value> {
    let r = engine.scrub_pass(0).await?;
    Ok(serde_json::to_value(r).unwrap_or(Value::Null))
}

/// `GET /admin/passes[?scope=cluster]`: heal and scrub passes running now
/// and the results of the last ones (per node with `scope=cluster`).
pub(crate) async fn passes(State(s): State<AdminState>, Query(q): Query<ScopeQuery>) -> Response {
    match q.scope {
        Scope::Node => Json(s.engine.pass_status()).into_response(),
        Scope::Cluster => {
            fan_out(&s, "GET", "/admin/passes", STATUS_TIMEOUT, |e| async move {
                Ok(serde_json::to_value(e.pass_status()).unwrap_or(Value::Null))
            })
            .await
        }
    }
}

/// Run `path` on every live node at once: this node directly (`here`), the
/// others through their admin API (`endpoints["admin"]` of their membership
/// record, `https://` when their listener speaks TLS, whose certificate
/// must verify against [`AdminState::peer_trust`]; with the admin token
/// every node of a cluster shares). Answers
/// `{"scope": "cluster", "nodes": {id: {"ok", "result" | "error",
/// "elapsed_ms"}}, "totals": {field: sum}}`; a node that fails or does
/// not answer in `timeout` is reported, not fatal.
pub(crate) async fn fan_out<F, Fut>(
    s: &AdminState,
    method: &'static str,
    path: &'static str,
    timeout: Duration,
    here: F,
) -> Response
where
    F: FnOnce(Engine) -> Fut,
    Fut: std::future::Future<Output = Result<Value, String>>,
{
    let status = s.engine.cluster_status();
    let local = status.node_id;
    let peers: Vec<(String, Option<String>)> = status
        .nodes
        .into_iter()
        .filter(|n| n.live && n.id != local)
        .map(|n| (n.id, n.endpoints.get("admin").cloned()))
        .collect();
    let token = s.admin_token.clone();
    let trust = s.peer_trust.clone();
    let remote = peers.into_iter().map(|(id, addr)| {
        let (token, trust) = (token.clone(), trust.clone());
        async move {
            let began = Instant::now();
            let r = match addr.as_deref().map(AdminEndpoint::parse) {
                Some(Ok(at)) => AdminClient::new(at, token.as_str(), &trust)
                    .with_deadline(timeout)
                    .call(method, path, None)
                    .await
                    .map_err(|e| e.to_string()),
                Some(Err(e)) => Err(e.to_string()),
                None => Err("the node published no admin endpoint".to_owned()),
            };
            (id, r, began.elapsed())
        }
    });
    let began = Instant::now();
    let (mine, others) = tokio::join!(here(s.engine.clone()), join_all(remote));
    let mut nodes = serde_json::Map::new();
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for (id, r, took) in std::iter::once((local, mine, began.elapsed())).chain(others) {
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        let entry = match r {
            Ok(v) => {
                for (k, n) in v.as_object().into_iter().flatten() {
                    if let Some(n) = n.as_u64() {
                        *totals.entry(k.clone()).or_default() += n;
                    }
                }
                json!({"ok": true, "result": v, "elapsed_ms": ms})
            }
            Err(e) => {
                tracing::warn!(node = %id, path, error = %e, "cluster-wide admin action failed on a node");
                json!({"ok": false, "error": e, "elapsed_ms": ms})
            }
        };
        nodes.insert(id, entry);
    }
    let failed = nodes.values().filter(|n| n["ok"] == false).count();
    Json(json!({
        "scope": "cluster",
        "nodes": nodes,
        "failed_nodes": failed,
        "totals": totals,
    }))
    .into_response()
}
