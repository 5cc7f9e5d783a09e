//! The console's JSON API (`/api/`). Sign-in, sign-out and the session
//! live here; everything else is one S3 request per action through
//! [`crate::s3call`], its XML answer turned into JSON and its errors into
//! words. Changes (every method but GET) need the session's CSRF token in
//! `x-csrf-token`; object bytes stream through without being held.

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
use crate::session::Session;
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
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "NotFound", "No such page.") })
        .with_state(console)
}

// ---- session ----------------------------------------------------------------

fn cookie_id(h: &HeaderMap) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (n, v) = c.trim().split_once('=')?;
            (n == COOKIE).then(|| v.to_owned())
        })
}

/// The caller's session; a change (`write`) also needs the CSRF token.
fn session(c: &Console, h: &HeaderMap, write: bool) -> ApiResult<Session> {
    let s = cookie_id(h)
        .and_then(|id| c.sessions.get(&id))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "NoSession",
                "You are signed out (or your session timed out). Sign in again.",
            )
        })?;
    if write {
        let sent = h.get(CSRF_HEADER).map_or(&b""[..], HeaderValue::as_bytes);
        if !bool::from(sent.ct_eq(s.csrf.as_bytes())) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "BadCsrfToken",
                "This change was refused: the page's security token is missing or stale. Reload the page.",
            ));
        }
    }
    Ok(s)
}

fn creds(s: &Session) -> Creds<'_> {
    Creds {
        key: &s.access_key,
        secret: &s.secret,
    }
}

fn is_tls(c: &Console, h: &HeaderMap) -> bool {
    // Hook for TLS: the TLS listener sets `secure_cookies`; a TLS proxy in
    // front says so in X-Forwarded-Proto.
    c.cfg.secure_cookies
        || h.get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn cookie(value: &str, secure: bool, clear: bool) -> HeaderValue {
    let mut s = format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/");
    if clear {
        s.push_str("; Max-Age=0");
    }
    if secure {
        s.push_str("; Secure");
    }
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

#[derive(Deserialize)]
struct Login {
    access_key: String,
    secret: String,
}

fn plausible_key(k: &str) -> bool {
    (1..=128).contains(&k.len())
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

async fn login(State(c): State<Console>, req: Request) -> ApiResult {
    // The listener puts the client's connection on every request.
    let conn = req.extensions().get::<liuma_s3::ClientConn>().copied();
    let addr = conn.map_or_else(|| "unknown".to_owned(), |c| c.addr.ip().to_string());
    let tls = conn.is_some_and(|c| c.tls) || is_tls(&c, req.headers());
    if !c.logins.allow(&addr) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyAttempts",
            "Too many sign-in attempts from your address. Wait a minute and try again.",
        ));
    }
    let body = axum::body::to_bytes(req.into_body(), 64 << 10)
        .await
        .map_err(|_| ApiError::bad("The sign-in request is too large."))?;
    let l: Login = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad("Send {\"access_key\": ..., \"secret\": ...}."))?;
    let refused = || ApiError::new(StatusCode::UNAUTHORIZED, "BadCredentials", BAD_CREDENTIALS);
    if !plausible_key(&l.access_key) || l.secret.is_empty() || l.secret.len() > 256 {
        return Err(refused());
    }
    // The check is the S3 API's: a ListBuckets signed with these credentials.
    // A signature S3 accepts proves the secret (s3s compares it); a policy
    // that forbids listing still proves it (AccessDenied comes after the
    // signature check).
    let creds = Creds {
        key: &l.access_key,
        secret: &l.secret,
    };
    let a = Answer::read(c.s3.call(&creds, call(Method::GET, "", "")).await, MAX_XML).await;
    let valid = a.status.is_success()
        || (a.status == StatusCode::FORBIDDEN
            && a.xml().is_some_and(|e| e.text_of("Code") == "AccessDenied"));
    if !valid {
        if a.status.is_server_error() {
            return Err(ApiError::from_s3(&a));
        }
        return Err(refused());
    }
    let (id, csrf) = c.sessions.create(&l.access_key, &l.secret);
    let mut r = ok_json(json!({"access_key": l.access_key, "csrf": csrf}));
    r.headers_mut()
        .insert(header::SET_COOKIE, cookie(&id, tls, false));
    Ok(r)
}

