//! # liuma-native — the native token API of liuma 1.0 (axum), on its own listener.
//!
//! A business backend, authenticated by a SigV4 signature made with a
//! named **backend credential** (or by the legacy shared **system token**,
//! header `systemToken`), asks for short-lived **tokens** (header `token`, or `?token=` for
//! links) bound to a file's SHA-256; a browser uploads and downloads with
//! them. Files are objects of one bucket (default `liuma`), key = the
//! SHA-256 in hex, file name in the user metadata, so S3 sees them too.
//! Endpoint reference: `docs/native-api.md`.
//!
//! # Layout
//! - [`token`]: token format, signing key and system token in the metadata store
//! - [`backend`]: backend credentials, scopes, SigV4 verification, replay and rate limits
//! - [`error`]: [`ApiError`] and its one mapping to HTTP
//! - `upload`: tokens, single upload, instant upload
//! - `session`: chunk sessions (chunks, status, finish, abort)
//! - `quota`: per-credential quotas of open sessions and parked bytes
//! - `compat`: liuma 1.0 compatibility (the `{status, code, msg, data}`
//!   envelope) and the request head caps, answered in JSON
//! - `download`: streaming download with Range, If-Range, ETag
//! - `files`: file info and delete, server status and token rotation
//! - `tus`: a tus 1.0 endpoint (creation, core, termination, checksum)
//! - `body`: request bodies (multipart form or raw) as engine streams

pub mod backend;
mod body;
mod compat;
mod download;
pub mod error;
mod files;
mod quota;
mod session;
pub mod token;
mod tus;
mod upload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use liuma_engine::{Engine, ObjectMeta, Versioning};

use backend::{Credential, Guard, Scope};
pub use error::ApiError;
use error::Result;
use token::{AuthState, Claims, Operation};

use liuma_metrics::{Metrics, MetricsLayerState, track};

/// SHA-256 of the empty string: no native file may have it.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// User metadata key of the file name (percent-encoded UTF-8, so S3
/// clients see a plain ASCII header value).
pub const META_FILE_NAME: &str = "file-name";
/// User metadata key of the backend credential that minted the upload
/// token ("system" for the legacy system token).
pub const META_UPLOADED_BY: &str = "uploaded-by";
/// Highest chunk number (chunks map onto multipart parts 1..=10000).
pub const MAX_CHUNK: u32 = liuma_engine::MAX_PART_NUMBER - 1;

/// Settings of the native API.
#[derive(Clone, Debug)]
pub struct NativeConfig {
    /// Bucket holding the files. Default "liuma".
    pub bucket: String,
    /// Lifetime of issued tokens. Default 1 h.
    pub token_ttl: Duration,
    /// Largest chunk (or tus PATCH body), in bytes. Default 1 GiB.
    pub max_chunk_size: u64,
    /// Chunk sessions older than this are aborted by the engine's GC (the
    /// server's `upload_expiry_secs`); shown to clients in `/upload/status`.
    pub upload_expiry: Duration,
    /// `Access-Control-Allow-Origin` sent to browsers. Default "*".
    pub cors_origin: String,
    /// Region backends sign SigV4 requests for (the S3 region). Default us-east-1.
    pub region: String,
    /// Number of the first chunk: 0, or 1 for liuma 1.0 clients that
    /// counted from 1. Default 0.
    pub chunk_base: u32,
    /// Answer in liuma 1.0's `{status, code, msg, data}` envelope. Default off.
    pub envelope_v1: bool,
    /// `GET /server/active` answers 1.0's shape (`status` = the address
    /// list). Default off.
    pub active_v1: bool,
    /// Largest request head (request line and headers), in bytes; larger
    /// is `431` in JSON. Default 16 KiB.
    pub max_header_bytes: usize,
    /// Largest request target (path and query), in bytes; longer is `414`
    /// in JSON. Default 8 KiB.
    pub max_uri_bytes: usize,
}

