//! Which certificate the peer of a shard API connection presented, and
//! whether it still counts, asked on every request (issue #19).
//!
//! The TLS verifiers look at a certificate once, at the handshake; a
//! connection then lives as long as both sides use it (peers pool idle
//! connections, and a busy pair never lets its connection go idle). So a
//! revocation or an expiry must also be checked per request:
//!
//! - **Server side**: the listener records the client's end-entity
//!   certificate ([`CertIdentity`]: node id, validity, SHA-256 fingerprint)
//!   once per connection and hands it to every request as a [`PeerCert`]
//!   extension; the router asks [`PeerCheck::check`] before anything else
//!   and answers `403` ([`crate::rpc::ErrorCode::CertRefused`]) with
//!   `Connection: close`.
//! - **Client side**: [`CertConnector`] attaches the server's certificate
//!   to every response of its connection (hyper's `Connected::extra`).
//!   [`crate::rpc::PeerClient`] drops its whole connection pool when
//!   [`PeerCheck::generation`] changes (a revocation arrived, or this
//!   node's own certificate was renewed: connections holding the old one
//!   must not outlive it), and before sending when a server certificate
//!   seen on the pool has expired; an answer from a refused server is
//!   thrown away.
//!
//! The policy (what is revoked) lives with the server's TLS setup
//! (`liuma-server/src/cluster_certs.rs`); this module only carries it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::Uri;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use sha2::Digest;
use tokio::net::TcpStream;

/// Subject CN of a node certificate: this prefix and the node id.
pub const NODE_CN_PREFIX: &str = "liuma node ";

/// What a certificate says about who holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertIdentity {
    /// The node named in the subject CN (`liuma node <id>`); `None` for a
    /// certificate that names none (`liuma cluster cert` without
    /// `--node-id`, older versions): only its fingerprint can revoke it.
    pub node: Option<String>,
    /// Start of validity, ms since the epoch.
    pub not_before_ms: u64,
    /// End of validity, ms since the epoch.
    pub not_after_ms: u64,
    /// SHA-256 of the DER encoding.
    pub fingerprint: [u8; 32],
}

impl CertIdentity {
    /// The identity of a DER certificate; `None` when it does not parse.
    pub fn parse(der: &[u8]) -> Option<CertIdentity> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let node = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .and_then(|cn| cn.strip_prefix(NODE_CN_PREFIX))
            .map(str::to_owned);
        let ms = |t: i64| u64::try_from(t).unwrap_or(0).saturating_mul(1000);
        Some(CertIdentity {
            node,
            not_before_ms: ms(cert.validity().not_before.timestamp()),
            not_after_ms: ms(cert.validity().not_after.timestamp()),
            fingerprint: sha2::Sha256::digest(der).into(),
        })
    }

    /// The fingerprint as lowercase hex (what `liuma cluster revoke
    /// --fingerprint` takes and `openssl x509 -fingerprint -sha256` shows).
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint)
    }
}

/// The certificate the peer of a connection presented: a request extension
/// on the shard listener, a response extension from [`CertConnector`].
#[derive(Clone, Debug)]
pub struct PeerCert(pub Arc<CertIdentity>);

/// Why a peer's certificate no longer counts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Its node was revoked after the certificate was issued.
    #[error("the certificate of node {node} is revoked")]
    NodeRevoked {
        /// Node id.
        node: String,
    },
    /// This very certificate was revoked by fingerprint.
    #[error("certificate {fingerprint} is revoked")]
    CertRevoked {
        /// SHA-256 of the DER, hex.
        fingerprint: String,
    },
    /// Its validity ended after the connection was opened.
    #[error("the peer certificate expired")]
    Expired,
    /// The connection carries no (readable) certificate.
    #[error("no client certificate")]
    Missing,
}

/// The revocation policy, asked on every shard request.
pub trait PeerCheck: Send + Sync + 'static {
    /// Changes whenever connections opened before must no longer be used
    /// (revocations changed, this node's certificate was renewed).
    fn generation(&self) -> u64;
    /// Whether a connection whose peer presented `peer` may still carry a
    /// request at `now_ms` (ms since the epoch).
    fn check(&self, peer: &CertIdentity, now_ms: u64) -> Result<(), Refusal>;
}

/// Now, in ms since the epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The https connector of the peer client, which also tells each response
/// which certificate the server presented on its connection.
#[derive(Clone)]
pub(crate) struct CertConnector(pub(crate) HttpsConnector<HttpConnector>);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for CertConnector {
    type Response = CertStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<CertStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move { connecting.await.map(CertStream) })
    }
}

/// A connection to a peer that knows the certificate its server presented.
pub(crate) struct CertStream(MaybeHttpsStream<TokioIo<TcpStream>>);

impl Connection for CertStream {
    fn connected(&self) -> Connected {
        let connected = self.0.connected();
        let MaybeHttpsStream::Https(tls) = &self.0 else {
            return connected;
        };
        let (_, session) = tls.inner().get_ref();
        match session
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|der| CertIdentity::parse(der))
        {
            Some(id) => connected.extra(PeerCert(Arc::new(id))),
            None => connected,
        }
    }
}

impl hyper::rt::Read for CertStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for CertStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }
}
