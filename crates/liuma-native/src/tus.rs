//! A tus 1.0.0 endpoint (<https://tus.io/protocols/resumable-upload>) with
//! the creation, termination and checksum extensions, under the native
//! token scheme: every request carries the upload token in the `token`
//! header (tus-js-client / Uppy: `headers: { token }`).
//!
//! An upload is an engine multipart upload of key = the token's hash with a
//! random id; its URL is `/tus/<hash>-<upload id>`. Each PATCH becomes the
//! next part, so the offset is the sum of the stored parts; an interrupted
//! PATCH stores nothing and the client resumes from the last offset. When
//! the offset reaches `Upload-Length` the parts are assembled, the SHA-256
//! is checked against the token's hash (on mismatch the upload is deleted
//! and the PATCH fails with `BadDigest`) and the file is stored.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{head, post};
use bytes::Bytes;
use futures_util::Stream;
use liuma_engine::{ByteStream, CompleteOptions, Error as EngineError, ObjectMeta, PartOptions};
use sha1::Digest;

use crate::body::incoming;
use crate::error::{ApiError, Result};
use crate::file_meta::{EMPTY_SHA256, file_meta, set_uploaded_by, stored_name};
use crate::state::NativeState;
use crate::token::{Claims, Operation};

const TUS_VERSION: &str = "1.0.0";
const META_LENGTH: &str = "tus-length";
const META_TYPE: &str = "tus-type";

/// The tus routes (`/tus/`, `/tus/{id}`), every response marked `Tus-Resumable`.
pub(super) fn router() -> Router<NativeState> {
    Router::new()
        .route("/tus", post(handle_create).options(handle_options))
        .route("/tus/", post(handle_create).options(handle_options))
        .route(
            "/tus/{id}",
            head(handle_head)
                .patch(handle_patch)
                .delete(handle_terminate)
                .options(handle_options),
        )
        .layer(axum::middleware::map_response(
            |mut r: Response| async move {
                r.headers_mut()
                    .insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
                r
            },
        ))
}

async fn handle_options(State(s): State<NativeState>) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert(
        "tus-extension",
        HeaderValue::from_static("creation,termination,checksum"),
    );
    h.insert(
        "tus-checksum-algorithm",
        HeaderValue::from_static("sha1,sha256"),
    );
    h.insert(
        "tus-max-size",
        HeaderValue::from(s.engine.config().max_object_size),
    );
    r
}

/// Check `Tus-Resumable` and the upload token; return the claims and hash.
async fn auth(s: &NativeState, headers: &HeaderMap) -> Result<(Claims, String)> {
    let version = headers.get("tus-resumable").and_then(|v| v.to_str().ok());
    if version != Some(TUS_VERSION) {
        return Err(ApiError::UnsupportedTusVersion);
    }
    let claims = s.token(headers, None, Operation::Upload).await?;
    let hash = hex::encode(claims.sha256);
    if hash == EMPTY_SHA256 {
        return Err(ApiError::EmptyFile);
    }
    Ok((claims, hash))
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    let v = headers.get(name)?.to_str().ok()?.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// Decode `Upload-Metadata`: comma-separated `key base64(value)` pairs.
fn parse_metadata(v: &str) -> Result<Vec<(String, String)>> {
    let bad = || ApiError::InvalidArgument {
        what: "Upload-Metadata must be comma-separated `key base64value` pairs",
    };
    let mut out = Vec::new();
    for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, val) = pair.split_once(' ').unwrap_or((pair, ""));
        let raw = base64_simd::STANDARD
            .decode_to_vec(val.trim().as_bytes())
            .map_err(|_| bad())?;
        out.push((k.to_owned(), String::from_utf8(raw).map_err(|_| bad())?));
    }
    Ok(out)
}

