//! The internal shard API between nodes: `PUT`, `GET`, `HEAD` (exists?) and
//! `DELETE` of `/v1/shard/{disk}/{block}/{index}`, every request signed with the
//! cluster secret ([`crate::Signer`]). Errors are typed both ways: the server
//! answers `{"code", "message"}` with a code from [`ErrorCode`], and the client
//! turns it into the matching [`Error`] variant. The disk is looked up among this
//! node's disks by id and the file path derives from the block id and
//! index only: nothing from the request becomes a path.
//!
//! A shard is at most a block (64 MiB), already in memory on both sides,
//! so bodies are sent whole; the frame carries its own checksum and the
//! reader verifies it, so `GET` returns the stored frame as is.
//!
//! Over mutual TLS, every request is also checked against the revocations
//! and the expiry of the certificates of its connection, on both sides
//! ([`crate::peer_cert`]): a connection opened before a revocation carries
//! no further shard.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use liuma_codec::{BlockId, Shard, parse_shard};
use liuma_disk::ShardStore;

use crate::auth::{Signature, Signer};
use crate::peer_cert::{CertConnector, PeerCert, PeerCheck, Refusal, now_ms};
use crate::{Error, Result};

/// Largest body either side accepts: a 64 MiB block stored whole plus its frame header.
const MAX_BODY: usize = (64 << 20) + 4096;
/// A shard request that takes longer than this is given up (the caller falls back).
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// An error with its causes ("client error (Connect): ...: invalid peer
/// certificate: UnknownIssuer"): hyper's own text hides the TLS reason.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

fn shard_path(disk: &str, id: &BlockId, index: u16) -> String {
    format!("/v1/shard/{disk}/{}/{index}", id.to_hex())
}

#[derive(Clone)]
struct ServerState {
    local: Arc<ShardStore>,
    disks: Arc<HashMap<String, usize>>,
    signer: Arc<Signer>,
}

/// What went wrong, on the wire: a closed set, so the caller can act on it (try another
/// disk, rebuild from parity, give up) instead of parsing text. Sent as the JSON body
/// `{"code": "...", "message": "..."}` of every error answer but HEAD's (which has no body).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ErrorCode {
    /// The shard is not on that disk (404).
    NotFound,
    /// The shard file is there but rotten (422).
    Corrupt,
    /// The disk has no room for the shard (507).
    DiskFull,
    /// The disk failed (I/O error, gone) (503).
    DiskFailed,
    /// The node has no disk with that id (404).
    NoSuchDisk,
    /// The request's signature, time or nonce was refused (401).
    Unauthorized,
    /// The certificate of the connection is revoked or expired (403); the
    /// connection is closed after the answer.
    CertRefused,
    /// The request is malformed: path, block id, shard frame (400).
    BadRequest,
    /// The method is not one of PUT, GET, HEAD, DELETE (405).
    MethodNotAllowed,
    /// A failure of the node itself (500).
    Internal,
}

impl ErrorCode {
    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::NotFound,
        ErrorCode::Corrupt,
        ErrorCode::DiskFull,
        ErrorCode::DiskFailed,
        ErrorCode::NoSuchDisk,
        ErrorCode::Unauthorized,
        ErrorCode::CertRefused,
        ErrorCode::BadRequest,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Internal,
    ];

    /// The HTTP status that carries the code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::NotFound | ErrorCode::NoSuchDisk => StatusCode::NOT_FOUND,
            ErrorCode::Corrupt => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::DiskFull => StatusCode::INSUFFICIENT_STORAGE,
            ErrorCode::DiskFailed => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::CertRefused => StatusCode::FORBIDDEN,
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code for a failure of this node's shard store.
    fn of_disk(e: &liuma_disk::Error) -> ErrorCode {
        match e {
            liuma_disk::Error::NotFound { .. } => ErrorCode::NotFound,
            liuma_disk::Error::Bitrot { .. } => ErrorCode::Corrupt,
            liuma_disk::Error::DiskFull { .. } => ErrorCode::DiskFull,
            liuma_disk::Error::Io { .. } => ErrorCode::DiskFailed,
            liuma_disk::Error::NoSuchDisk(_) => ErrorCode::NoSuchDisk,
            liuma_disk::Error::InvalidDisk { .. } => ErrorCode::Internal,
        }
    }
}

/// The JSON body of an error answer.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub code: ErrorCode,
    /// Details for logs (never parsed).
    pub message: String,
}

