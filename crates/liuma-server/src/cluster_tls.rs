//! Mutual TLS on the shard API between cluster nodes.
//!
//! **The cluster CA** is made by the first node that starts with TLS on
//! and shared through the metadata store: `cl/ca` holds its certificate and
//! its private key sealed (ChaCha20-Poly1305) with a key derived from the
//! cluster secret, so only holders of `cluster.secret` can issue node
//! certificates; the first writer wins (compare-and-put), later nodes read
//! it. Every node keeps a copy in `secrets/` (`cluster-ca.pem`,
//! `cluster-ca-key.pem`, 0600).
//!
//! **A node's certificate** is issued at every start, signed by the CA,
//! for the host of its advertised shard address (what peers dial and
//! verify), naming the node in its subject, valid `--cluster-cert-lifetime`
//! and renewed in place before it ends (see `cluster_certs`, which also
//! covers revocation). A node started with `secrets/node.pem` + `secrets/node-key.pem`
//! (written offline by `liuma cluster cert`) uses those instead and needs
//! neither the CA key nor the store's copy; but when that certificate
//! names no node (no `--node-id`: it can be revoked only by fingerprint)
//! and the node holds the CA key, it issues itself one that does, at
//! start, so such certificates phase out.
//!
//! **Both directions verify**: the shard listener requires a client
//! certificate chaining to the cluster CA (`WebPkiClientVerifier`), and
//! the client trusts only the cluster CA for the server. The HMAC
//! signature of every request (`liuma_cluster::Signer`) stays on as a
//! second check. `--cluster-tls off` (benchmarks only) logs a warning.
//! Session resumption is off on both sides, so every connection's
//! certificates pass the verifiers (a resumed session would carry the
//! certificates of the one it resumes past a renewal or a revocation).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use liuma_meta::{Compare, DynMetaStore, Op, Txn};
use rand::RngCore;
use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::cluster_certs::{
    LiveCert, NODE_CN_PREFIX, Renewal, RevocationClientVerifier, RevocationServerVerifier, Revoked,
};
use crate::secrets::write_private;

/// Key of the sealed cluster CA in the metadata store.
const CA_KEY: &[u8] = b"cl/ca";
const CA_CERT_FILE: &str = "cluster-ca.pem";
const CA_KEY_FILE: &str = "cluster-ca-key.pem";
const NODE_CERT_FILE: &str = "node.pem";
const NODE_KEY_FILE: &str = "node-key.pem";

/// The TLS of both sides of the shard API.
pub struct ClusterTls {
    /// For the shard listener: requires a client certificate of the CA.
    pub acceptor: TlsAcceptor,
    /// For calls to peers: trusts only the CA, presents this node's certificate.
    pub client: Arc<rustls::ClientConfig>,
    /// The certificate both sides present (swapped on renewal).
    pub cert: Arc<LiveCert>,
    /// Revoked nodes both sides refuse.
    pub revoked: Arc<Revoked>,
    /// How to renew, when this node issued its own certificate.
    pub renewal: Option<Renewal>,
}

/// The CA's parameters (subject, usages); the same every time, so the CA
/// can sign with just its key.
fn ca_params() -> anyhow::Result<CertificateParams> {
    crate::tls_gen::ca_params_named("liuma cluster CA")
}

/// A new CA: (certificate PEM, key PEM), valid 100 years.
fn new_ca() -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate()?;
    let mut p = ca_params()?;
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(36500);
    let cert = p.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A node certificate for `hosts` valid `lifetime`, naming `node_id` in its
/// subject (what revocation matches) when given: (cert PEM, key PEM).
/// Valid from a minute ago (clock skew between nodes), so a revocation
/// covers what was issued before it and little after.
pub fn issue_node_cert_for(
    ca_key_pem: &str,
    hosts: &[String],
    node_id: Option<&str>,
    lifetime: Duration,
) -> anyhow::Result<(String, String)> {
    let ca_key = KeyPair::from_pem(ca_key_pem).context("the cluster CA key is not a PEM key")?;
    let issuer = Issuer::new(ca_params()?, ca_key);
    let mut p = CertificateParams::new(hosts.to_vec())
        .context("a node host is neither a DNS name nor an IP address")?;
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(
        DnType::CommonName,
        match node_id {
            Some(id) => format!("{NODE_CN_PREFIX}{id}"),
            None => hosts.first().cloned().unwrap_or_default(),
        },
    );
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.use_authority_key_identifier_extension = true;
    let mut serial = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut serial);
    serial[0] &= 0x7f;
    serial[0] |= 0x10;
    p.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::minutes(1);
    p.not_after = now + time::Duration::try_from(lifetime.max(Duration::from_secs(1)))?;
    let key = KeyPair::generate()?;
    let cert = p.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The AEAD key sealing the CA key in the store: HKDF of the cluster secret.
