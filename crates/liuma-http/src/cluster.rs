//! Cluster status as JSON, shared by the admin API (`/admin/cluster`) and
//! the native API (`/server/active`), and the admin handlers that change
//! membership (drain, forget) or run maintenance now (heal, scrub, census),
//! on this node or, with `?scope=cluster`, on every live node.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;
use liuma_cluster::NodeState;
use liuma_engine::{Engine, HealOptions};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::admin::{AdminState, engine_error};

/// One node as JSON.
pub fn node_json(n: &NodeState) -> Value {
    let free: u64 = n.info.disks.iter().map(|d| d.free_bytes).sum();
    let total: u64 = n.info.disks.iter().map(|d| d.total_bytes).sum();
    json!({
        "id": n.info.id,
        "zone": n.info.zone,
        "live": n.live,
        "draining": n.draining,
        "shard_api": n.info.addr,
        "endpoints": n.info.endpoints,
        "started_ms": n.info.started_ms,
        "last_seen_ms": n.last_seen_ms,
        "version": n.info.version,
        "disks": n.info.disks,
        "free_bytes": free,
        "total_bytes": total,
    })
}

/// The whole cluster as this node sees it.
pub fn status_json(engine: &Engine) -> Value {
    let cluster = engine.cluster();
    let view = cluster.view();
    let (k, m) = engine.erasure();
    json!({
        "node_id": cluster.node_id(),
        "clustered": cluster.is_clustered(),
        "erasure": format!("{k}+{m}"),
        "live_nodes": view.live_nodes().count(),
        "live_failure_domains": view.live_failure_domains(),
        "min_failure_domains": engine
            .config()
            .min_failure_domains
            .unwrap_or(usize::from(m) + 1),
        "nodes": view.nodes.values().map(node_json).collect::<Vec<_>>(),
    })
}

/// `GET /admin/cluster`
pub(crate) async fn status(State(s): State<AdminState>) -> Json<Value> {
    Json(status_json(&s.engine))
}

fn cluster_error(e: &liuma_cluster::Error) -> Response {
    use liuma_cluster::Error as C;
    // Exhaustive: a new cluster error does not compile until it has a status.
    let status = match e {
        C::Config(_) => StatusCode::CONFLICT,
        C::NotFound | C::PeerNoSuchDisk { .. } => StatusCode::NOT_FOUND,
        // this node's own disk or metadata store failed
        C::Disk(_) => StatusCode::INTERNAL_SERVER_ERROR,
        C::Meta(_)
        | C::DiskUnavailable { .. }
        | C::Unreachable { .. }
        | C::TooSlow { .. }
        | C::NoDisks => StatusCode::SERVICE_UNAVAILABLE,
        C::PeerFull { .. } => StatusCode::INSUFFICIENT_STORAGE,
        // a peer answered, but not as it should
        C::PeerCorrupt { .. }
        | C::PeerDiskFailed { .. }
        | C::PeerUnauthorized { .. }
        | C::PeerBadRequest { .. }
        | C::PeerInternal { .. }
        | C::PeerUnexpected { .. } => StatusCode::BAD_GATEWAY,
    };
    if status.is_server_error() {
        tracing::warn!(error = %e, "cluster admin request failed");
    }
    (status, Json(json!({"error": e.to_string()}))).into_response()
}

fn no_such_node(id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": format!("no node {id} in the cluster")})),
    )
        .into_response()
}

/// `POST /admin/nodes/{id}/drain` (and `DELETE` to cancel).
pub(crate) async fn drain(State(s): State<AdminState>, Path(id): Path<String>) -> Response {
    set_drain(&s, &id, true).await
}

/// `DELETE /admin/nodes/{id}/drain`
pub(crate) async fn undrain(State(s): State<AdminState>, Path(id): Path<String>) -> Response {
    set_drain(&s, &id, false).await
}

