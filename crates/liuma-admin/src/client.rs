//! The one HTTP client of the admin API: used by the cluster-wide passes
//! (`?scope=cluster` asks every peer's admin endpoint), the console's
//! whole-cluster charts and the `liuma` CLI (`liuma key`, `liuma node`...).
//! hyper's client (already in the tree through the cluster layer),
//! HTTP/1.1, one connection per call, plain or over TLS (rustls with ring,
//! as the listeners; no OpenSSL).
//!
//! **Where**: an [`AdminEndpoint`] is `https://host:port`, `http://host:port`
//! or a bare `host:port`, which is plain HTTP: what nodes published in
//! their membership record before the admin listener could speak TLS, so
//! old records keep working.
//!
//! **Whom to trust** over https: an [`AdminTrust`], the OS's trust store
//! plus, optionally, the operator's CA certificates (PEM): the CLI's
//! `--admin-ca`, a node's `--tls-ca` for its peers. The server's name
//! (host or IP address of the endpoint) must be in its certificate.
//!
//! **Never hangs**: connecting has [`CONNECT_TIMEOUT`], and the whole call
//! (TLS handshake, request, head and body of the answer) has a deadline,
//! 30 s unless the caller sets another ([`AdminClient::with_deadline`]: a
//! heal pass may take many minutes). A certificate that is not trusted, or
//! a TLS client meeting a plain port, fails at once with its own error.
//!
//! The admin token travels in the `Authorization` header only; it is in no
//! error and not in the client's `Debug`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;

/// How long connecting to a node's admin listener may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The deadline of a call unless the caller sets another.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminCallError {
    /// The request could not be built (a malformed address or path).
    #[error("bad admin request to {addr}: {source}")]
    BadRequest {
        /// host:port.
        addr: String,
        /// What http refused.
        #[source]
        source: http::Error,
    },
    /// The node's TLS certificate is not trusted (unknown issuer, not
    /// valid for the name asked for, expired...).
    #[error("the TLS certificate of {addr} is not trusted ({source}); {how_to_trust}")]
    Untrusted {
        /// host:port.
        addr: String,
        /// rustls's verdict.
        #[source]
        source: rustls::Error,
        /// How the caller adds a CA (e.g. "give its CA with --admin-ca FILE").
        how_to_trust: &'static str,
    },
    /// The node's TLS certificate is from a trusted CA but not valid now
    /// (expired, not yet valid, revoked): trusting another CA would not help.
    #[error(
        "the TLS certificate of {addr} is not valid now ({source}): the node needs a current certificate"
    )]
    CertificateNotCurrent {
        /// host:port.
        addr: String,
        /// rustls's verdict.
        #[source]
        source: rustls::Error,
    },
    /// The node's TLS certificate is trusted but does not name the host the
    /// endpoint was reached by.
    #[error(
        "the TLS certificate of {addr} does not name {host} ({source}): reach it by a name or \
         address its certificate carries"
    )]
    WrongName {
        /// host:port.
        addr: String,
        /// The host asked for.
        host: String,
        /// rustls's verdict.
        #[source]
        source: rustls::Error,
    },
    /// An `https://` endpoint whose port answered something that is not
    /// TLS (a plain HTTP listener).
    #[error("{addr} does not speak TLS ({source}): is it a plain http:// port?")]
    NotTls {
        /// host:port.
        addr: String,
        /// rustls's error.
        #[source]
        source: rustls::Error,
    },
    /// Connecting or sending failed (refused, reset, connect timeout, a
    /// failed handshake for another reason).
    #[error("admin API at {addr} unreachable: {source}")]
    Unreachable {
        /// host:port.
        addr: String,
        /// The client's error.
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// No whole answer within the deadline.
    #[error("no answer from {addr} within {deadline:?}")]
    Timeout {
        /// host:port.
        addr: String,
        /// The deadline that passed.
        deadline: Duration,
    },
    /// Reading the answer's body failed.
    #[error("reading the answer of {addr} failed: {source}")]
    Body {
        /// host:port.
        addr: String,
        /// hyper's error.
        #[source]
        source: hyper::Error,
    },
    /// The node answered with an error status; `code` and `message` from
    /// its JSON error body when it has one.
    #[error("{addr} answered {status}: {message}")]
    Status {
        /// host:port.
        addr: String,
        /// HTTP status.
        status: u16,
        /// The error body's `code`, if any.
        code: Option<String>,
        /// The error body's `message`, else the body's text.
        message: String,
    },
    /// A 2xx answer whose body is not JSON.
    #[error("bad JSON from {addr}: {source}")]
    BadJson {
        /// host:port.
        addr: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

/// Why an admin endpoint could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointError {
    /// A scheme other than http and https.
    #[error("admin endpoint {given:?}: the scheme must be http:// or https://")]
    Scheme {
        /// What was given.
        given: String,
    },
    /// No host, or a path after host:port.
    #[error("admin endpoint {given:?}: expected [http[s]://]HOST[:PORT] with no path")]
    Form {
        /// What was given.
        given: String,
    },
}

/// Where a node's admin API is: plain or TLS, and host:port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminEndpoint {
    tls: bool,
    authority: String,
}

