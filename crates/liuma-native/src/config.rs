//! Settings of the native API ([`NativeConfig`]) and its fixed limits.

use std::time::Duration;

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
