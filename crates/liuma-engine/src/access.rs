//! Access keys (S3 credentials and their bucket grants) and small named
//! settings (e.g. the native API's token signing key), kept in the metadata
//! store so every node of a cluster sees the same ones.
//!
//! SigV4 needs the secret itself to verify a signature, so it cannot be
//! hashed; it is sealed instead (see [`crate::seal`]) with the engine's
//! [`SealKey`](crate::SealKey), so a copy of the metadata store alone (a
//! redb file, an etcd backup) does not give the secrets away.
//!
//! # Record `ak/<id>` (MessagePack, named fields)
//!
//! `id`, `name`, `created_ms`, `root`, `buckets`, `user` and `disabled`
//! (both absent before users existed), and the secret as either
//! `sealed` (bytes, the format of `seal.rs`) or, in records written before
//! sealing existed or by an engine without a sealing key, `secret` (plain
//! text). Plain records are still read; [`Engine::seal_plain_keys`]
//! rewrites them sealed at start.

use std::collections::BTreeMap;

use liuma_meta::{Compare, Op, Txn};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::model::{decode, encode};
use crate::{Error, Result, SealError};

use crate::keys::ACCESS_KEY;
const SETTING: &str = "st/";

/// What a key may do in a bucket. Ordered: each level includes the ones before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Permission {
    /// List and read objects.
    Read,
    /// Read, write and delete objects.
    Write,
    /// Everything, including bucket settings and deleting the bucket.
    Owner,
}

impl std::str::FromStr for Permission {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "read" => Ok(Permission::Read),
            "write" => Ok(Permission::Write),
            "owner" => Ok(Permission::Owner),
            _ => Err(Error::InvalidArgument {
                what: "permission must be read, write or owner",
            }),
        }
    }
}

/// An S3 access key.
#[derive(Clone, Serialize, Deserialize)]
pub struct AccessKey {
    /// Access key id (public).
    pub id: String,
    /// Secret access key.
    pub secret: String,
    /// Human name.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_ms: u64,
    /// The root key may do everything, in every bucket.
    pub root: bool,
    /// Grants per bucket (buckets a key creates are granted `Owner`). The
    /// access model before users; mirrored into the user's `legacy-grants`
    /// identity policy (see [`crate::users`]).
    pub buckets: BTreeMap<String, Permission>,
    /// The user the key belongs to (empty only in records written before
    /// users existed, until [`Engine::migrate_users`] runs).
    pub user: String,
    /// A disabled key is kept but refused by the S3 front end.
    pub disabled: bool,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("root", &self.root)
            .field("buckets", &self.buckets)
            .field("user", &self.user)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl AccessKey {
    /// May this key act on `bucket` at level `need`?
    pub fn allows(&self, bucket: &str, need: Permission) -> bool {
        self.root || self.buckets.get(bucket).is_some_and(|p| *p >= need)
    }
}

/// A new random key id ("LM" + 18 chars) and secret (40 chars).
fn new_key_pair() -> (String, String) {
    let id = format!(
        "LM{}",
        random_chars(18, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    );
    let secret = random_chars(
        40,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    );
    (id, secret)
}

fn random_chars(len: usize, alphabet: &[u8]) -> String {
    (0..len)
        .map(|_| char::from(alphabet[usize::from(rand::random::<u8>()) % alphabet.len()]))
        .collect()
}

/// The `ak/<id>` record as stored: the secret sealed or (old layout) plain.
#[derive(Serialize, Deserialize)]
struct StoredKey {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<Vec<u8>>,
    name: String,
    created_ms: u64,
    root: bool,
    buckets: BTreeMap<String, Permission>,
    #[serde(default)]
    user: String,
    #[serde(default)]
    disabled: bool,
}

impl StoredKey {
    /// True when the secret is stored in plain text (the old layout).
    fn is_plain(&self) -> bool {
        self.sealed.is_none()
    }
}

pub(crate) fn key_of(id: &str) -> Vec<u8> {
    format!("{ACCESS_KEY}{id}").into_bytes()
}

impl Engine {
    /// Create a new key the old way (`liuma key create`): a random id
    /// ("LM" and 18 chars) and secret (40 chars), in a user of its own named
    /// `key-<id>` (as the migration does for keys made before users), so
    /// its bucket grants stay its only rights.
    pub async fn create_key(&self, name: &str) -> Result<AccessKey> {
        let (id, secret) = new_key_pair();
        self.import_key(&id, &secret, name, false).await
    }

    /// Create a key with a random id and secret for `user`, which must exist.
    pub async fn create_key_for(&self, user: &str, key_name: &str) -> Result<AccessKey> {
        let u = self
            .get_user(user)
            .await?
            .ok_or_else(|| Error::NoSuchUser {
                name: user.to_owned(),
            })?;
        let (id, secret) = new_key_pair();
        let key = AccessKey {
            id,
            secret,
            name: key_name.to_owned(),
            created_ms: self.now_ms(),
            root: u.root,
            buckets: BTreeMap::new(),
            user: u.name,
            disabled: false,
        };
        let k = key_of(&key.id);
        let txn = Txn::new()
            .when(Compare::Absent(k.clone()))
            .and_then(Op::put(k, self.encode_key(&key)));
        if self.inner.meta.txn(txn).await?.succeeded {
            Ok(key)
        } else {
            Err(Error::KeyExists { id: key.id })
        }
    }

    /// Store a key with a given id and secret (the root key from first start).
    /// Idempotent when the same key exists; an id clash with another secret is an error.
    /// A root key belongs to user `root`, any other to a user of its own
    /// (`key-<id>`); that user is created when missing.
    pub async fn import_key(
        &self,
        id: &str,
        secret: &str,
        name: &str,
        root: bool,
    ) -> Result<AccessKey> {
        if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::InvalidArgument {
                what: "access key id must be 1-128 letters or digits",
            });
        }
        let user = if root {
            crate::users::ROOT_USER.to_owned()
        } else {
            crate::users::legacy_user_name(id)
        };
        self.ensure_user(&user, root).await?;
        let key = AccessKey {
            id: id.to_owned(),
            secret: secret.to_owned(),
            name: name.to_owned(),
            created_ms: self.now_ms(),
            root,
            buckets: BTreeMap::new(),
            user,
            disabled: false,
        };
        let k = key_of(id);
        let txn = Txn::new()
            .when(Compare::Absent(k.clone()))
            .and_then(Op::put(k, self.encode_key(&key)));
        if self.inner.meta.txn(txn).await?.succeeded {
            return Ok(key);
        }
        match self.get_key(id).await? {
            Some(existing) if existing.secret == secret => Ok(existing),
            _ => Err(Error::KeyExists { id: id.to_owned() }),
        }
    }