fn seal_cipher(cluster_secret: &str) -> ChaCha20Poly1305 {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, cluster_secret.as_bytes());
    let mut key = [0u8; 32];
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = hk.expand(b"liuma cluster CA key seal v1", &mut key);
    ChaCha20Poly1305::new(&key.into())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredCa {
    cert: String,
    /// hex(nonce || ciphertext of the key PEM)
    key_sealed: String,
}

fn seal(cluster_secret: &str, cert: &str, key: &str) -> anyhow::Result<Vec<u8>> {
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = seal_cipher(cluster_secret)
        .encrypt(Nonce::from_slice(&nonce), key.as_bytes())
        .map_err(|_| anyhow::anyhow!("sealing the cluster CA key failed"))?;
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&ct);
    Ok(serde_json::to_vec(&StoredCa {
        cert: cert.to_owned(),
        key_sealed: hex::encode(blob),
    })?)
}

fn unseal(cluster_secret: &str, stored: &[u8]) -> anyhow::Result<(String, String)> {
    let s: StoredCa =
        serde_json::from_slice(stored).context("the stored cluster CA is malformed")?;
    let blob = hex::decode(&s.key_sealed).context("the stored cluster CA key is malformed")?;
    anyhow::ensure!(blob.len() > 12, "the stored cluster CA key is truncated");
    let (nonce, ct) = blob.split_at(12);
    let key = seal_cipher(cluster_secret)
        .decrypt(Nonce::from_slice(nonce), ct)
        .map_err(|_| {
            anyhow::anyhow!(
                "cannot open the cluster CA stored in the metadata store: this node's cluster secret differs from the cluster's (copy secrets/cluster.secret from a node of the cluster)"
            )
        })?;
    Ok((
        s.cert,
        String::from_utf8(key).context("the cluster CA key is not text")?,
    ))
}

/// The cluster CA: from `secrets/`, else from the store, else made now
/// (and published; if another node published first, theirs is taken).
async fn cluster_ca(
    dir: &Path,
    meta: &DynMetaStore,
    cluster_secret: &str,
) -> anyhow::Result<(String, String)> {
    let (cp, kp) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
    if cp.exists() && kp.exists() {
        let cert =
            std::fs::read_to_string(&cp).with_context(|| format!("reading {}", cp.display()))?;
        let key =
            std::fs::read_to_string(&kp).with_context(|| format!("reading {}", kp.display()))?;
        return Ok((cert, key));
    }
    let (cert, key) = match meta.get(CA_KEY).await.context("reading the cluster CA")? {
        Some(kv) => unseal(cluster_secret, &kv.value)?,
        None => {
            let (cert, key) = new_ca()?;
            let txn = Txn::new()
                .when(Compare::Absent(CA_KEY.to_vec()))
                .and_then(Op::put(CA_KEY.to_vec(), seal(cluster_secret, &cert, &key)?));
            if meta
                .txn(txn)
                .await
                .context("publishing the cluster CA")?
                .succeeded
            {
                tracing::info!("made the cluster CA (shard API mutual TLS)");
                (cert, key)
            } else {
                let kv = meta
                    .get(CA_KEY)
                    .await?
                    .context("the cluster CA vanished from the metadata store")?;
                unseal(cluster_secret, &kv.value)?
            }
        }
    };
    write_private(&cp, &cert)?;
    write_private(&kp, &key)?;
    Ok((cert, key))
}

/// Set up mutual TLS for the shard API of node `node_id` advertised at
/// `advertise`, its certificate valid `lifetime` (renewed by
/// [`crate::cluster_certs::maintain`]).
pub async fn setup(
    dir: &Path,
    meta: &DynMetaStore,
    cluster_secret: &str,
    advertise: &str,
    (node_id, lifetime): (&str, Duration),
) -> anyhow::Result<ClusterTls> {
    let mut renewal = None;
    let (node_cert, node_key, ca_cert) = {
        let (nc, nk, cc) = (
            dir.join(NODE_CERT_FILE),
            dir.join(NODE_KEY_FILE),
            dir.join(CA_CERT_FILE),
        );
        let offline = if nc.exists() && nk.exists() && cc.exists() {
            let read = |p: &Path| {
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
            };
            Some((read(&nc)?, read(&nk)?, read(&cc)?))
        } else {
            None
        };
        let can_issue = dir.join(CA_KEY_FILE).exists();
        if let Some((c, k, ca)) = offline.filter(|(c, _, _)| keep_offline(c, &nc, can_issue)) {
            (c, k, ca)
        } else {
            let (ca_cert, ca_key) = cluster_ca(dir, meta, cluster_secret).await?;
            let host = advertise
                .rsplit_once(':')
                .map_or(advertise, |(h, _)| h)
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let hosts = vec![host];
            let (c, k) = issue_node_cert_for(&ca_key, &hosts, Some(node_id), lifetime)?;
            renewal = Some(Renewal {
                ca_key,
                hosts,
                node_id: node_id.to_owned(),
                lifetime,
                issued: tokio::time::Instant::now(),
            });
            (c, k, ca_cert)
        }
    };
    let mut tls = build(&ca_cert, &node_cert, &node_key)?;
    tls.revoked.set(
        crate::cluster_certs::load_revoked(meta)
            .await
            .context("reading revoked node certificates")?,
    );
    tls.renewal = renewal;
    Ok(tls)
}

