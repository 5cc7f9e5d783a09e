//! Secrets generated on first start: the root S3 credentials and the native
//! API system token. Stored in `<data>/secrets/` (directory 0700, files
//! 0600), printed once when created, never logged.

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

fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
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
    }
}
