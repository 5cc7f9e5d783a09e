//! TLS on the public listeners (rustls, ring; TLS 1.2 and 1.3 only).
//!
//! A listener with TLS gets a [`TlsAcceptor`] whose certificate comes from
//! a [`ReloadingCert`]: the PEM files are read again every few seconds by a
//! watcher task ([`watch`]) and, when their bytes changed and parse into a
//! matching certificate chain + key, swapped in. Connections already open
//! keep the session they negotiated; new handshakes get the new
//! certificate. A bad new file (half written, wrong key) keeps the old
//! certificate and logs an error once per change, so a rotation by
//! cert-manager never takes the listener down.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::Digest;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no PEM certificate / key, or a broken one.
    #[error("{}: {what}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// The key does not belong to the first certificate of the chain.
    #[error("the key in {} does not match the certificate in {}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
}

/// The public listeners that can serve TLS, by name (`[tls.<name>]`).
pub const LISTENERS: [&str; 4] = ["s3", "native", "admin", "console"];

/// A certificate chain file and its private key file (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The crypto the listeners use: ring, TLS 1.3 and 1.2 cipher suites only.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Read the files' bytes (what the watcher compares between polls).
fn read_files(files: &TlsFiles) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            path: p.to_owned(),
            source,
        })
    };
    Ok((read(&files.cert)?, read(&files.key)?))
}

/// Parse a chain + key from PEM bytes, checking the key matches the leaf.
fn parse(files: &TlsFiles, cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, TlsError> {
    let bad = |path: &Path, what: String| TlsError::Parse {
        path: path.to_owned(),
        what,
    };
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&files.cert, format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(bad(&files.cert, "no CERTIFICATE block found".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| bad(&files.key, format!("no usable PEM private key: {e}")))?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| bad(&files.key, format!("unusable private key: {e}")))?;
    let ck = CertifiedKey::new(chain, signing);
    match ck.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(TlsError::Mismatch {
                cert: files.cert.clone(),
                key: files.key.clone(),
            });
        }
        Err(e) => return Err(bad(&files.cert, format!("unusable certificate: {e}"))),
    }
    Ok(ck)
}

/// Load and check a certificate chain and key from their files.
pub fn load(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let (c, k) = read_files(files)?;
    parse(files, &c, &k)
}

/// SHA-256 of the leaf certificate, hex (how the logs name a certificate).
pub fn fingerprint(ck: &CertifiedKey) -> String {
    ck.cert
        .first()
        .map(|c| hex::encode(sha2::Sha256::digest(c.as_ref())))
        .unwrap_or_default()
}

/// The certificate a listener presents, swapped in place on reload.
#[derive(Debug)]
pub struct ReloadingCert {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadingCert {
    /// Load the files now; an error here stops the node from starting.
    pub fn open(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let ck = load(&files)?;
        Ok(Arc::new(ReloadingCert {
            files,
            current: RwLock::new(Arc::new(ck)),
        }))
    }

    /// The files it reads.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The certificate handshakes get now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set(&self, ck: CertifiedKey) {
        let ck = Arc::new(ck);
        match self.current.write() {
            Ok(mut g) => *g = ck,
            Err(p) => *p.into_inner() = ck,
        }
    }

    /// A TLS acceptor presenting this certificate (HTTP/1.1 over ALPN).
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, rustls::Error> {
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(cfg)))
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// What one poll of the files did.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll {
    /// The files are as last seen.
    Unchanged,
    /// New files were loaded and are served from now on.
    Reloaded,
    /// The files changed but cannot be used; the old certificate stays.
    Rejected,
}

/// Remembers what the files held at the last poll, so a bad file is
/// reported once, not every few seconds.
#[derive(Debug, Default)]
pub struct Poller {
    last: Option<(Vec<u8>, Vec<u8>)>,
    last_error: Option<String>,
}

impl Poller {
    /// A poller that takes the files as they are now as already served.
    pub fn new(cert: &ReloadingCert) -> Self {
        Poller {
            last: read_files(&cert.files).ok(),
            last_error: None,
        }
    }

    /// Read the files once; swap the certificate if they changed and parse.
    pub fn poll(&mut self, cert: &ReloadingCert, listener: &str) -> Poll {
        let files = &cert.files;
        let (c, k) = match read_files(files) {
            Ok(b) => b,
            Err(e) => return self.reject(listener, e),
        };
        if self
            .last
            .as_ref()
            .is_some_and(|(lc, lk)| *lc == c && *lk == k)
        {
            return Poll::Unchanged;
        }
        match parse(files, &c, &k) {
            Ok(ck) => {
                tracing::info!(
                    listener,
                    cert = %files.cert.display(),
                    sha256 = %fingerprint(&ck),
                    "TLS certificate reloaded"
                );
                cert.set(ck);
                self.last = Some((c, k));
                self.last_error = None;
                Poll::Reloaded
            }
            Err(e) => self.reject(listener, e),
        }
    }

