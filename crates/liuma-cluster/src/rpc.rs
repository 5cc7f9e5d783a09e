//! The internal shard API between nodes: `PUT`, `GET` and `DELETE` of
//! `/v1/shard/{disk}/{block}/{index}`, every request signed with the
//! cluster secret ([`crate::Signer`]). The disk is looked up among this
//! node's disks by id and the file path derives from the block id and
//! index only: nothing from the request becomes a path.
//!
//! A shard is at most a block (64 MiB), already in memory on both sides,
//! so bodies are sent whole; the frame carries its own checksum and the
//! reader verifies it, so `GET` returns the stored frame as is.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use liuma_codec::{BlockId, Shard, parse_shard};
use liuma_disk::ShardStore;

use crate::auth::{Signature, Signer};
use crate::{Error, Result};

/// Largest body either side accepts: a 64 MiB block stored whole plus its frame header.
const MAX_BODY: usize = (64 << 20) + 4096;
/// A shard request that takes longer than this is given up (the caller falls back).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn shard_path(disk: &str, id: &BlockId, index: u16) -> String {
    format!("/v1/shard/{disk}/{}/{index}", id.to_hex())
}

#[derive(Clone)]
struct ServerState {
    local: Arc<ShardStore>,
    disks: Arc<HashMap<String, usize>>,
    signer: Arc<Signer>,
}

/// The router of the internal shard API over this node's disks.
pub fn router(local: Arc<ShardStore>, signer: Arc<Signer>) -> Router {
    let disks = (0..local.disk_count())
        .map(|i| (local.disk_id(i).0.clone(), i))
        .collect();
    Router::new()
        .route(
            "/v1/shard/{disk}/{block}/{index}",
            put(handle_shard).get(handle_shard).delete(handle_shard),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such endpoint") })
        .with_state(ServerState {
            local,
            disks: Arc::new(disks),
            signer,
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

async fn handle_shard(
    State(s): State<ServerState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path((disk, block, index)): Path<(String, String, u16)>,
    body: Bytes,
) -> Response {
    // Authenticate before looking at anything else.
    let verified = Signature::from_headers(&headers)
        .and_then(|sig| s.signer.verify(method.as_str(), uri.path(), &sig, &body));
    if let Err(e) = verified {
        tracing::warn!(target: "audit", %method, path = %uri.path(), error = %e, "shard API request refused");
        return (StatusCode::UNAUTHORIZED, e.to_string()).into_response();
    }
    let Some(&disk) = s.disks.get(&disk) else {
        return (StatusCode::NOT_FOUND, "unknown disk").into_response();
    };
    let Ok(id) = BlockId::from_hex(&block) else {
        return (StatusCode::BAD_REQUEST, "bad block id").into_response();
    };
    let store = s.local.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<Response> {
        Ok(match method {
            Method::PUT => {
                let Ok(shard) = parse_shard(body) else {
                    return Ok((StatusCode::BAD_REQUEST, "malformed shard frame").into_response());
                };
                if shard.header.block_id != id || shard.header.index != index {
                    return Ok(
                        (StatusCode::BAD_REQUEST, "frame is for another shard").into_response()
                    );
                }
                store.write_shard(disk, &shard)?;
                StatusCode::NO_CONTENT.into_response()
            }
            Method::GET => store.read_shard_frame(disk, &id, index)?.into_response(),
            _ => {
                store.delete_shard(disk, &id, index)?;
                StatusCode::NO_CONTENT.into_response()
            }
        })
    })
    .await;
    match result {
        Ok(Ok(r)) => r,
        Ok(Err(e)) if e.is_not_found() => (StatusCode::NOT_FOUND, "no such shard").into_response(),
        Ok(Err(e)) if e.is_full() => {
            (StatusCode::INSUFFICIENT_STORAGE, "disk full").into_response()
        }
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "task failed").into_response(),
    }
}

/// Client side of the shard API, shared by every call to every peer.
pub struct PeerClient {
    http: Client<HttpConnector, Full<Bytes>>,
    signer: Arc<Signer>,
}

impl PeerClient {
    /// A client signing with `signer`.
    pub fn new(signer: Arc<Signer>) -> PeerClient {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(3)));
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        PeerClient { http, signer }
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
                    .uri(format!("http://{addr}{path}")),
            )
            .body(Full::new(body))
            .map_err(|e| unreachable(e.to_string()))?;
        let call = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| unreachable(e.to_string()))?;
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

    fn status_error(node: &str, status: StatusCode, body: &Bytes) -> Error {
        match status {
            StatusCode::NOT_FOUND => Error::NotFound,
            StatusCode::INSUFFICIENT_STORAGE => Error::PeerFull {
                node: node.to_owned(),
            },
            _ => Error::Peer {
                node: node.to_owned(),
                status: status.as_u16(),
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            },
        }
    }

    /// One shard request; the body of a 2xx answer, else the mapped error.
    async fn shard_request(
        &self,
        node: &str,
        addr: &str,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<Bytes> {
        let (status, body) = self.call(node, addr, method, path, body).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(Self::status_error(node, status, &body))
        }
    }

    /// Store a shard on `disk` of the node at `addr`.
    pub async fn put(&self, node: &str, addr: &str, disk: &str, shard: &Shard) -> Result<()> {
        let path = shard_path(disk, &shard.header.block_id, shard.header.index);
        let frame = Bytes::from(shard.to_frame());
        self.shard_request(node, addr, Method::PUT, &path, frame)
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
        self.shard_request(node, addr, Method::GET, &path, Bytes::new())
            .await
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
            .shard_request(node, addr, Method::DELETE, &path, Bytes::new())
            .await
        {
            Ok(_) | Err(Error::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