impl Default for NativeConfig {
    fn default() -> Self {
        NativeConfig {
            bucket: "liuma".to_owned(),
            token_ttl: Duration::from_secs(3600),
            max_chunk_size: 1 << 30,
            upload_expiry: Duration::from_secs(7 * 24 * 3600),
            cors_origin: "*".to_owned(),
            region: "us-east-1".to_owned(),
            chunk_base: 0,
            envelope_v1: false,
            active_v1: false,
            max_header_bytes: 16 * 1024,
            max_uri_bytes: 8 * 1024,
        }
    }
}

/// What the native handlers share.
#[derive(Clone)]
pub struct NativeState {
    /// The engine.
    pub engine: Engine,
    /// Settings.
    pub cfg: Arc<NativeConfig>,
    /// This node's native API address (reported by `/server/active`).
    pub addr: SocketAddr,
    /// Replay cache and rate limiters of backend credentials (per node).
    pub guard: Arc<Guard>,
}

/// Prepare the engine for the native API: create the bucket (versioning
/// enabled) when missing, and seed the token signing key and the system
/// token hash in the metadata store on first start.
pub async fn init(
    engine: &Engine,
    cfg: &NativeConfig,
    owner: &str,
    initial_system_token: &str,
) -> Result<()> {
    match engine.create_bucket(&cfg.bucket, owner).await {
        Ok(_) => {
            engine
                .set_versioning(&cfg.bucket, Versioning::Enabled)
                .await?;
            tracing::info!(bucket = %cfg.bucket, "native API bucket created");
        }
        // Created before, by this node or (in a cluster) another node's root key.
        Err(
            liuma_engine::Error::BucketAlreadyOwnedByYou { .. }
            | liuma_engine::Error::BucketAlreadyExists { .. },
        ) => {}
        Err(e) => return Err(e.into()),
    }
    token::seed(engine, initial_system_token).await
}

/// The native API router.
pub fn router(state: NativeState, metrics: Arc<Metrics>) -> Router {
    state.guard.set_metrics(metrics.clone());
    let layer = MetricsLayerState {
        metrics,
        api: "native",
    };
    let cors_origin = HeaderValue::from_str(&state.cfg.cors_origin)
        .unwrap_or_else(|_| HeaderValue::from_static("*"));
    let compat_cfg = compat::Compat::of(&state.cfg);
    Router::new()
        .route("/server/token", put(files::handle_rotate_token))
        .route("/server/active", get(files::handle_active))
        .route("/upload/token", get(upload::handle_upload_token))
        .route("/download/token", get(download::handle_download_token))
        .route("/upload/single", post(upload::handle_single))
        .route("/upload", axum::routing::delete(session::handle_abort))
        .route("/upload/chunk", post(session::handle_chunk))
        .route("/upload/chuck", post(session::handle_chunk))
        .route("/upload/status", get(session::handle_status))
        .route("/upload/finish", get(session::handle_finish))
        .route("/download", get(download::handle_download))
        .route(
            "/file",
            get(files::handle_info).delete(files::handle_delete),
        )
        .merge(tus::router())
        // Every answer in the API's JSON shape, the router's own included.
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .fallback(|| async { ApiError::NoSuchEndpoint })
        .with_state(state)
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            compat_cfg,
            compat::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(cors_origin, cors))
        .layer(axum::middleware::from_fn_with_state(layer, track))
}

