//! The native API's errors and their one mapping to HTTP: a status and the
//! JSON body `{"status":"error","code":"...","message":"..."}`. Engine
//! errors are matched exhaustively, so a new engine variant does not
//! compile until it is mapped here.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use liuma_engine::Error as EngineError;

/// Result alias of the native handlers.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Everything a native API request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The `systemToken` header is missing or wrong.
    #[error("a valid systemToken header is required")]
    InvalidSystemToken,
    /// No temporary token in the `token` header (or `?token=`).
    #[error("a token is required (header `token`)")]
    MissingToken,
    /// The token is malformed, tampered with, or signed with a key that was
    /// rotated away.
    #[error("the token is invalid")]
    InvalidToken,
    /// The token's lifetime is over.
    #[error("the token expired {ago_secs} s ago")]
    ExpiredToken {
        /// Seconds since it expired.
        ago_secs: u64,
    },
    /// An upload token used to download, or the other way round.
    #[error("this is not a {expected} token")]
    WrongTokenOperation {
        /// The operation the endpoint needs.
        expected: &'static str,
    },
    /// The request names another file than the token is bound to.
    #[error("the token is bound to another hash")]
    TokenHashMismatch,
    /// `?version=` names another version than the download token is bound to.
    #[error("the token is bound to another version of the file")]
    TokenVersionMismatch,
    /// `hash` is not 64 hex digits.
    #[error("hash must be the SHA-256 of the file as 64 hex digits")]
    InvalidHash,
    /// A query parameter or body is invalid.
    #[error("invalid argument: {what}")]
    InvalidArgument {
        /// What is wrong.
        what: &'static str,
    },
    /// The chunk number is not an integer in 0..=9999 (1..=10000 with
    /// `chunk_base` 1).
    #[error("chunk must be an integer from {min} to {max}")]
    InvalidChunkNumber {
        /// Lowest chunk number.
        min: u32,
        /// Highest chunk number.
        max: u32,
    },
    /// A chunk or file is larger than allowed.
    #[error("the data is larger than the limit of {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// The file is empty (liuma stores no empty native files).
    #[error("empty files are not accepted")]
    EmptyFile,
    /// The file name is empty, too long, or holds a path separator or a
    /// control character.
    #[error("invalid file name: {reason}")]
    InvalidFileName {
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The content type is not a printable ASCII string of at most 255 bytes.
    #[error("invalid content type")]
    InvalidContentType,
    /// The multipart form data cannot be parsed.
    #[error("malformed multipart form data: {detail}")]
    MalformedForm {
        /// The parser's message.
        detail: String,
    },
    /// The form has no `file` field.
    #[error("the form has no `file` field")]
    MissingFile,
    /// Finish found a gap in the chunk numbers.
    #[error("chunk {chunk} is missing")]
    MissingChunk {
        /// The first missing chunk number (client numbering).
        chunk: u64,
    },
    /// Finish was called with no chunks uploaded (and no such content stored).
    #[error("no chunks were uploaded for this hash")]
    NoChunks,
    /// No file with this hash is stored.
    #[error("no file with hash {hash}")]
    FileNotFound {
        /// The hash asked for.
        hash: String,
    },
    /// The Range header selects nothing inside the file.
    #[error("range not satisfiable for a file of {size} bytes")]
    RangeNotSatisfiable {
        /// File size.
        size: u64,
    },
    /// tus: `Upload-Offset` differs from the bytes received so far.
    #[error("Upload-Offset {sent} does not match the current offset {current}")]
    OffsetMismatch {
        /// Offset sent.
        sent: u64,
        /// Offset stored.
        current: u64,
    },
    /// tus: the `Upload-Checksum` of a PATCH does not match its body.
    #[error("the checksum of the request body does not match Upload-Checksum")]
    ChecksumMismatch,
    /// tus: an unsupported checksum algorithm or a malformed header.
    #[error("Upload-Checksum must be `sha1 <base64>` or `sha256 <base64>`")]
    UnsupportedChecksum,
    /// tus: the client speaks another protocol version.
    #[error("only tus 1.0.0 is supported")]
    UnsupportedTusVersion,
    /// tus: PATCH bodies must be `application/offset+octet-stream`.
    #[error("Content-Type must be application/offset+octet-stream")]
    UnsupportedMediaType,
    /// No such endpoint.
    #[error("no such endpoint")]
    NoSuchEndpoint,
    /// The endpoint exists, but not for this method.
    #[error("this endpoint does not take this method")]
    MethodNotAllowed,
    /// A SigV4 `Authorization` header that cannot be checked.
    #[error("malformed signed request: {what}")]
    MalformedAuthorization {
        /// What is wrong.
        what: &'static str,
    },
    /// The signature does not match (wrong secret, or the request changed).
    #[error("the request signature does not match")]
    SignatureDoesNotMatch,
    /// `x-amz-date` is more than 15 minutes away from the server clock.
    #[error("the request time is more than 15 minutes from the server time")]
    RequestTimeTooSkewed,
    /// This signature was accepted before.
    #[error("this signed request was already received (replay)")]
    ReplayedRequest,
    /// No backend credential has this id.
    #[error("unknown backend credential")]
    UnknownCredential,
    /// The backend credential (or the one that minted the token) is revoked.
    #[error("the backend credential is revoked")]
    CredentialRevoked,
    /// The backend credential is past its expiry.
    #[error("the backend credential expired")]
    CredentialExpired,
    /// The backend credential lacks the scope the endpoint needs.
    #[error("the backend credential lacks the `{scope}` scope")]
    MissingScope {
        /// The scope needed.
        scope: &'static str,
    },
    /// The backend credential is bound to another bucket.
    #[error("the backend credential may not act on bucket {bucket}")]
    BucketNotAllowed {
        /// The bucket of the request.
        bucket: String,
    },
    /// The backend credential's request rate limit is exceeded.
    #[error("too many requests for this backend credential; slow down")]
    RateLimited,
    /// Admin API: no backend credential with this id.
    #[error("no backend credential {id}")]
    NoSuchCredential {
        /// The id asked for.
        id: String,
    },
    /// A chunk does not fit the session's chunk size (the chunk size sent
    /// differs from the session's, or the chunk's length is not the one its
    /// index needs).
    #[error("{what}")]
    ChunkSizeMismatch {
        /// What differs.
        what: String,
        /// The session's chunk size.
        expected_chunk_size: Option<u64>,
        /// The length this chunk must have, when known.
        expected_size: Option<u64>,
    },
    /// The file size sent differs from the session's.
    #[error("the session is for a file of {expected_size} bytes")]
    FileSizeMismatch {
        /// The session's file size.
        expected_size: u64,
    },
    /// The chunk index is past the file's last chunk.
    #[error("chunk {chunk} is past the last chunk ({last}) of this file")]
    ChunkOutOfRange {
        /// The chunk sent (client numbering).
        chunk: u64,
        /// The last chunk (client numbering).
        last: u64,
    },
    /// A chunk's (or the whole file's) SHA-256 is not the one expected.
    #[error("{what}: SHA-256 {received} received, {expected} expected")]
    DigestMismatch {
        /// Which data.
        what: String,
        /// The expected SHA-256 (hex).
        expected: String,
        /// The SHA-256 of what arrived (hex).
        received: String,
    },
    /// Finish lost a race: the session was finished or aborted by another
    /// request meanwhile, or one of its chunks changed.
    #[error("{what}; check GET /upload/status and GET /file, then retry")]
    SessionChanged {
        /// What happened.
        what: &'static str,
    },
    /// The credential's quota of open chunk sessions is used up.
    #[error(
        "this backend credential has {open} open upload sessions, its limit; finish or abort some"
    )]
    TooManySessions {
        /// Open sessions.
        open: u64,
    },
    /// The credential's quota of bytes parked in open sessions is used up.
    #[error("this backend credential's open sessions hold {parked} bytes; its limit is {max}")]
    QuotaExceeded {
        /// Bytes held, with this chunk.
        parked: u64,
        /// The limit.
        max: u64,
    },
    /// The request head is over the listener's cap.
    #[error("the request headers are {size} bytes; the limit is {max}")]
    HeadersTooLarge {
        /// Bytes of the head.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The request target is over the listener's cap.
    #[error("the request URI is {size} bytes; the limit is {max}")]
    UriTooLong {
        /// Bytes of the URI.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// An error of the object engine.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl ApiError {
    /// HTTP status and stable error code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            ApiError::InvalidSystemToken => (S::UNAUTHORIZED, "InvalidSystemToken"),
            ApiError::MissingToken => (S::UNAUTHORIZED, "MissingToken"),
            ApiError::InvalidToken => (S::UNAUTHORIZED, "InvalidToken"),
            ApiError::ExpiredToken { .. } => (S::UNAUTHORIZED, "ExpiredToken"),
            ApiError::WrongTokenOperation { .. } => (S::FORBIDDEN, "WrongTokenOperation"),
            ApiError::TokenHashMismatch => (S::FORBIDDEN, "TokenHashMismatch"),
            ApiError::TokenVersionMismatch => (S::FORBIDDEN, "TokenVersionMismatch"),
            ApiError::InvalidHash => (S::BAD_REQUEST, "InvalidHash"),
            ApiError::InvalidArgument { .. } => (S::BAD_REQUEST, "InvalidArgument"),
            ApiError::InvalidChunkNumber { .. } => (S::BAD_REQUEST, "InvalidChunkNumber"),
            ApiError::TooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "EntityTooLarge"),
            ApiError::EmptyFile => (S::BAD_REQUEST, "EmptyFile"),
            ApiError::InvalidFileName { .. } => (S::BAD_REQUEST, "InvalidFileName"),
            ApiError::InvalidContentType => (S::BAD_REQUEST, "InvalidContentType"),
            ApiError::MalformedForm { .. } => (S::BAD_REQUEST, "MalformedForm"),
            ApiError::MissingFile => (S::BAD_REQUEST, "MissingFile"),
            ApiError::MissingChunk { .. } => (S::BAD_REQUEST, "MissingChunk"),
            ApiError::NoChunks => (S::BAD_REQUEST, "NoChunks"),
            ApiError::FileNotFound { .. } => (S::NOT_FOUND, "FileNotFound"),
            ApiError::RangeNotSatisfiable { .. } => (S::RANGE_NOT_SATISFIABLE, "InvalidRange"),
            ApiError::OffsetMismatch { .. } => (S::CONFLICT, "OffsetMismatch"),
            ApiError::ChecksumMismatch => (
                S::from_u16(460).expect("460 is a valid status code"),
                "ChecksumMismatch",
            ),
            ApiError::UnsupportedChecksum => (S::BAD_REQUEST, "UnsupportedChecksum"),
            ApiError::UnsupportedTusVersion => (S::PRECONDITION_FAILED, "UnsupportedVersion"),
            ApiError::UnsupportedMediaType => (S::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType"),
            ApiError::NoSuchEndpoint => (S::NOT_FOUND, "NoSuchEndpoint"),
            ApiError::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
            ApiError::MalformedAuthorization { .. } => {
                (S::UNAUTHORIZED, "AuthorizationHeaderMalformed")
            }
            ApiError::SignatureDoesNotMatch => (S::UNAUTHORIZED, "SignatureDoesNotMatch"),
            ApiError::RequestTimeTooSkewed => (S::UNAUTHORIZED, "RequestTimeTooSkewed"),
            ApiError::ReplayedRequest => (S::UNAUTHORIZED, "ReplayedRequest"),
            ApiError::UnknownCredential => (S::UNAUTHORIZED, "InvalidAccessKeyId"),
            ApiError::CredentialRevoked => (S::UNAUTHORIZED, "CredentialRevoked"),
            ApiError::CredentialExpired => (S::UNAUTHORIZED, "CredentialExpired"),
            ApiError::MissingScope { .. } => (S::FORBIDDEN, "MissingScope"),
            ApiError::BucketNotAllowed { .. } => (S::FORBIDDEN, "BucketNotAllowed"),
            ApiError::RateLimited => (S::TOO_MANY_REQUESTS, "TooManyRequests"),
            ApiError::NoSuchCredential { .. } => (S::NOT_FOUND, "NoSuchCredential"),
            ApiError::ChunkSizeMismatch { .. } => (S::CONFLICT, "ChunkSizeMismatch"),
            ApiError::FileSizeMismatch { .. } => (S::CONFLICT, "FileSizeMismatch"),
            ApiError::ChunkOutOfRange { .. } => (S::CONFLICT, "ChunkOutOfRange"),
            ApiError::DigestMismatch { .. } => (S::BAD_REQUEST, "BadDigest"),
            ApiError::SessionChanged { .. } => (S::CONFLICT, "OperationAborted"),
            ApiError::TooManySessions { .. } => (S::TOO_MANY_REQUESTS, "TooManySessions"),
            ApiError::QuotaExceeded { .. } => (S::PAYLOAD_TOO_LARGE, "QuotaExceeded"),
            ApiError::HeadersTooLarge { .. } => (
                S::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "RequestHeaderFieldsTooLarge",
            ),
            ApiError::UriTooLong { .. } => (S::URI_TOO_LONG, "UriTooLong"),
            ApiError::Engine(e) => (engine_status(e), engine_code(e)),
        }
    }

    /// Fields an error body carries besides status, code and message, so a
    /// client can act without parsing the message.
    fn details(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::json;
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: serde_json::Value| {
            if !v.is_null() {
                m.insert(k.to_owned(), v);
            }
        };
        match self {
            ApiError::ChunkSizeMismatch {
                expected_chunk_size,
                expected_size,
                ..
            } => {
                put("expected_chunk_size", json!(expected_chunk_size));
                put("expected_size", json!(expected_size));
            }
            ApiError::FileSizeMismatch { expected_size } => {
                put("expected_size", json!(expected_size));
            }
            ApiError::ChunkOutOfRange { chunk, last } => {
                put("chunk", json!(chunk));
                put("last_chunk", json!(last));
            }
            ApiError::MissingChunk { chunk } => put("chunk", json!(chunk)),
            ApiError::DigestMismatch {
                expected, received, ..
            } => {
                put("expected", json!(expected));
                put("received", json!(received));
            }
            ApiError::TooLarge { max } | ApiError::QuotaExceeded { max, .. } => {
                put("max", json!(max));
            }
            _ => {}
        }
        m
    }
}