    fn reject(&mut self, listener: &str, e: TlsError) -> Poll {
        let msg = e.to_string();
        if self.last_error.as_deref() != Some(msg.as_str()) {
            tracing::error!(
                listener,
                error = %msg,
                "TLS certificate files changed but cannot be used; still serving the previous certificate"
            );
            self.last_error = Some(msg);
        }
        Poll::Rejected
    }
}

/// Poll the certificate files every `every` until `stop` turns true. Runs
/// for the life of the node: there is nothing to wait for but the stop.
pub async fn watch(
    cert: Arc<ReloadingCert>,
    listener: &'static str,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut poller = Poller::new(&cert);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate; the files were just loaded
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() {
                    return;
                }
                continue;
            }
        }
        // File reads are small; a blocking thread keeps them off the
        // runtime's workers all the same.
        let c = cert.clone();
        match tokio::task::spawn_blocking(move || {
            poller.poll(&c, listener);
            poller
        })
        .await
        {
            Ok(p) => poller = p,
            Err(e) => {
                tracing::error!(listener, error = %e, "TLS certificate watcher failed");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls_gen;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn loads_a_chain_and_rejects_bad_files_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let out = tls_gen::self_signed(dir.path(), &["localhost".into()], 1).unwrap();
        let files = TlsFiles {
            cert: out.cert.clone(),
            key: out.key.clone(),
        };
        // leaf + CA as a chain
        let chain = std::fs::read_to_string(&out.cert).unwrap()
            + &std::fs::read_to_string(&out.ca).unwrap();
        let chained = TlsFiles {
            cert: write(dir.path(), "chain.pem", &chain),
            key: out.key.clone(),
        };
        assert_eq!(load(&chained).unwrap().cert.len(), 2);
        assert_eq!(load(&files).unwrap().cert.len(), 1);

        let garbage = write(dir.path(), "garbage.pem", "not a key\n");
        let err = load(&TlsFiles {
            cert: out.cert.clone(),
            key: garbage.clone(),
        })
        .unwrap_err();
        assert!(err.to_string().contains("garbage.pem"), "{err}");
        let err = load(&TlsFiles {
            cert: garbage,
            key: out.key.clone(),
        })
        .unwrap_err();
        assert!(err.to_string().contains("garbage.pem"), "{err}");
        let missing = dir.path().join("missing.pem");
        let err = load(&TlsFiles {
            cert: missing,
            key: out.key.clone(),
        })
        .unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
        // the CA's key does not match the server certificate
        let err = load(&TlsFiles {
            cert: out.cert.clone(),
            key: out.ca_key.clone(),
        })
        .unwrap_err();
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
    }

    #[test]
    fn a_changed_file_is_reloaded_and_a_bad_one_keeps_the_old_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let out = tls_gen::self_signed(dir.path(), &["localhost".into()], 1).unwrap();
        let cert = ReloadingCert::open(TlsFiles {
            cert: out.cert.clone(),
            key: out.key.clone(),
        })
        .unwrap();
        let first = fingerprint(&cert.current());
        let mut poller = Poller::new(&cert);
        assert_eq!(poller.poll(&cert, "t"), Poll::Unchanged);

        // a new certificate from the same CA
        let again = tls_gen::self_signed(dir.path(), &["localhost".into()], 1).unwrap();
        assert_ne!(again.serial, out.serial);
        assert_eq!(poller.poll(&cert, "t"), Poll::Reloaded);
        let second = fingerprint(&cert.current());
        assert_ne!(first, second);
        assert_eq!(poller.poll(&cert, "t"), Poll::Unchanged);

        // a half-written certificate: rejected, the old one stays
        std::fs::write(&out.cert, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
        assert_eq!(poller.poll(&cert, "t"), Poll::Rejected);
        assert_eq!(fingerprint(&cert.current()), second);
        // a vanished file too
        std::fs::remove_file(&out.key).unwrap();
        assert_eq!(poller.poll(&cert, "t"), Poll::Rejected);
        assert_eq!(fingerprint(&cert.current()), second);
        // and good files again are taken
        let third = tls_gen::self_signed(dir.path(), &["localhost".into()], 1).unwrap();
        assert_eq!(poller.poll(&cert, "t"), Poll::Reloaded);
        assert_ne!(fingerprint(&cert.current()), second);
        assert_ne!(third.serial, again.serial);
    }
}