impl AdminEndpoint {
    /// Read `http://HOST[:PORT]`, `https://HOST[:PORT]` (a trailing `/`
    /// allowed; the port defaults to 80 / 443) or a bare `HOST:PORT`,
    /// which is plain HTTP (membership records written before nodes
    /// published a scheme).
    pub fn parse(given: &str) -> Result<AdminEndpoint, EndpointError> {
        let (tls, rest) = match given.split_once("://") {
            Some((s, rest)) if s.eq_ignore_ascii_case("https") => (true, rest),
            Some((s, rest)) if s.eq_ignore_ascii_case("http") => (false, rest),
            Some(_) => {
                return Err(EndpointError::Scheme {
                    given: given.to_owned(),
                });
            }
            None => (false, given),
        };
        let hp = rest.strip_suffix('/').unwrap_or(rest);
        let form = || EndpointError::Form {
            given: given.to_owned(),
        };
        if hp.is_empty() || hp.starts_with(':') || hp.contains(['/', '?', '#', '@', ' ']) {
            return Err(form());
        }
        // A port is what follows the last ':' outside an IPv6 literal's [].
        let has_port = match hp.rfind(':') {
            Some(i) => !hp[i..].contains(']'),
            None => false,
        };
        if has_port {
            let port = &hp[hp.rfind(':').unwrap_or(0) + 1..];
            if port.parse::<u16>().is_err() {
                return Err(form());
            }
        }
        let authority = if has_port {
            hp.to_owned()
        } else {
            format!("{hp}:{}", if tls { 443 } else { 80 })
        };
        Ok(AdminEndpoint { tls, authority })
    }

    /// `host:port` with the scheme only when it is TLS: what a node
    /// publishes (a bare `host:port` stays readable by older nodes).
    pub fn published(tls: bool, authority: impl Into<String>) -> String {
        let a = authority.into();
        if tls { format!("https://{a}") } else { a }
    }

    /// Over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// host:port.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The host (an IPv6 address without its brackets): the name the
    /// server's certificate must carry.
    pub fn host(&self) -> &str {
        let host = self
            .authority
            .rsplit_once(':')
            .map_or(self.authority.as_str(), |(h, _)| h);
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
    }

    /// `http[s]://host:port`.
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.authority
        )
    }
}

impl std::fmt::Display for AdminEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

/// Why the trust store could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The CA file could not be read.
    #[error("reading the CA file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The CA file holds no usable PEM certificate.
    #[error("{}: {what}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// rustls refused the configuration (no protocol version in common).
    #[error("building the TLS client configuration: {0}")]
    Config(#[source] rustls::Error),
}

/// Whom the client trusts over https: the OS's trust store and the
/// operator's CA certificates, if any. Cheap to clone; load it once.
#[derive(Clone)]
pub struct AdminTrust {
    roots: Arc<rustls::RootCertStore>,
    config: Arc<rustls::ClientConfig>,
    how_to_trust: &'static str,
    extra: usize,
}

impl std::fmt::Debug for AdminTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminTrust")
            .field("extra_cas", &self.extra)
            .finish_non_exhaustive()
    }
}

