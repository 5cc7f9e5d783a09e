//! Downloads: tokens, and `GET /download` streaming the file with ETag
//! (the SHA-256: every version of a key has the same content), Last-Modified,
//! a single Range (206 / 416), If-Range, If-None-Match and a
//! Content-Disposition carrying the stored name (RFC 6266 / RFC 5987).

use std::time::{Duration, UNIX_EPOCH};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use liuma_engine::{ByteRange, Error as EngineError, GetOptions};
use serde_json::{Value, json};

use crate::error::{ApiError, Result};
use crate::file_meta::{disposition, stored_name};
use crate::state::{BackendReq, NativeState, Params, check_hash_param};
use crate::token::Operation;
use crate::upload::{file_exists, issue};

/// `GET /download/token?hash=H[&version=V]` (backend, scope `download`);
/// 404 when no such file (or version). With `version`, the token is bound
/// to that version, which stays reachable after the file was deleted.
pub(super) async fn handle_download_token(
    State(s): State<NativeState>,
    req: BackendReq,
    p: Params,
) -> Result<Json<Value>> {
    let (caller, auth, _) = s
        .backend(&req, b"", crate::backend::Scope::Download)
        .await?;
    let (hash, bytes) = p.hash()?;
    let version = p.get("version").map(str::to_owned);
    match &version {
        None => {
            if !file_exists(&s, &hash).await? {
                return Err(ApiError::FileNotFound { hash });
            }
        }
        Some(v) => match s.engine.head_object(s.bucket(), &hash, Some(v)).await {
            Ok(_) => {}
            Err(EngineError::NoSuchKey { .. } | EngineError::NoSuchVersion { .. }) => {
                return Err(ApiError::FileNotFound { hash });
            }
            Err(e) => return Err(e.into()),
        },
    }
    let (token, expires) = issue(
        &s,
        &auth,
        &caller,
        Operation::Download,
        bytes,
        None,
        version.clone(),
    )?;
    Ok(Json(json!({
        "status": "success",
        "token": token,
        "hash": hash,
        "version_id": version,
        "expires": expires,
    })))
}

/// `GET /download` (token header or `?token=`): the file.
pub(super) async fn handle_download(
    State(s): State<NativeState>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response> {
    let claims = s
        .token(&headers, p.get("token"), Operation::Download)
        .await?;
    check_hash_param(&claims, p.get("hash"))?;
    let hash = hex::encode(claims.sha256);
    let version = match (p.get("version"), claims.version.clone()) {
        (Some(asked), Some(bound)) if asked != bound => {
            return Err(ApiError::TokenVersionMismatch);
        }
        (asked, bound) => bound.or_else(|| asked.map(str::to_owned)),
    };
    let info = match s
        .engine
        .head_object(s.bucket(), &hash, version.as_deref())
        .await
    {
        Ok(i) => i,
        Err(EngineError::NoSuchKey { .. } | EngineError::NoSuchVersion { .. }) => {
            return Err(ApiError::FileNotFound { hash });
        }
        Err(e) => return Err(e.into()),
    };
    let etag = format!("\"{hash}\"");
    let modified = UNIX_EPOCH + Duration::from_millis(info.last_modified_ms);
    let last_modified = httpdate::fmt_http_date(modified);
    let name = stored_name(&info.meta).unwrap_or_else(|| hash.clone());
    let kind = if p.get("disposition") == Some("inline") {
        "inline"
    } else {
        "attachment"
    };
    let mut out = HeaderMap::new();
    let mut set = |k: header::HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            out.insert(k, v);
        }
    };
    set(header::ETAG, &etag);
    set(header::LAST_MODIFIED, &last_modified);
    set(header::ACCEPT_RANGES, "bytes");
    set(header::CONTENT_DISPOSITION, &disposition(kind, &name));
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        header::CONTENT_TYPE,
        info.meta
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream"),
    );
    if if_none_match(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    }
    let range = requested_range(&headers, &etag, &last_modified);
    let resolved = match range.map(|r| r.resolve(info.size)) {
        Some(Err(_)) => return Err(ApiError::RangeNotSatisfiable { size: info.size }),
        Some(Ok(r)) => Some(r),
        None => None,
    };
    let got = s
        .engine
        .get_object(
            s.bucket(),
            &hash,
            GetOptions {
                version_id: Some(info.version_id.clone()),
                range,
                customer_key: None,
            },
        )
        .await?;
    let (status, len) = match resolved {
        Some((a, b)) => {
            set(
                header::CONTENT_RANGE,
                &format!("bytes {a}-{}/{}", b - 1, info.size),
            );
            (StatusCode::PARTIAL_CONTENT, b - a)
        }
        None => (StatusCode::OK, info.size),
    };
    set(header::CONTENT_LENGTH, &len.to_string());
    let body = Body::from_stream(got.body.map(|r| r.map_err(std::io::Error::other)));
    Ok((status, out, body).into_response())
}

/// True when `If-None-Match` lists our ETag (or `*`).
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == "*" || t == etag)
        })
}

/// The single byte range to serve, if any: a malformed or multi-range
/// `Range` is ignored (the whole file is sent, as RFC 9110 allows), and so
/// is any `Range` whose `If-Range` no longer matches the file.
fn requested_range(headers: &HeaderMap, etag: &str, last_modified: &str) -> Option<ByteRange> {
    let range = parse_range(headers.get(header::RANGE)?.to_str().ok()?)?;
    if let Some(cond) = headers.get(header::IF_RANGE) {
        let cond = cond.to_str().ok()?.trim();
        let matches = if cond.starts_with('"') {
            cond == etag
        } else if cond.starts_with("W/") {
            false // a weak validator never matches If-Range
        } else {
            cond == last_modified
        };
        if !matches {
            return None;
        }
    }
    Some(range)
}

/// Parse `bytes=a-b`, `bytes=a-` or `bytes=-n` (one range only).
fn parse_range(v: &str) -> Option<ByteRange> {
    let spec = v.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let num = |s: &str| {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (a.trim(), b.trim()) {
        ("", n) => Some(ByteRange::Suffix(num(n)?)),
        (a, "") => Some(ByteRange::From(num(a)?)),
        (a, b) => {
            let (a, b) = (num(a)?, num(b)?);
            (a <= b).then_some(ByteRange::FromTo(a, b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9"), Some(ByteRange::FromTo(0, 9)));
        assert_eq!(parse_range("bytes=5-"), Some(ByteRange::From(5)));
        assert_eq!(parse_range("bytes=-5"), Some(ByteRange::Suffix(5)));
        for ignored in [
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=9-1",
            "bytes=a-b",
            "bytes=-",
            "",
        ] {
            assert_eq!(parse_range(ignored), None, "{ignored}");
        }
    }
}