/// Whether to use the offline certificate `cert` (read from `path`): not
/// when it names no node and this node can issue itself one that does.
fn keep_offline(cert: &str, path: &Path, can_issue: bool) -> bool {
    let named = CertificateDer::from_pem_slice(cert.as_bytes())
        .ok()
        .and_then(|der| liuma_cluster::CertIdentity::parse(der.as_ref()))
        .is_some_and(|id| id.node.is_some());
    if named {
        tracing::info!(cert = %path.display(), "shard API: using the node certificate from secrets/");
    } else if can_issue {
        tracing::info!(
            cert = %path.display(),
            "shard API: the node certificate in secrets/ names no node (only its fingerprint \
             could revoke it); this node holds the CA key and issues itself one that does"
        );
    } else {
        tracing::warn!(
            cert = %path.display(),
            "shard API: the node certificate in secrets/ names no node: only its fingerprint \
             can revoke it (liuma cluster revoke --cert); issue one with --node-id"
        );
    }
    named || !can_issue
}

/// A certificate and key from PEM text, ready for rustls.
pub fn certified_key(cert: &str, key: &str) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("the node certificate is not PEM")?;
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).context("the node key is not PEM")?;
    let signing = crate::tls::provider()
        .key_provider
        .load_private_key(key)
        .context("the node key is unusable")?;
    let ck = CertifiedKey::new(chain, signing);
    ck.keys_match()
        .context("the node certificate does not match its key")?;
    Ok(ck)
}

/// Both rustls configs from PEM text: the certificate from a [`LiveCert`]
/// (renewal swaps it), both verifiers checking [`Revoked`] after the CA.
pub fn build(ca_cert: &str, node_cert: &str, node_key: &str) -> anyhow::Result<ClusterTls> {
    let provider = crate::tls::provider();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_cert.as_bytes()) {
        roots
            .add(c.context("the cluster CA certificate is not PEM")?)
            .context("the cluster CA certificate is unusable")?;
    }
    let cert = LiveCert::new(certified_key(node_cert, node_key)?);
    let revoked = Arc::new(Revoked::default());
    let roots = Arc::new(roots);
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        roots.clone(),
        provider.clone(),
    )
    .build()
    .context("building the client certificate verifier")?;
    let verifier = Arc::new(RevocationClientVerifier {
        inner: verifier,
        revoked: revoked.clone(),
    });
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(cert.clone());
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    // No session resumption, either side: a resumed session skips the
    // verifiers and keeps the certificates of the session it resumes, so a
    // node would carry its certificate from before a renewal (or a
    // revocation) onto new connections. Connections are pooled; a full
    // handshake per connection costs little.
    server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    server.send_tls13_tickets = 0;
    let server_verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .context("building the server certificate verifier")?;
    // No ALPN here: the connector (hyper-rustls) sets http/1.1 itself.
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RevocationServerVerifier {
            inner: server_verifier,
            revoked: revoked.clone(),
        }))
        .with_client_cert_resolver(cert.clone());
    let mut client = client;
    client.resumption = rustls::client::Resumption::disabled();
    Ok(ClusterTls {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        client: Arc::new(client),
        cert,
        revoked,
        renewal: None,
    })
}

