//! The admin API's one error type and one JSON shape.
//!
//! Every admin error answers `{"status": "error", "code": C, "message": M}`
//! (the shape the key, backend, lifecycle and token errors already had;
//! the cluster handlers' `{"error": M}` is gone), with `Retry-After: 1` on
//! a 503. Engine errors keep the engine's one status table
//! ([`liuma_engine::Error::http_status`]) and code; native API errors
//! (backend credentials) keep the native API's. No catch-all arm: a new
//! variant does not compile until it has a status and a code.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use liuma_native::ApiError;

/// Everything an admin request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// An engine operation failed (keys, cluster membership, passes).
    #[error(transparent)]
    Engine(#[from] liuma_engine::Error),
    /// An SSE key management request was refused or failed.
    #[error(transparent)]
    Keys(#[from] liuma_engine::KeyAdminError),
    /// A native API operation failed (backend credentials).
    #[error(transparent)]
    Native(#[from] ApiError),
    /// No or a wrong admin bearer token.
    #[error("admin token required")]
    Unauthorized,
    /// The node refuses this request in its configuration (a test-only
    /// option on a production node).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The request's arguments do not go together.
    #[error("{0}")]
    BadRequest(&'static str),
    /// The route exists but this node does not serve it.
    #[error("{0}")]
    NotFound(&'static str),
}

/// Result of an admin handler.
pub type AdminResult<T> = Result<T, AdminError>;

impl AdminError {
    /// The HTTP status and the error code of the JSON body.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AdminError::Engine(e) => (
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                e.code(),
            ),
            AdminError::Keys(e) => (
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                e.code(),
            ),
            AdminError::Native(e) => e.status_and_code(),
            AdminError::Unauthorized => (StatusCode::UNAUTHORIZED, "Unauthorized"),
            AdminError::Forbidden(_) => (StatusCode::FORBIDDEN, "Forbidden"),
            AdminError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BadRequest"),
            AdminError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFound"),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::warn!(code, error = %self, source = ?std::error::Error::source(&self),
                "admin request failed");
        }
        let body =
            serde_json::json!({"status": "error", "code": code, "message": self.to_string()});
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_keep_the_engine_status() {
        let e = AdminError::from(liuma_engine::Error::NoSuchBucket { bucket: "b".into() });
        assert_eq!(e.status_and_code(), (StatusCode::NOT_FOUND, "NoSuchBucket"));
        let e = AdminError::from(liuma_engine::Error::NoSuchNode { id: "n".into() });
        assert_eq!(e.status_and_code().0, StatusCode::NOT_FOUND);
        let e = AdminError::from(liuma_engine::Error::MembershipRefused {
            reason: "live".into(),
        });
        assert_eq!(e.status_and_code().0, StatusCode::CONFLICT);
    }
}
