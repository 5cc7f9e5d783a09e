//! The console's only way to act: a real S3 request, SigV4-signed with the
//! session's key, handed in-process to the same [`S3Front`] the S3 listener
//! serves. Authentication, policies and every other check are therefore
//! the S3 API's own; the console adds none and skips none.
//!
//! Also builds presigned GET URLs (share links) for the public S3 endpoint.

use std::time::SystemTime;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use liuma_s3::S3Front;
use liuma_sigv4 as sigv4;
use md5::Digest as _;

use crate::xml;

/// Credentials a request is signed with.
pub struct Creds<'a> {
    /// Access key id.
    pub key: &'a str,
    /// Secret access key.
    pub secret: &'a str,
}

/// One S3 call: method, bucket/key, raw (already escaped) query, extra headers, body.
pub struct Call<'a> {
    /// HTTP method.
    pub method: Method,
    /// Bucket, or "" for the service (ListBuckets).
    pub bucket: &'a str,
    /// Object key, or "" for bucket operations.
    pub key: &'a str,
    /// Query string, each part already escaped (`uploads`, `list-type=2&prefix=a%2F`).
    pub query: String,
    /// Extra headers sent (not signed; SigV4 needs only host and x-amz-*).
    pub headers: Vec<(http::HeaderName, HeaderValue)>,
    /// The body.
    pub body: CallBody,
}

/// A body sent to S3.
pub enum CallBody {
    /// Nothing.
    Empty,
    /// Bytes in memory (XML documents); signed with their SHA-256.
    Bytes(Bytes),
    /// A stream from the browser (uploads): sent as UNSIGNED-PAYLOAD.
    Stream(Body),
}

/// The S3 service in this process and how requests to it are addressed.
#[derive(Clone, Debug)]
pub struct S3Client {
    /// The S3 service itself.
    pub front: S3Front,
    /// `Host` of the in-process requests (the S3 listener's address).
    pub host: String,
    /// Region signed for.
    pub region: String,
}

/// The part of a path segment S3 keys need escaped: AWS's set, `/` kept.
fn path_of(bucket: &str, key: &str) -> String {
    let mut p = String::from("/");
    if !bucket.is_empty() {
        p.push_str(&sigv4::encode_path(bucket));
        if !key.is_empty() {
            p.push('/');
            p.push_str(&sigv4::encode_path(key));
        }
    }
    p
}

/// Escape a query value AWS's way.
pub fn q(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, sigv4::AWS_ENCODE).to_string()
}

impl S3Client {
    /// Sign `call` with `creds` and dispatch it; the S3 answer.
    pub async fn call(&self, creds: &Creds<'_>, call: Call<'_>) -> Response<Body> {
        let path = path_of(call.bucket, call.key);
        let amz_date = sigv4::amz_date(SystemTime::now());
        // (hash, body, Content-MD5, Content-Length): a known length is sent
        // (POSTs without one are refused with 411).
        let (payload_hash, body, md5, len) = match call.body {
            CallBody::Empty => (sigv4::sha256_hex(b""), Body::empty(), None, Some(0)),
            CallBody::Bytes(b) => {
                let md5 = base64_simd::STANDARD.encode_to_string(md5::Md5::digest(&b));
                let len = b.len();
                (sigv4::sha256_hex(&b), Body::from(b), Some(md5), Some(len))
            }
            CallBody::Stream(b) => ("UNSIGNED-PAYLOAD".to_owned(), b, None, None),
        };
        let headers = [
            ("host", self.host.as_str()),
            ("x-amz-content-sha256", payload_hash.as_str()),
            ("x-amz-date", amz_date.as_str()),
        ];
        let creq = sigv4::canonical_request(
            call.method.as_str(),
            &path,
            &sigv4::canonical_query(&call.query),
            &headers,
            &payload_hash,
        );
        let mut secret = b"AWS4".to_vec();
        secret.extend_from_slice(creds.secret.as_bytes());
        let sig = sigv4::sign(&secret, &amz_date, &self.region, "s3", &creq);
        let auth = format!(
            "{} Credential={}/{}, SignedHeaders={}, Signature={sig}",
            sigv4::ALGORITHM,
            creds.key,
            sigv4::scope(&amz_date[..8], &self.region, "s3"),
            sigv4::signed_headers(&headers),
        );
        let uri = if call.query.is_empty() {
            path
        } else {
            format!("{path}?{}", call.query)
        };
        let mut req = Request::builder().method(call.method).uri(uri);
        for (n, v) in headers {
            req = req.header(n, v);
        }
        req = req.header(http::header::AUTHORIZATION, auth);
        if let Some(m) = md5 {
            req = req.header("content-md5", m);
        }
        if let Some(n) = len {
            req = req.header(http::header::CONTENT_LENGTH, n);
        }
        for (n, v) in call.headers {
            req = req.header(n, v);
        }
        let req = match req.body(body) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "console built an invalid S3 request");
                let mut r = Response::new(Body::empty());
                *r.status_mut() = StatusCode::BAD_REQUEST;
                return r;
            }
        };
        self.front.handle(req).await.map(Body::new)
    }

    /// A presigned GET URL of `bucket/key` on `base` (`http://host:port`),
    /// valid `expires` seconds from now.
    pub fn presign(
        &self,
        creds: &Creds<'_>,
        base: &str,
        bucket: &str,
        key: &str,
        expires: u64,
    ) -> String {
        let host = base
            .split_once("://")
            .map_or(base, |(_, h)| h)
            .trim_end_matches('/');
        let path = path_of(bucket, key);
        let amz_date = sigv4::amz_date(SystemTime::now());
        let scope = sigv4::scope(&amz_date[..8], &self.region, "s3");
        let query = format!(
            "X-Amz-Algorithm={}&X-Amz-Credential={}&X-Amz-Date={amz_date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host",
            sigv4::ALGORITHM,
            q(&format!("{}/{scope}", creds.key)),
        );
        let creq = sigv4::canonical_request(
            "GET",
            &path,
            &sigv4::canonical_query(&query),
            &[("host", host)],
            "UNSIGNED-PAYLOAD",
        );
        let mut secret = b"AWS4".to_vec();
        secret.extend_from_slice(creds.secret.as_bytes());
        let sig = sigv4::sign(&secret, &amz_date, &self.region, "s3", &creq);
        format!(
            "{}{path}?{query}&X-Amz-Signature={sig}",
            base.trim_end_matches('/')
        )
    }
}

/// An S3 answer read whole (small XML answers only).
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Answer {
    /// A header of the answer as text ("" when absent or not text).
    pub fn header(&self, name: impl http::header::AsHeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Read `resp` into memory (at most `limit` bytes, else an error answer).
    pub async fn read(resp: Response<Body>, limit: usize) -> Answer {
        let (parts, body) = resp.into_parts();
        let body = match http_body_util::Limited::new(body, limit).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return Answer {
                    status: StatusCode::BAD_GATEWAY,
                    headers: HeaderMap::new(),
                    body: Bytes::from_static(
                        b"<Error><Code>InternalError</Code><Message>S3 answer unreadable or too large</Message></Error>",
                    ),
                };
            }
        };
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// The XML body's root element.
    pub fn xml(&self) -> Option<xml::El> {
        xml::parse(&self.body)
    }
}
