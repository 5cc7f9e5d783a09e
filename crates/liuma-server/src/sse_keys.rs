//! The SSE-S3 master key ring of a node (see `liuma_engine::KeyRing`).
//!
//! Where it comes from, first match wins:
//! 1. `--sse-master-key-file FILE` (`[sse] master_key_file`), or the
//!    variable `LIUMA_SSE_MASTER_KEY` holding the same text (an external
//!    secret manager or KMS injects either; setting both is refused):
//!    never copied anywhere by liuma. The variable is read once at start;
//!    only this process's user (and root) can read another process's
//!    environment, so it is as private as a 0600 file.
//! 2. `secrets/sse.key` (0600), this node's copy.
//! 3. In a cluster, `cl/sse` in the metadata store: the ring sealed
//!    (ChaCha20-Poly1305) under a key derived from the cluster secret, as
//!    the cluster CA is (`cluster_tls`), so every node holding
//!    `cluster.secret` opens it and nothing else in an etcd backup does.
//! 4. Generated now (one random version-1 key): written to `secrets/` and,
//!    in a cluster, published to `cl/sse` with compare-and-put (the first
//!    node wins; a node that loses takes the winner's).
//!
//! A node that has a local copy but whose cluster has none publishes its
//! own, so a cluster that started before encryption existed shares the
//! first node's ring. The key is never logged.
//!
//! At run time the ring is kept by a [`RingStore`] ([`store`]): rotation
//! and retirement (`liuma sse ...`) change it by compare-and-swap, and
//! [`follow`] makes every node take a change within seconds.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use liuma_engine::{KeyRing, RingStore};
use liuma_meta::{Compare, DynMetaStore, Op, Txn};
use rand::RngCore;

use crate::secrets::write_private;

/// The environment variable that may hold the ring (see the module docs).
pub const KEY_ENV: &str = "LIUMA_SSE_MASTER_KEY";

/// A ring liuma does not own: rotation and retirement are refused.
pub enum External {
    /// `--sse-master-key-file`.
    File(PathBuf),
    /// The text of [`KEY_ENV`].
    Env(String),
}

impl External {
    /// From the configured file and the process environment.
    pub fn from_config(file: Option<&Path>) -> anyhow::Result<Option<External>> {
        // Set but unusable (not UTF-8, or blank: an optional secret that is
        // missing) is an error, never "not set": falling back to another
        // ring would seal new objects under a key the other nodes lack.
        let env = match std::env::var_os(KEY_ENV) {
            None => None,
            Some(v) => match v.into_string() {
                Ok(text) if !text.trim().is_empty() => Some(text),
                Ok(_) => anyhow::bail!("{KEY_ENV} is set but empty"),
                Err(_) => anyhow::bail!("{KEY_ENV} is not valid UTF-8 text"),
            },
        };
        match (file, env) {
            (Some(_), Some(_)) => anyhow::bail!(
                "both --sse-master-key-file and {KEY_ENV} are set: give the SSE master key one way"
            ),
            (Some(f), None) => Ok(Some(External::File(f.to_owned()))),
            (None, Some(text)) => Ok(Some(External::Env(text))),
            (None, None) => Ok(None),
        }
    }

    fn ring(&self) -> anyhow::Result<KeyRing> {
        match self {
            External::File(f) => {
                let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
                KeyRing::from_file_bytes(&bytes)
                    .with_context(|| format!("parsing the SSE master key file {}", f.display()))
            }
            // The text is never part of an error message.
            External::Env(text) => KeyRing::from_file_bytes(text.trim().as_bytes())
                .with_context(|| format!("parsing the SSE master key in {KEY_ENV}")),
        }
    }
}

/// Key of the sealed ring in the metadata store.
const RING_KEY: &[u8] = b"cl/sse";
/// This node's copy.
pub const RING_FILE: &str = "sse.key";

fn cipher(cluster_secret: &str) -> ChaCha20Poly1305 {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, cluster_secret.as_bytes());
    let mut key = [0u8; 32];
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = hk.expand(b"liuma sse master key seal v1", &mut key);
    ChaCha20Poly1305::new(&key.into())
}

fn seal(cluster_secret: &str, ring: &KeyRing) -> anyhow::Result<Vec<u8>> {
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher(cluster_secret)
        .encrypt(Nonce::from_slice(&nonce), ring.to_text().as_bytes())
        .map_err(|_| anyhow::anyhow!("sealing the SSE master key failed"))?;
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&ct);
    Ok(blob)
}