async fn logout(State(c): State<Console>, h: HeaderMap) -> ApiResult {
    session(&c, &h, true)?;
    if let Some(id) = cookie_id(&h) {
        c.sessions.remove(&id);
    }
    let mut r = ok_json(json!({}));
    r.headers_mut()
        .insert(header::SET_COOKIE, cookie("", is_tls(&c, &h), true));
    Ok(r)
}

/// Who is signed in, and the CSRF token (a reloaded page gets it here;
/// other origins cannot read it).
async fn session_info(State(c): State<Console>, h: HeaderMap) -> ApiResult {
    let s = session(&c, &h, false)?;
    Ok(ok_json(json!({"access_key": s.access_key, "csrf": s.csrf})))
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

fn need_key(k: &str) -> ApiResult<()> {
    if k.is_empty() {
        return Err(ApiError::bad("An object key is needed."));
    }
    Ok(())
}

// ---- buckets ------------------------------------------------------------------

async fn list_buckets(State(c): State<Console>, h: HeaderMap) -> ApiResult {
    let s = session(&c, &h, false)?;
    let a = run(&c, &s, call(Method::GET, "", "")).await?;
    let root = xml_of(&a)?;
    let buckets: Vec<Value> = root
        .child("Buckets")
        .map(|b| {
            b.all("Bucket")
                .map(|b| json!({"name": b.text_of("Name"), "created": b.text_of("CreationDate")}))
                .collect()
        })
        .unwrap_or_default();
    Ok(ok_json(json!({"buckets": buckets})))
}

#[derive(Deserialize)]
struct NewBucket {
    name: String,
}

async fn create_bucket(
    State(c): State<Console>,
    h: HeaderMap,
    Json(b): Json<NewBucket>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    if b.name.is_empty() || b.name.contains('/') {
        return Err(ApiError::bad(
            "Invalid bucket name: 3 to 63 lower-case letters, digits, dots and hyphens.",
        ));
    }
    run(&c, &s, call(Method::PUT, &b.name, "")).await?;
    Ok(ok_json(json!({"name": b.name})))
}

async fn delete_bucket(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    run(&c, &s, call(Method::DELETE, &bucket, "")).await?;
    Ok(ok_json(json!({})))
}

async fn get_versioning(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
) -> ApiResult {
    let s = session(&c, &h, false)?;
    let mut k = call(Method::GET, &bucket, "");
    k.query = "versioning".to_owned();
    let root = xml_of(&run(&c, &s, k).await?)?;
    let status = root.text_of("Status");
    Ok(ok_json(
        json!({"enabled": status == "Enabled", "status": status}),
    ))
}

#[derive(Deserialize)]
struct Versioning {
    enabled: bool,
}

async fn put_versioning(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Json(v): Json<Versioning>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    let status = if v.enabled { "Enabled" } else { "Suspended" };
    let mut k = call(Method::PUT, &bucket, "");
    k.query = "versioning".to_owned();
    k.body = CallBody::Bytes(Bytes::from(format!(
        "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>{status}</Status></VersioningConfiguration>"
    )));
    run(&c, &s, k).await?;
    Ok(ok_json(json!({"enabled": v.enabled, "status": status})))
}

// ---- objects ------------------------------------------------------------------

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    token: String,
    max: Option<u32>,
    /// "1": no delimiter (a flat listing under the prefix).
    #[serde(default)]
    flat: String,
}

