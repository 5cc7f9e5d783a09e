//! Uploads: tokens (with instant upload), single upload, resumable chunks,
//! session status and finish.
//!
//! A chunk session is an engine multipart upload of key = hash whose upload
//! id is the hash itself, so every node (and every token for that hash)
//! finds the same session; chunk N is part N+1. Sessions live in the
//! metadata store (they survive restarts) until finish, or until the
//! engine's GC aborts them `upload_expiry` after their first chunk.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use liuma_engine::{CompleteOptions, Error as EngineError, ObjectMeta, PartOptions, PutOptions};
use serde_json::{Value, json};

use super::backend::Scope;
use super::body::incoming;
use super::error::{ApiError, Result};
use super::token::{Claims, Operation, now_secs};
use super::{
    BackendReq, Caller, EMPTY_SHA256, MAX_CHUNK, NativeState, Params, check_hash_param, file_meta,
    rfc3339, set_uploaded_by,
};

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
    let (token, expires) = issue(&s, &auth, &caller, Operation::Upload, bytes, max_size)?;
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
    auth: &super::token::AuthState,
    caller: &Caller,
    op: Operation,
    sha256: [u8; 32],
    max_size: Option<u64>,
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
fn token_hash(claims: &Claims) -> Result<String> {
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

fn stored_json(hash: &str, name: &str, size: u64, version_id: &str, instant: bool) -> Value {
    json!({
        "status": "success",
        "hash": hash,
        "name": name,
        "size": size,
        "version_id": version_id,
        "instant": instant,
    })
}

/// Parse `chunk` (or the 1.0 spelling `chuck`): an integer in 0..=9999.
fn chunk_number(p: &Params) -> Result<u32> {
    let raw = p
        .get("chunk")
        .or_else(|| p.get("chuck"))
        .ok_or(ApiError::InvalidChunkNumber { max: MAX_CHUNK })?;
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n <= MAX_CHUNK)
        .ok_or(ApiError::InvalidChunkNumber { max: MAX_CHUNK })
}

/// `POST /upload/chunk?chunk=N` and `/upload/chuck?chuck=N` (token): store
/// (or replace) chunk N of the session of the token's hash.
pub(super) async fn handle_chunk(
    State(s): State<NativeState>,
    p: Params,
    req: Request,
) -> Result<Json<Value>> {
    let claims = s.token(req.headers(), None, Operation::Upload).await?;
    check_hash_param(&claims, p.get("hash"))?;
    let n = chunk_number(&p)?;
    let hash = token_hash(&claims)?;
    let limit = s
        .cfg
        .max_chunk_size
        .min(claims.max_size.unwrap_or(u64::MAX));
    s.engine
        .create_multipart_with_id(s.bucket(), &hash, &hash, ObjectMeta::default())
        .await?;
    let (inc, body) = incoming(req, limit).await?;
    let part = match s
        .engine
        .upload_part(
            s.bucket(),
            &hash,
            &hash,
            n + 1,
            body,
            PartOptions::default(),
        )
        .await
    {
        Ok(part) => part,
        Err(e) => return Err(inc.explain(e).await),
    };
    inc.finish().await?;
    Ok(Json(json!({
        "status": "success",
        "chunk": n,
        "size": part.size,
        "sha256": part.sha256,
    })))
}

/// The chunks stored for `hash` (empty when there is no session).
async fn chunks(s: &NativeState, hash: &str) -> Result<Vec<liuma_engine::PartInfo>> {
    match s
        .engine
        .list_parts(s.bucket(), hash, hash, 0, MAX_CHUNK as usize + 1)
        .await
    {
        Ok((parts, _)) => Ok(parts),
        Err(EngineError::NoSuchUpload { .. }) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// `GET /upload/status` (token): the chunks received so far.
pub(super) async fn handle_status(
    State(s): State<NativeState>,
    headers: HeaderMap,
    p: Params,
) -> Result<Json<Value>> {
    let claims = s.token(&headers, None, Operation::Upload).await?;
    check_hash_param(&claims, p.get("hash"))?;
    let hash = token_hash(&claims)?;
    let session = match s.engine.get_upload(s.bucket(), &hash, &hash).await {
        Ok(u) => Some(u),
        Err(EngineError::NoSuchUpload { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let parts = if session.is_some() {
        chunks(&s, &hash).await?
    } else {
        Vec::new()
    };
    let expiry_ms = u64::try_from(s.cfg.upload_expiry.as_millis()).unwrap_or(u64::MAX);
    let next_missing = (0u32..)
        .find(|i| !parts.iter().any(|p| p.part_number == i + 1))
        .unwrap_or(0);
    let list: Vec<Value> = parts
        .iter()
        .map(|p| {
            json!({
                "chunk": p.part_number - 1,
                "size": p.size,
                "sha256": p.sha256,
                "uploaded": rfc3339(p.last_modified_ms),
            })
        })
        .collect();
    Ok(Json(json!({
        "status": "success",
        "hash": hash,
        "exists": super::upload::file_exists(&s, &hash).await?,
        "session": session.is_some(),
        "created": session.as_ref().map(|u| rfc3339(u.created_ms)),
        "expires": session.as_ref().map(|u| rfc3339(u.created_ms.saturating_add(expiry_ms))),
        "chunks": list,
        "received_bytes": parts.iter().map(|p| p.size).sum::<u64>(),
        "next_missing": next_missing,
    })))
}

/// `GET /upload/finish?file_name=NAME` (token + backend, scope `finish`): assemble the
/// chunks in order, verify the SHA-256, store. With no chunks but the
/// content already stored (instant upload), record a new version under the
/// new name without any data.
pub(super) async fn handle_finish(
    State(s): State<NativeState>,
    req: BackendReq,
    p: Params,
) -> Result<Json<Value>> {
    s.backend(&req, b"", Scope::Finish).await?;
    let claims = s.token(&req.headers, None, Operation::Upload).await?;
    check_hash_param(&claims, p.get("hash"))?;
    let hash = token_hash(&claims)?;
    let name = p.get("file_name").ok_or(ApiError::InvalidFileName {
        reason: "file_name is required",
    })?;
    let mut meta = file_meta(name, p.get("content_type"))?;
    set_uploaded_by(&mut meta, &claims);
    let parts = chunks(&s, &hash).await?;
    if parts.is_empty() {
        return instant(&s, &hash, name, meta).await;
    }
    if let Some(gap) = (0..parts.len()).find(|&i| parts[i].part_number as usize != i + 1) {
        return Err(ApiError::MissingChunk {
            chunk: u32::try_from(gap).unwrap_or(MAX_CHUNK),
        });
    }
    let total: u64 = parts.iter().map(|p| p.size).sum();
    if total == 0 {
        return Err(ApiError::EmptyFile);
    }
    if let Some(max) = claims.max_size
        && total > max
    {
        return Err(ApiError::TooLarge { max });
    }
    let list: Vec<(u32, String)> = parts
        .iter()
        .map(|p| (p.part_number, p.etag.clone()))
        .collect();
    let opts = CompleteOptions {
        min_part_size: Some(0),
        sha256: Some(claims.sha256),
        meta: Some(meta),
        ..CompleteOptions::default()
    };
    let info = s
        .engine
        .complete_multipart_with(s.bucket(), &hash, &hash, &list, opts)
        .await?;
    Ok(Json(stored_json(
        &hash,
        name,
        info.size,
        &info.version_id,
        false,
    )))
}

/// Finish without chunks: a new version of stored content (no data written).
async fn instant(
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