impl AdminTrust {
    /// The OS's trust store plus every certificate in `ca_file` (PEM), if
    /// given. `how_to_trust` ends an untrusted-certificate error: how this
    /// caller is given a CA (e.g. "give its CA with --admin-ca FILE").
    pub fn load(ca_file: Option<&Path>, how_to_trust: &'static str) -> Result<Self, TrustError> {
        let extra = match ca_file {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|source| TrustError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                let certs = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| TrustError::Parse {
                        path: path.to_owned(),
                        what: format!("not a PEM certificate list: {e}"),
                    })?;
                if certs.is_empty() {
                    return Err(TrustError::Parse {
                        path: path.to_owned(),
                        what: "no CERTIFICATE block found".into(),
                    });
                }
                Some((path, certs))
            }
            None => None,
        };
        let mut roots = rustls::RootCertStore::empty();
        // The OS's store: files it cannot read are skipped (a machine
        // without ca-certificates still trusts the operator's CA).
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::debug!(error = %e, "a system CA certificate could not be loaded");
        }
        roots.add_parsable_certificates(native.certs);
        let mut n = 0;
        if let Some((path, certs)) = extra {
            for c in certs {
                roots.add(c).map_err(|e| TrustError::Parse {
                    path: path.to_owned(),
                    what: format!("not a usable CA certificate: {e}"),
                })?;
                n += 1;
            }
        }
        let roots = Arc::new(roots);
        // ALPN (http/1.1) is set by hyper-rustls from the protocols enabled.
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(TrustError::Config)?
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        Ok(AdminTrust {
            roots,
            config: Arc::new(config),
            how_to_trust,
            extra: n,
        })
    }

    /// How many operator CA certificates it holds besides the OS's.
    pub fn extra_cas(&self) -> usize {
        self.extra
    }

    /// Whether a client with this trust would accept `chain` (leaf first)
    /// from a server reached as `host`: what a node checks of its own
    /// admin certificate at start, as its peers will.
    pub fn check(
        &self,
        chain: &[CertificateDer<'static>],
        host: &str,
    ) -> Result<(), rustls::Error> {
        use rustls::client::danger::ServerCertVerifier;
        let (leaf, intermediates) = chain
            .split_first()
            .ok_or(rustls::Error::NoCertificatesPresented)?;
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| rustls::Error::General(format!("{host:?} is not a server name: {e}")))?;
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            self.roots.clone(),
            provider(),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
        verifier
            .verify_server_cert(
                leaf,
                intermediates,
                &name,
                &[],
                rustls::pki_types::UnixTime::now(),
            )
            .map(|_| ())
    }
}

/// The crypto the client uses: ring, as the listeners.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// hyper's client over plain TCP or TLS, per the endpoint's scheme.
type Http = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client of one node's admin API.
#[derive(Clone)]
pub struct AdminClient {
    endpoint: AdminEndpoint,
    token: String,
    deadline: Duration,
    how_to_trust: &'static str,
    http: Http,
}

impl std::fmt::Debug for AdminClient {
    /// Without the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("endpoint", &self.endpoint)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl AdminClient {
    /// A client of the admin API at `endpoint`, sending `token`, trusting
    /// `trust` when the endpoint is https.
    pub fn new(endpoint: AdminEndpoint, token: impl Into<String>, trust: &AdminTrust) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.enforce_http(false);
        // https_or_http: the scheme of each request's URI decides, and it
        // is the endpoint's.
        let https = HttpsConnectorBuilder::new()
            .with_tls_config((*trust.config).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(https);
        AdminClient {
            endpoint,
            token: token.into(),
            deadline: DEFAULT_DEADLINE,
            how_to_trust: trust.how_to_trust,
            http,
        }
    }

