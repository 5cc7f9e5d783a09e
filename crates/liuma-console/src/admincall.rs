//! The console's way to act as the admin: a real admin API request, with
//! the session's admin token as its bearer, handed in-process to the same
//! admin router the admin listener serves. The token check (constant-time)
//! and every handler are therefore the admin API's own; the console adds
//! none and skips none — as [`crate::s3call`] does for S3.

use std::future::poll_fn;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use tower_service::Service;

use crate::s3call::Answer;

/// Largest admin answer read into memory.
const MAX_ANSWER: usize = 16 << 20;

/// The admin API of this process.
#[derive(Clone)]
pub struct AdminClient {
    router: axum::Router,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminClient")
    }
}

impl AdminClient {
    /// Dispatch to `router` (the node's admin router).
    pub fn new(router: axum::Router) -> Self {
        AdminClient { router }
    }

    /// `method path_and_query` (e.g. `/admin/cluster`) with `token` as the
    /// bearer and `body` as JSON; the answer read whole.
    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path_and_query: &str,
        body: Option<Bytes>,
    ) -> Answer {
        let Ok(auth) = HeaderValue::from_str(&format!("Bearer {token}")) else {
            // A token that is no header value cannot be the admin token.
            return status_only(StatusCode::UNAUTHORIZED);
        };
        let mut req = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(header::AUTHORIZATION, auth);
        let body = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(b)
            }
            None => Body::empty(),
        };
        let req = match req.body(body) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "console built an invalid admin request");
                return status_only(StatusCode::BAD_REQUEST);
            }
        };
        let mut svc = self.router.clone();
        // An axum router is always ready; asked anyway, as the trait wants.
        if poll_fn(|cx| Service::<Request<Body>>::poll_ready(&mut svc, cx))
            .await
            .is_err()
        {
            return status_only(StatusCode::SERVICE_UNAVAILABLE);
        }
        match svc.call(req).await {
            Ok(resp) => Answer::read(resp, MAX_ANSWER).await,
            Err(never) => match never {},
        }
    }
}

fn status_only(status: StatusCode) -> Answer {
    Answer {
        status,
        headers: http::HeaderMap::new(),
        body: Bytes::new(),
    }
}
