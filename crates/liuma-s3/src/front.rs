//! The layer in front of the s3s service. s3s leaves these to its user:
//!
//! - request header limits (total size of the header section);
//! - CORS: preflight `OPTIONS` requests answered from the bucket's rules,
//!   and `Access-Control-*` headers added to responses to browsers;
//! - virtual-hosted-style host parsing for a configured base domain
//!   ([`DomainHost`]), tolerant of ports and of plain `localhost`/IP hosts;
//! - how a request is signed ([`crate::sigcheck`]: SigV2 off unless
//!   allowed, presigned URLs valid for 7 days at most);
//! - rendering a failure of the s3s service itself as a 500 S3 error;
//! - PUTs without a length ([`crate::chunked`]);
//! - request ids, and complete error bodies ([`crate::errbody`]).

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use liuma_engine::Engine;
use md5::Digest as _;
use s3s::host::{S3Host, VirtualHost};
use s3s::service::S3Service;
use s3s::{Body, S3Error, S3ErrorCode, S3Result};

use crate::cors;
use crate::post::PostObject;
use crate::service::S3Settings;

/// The S3 HTTP service: s3s plus CORS and limits. Cheap to clone.
#[derive(Clone)]
pub struct S3Front {
    inner: S3Service,
    engine: Engine,
    settings: Arc<S3Settings>,
    post: Arc<PostObject>,
}

impl std::fmt::Debug for S3Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Front").finish_non_exhaustive()
    }
}

fn error_response(e: S3Error) -> Response<Body> {
    match e.to_http_response() {
        Ok(r) => r,
        Err(_) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    }
}

impl S3Front {
    pub(crate) fn new(
        inner: S3Service,
        engine: Engine,
        settings: Arc<S3Settings>,
        post: PostObject,
    ) -> Self {
        S3Front {
            inner,
            engine,
            settings,
            post: Arc::new(post),
        }
    }

    /// The engine behind this service: for in-process callers (the web
    /// console) that read what S3 has no request for (bucket usage), after
    /// an S3 request of theirs passed the access check.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Serve one request. Every answer carries an `x-amz-request-id`; an
    /// error's XML body carries the same id, the resource and a message
    /// ([`crate::errbody`]), whichever layer produced it.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        s3s::StdError: From<B::Error>,
    {
        let request_id = crate::errbody::request_id();
        let resource = req.uri().path().to_owned();
        let resp = self.serve(req).await;
        crate::errbody::finish(resp, &request_id, &resource)
    }

