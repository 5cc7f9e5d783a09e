//! The one HTTP client of the admin API: used by the cluster-wide passes
//! (`?scope=cluster` asks every peer's admin endpoint) and by the `liuma`
//! CLI (`liuma key`, `liuma node`). hyper's client (already in the tree
//! through the cluster layer), plain HTTP/1.1, one connection per call.
//!
//! Never hangs: connecting has [`CONNECT_TIMEOUT`], and the whole call
//! (request, head and body of the answer) has a deadline, 30 s unless the
//! caller sets another ([`AdminClient::with_deadline`]: a heal pass may
//! take many minutes).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
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
    /// Connecting or sending failed (refused, reset, connect timeout).
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

/// A client of one node's admin API.
#[derive(Clone, Debug)]
pub struct AdminClient {
    addr: String,
    token: String,
    deadline: Duration,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl AdminClient {
    /// A client of the admin API at `addr` (host:port), sending `token`.
    pub fn new(addr: impl Into<String>, token: impl Into<String>) -> AdminClient {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        AdminClient {
            addr: addr.into(),
            token: token.into(),
            deadline: DEFAULT_DEADLINE,
            http,
        }
    }

    /// The same client with another deadline for a whole call.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Duration) -> AdminClient {
        self.deadline = deadline;
        self
    }

    /// The node's address (host:port).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// One request with an optional JSON body; the JSON body of a 2xx
    /// answer (`null` when empty), else the error.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, AdminCallError> {
        let addr = &self.addr;
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let req = http::Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|source| AdminCallError::BadRequest {
                addr: addr.clone(),
                source,
            })?;
        let exchange = async {
            let resp =
                self.http
                    .request(req)
                    .await
                    .map_err(|source| AdminCallError::Unreachable {
                        addr: addr.clone(),
                        source,
                    })?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|source| AdminCallError::Body {
                    addr: addr.clone(),
                    source,
                })?
                .to_bytes();
            Ok::<_, AdminCallError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.deadline, exchange)
            .await
            .map_err(|_| AdminCallError::Timeout {
                addr: addr.clone(),
                deadline: self.deadline,
            })??;
        answer(addr, status, &bytes)
    }
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
        let c = AdminClient::new(addr, "t").with_deadline(Duration::from_secs(3));
        let e = c.call("GET", "/admin/cluster", None).await.unwrap_err();
        assert!(matches!(e, AdminCallError::Timeout { .. }), "{e:?}");
        hold.abort();
    }
}
