//! Cluster status as JSON, shared by the admin API (`/admin/cluster`) and
//! the native API (`/server/active`), and the admin handlers that change
//! membership (drain, forget) or run maintenance now (heal, scrub, census).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use liuma_cluster::NodeState;
use liuma_engine::{Engine, HealOptions};
use serde::Deserialize;
use serde_json::{Value, json};

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
        "nodes": view.nodes.values().map(node_json).collect::<Vec<_>>(),
    })
}

/// `GET /admin/cluster`
pub(crate) async fn status(State(s): State<AdminState>) -> Json<Value> {
    Json(status_json(&s.engine))
}

fn cluster_error(e: &liuma_cluster::Error) -> Response {
    let status = match e {
        liuma_cluster::Error::Config(_) => StatusCode::CONFLICT,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
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

/// `POST /admin/heal`: run a heal pass on this node now (unthrottled).
pub(crate) async fn heal(State(s): State<AdminState>) -> Response {
    let opts = HealOptions {
        rebalance: true,
        bytes_per_sec: 0,
    };
    match s.engine.heal_pass(opts).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => engine_error(&e),
    }
}

/// `POST /admin/scrub`: run a scrub pass on this node now (unthrottled).
pub(crate) async fn scrub(State(s): State<AdminState>) -> Response {
    match s.engine.scrub_pass(0).await {
        Ok(r) => Json(json!({
            "blocks_checked": r.blocks_checked,
            "bad_shards": r.bad_shards,
            "repaired": r.repaired,
            "unrecoverable": r.unrecoverable,
        }))
        .into_response(),
        Err(e) => engine_error(&e),
    }
}
