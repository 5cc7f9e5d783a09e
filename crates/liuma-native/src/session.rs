//! Chunk sessions that heal themselves: chunks, status, finish and abort.
//!
//! A session is an engine upload of key = hash whose id is the hash
//! itself (every node and every token of the hash finds it); chunk index
//! `i` is part `i + 1`. Clients number chunks from `chunk_base` (0, or 1
//! for liuma 1.0 clients that counted from 1). The engine keeps with the
//! session the chunk size `S` and file size `T` the first chunk announcing
//! them fixed, the bytes it holds, and who it is charged to.
//!
//! - A chunk that does not fit the session (another `S` or `T`, an index
//!   past the end, a length its index cannot have, a SHA-256 other than
//!   the one it announces) is refused before it is stored: it cannot
//!   poison the session.
//! - The session's bytes are bounded by the token's `size`, checked in the
//!   transaction that stores the chunk; the credential's quota of open
//!   sessions and parked bytes when a chunk arrives.
//! - Finish takes chunks `0..n` (`n` from `T` and `S`, else up to the first
//!   gap or short chunk), ignores and frees any beyond, names the missing
//!   chunk or both digests when it fails, and lets a stored file win over
//!   a stale session (instant upload; the session is dropped).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use futures_util::StreamExt;
use liuma_engine::{
    ByteStream, CompleteOptions, Error as EngineError, ObjectMeta, PartInfo, PartOptions,
    UploadSession,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::backend::Scope;
use crate::body::incoming;
use crate::clock::rfc3339;
use crate::config::MAX_CHUNK;
use crate::error::{ApiError, Result};
use crate::file_meta::{file_meta, set_uploaded_by};
use crate::quota::{Usage, owner};
use crate::state::{BackendReq, NativeState, Params, check_hash_param};
use crate::token::{Claims, Operation};
use crate::upload::{file_exists, instant, stored_json, token_hash};

/// Client chunk number ↔ session index.
#[derive(Clone, Copy)]
struct Numbering {
    base: u32,
}

impl Numbering {
    fn of(s: &NativeState) -> Numbering {
        Numbering {
            base: s.cfg.chunk_base,
        }
    }

    /// Parse `chunk` (or the 1.0 spelling `chuck`) into an index 0..=9999.
    fn index(self, p: &Params) -> Result<u32> {
        p.get("chunk")
            .or_else(|| p.get("chuck"))
            .and_then(|raw| raw.trim().parse::<u32>().ok())
            .and_then(|n| n.checked_sub(self.base))
            .filter(|i| *i <= MAX_CHUNK)
            .ok_or(ApiError::InvalidChunkNumber {
                min: self.base,
                max: MAX_CHUNK + self.base,
            })
    }

    /// The client's number of index `i`.
    fn show(self, i: u64) -> u64 {
        i + u64::from(self.base)
    }
}

/// A positive integer query parameter, if present.
fn positive(p: &Params, name: &str, what: &'static str) -> Result<Option<u64>> {
    match p.get(name) {
        None | Some("") => Ok(None),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(ApiError::InvalidArgument { what }),
        },
    }
}

/// What a chunk request announces.
struct Announced {
    chunk_size: Option<u64>,
    file_size: Option<u64>,
    sha256: Option<[u8; 32]>,
}

impl Announced {
    fn parse(p: &Params, max_chunk: u64) -> Result<Announced> {
        let chunk_size = positive(p, "chunk_size", "chunk_size must be a positive integer")?;
        let file_size = positive(p, "size", "size must be a positive integer (bytes)")?;
        if let Some(s) = chunk_size
            && s > max_chunk
        {
            return Err(ApiError::TooLarge { max: max_chunk });
        }
        if let (Some(s), Some(t)) = (chunk_size, file_size)
            && t.div_ceil(s) > u64::from(MAX_CHUNK) + 1
        {
            return Err(ApiError::InvalidArgument {
                what: "size / chunk_size is more than 10000 chunks",
            });
        }
        let sha256 = match p.get("sha256") {
            None | Some("") => None,
            Some(h) => {
                Some(
                    crate::token::parse_hash(h).map_err(|_| ApiError::InvalidArgument {
                        what: "sha256 must be the chunk's SHA-256 as 64 hex digits",
                    })?,
                )
            }
        };
        Ok(Announced {
            chunk_size,
            file_size,
            sha256,
        })
    }
}