    /// A key by id.
    pub async fn get_key(&self, id: &str) -> Result<Option<AccessKey>> {
        if id.is_empty() {
            return Ok(None);
        }
        match self.inner.meta.get(&key_of(id)).await? {
            Some(kv) => Ok(Some(self.decode_key(&kv.value)?)),
            None => Ok(None),
        }
    }

    /// Every key, by id.
    pub async fn list_keys(&self) -> Result<Vec<AccessKey>> {
        let stored: Vec<StoredKey> =
            crate::scan::decode_prefix(&self.inner.meta, ACCESS_KEY.as_bytes()).await?;
        stored.into_iter().map(|s| self.open_key(s)).collect()
    }

    /// Delete a key; its requests fail from now on.
    pub async fn delete_key(&self, id: &str) -> Result<()> {
        if !self.inner.meta.delete(&key_of(id)).await? {
            return Err(Error::NoSuchAccessKey { id: id.to_owned() });
        }
        Ok(())
    }

    /// Grant `perm` on `bucket` to a key (None revokes the grant).
    pub async fn allow_key(
        &self,
        id: &str,
        bucket: &str,
        perm: Option<Permission>,
    ) -> Result<AccessKey> {
        // A grant on a bucket that does not exist is refused (a typo would
        // grant nothing and say nothing); taking one away always works, so
        // grants of deleted buckets can be cleaned up.
        if perm.is_some() {
            self.bucket(bucket).await?;
        }
        for _ in 0..16 {
            let k = key_of(id);
            let Some(kv) = self.inner.meta.get(&k).await? else {
                return Err(Error::NoSuchAccessKey { id: id.to_owned() });
            };
            let mut key = self.decode_key(&kv.value)?;
            match perm {
                Some(p) => key.buckets.insert(bucket.to_owned(), p),
                None => key.buckets.remove(bucket),
            };
            let txn = Txn::new()
                .when(Compare::ModRevision(k.clone(), kv.mod_revision))
                .and_then(Op::put(k, self.encode_key(&key)));
            if self.inner.meta.txn(txn).await?.succeeded {
                self.sync_legacy_grants(&key).await?;
                return Ok(key);
            }
        }
        Err(Error::Conflict {
            what: format!("access key {id}"),
        })
    }