async fn list_objects(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(lq): Query<ListQuery>,
) -> ApiResult {
    let s = session(&c, &h, false)?;
    let max = lq.max.unwrap_or(200).clamp(1, 1000);
    let mut query = format!("list-type=2&max-keys={max}&prefix={}", q(&lq.prefix));
    if lq.flat != "1" {
        query.push_str("&delimiter=%2F");
    }
    if !lq.token.is_empty() {
        query.push_str(&format!("&continuation-token={}", q(&lq.token)));
    }
    let mut k = call(Method::GET, &bucket, "");
    k.query = query;
    let root = xml_of(&run(&c, &s, k).await?)?;
    let folders: Vec<&str> = root
        .all("CommonPrefixes")
        .map(|p| p.text_of("Prefix"))
        .collect();
    let objects: Vec<Value> = root
        .all("Contents")
        .map(|o| {
            json!({
                "key": o.text_of("Key"),
                "size": o.text_of("Size").parse::<u64>().unwrap_or(0),
                "modified": o.text_of("LastModified"),
                "etag": o.text_of("ETag"),
            })
        })
        .collect();
    let next =
        (root.text_of("IsTruncated") == "true").then(|| root.text_of("NextContinuationToken"));
    Ok(ok_json(json!({
        "prefix": lq.prefix,
        "folders": folders,
        "objects": objects,
        "next_token": next,
    })))
}

#[derive(Deserialize)]
struct DeleteKeys {
    keys: Vec<String>,
}

async fn delete_objects(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Json(d): Json<DeleteKeys>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    if d.keys.is_empty() || d.keys.len() > 1000 {
        return Err(ApiError::bad("Delete 1 to 1000 objects at a time."));
    }
    let mut doc = String::from("<Delete><Quiet>true</Quiet>");
    for key in &d.keys {
        doc.push_str(&format!("<Object><Key>{}</Key></Object>", xml::escape(key)));
    }
    doc.push_str("</Delete>");
    let mut k = call(Method::POST, &bucket, "");
    k.query = "delete".to_owned();
    k.body = CallBody::Bytes(Bytes::from(doc));
    let root = xml_of(&run(&c, &s, k).await?)?;
    let errors: Vec<Value> = root
        .all("Error")
        .map(|e| json!({"key": e.text_of("Key"), "code": e.text_of("Code"), "message": e.text_of("Message")}))
        .collect();
    Ok(ok_json(
        json!({"deleted": d.keys.len() - errors.len(), "errors": errors}),
    ))
}

#[derive(Deserialize)]
struct KeyQuery {
    key: String,
    #[serde(default)]
    download: String,
}