/// CORS for browser frontends: answers preflights, and lets pages read the
/// headers they need. Authorization is by token headers, never cookies, so
/// allowing any origin (the default) exposes nothing.
async fn cors(State(origin): State<HeaderValue>, req: Request, next: Next) -> Response {
    const ALLOW_HEADERS: &str = "token, systemToken, authorization, x-amz-date, \
        x-amz-content-sha256, content-type, range, if-range, \
        tus-resumable, upload-length, upload-offset, upload-metadata, upload-checksum, \
        upload-defer-length, x-http-method-override, x-requested-with";
    const EXPOSE_HEADERS: &str = "content-disposition, content-range, content-length, etag, \
        last-modified, accept-ranges, location, tus-resumable, tus-version, tus-extension, \
        tus-max-size, tus-checksum-algorithm, upload-offset, upload-length, upload-metadata";
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = if preflight {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
        r
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    resp
}

/// Who made a backend call.
#[derive(Clone, Debug)]
pub enum Caller {
    /// The legacy shared system token: every scope.
    System,
    /// A backend credential (verified, active, holding the scope).
    Credential(Box<Credential>),
}

impl Caller {
    /// Credential id, or "system".
    pub fn id(&self) -> &str {
        match self {
            Caller::System => "system",
            Caller::Credential(c) => &c.id,
        }
    }

    /// What goes into the tokens it mints.
    fn minter(&self) -> Option<(String, u32)> {
        match self {
            Caller::System => None,
            Caller::Credential(c) => Some((c.id.clone(), c.generation)),
        }
    }

    /// Its upload size limit.
    fn max_size(&self) -> Option<u64> {
        match self {
            Caller::System => None,
            Caller::Credential(c) => c.max_size,
        }
    }
}

/// The request parts backend authentication reads (method, URI, headers).
pub struct BackendReq {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for BackendReq {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self> {
        Ok(BackendReq::of(parts))
    }
}

impl BackendReq {
    fn of(parts: &axum::http::request::Parts) -> BackendReq {
        BackendReq {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        }
    }

    /// The `hash` query parameter as sent (for the audit log).
    fn hash(&self) -> String {
        self.uri
            .query()
            .unwrap_or("")
            .split('&')
            .find_map(|p| p.strip_prefix("hash="))
            .unwrap_or("-")
            .chars()
            .take(64)
            .collect()
    }
}

impl NativeState {
    /// Authenticate a backend call (SigV4 with a backend credential, or the
    /// legacy `systemToken`) that needs `scope`; audit and count it.
    /// Returns the caller, the auth state and its revision.
    async fn backend(
        &self,
        req: &BackendReq,
        body: &[u8],
        scope: Scope,
    ) -> Result<(Caller, AuthState, u64)> {
        let claimed = if req.headers.contains_key("systemToken") {
            "system".to_owned()
        } else {
            req.headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| backend::parse_authorization(v).ok())
                .map_or_else(|| "anonymous".to_owned(), |a| a.id)
        };
        let r = self.backend_auth(req, body, scope).await;
        let result = match &r {
            Ok(_) => "ok",
            Err(e) => e.status_and_code().1,
        };
        tracing::info!(
            target: "audit",
            credential = %claimed,
            operation = scope.name(),
            method = %req.method,
            path = req.uri.path(),
            hash = %req.hash(),
            result,
            "backend call"
        );
        // An id no credential has is client input: not a metrics label.
        let label = match &r {
            Err(ApiError::UnknownCredential | ApiError::MalformedAuthorization { .. }) => "unknown",
            _ => claimed.as_str(),
        };
        self.guard.count(label, "backend", result);
        r
    }

    async fn backend_auth(
        &self,
        req: &BackendReq,
        body: &[u8],
        scope: Scope,
    ) -> Result<(Caller, AuthState, u64)> {
        if req.headers.contains_key("systemToken") || !backend::is_sigv4(&req.headers) {
            let (auth, rev) = self.system(&req.headers).await?;
            return Ok((Caller::System, auth, rev));
        }
        let header = req
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let authz = backend::parse_authorization(header)?;
        let cred = backend::get(&self.engine, &authz.id)
            .await?
            .ok_or(ApiError::UnknownCredential)?;
        cred.check_active(token::now_ms())?;
        let signed = backend::SignedRequest {
            method: req.method.as_str(),
            path: req.uri.path(),
            query: req.uri.query(),
            headers: &req.headers,
            body,
        };
        let now = token::now_secs();
        let at = backend::verify(&signed, &authz, &cred, &self.cfg.region, now)?;
        self.guard.check_replay(&authz.signature, at, now)?;
        cred.check_allowed(scope, self.bucket())?;
        self.guard.check_rate(&cred.id, cred.rate_limit)?;
        let (auth, rev) = token::load(&self.engine).await?;
        Ok((Caller::Credential(Box::new(cred)), auth, rev))
    }

    /// Check the `systemToken` header; returns the auth state and its revision.
    async fn system(&self, headers: &HeaderMap) -> Result<(AuthState, u64)> {
        let sent = headers
            .get("systemToken")
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::InvalidSystemToken)?;
        let (auth, rev) = token::load(&self.engine).await?;
        auth.check_system_token(sent)?;
        Ok((auth, rev))
    }

    /// Check the temporary token (header `token`, else `query_token`) for `op`.
    async fn token(
        &self,
        headers: &HeaderMap,
        query_token: Option<&str>,
        op: Operation,
    ) -> Result<Claims> {
        let sent = headers
            .get("token")
            .and_then(|v| v.to_str().ok())
            .or(query_token)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::MissingToken)?;
        let r = self.verify_token(sent, op).await;
        let minter = match &r {
            Ok(c) => c.minter.as_ref().map_or("system", |m| m.0.as_str()),
            Err(_) => "unknown",
        };
        let result = match &r {
            Ok(_) => "ok",
            Err(e) => e.status_and_code().1,
        };
        tracing::info!(
            target: "audit",
            credential = minter,
            operation = op.name(),
            hash = %r.as_ref().map(|c| hex::encode(c.sha256)).unwrap_or_else(|_| "-".to_owned()),
            result,
            "token use"
        );
        self.guard.count(minter, "token", result);
        r
    }

    /// Verify a token; one minted by a backend credential needs that
    /// credential active and not rotated since.
    async fn verify_token(&self, sent: &str, op: Operation) -> Result<Claims> {
        let (auth, _) = token::load(&self.engine).await?;
        let claims = auth.verify(sent, op, token::now_secs())?;
        if let Some((id, generation)) = &claims.minter {
            let cred = backend::get(&self.engine, id)
                .await?
                .ok_or(ApiError::CredentialRevoked)?;
            cred.check_active(token::now_ms())?;
            if cred.generation != *generation {
                return Err(ApiError::InvalidToken);
            }
        }
        Ok(claims)
    }

    fn bucket(&self) -> &str {
        &self.cfg.bucket
    }
}