fn unseal(cluster_secret: &str, blob: &[u8]) -> anyhow::Result<KeyRing> {
    anyhow::ensure!(blob.len() > 12, "the stored SSE master key is truncated");
    let (nonce, ct) = blob.split_at(12);
    let text = cipher(cluster_secret)
        .decrypt(Nonce::from_slice(nonce), ct)
        .map_err(|_| {
            anyhow::anyhow!(
                "cannot open the SSE master key stored in the metadata store: this node's cluster secret differs from the cluster's"
            )
        })?;
    let text = String::from_utf8(text).context("the stored SSE master key is not text")?;
    Ok(KeyRing::parse(&text)?)
}

/// The node's key ring (see the module docs). `meta` is consulted only
/// when `clustered`.
pub async fn load(
    external: Option<&External>,
    secrets_dir: &Path,
    meta: &DynMetaStore,
    cluster_secret: &str,
    clustered: bool,
) -> anyhow::Result<KeyRing> {
    if let Some(x) = external {
        let ring = x.ring()?;
        let from = match x {
            External::File(_) => "the given file",
            External::Env(_) => KEY_ENV,
        };
        tracing::info!(versions = ?ring.versions(), from, "SSE master key from outside liuma");
        return Ok(ring);
    }
    let path = secrets_dir.join(RING_FILE);
    let local = match std::fs::read(&path) {
        Ok(b) => Some(
            KeyRing::from_file_bytes(&b).with_context(|| format!("parsing {}", path.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if !clustered {
        if let Some(ring) = local {
            return Ok(ring);
        }
        let ring = KeyRing::generate();
        write_private(&path, &ring.to_text())?;
        tracing::info!(file = %path.display(), "made the SSE master key");
        return Ok(ring);
    }
    let stored = meta
        .get(RING_KEY)
        .await
        .context("reading the SSE master key")?;
    let ring = match (stored, local) {
        (Some(kv), _) => unseal(cluster_secret, &kv.value)?,
        (None, candidate) => {
            let mine = candidate.unwrap_or_else(KeyRing::generate);
            let txn = Txn::new()
                .when(Compare::Absent(RING_KEY.to_vec()))
                .and_then(Op::put(RING_KEY.to_vec(), seal(cluster_secret, &mine)?));
            if meta
                .txn(txn)
                .await
                .context("publishing the SSE master key")?
                .succeeded
            {
                tracing::info!("published the SSE master key to the cluster");
                mine
            } else {
                let kv = meta
                    .get(RING_KEY)
                    .await?
                    .context("the SSE master key vanished from the metadata store")?;
                unseal(cluster_secret, &kv.value)?
            }
        }
    };
    write_private(&path, &ring.to_text())?;
    Ok(ring)
}

/// Where the ring is kept at run time, for rotation and retirement (none
/// when it comes from outside, [`External`]: liuma does not own it).
pub fn store(
    external: Option<&External>,
    secrets_dir: &Path,
    meta: &DynMetaStore,
    cluster_secret: &str,
    clustered: bool,
) -> Option<Arc<dyn RingStore>> {
    if external.is_some() {
        return None;
    }
    let local = secrets_dir.join(RING_FILE);
    Some(if clustered {
        Arc::new(ClusterRing {
            meta: meta.clone(),
            secret: cluster_secret.to_owned(),
            local,
        })
    } else {
        Arc::new(FileRing {
            path: local,
            lock: tokio::sync::Mutex::new(()),
        })
    })
}

/// Keep the local copy equal to `ring` (written only when it differs).
fn sync_local(path: &Path, ring: &KeyRing) -> Result<(), String> {
    let text = ring.to_text();
    if std::fs::read_to_string(path).ok().as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    write_private(path, &text).map_err(|e| format!("writing {}: {e:#}", path.display()))
}

/// One node: `secrets/sse.key`, changed under a lock (one process owns it).
struct FileRing {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl FileRing {
    fn read(&self) -> Result<KeyRing, String> {
        let bytes = std::fs::read(&self.path)
            .map_err(|e| format!("reading {}: {e}", self.path.display()))?;
        KeyRing::from_file_bytes(&bytes)
            .map_err(|e| format!("parsing {}: {e}", self.path.display()))
    }
}

#[async_trait::async_trait]
impl RingStore for FileRing {
    async fn load(&self) -> Result<KeyRing, String> {
        let _g = self.lock.lock().await;
        self.read()
    }

    async fn swap(&self, old: &KeyRing, new: &KeyRing) -> Result<bool, String> {
        let _g = self.lock.lock().await;
        if self.read()? != *old {
            return Ok(false);
        }
        write_private(&self.path, &new.to_text())
            .map_err(|e| format!("writing {}: {e:#}", self.path.display()))?;
        Ok(true)
    }
}

/// A cluster: the sealed `cl/sse` record, changed by compare-and-put on
/// its revision; the local copy follows every load.
struct ClusterRing {
    meta: DynMetaStore,
    secret: String,
    local: PathBuf,
}

impl ClusterRing {
    async fn stored(&self) -> Result<(KeyRing, u64), String> {
        let kv = self
            .meta
            .get(RING_KEY)
            .await
            .map_err(|e| format!("reading the SSE master key: {e}"))?
            .ok_or("the SSE master key is missing from the metadata store")?;
        let ring = unseal(&self.secret, &kv.value).map_err(|e| format!("{e:#}"))?;
        Ok((ring, kv.mod_revision))
    }
}

#[async_trait::async_trait]
impl RingStore for ClusterRing {
    async fn load(&self) -> Result<KeyRing, String> {
        let (ring, _) = self.stored().await?;
        sync_local(&self.local, &ring)?;
        Ok(ring)
    }

    async fn swap(&self, old: &KeyRing, new: &KeyRing) -> Result<bool, String> {
        let (ring, rev) = self.stored().await?;
        if ring != *old {
            return Ok(false);
        }
        let blob = seal(&self.secret, new).map_err(|e| format!("{e:#}"))?;
        let txn = Txn::new()
            .when(Compare::ModRevision(RING_KEY.to_vec(), rev))
            .and_then(Op::put(RING_KEY.to_vec(), blob));
        let done = self
            .meta
            .txn(txn)
            .await
            .map_err(|e| format!("storing the SSE master key: {e}"))?
            .succeeded;
        // Once stored in etcd the swap happened: a failed local copy is
        // logged, not reported as a failed rotation (a retry would rotate twice).
        if done && let Err(e) = sync_local(&self.local, new) {
            tracing::warn!(error = %e, "the SSE key ring changed in the cluster store but its local copy was not updated");
        }
        Ok(done)
    }
}

/// Re-read the stored ring every `every` until `stop`: a rotation or
/// retirement on another node reaches this one within that time.
pub async fn follow(
    engine: liuma_engine::Engine,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = engine.sse_refresh().await {
            tracing::warn!(error = %e, "re-reading the SSE master key ring failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_ring_opens_only_with_the_cluster_secret() {
        let ring = KeyRing::generate().rotated();
        let blob = seal("secret-a", &ring).unwrap();
        assert_eq!(unseal("secret-a", &blob).unwrap(), ring);
        assert!(unseal("secret-b", &blob).is_err());
        let text = ring.to_text();
        assert!(
            !blob
                .windows(16)
                .any(|w| text.as_bytes().windows(16).any(|t| t == w))
        );
    }

    #[tokio::test]
    async fn one_node_generates_once_and_cluster_nodes_share() {
        let dir = tempfile::tempdir().unwrap();
        let meta: DynMetaStore = liuma_meta::RedbStore::open(&dir.path().join("m.redb")).unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let single = load(None, &a, &meta, "s", false).await.unwrap();
        assert_eq!(load(None, &a, &meta, "s", false).await.unwrap(), single);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(a.join(RING_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // cluster: a publishes its ring, b takes it
        let ra = load(None, &a, &meta, "s", true).await.unwrap();
        assert_eq!(ra, single);
        let rb = load(None, &b, &meta, "s", true).await.unwrap();
        assert_eq!(rb, ra);
        assert!(
            load(None, &dir.path().join("c"), &meta, "other", true)
                .await
                .is_err()
        );
        // an external key file wins over everything
        let f = dir.path().join("ext.key");
        std::fs::write(&f, [0xA5u8; 32]).unwrap();
        let ext = load(Some(&External::File(f)), &b, &meta, "s", true)
            .await
            .unwrap();
        assert_eq!(ext, KeyRing::single([0xA5; 32]));
        // so does the ring's text given in the environment variable
        let text = External::Env(format!("v4 {}\n", "5a".repeat(32)));
        let env = load(Some(&text), &b, &meta, "s", true).await.unwrap();
        assert_eq!((env.versions(), env.newest().version), (vec![4], 4));
        assert!(store(Some(&text), &b, &meta, "s", true).is_none());
    }
}
