//! Node certificates of the shard API at run time: renewal without a
//! restart, and revocation.
//!
//! **Renewal.** A node certificate lives `--cluster-cert-lifetime` (default
//! 30 days). The node that issued its own (it holds the cluster CA key)
//! issues a new one at 2/3 of the lifetime and swaps it into [`LiveCert`],
//! which both the shard listener (`ResolvesServerCert`) and the peer
//! client (`ResolvesClientCert`) ask at every handshake: connections
//! already open keep the certificate they started with, new handshakes
//! get the new one. A node started with an offline certificate
//! (`liuma cluster cert`, no CA key) cannot renew: it logs when its
//! certificate is within a third of its end, and must be given a new one
//! and restarted.
//!
//! **Revocation.** `liuma cluster revoke NODE` (and forgetting a node)
//! records `cl/revoked/<node>` = the time in ms. Certificates issued by
//! liuma name their node in the subject CN; both verifiers (the listener's
//! for client certificates, the client's for server certificates) refuse
//! a certificate of a revoked node whose validity starts before the
//! revocation. Every node re-reads the records every
//! [`REFRESH`], so new handshakes are refused within seconds; connections
//! already open are not cut (peers keep idle connections 30 s). A revoked
//! node stops renewing; one restarted later (an operator brought it back,
//! with the cluster secret) gets a new certificate and is let in again.
//! Revocation does not stop a holder of `cluster.secret`: it can issue
//! itself anything.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use liuma_meta::DynMetaStore;
use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// Prefix of the revocation records in the metadata store.
pub const REVOKED_PREFIX: &[u8] = b"cl/revoked/";
/// How often revocations are re-read and renewal is considered.
pub const REFRESH: Duration = Duration::from_secs(2);

fn read<T: Clone>(l: &RwLock<T>) -> T {
    match l.read() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

fn write<T>(l: &RwLock<T>, v: T) {
    match l.write() {
        Ok(mut g) => *g = v,
        Err(p) => *p.into_inner() = v,
    }
}

/// This node's certificate, swapped in place on renewal.
#[derive(Debug)]
pub struct LiveCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl LiveCert {
    /// Start with `ck`.
    pub fn new(ck: CertifiedKey) -> Arc<LiveCert> {
        Arc::new(LiveCert {
            current: RwLock::new(Arc::new(ck)),
        })
    }

    /// What handshakes get now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        read(&self.current)
    }

    /// Handshakes from now on get `ck`.
    pub fn set(&self, ck: CertifiedKey) {
        write(&self.current, Arc::new(ck));
    }
}

impl ResolvesServerCert for LiveCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl ResolvesClientCert for LiveCert {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Revoked nodes: node id → revocation time (ms since the epoch).
#[derive(Debug, Default)]
pub struct Revoked {
    nodes: RwLock<Arc<HashMap<String, u64>>>,
}

impl Revoked {
    /// Replace the set (a re-read of the store).
    pub fn set(&self, nodes: HashMap<String, u64>) {
        write(&self.nodes, Arc::new(nodes));
    }

    /// When `node` was revoked (ms since the epoch), if it was.
    pub fn revoked_at(&self, node: &str) -> Option<u64> {
        read(&self.nodes).get(node).copied()
    }

    /// Refuse a certificate of a revoked node issued before its revocation.
    pub(crate) fn check(&self, der: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        let nodes = read(&self.nodes);
        if nodes.is_empty() {
            return Ok(());
        }
        let Some((node, not_before_ms)) = identity(der) else {
            return Ok(());
        };
        match nodes.get(&node) {
            Some(&at) if not_before_ms <= at => {
                tracing::warn!(node, "refused the shard API certificate of a revoked node");
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Revoked,
                ))
            }
            _ => Ok(()),
        }
    }
}

/// (node id from the subject CN, start of validity in ms) of a certificate.
pub fn identity(der: &CertificateDer<'_>) -> Option<(String, u64)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .strip_prefix(NODE_CN_PREFIX)?
        .to_owned();
    let nb = cert.validity().not_before.timestamp();
    Some((cn, u64::try_from(nb).unwrap_or(0).saturating_mul(1000)))
}

