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
//! liuma name their node in the subject CN; a certificate of a revoked
//! node whose validity starts before the revocation is refused. A
//! certificate that names no node (`liuma cluster cert` without
//! `--node-id`, older versions) is revoked by its SHA-256 fingerprint:
//! `liuma cluster revoke --cert FILE | --fingerprint HEX` records
//! `cl/revoked-cert/<hex>`. Every node re-reads both every [`REFRESH`].
//! [`Revoked`] is asked by both verifiers at the handshake (the listener's
//! for client certificates, the client's for server certificates) **and
//! on every shard request** (it is the [`PeerCheck`] of
//! `liuma_cluster::peer_cert`): the listener answers 403 and closes a
//! connection whose client certificate was revoked or has expired since
//! its handshake, and the peer client drops its pooled connections when
//! the revocations change, so within [`REFRESH`] a revoked node can
//! neither read nor write a shard over a connection it already had. The
//! same per-request check refuses an expired certificate, so no connection
//! outlives its certificate; after this node renews its own, its client
//! starts a new pool (the old certificate still has a third of its
//! lifetime for requests in flight). A revoked node stops renewing; one
//! restarted later (an operator brought it back, with the cluster secret)
//! gets a new certificate and is let in again. Revocation does not stop a
//! holder of `cluster.secret`: it can issue itself anything.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use liuma_cluster::{CertIdentity, PeerCheck, Refusal};
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
/// Prefix of the records revoking one certificate by its SHA-256
/// fingerprint (hex): `cl/revoked-cert/<hex>` = time in ms.
pub const REVOKED_CERT_PREFIX: &[u8] = b"cl/revoked-cert/";
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

/// What is revoked: node id → revocation time (ms since the epoch), and
/// single certificates by SHA-256 fingerprint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Revocations {
    /// Node id → when it was revoked.
    pub nodes: HashMap<String, u64>,
    /// Fingerprints of revoked certificates.
    pub certs: HashSet<[u8; 32]>,
}

/// The revocations in force, asked at every handshake and every shard
/// request (see the module header).
#[derive(Debug, Default)]
pub struct Revoked {
    current: RwLock<Arc<Revocations>>,
    /// Bumped when the revocations change or this node's certificate is
    /// renewed: the peer client then starts a new connection pool.
    generation: AtomicU64,
    /// Certificates (fingerprints) already logged as refused: a refused
    /// peer retrying every few ms logs once, not per request.
    logged: Mutex<HashSet<[u8; 32]>>,
}

impl Revoked {
    /// Replace the revocations (a re-read of the store).
    pub fn set(&self, r: Revocations) {
        let changed = *read(&self.current) != r;
        write(&self.current, Arc::new(r));
        if changed {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Connections opened before now must not carry further requests
    /// (this node renewed its certificate).
    pub fn renewed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// When `node` was revoked (ms since the epoch), if it was.
    pub fn revoked_at(&self, node: &str) -> Option<u64> {
        read(&self.current).nodes.get(node).copied()
    }

    /// Whether the certificate is revoked (its node, before it was issued,
    /// or itself by fingerprint).
    fn revoked(&self, id: &CertIdentity) -> Result<(), Refusal> {
        let r = read(&self.current);
        if r.certs.contains(&id.fingerprint) {
            return Err(Refusal::CertRevoked {
                fingerprint: id.fingerprint_hex(),
            });
        }
        match &id.node {
            Some(node) if r.nodes.get(node).is_some_and(|&at| id.not_before_ms <= at) => {
                Err(Refusal::NodeRevoked { node: node.clone() })
            }
            _ => Ok(()),
        }
    }

    /// Logs a refusal once per certificate (no secret in it: the node id
    /// and the fingerprint of a public certificate).
    fn log_once(&self, id: &CertIdentity, refusal: &Refusal, during: &'static str) {
        let first = self
            .logged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.fingerprint);
        if first {
            tracing::warn!(
                node = id.node.as_deref().unwrap_or("-"),
                fingerprint = %id.fingerprint_hex(),
                %refusal,
                during,
                "refused the shard API certificate of a peer"
            );
        }
    }

    /// The handshake's check: refuse a revoked certificate.
    pub(crate) fn check_handshake(&self, der: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        let Some(id) = CertIdentity::parse(der.as_ref()) else {
            return Ok(()); // webpki parsed it; nothing of ours to match
        };
        self.revoked(&id).map_err(|refusal| {
            self.log_once(&id, &refusal, "handshake");
            rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked)
        })
    }
}

