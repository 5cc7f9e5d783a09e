//! # liuma-native — the native token API of liuma 1.0 (layer 6, a front door)
//!
//! Served by axum on its own listener. A business backend, authenticated by
//! a SigV4 signature made with a named **backend credential** (or by the
//! legacy shared **system token**, header `systemToken`), asks for
//! short-lived **tokens** (header `token`, or `?token=` for links) bound to
//! a file's SHA-256; a browser uploads and downloads with them. Files are
//! objects of one bucket (default `liuma`), key = the SHA-256 in hex, file
//! name in the user metadata, so S3 sees them too. Endpoint reference:
//! `docs/native-api.md`.
//!
//! Depends on liuma-engine, liuma-metrics (request and per-credential
//! counters) and the leaf liuma-sigv4 (verifying backend signatures);
//! handlers see [`liuma_engine::Engine`] and the types it returns, never the
//! cluster or disk layers. The admin API (liuma-admin) manages backend
//! credentials through [`backend`].
//!
//! # Layout
//! This file holds only [`init`], the [`router`] and its CORS layer; no
//! module depends on it (the module graph is in `docs/design.md`).
//! - `config`: [`NativeConfig`] and the chunk number limit
//! - `clock`: Unix time and RFC 3339 dates (a leaf)
//! - [`error`]: [`ApiError`] and its one mapping to HTTP
//! - [`token`]: token format, signing key and system token in the metadata store
//! - [`backend`]: backend credentials, scopes, SigV4 verification, replay and rate limits
//! - `state`: [`NativeState`], the caller of a backend call, token checks, query parameters
//! - `file_meta`: what a file keeps in its object's metadata (name, type,
//!   Content-Disposition, uploader)
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
mod clock;
mod compat;
mod config;
mod download;
pub mod error;
mod file_meta;
mod files;
mod quota;
mod session;
mod state;
pub mod token;
mod tus;
mod upload;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use liuma_engine::{Engine, Versioning};
use liuma_metrics::{Metrics, MetricsLayerState, track};

pub use config::{MAX_CHUNK, NativeConfig};
pub use error::ApiError;
use error::Result;
pub use file_meta::{EMPTY_SHA256, META_FILE_NAME, META_UPLOADED_BY, validate_file_name};
pub use state::{BackendReq, Caller, NativeState, Params};

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
