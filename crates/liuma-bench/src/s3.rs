//! A minimal S3 client: SigV4 header signing ([`liuma_sigv4`], payload
//! sent as `UNSIGNED-PAYLOAD`) over a pooled hyper 1 HTTP/1.1 client. Only
//! what the workloads need; http:// only.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use http::{Method, Request, Response, Uri};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use liuma_sigv4::{AWS_ENCODE, AWS_PATH_ENCODE};
use percent_encoding::{AsciiSet, utf8_percent_encode};

use crate::data::DataBody;
use crate::error::{Error, Result};

/// RFC 3986 unreserved characters stay; everything else is %-encoded (SigV4).
const QUERY: &AsciiSet = AWS_ENCODE;
/// Same, but `/` separates key segments.
const PATH: &AsciiSet = AWS_PATH_ENCODE;

/// Body of a request.
#[derive(Debug)]
pub enum ReqBody {
    /// No body.
    Empty,
    /// A small in-memory body (XML).
    Bytes(Option<Bytes>),
    /// Generated object data.
    Data(DataBody),
}

impl http_body::Body for ReqBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            ReqBody::Empty => Poll::Ready(None),
            ReqBody::Bytes(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ReqBody::Data(d) => Pin::new(d).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Empty => true,
            ReqBody::Bytes(b) => b.is_none(),
            ReqBody::Data(d) => d.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Empty => SizeHint::with_exact(0),
            ReqBody::Bytes(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ReqBody::Data(d) => d.size_hint(),
        }
    }
}

/// Where and as whom to send requests.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host[:port]` of the endpoint.
    pub authority: String,
    /// Bucket name.
    pub bucket: String,
    /// Path-style (`/bucket/key`) rather than virtual-hosted (`bucket.host/key`).
    pub path_style: bool,
    /// Region in the signature scope.
    pub region: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Server-side encryption the objects are written (and read) with.
    pub sse: Sse,
}

/// `--sse`: how objects are encrypted at rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sse {
    /// Stored as the bucket's default says.
    #[default]
    None,
    /// SSE-S3 (`x-amz-server-side-encryption: AES256`) on writes.
    S3,
    /// SSE-C with a fixed benchmark key on writes and reads (the node must
    /// accept it: https, or `--sse-c-plain-http`).
    C,
}

/// The SSE-C benchmark key: 32 bytes of 0x42, base64, and the base64 of its MD5.
const SSEC_KEY: &str = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";
const SSEC_KEY_MD5: &str = "8NB6psqPvuXCjIqE3J2m5Q==";

impl Sse {
    /// Headers of a request on an object (`write`: PUT/POST, else a read).
    fn headers(self, write: bool) -> &'static [(&'static str, &'static str)] {
        match (self, write) {
            (Sse::S3, true) => &[("x-amz-server-side-encryption", "AES256")],
            (Sse::C, _) => &[
                ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
                ("x-amz-server-side-encryption-customer-key", SSEC_KEY),
                (
                    "x-amz-server-side-encryption-customer-key-md5",
                    SSEC_KEY_MD5,
                ),
            ],
            _ => &[],
        }
    }
}

impl Target {
    /// Split `http://host[:port][/]` into the authority.
    pub fn authority_of(endpoint: &str) -> Result<String> {
        let bad = || Error::Endpoint {
            endpoint: endpoint.to_owned(),
        };
        let rest = endpoint.strip_prefix("http://").ok_or_else(bad)?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(bad());
        }
        Ok(authority.to_owned())
    }
}

/// A signing, pooled S3 client for one bucket.
#[derive(Debug, Clone)]
pub struct S3Client {
    http: Client<HttpConnector, ReqBody>,
    target: Target,
}

impl S3Client {
    /// A client keeping up to `connections` idle connections.
    pub fn new(target: Target, connections: usize) -> S3Client {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(connections)
            .build(connector);
        S3Client { http, target }
    }