/// The content type an object is served with from the console's origin:
/// only types a browser shows without running anything; the rest download.
fn safe_type(stored: &str) -> Option<&'static str> {
    let t = stored
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    Some(match t.as_str() {
        "image/png" => "image/png",
        "image/jpeg" => "image/jpeg",
        "image/gif" => "image/gif",
        "image/webp" => "image/webp",
        "image/avif" => "image/avif",
        "application/pdf" => "application/pdf",
        "audio/mpeg" => "audio/mpeg",
        "audio/ogg" => "audio/ogg",
        "audio/wav" => "audio/wav",
        "video/mp4" => "video/mp4",
        "video/webm" => "video/webm",
        "application/json"
        | "application/xml"
        | "text/xml"
        | "text/html"
        | "text/css"
        | "text/javascript"
        | "application/javascript" => "text/plain; charset=utf-8",
        t if t.starts_with("text/") => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// `attachment; filename*=UTF-8''<last segment>`.
fn disposition(key: &str, attach: bool) -> HeaderValue {
    let name = key
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("download");
    let kind = if attach { "attachment" } else { "inline" };
    HeaderValue::from_str(&format!("{kind}; filename*=UTF-8''{}", q(name)))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// The object's bytes streamed through (Range passed on, so previews seek).
async fn get_object(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(kq): Query<KeyQuery>,
) -> ApiResult {
    let s = session(&c, &h, false)?;
    need_key(&kq.key)?;
    let mut k = call(Method::GET, &bucket, &kq.key);
    for n in [header::RANGE, header::IF_NONE_MATCH] {
        if let Some(v) = h.get(&n) {
            k.headers.push((n, v.clone()));
        }
    }
    let resp = c.s3.call(&creds(&s), k).await;
    if !resp.status().is_success() && resp.status() != StatusCode::NOT_MODIFIED {
        return Err(ApiError::from_s3(&Answer::read(resp, MAX_XML).await));
    }
    let (parts, body) = resp.into_parts();
    let mut r = Response::new(body);
    *r.status_mut() = parts.status;
    let out = r.headers_mut();
    for n in [
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::ACCEPT_RANGES,
        header::ETAG,
        header::LAST_MODIFIED,
    ] {
        if let Some(v) = parts.headers.get(&n) {
            out.insert(n, v.clone());
        }
    }
    let stored = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let safe = safe_type(stored);
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(safe.unwrap_or("application/octet-stream")),
    );
    out.insert(
        header::CONTENT_DISPOSITION,
        disposition(&kq.key, kq.download == "1" || safe.is_none()),
    );
    // Bytes from users, served from the console's origin: never a document.
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(r)
}

async fn put_object(
    State(c): State<Console>,
    Path(bucket): Path<String>,
    Query(kq): Query<KeyQuery>,
    req: Request,
) -> ApiResult {
    let (parts, body) = req.into_parts();
    let s = session(&c, &parts.headers, true)?;
    need_key(&kq.key)?;
    let mut k = call(Method::PUT, &bucket, &kq.key);
    for n in [header::CONTENT_LENGTH, header::CONTENT_TYPE] {
        if let Some(v) = parts.headers.get(&n) {
            k.headers.push((n, v.clone()));
        }
    }
    k.body = CallBody::Stream(body);
    let a = run(&c, &s, k).await?;
    let etag = a
        .headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Ok(ok_json(json!({"key": kq.key, "etag": etag})))
}

async fn head_object(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(kq): Query<KeyQuery>,
) -> ApiResult {
    let s = session(&c, &h, false)?;
    need_key(&kq.key)?;
    let a = run(&c, &s, call(Method::HEAD, &bucket, &kq.key)).await?;
    let hv = |n: &str| {
        a.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let meta: serde_json::Map<String, Value> = a
        .headers
        .iter()
        .filter_map(|(n, v)| {
            let name = n.as_str().strip_prefix("x-amz-meta-")?;
            Some((
                name.to_owned(),
                Value::from(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            ))
        })
        .collect();
    Ok(ok_json(json!({
        "key": kq.key,
        "size": hv("content-length").parse::<u64>().unwrap_or(0),
        "content_type": hv("content-type"),
        "etag": hv("etag"),
        "modified": hv("last-modified"),
        "version_id": hv("x-amz-version-id"),
        "storage_class": hv("x-amz-storage-class"),
        "metadata": meta,
    })))
}

// ---- multipart ----------------------------------------------------------------

#[derive(Deserialize)]
struct UploadQuery {
    key: String,
    #[serde(default)]
    upload_id: String,
    #[serde(default)]
    part: u32,
}

async fn create_multipart(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(uq): Query<UploadQuery>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    need_key(&uq.key)?;
    let mut k = call(Method::POST, &bucket, &uq.key);
    k.query = "uploads".to_owned();
    if let Some(v) = h.get("x-object-type") {
        k.headers.push((header::CONTENT_TYPE, v.clone()));
    }
    let root = xml_of(&run(&c, &s, k).await?)?;
    Ok(ok_json(json!({"upload_id": root.text_of("UploadId")})))
}

async fn abort_multipart(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(uq): Query<UploadQuery>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    need_key(&uq.key)?;
    let mut k = call(Method::DELETE, &bucket, &uq.key);
    k.query = format!("uploadId={}", q(&uq.upload_id));
    run(&c, &s, k).await?;
    Ok(ok_json(json!({})))
}

async fn upload_part(
    State(c): State<Console>,
    Path(bucket): Path<String>,
    Query(uq): Query<UploadQuery>,
    req: Request,
) -> ApiResult {
    let (parts, body) = req.into_parts();
    let s = session(&c, &parts.headers, true)?;
    need_key(&uq.key)?;
    if !(1..=10_000).contains(&uq.part) {
        return Err(ApiError::bad("Part numbers run from 1 to 10000."));
    }
    let mut k = call(Method::PUT, &bucket, &uq.key);
    k.query = format!("partNumber={}&uploadId={}", uq.part, q(&uq.upload_id));
    if let Some(v) = parts.headers.get(header::CONTENT_LENGTH) {
        k.headers.push((header::CONTENT_LENGTH, v.clone()));
    }
    k.body = CallBody::Stream(body);
    let a = run(&c, &s, k).await?;
    let etag = a
        .headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Ok(ok_json(json!({"part": uq.part, "etag": etag})))
}

/// Every part S3 holds for the upload (paged through; 10 000 at most).
async fn list_parts(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(uq): Query<UploadQuery>,
) -> ApiResult {
    let s = session(&c, &h, false)?;
    need_key(&uq.key)?;
    let mut parts = Vec::new();
    let mut marker = String::new();
    for _ in 0..10 {
        let mut k = call(Method::GET, &bucket, &uq.key);
        k.query = format!("uploadId={}&max-parts=1000", q(&uq.upload_id));
        if !marker.is_empty() {
            k.query.push_str(&format!("&part-number-marker={marker}"));
        }
        let root = xml_of(&run(&c, &s, k).await?)?;
        for p in root.all("Part") {
            parts.push(json!({
                "part": p.text_of("PartNumber").parse::<u32>().unwrap_or(0),
                "etag": p.text_of("ETag"),
                "size": p.text_of("Size").parse::<u64>().unwrap_or(0),
            }));
        }
        if root.text_of("IsTruncated") != "true" {
            break;
        }
        marker = root.text_of("NextPartNumberMarker").to_owned();
    }
    Ok(ok_json(json!({"parts": parts})))
}

#[derive(Deserialize)]
struct Complete {
    parts: Vec<DonePart>,
}

#[derive(Deserialize)]
struct DonePart {
    part: u32,
    etag: String,
}

async fn complete_multipart(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(uq): Query<UploadQuery>,
    Json(done): Json<Complete>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    need_key(&uq.key)?;
    let mut doc = String::from("<CompleteMultipartUpload>");
    for p in &done.parts {
        doc.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
            p.part,
            xml::escape(&p.etag)
        ));
    }
    doc.push_str("</CompleteMultipartUpload>");
    let mut k = call(Method::POST, &bucket, &uq.key);
    k.query = format!("uploadId={}", q(&uq.upload_id));
    k.body = CallBody::Bytes(Bytes::from(doc));
    let a = run(&c, &s, k).await?;
    // CompleteMultipartUpload can fail with 200 and an <Error> body.
    let root = xml_of(&a)?;
    if root.name == "Error" {
        return Err(ApiError::from_s3(&a));
    }
    Ok(ok_json(
        json!({"key": uq.key, "etag": root.text_of("ETag")}),
    ))
}

// ---- share links --------------------------------------------------------------

#[derive(Deserialize)]
struct Share {
    key: String,
    expires_secs: u64,
}

async fn share(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Json(sh): Json<Share>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    need_key(&sh.key)?;
    if !(1..=MAX_SHARE_SECS).contains(&sh.expires_secs) {
        return Err(ApiError::bad("A share link lasts from 1 second to 7 days."));
    }
    // The key must be allowed to read it now, or the link is useless.
    run(&c, &s, call(Method::HEAD, &bucket, &sh.key)).await?;
    let base = c.cfg.s3_public_url.clone().unwrap_or_else(|| {
        let a = c.cfg.s3_addr;
        if a.ip().is_unspecified() {
            // The host the browser used for the console, on the S3 port.
            let host = h
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(|h| h.rsplit_once(':').map_or(h, |(h, _)| h))
                .unwrap_or("localhost");
            format!("http://{host}:{}", a.port())
        } else {
            format!("http://{a}")
        }
    });
    let url =
        c.s3.presign(&creds(&s), &base, &bucket, &sh.key, sh.expires_secs);
    Ok(ok_json(
        json!({"url": url, "expires_secs": sh.expires_secs}),
    ))
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
