//! Access keys (S3 credentials and their bucket grants) and small named
//! settings (e.g. the native API's token signing key), kept in the metadata
//! store so every node of a cluster sees the same ones.
//!
//! SigV4 needs the secret itself to verify a signature, so secret keys are
//! stored as issued; the metadata store is the trust boundary (redb file in
//! the 0700 data dir, or etcd with its own auth).

use std::collections::BTreeMap;

use liuma_meta::{Compare, Op, Txn};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::model::{decode, encode, now_ms};
use crate::{Error, Result};

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
    /// Grants per bucket (buckets a key creates are granted `Owner`).
    pub buckets: BTreeMap<String, Permission>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("root", &self.root)
            .field("buckets", &self.buckets)
            .finish_non_exhaustive()
    }
}

impl AccessKey {
    /// May this key act on `bucket` at level `need`?
    pub fn allows(&self, bucket: &str, need: Permission) -> bool {
        self.root || self.buckets.get(bucket).is_some_and(|p| *p >= need)
    }
}

fn random_chars(len: usize, alphabet: &[u8]) -> String {
    (0..len)
        .map(|_| char::from(alphabet[usize::from(rand::random::<u8>()) % alphabet.len()]))
        .collect()
}

fn key_of(id: &str) -> Vec<u8> {
    format!("{ACCESS_KEY}{id}").into_bytes()
}

impl Engine {
    /// Create a new key with a random id ("LM" + 18 chars) and secret (40 chars).
    pub async fn create_key(&self, name: &str) -> Result<AccessKey> {
        let id = format!(
            "LM{}",
            random_chars(18, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        );
        let secret = random_chars(
            40,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        );
        self.import_key(&id, &secret, name, false).await
    }

    /// Store a key with a given id and secret (the root key from first start).
    /// Idempotent when the same key exists; an id clash with another secret is an error.
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
        let key = AccessKey {
            id: id.to_owned(),
            secret: secret.to_owned(),
            name: name.to_owned(),
            created_ms: now_ms(),
            root,
            buckets: BTreeMap::new(),
        };
        let k = key_of(id);
        let txn = Txn::new()
            .when(Compare::Absent(k.clone()))
            .and_then(Op::put(k, encode(&key)));
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
            Some(kv) => Ok(Some(decode(&kv.value)?)),
            None => Ok(None),
        }
    }

    /// Every key, by id.
    pub async fn list_keys(&self) -> Result<Vec<AccessKey>> {
        crate::scan::decode_prefix(&self.inner.meta, ACCESS_KEY.as_bytes()).await
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
        for _ in 0..16 {
            let k = key_of(id);
            let Some(kv) = self.inner.meta.get(&k).await? else {
                return Err(Error::NoSuchAccessKey { id: id.to_owned() });
            };
            let mut key: AccessKey = decode(&kv.value)?;
            match perm {
                Some(p) => key.buckets.insert(bucket.to_owned(), p),
                None => key.buckets.remove(bucket),
            };
            let txn = Txn::new()
                .when(Compare::ModRevision(k.clone(), kv.mod_revision))
                .and_then(Op::put(k, encode(&key)));
            if self.inner.meta.txn(txn).await?.succeeded {
                return Ok(key);
            }
        }
        Err(Error::Conflict {
            what: format!("access key {id}"),
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