    /// Send a signed request for `key` (None: the bucket itself).
    pub async fn send(
        &self,
        method: Method,
        key: Option<&str>,
        query: &[(&str, &str)],
        body: ReqBody,
        content_length: u64,
    ) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        let t = &self.target;
        let (host, mut path) = if t.path_style {
            (t.authority.clone(), format!("/{}", t.bucket))
        } else {
            (format!("{}.{}", t.bucket, t.authority), String::new())
        };
        match key {
            Some(k) => {
                path.push('/');
                path.extend(utf8_percent_encode(k, PATH));
            }
            None if path.is_empty() => path.push('/'),
            None => {}
        }
        let mut pairs: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| {
                (
                    utf8_percent_encode(k, QUERY).to_string(),
                    utf8_percent_encode(v, QUERY).to_string(),
                )
            })
            .collect();
        pairs.sort();
        let query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let amz_date = liuma_sigv4::amz_date(SystemTime::now());
        let auth = sign(t, &method, &host, &path, &query, &amz_date);
        let uri = if query.is_empty() {
            format!("http://{host}{path}")
        } else {
            format!("http://{host}{path}?{query}")
        };
        let mut req = Request::builder()
            .method(method)
            .uri(
                uri.parse::<Uri>()
                    .expect("built from a valid authority and encoded path"),
            )
            .header("host", &host)
            .header("x-amz-date", &amz_date)
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
            .header("authorization", auth);
        if content_length > 0 || matches!(body, ReqBody::Data(_)) {
            req = req.header("content-length", content_length);
        }
        // Object writes and reads (not a multipart complete or abort,
        // which carry no SSE headers on AWS either).
        let complete = query.contains("uploadId") && !query.contains("partNumber");
        if key.is_some() && !complete {
            let write = req
                .method_ref()
                .is_some_and(|m| *m == Method::PUT || *m == Method::POST);
            for (name, value) in t.sse.headers(write) {
                req = req.header(*name, *value);
            }
        }
        let req = req.body(body).expect("all header values are ASCII");
        self.http.request(req).await
    }
}

/// The `Authorization` header value for a request (AWS SigV4, header form).
fn sign(
    t: &Target,
    method: &Method,
    host: &str,
    path: &str,
    query: &str,
    amz_date: &str,
) -> String {
    const UNSIGNED: &str = "UNSIGNED-PAYLOAD";
    let headers = [
        ("host", host),
        ("x-amz-content-sha256", UNSIGNED),
        ("x-amz-date", amz_date),
    ];
    let creq = liuma_sigv4::canonical_request(method.as_str(), path, query, &headers, UNSIGNED);
    let secret = format!("AWS4{}", t.secret_key);
    let sig = liuma_sigv4::sign(secret.as_bytes(), amz_date, &t.region, "s3", &creq);
    let scope = liuma_sigv4::scope(amz_date.get(..8).unwrap_or(amz_date), &t.region, "s3");
    format!(
        "{} Credential={}/{scope}, SignedHeaders={}, Signature={sig}",
        liuma_sigv4::ALGORITHM,
        t.access_key,
        liuma_sigv4::signed_headers(&headers)
    )
}

/// The text of the first `<tag>…</tag>` in `xml`, with the five XML entities decoded.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(
        xml[start..end]
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GET example of the AWS SigV4 documentation ("Example: GET Object"),
    /// with its payload hash swapped for UNSIGNED-PAYLOAD; the expected value
    /// was computed independently with Python's hmac/hashlib.
    #[test]
    fn signature_is_stable() {
        let t = Target {
            authority: "s3.amazonaws.com".into(),
            bucket: "examplebucket".into(),
            path_style: false,
            region: "us-east-1".into(),
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            sse: Sse::None,
        };
        let auth = sign(
            &t,
            &Method::GET,
            "examplebucket.s3.amazonaws.com",
            "/test.txt",
            "",
            "20130524T000000Z",
        );
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="
        ));
        assert!(auth.ends_with("5c0d4ff29e72b8f94c5b6720369921e587e39bf7a64e456887dec4b43a2d1b77"));
    }

    #[test]
    fn xml() {
        let x = "<A><UploadId>a&amp;b</UploadId><IsTruncated>true</IsTruncated></A>";
        assert_eq!(xml_text(x, "UploadId").as_deref(), Some("a&b"));
        assert_eq!(xml_text(x, "IsTruncated").as_deref(), Some("true"));
        assert_eq!(xml_text(x, "Nope"), None);
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            Target::authority_of("http://127.0.0.1:9000/").unwrap(),
            "127.0.0.1:9000"
        );
        assert!(Target::authority_of("https://x").is_err());
        assert!(Target::authority_of("http://x/y").is_err());
    }
}