/// `liuma cluster cert`: issue a node certificate offline from the CA in
/// `secrets` (a node's secrets/ directory) into `out` (node.pem,
/// node-key.pem, cluster-ca.pem: copy them into the new node's secrets/).
pub fn offline_cert(
    secrets: &Path,
    hosts: &[String],
    out: &Path,
    node_id: Option<&str>,
) -> anyhow::Result<()> {
    anyhow::ensure!(!hosts.is_empty(), "give at least one --host");
    let kp = secrets.join(CA_KEY_FILE);
    let cp = secrets.join(CA_CERT_FILE);
    let key = std::fs::read_to_string(&kp).with_context(|| {
        format!(
            "reading {} (a node of the cluster writes it at its first start with cluster TLS on)",
            kp.display()
        )
    })?;
    let ca = std::fs::read_to_string(&cp).with_context(|| format!("reading {}", cp.display()))?;
    let (c, k) = issue_node_cert_for(&key, hosts, node_id, Duration::from_secs(3650 * 86_400))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_private(&out.join(NODE_CERT_FILE), &c)?;
    write_private(&out.join(NODE_KEY_FILE), &k)?;
    write_private(&out.join(CA_CERT_FILE), &ca)?;
    println!(
        "wrote {0}/node.pem, {0}/node-key.pem and {0}/cluster-ca.pem for {1}: copy them into the node's secrets/ directory",
        out.display(),
        hosts.join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use liuma_cluster::{PeerCheck, Refusal};

    #[test]
    fn the_sealed_ca_opens_only_with_the_cluster_secret() {
        let (cert, key) = new_ca().unwrap();
        let blob = seal("secret-a", &cert, &key).unwrap();
        assert_eq!(unseal("secret-a", &blob).unwrap(), (cert, key));
        let err = unseal("secret-b", &blob).unwrap_err();
        assert!(err.to_string().contains("cluster secret differs"), "{err}");
    }

    #[test]
    fn a_node_certificate_from_the_ca_builds_both_configs() {
        let (ca, ca_key) = new_ca().unwrap();
        let day = Duration::from_secs(86_400);
        let (c, k) = issue_node_cert_for(&ca_key, &["127.0.0.1".into()], None, day).unwrap();
        build(&ca, &c, &k).unwrap();
        // a certificate with another node's key is refused
        let (_, other_key) =
            issue_node_cert_for(&ca_key, &["127.0.0.1".into()], None, day).unwrap();
        assert!(build(&ca, &c, &other_key).is_err());
    }

    #[test]
    fn revocation_matches_the_node_and_certificates_issued_before_it() {
        let (_, ca_key) = new_ca().unwrap();
        let day = Duration::from_secs(86_400);
        let hosts = ["127.0.0.1".to_owned()];
        let der = |pem: &str| CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let (n9, _) = issue_node_cert_for(&ca_key, &hosts, Some("n9"), day).unwrap();
        let (n8, _) = issue_node_cert_for(&ca_key, &hosts, Some("n8"), day).unwrap();
        let (anon, _) = issue_node_cert_for(&ca_key, &hosts, None, day).unwrap();
        let parse = |pem: &str| liuma_cluster::CertIdentity::parse(der(pem).as_ref()).unwrap();
        let id9 = parse(&n9);
        assert_eq!(id9.node.as_deref(), Some("n9"));
        let nb = id9.not_before_ms;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(nb <= now && nb + 120_000 > now, "valid from a minute ago");
        assert!(parse(&anon).node.is_none());
        let nodes = |at: u64| crate::cluster_certs::Revocations {
            nodes: [("n9".to_owned(), at)].into(),
            certs: Default::default(),
        };
        let r = Revoked::default();
        let g0 = r.generation();
        r.set(nodes(now));
        assert!(r.generation() > g0, "a change starts a new client pool");
        let g1 = r.generation();
        r.set(nodes(now));
        assert_eq!(
            r.generation(),
            g1,
            "re-reading the same records changes nothing"
        );
        assert!(r.check_handshake(&der(&n9)).is_err());
        assert!(r.check_handshake(&der(&n8)).is_ok());
        assert!(r.check_handshake(&der(&anon)).is_ok());
        // the same verdict per request
        assert_eq!(
            PeerCheck::check(&r, &id9, now),
            Err(Refusal::NodeRevoked { node: "n9".into() })
        );
        assert_eq!(PeerCheck::check(&r, &parse(&n8), now), Ok(()));
        // issued after the revocation (a restart): let in again
        r.set(nodes(nb - 1));
        assert!(r.check_handshake(&der(&n9)).is_ok());
        // a certificate naming no node: revoked by its fingerprint only
        let fp = parse(&anon).fingerprint;
        let by_hex = crate::cluster_certs::parse_fingerprint(
            &parse(&anon)
                .fingerprint_hex()
                .to_uppercase()
                .as_bytes()
                .chunks(2)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join(":"),
        );
        assert_eq!(by_hex, Some(fp), "openssl's colon form parses");
        r.set(crate::cluster_certs::Revocations {
            nodes: Default::default(),
            certs: [fp].into(),
        });
        assert!(r.check_handshake(&der(&anon)).is_err());
        assert!(matches!(
            PeerCheck::check(&r, &parse(&anon), now),
            Err(Refusal::CertRevoked { .. })
        ));
        assert!(r.check_handshake(&der(&n9)).is_ok());
        // an expired certificate no longer carries requests
        assert_eq!(
            PeerCheck::check(&r, &id9, id9.not_after_ms + 1),
            Err(Refusal::Expired)
        );
    }
}