/// `POST /tus/`: create an upload of `Upload-Length` bytes.
async fn handle_create(State(s): State<NativeState>, headers: HeaderMap) -> Result<Response> {
    let (claims, hash) = auth(&s, &headers).await?;
    if headers.contains_key("upload-defer-length") {
        return Err(ApiError::InvalidArgument {
            what: "Upload-Defer-Length is not supported: send Upload-Length",
        });
    }
    let length = header_u64(&headers, "upload-length").ok_or(ApiError::InvalidArgument {
        what: "Upload-Length must be a non-negative integer",
    })?;
    if length == 0 {
        return Err(ApiError::EmptyFile);
    }
    let max = claims
        .max_size
        .unwrap_or(u64::MAX)
        .min(s.engine.config().max_object_size);
    if length > max {
        return Err(ApiError::TooLarge { max });
    }
    let metadata = match headers.get("upload-metadata").and_then(|v| v.to_str().ok()) {
        Some(v) => parse_metadata(v)?,
        None => Vec::new(),
    };
    let find = |keys: &[&str]| {
        metadata
            .iter()
            .find(|(k, _)| keys.contains(&k.as_str()))
            .map(|(_, v)| v.clone())
    };
    let name = find(&["filename", "name"]).unwrap_or_else(|| hash.clone());
    let content_type = find(&["filetype", "type", "contentType"]);
    let mut meta = file_meta(&name, content_type.as_deref())?;
    meta.user.insert(META_LENGTH.to_owned(), length.to_string());
    if let Some(ct) = meta.content_type.take() {
        meta.user.insert(META_TYPE.to_owned(), ct);
    }
    let upload_id = s.engine.create_multipart(s.bucket(), &hash, meta).await?;
    let mut r = StatusCode::CREATED.into_response();
    let location = HeaderValue::from_str(&format!("/tus/{hash}-{upload_id}"))
        .expect("hex is a valid header value");
    r.headers_mut().insert(header::LOCATION, location);
    Ok(r)
}

/// An upload's state: its hash, id, length, offset and next part number.
struct TusUpload {
    hash: String,
    id: String,
    length: u64,
    offset: u64,
    next_part: u32,
    meta: ObjectMeta,
}

async fn load(s: &NativeState, claims: &Claims, id: &str) -> Result<TusUpload> {
    let not_found = || {
        ApiError::Engine(EngineError::NoSuchUpload {
            upload_id: id.to_owned(),
        })
    };
    let (hash, upload_id) = id.split_once('-').ok_or_else(not_found)?;
    if hash != hex::encode(claims.sha256) {
        return Err(ApiError::TokenHashMismatch);
    }
    let info = s.engine.get_upload(s.bucket(), hash, upload_id).await?;
    let length = info
        .meta
        .user
        .get(META_LENGTH)
        .and_then(|l| l.parse().ok())
        .ok_or_else(not_found)?;
    let (parts, _) = s
        .engine
        .list_parts(s.bucket(), hash, upload_id, 0, 10_000)
        .await?;
    Ok(TusUpload {
        hash: hash.to_owned(),
        id: upload_id.to_owned(),
        length,
        offset: parts.iter().map(|p| p.size).sum(),
        next_part: parts.last().map_or(1, |p| p.part_number + 1),
        meta: info.meta,
    })
}