/// The native code of an engine error: the shared engine code, except where
/// the native API has its own word for it.
fn engine_code(e: &EngineError) -> &'static str {
    match e {
        EngineError::NoSuchKey { .. } | EngineError::NoSuchVersion { .. } => "FileNotFound",
        EngineError::EntityTooLarge { .. } => "EntityTooLarge",
        other => other.code(),
    }
}

fn engine_status(e: &EngineError) -> StatusCode {
    use StatusCode as S;
    match e {
        EngineError::NoSuchBucket { .. }
        | EngineError::NoSuchKey { .. }
        | EngineError::NoSuchVersion { .. }
        | EngineError::NoSuchUpload { .. }
        | EngineError::NoSuchUser { .. }
        | EngineError::NoSuchUserPolicy { .. }
        | EngineError::NoSuchNode { .. } => S::NOT_FOUND,
        EngineError::InvalidBucketName { .. }
        | EngineError::InvalidKey { .. }
        | EngineError::InvalidPart { .. }
        | EngineError::InvalidPartOrder
        | EngineError::InvalidPartNumber { .. }
        | EngineError::EntityTooSmall { .. }
        | EngineError::MetadataTooLarge { .. }
        | EngineError::BadDigest { .. }
        | EngineError::IncompleteBody { .. }
        | EngineError::Body(_)
        | EngineError::InvalidChecksum { .. }
        | EngineError::MalformedPolicy { .. }
        | EngineError::InvalidArgument { .. } => S::BAD_REQUEST,
        EngineError::BucketAlreadyOwnedByYou { .. }
        | EngineError::BucketAlreadyExists { .. }
        | EngineError::BucketNotEmpty { .. }
        | EngineError::KeyExists { .. }
        | EngineError::UserExists { .. }
        | EngineError::UserOwnsBuckets { .. }
        | EngineError::Conflict { .. }
        | EngineError::ConditionalConflict { .. }
        | EngineError::MembershipRefused { .. } => S::CONFLICT,
        EngineError::EntityTooLarge { .. } => S::PAYLOAD_TOO_LARGE,
        EngineError::InvalidRange { .. } | EngineError::PartNotSatisfiable { .. } => {
            S::RANGE_NOT_SATISFIABLE
        }
        EngineError::PreconditionFailed => S::PRECONDITION_FAILED,
        EngineError::NoSuchAccessKey { .. } => S::FORBIDDEN,
        EngineError::BlockUnavailable { .. }
        | EngineError::StorageFull(_)
        | EngineError::ShardWriteFailed(_)
        | EngineError::DiskFailed(_)
        | EngineError::TooFewFailureDomains { .. }
        | EngineError::Overloaded { .. }
        | EngineError::MetaUnavailable(_) => S::SERVICE_UNAVAILABLE,
        EngineError::InvalidConfig(_)
        | EngineError::Internal(_)
        | EngineError::Crypt(_)
        | EngineError::MetaRejected(_)
        | EngineError::MetaFailed(_) => S::INTERNAL_SERVER_ERROR,
        // The native API has no SSE-C headers; S3 writes them.
        EngineError::SseCustomerKeyRequired | EngineError::SseNotApplicable => S::BAD_REQUEST,
        EngineError::SseCustomerKeyMismatch => S::FORBIDDEN,
        EngineError::SseUnavailable => S::NOT_IMPLEMENTED,
        EngineError::SseKeyRetired { .. } => S::SERVICE_UNAVAILABLE,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::warn!(code, error = ?self, "native API request failed");
        } else {
            tracing::info!(code, error = %self, "native API request refused");
        }
        // Internal details stay in the log; the client gets the category.
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        let mut body = serde_json::json!({"status": "error", "code": code, "message": message});
        if let Some(obj) = body.as_object_mut() {
            obj.extend(self.details());
        }
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let ApiError::RangeNotSatisfiable { size } = self {
            let v = HeaderValue::from_str(&format!("bytes */{size}"))
                .expect("a number is a valid header value");
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        resp
    }
}