    /// The same client with another deadline for a whole call.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Duration) -> AdminClient {
        self.deadline = deadline;
        self
    }

    /// The node's endpoint.
    pub fn endpoint(&self) -> &AdminEndpoint {
        &self.endpoint
    }

    /// One request with an optional JSON body; the JSON body of a 2xx
    /// answer (`null` when empty), else the error.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, AdminCallError> {
        let addr = self.endpoint.authority();
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.endpoint.url()))
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|source| AdminCallError::BadRequest {
                addr: addr.to_owned(),
                source,
            })?;
        let exchange = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|source| self.send_error(source))?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|source| AdminCallError::Body {
                    addr: addr.to_owned(),
                    source,
                })?
                .to_bytes();
            Ok::<_, AdminCallError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.deadline, exchange)
            .await
            .map_err(|_| AdminCallError::Timeout {
                addr: addr.to_owned(),
                deadline: self.deadline,
            })??;
        answer(addr, status, &bytes)
    }

    /// A failed send, told apart by its TLS cause: an untrusted
    /// certificate and a plain port are the operator's to fix, and say so.
    fn send_error(&self, source: hyper_util::client::legacy::Error) -> AdminCallError {
        match tls_cause(&source).cloned() {
            Some(e) => self
                .tls_error(e)
                .unwrap_or_else(|| AdminCallError::Unreachable {
                    addr: self.endpoint.authority().to_owned(),
                    source,
                }),
            None => AdminCallError::Unreachable {
                addr: self.endpoint.authority().to_owned(),
                source,
            },
        }
    }

    /// The error a TLS failure is reported as (None: not one of ours to name).
    fn tls_error(&self, e: rustls::Error) -> Option<AdminCallError> {
        let addr = self.endpoint.authority().to_owned();
        Some(match Some(e) {
            Some(
                e @ rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. },
                ),
            ) => AdminCallError::WrongName {
                addr,
                host: self.endpoint.host().to_owned(),
                source: e,
            },
            Some(
                e @ rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Expired
                    | rustls::CertificateError::ExpiredContext { .. }
                    | rustls::CertificateError::NotValidYet
                    | rustls::CertificateError::NotValidYetContext { .. }
                    | rustls::CertificateError::Revoked,
                ),
            ) => AdminCallError::CertificateNotCurrent { addr, source: e },
            Some(
                e @ (rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented),
            ) => AdminCallError::Untrusted {
                addr,
                source: e,
                how_to_trust: self.how_to_trust,
            },
            Some(e @ rustls::Error::InvalidMessage(_)) => {
                AdminCallError::NotTls { addr, source: e }
            }
            _ => return None,
        })
    }
}

