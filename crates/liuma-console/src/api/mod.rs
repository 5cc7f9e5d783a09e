//! The console's JSON API (`/api/`). Sign-in, sign-out and the session are
//! in `signin`; everything else is one S3 request per action through
//! [`crate::s3call`], its XML answer turned into JSON and its errors into
//! words (`buckets` with usage counters, `bucket_config` (lifecycle, CORS,
//! policy documents), `objects` with share links, `versions` (versions of
//! a key, tags), `uploads`, `sorted` (a folder sorted whole)). Changes
//! (every method but GET) need the session's CSRF token in `x-csrf-token`;
//! object bytes stream through without being held.

mod access;
mod bucket_config;
mod buckets;
mod cluster;
mod objects;
mod signin;
pub(crate) mod sorted;
mod uploads;
mod versions;

use bucket_config::*;
use buckets::*;
use objects::*;
use signin::*;
use uploads::*;
use versions::*;

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::Console;
use crate::s3call::{Answer, Call, CallBody, Creds, q};
use crate::session::{Kind, Session};
use crate::xml;

/// Name of the session cookie.
pub const COOKIE: &str = "liuma_console";
/// Header carrying the CSRF token on changes.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The one answer to wrong credentials, whichever half was wrong.
pub const BAD_CREDENTIALS: &str = "Wrong access key or secret.";
/// Largest S3 XML answer read into memory.
const MAX_XML: usize = 16 << 20;
/// Longest share link S3 accepts: 7 days.
const MAX_SHARE_SECS: u64 = 7 * 24 * 3600;

/// An error answered as `{"error": words, "code": code}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: &str) -> Self {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }

    fn bad(message: &str) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// An S3 error answer in words.
    fn from_s3(a: &Answer) -> Self {
        let (code, msg) = a.xml().map_or_else(
            || (String::new(), String::new()),
            |e| {
                (
                    e.text_of("Code").to_owned(),
                    e.text_of("Message").to_owned(),
                )
            },
        );
        let words = match code.as_str() {
            "AccessDenied" => "Access denied: your key is not allowed to do this.",
            "NoSuchBucket" => "That bucket does not exist.",
            "NoSuchKey" => "That object does not exist.",
            "BucketNotEmpty" => "The bucket is not empty: delete its objects first.",
            "BucketAlreadyExists" | "BucketAlreadyOwnedByYou" => {
                "A bucket with that name already exists."
            }
            "InvalidBucketName" => {
                "Invalid bucket name: 3 to 63 lower-case letters, digits, dots and hyphens."
            }
            "NoSuchUpload" => "That upload is gone (completed or aborted).",
            "InvalidRange" => "The requested range is not in the object.",
            "InvalidAccessKeyId" | "SignatureDoesNotMatch" => {
                "Your key was refused: it may have been deleted or disabled. Sign in again."
            }
            _ if !msg.is_empty() => msg.as_str(),
            _ if a.status == StatusCode::NOT_FOUND => "Not found.",
            _ => "The storage service refused the request.",
        };
        let code = if code.is_empty() {
            a.status.as_str().to_owned()
        } else {
            code
        };
        let status = if a.status.is_success() {
            StatusCode::BAD_GATEWAY
        } else {
            a.status
        };
        ApiError::new(status, &code, words)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({"error": self.message, "code": self.code})),
        )
            .into_response();
        no_store(r.headers_mut());
        r
    }
}

type ApiResult<T = Response> = Result<T, ApiError>;