/// Subject CN of a node certificate: this prefix and the node id.
pub const NODE_CN_PREFIX: &str = "liuma node ";

/// The listener's client verifier: the CA's, then revocation.
#[derive(Debug)]
pub struct RevocationClientVerifier {
    pub inner: Arc<dyn ClientCertVerifier>,
    pub revoked: Arc<Revoked>,
}

impl ClientCertVerifier for RevocationClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let ok = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        self.revoked.check(end_entity)?;
        Ok(ok)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The client's server verifier: the CA's (and the host name), then revocation.
#[derive(Debug)]
pub struct RevocationServerVerifier {
    pub inner: Arc<dyn ServerCertVerifier>,
    pub revoked: Arc<Revoked>,
}

impl ServerCertVerifier for RevocationServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ok =
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)?;
        self.revoked.check(end_entity)?;
        Ok(ok)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The revocation records in the store.
pub async fn load_revoked(meta: &DynMetaStore) -> anyhow::Result<HashMap<String, u64>> {
    let end = liuma_meta::prefix_end(REVOKED_PREFIX);
    let kvs = meta.range(REVOKED_PREFIX, &end, 0).await?;
    Ok(kvs
        .into_iter()
        .filter_map(|kv| {
            let node = std::str::from_utf8(kv.key.get(REVOKED_PREFIX.len()..)?).ok()?;
            let at = std::str::from_utf8(&kv.value).ok()?.trim().parse().ok()?;
            Some((node.to_owned(), at))
        })
        .collect())
}

/// How a node renews its own certificate (it holds the CA key).
pub struct Renewal {
    pub ca_key: String,
    pub hosts: Vec<String>,
    pub node_id: String,
    pub lifetime: Duration,
    /// When the current certificate was issued.
    pub issued: tokio::time::Instant,
}

/// Keep revocations fresh and renew at 2/3 of the lifetime, until the
/// runtime stops.
pub async fn maintain(
    meta: DynMetaStore,
    cert: Arc<LiveCert>,
    revoked: Arc<Revoked>,
    renewal: Option<Renewal>,
) {
    let mut issued = renewal
        .as_ref()
        .map_or_else(tokio::time::Instant::now, |r| r.issued);
    loop {
        // Wake for the next re-read, or exactly when renewal is due.
        let due = renewal
            .as_ref()
            .map(|r| issued + r.lifetime * 2 / 3)
            .unwrap_or_else(|| tokio::time::Instant::now() + REFRESH);
        tokio::time::sleep_until(due.min(tokio::time::Instant::now() + REFRESH)).await;
        match load_revoked(&meta).await {
            Ok(r) => revoked.set(r),
            Err(e) => tracing::warn!(error = %e, "re-reading revoked node certificates failed"),
        }
        let Some(r) = &renewal else { continue };
        if issued.elapsed() < r.lifetime * 2 / 3 {
            continue;
        }
        // Only a certificate issued before the revocation is revoked: a node
        // let back in since (restarted with the cluster secret) renews on.
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let issued_ms =
            now_ms.saturating_sub(u64::try_from(issued.elapsed().as_millis()).unwrap_or(u64::MAX));
        if revoked
            .revoked_at(&r.node_id)
            .is_some_and(|at| issued_ms <= at)
        {
            tracing::error!(node = %r.node_id, "this node's certificate is revoked: not renewing it");
            continue;
        }
        match crate::cluster_tls::issue_node_cert_for(
            &r.ca_key,
            &r.hosts,
            Some(&r.node_id),
            r.lifetime,
        )
        .and_then(|(c, k)| crate::cluster_tls::certified_key(&c, &k))
        {
            Ok(ck) => {
                cert.set(ck);
                issued = tokio::time::Instant::now();
                tracing::info!(lifetime = ?r.lifetime, "renewed the shard API node certificate");
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "renewing the node certificate failed")
            }
        }
    }
}