impl ErrorBody {
    fn new(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ErrorBody {
    fn into_response(self) -> Response {
        (self.code.status(), axum::Json(self)).into_response()
    }
}

/// An error answer: the code's status and the JSON body.
fn error(code: ErrorCode, message: impl Into<String>) -> Response {
    ErrorBody::new(code, message).into_response()
}

/// The router of the internal shard API over this node's disks; with
/// `check` (mutual TLS), every request's connection certificate is checked
/// first ([`cert_gate`]).
///
/// Every method has its own route: a method the API does not have is refused with 405,
/// never taken for another (HEAD used to reach the GET handler, and anything but PUT and GET
/// the delete branch: a signed `curl -I` deleted the shard).
pub fn router(
    local: Arc<ShardStore>,
    signer: Arc<Signer>,
    check: Option<Arc<dyn PeerCheck>>,
) -> Router {
    let disks = (0..local.disk_count())
        .map(|i| (local.disk_id(i).0.clone(), i))
        .collect();
    let methods = put(handle_put)
        .get(handle_get)
        .head(handle_head)
        .delete(handle_delete)
        .fallback(|method: Method| async move {
            error(
                ErrorCode::MethodNotAllowed,
                format!("{method} is not a shard API method (PUT, GET, HEAD, DELETE)"),
            )
        });
    let router = Router::new()
        .route("/v1/shard/{disk}/{block}/{index}", methods)
        .fallback(|| async { error(ErrorCode::BadRequest, "no such endpoint") })
        .with_state(ServerState {
            local,
            disks: Arc::new(disks),
            signer,
        })
        .layer(DefaultBodyLimit::max(MAX_BODY));
    match check {
        Some(check) => router.layer(axum::middleware::from_fn_with_state(check, cert_gate)),
        None => router,
    }
}

/// How long a refused request's body is read before the refusal is sent.
const REFUSAL_DRAIN: Duration = Duration::from_secs(2);

/// Refuses a request whose connection's client certificate was revoked or
/// expired since the handshake (403, then the connection is closed): the
/// handshake's verdict does not cover the requests that follow it.
async fn cert_gate(State(check): State<Arc<dyn PeerCheck>>, req: Request, next: Next) -> Response {
    let verdict = match req.extensions().get::<PeerCert>() {
        Some(PeerCert(id)) => check.check(id, now_ms()),
        None => Err(Refusal::Missing),
    };
    match verdict {
        Ok(()) => next.run(req).await,
        Err(refusal) => {
            // Take (and drop) the body the peer is still sending, bounded in
            // size and time: answering before it is read makes the server
            // close mid-body, and the peer would see a reset instead of this
            // typed refusal.
            let _ = tokio::time::timeout(REFUSAL_DRAIN, discard(req.into_body(), MAX_BODY)).await;
            let mut resp = error(ErrorCode::CertRefused, refusal.to_string());
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            resp
        }
    }
}

/// Read and drop up to `limit` bytes of `body`, one frame at a time (no
/// buffering: a refused peer's body is never held).
async fn discard(body: axum::body::Body, limit: usize) {
    let mut body = body;
    let mut seen = 0usize;
    while seen <= limit {
        match body.frame().await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
            Some(Err(_)) | None => return,
        }
    }
}

/// A request that passed authentication, with its shard address resolved.
struct Target {
    store: Arc<ShardStore>,
    disk: usize,
    id: BlockId,
    index: u16,
}

type ShardPath = Result<Path<(String, String, u16)>, PathRejection>;

/// Authenticates the request (before looking at anything else), then resolves the disk and
/// block id of its path.
fn target(
    s: &ServerState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    path: ShardPath,
    body: &[u8],
) -> Result<Target, ErrorBody> {
    let verified = Signature::from_headers(headers)
        .and_then(|sig| s.signer.verify(method.as_str(), uri.path(), &sig, body));
    if let Err(e) = verified {
        tracing::warn!(target: "audit", %method, path = %uri.path(), error = %e, "shard API request refused");
        return Err(ErrorBody::new(ErrorCode::Unauthorized, e.to_string()));
    }
    let Path((disk, block, index)) =
        path.map_err(|e| ErrorBody::new(ErrorCode::BadRequest, e.body_text()))?;
    let Some(&disk_index) = s.disks.get(&disk) else {
        return Err(ErrorBody::new(
            ErrorCode::NoSuchDisk,
            format!("no disk {disk} here"),
        ));
    };
    let Ok(id) = BlockId::from_hex(&block) else {
        return Err(ErrorBody::new(ErrorCode::BadRequest, "bad block id"));
    };
    Ok(Target {
        store: s.local.clone(),
        disk: disk_index,
        id,
        index,
    })
}

/// Runs a disk operation on the blocking pool and renders its failure.
async fn on_disk(f: impl FnOnce() -> liuma_disk::Result<Response> + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => error(ErrorCode::of_disk(&e), e.to_string()),
        Err(e) => error(ErrorCode::Internal, format!("shard task failed: {e}")),
    }
}

