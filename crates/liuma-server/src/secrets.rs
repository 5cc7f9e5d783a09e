//! Secrets generated on first start: the root S3 credentials and the native
//! API system token. Stored in `<data>/secrets/` (directory 0700, files
//! 0600), printed once when created, never logged.
//!
//! Also the data directory's own protection ([`protect_data_dir`]): it
//! holds the metadata store, so it is 0700 like the secrets in it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The root access key pair.
pub struct RootKey {
    /// Access key id (not secret).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootKey")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// All generated secrets and whether they were created by this start.
pub struct Secrets {
    /// Root S3 credentials.
    pub root: RootKey,
    /// Native API system token.
    pub system_token: String,
    /// Bearer token of the admin API (key management, metrics).
    pub admin_token: String,
    /// Shared by every node of a cluster: signs the internal shard API.
    pub cluster_secret: String,
    /// True on first start (the caller prints them once).
    pub created: bool,
    /// Where they are stored.
    pub dir: PathBuf,
}

impl Secrets {
    /// The key that seals S3 secret keys in the metadata store. Derived
    /// (HKDF-SHA256) from the cluster secret rather than kept in a file of
    /// its own, so every node of a cluster, which must share the cluster
    /// secret anyway, opens what any node sealed; the label separates it
    /// from the shard API's keys derived from the same secret.
    pub fn seal_key(&self) -> liuma_engine::SealKey {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(
            Some(b"liuma seal salt v1"),
            self.cluster_secret.as_bytes(),
        );
        let mut okm = [0u8; 32];
        hk.expand(b"liuma metadata secret seal v1", &mut okm)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        liuma_engine::SealKey::from_bytes(okm)
    }
}

/// Create the data directory 0700, or bring an existing one to 0700 when
/// this user owns it (another owner's directory is only warned about: it
/// is the operator's choice, and chmod would fail anyway).
pub fn protect_data_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating data dir {}", dir.display()))?;
    let meta = fs::metadata(dir)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    if meta.uid() == rustix::process::geteuid().as_raw() {
        tracing::warn!(path = %dir.display(), mode = format!("{mode:o}"), "data dir was readable by others; fixing to 0700");
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("setting 0700 on {}", dir.display()))?;
    } else {
        tracing::warn!(path = %dir.display(), mode = format!("{mode:o}"), "data dir is owned by another user and readable by others");
    }
    Ok(())
}

/// Make the metadata file 0600 and its directory 0700 (redb creates the
/// file with the umask's mode; the 0700 data dir already keeps others out
/// in between).
pub fn protect_meta(path: &Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::set_permissions(parent, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("setting 0700 on {}", parent.display()))?;
    }
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .with_context(|| format!("setting 0600 on {}", path.display()))
}

const ROOT_FILE: &str = "root.key";
const TOKEN_FILE: &str = "system.token";
const ADMIN_FILE: &str = "admin.token";
/// Copy this file to every node of a cluster (Helm does it from a Secret).
pub const CLUSTER_FILE: &str = "cluster.secret";
const TOKEN_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut buf = vec![0u8; len];
    getrandom_fill(&mut buf);
    buf.iter()
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect()
}

fn getrandom_fill(buf: &mut [u8]) {
    use rand::RngCore;
    rand::rngs::OsRng.fill_bytes(buf);
}

/// Load the secrets, creating them on first start.
pub fn load_or_create(dir: &Path) -> anyhow::Result<Secrets> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    let root_path = dir.join(ROOT_FILE);
    let token_path = dir.join(TOKEN_FILE);
    let mut created = false;
    if !root_path.exists() {
        const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let id = format!("LM{}", random_string(18, UPPER));
        let secret = random_string(40, B64);
        write_private(&root_path, &format!("{id}\n{secret}\n"))?;
        created = true;
    }
    for (file, len) in [(TOKEN_FILE, 48), (ADMIN_FILE, 48), (CLUSTER_FILE, 64)] {
        let path = dir.join(file);
        if !path.exists() {
            write_private(&path, &format!("{}\n", random_string(len, TOKEN_ALPHABET)))?;
            // The cluster secret alone is not news to print: it is never typed.
            created |= file != CLUSTER_FILE;
        }
    }
    let root = read_private(&root_path)?;
    let mut lines = root.lines();
    let (Some(id), Some(secret)) = (lines.next(), lines.next()) else {
        anyhow::bail!(
            "{} is malformed: expected two lines (key id, secret)",
            root_path.display()
        );
    };
    let token = read_private(&token_path)?.trim().to_owned();
    let admin_token = read_private(&dir.join(ADMIN_FILE))?.trim().to_owned();
    let cluster_secret = read_private(&dir.join(CLUSTER_FILE))?.trim().to_owned();
    Ok(Secrets {
        root: RootKey {
            access_key_id: id.to_owned(),
            secret_access_key: secret.to_owned(),
        },
        system_token: token,
        admin_token,
        cluster_secret,
        created,
        dir: dir.to_owned(),
    })
}

pub(crate) fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    // The rename is durable only once the directory is: a key used right
    // after this (an SSE rotation) must survive a power loss.
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing {}", dir.display()))?;
    }
    Ok(())
}

fn read_private(path: &Path) -> anyhow::Result<String> {
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "secret file is readable by others; fixing to 0600");
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// This node's id in a cluster: `--node-id`, else a random one created once
/// in `<data>/node.id` (not secret).
pub fn node_id(data_dir: &Path, configured: Option<&str>) -> anyhow::Result<String> {
    if let Some(id) = configured {
        return Ok(id.to_owned());
    }
    let path = data_dir.join("node.id");
    if let Ok(id) = fs::read_to_string(&path) {
        return Ok(id.trim().to_owned());
    }
    let id = format!("node-{}", random_string(8, TOKEN_ALPHABET));
    fs::write(&path, format!("{id}\n")).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let s = load_or_create(dir.path()).unwrap();
        assert!(s.created);
        assert!(s.root.access_key_id.starts_with("LM") && s.root.access_key_id.len() == 20);
        assert_eq!(s.root.secret_access_key.len(), 40);
        for f in [ROOT_FILE, TOKEN_FILE, ADMIN_FILE, CLUSTER_FILE] {
            let mode = fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        let again = load_or_create(dir.path()).unwrap();
        assert!(!again.created);
        assert_eq!(again.root.secret_access_key, s.root.secret_access_key);
        assert_eq!(again.system_token, s.system_token);
        assert_eq!(again.cluster_secret, s.cluster_secret);
        assert_eq!(s.cluster_secret.len(), 64);
        assert!(
            !format!("{:?}", s.root).contains(&s.root.secret_access_key),
            "Debug must not leak the secret"
        );
        // The seal key follows the cluster secret only.
        assert_eq!(
            format!("{:?}", s.seal_key()),
            format!("{:?}", again.seal_key())
        );
    }

    #[test]
    fn data_dir_made_private() {
        let base = tempfile::tempdir().unwrap();
        let fresh = base.path().join("new");
        protect_data_dir(&fresh).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&fresh), 0o700);
        let old = base.path().join("old");
        fs::create_dir(&old).unwrap();
        fs::set_permissions(&old, fs::Permissions::from_mode(0o755)).unwrap();
        protect_data_dir(&old).unwrap();
        assert_eq!(mode(&old), 0o700, "an existing dir of ours is fixed");
    }
}