    async fn serve<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        s3s::StdError: From<B::Error>,
    {
        if let Err(refusal) = self.check_head(req.uri().query(), req.headers()) {
            return error_response(refusal);
        }
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if req.method() == Method::OPTIONS {
            return self
                .preflight(req.uri().path(), req.headers(), origin)
                .await;
        }
        let bucket = origin
            .as_ref()
            .and_then(|_| self.bucket_of(req.uri().path(), req.headers()));
        let method = req.method().clone();
        let vhost = self.vhost_of(req.headers());
        if let Some((target, boundary)) =
            crate::post::target(&method, req.uri().path(), req.headers(), vhost.as_deref())
        {
            let mut resp = match self.post.serve(req, target, boundary).await {
                Ok(r) => r,
                Err(e) => {
                    let mut r = error_response(e);
                    // the rest of the form may be unread: do not parse the
                    // next request from the middle of it
                    r.headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                    r
                }
            };
            self.amend(&mut resp, &method, origin.zip(bucket)).await;
            return resp;
        }
        let expects_continue = req
            .headers()
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let empty_body = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0");
        let mut req = if crate::chunked::needs_hint(&method, req.headers()) {
            let limit = self.settings.max_put_bytes;
            req.map(|b| Body::http_body_unsync(crate::chunked::UnknownLength::new(b, limit)))
        } else {
            req.map(Body::http_body_unsync)
        };
        if is_delete_objects(&method, req.uri().query())
            && let Err(e) = self.check_delete_md5(&mut req).await
        {
            return error_response(e);
        }
        let mut resp = match self.inner.call(req).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = ?e, "S3 service failed");
                error_response(S3Error::new(S3ErrorCode::InternalError))
            }
        };
        self.amend(&mut resp, &method, origin.zip(bucket)).await;
        // An error answered before a 100-continue body was read: the client
        // may or may not send that body now, so the connection's byte stream
        // is ambiguous. Close it rather than parse the next request from the
        // middle of a body (seen as a spurious SignatureDoesNotMatch).
        // The same for an empty body: there is nothing to read, so no
        // `100 Continue` is ever sent, and botocore (which sends
        // `Expect: 100-continue` on every PutObject) then waits on the
        // reused connection for a `100` that never comes, until the idle
        // deadline closes it (a 60 s stall after every empty PUT).
        if expects_continue
            && (empty_body || resp.status().is_client_error() || resp.status().is_server_error())
        {
            resp.headers_mut()
                .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
        }
        resp
    }

    /// What is refused before routing, from the request head alone: a
    /// header section over the limit, a signature scheme or expiry
    /// ([`crate::sigcheck`]) that is not accepted.
    fn check_head(&self, query: Option<&str>, headers: &HeaderMap) -> Result<(), S3Error> {
        let header_bytes: usize = headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum();
        if header_bytes > self.settings.max_header_bytes {
            return Err(S3Error::with_message(
                S3ErrorCode::RequestHeaderSectionTooLarge,
                format!(
                    "Your request header section exceeds the maximum allowed size of {} bytes",
                    self.settings.max_header_bytes
                ),
            ));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        crate::sigcheck::check(
            query,
            headers
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes),
            self.settings.allow_sigv2,
            now,
        )
        .map_err(|refusal| refusal.to_s3())
    }

    /// What AWS adds to s3s's answer: 206 for a partial HEAD, Retry-After
    /// on a 503, CORS headers for a cross-origin request to a bucket
    /// (`cross`: its origin and bucket).
    async fn amend(
        &self,
        resp: &mut Response<Body>,
        method: &Method,
        cross: Option<(String, String)>,
    ) {
        // s3s answers HEAD 200 whatever the output; AWS answers a HEAD of a
        // part (`partNumber`) or a range 206, as GET does.
        if method == Method::HEAD
            && resp.status() == StatusCode::OK
            && resp.headers().contains_key(header::CONTENT_RANGE)
        {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        }
        // Every 503 (SlowDown, a disk or the metadata store unavailable) is
        // a moment's condition: tell clients when to come back.
        if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, http::HeaderValue::from_static("1"));
        }
        if let Some((origin, bucket)) = cross
            && let Ok(b) = self.engine.bucket(&bucket).await
        {
            let rules = cors::rules(&b.attrs);
            if let Some(rule) = cors::find(&rules, &origin, method.as_str(), &[]) {
                add_cors_headers(resp.headers_mut(), rule, &origin);
            }
        }
    }

    /// DeleteObjects names its keys in the body, which s3s parses without
    /// looking at `Content-MD5`: a corrupted body could delete other keys.
    /// Check the digest here, on the buffered body (at most `max_xml_bytes`,
    /// as s3s would buffer it anyway), before anything is deleted. A missing
    /// Content-MD5 is accepted: AWS now takes an `x-amz-checksum-*` instead.
    async fn check_delete_md5(&self, req: &mut Request<Body>) -> S3Result<()> {
        let header = req
            .headers()
            .get("content-md5")
            .map(|v| v.to_str().map(str::to_owned));
        let expected = match header {
            None => return Ok(()),
            Some(Err(_)) => crate::conv::content_md5(Some("")),
            Some(Ok(v)) => crate::conv::content_md5(Some(&v)),
        }?;
        let Some(expected) = expected else {
            return Ok(());
        };
        let limit = self.settings.max_xml_bytes;
        let body = req.body_mut().store_all_limited(limit).await.map_err(|e| {
            let mut err = S3Error::with_message(
                S3ErrorCode::MaxMessageLengthExceeded,
                format!("the DeleteObjects body could not be read within {limit} bytes: {e}"),
            );
            err.set_status_code(StatusCode::BAD_REQUEST);
            err
        })?;
        let got: [u8; 16] = md5::Md5::digest(&body).into();
        if got != expected {
            return Err(S3Error::with_message(
                S3ErrorCode::BadDigest,
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
        Ok(())
    }

    /// The bucket named by a virtual-hosted-style host.
    fn vhost_of(&self, headers: &HeaderMap) -> Option<String> {
        let domain = self.settings.domain.as_ref()?;
        let host = headers.get(header::HOST)?.to_str().ok()?;
        vhost_bucket(domain, host).map(str::to_owned)
    }

    /// The bucket a request addresses (virtual host first, then the path).
    fn bucket_of(&self, path: &str, headers: &HeaderMap) -> Option<String> {
        if let Some(b) = self.vhost_of(headers) {
            return Some(b);
        }
        let first = path.trim_start_matches('/').split('/').next()?;
        (!first.is_empty()).then(|| first.to_owned())
    }

    async fn preflight(
        &self,
        path: &str,
        headers: &HeaderMap,
        origin: Option<String>,
    ) -> Response<Body> {
        let denied = || {
            let mut e = S3Error::with_message(
                "CORSResponse".parse().unwrap_or(S3ErrorCode::AccessDenied),
                "This CORS request is not allowed. This is usually because the evaluation of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
            );
            e.set_status_code(StatusCode::FORBIDDEN);
            error_response(e)
        };
        let method = headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v| v.to_str().ok());
        let (Some(origin), Some(method)) = (origin, method) else {
            let mut e = S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "Insufficient information. Origin request header needed.",
            );
            e.set_status_code(StatusCode::BAD_REQUEST);
            return error_response(e);
        };
        let Some(bucket) = self.bucket_of(path, headers) else {
            return denied();
        };
        let Ok(b) = self.engine.bucket(&bucket).await else {
            return denied();
        };
        let requested: Vec<String> = headers
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(',')
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let names: Vec<&str> = requested.iter().map(String::as_str).collect();
        let rules = cors::rules(&b.attrs);
        let Some(rule) = cors::find(&rules, &origin, method, &names) else {
            return denied();
        };
        let mut resp = Response::new(Body::empty());
        let h = resp.headers_mut();
        add_cors_headers(h, rule, &origin);
        if !requested.is_empty()
            && let Ok(v) = HeaderValue::from_str(&requested.join(", "))
        {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if let Some(age) = rule.max_age_seconds {
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
        }
        resp
    }
}

/// `POST /bucket?delete`: the only S3 operation with that shape.
fn is_delete_objects(method: &Method, query: Option<&str>) -> bool {
    *method == Method::POST
        && query.is_some_and(|q| {
            q.split('&')
                .any(|p| p == "delete" || p.starts_with("delete="))
        })
}

fn add_cors_headers(h: &mut HeaderMap, rule: &cors::Rule, origin: &str) {
    let any = rule.allowed_origins.iter().any(|o| o == "*");
    let allow = if any { "*" } else { origin };
    if let Ok(v) = HeaderValue::from_str(allow) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    if !any {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if let Ok(v) = HeaderValue::from_str(&rule.allowed_methods.join(", ")) {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    if !rule.expose_headers.is_empty()
        && let Ok(v) = HeaderValue::from_str(&rule.expose_headers.join(", "))
    {
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
    }
    h.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// The bucket of a virtual-hosted-style host `bucket.<domain>[:port]`.
fn vhost_bucket<'a>(domain: &str, host: &'a str) -> Option<&'a str> {
    let name = strip_port(host);
    let bucket = name.strip_suffix(domain)?.strip_suffix('.')?;
    (!bucket.is_empty()).then_some(bucket)
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        // "[::1]:9000" or "name:9000", but not a bare IPv6 address
        Some((h, port))
            if port.bytes().all(|b| b.is_ascii_digit())
                && (!h.contains(':') || h.ends_with(']')) =>
        {
            h
        }
        _ => host,
    }
}

/// Virtual-hosted-style requests under one base domain; every other host
/// (the domain itself, `localhost`, an IP) is path-style.
#[derive(Debug)]
pub(crate) struct DomainHost {
    domain: String,
}

impl DomainHost {
    pub(crate) fn new(domain: &str) -> Self {
        DomainHost {
            domain: strip_port(domain).to_ascii_lowercase(),
        }
    }
}

impl S3Host for DomainHost {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let vh = VirtualHost::new(Cow::Borrowed(host));
        Ok(match vhost_bucket(&self.domain, host) {
            Some(b) => vh.with_bucket(b),
            None => vh,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_hosts() {
        assert_eq!(
            vhost_bucket("s3.local", "photos.s3.local:9000"),
            Some("photos")
        );
        assert_eq!(vhost_bucket("s3.local", "photos.s3.local"), Some("photos"));
        assert_eq!(vhost_bucket("s3.local", "s3.local:9000"), None);
        assert_eq!(vhost_bucket("s3.local", "localhost:9000"), None);
        assert_eq!(vhost_bucket("s3.local", "evils3.local"), None);
        let h = DomainHost::new("s3.local:9000");
        let vh = h.parse_host_header("a.b.s3.local:9000").unwrap();
        assert_eq!(vh.bucket(), Some("a.b"));
        assert_eq!(
            h.parse_host_header("127.0.0.1:9000").unwrap().bucket(),
            None
        );
    }
}
