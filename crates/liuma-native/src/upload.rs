//! Uploads: tokens (with instant upload), single upload, and the instant
//! upload finish uses. Chunk sessions are in `session`.

use axum::Json;
use axum::extract::{Request, State};
use liuma_engine::{Error as EngineError, ObjectMeta, PutOptions};
use serde_json::{Value, json};

use crate::backend::Scope;
use crate::body::incoming;
use crate::clock::now_secs;
use crate::error::{ApiError, Result};
use crate::file_meta::{EMPTY_SHA256, file_meta, set_uploaded_by};
use crate::state::{BackendReq, Caller, NativeState, Params, check_hash_param};
use crate::token::{Claims, Operation};

/// `GET /upload/token?hash=H[&size=N]` (backend, scope `upload`).
pub(super) async fn handle_upload_token(
    State(s): State<NativeState>,
    req: BackendReq,
    p: Params,
) -> Result<Json<Value>> {
    let (caller, auth, _) = s.backend(&req, b"", Scope::Upload).await?;
    let (hash, bytes) = p.hash()?;
    if hash == EMPTY_SHA256 {
        return Err(ApiError::EmptyFile);
    }
    let max_size = match p.get("size") {
        None | Some("") => None,
        Some(v) => match v.parse::<u64>() {
            Ok(0) => return Err(ApiError::EmptyFile),
            Ok(n) => Some(n),
            Err(_) => {
                return Err(ApiError::InvalidArgument {
                    what: "size must be a positive integer (bytes)",
                });
            }
        },
    };
    let max_size = match (max_size, caller.max_size()) {
        (Some(n), Some(max)) if n > max => return Err(ApiError::TooLarge { max }),
        (None, limit) => limit,
        (n, _) => n,
    };
    let exists = file_exists(&s, &hash).await?;
    let (token, expires) = issue(&s, &auth, &caller, Operation::Upload, bytes, max_size, None)?;
    Ok(Json(json!({
        "status": "success",
        "token": token,
        "hash": hash,
        "exists": exists,
        "expires": expires,
    })))
}

/// Sign a token for `op` on `sha256`, valid for the configured lifetime.
pub(super) fn issue(
    s: &NativeState,
    auth: &crate::token::AuthState,
    caller: &Caller,
    op: Operation,
    sha256: [u8; 32],
    max_size: Option<u64>,
    version: Option<String>,
) -> Result<(String, u64)> {
    let issued = now_secs();
    let expires = issued + s.cfg.token_ttl.as_secs().max(1);
    let claims = Claims {
        op,
        sha256,
        issued,
        expires,
        max_size,
        id: rand::random(),
        minter: caller.minter(),
        version,
    };
    Ok((auth.issue(&claims)?, expires))
}

/// Is a current (not deleted) version of `hash` stored?
pub(super) async fn file_exists(s: &NativeState, hash: &str) -> Result<bool> {
    match s.engine.head_object(s.bucket(), hash, None).await {
        Ok(_) => Ok(true),
        Err(EngineError::NoSuchKey { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The token's hash as hex; empty content is refused.
pub(super) fn token_hash(claims: &Claims) -> Result<String> {
    let hash = hex::encode(claims.sha256);
    if hash == EMPTY_SHA256 {
        return Err(ApiError::EmptyFile);
    }
    Ok(hash)
}

/// `POST /upload/single` (token): form field `file` (or a raw body),
/// streamed into the engine; its SHA-256 must be the token's hash.
pub(super) async fn handle_single(
    State(s): State<NativeState>,
    p: Params,
    req: Request,
) -> Result<Json<Value>> {
    let claims = s.token(req.headers(), None, Operation::Upload).await?;
    check_hash_param(&claims, p.get("hash"))?;
    let hash = token_hash(&claims)?;
    let limit = claims.max_size.unwrap_or(s.engine.config().max_object_size);
    let (inc, body) = incoming(req, limit).await?;
    let name = p
        .get("file_name")
        .map(str::to_owned)
        .or_else(|| inc.file_name.clone())
        .unwrap_or_else(|| hash.clone());
    let mut meta = file_meta(&name, inc.content_type.as_deref())?;
    set_uploaded_by(&mut meta, &claims);
    let opts = PutOptions {
        meta,
        sha256: Some(claims.sha256),
        ..PutOptions::default()
    };
    let info = match s.engine.put_object(s.bucket(), &hash, body, opts).await {
        Ok(info) => info,
        Err(e) => return Err(inc.explain(e).await),
    };
    inc.finish().await?;
    Ok(Json(stored_json(
        &hash,
        &name,
        info.size,
        &info.version_id,
        false,
    )))
}

pub(super) fn stored_json(
    hash: &str,
    name: &str,
    size: u64,
    version_id: &str,
    instant: bool,
) -> Value {
    json!({
        "status": "success",
        "hash": hash,
        "name": name,
        "size": size,
        "version_id": version_id,
        "instant": instant,
    })
}

/// Finish without chunks: a new version of stored content (no data written).
pub(super) async fn instant(
    s: &NativeState,
    hash: &str,
    name: &str,
    mut meta: ObjectMeta,
) -> Result<Json<Value>> {
    let current = match s.engine.head_object(s.bucket(), hash, None).await {
        Ok(info) => info,
        Err(EngineError::NoSuchKey { .. }) => return Err(ApiError::NoChunks),
        Err(e) => return Err(e.into()),
    };
    if meta.content_type.is_none() {
        meta.content_type = current.meta.content_type;
    }
    let info = s
        .engine
        .copy_object(s.bucket(), hash, None, s.bucket(), hash, Some(meta))
        .await?;
    Ok(Json(stored_json(
        hash,
        name,
        info.size,
        &info.version_id,
        true,
    )))
}
