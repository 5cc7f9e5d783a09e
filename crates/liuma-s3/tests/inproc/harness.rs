//! The harness: a real node in process and a signing S3 client.
//!
//! [`Node::start`] opens an engine on a temp dir (redb metadata, one disk
//! of shard files) and serves [`liuma_s3::build`] on a 127.0.0.1:0 listener
//! inside the test's runtime. [`Client`] signs every request with SigV4
//! (presigned by `rusty-s3`, the way a browser link or `aws s3 presign` is)
//! and sends it over a real socket with hyper's client, so routing, auth,
//! XML and error rendering are all exercised. Adding a case is one line:
//! `let r = node.client.put("b", "k", "data").await; r.ok();`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use liuma_disk::{DiskConfig, ShardStore};
use liuma_engine::{Engine, EngineConfig};
use liuma_meta::RedbStore;
use tokio::net::TcpListener;
use url::Url;

/// The root key every node of the suite is opened with.
pub const KEY_ID: &str = "inproctestkey";
/// Its secret.
pub const SECRET: &str = "inproc-test-secret-0123456789";
/// The region the node serves (the default).
pub const REGION: &str = "us-east-1";
/// Block size: small, so a few hundred KiB make multi-block objects.
pub const BLOCK: usize = 64 << 10;
/// Smallest multipart part but the last.
pub const MIN_PART: usize = 2 * BLOCK;