fn offset_response(status: StatusCode, up: &TusUpload) -> Response {
    let mut r = status.into_response();
    let h = r.headers_mut();
    h.insert("upload-offset", HeaderValue::from(up.offset));
    h.insert("upload-length", HeaderValue::from(up.length));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `HEAD /tus/{id}`: the current offset.
async fn handle_head(
    State(s): State<NativeState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let (claims, _) = auth(&s, &headers).await?;
    let up = load(&s, &claims, &id).await?;
    Ok(offset_response(StatusCode::OK, &up))
}

/// `DELETE /tus/{id}` (termination): the upload and its parts are dropped.
async fn handle_terminate(
    State(s): State<NativeState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let (claims, _) = auth(&s, &headers).await?;
    let up = load(&s, &claims, &id).await?;
    s.engine
        .abort_multipart(s.bucket(), &up.hash, &up.id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `Upload-Checksum: <algorithm> <base64 digest>`.
enum Checksum {
    Sha1([u8; 20]),
    Sha256([u8; 32]),
}

fn parse_checksum(headers: &HeaderMap) -> Result<Option<Checksum>> {
    let Some(v) = headers.get("upload-checksum") else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| ApiError::UnsupportedChecksum)?;
    let (alg, digest) = v
        .trim()
        .split_once(' ')
        .ok_or(ApiError::UnsupportedChecksum)?;
    let raw = base64_simd::STANDARD
        .decode_to_vec(digest.trim().as_bytes())
        .map_err(|_| ApiError::UnsupportedChecksum)?;
    match alg {
        "sha1" => Ok(Some(Checksum::Sha1(
            raw.try_into().map_err(|_| ApiError::UnsupportedChecksum)?,
        ))),
        "sha256" => Ok(Some(Checksum::Sha256(
            raw.try_into().map_err(|_| ApiError::UnsupportedChecksum)?,
        ))),
        _ => Err(ApiError::UnsupportedChecksum),
    }
}

/// `PATCH /tus/{id}`: append the body at `Upload-Offset`.
async fn handle_patch(
    State(s): State<NativeState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response> {
    let headers = req.headers().clone();
    let (claims, _) = auth(&s, &headers).await?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if ct != Some("application/offset+octet-stream") {
        return Err(ApiError::UnsupportedMediaType);
    }
    let mut up = load(&s, &claims, &id).await?;
    let sent = header_u64(&headers, "upload-offset").ok_or(ApiError::InvalidArgument {
        what: "Upload-Offset must be a non-negative integer",
    })?;
    if sent != up.offset {
        return Err(ApiError::OffsetMismatch {
            sent,
            current: up.offset,
        });
    }
    let checksum = parse_checksum(&headers)?;
    if header_u64(&headers, "content-length") == Some(0) {
        return Ok(offset_response(StatusCode::NO_CONTENT, &up));
    }
    let limit = (up.length - up.offset).min(s.cfg.max_chunk_size);
    let (inc, body) = incoming(req, limit).await?;
    let (body, opts) = match checksum {
        Some(Checksum::Sha256(d)) => (
            body,
            PartOptions {
                sha256: Some(d),
                ..PartOptions::default()
            },
        ),
        Some(Checksum::Sha1(d)) => (sha1_checked(body, d), PartOptions::default()),
        None => (body, PartOptions::default()),
    };
    let part = s
        .engine
        .upload_part(s.bucket(), &up.hash, &up.id, up.next_part, body, opts)
        .await;
    let part = match part {
        Ok(p) => p,
        Err(EngineError::BadDigest { .. }) => return Err(ApiError::ChecksumMismatch),
        Err(EngineError::Body(e)) if e.get_ref().is_some_and(|i| i.is::<Sha1Mismatch>()) => {
            return Err(ApiError::ChecksumMismatch);
        }
        Err(e) => return Err(inc.explain(e).await),
    };
    up.offset += part.size;
    if up.offset == up.length {
        complete(&s, &claims, &up).await?;
    }
    Ok(offset_response(StatusCode::NO_CONTENT, &up))
}

/// Assemble the parts into the file; a wrong SHA-256 deletes the upload.
async fn complete(s: &NativeState, claims: &Claims, up: &TusUpload) -> Result<()> {
    let (parts, _) = s
        .engine
        .list_parts(s.bucket(), &up.hash, &up.id, 0, 10_000)
        .await?;
    let list: Vec<(u32, String)> = parts
        .iter()
        .map(|p| (p.part_number, p.etag.clone()))
        .collect();
    let name = stored_name(&up.meta).unwrap_or_else(|| up.hash.clone());
    let mut meta = file_meta(&name, up.meta.user.get(META_TYPE).map(String::as_str))?;
    set_uploaded_by(&mut meta, claims);
    let opts = CompleteOptions {
        min_part_size: Some(0),
        sha256: Some(claims.sha256),
        meta: Some(meta),
        ..CompleteOptions::default()
    };
    match s
        .engine
        .complete_multipart_with(s.bucket(), &up.hash, &up.id, &list, opts)
        .await
    {
        Ok(_) => Ok(()),
        Err(e @ EngineError::BadDigest { .. }) => {
            // The content is not what the token names; it cannot be fixed by
            // resending a part, so the upload goes.
            let _ = s.engine.abort_multipart(s.bucket(), &up.hash, &up.id).await;
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// The body's SHA-1 is not its `Upload-Checksum`: carried typed inside the
/// body's `io::Error`, so the handler tells it from a client that went away.
#[derive(Debug, thiserror::Error)]
#[error("Upload-Checksum (sha1) mismatch")]
struct Sha1Mismatch;

/// Pass `body` through, hashing it with SHA-1; at its end, an error instead
/// of the end when the digest differs, so the engine commits nothing.
fn sha1_checked(body: ByteStream, expected: [u8; 20]) -> ByteStream {
    Box::pin(Sha1Checked {
        inner: body,
        sha: Some(sha1::Sha1::new()),
        expected,
    })
}

struct Sha1Checked {
    inner: ByteStream,
    sha: Option<sha1::Sha1>,
    expected: [u8; 20],
}

impl Stream for Sha1Checked {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(b))) => {
                if let Some(sha) = self.sha.as_mut() {
                    sha.update(&b);
                }
                Poll::Ready(Some(Ok(b)))
            }
            Poll::Ready(None) => {
                let digest = self.sha.take().map(|sha| <[u8; 20]>::from(sha.finalize()));
                match digest {
                    Some(d) if d != self.expected => {
                        Poll::Ready(Some(Err(std::io::Error::other(Sha1Mismatch))))
                    }
                    _ => Poll::Ready(None),
                }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata() {
        let m = parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential")
            .unwrap();
        assert_eq!(
            m[0],
            ("filename".into(), "world_domination_plan.pdf".into())
        );
        assert_eq!(m[1], ("is_confidential".into(), String::new()));
        assert!(parse_metadata("filename !!!").is_err());
    }
}