/// The length chunk `i` must have (`exact`) or may have at most (`max`),
/// from the session's layout; refusals for a chunk that cannot belong.
fn expected_len(
    session: &UploadSession,
    i: u32,
    num: Numbering,
) -> Result<(Option<u64>, Option<u64>)> {
    match (session.part_size, session.total_size) {
        (Some(s), Some(t)) => {
            let count = t.div_ceil(s);
            if u64::from(i) >= count {
                return Err(ApiError::ChunkOutOfRange {
                    chunk: num.show(u64::from(i)),
                    last: num.show(count - 1),
                });
            }
            let exact = if u64::from(i) + 1 < count {
                s
            } else {
                t - (count - 1) * s
            };
            Ok((Some(exact), None))
        }
        (Some(s), None) => Ok((None, Some(s))),
        (None, Some(t)) => Ok((None, Some(t))),
        (None, None) => Ok((None, None)),
    }
}

/// Why a verified chunk body failed, for the handler to report.
type Verdict = Arc<Mutex<Option<ApiError>>>;

/// Pass `body` through, checking its length against `exact` / `max` and
/// its SHA-256 against `sha256`; a failed check ends the stream with an
/// error (so the engine stores nothing) and leaves the reason in `verdict`.
fn verified(
    body: ByteStream,
    exact: Option<u64>,
    max: Option<u64>,
    sha256: Option<[u8; 32]>,
    verdict: Verdict,
    session_chunk_size: Option<u64>,
) -> ByteStream {
    struct St {
        inner: ByteStream,
        seen: u64,
        sha: Option<Sha256>,
        done: bool,
    }
    let fail = move |v: &Verdict, e: ApiError| -> std::io::Result<bytes::Bytes> {
        if let Ok(mut g) = v.lock() {
            *g = Some(e);
        }
        Err(std::io::Error::other("the chunk does not fit the session"))
    };
    let size_err = move |got: Option<u64>| ApiError::ChunkSizeMismatch {
        what: match (exact, got) {
            (Some(e), Some(g)) => format!("this chunk must be {e} bytes, not {g}"),
            (Some(e), None) => format!("this chunk must be {e} bytes"),
            _ => format!(
                "a chunk of this session is at most {} bytes",
                max.unwrap_or(0)
            ),
        },
        expected_chunk_size: session_chunk_size,
        expected_size: exact.or(max),
    };
    let st = St {
        inner: body,
        seen: 0,
        sha: sha256.map(|_| Sha256::new()),
        done: false,
    };
    let limit = exact.or(max);
    Box::pin(futures_util::stream::unfold(st, move |mut st| {
        let verdict = verdict.clone();
        async move {
            if st.done {
                return None;
            }
            match st.inner.next().await {
                Some(Ok(b)) => {
                    st.seen += b.len() as u64;
                    if limit.is_some_and(|l| st.seen > l) {
                        st.done = true;
                        return Some((fail(&verdict, size_err(None)), st));
                    }
                    if let Some(h) = st.sha.as_mut() {
                        h.update(&b);
                    }
                    Some((Ok(b), st))
                }
                Some(Err(e)) => {
                    st.done = true;
                    Some((Err(e), st))
                }
                None => {
                    st.done = true;
                    if exact.is_some_and(|e| e != st.seen) {
                        return Some((fail(&verdict, size_err(Some(st.seen))), st));
                    }
                    if let (Some(h), Some(want)) = (st.sha.take(), sha256) {
                        let got: [u8; 32] = h.finalize().into();
                        if got != want {
                            let e = ApiError::DigestMismatch {
                                what: "the chunk".to_owned(),
                                expected: hex::encode(want),
                                received: hex::encode(got),
                            };
                            return Some((fail(&verdict, e), st));
                        }
                    }
                    None
                }
            }
        }
    }))
}