async fn set_drain(s: &AdminState, id: &str, on: bool) -> Response {
    match s.engine.cluster().set_draining(id, on).await {
        Ok(true) => {
            tracing::info!(target: "audit", node = id, draining = on, "drain mark changed");
            Json(json!({"node": id, "draining": on})).into_response()
        }
        Ok(false) => no_such_node(id),
        Err(e) => cluster_error(&e),
    }
}

/// `DELETE /admin/nodes/{id}`: forget a node that is not live.
pub(crate) async fn forget(State(s): State<AdminState>, Path(id): Path<String>) -> Response {
    match s.engine.cluster().forget(&id).await {
        Ok(true) => {
            tracing::info!(target: "audit", node = %id, "node forgotten");
            Json(json!({"node": id, "forgotten": true})).into_response()
        }
        Ok(false) => no_such_node(&id),
        Err(e) => cluster_error(&e),
    }
}

#[derive(Deserialize)]
pub(crate) struct CensusQuery {
    #[serde(default)]
    verify: bool,
}

/// `GET /admin/blocks[?verify=true]`: where shards are and how many blocks
/// are healthy, degraded or lost (verify reads every shard).
pub(crate) async fn census(State(s): State<AdminState>, Query(q): Query<CensusQuery>) -> Response {
    match s.engine.block_census(q.verify).await {
        Ok(c) => Json(c).into_response(),
        Err(e) => engine_error(&e),
    }
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
pub(crate) async fn heal(State(s): State<AdminState>, Query(q): Query<ScopeQuery>) -> Response {
    match q.scope {
        Scope::Node => match heal_here(&s.engine).await {
            Ok(v) => Json(v).into_response(),
            Err(e) => engine_error(&e),
        },
        Scope::Cluster => {
            fan_out(&s, "POST", "/admin/heal", PASS_TIMEOUT, |e| async move {
                heal_here(&e).await.map_err(|e| e.to_string())
            })
            .await
        }
    }
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
pub(crate) async fn scrub(State(s): State<AdminState>, Query(q): Query<ScopeQuery>) -> Response {
    match q.scope {
        Scope::Node => match scrub_here(&s.engine).await {
            Ok(v) => Json(v).into_response(),
            Err(e) => engine_error(&e),
        },
        Scope::Cluster => {
            fan_out(&s, "POST", "/admin/scrub", PASS_TIMEOUT, |e| async move {
                scrub_here(&e).await.map_err(|e| e.to_string())
            })
            .await
        }
    }
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
/// record, with the admin token every node of a cluster shares). Answers
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
    let view = s.engine.cluster().view();
    let local = view.local.clone();
    let peers: Vec<(String, Option<String>)> = view
        .live_nodes()
        .filter(|n| n.info.id != local)
        .map(|n| (n.info.id.clone(), n.info.endpoints.get("admin").cloned()))
        .collect();
    let token = s.admin_token.clone();
    let remote = peers.into_iter().map(|(id, addr)| {
        let token = token.clone();
        async move {
            let began = Instant::now();
            let r = match addr {
                Some(addr) => {
                    match tokio::time::timeout(timeout, admin_call(&addr, method, path, &token))
                        .await
                    {
                        Ok(r) => r,
                        Err(_) => Err(format!("no answer from {addr} within {timeout:?}")),
                    }
                }
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

/// One admin API request to a peer (plain HTTP/1.1 on the admin listener,
/// `Connection: close`); the JSON body of a 2xx answer, else the error.
async fn admin_call(addr: &str, method: &str, path: &str, token: &str) -> Result<Value, String> {
    let mut conn = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("sending to {addr}: {e}"))?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)
        .await
        .map_err(|e| format!("reading from {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("malformed answer from {addr}"))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("malformed status line from {addr}"))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    if !(200..300).contains(&status) {
        return Err(format!("{addr} answered {status}: {}", body.trim()));
    }
    serde_json::from_str(&body).map_err(|e| format!("bad JSON from {addr}: {e}"))
}

/// The payload of a chunked body (hex size line, data, CRLF, ..., 0).
/// Shared with the `liuma` CLI's admin client, which reads answers the
/// same way.
pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