/// The rustls error somewhere in an error's chain. tokio-rustls hands it
/// up inside an `io::Error` (hyper-rustls wraps that in another one), and
/// an `io::Error`'s `source()` skips what it wraps: look inside instead.
fn tls_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// A 2xx answer's JSON, or the error its body describes (the admin API's
/// shape is `{"status": "error", "code", "message"}`).
fn answer(addr: &str, status: u16, bytes: &[u8]) -> Result<Value, AdminCallError> {
    if (200..300).contains(&status) {
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        return serde_json::from_slice(bytes).map_err(|source| AdminCallError::BadJson {
            addr: addr.to_owned(),
            source,
        });
    }
    let text = String::from_utf8_lossy(bytes);
    let json: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    Err(AdminCallError::Status {
        addr: addr.to_owned(),
        status,
        code: json["code"].as_str().map(str::to_owned),
        message: json["message"]
            .as_str()
            .map_or_else(|| text.trim().to_owned(), str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_error_bodies() {
        assert_eq!(answer("a", 200, b"").unwrap(), Value::Null);
        assert_eq!(answer("a", 200, br#"{"x":1}"#).unwrap()["x"], 1);
        let e = answer(
            "a",
            404,
            br#"{"status":"error","code":"NoSuchBucket","message":"gone"}"#,
        )
        .unwrap_err();
        match e {
            AdminCallError::Status {
                status,
                code,
                message,
                ..
            } => {
                assert_eq!(status, 404);
                assert_eq!(code.as_deref(), Some("NoSuchBucket"));
                assert_eq!(message, "gone");
            }
            other => panic!("{other:?}"),
        }
        let e = answer("a", 502, b"bad gateway").unwrap_err();
        assert!(e.to_string().contains("bad gateway"), "{e}");
    }

    #[test]
    fn tls_failures_say_what_to_fix() {
        use rustls::CertificateError as C;
        let trust = AdminTrust::load(None, "").unwrap();
        let c = AdminClient::new(AdminEndpoint::parse("127.0.0.1:1").unwrap(), "t", &trust);
        let kind = |e: C| match c.tls_error(rustls::Error::InvalidCertificate(e)) {
            Some(AdminCallError::Untrusted { .. }) => "untrusted",
            Some(AdminCallError::CertificateNotCurrent { .. }) => "not current",
            Some(AdminCallError::WrongName { .. }) => "wrong name",
            other => panic!("{other:?}"),
        };
        assert_eq!(kind(C::UnknownIssuer), "untrusted");
        assert_eq!(kind(C::Expired), "not current");
        assert_eq!(kind(C::NotValidYet), "not current");
        assert_eq!(kind(C::Revoked), "not current");
        assert_eq!(kind(C::NotValidForName), "wrong name");
        let e = c
            .tls_error(rustls::Error::InvalidCertificate(C::Expired))
            .expect("named");
        assert!(e.to_string().contains("needs a current certificate"), "{e}");
        assert!(c.tls_error(rustls::Error::HandshakeNotComplete).is_none());
    }

    #[test]
    fn the_tls_cause_is_found_inside_nested_io_errors() {
        use std::io::{Error, ErrorKind};
        let bad = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        // as hyper-rustls hands it up: io(Other, io(InvalidData, rustls))
        let nested = Error::other(Error::new(ErrorKind::InvalidData, bad.clone()));
        assert_eq!(tls_cause(&nested), Some(&bad));
        assert_eq!(tls_cause(&Error::from(ErrorKind::ConnectionRefused)), None);
        assert_eq!(tls_cause(&Error::other("no tls here")), None);
    }

    #[test]
    fn endpoints_with_and_without_a_scheme() {
        let e = AdminEndpoint::parse("https://node-a.internal:9002/").unwrap();
        assert!(e.is_tls());
        assert_eq!(e.authority(), "node-a.internal:9002");
        assert_eq!(e.url(), "https://node-a.internal:9002");
        // what nodes published before TLS: plain
        let e = AdminEndpoint::parse("10.0.0.5:9002").unwrap();
        assert!(!e.is_tls());
        assert_eq!(e.url(), "http://10.0.0.5:9002");
        // default ports, IPv6 literals
        assert_eq!(
            AdminEndpoint::parse("http://h").unwrap().authority(),
            "h:80"
        );
        assert!(AdminEndpoint::parse("HTTPS://h:1").unwrap().is_tls());
        assert_eq!(
            AdminEndpoint::parse("https://h").unwrap().authority(),
            "h:443"
        );
        assert_eq!(
            AdminEndpoint::parse("https://[::1]:9002")
                .unwrap()
                .authority(),
            "[::1]:9002"
        );
        assert_eq!(
            AdminEndpoint::parse("https://[::1]").unwrap().authority(),
            "[::1]:443"
        );
        // what a node publishes reads back as itself
        for tls in [false, true] {
            let p = AdminEndpoint::published(tls, "h:1");
            let e = AdminEndpoint::parse(&p).unwrap();
            assert_eq!((e.is_tls(), e.authority()), (tls, "h:1"));
        }
        assert_eq!(AdminEndpoint::published(false, "h:1"), "h:1");
    }

    #[test]
    fn bad_endpoints_are_refused() {
        for bad in ["ftp://h:1", "httpx://h:1", "unix:///x"] {
            assert!(
                matches!(AdminEndpoint::parse(bad), Err(EndpointError::Scheme { .. })),
                "{bad}"
            );
        }
        for bad in [
            "",
            "http://",
            "https:///",
            "http://h:1/admin",
            "h:port",
            "http://h:99999",
            "http://user@h:1",
            ":9002",
            "http://h:1?x",
        ] {
            assert!(
                matches!(AdminEndpoint::parse(bad), Err(EndpointError::Form { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_token_is_not_in_debug_output() {
        let trust = AdminTrust::load(None, "").unwrap();
        let c = AdminClient::new(AdminEndpoint::parse("h:1").unwrap(), "s3cr3t-token", &trust);
        let d = format!("{c:?}");
        assert!(!d.contains("s3cr3t"), "{d}");
        assert!(d.contains("h:1"), "{d}");
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = std::env::temp_dir().join(format!("liuma-admin-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no pem here\n").unwrap();
        let e = AdminTrust::load(Some(&empty), "").unwrap_err();
        assert!(
            matches!(e, TrustError::Parse { .. }) && e.to_string().contains("empty.pem"),
            "{e}"
        );
        let e = AdminTrust::load(Some(&dir.join("missing.pem")), "").unwrap_err();
        assert!(matches!(e, TrustError::Read { .. }), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_silent_node_hits_the_deadline() {
        // A listener that accepts and never answers.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let hold = tokio::spawn(async move {
            let (_conn, _) = l.accept().await.unwrap();
            std::future::pending::<()>().await;
        });
        tokio::time::pause();
        let trust = AdminTrust::load(None, "").unwrap();
        let c = AdminClient::new(AdminEndpoint::parse(&addr).unwrap(), "t", &trust)
            .with_deadline(Duration::from_secs(3));
        let e = c.call("GET", "/admin/cluster", None).await.unwrap_err();
        assert!(matches!(e, AdminCallError::Timeout { .. }), "{e:?}");
        hold.abort();
    }
}