    /// Change a key with `f` under compare-and-swap (retried on races).
    pub(crate) async fn update_key(
        &self,
        id: &str,
        f: impl Fn(&mut AccessKey),
    ) -> Result<AccessKey> {
        let k = key_of(id);
        for _ in 0..16 {
            let Some(kv) = self.inner.meta.get(&k).await? else {
                return Err(Error::NoSuchAccessKey { id: id.to_owned() });
            };
            let mut key = self.decode_key(&kv.value)?;
            f(&mut key);
            let txn = Txn::new()
                .when(Compare::ModRevision(k.clone(), kv.mod_revision))
                .and_then(Op::put(k.clone(), self.encode_key(&key)));
            if self.inner.meta.txn(txn).await?.succeeded {
                return Ok(key);
            }
        }
        Err(Error::Conflict {
            what: format!("access key {id}"),
        })
    }

    /// Rewrite every access key stored with a plain-text secret (the layout
    /// before sealing) sealed, each with a compare-and-swap on its revision
    /// so a concurrent change is never overwritten (a lost race is left for
    /// the next start). Returns how many were rewritten. Nothing to do
    /// without a sealing key.
    pub async fn seal_plain_keys(&self) -> Result<usize> {
        if self.inner.cfg.secret_seal.is_none() {
            return Ok(0);
        }
        let kvs = crate::scan::Pager::prefix(ACCESS_KEY.as_bytes(), 500)
            .collect(&self.inner.meta)
            .await?;
        let mut sealed = 0;
        for kv in kvs {
            let stored: StoredKey = decode(&kv.value)?;
            if !stored.is_plain() {
                continue;
            }
            let key = self.open_key(stored)?;
            let txn = Txn::new()
                .when(Compare::ModRevision(kv.key.clone(), kv.mod_revision))
                .and_then(Op::put(kv.key, self.encode_key(&key)));
            if self.inner.meta.txn(txn).await?.succeeded {
                sealed += 1;
            }
        }
        if sealed > 0 {
            tracing::info!(
                keys = sealed,
                "sealed access key secrets stored in plain text"
            );
        }
        Ok(sealed)
    }

    /// The stored form of a key: its secret sealed when a sealing key is set.
    fn encode_key(&self, key: &AccessKey) -> Vec<u8> {
        let (secret, sealed) = match &self.inner.cfg.secret_seal {
            Some(sk) => (None, Some(crate::seal::seal(sk, &key.id, &key.secret))),
            None => (Some(key.secret.clone()), None),
        };
        encode(&StoredKey {
            id: key.id.clone(),
            secret,
            sealed,
            name: key.name.clone(),
            created_ms: key.created_ms,
            root: key.root,
            buckets: key.buckets.clone(),
            user: key.user.clone(),
            disabled: key.disabled,
        })
    }

    fn decode_key(&self, bytes: &[u8]) -> Result<AccessKey> {
        self.open_key(decode(bytes)?)
    }

    /// A stored key with its secret opened (or taken as is from the old layout).
    fn open_key(&self, s: StoredKey) -> Result<AccessKey> {
        let secret = match (s.sealed, s.secret) {
            (Some(sealed), _) => match &self.inner.cfg.secret_seal {
                Some(sk) => crate::seal::open(sk, &s.id, &sealed).map_err(Error::internal)?,
                None => return Err(Error::internal(SealError::NoKey { id: s.id })),
            },
            (None, Some(plain)) => plain,
            (None, None) => return Err(Error::internal(SealError::Missing { id: s.id })),
        };
        Ok(AccessKey {
            id: s.id,
            secret,
            name: s.name,
            created_ms: s.created_ms,
            root: s.root,
            buckets: s.buckets,
            user: s.user,
            disabled: s.disabled,
        })
    }

    /// A named setting and its revision.
    pub async fn get_setting(&self, name: &str) -> Result<Option<(Vec<u8>, u64)>> {
        let k = format!("{SETTING}{name}").into_bytes();
        Ok(self
            .inner
            .meta
            .get(&k)
            .await?
            .map(|kv| (kv.value, kv.mod_revision)))
    }