fn no_store(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn ok_json(v: Value) -> Response {
    let mut r = Json(v).into_response();
    no_store(r.headers_mut());
    r
}

/// The routes of `/api/`.
pub fn routes(console: Console) -> axum::Router {
    axum::Router::new()
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/session", get(session_info))
        .route("/api/buckets", get(list_buckets).post(create_bucket))
        .route(
            "/api/buckets/{bucket}",
            axum::routing::delete(delete_bucket),
        )
        .route(
            "/api/buckets/{bucket}/versioning",
            get(get_versioning).put(put_versioning),
        )
        .route("/api/buckets/{bucket}/usage", get(bucket_usage))
        .route(
            "/api/buckets/{bucket}/config/{kind}",
            get(get_config).put(put_config).delete(delete_config),
        )
        .route("/api/buckets/{bucket}/versions", get(list_versions))
        .route(
            "/api/buckets/{bucket}/version",
            axum::routing::delete(delete_version),
        )
        .route("/api/buckets/{bucket}/restore", post(restore_version))
        .route("/api/buckets/{bucket}/tags", get(get_tags).put(put_tags))
        .route("/api/buckets/{bucket}/objects", get(list_objects))
        .route("/api/buckets/{bucket}/delete", post(delete_objects))
        .route(
            "/api/buckets/{bucket}/object",
            get(get_object).put(put_object),
        )
        .route("/api/buckets/{bucket}/meta", get(head_object))
        .route(
            "/api/buckets/{bucket}/multipart",
            post(create_multipart).delete(abort_multipart),
        )
        .route("/api/buckets/{bucket}/multipart/part", put(upload_part))
        .route("/api/buckets/{bucket}/multipart/parts", get(list_parts))
        .route(
            "/api/buckets/{bucket}/multipart/complete",
            post(complete_multipart),
        )
        .route("/api/buckets/{bucket}/share", post(share))
        .merge(cluster::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "NotFound", "No such page.") })
        .with_state(console)
}

// ---- helpers ------------------------------------------------------------------

fn call<'a>(method: Method, bucket: &'a str, key: &'a str) -> Call<'a> {
    Call {
        method,
        bucket,
        key,
        query: String::new(),
        headers: Vec::new(),
        body: CallBody::Empty,
    }
}

/// Run `call` as the session's key; its answer read whole, errors in words.
async fn run(c: &Console, s: &Session, call: Call<'_>) -> ApiResult<Answer> {
    let a = Answer::read(c.s3.call(&creds(s), call).await, MAX_XML).await;
    if a.status.is_success() {
        Ok(a)
    } else {
        Err(ApiError::from_s3(&a))
    }
}

fn xml_of(a: &Answer) -> ApiResult<xml::El> {
    a.xml().ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "BadAnswer",
            "The storage service answered something unreadable.",
        )
    })
}

/// The prelude of every handler on one object: the caller's S3 session
/// (CSRF checked on a change), a key required, and the S3 call on it with
/// `query` (a version, tagging, ...).
fn object_call<'a>(
    c: &Console,
    h: &HeaderMap,
    write: bool,
    method: Method,
    (bucket, key): (&'a str, &'a str),
    query: String,
) -> ApiResult<(Session, Call<'a>)> {
    let s = session(c, h, write)?;
    need_key(key)?;
    let mut k = call(method, bucket, key);
    k.query = query;
    Ok((s, k))
}

/// `versionId=<v>` for a version query, or nothing.
fn version_query(v: &str) -> String {
    if v.is_empty() {
        String::new()
    } else {
        format!("versionId={}", q(v))
    }
}

fn need_key(k: &str) -> ApiResult<()> {
    if k.is_empty() {
        return Err(ApiError::bad("An object key is needed."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inert_types_are_served_inline() {
        assert_eq!(safe_type("image/png"), Some("image/png"));
        assert_eq!(
            safe_type("text/html; charset=utf-8"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(safe_type("image/svg+xml"), None);
        assert_eq!(safe_type("application/octet-stream"), None);
        assert_eq!(safe_type(""), None);
    }

    #[test]
    fn cookie_has_the_flags() {
        let v = cookie("abc", false, false);
        assert_eq!(v, "liuma_console=abc; HttpOnly; SameSite=Strict; Path=/");
        let v = cookie("abc", true, false);
        assert!(v.to_str().unwrap().ends_with("; Secure"));
    }

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; liuma_console=xyz; b=2"),
        );
        assert_eq!(cookie_id(&h).as_deref(), Some("xyz"));
    }

    #[test]
    fn disposition_names_the_last_segment_escaped() {
        assert_eq!(
            disposition("../../etc/passwd", true),
            "attachment; filename*=UTF-8''passwd"
        );
        assert_eq!(
            disposition("a/<b>.txt", false),
            "inline; filename*=UTF-8''%3Cb%3E.txt"
        );
    }
}