/// A node serving S3 on a loopback port of this test's runtime.
pub struct Node {
    /// The engine behind the listener (for what no S3 call can do, e.g.
    /// running a background pass "as of" a given time).
    pub engine: Engine,
    /// The node's disks (one), to damage shards under a test.
    pub disks: Arc<ShardStore>,
    /// The S3 address.
    pub addr: SocketAddr,
    /// A client signing with the root key.
    pub client: Client,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Node {
    /// Open an engine in a fresh temp dir and serve S3 on 127.0.0.1:0.
    pub async fn start() -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let meta = RedbStore::open(&dir.path().join("meta.redb")).expect("redb store");
        let disks =
            ShardStore::open(&[DiskConfig::new(dir.path().join("disk0"))]).expect("shard store");
        let cfg = EngineConfig {
            block_size: BLOCK,
            replicate_below: 16 << 10,
            min_part_size: MIN_PART as u64,
            ..Default::default()
        };
        let disks = Arc::new(disks);
        let engine = Engine::open(cfg, meta, disks.clone()).expect("engine");
        engine
            .import_key(KEY_ID, SECRET, "root", true)
            .await
            .expect("root key");
        let front = liuma_s3::build(engine.clone(), liuma_s3::S3Settings::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let front = front.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let front = front.clone();
                        async move { Ok::<_, std::convert::Infallible>(front.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Node {
            engine,
            disks,
            addr,
            client: Client::new(addr, KEY_ID, SECRET),
            server,
            _dir: dir,
        }
    }
}

impl Node {
    /// Run a lifecycle pass as if the clock said `now_ms` (unthrottled).
    pub async fn lifecycle_at(&self, now_ms: u64) -> liuma_engine::LifecycleReport {
        self.engine
            .lifecycle_pass(liuma_engine::LifecycleOptions {
                now_ms,
                ops_per_sec: 0,
            })
            .await
            .expect("lifecycle pass")
    }

    /// The modification time of a key's current version, ms since the epoch.
    pub async fn mtime(&self, bucket: &str, key: &str) -> u64 {
        self.engine
            .head_object(bucket, key, None)
            .await
            .expect("object exists")
            .last_modified_ms
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Resp {
    /// Assert a 2xx status; returns self for chaining.
    #[track_caller]
    pub fn ok(self) -> Resp {
        assert!(
            (200..300).contains(&self.status),
            "expected success, got {}: {}",
            self.status,
            self.text()
        );
        self
    }

    /// Assert an S3 error with this status and `<Code>`.
    #[track_caller]
    pub fn err(self, status: u16, code: &str) -> Resp {
        assert_eq!(
            (self.status, self.code().as_deref()),
            (status, Some(code)),
            "body: {}",
            self.text()
        );
        self
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The error `<Code>`, if the body is an S3 error.
    pub fn code(&self) -> Option<String> {
        self.xml("Code").into_iter().next()
    }

    /// The text of every `<tag>…</tag>` in the body, in order (enough XML
    /// for assertions; entities are decoded for the few S3 uses).
    pub fn xml(&self, tag: &str) -> Vec<String> {
        xml_all(&self.text(), tag)
    }

    /// A header as a string ("" when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// The text of every `<tag>…</tag>` (or `<tag attr…>…</tag>`) in `xml`.
pub fn xml_all(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        // `<Tag>` or `<Tag …>`, not `<TagSuffix>`; `<Tag/>` is empty.
        match after.chars().next() {
            Some('>') | Some(' ') => {}
            Some('/') => {
                out.push(String::new());
                rest = after;
                continue;
            }
            _ => {
                rest = after;
                continue;
            }
        }
        let Some(gt) = after.find('>') else { break };
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        out.push(
            body[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &body[end + close.len()..];
    }
    out
}

/// Percent-encode an object key for a URL path (AWS's rule: everything but
/// unreserved characters and `/`).
pub fn encode_key(key: &str) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

/// What a request addresses and carries; build with [`Req::new`].
#[derive(Clone, Debug)]
pub struct Req<'a> {
    /// HTTP method.
    pub method: Method,
    /// Bucket, or None for the service (ListBuckets).
    pub bucket: Option<&'a str>,
    /// Object key, or None for a bucket operation.
    pub key: Option<&'a str>,
    /// Query parameters (signed).
    pub query: Vec<(&'a str, String)>,
    /// Headers (signed; names lower case).
    pub headers: Vec<(&'a str, String)>,
    /// Body.
    pub body: Bytes,
}

impl<'a> Req<'a> {
    /// A request with no query, headers or body.
    pub fn new(method: Method, bucket: Option<&'a str>, key: Option<&'a str>) -> Self {
        Req {
            method,
            bucket,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }
    /// Add a query parameter (`("versioning", "")` for a bare `?versioning`).
    pub fn q(mut self, k: &'a str, v: impl Into<String>) -> Self {
        self.query.push((k, v.into()));
        self
    }
    /// Add a header (lower-case name).
    pub fn h(mut self, k: &'a str, v: impl Into<String>) -> Self {
        self.headers.push((k, v.into()));
        self
    }
    /// Set the body.
    pub fn body(mut self, b: impl Into<Bytes>) -> Self {
        self.body = b.into();
        self
    }
}

/// A client that signs with one key.
#[derive(Clone)]
pub struct Client {
    http: HttpClient<HttpConnector, Full<Bytes>>,
    base: String,
    key_id: String,
    secret: String,
}

impl Client {
    /// A client of the node at `addr` signing as (`key_id`, `secret`).
    pub fn new(addr: SocketAddr, key_id: &str, secret: &str) -> Client {
        Client {
            http: HttpClient::builder(TokioExecutor::new()).build_http(),
            base: format!("http://{addr}"),
            key_id: key_id.to_owned(),
            secret: secret.to_owned(),
        }
    }

    /// The same node with other credentials (e.g. a wrong secret).
    pub fn with_secret(&self, secret: &str) -> Client {
        Client {
            secret: secret.to_owned(),
            ..self.clone()
        }
    }

    /// The presigned URL of a request (SigV4 in the query, payload unsigned).
    pub fn presign(&self, r: &Req<'_>, expires: Duration) -> Url {
        let url = self.url_of(r);
        let method = match r.method {
            Method::GET => rusty_s3::Method::Get,
            Method::HEAD => rusty_s3::Method::Head,
            Method::PUT => rusty_s3::Method::Put,
            Method::POST => rusty_s3::Method::Post,
            Method::DELETE => rusty_s3::Method::Delete,
            ref m => panic!("rusty-s3 cannot sign {m}"),
        };
        let mut query: Vec<(&str, &str)> = r.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        query.sort();
        let mut headers: Vec<(&str, &str)> =
            r.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        headers.sort();
        rusty_s3::signing::sign(
            &time::OffsetDateTime::now_utc(),
            method,
            url,
            &self.key_id,
            &self.secret,
            None,
            REGION,
            expires.as_secs(),
            query.into_iter(),
            headers.into_iter(),
        )
    }

    /// Send a signed request and read the whole response (30 s deadline).
    pub async fn send(&self, r: Req<'_>) -> Resp {
        let url = self.presign(&r, Duration::from_secs(600));
        self.send_to(url, r).await
    }

    /// Send a request without any signature (an anonymous caller).
    pub async fn send_unsigned(&self, r: Req<'_>) -> Resp {
        let url = self.url_of(&r);
        self.send_to(url, r).await
    }

    /// The URL of a request's bucket and key, without a query.
    fn url_of(&self, r: &Req<'_>) -> Url {
        let mut path = String::from("/");
        if let Some(b) = r.bucket {
            path.push_str(b);
            if let Some(k) = r.key {
                path.push('/');
                path.push_str(&encode_key(k));
            }
        }
        Url::parse(&format!("{}{path}", self.base)).expect("valid URL")
    }

    async fn send_to(&self, url: Url, r: Req<'_>) -> Resp {
        let mut b = Request::builder()
            .method(r.method.clone())
            .uri(url.as_str());
        for (k, v) in &r.headers {
            b = b.header(*k, v);
        }
        let req = b.body(Full::new(r.body.clone())).expect("valid request");
        let fut = async {
            let resp = self.http.request(req).await.expect("request sent");
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.expect("response body").to_bytes();
            Resp {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            }
        };
        tokio::time::timeout(Duration::from_secs(30), fut)
            .await
            .expect("the node answers within 30 s")
    }

    // ---- one-liners for the common operations ----

    /// CreateBucket.
    pub async fn create_bucket(&self, bucket: &str) -> Resp {
        self.send(Req::new(Method::PUT, Some(bucket), None)).await
    }
    /// DeleteBucket.
    pub async fn delete_bucket(&self, bucket: &str) -> Resp {
        self.send(Req::new(Method::DELETE, Some(bucket), None))
            .await
    }
    /// HeadBucket.
    pub async fn head_bucket(&self, bucket: &str) -> Resp {
        self.send(Req::new(Method::HEAD, Some(bucket), None)).await
    }
    /// PutObject.
    pub async fn put(&self, bucket: &str, key: &str, data: impl Into<Bytes>) -> Resp {
        self.send(Req::new(Method::PUT, Some(bucket), Some(key)).body(data))
            .await
    }
    /// GetObject.
    pub async fn get(&self, bucket: &str, key: &str) -> Resp {
        self.send(Req::new(Method::GET, Some(bucket), Some(key)))
            .await
    }
    /// GetObject of one version.
    pub async fn get_version(&self, bucket: &str, key: &str, version: &str) -> Resp {
        self.send(Req::new(Method::GET, Some(bucket), Some(key)).q("versionId", version))
            .await
    }
    /// GetObject with a `Range` header.
    pub async fn get_range(&self, bucket: &str, key: &str, range: &str) -> Resp {
        self.send(Req::new(Method::GET, Some(bucket), Some(key)).h("range", range))
            .await
    }
    /// HeadObject.
    pub async fn head(&self, bucket: &str, key: &str) -> Resp {
        self.send(Req::new(Method::HEAD, Some(bucket), Some(key)))
            .await
    }
    /// DeleteObject.
    pub async fn delete(&self, bucket: &str, key: &str) -> Resp {
        self.send(Req::new(Method::DELETE, Some(bucket), Some(key)))
            .await
    }
    /// DeleteObject of one version.
    pub async fn delete_version(&self, bucket: &str, key: &str, version: &str) -> Resp {
        self.send(Req::new(Method::DELETE, Some(bucket), Some(key)).q("versionId", version))
            .await
    }
    /// ListObjectsV2 with extra query parameters.
    pub async fn list(&self, bucket: &str, params: &[(&str, &str)]) -> Resp {
        let mut r = Req::new(Method::GET, Some(bucket), None).q("list-type", "2");
        for (k, v) in params {
            r = r.q(k, *v);
        }
        self.send(r).await
    }
    /// ListObjectVersions.
    pub async fn list_versions(&self, bucket: &str) -> Resp {
        self.send(Req::new(Method::GET, Some(bucket), None).q("versions", ""))
            .await
    }
    /// PutBucketVersioning with `Enabled` or `Suspended`.
    pub async fn set_versioning(&self, bucket: &str, status: &str) -> Resp {
        let xml =
            format!("<VersioningConfiguration><Status>{status}</Status></VersioningConfiguration>");
        self.send(
            Req::new(Method::PUT, Some(bucket), None)
                .q("versioning", "")
                .body(xml),
        )
        .await
    }
    /// PutBucketLifecycleConfiguration with these `<Rule>` elements.
    pub async fn put_lifecycle(&self, bucket: &str, rules: &str) -> Resp {
        let xml = format!("<LifecycleConfiguration>{rules}</LifecycleConfiguration>");
        self.send(
            Req::new(Method::PUT, Some(bucket), None)
                .q("lifecycle", "")
                .body(xml),
        )
        .await
    }
    /// GetBucketLifecycleConfiguration.
    pub async fn get_lifecycle(&self, bucket: &str) -> Resp {
        self.send(Req::new(Method::GET, Some(bucket), None).q("lifecycle", ""))
            .await
    }
    /// DeleteBucketLifecycle.
    pub async fn delete_lifecycle(&self, bucket: &str) -> Resp {
        self.send(Req::new(Method::DELETE, Some(bucket), None).q("lifecycle", ""))
            .await
    }
    /// CreateMultipartUpload; returns the upload id.
    pub async fn create_upload(&self, bucket: &str, key: &str) -> String {
        let r = self
            .send(Req::new(Method::POST, Some(bucket), Some(key)).q("uploads", ""))
            .await
            .ok();
        r.xml("UploadId").into_iter().next().expect("an UploadId")
    }
    /// UploadPart; returns the ETag (with quotes).
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload: &str,
        n: u32,
        data: impl Into<Bytes>,
    ) -> String {
        let r = self
            .send(
                Req::new(Method::PUT, Some(bucket), Some(key))
                    .q("partNumber", n.to_string())
                    .q("uploadId", upload)
                    .body(data),
            )
            .await
            .ok();
        r.header("etag")
    }
    /// CompleteMultipartUpload with (part number, ETag) pairs.
    pub async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload: &str,
        parts: &[(u32, String)],
    ) -> Resp {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (n, etag) in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        self.send(
            Req::new(Method::POST, Some(bucket), Some(key))
                .q("uploadId", upload)
                .body(xml),
        )
        .await
    }
}

/// `n` bytes of a repeatable pattern (distinct per `seed`).
pub fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 8) as u8))
        .collect()
}