    /// Set a named setting if its revision is still `expected` (None: only
    /// if absent). False when someone else changed it first.
    pub async fn put_setting(
        &self,
        name: &str,
        value: &[u8],
        expected: Option<u64>,
    ) -> Result<bool> {
        let k = format!("{SETTING}{name}").into_bytes();
        let cmp = match expected {
            Some(rev) => Compare::ModRevision(k.clone(), rev),
            None => Compare::Absent(k.clone()),
        };
        let txn = Txn::new().when(cmp).and_then(Op::put(k, value.to_vec()));
        Ok(self.inner.meta.txn(txn).await?.succeeded)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use liuma_disk::{DiskConfig, ShardStore};
    use liuma_meta::RedbStore;

    use super::*;
    use crate::{EngineConfig, SealKey};

    const SECRET: &str = "oldLayoutSecret0123456789abcdefghijklmno";

    fn engine(dir: &std::path::Path, seal: Option<SealKey>) -> Engine {
        let meta = RedbStore::open(&dir.join("meta.redb")).expect("open redb");
        let store = Arc::new(ShardStore::open(&[DiskConfig::new(dir.join("d0"))]).expect("disk"));
        let cfg = EngineConfig {
            secret_seal: seal,
            ..EngineConfig::default()
        };
        Engine::open(cfg, meta, store).expect("open engine")
    }

    async fn raw(e: &Engine, id: &str) -> Vec<u8> {
        e.inner.meta.get(&key_of(id)).await.unwrap().unwrap().value
    }

    fn contains(hay: &[u8], needle: &str) -> bool {
        hay.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    #[tokio::test]
    async fn plain_record_of_the_old_layout_is_read_then_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path(), Some(SealKey::from_bytes([3; 32])));
        // The layout before sealing: the AccessKey struct itself, secret in clear.
        let old = AccessKey {
            id: "LMOLD".into(),
            secret: SECRET.into(),
            name: "legacy".into(),
            created_ms: 1,
            root: false,
            buckets: BTreeMap::from([("b".to_owned(), Permission::Write)]),
            user: String::new(),
            disabled: false,
        };
        e.inner
            .meta
            .txn(Txn::new().and_then(Op::put(key_of("LMOLD"), encode(&old))))
            .await
            .unwrap();
        assert!(contains(&raw(&e, "LMOLD").await, SECRET));

        let read = e.get_key("LMOLD").await.unwrap().unwrap();
        assert_eq!(read.secret, SECRET, "the old layout is still accepted");
        assert_eq!(read.buckets.get("b"), Some(&Permission::Write));

        assert_eq!(e.seal_plain_keys().await.unwrap(), 1);
        let stored = raw(&e, "LMOLD").await;
        assert!(
            !contains(&stored, SECRET),
            "rewritten without the plain secret"
        );
        let s: StoredKey = decode(&stored).unwrap();
        assert!(s.secret.is_none() && s.sealed.is_some());
        assert_eq!(e.get_key("LMOLD").await.unwrap().unwrap().secret, SECRET);
        assert_eq!(e.list_keys().await.unwrap()[0].secret, SECRET);
        assert_eq!(
            e.seal_plain_keys().await.unwrap(),
            0,
            "nothing left to seal"
        );
    }

    #[tokio::test]
    async fn new_keys_are_sealed_and_need_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path(), Some(SealKey::from_bytes([5; 32])));
        e.import_key("LMNEW", SECRET, "n", false).await.unwrap();
        assert!(!contains(&raw(&e, "LMNEW").await, SECRET));
        // Idempotent import compares the opened secret.
        e.import_key("LMNEW", SECRET, "n", false).await.unwrap();
        e.create_bucket("bkt", "LMNEW").await.unwrap();
        let k = e
            .allow_key("LMNEW", "bkt", Some(Permission::Read))
            .await
            .unwrap();
        assert_eq!(k.secret, SECRET);
        assert!(
            !contains(&raw(&e, "LMNEW").await, SECRET),
            "still sealed after a grant"
        );
        drop(e);
        let wrong = engine(dir.path(), Some(SealKey::from_bytes([6; 32])));
        let Err(Error::Internal(src)) = wrong.get_key("LMNEW").await else {
            panic!("a secret sealed under another key must not open");
        };
        assert!(matches!(
            src.downcast_ref::<SealError>(),
            Some(SealError::WrongKey { .. })
        ));
        drop(wrong);
        let none = engine(dir.path(), None);
        let Err(Error::Internal(src)) = none.get_key("LMNEW").await else {
            panic!("a sealed secret needs a key");
        };
        assert!(matches!(
            src.downcast_ref::<SealError>(),
            Some(SealError::NoKey { .. })
        ));
    }
}