/// Query parameters, with a malformed query string as a native error.
pub struct Params(pub std::collections::HashMap<String, String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self> {
        parse_query(parts.uri.query().unwrap_or("")).map(Params)
    }
}

/// Decode a query string (`+` is a space, `%XX` a byte) strictly: a value
/// whose bytes are not UTF-8 is refused, never replaced by U+FFFD (a file
/// name stored lossily cannot be asked for again). The last of repeated
/// names wins.
fn parse_query(query: &str) -> Result<std::collections::HashMap<String, String>> {
    let decode = |s: &str| {
        let plus = s.replace('+', " ");
        percent_encoding::percent_decode_str(&plus)
            .decode_utf8()
            .map(std::borrow::Cow::into_owned)
    };
    let mut map = std::collections::HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name).map_err(|_| ApiError::InvalidArgument {
            what: "a query parameter name is not UTF-8",
        })?;
        let value = decode(value).map_err(|_| match name.as_str() {
            "file_name" => ApiError::InvalidFileName {
                reason: "the file name is not UTF-8",
            },
            _ => ApiError::InvalidArgument {
                what: "a query parameter value is not UTF-8",
            },
        })?;
        map.insert(name, value);
    }
    Ok(map)
}

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The `hash` parameter, required, as lower-case hex and bytes.
    fn hash(&self) -> Result<(String, [u8; 32])> {
        let h = self.get("hash").ok_or(ApiError::InvalidHash)?;
        let bytes = token::parse_hash(h)?;
        Ok((hex::encode(bytes), bytes))
    }
}

/// Check that an optional `hash` parameter names the token's file.
fn check_hash_param(claims: &Claims, hash: Option<&str>) -> Result<()> {
    if let Some(h) = hash
        && token::parse_hash(h)? != claims.sha256
    {
        return Err(ApiError::TokenHashMismatch);
    }
    Ok(())
}