async fn handle_put(
    State(s): State<ServerState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    path: ShardPath,
    body: Bytes,
) -> Response {
    let t = match target(&s, &method, &uri, &headers, path, &body) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let Ok(shard) = parse_shard(body) else {
        return error(ErrorCode::BadRequest, "malformed shard frame");
    };
    if shard.header.block_id != t.id || shard.header.index != t.index {
        return error(ErrorCode::BadRequest, "frame is for another shard");
    }
    on_disk(move || {
        t.store.write_shard(t.disk, &shard)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}

async fn handle_get(
    State(s): State<ServerState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    path: ShardPath,
    body: Bytes,
) -> Response {
    let t = match target(&s, &method, &uri, &headers, path, &body) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    on_disk(move || {
        Ok(t.store
            .read_shard_frame(t.disk, &t.id, t.index)?
            .into_response())
    })
    .await
}

/// HEAD: does the shard exist (200) or not (404)? Reads nothing, changes nothing.
async fn handle_head(
    State(s): State<ServerState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    path: ShardPath,
    body: Bytes,
) -> Response {
    let t = match target(&s, &method, &uri, &headers, path, &body) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    on_disk(move || {
        Ok(if t.store.has_shard(t.disk, &t.id, t.index) {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        }
        .into_response())
    })
    .await
}

async fn handle_delete(
    State(s): State<ServerState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    path: ShardPath,
    body: Bytes,
) -> Response {
    let t = match target(&s, &method, &uri, &headers, path, &body) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    on_disk(move || {
        t.store.delete_shard(t.disk, &t.id, t.index)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await
}

/// The HTTP client to peers: plain (`--cluster-tls off`) or mutual TLS.
#[derive(Clone)]
enum Http {
    Plain(Client<HttpConnector, Full<Bytes>>),
    Tls(Client<CertConnector, Full<Bytes>>),
}

impl Http {
    /// A client with its own, empty connection pool.
    fn new(tls: Option<&crate::PeerTls>) -> Http {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(3)));
        let builder = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .clone();
        match tls {
            None => Http::Plain(builder.build(connector)),
            Some(tls) => {
                connector.enforce_http(false);
                let https = HttpsConnectorBuilder::new()
                    .with_tls_config((*tls.client).clone())
                    .https_only()
                    .enable_http1()
                    .wrap_connector(connector);
                Http::Tls(builder.build(CertConnector(https)))
            }
        }
    }
}

/// A connection pool and what its connections may no longer be used past.
struct Pool {
    http: Http,
    /// [`PeerCheck::generation`] when it was made.
    generation: u64,
    /// The earliest end of validity (ms) of a server certificate seen on
    /// its connections: past it, the pool is replaced before sending.
    min_not_after: AtomicU64,
}

impl Pool {
    fn new(tls: Option<&crate::PeerTls>, generation: u64) -> Arc<Pool> {
        Arc::new(Pool {
            http: Http::new(tls),
            generation,
            min_not_after: AtomicU64::new(u64::MAX),
        })
    }

    fn usable(&self, generation: u64, now_ms: u64) -> bool {
        self.generation == generation && now_ms < self.min_not_after.load(Ordering::Acquire)
    }
}

/// Client side of the shard API, shared by every call to every peer.
pub struct PeerClient {
    /// Replaced (and the old one's idle connections closed) when a
    /// connection in it may hold a certificate that no longer counts.
    pool: RwLock<Arc<Pool>>,
    tls: Option<crate::PeerTls>,
    signer: Arc<Signer>,
}

impl PeerClient {
    /// A client signing with `signer`, over plain HTTP.
    pub fn new(signer: Arc<Signer>) -> PeerClient {
        PeerClient::with_tls(signer, None)
    }

    /// A client signing with `signer`; with `tls` (the cluster CA as the
    /// only root, this node's certificate for client auth) every call is
    /// https and the peer must present a certificate of the cluster CA
    /// for the host it is reached at, still valid and not revoked at each
    /// call (`tls.check`). The HMAC signature stays on.
    pub fn with_tls(signer: Arc<Signer>, tls: Option<crate::PeerTls>) -> PeerClient {
        let generation = tls.as_ref().map_or(0, |t| t.check.generation());
        PeerClient {
            pool: RwLock::new(Pool::new(tls.as_ref(), generation)),
            tls,
            signer,
        }
    }

    /// The pool to send on: a new one when revocations changed, this
    /// node's certificate was renewed, or a server certificate of the
    /// current pool expired (so no request leaves on such a connection).
    fn pool(&self) -> Arc<Pool> {
        let current = self.pool.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(tls) = &self.tls else {
            return current;
        };
        let (generation, now) = (tls.check.generation(), now_ms());
        if current.usable(generation, now) {
            return current;
        }
        let mut slot = self.pool.write().unwrap_or_else(|p| p.into_inner());
        if !slot.usable(generation, now) {
            tracing::debug!("shard API: new connection pool (revocations, renewal or expiry)");
            *slot = Pool::new(Some(tls), generation);
        }
        slot.clone()
    }

    /// Whether the server certificate of the connection that answered
    /// still counts at `sent_ms`; a refused one retires the pool.
    fn check_server(
        &self,
        pool: &Pool,
        peer: Option<&PeerCert>,
        sent_ms: u64,
    ) -> Result<(), Refusal> {
        let Some(tls) = &self.tls else {
            return Ok(());
        };
        let verdict = match peer {
            Some(PeerCert(id)) => {
                pool.min_not_after
                    .fetch_min(id.not_after_ms, Ordering::AcqRel);
                tls.check.check(id, sent_ms)
            }
            None => Err(Refusal::Missing),
        };
        if verdict.is_err() {
            pool.min_not_after.store(0, Ordering::Release);
        }
        verdict
    }

    async fn call(
        &self,
        node: &str,
        addr: &str,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes)> {
        let unreachable = |reason: String| Error::Unreachable {
            node: node.to_owned(),
            reason,
        };
        let sig = self.signer.sign(method.as_str(), path, &body);
        let req = sig
            .apply(
                http::Request::builder()
                    .method(method)
                    .uri(format!("{}://{addr}{path}", self.scheme())),
            )
            .body(Full::new(body))
            .map_err(|e| unreachable(e.to_string()))?;
        let call = async {
            let pool = self.pool();
            let sent_ms = now_ms();
            let resp = match &pool.http {
                Http::Plain(c) => c.request(req).await,
                Http::Tls(c) => c.request(req).await,
            }
            .map_err(|e| unreachable(error_chain(&e)))?;
            if let Err(refusal) = self.check_server(&pool, resp.extensions().get(), sent_ms) {
                return Err(Error::PeerCertRefused {
                    node: node.to_owned(),
                    message: format!("its answer was dropped: {refusal}"),
                });
            }
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| unreachable(e.to_string()))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| unreachable("timed out".to_owned()))?
    }

    fn scheme(&self) -> &'static str {
        match self.tls {
            None => "http",
            Some(_) => "https",
        }
    }

    /// The typed error of a non-2xx answer. A body that is not an [`ErrorBody`] (a peer
    /// of an older version, a proxy) keeps the old meaning of 404 and 507.
    fn status_error(node: &str, disk: &str, status: StatusCode, body: &Bytes) -> Error {
        let node = node.to_owned();
        let Ok(ErrorBody { code, message }) = serde_json::from_slice::<ErrorBody>(body) else {
            return match status {
                StatusCode::NOT_FOUND => Error::NotFound,
                StatusCode::INSUFFICIENT_STORAGE => Error::PeerFull { node },
                _ => Error::PeerUnexpected {
                    node,
                    status: status.as_u16(),
                    body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
                },
            };
        };
        match code {
            ErrorCode::NotFound => Error::NotFound,
            ErrorCode::NoSuchDisk => Error::PeerNoSuchDisk {
                node,
                disk: disk.to_owned(),
            },
            ErrorCode::Corrupt => Error::PeerCorrupt { node, message },
            ErrorCode::DiskFull => Error::PeerFull { node },
            ErrorCode::DiskFailed => Error::PeerDiskFailed { node, message },
            ErrorCode::Unauthorized => Error::PeerUnauthorized { node, message },
            ErrorCode::CertRefused => Error::PeerCertRefused { node, message },
            ErrorCode::BadRequest | ErrorCode::MethodNotAllowed => {
                Error::PeerBadRequest { node, message }
            }
            ErrorCode::Internal => Error::PeerInternal { node, message },
        }
    }

    /// One shard request; the body of a 2xx answer, else the mapped error.
    async fn shard_request(
        &self,
        node: &str,
        addr: &str,
        method: Method,
        (disk, path): (&str, &str),
        body: Bytes,
    ) -> Result<Bytes> {
        let (status, body) = self.call(node, addr, method, path, body).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(Self::status_error(node, disk, status, &body))
        }
    }

    /// Store a shard on `disk` of the node at `addr`.
    pub async fn put(&self, node: &str, addr: &str, disk: &str, shard: &Shard) -> Result<()> {
        let path = shard_path(disk, &shard.header.block_id, shard.header.index);
        let frame = Bytes::from(shard.to_frame());
        self.shard_request(node, addr, Method::PUT, (disk, &path), frame)
            .await
            .map(|_| ())
    }

    /// Fetch a shard's frame (unverified: the decoder checks it).
    pub async fn get(
        &self,
        node: &str,
        addr: &str,
        disk: &str,
        id: &BlockId,
        index: u16,
    ) -> Result<Bytes> {
        let path = shard_path(disk, id, index);
        self.shard_request(node, addr, Method::GET, (disk, &path), Bytes::new())
            .await
    }

    /// Whether the shard exists on `disk` of the node at `addr` (HEAD: nothing is read).
    pub async fn exists(
        &self,
        node: &str,
        addr: &str,
        disk: &str,
        id: &BlockId,
        index: u16,
    ) -> Result<bool> {
        let path = shard_path(disk, id, index);
        let (status, body) = self
            .call(node, addr, Method::HEAD, &path, Bytes::new())
            .await?;
        match status {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(Self::status_error(node, disk, s, &body)),
        }
    }

    /// Delete a shard (absent counts as done).
    pub async fn delete(
        &self,
        node: &str,
        addr: &str,
        disk: &str,
        id: &BlockId,
        index: u16,
    ) -> Result<()> {
        let path = shard_path(disk, id, index);
        match self
            .shard_request(node, addr, Method::DELETE, (disk, &path), Bytes::new())
            .await
        {
            Ok(_) | Err(Error::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code the server can send comes back as its own typed error.
    #[tokio::test]
    async fn every_error_code_round_trips_to_a_typed_error() {
        for code in ErrorCode::ALL {
            let resp = error(code, "details");
            let status = resp.status();
            assert_eq!(status, code.status());
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            let e = PeerClient::status_error("n1", "d1", status, &body);
            let ok = match code {
                ErrorCode::NotFound => matches!(e, Error::NotFound),
                ErrorCode::NoSuchDisk => {
                    matches!(&e, Error::PeerNoSuchDisk { node, disk } if node == "n1" && disk == "d1")
                }
                ErrorCode::Corrupt => {
                    matches!(&e, Error::PeerCorrupt { message, .. } if message == "details")
                }
                ErrorCode::DiskFull => matches!(e, Error::PeerFull { .. }),
                ErrorCode::DiskFailed => matches!(e, Error::PeerDiskFailed { .. }),
                ErrorCode::Unauthorized => matches!(e, Error::PeerUnauthorized { .. }),
                ErrorCode::CertRefused => matches!(e, Error::PeerCertRefused { .. }),
                ErrorCode::BadRequest | ErrorCode::MethodNotAllowed => {
                    matches!(e, Error::PeerBadRequest { .. })
                }
                ErrorCode::Internal => matches!(e, Error::PeerInternal { .. }),
            };
            assert!(ok, "{code:?} came back as {e:?}");
        }
    }

    /// A peer that does not speak the typed bodies (older version, proxy) is still
    /// understood for 404 and 507, and anything else is kept as it came.
    #[test]
    fn untyped_answers_keep_their_old_meaning() {
        let text = Bytes::from_static(b"no such shard");
        let e = PeerClient::status_error("n", "d", StatusCode::NOT_FOUND, &text);
        assert!(matches!(e, Error::NotFound), "{e:?}");
        let e = PeerClient::status_error("n", "d", StatusCode::INSUFFICIENT_STORAGE, &text);
        assert!(matches!(e, Error::PeerFull { .. }), "{e:?}");
        let e = PeerClient::status_error("n", "d", StatusCode::BAD_GATEWAY, &text);
        assert!(
            matches!(&e, Error::PeerUnexpected { status: 502, body, .. } if body == "no such shard"),
            "{e:?}"
        );
    }
}