/// The session of `hash`, opened (charged to the token's credential, after
/// its quota of open sessions) when there is none.
async fn open(
    s: &NativeState,
    hash: &str,
    claims: &Claims,
    a: &Announced,
) -> Result<UploadSession> {
    match s.engine.get_upload(s.bucket(), hash, hash).await {
        Ok(u) => {
            return match u.session {
                Some(x) => Ok(x),
                // opened before sessions were tracked: count its chunks now,
                // so the token's size bounds it from here on
                None => Ok(s
                    .engine
                    .update_session(s.bucket(), hash, hash, |_| Ok(()))
                    .await?),
            };
        }
        Err(EngineError::NoSuchUpload { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let usage = Usage::of(s, claims, true).await?;
    usage.check_new_session()?;
    let session = UploadSession {
        part_size: a.chunk_size,
        total_size: a.file_size,
        stored_bytes: 0,
        owner: owner(claims),
    };
    s.engine
        .create_session(
            s.bucket(),
            hash,
            hash,
            ObjectMeta::default(),
            Some(session.clone()),
        )
        .await?;
    Ok(session)
}

/// Fix the session's chunk and file size from the first chunk announcing
/// them; a chunk announcing others is refused (409), nothing changed.
async fn fit(
    s: &NativeState,
    hash: &str,
    mut session: UploadSession,
    a: &Announced,
) -> Result<UploadSession> {
    let unset = (a.chunk_size.is_some() && session.part_size.is_none())
        || (a.file_size.is_some() && session.total_size.is_none());
    if unset {
        let (cs, fs) = (a.chunk_size, a.file_size);
        session = s
            .engine
            .update_session(s.bucket(), hash, hash, |x| {
                x.part_size = x.part_size.or(cs);
                x.total_size = x.total_size.or(fs);
                Ok(())
            })
            .await?;
    }
    if let (Some(sent), Some(fixed)) = (a.chunk_size, session.part_size)
        && sent != fixed
    {
        return Err(ApiError::ChunkSizeMismatch {
            what: format!("this session's chunk size is {fixed} bytes, not {sent}"),
            expected_chunk_size: Some(fixed),
            expected_size: None,
        });
    }
    if let (Some(sent), Some(fixed)) = (a.file_size, session.total_size)
        && sent != fixed
    {
        return Err(ApiError::FileSizeMismatch {
            expected_size: fixed,
        });
    }
    Ok(session)
}

/// `POST /upload/chunk?chunk=N[&chunk_size=S][&size=T][&sha256=C]` and
/// `/upload/chuck?chuck=N` (token): store (or replace) chunk N.
pub(super) async fn handle_chunk(
    State(s): State<NativeState>,
    p: Params,
    req: Request,
) -> Result<Json<Value>> {
    let claims = s.token(req.headers(), None, Operation::Upload).await?;
    check_hash_param(&claims, p.get("hash"))?;
    let num = Numbering::of(&s);
    let i = num.index(&p)?;
    let hash = token_hash(&claims)?;
    let a = Announced::parse(&p, s.cfg.max_chunk_size)?;
    let token_max = claims.max_size.unwrap_or(s.engine.config().max_object_size);
    if let Some(t) = a.file_size
        && t > token_max
    {
        return Err(ApiError::TooLarge { max: token_max });
    }
    let session = open(&s, &hash, &claims, &a).await?;
    let session = fit(&s, &hash, session, &a).await?;
    let (exact, max) = if a.chunk_size.is_some() || a.file_size.is_some() {
        expected_len(&session, i, num)?
    } else {
        (None, None)
    };
    let usage = Usage::of(&s, &claims, false).await?;
    usage.check_bytes(1)?;
    let limit = s.cfg.max_chunk_size.min(token_max).min(usage.room());
    // the quota, not the chunk limit, is what cuts an over-long body
    let quota_cut = usage.room() < s.cfg.max_chunk_size.min(token_max);
    let (inc, body) = incoming(req, limit).await?;
    let verdict: Verdict = Arc::default();
    let body = verified(
        body,
        exact,
        max,
        a.sha256,
        verdict.clone(),
        session.part_size,
    );
    let stored = s
        .engine
        .upload_session_part(
            s.bucket(),
            &hash,
            &hash,
            i + 1,
            body,
            PartOptions::default(),
            Some(token_max),
        )
        .await;
    let part = match stored {
        Ok(part) => part,
        Err(e) => {
            if let Some(v) = verdict.lock().ok().and_then(|mut g| g.take()) {
                return Err(v);
            }
            if quota_cut && inc.too_large.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(ApiError::QuotaExceeded {
                    parked: usage.parked.saturating_add(limit).saturating_add(1),
                    max: usage.max_parked.unwrap_or(0),
                });
            }
            return Err(match e {
                EngineError::EntityTooLarge { .. } => ApiError::TooLarge { max: token_max },
                other => inc.explain(other).await,
            });
        }
    };
    inc.finish().await?;
    Ok(Json(json!({
        "status": "success",
        "chunk": num.show(u64::from(i)),
        "size": part.size,
        "sha256": part.sha256,
    })))
}

/// The chunks stored for `hash` by index (empty when there is no session).
async fn chunks(s: &NativeState, hash: &str) -> Result<BTreeMap<u32, PartInfo>> {
    match s
        .engine
        .list_parts(s.bucket(), hash, hash, 0, MAX_CHUNK as usize + 1)
        .await
    {
        Ok((parts, _)) => Ok(parts.into_iter().map(|p| (p.part_number - 1, p)).collect()),
        Err(EngineError::NoSuchUpload { .. }) => Ok(BTreeMap::new()),
        Err(e) => Err(e.into()),
    }
}

/// `GET /upload/status` (token): the session, its layout and its chunks.
pub(super) async fn handle_status(
    State(s): State<NativeState>,
    headers: HeaderMap,
    p: Params,
) -> Result<Json<Value>> {
    let claims = s.token(&headers, None, Operation::Upload).await?;
    check_hash_param(&claims, p.get("hash"))?;
    let hash = token_hash(&claims)?;
    let num = Numbering::of(&s);
    let session = match s.engine.get_upload(s.bucket(), &hash, &hash).await {
        Ok(u) => Some(u),
        Err(EngineError::NoSuchUpload { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let parts = if session.is_some() {
        chunks(&s, &hash).await?
    } else {
        BTreeMap::new()
    };
    let expiry_ms = u64::try_from(s.cfg.upload_expiry.as_millis()).unwrap_or(u64::MAX);
    let next_missing = (0u32..).find(|i| !parts.contains_key(i)).unwrap_or(0);
    let list: Vec<Value> = parts
        .iter()
        .map(|(i, p)| {
            json!({
                "chunk": num.show(u64::from(*i)),
                "size": p.size,
                "sha256": p.sha256,
                "uploaded": rfc3339(p.last_modified_ms),
            })
        })
        .collect();
    let layout = session.as_ref().and_then(|u| u.session.clone());
    Ok(Json(json!({
        "status": "success",
        "hash": hash,
        "exists": file_exists(&s, &hash).await?,
        "session": session.is_some(),
        "created": session.as_ref().map(|u| rfc3339(u.created_ms)),
        "expires": session.as_ref().map(|u| rfc3339(u.created_ms.saturating_add(expiry_ms))),
        "chunk_size": layout.as_ref().and_then(|l| l.part_size),
        "file_size": layout.as_ref().and_then(|l| l.total_size),
        "chunk_base": num.base,
        "chunks": list,
        "received_bytes": parts.values().map(|p| p.size).sum::<u64>(),
        "next_missing": num.show(u64::from(next_missing)),
    })))
}

/// Drop the session of `hash`; how many chunks it held (None: no session).
async fn drop_session(s: &NativeState, hash: &str) -> Result<Option<usize>> {
    let n = chunks(s, hash).await?.len();
    match s.engine.abort_multipart(s.bucket(), hash, hash).await {
        Ok(()) => Ok(Some(n)),
        Err(EngineError::NoSuchUpload { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /upload` (token + backend, scope `finish`): abort the session,
/// freeing its chunks. Idempotent.
pub(super) async fn handle_abort(
    State(s): State<NativeState>,
    req: BackendReq,
    p: Params,
) -> Result<Json<Value>> {
    s.backend(&req, b"", Scope::Finish).await?;
    let claims = s.token(&req.headers, None, Operation::Upload).await?;
    check_hash_param(&claims, p.get("hash"))?;
    let hash = token_hash(&claims)?;
    let dropped = drop_session(&s, &hash).await?;
    Ok(Json(json!({
        "status": "success",
        "hash": hash,
        "aborted": dropped.is_some(),
        "chunks": dropped.unwrap_or(0),
    })))
}

/// Which chunks make the file: indexes `first..end`, and whether the file
/// ended at a gap with every chunk full-sized (it may lack its last chunk).
/// `first` is 0, or 1 for a session numbered from 1 by a client of a
/// server numbering from 0 (see `assemble`).
fn file_chunks(
    parts: &BTreeMap<u32, PartInfo>,
    session: Option<&UploadSession>,
    num: Numbering,
    first: u32,
) -> Result<(u32, bool)> {
    let part_size = session.and_then(|x| x.part_size);
    if let (Some(ps), Some(t)) = (part_size, session.and_then(|x| x.total_size)) {
        let count = u32::try_from(t.div_ceil(ps)).unwrap_or(u32::MAX);
        if let Some(k) = (0..count).find(|k| !parts.contains_key(k)) {
            return Err(ApiError::MissingChunk {
                chunk: num.show(u64::from(k)),
            });
        }
        return Ok((count, false));
    }
    // The chunk size as announced, else as the first chunk shows it (every
    // chunk but the last has it).
    let size = part_size.or_else(|| parts.get(&first).map(|p| p.size));
    let mut end = first;
    loop {
        match parts.get(&end) {
            None => break,
            Some(p) if size.is_some_and(|sz| p.size < sz) => return Ok((end + 1, false)),
            Some(_) => end += 1,
        }
        if end > MAX_CHUNK {
            return Ok((end, false));
        }
    }
    if end == first {
        return Err(ApiError::MissingChunk {
            chunk: num.show(u64::from(first)),
        });
    }
    Ok((end, true))
}

/// `GET /upload/finish?file_name=NAME` (token + backend, scope `finish`).
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
    // A stored file wins over a session (a stale one, or a duplicate):
    // instant upload, and the session's chunks are freed.
    if file_exists(&s, &hash).await? {
        drop_session(&s, &hash).await?;
        return instant(&s, &hash, name, meta).await;
    }
    match assemble(&s, &claims, &hash, name, meta.clone()).await {
        Ok(done) => Ok(done),
        // Another finish may have stored the file meanwhile (and freed
        // the chunks this one was reading): then this one is an instant
        // upload of it, not an error about chunks that were just freed.
        Err(
            e @ (ApiError::MissingChunk { .. }
            | ApiError::NoChunks
            | ApiError::DigestMismatch { .. }
            | ApiError::SessionChanged { .. }
            | ApiError::Engine(
                EngineError::InvalidPart { .. } | EngineError::NoSuchUpload { .. },
            )),
        ) => {
            if file_exists(&s, &hash).await? {
                return instant(&s, &hash, name, meta).await;
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Finish from the session's chunks.
async fn assemble(
    s: &NativeState,
    claims: &Claims,
    hash: &str,
    name: &str,
    meta: ObjectMeta,
) -> Result<Json<Value>> {
    let num = Numbering::of(s);
    let parts = chunks(s, hash).await?;
    if parts.is_empty() {
        return Err(ApiError::NoChunks);
    }
    let session = match s.engine.get_upload(s.bucket(), hash, hash).await {
        Ok(u) => u.session,
        Err(EngineError::NoSuchUpload { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    // A liuma 1.0 client numbering from 1 on a server numbering from 0: no
    // chunk 0, a chunk 1, no file size announced. Its chunks 1..n are tried
    // as the file; the SHA-256 decides (a mismatch is "chunk 0 missing").
    let from_one = num.base == 0
        && !parts.contains_key(&0)
        && parts.contains_key(&1)
        && session.as_ref().and_then(|x| x.total_size).is_none();
    let first = u32::from(from_one);
    let (end, open_end) = file_chunks(&parts, session.as_ref(), num, first)?;
    let chosen: Vec<&PartInfo> = (first..end).filter_map(|k| parts.get(&k)).collect();
    let total: u64 = chosen.iter().map(|p| p.size).sum();
    if total == 0 {
        return Err(ApiError::EmptyFile);
    }
    if let Some(max) = claims.max_size
        && total > max
    {
        return Err(ApiError::TooLarge { max });
    }
    let list: Vec<(u32, String)> = chosen
        .iter()
        .map(|p| (p.part_number, p.etag.clone()))
        .collect();
    let opts = CompleteOptions {
        min_part_size: Some(0),
        sha256: Some(claims.sha256),
        meta: Some(meta),
        ..CompleteOptions::default()
    };
    match s
        .engine
        .complete_multipart_with(s.bucket(), hash, hash, &list, opts)
        .await
    {
        Ok(info) => Ok(Json(stored_json(
            hash,
            name,
            info.size,
            &info.version_id,
            false,
        ))),
        Err(EngineError::BadDigest { .. }) if from_one => {
            Err(ApiError::MissingChunk { chunk: num.show(0) })
        }
        Err(EngineError::BadDigest { .. }) if open_end => Err(ApiError::MissingChunk {
            chunk: num.show(u64::from(end)),
        }),
        Err(EngineError::BadDigest { .. }) => {
            let numbers: Vec<u32> = list.iter().map(|(n, _)| *n).collect();
            let got = s
                .engine
                .parts_sha256(s.bucket(), hash, hash, &numbers)
                .await?;
            Err(ApiError::DigestMismatch {
                what: format!(
                    "the file made of chunks {} to {}",
                    num.show(u64::from(first)),
                    num.show(u64::from(end) - 1)
                ),
                expected: hash.to_owned(),
                received: hex::encode(got),
            })
        }
        Err(EngineError::NoSuchUpload { .. }) => Err(ApiError::SessionChanged {
            what: "the upload session was finished or aborted by another request meanwhile",
        }),
        Err(EngineError::InvalidPart { .. }) => Err(ApiError::SessionChanged {
            what: "a chunk was replaced while the file was being finished",
        }),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: u32, size: u64) -> (u32, PartInfo) {
        (
            n,
            PartInfo {
                part_number: n + 1,
                size,
                etag: String::new(),
                sha256: String::new(),
                last_modified_ms: 0,
                checksum: None,
            },
        )
    }

    const ZERO: Numbering = Numbering { base: 0 };

    #[test]
    fn the_file_ends_at_its_last_chunk_whatever_follows() {
        // chunks 0..4 (4 short) and a stray 9999: the file is 0..5
        let parts: BTreeMap<_, _> = [
            part(0, 10),
            part(1, 10),
            part(2, 10),
            part(3, 10),
            part(4, 3),
            part(9999, 10),
        ]
        .into();
        assert_eq!(file_chunks(&parts, None, ZERO, 0).unwrap(), (5, false));
        // all full-sized, then a gap: it may lack its last chunk
        let parts: BTreeMap<_, _> = [part(0, 10), part(1, 10), part(7, 10)].into();
        assert_eq!(file_chunks(&parts, None, ZERO, 0).unwrap(), (2, true));
        // size known: every chunk of the file must be there
        let sess = UploadSession {
            part_size: Some(10),
            total_size: Some(25),
            ..UploadSession::default()
        };
        assert!(matches!(
            file_chunks(&parts, Some(&sess), ZERO, 0),
            Err(ApiError::MissingChunk { chunk: 2 })
        ));
        let parts: BTreeMap<_, _> = [part(1, 10), part(2, 4)].into();
        assert_eq!(file_chunks(&parts, None, ZERO, 1).unwrap(), (3, false));
        let parts: BTreeMap<_, _> = [part(1, 10)].into();
        assert!(matches!(
            file_chunks(&parts, None, Numbering { base: 1 }, 0),
            Err(ApiError::MissingChunk { chunk: 1 })
        ));
    }

    #[test]
    fn chunk_lengths_from_the_layout() {
        let sess = UploadSession {
            part_size: Some(10),
            total_size: Some(25),
            ..UploadSession::default()
        };
        assert_eq!(expected_len(&sess, 0, ZERO).unwrap(), (Some(10), None));
        assert_eq!(expected_len(&sess, 2, ZERO).unwrap(), (Some(5), None));
        assert!(matches!(
            expected_len(&sess, 3, ZERO),
            Err(ApiError::ChunkOutOfRange { chunk: 3, last: 2 })
        ));
        let only_s = UploadSession {
            part_size: Some(10),
            ..UploadSession::default()
        };
        assert_eq!(expected_len(&only_s, 9, ZERO).unwrap(), (None, Some(10)));
    }
}