impl PeerCheck for Revoked {
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn check(&self, peer: &CertIdentity, now_ms: u64) -> Result<(), Refusal> {
        let verdict = self.revoked(peer).and_then(|()| {
            // notAfter per request: no connection outlives its certificate.
            (now_ms <= peer.not_after_ms)
                .then_some(())
                .ok_or(Refusal::Expired)
        });
        if let Err(refusal) = &verdict {
            self.log_once(peer, refusal, "request");
        }
        verdict
    }
}

/// Subject CN of a node certificate: this prefix and the node id.
pub use liuma_cluster::peer_cert::NODE_CN_PREFIX;

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
        self.revoked.check_handshake(end_entity)?;
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
        self.revoked.check_handshake(end_entity)?;
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

/// The revocation records in the store (both kinds).
pub async fn load_revoked(meta: &DynMetaStore) -> anyhow::Result<Revocations> {
    let records = |prefix: &'static [u8]| async move {
        let end = liuma_meta::prefix_end(prefix);
        let kvs = meta.range(prefix, &end, 0).await?;
        anyhow::Ok(kvs.into_iter().filter_map(move |kv| {
            let name = std::str::from_utf8(kv.key.get(prefix.len()..)?).ok()?;
            let at: u64 = std::str::from_utf8(&kv.value).ok()?.trim().parse().ok()?;
            Some((name.to_owned(), at))
        }))
    };
    let nodes = records(REVOKED_PREFIX).await?.collect();
    let certs = records(REVOKED_CERT_PREFIX)
        .await?
        .filter_map(|(hex, _)| parse_fingerprint(&hex))
        .collect();
    Ok(Revocations { nodes, certs })
}

/// A SHA-256 fingerprint from hex (any case, `:` separators allowed, as
/// `openssl x509 -fingerprint -sha256` prints it).
pub fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    let hex: String = text.trim().chars().filter(|&c| c != ':').collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex, &mut out).ok()?;
    Some(out)
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
                // Our connections holding the old certificate go idle.
                revoked.renewed();
                issued = tokio::time::Instant::now();
                tracing::info!(lifetime = ?r.lifetime, "renewed the shard API node certificate");
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "renewing the node certificate failed")
            }
        }
    }
}

/// `liuma cluster revoke`: a node by id, or one certificate by its file
/// or fingerprint, through the admin API of any node.
pub fn revoke_cmd(
    id: Option<&str>,
    cert: Option<&std::path::Path>,
    fingerprint: Option<&str>,
    admin: &crate::cli::AdminArgs,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let client = crate::keys::Admin::connect(admin)?;
    let fingerprint = match (cert, fingerprint) {
        (Some(path), _) => {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let der =
                <CertificateDer<'_> as rustls::pki_types::pem::PemObject>::from_pem_slice(&pem)
                    .with_context(|| format!("{} holds no PEM certificate", path.display()))?;
            let id = CertIdentity::parse(der.as_ref())
                .with_context(|| format!("{} is not an X.509 certificate", path.display()))?;
            Some(id.fingerprint_hex())
        }
        (None, Some(hex)) => Some(
            parse_fingerprint(hex)
                .map(hex::encode)
                .context("a fingerprint is 64 hex digits (the SHA-256 of the certificate)")?,
        ),
        (None, None) => None,
    };
    match (fingerprint, id) {
        (Some(hex), _) => {
            client.call("POST", &format!("/admin/certs/{hex}/revoke"), None)?;
            println!("certificate {hex} revoked (peers refuse it within seconds)");
        }
        (None, Some(id)) => {
            client.call("POST", &format!("/admin/nodes/{id}/revoke"), None)?;
            println!("{id}: certificate revoked (peers refuse it within seconds)");
        }
        (None, None) => anyhow::bail!("name a node, or give --cert or --fingerprint"),
    }
    Ok(())
}
