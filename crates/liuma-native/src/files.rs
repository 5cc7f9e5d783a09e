//! Backend endpoints: file info and delete, node status, and rotation of
//! the system token.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::header;
use liuma_engine::{Error as EngineError, ListVersionsParams};
use serde_json::{Value, json};

use crate::backend::Scope;
use crate::clock::rfc3339;
use crate::error::{ApiError, Result};
use crate::file_meta::{META_UPLOADED_BY, stored_name};
use crate::state::{BackendReq, NativeState, Params};
use crate::token::{self, validate_system_token};

/// `GET /file?hash=H[&deleted=true]` (backend, scope `info`): size, name,
/// hash, dates, versions, and the credential each version was uploaded
/// with. A deleted file (its latest version a delete marker) is 404
/// unless `deleted=true` asks for its versions anyway.
pub(super) async fn handle_info(
    State(s): State<NativeState>,
    req: BackendReq,
    p: Params,
) -> Result<Json<Value>> {
    s.backend(&req, b"", Scope::Info).await?;
    let (hash, _) = p.hash()?;
    let with_deleted = matches!(p.get("deleted"), Some("true" | "1"));
    let current = match s.engine.head_object(s.bucket(), &hash, None).await {
        Ok(i) => Some(i),
        Err(EngineError::NoSuchKey { .. }) if with_deleted => None,
        Err(EngineError::NoSuchKey { .. }) => return Err(ApiError::FileNotFound { hash }),
        Err(e) => return Err(e.into()),
    };
    let listing = s
        .engine
        .list_versions(
            s.bucket(),
            &ListVersionsParams {
                prefix: hash.clone(),
                max_keys: 1000,
                // the versions' names and uploaders are in their metadata
                full_records: true,
                ..ListVersionsParams::default()
            },
        )
        .await?;
    let versions: Vec<_> = listing.versions.iter().filter(|v| v.key == hash).collect();
    // A deleted file is described by its newest version that holds data.
    let shown = match &current {
        Some(c) => c.clone(),
        None => match versions.iter().find(|v| !v.delete_marker) {
            Some(v) => (*v).clone(),
            None => return Err(ApiError::FileNotFound { hash }),
        },
    };
    let created = versions
        .iter()
        .filter(|v| !v.delete_marker)
        .map(|v| v.last_modified_ms)
        .min()
        .unwrap_or(shown.last_modified_ms);
    let list: Vec<Value> = versions
        .iter()
        .map(|v| {
            json!({
                "version_id": v.version_id,
                "name": stored_name(&v.meta),
                "size": v.size,
                "created": rfc3339(v.last_modified_ms),
                "is_latest": v.is_latest,
                "uploaded_by": v.meta.user.get(META_UPLOADED_BY),
                "delete_marker": v.delete_marker,
            })
        })
        .collect();
    Ok(Json(json!({
        "status": "success",
        "hash": hash,
        "deleted": current.is_none(),
        "size": shown.size,
        "name": stored_name(&shown.meta),
        "content_type": shown.meta.content_type,
        "created": rfc3339(created),
        "modified": rfc3339(shown.last_modified_ms),
        "version_id": shown.version_id,
        "uploaded_by": shown.meta.user.get(META_UPLOADED_BY),
        "versions": list,
    })))
}

/// `DELETE /file?hash=H[&version=V]` (backend, scope `delete`): a delete
/// marker, or the removal of one version.
pub(super) async fn handle_delete(
    State(s): State<NativeState>,
    req: BackendReq,
    p: Params,
) -> Result<Json<Value>> {
    s.backend(&req, b"", Scope::Delete).await?;
    let (hash, _) = p.hash()?;
    let version = p.get("version");
    if version.is_none() && !crate::upload::file_exists(&s, &hash).await? {
        return Err(ApiError::FileNotFound { hash });
    }
    let r = s.engine.delete_object(s.bucket(), &hash, version).await?;
    Ok(Json(json!({
        "status": "success",
        "hash": hash,
        "version_id": r.version_id,
        "delete_marker": r.delete_marker,
    })))
}

/// `GET /server/active` (backend, scope `info`): the live nodes that take
/// traffic (not draining), with their native API address, zone, disks and
/// free space.
pub(super) async fn handle_active(
    State(s): State<NativeState>,
    req: BackendReq,
) -> Result<Json<Value>> {
    s.backend(&req, b"", Scope::Info).await?;
    let status = s.engine.cluster_status();
    let here = s.addr.to_string();
    // Nodes publish their native endpoint; a node on its own has none.
    let native_of = |n: &liuma_engine::NodeStatus| {
        n.endpoints
            .get("native")
            .cloned()
            .unwrap_or_else(|| here.clone())
    };
    let live: Vec<_> = status
        .nodes
        .iter()
        .filter(|n| n.live && !n.draining)
        .collect();
    let active: Vec<String> = live.iter().map(|n| native_of(n)).collect();
    if s.cfg.active_v1 {
        // liuma 1.0's shape: the address list in `status`.
        return Ok(Json(json!({ "status": active })));
    }
    let nodes: Vec<Value> = live
        .iter()
        .map(|n| {
            let mut v = json!(n);
            v["address"] = json!(native_of(n));
            v
        })
        .collect();
    Ok(Json(json!({
        "status": "success",
        "active": active,
        "nodes": nodes,
    })))
}

/// `PUT /server/token` (backend, scope `admin`): the new system token in the body,
/// as JSON `{"token": "..."}` or as plain text. Also replaces the token
/// signing key: every token issued before stops working.
///
/// A JSON body is read as JSON whatever its Content-Type says: liuma 1.0
/// clients send it without one, and storing the JSON text itself as the
/// token would lock them out. See [`new_system_token`].
pub(super) async fn handle_rotate_token(
    State(s): State<NativeState>,
    req: Request,
) -> Result<Json<Value>> {
    let (parts, body) = req.into_parts();
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let raw = axum::body::to_bytes(body, 4096)
        .await
        .map_err(|_| ApiError::InvalidArgument {
            what: "the body must be at most 4 KiB",
        })?;
    let (_, _, rev) = s
        .backend(&BackendReq::of(&parts), &raw, Scope::Admin)
        .await?;
    let new = new_system_token(is_json, &raw)?;
    validate_system_token(&new)?;
    token::rotate(&s.engine, rev, &new).await?;
    tracing::info!("native system token rotated");
    Ok(Json(json!({"status": "success"})))
}

/// The token a rotation body carries: `{"token": "..."}` when the request
/// says JSON or the body is a JSON object, else the body as plain text
/// (trimmed). Anything else is refused; the token's form is checked by
/// `validate_system_token`.
fn new_system_token(is_json: bool, raw: &[u8]) -> Result<String> {
    const JSON_FORM: ApiError = ApiError::InvalidArgument {
        what: "the body must be JSON {\"token\": \"...\"} or the token as plain text",
    };
    let text = std::str::from_utf8(raw)
        .map_err(|_| ApiError::InvalidArgument {
            what: "the new system token must be UTF-8 text",
        })?
        .trim();
    if is_json || text.starts_with('{') {
        let v: Value = serde_json::from_str(text).map_err(|_| JSON_FORM)?;
        return Ok(v["token"].as_str().ok_or(JSON_FORM)?.to_owned());
    }
    Ok(text.to_owned())
}