/// A file name is metadata only, never a path: 1-255 bytes of UTF-8, no
/// `/` or `\`, no control characters, not `.` or `..`.
pub fn validate_file_name(name: &str) -> Result<()> {
    let bad = |reason| Err(ApiError::InvalidFileName { reason });
    if name.is_empty() || name.len() > 255 {
        return bad("must be 1 to 255 bytes long");
    }
    if name.contains(['/', '\\']) {
        return bad("must not hold a path separator");
    }
    if name.chars().any(char::is_control) {
        return bad("must not hold control characters");
    }
    if name == "." || name == ".." || name.trim().is_empty() {
        return bad("must not be '.', '..' or blank");
    }
    Ok(())
}

/// Record which backend credential minted the upload token in `meta`.
fn set_uploaded_by(meta: &mut ObjectMeta, claims: &Claims) {
    let by = claims.minter.as_ref().map_or("system", |m| m.0.as_str());
    meta.user.insert(META_UPLOADED_BY.to_owned(), by.to_owned());
}

/// Object metadata of a native file: its name and content type.
fn file_meta(name: &str, content_type: Option<&str>) -> Result<ObjectMeta> {
    validate_file_name(name)?;
    let mut meta = ObjectMeta::default();
    if let Some(ct) = content_type.filter(|c| !c.is_empty()) {
        if ct.len() > 255 || !ct.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(ApiError::InvalidContentType);
        }
        meta.content_type = Some(ct.to_owned());
    }
    meta.user.insert(
        META_FILE_NAME.to_owned(),
        percent_encoding::utf8_percent_encode(name, NAME_ENCODE).to_string(),
    );
    meta.headers.insert(
        "content-disposition".to_owned(),
        download::content_disposition(name),
    );
    Ok(meta)
}

/// What is percent-encoded in stored names: controls, non-ASCII, `%`.
const NAME_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');

/// The file name stored in an object's metadata.
fn stored_name(meta: &ObjectMeta) -> Option<String> {
    let raw = meta.user.get(META_FILE_NAME)?;
    Some(
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// Milliseconds since the epoch as RFC 3339 (UTC, second precision).
fn rfc3339(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    httpdate_to_rfc3339(t)
}

fn httpdate_to_rfc3339(t: std::time::SystemTime) -> String {
    // Civil-from-days (H. Hinnant), to avoid a date crate for one format.
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_strictly() {
        let m = parse_query("file_name=a+b%20c%C3%A9&hash=AB&empty=&flag").expect("valid");
        assert_eq!(m["file_name"], "a b c\u{e9}");
        assert_eq!(m["hash"], "AB");
        assert_eq!(m["empty"], "");
        assert_eq!(m["flag"], "");
        assert!(matches!(
            parse_query("file_name=%FF.txt"),
            Err(ApiError::InvalidFileName { .. })
        ));
        assert!(matches!(
            parse_query("hash=%C3"),
            Err(ApiError::InvalidArgument { .. })
        ));
        assert!(parse_query("").expect("empty").is_empty());
    }

    #[test]
    fn file_names() {
        for ok in ["a.txt", "报告 2024.pdf", "..a", "a b"] {
            assert!(validate_file_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a/b",
            "..\\x",
            "a\nb",
            "a\0",
            "..",
            ".",
            " ",
            &"x".repeat(256),
        ] {
            assert!(validate_file_name(bad).is_err(), "{bad:?}");
        }
        let meta = file_meta("报告 2024.pdf", Some("application/pdf")).unwrap();
        assert!(meta.user[META_FILE_NAME].is_ascii());
        assert_eq!(stored_name(&meta).unwrap(), "报告 2024.pdf");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_709_251_200_000), "2024-03-01T00:00:00Z");
        assert_eq!(rfc3339(951_825_599_000), "2000-02-29T11:59:59Z");
    }

    #[test]
    fn empty_hash_constant() {
        use sha2::Digest;
        assert_eq!(hex::encode(sha2::Sha256::digest(b"")), EMPTY_SHA256);
    }
}
