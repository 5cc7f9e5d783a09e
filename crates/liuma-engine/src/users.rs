//! Users: like separate AWS accounts inside one liuma. Every access key
//! belongs to exactly one user; a bucket's owner is a user name. User
//! `root` always exists and is all-powerful (the front end decides what
//! that means; the engine only stores the flag).
//!
//! Identity policies (JSON, AWS's grammar) are stored per user as given;
//! the front end validates them before calling
//! [`Engine::put_user_policy`] and evaluates them per request.
//!
//! # Record `us/<name>` (MessagePack, named fields)
//!
//! `name`, `canonical_id` (64 lowercase hex, random, never changes),
//! `created_ms`, `root`, `policies` (policy name → JSON text). Served from
//! the watch-invalidated cache (as `ak/` and `bk/`), so a changed policy
//! reaches every node of a cluster within the watch's delay.

use std::collections::BTreeMap;

use liuma_meta::{Compare, Op, Txn};
use serde::{Deserialize, Serialize};

use crate::access::{AccessKey, Permission};
use crate::engine::Engine;
use crate::keys;
use crate::model::{decode, encode};
use crate::{Error, Result};

/// The all-powerful user; the root key belongs to it.
pub const ROOT_USER: &str = "root";
/// The identity policy the migration (and `liuma key allow`) derives from a
/// key's legacy bucket grants.
pub const LEGACY_POLICY: &str = "legacy-grants";
/// Largest identity policy kept (AWS: 2 KiB per inline user policy, 20 KiB
/// per bucket policy; the larger one, so no bucket-style policy is refused).
const MAX_POLICY_BYTES: usize = 20 * 1024;

/// A user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// 1-64 of `[A-Za-z0-9_.@-]`.
    pub name: String,
    /// 64 lowercase hex characters: the S3 `Owner.ID` of what it owns.
    pub canonical_id: String,
    /// Creation time, ms since the epoch.
    pub created_ms: u64,
    /// The root user bypasses every policy, ACL and PublicAccessBlock.
    pub root: bool,
    /// Identity policies by name, as the JSON text given.
    #[serde(default)]
    pub policies: BTreeMap<String, String>,
}

impl User {
    /// The S3 display name (= the name).
    pub fn display_name(&self) -> &str {
        &self.name
    }
}

/// Check a user name: 1-64 of `[A-Za-z0-9_.@-]`.
pub fn validate_user_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            what: "user name must be 1-64 of A-Z a-z 0-9 _ . @ -",
        })
    }
}

/// Check a policy name (AWS IAM's rule): 1-128 of `[A-Za-z0-9+=,.@_-]`.
pub fn validate_policy_name(name: &str) -> Result<()> {
    let ok = (1..=128).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'=' | b',' | b'.' | b'@' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            what: "policy name must be 1-128 of A-Z a-z 0-9 + = , . @ _ -",
        })
    }
}

/// The user a key made before users existed (or by `liuma key create`)
/// belongs to: `key-<id>` in lowercase.
pub fn legacy_user_name(key_id: &str) -> String {
    format!("key-{}", key_id.to_ascii_lowercase())
}

/// The identity policy equivalent to legacy bucket grants (None: no grants).
/// read → `s3:Get*`, `s3:List*`; write → read + `s3:PutObject*`,
/// `s3:DeleteObject*`, `s3:AbortMultipartUpload`; owner → `s3:*`; each on
/// `arn:aws:s3:::B` and `arn:aws:s3:::B/*`.
pub fn legacy_grants_policy(buckets: &BTreeMap<String, Permission>) -> Option<String> {
    let read = ["s3:Get*", "s3:List*"];
    let write = [
        "s3:Get*",
        "s3:List*",
        "s3:PutObject*",
        "s3:DeleteObject*",
        "s3:AbortMultipartUpload",
    ];
    let statements: Vec<serde_json::Value> =
        [Permission::Read, Permission::Write, Permission::Owner]
            .into_iter()
            .filter_map(|level| {
                let resources: Vec<String> = buckets
                    .iter()
                    .filter(|(_, p)| **p == level)
                    .flat_map(|(b, _)| [format!("arn:aws:s3:::{b}"), format!("arn:aws:s3:::{b}/*")])
                    .collect();
                if resources.is_empty() {
                    return None;
                }
                let actions: Vec<&str> = match level {
                    Permission::Read => read.to_vec(),
                    Permission::Write => write.to_vec(),
                    Permission::Owner => vec!["s3:*"],
                };
                Some(serde_json::json!({
                    "Sid": format!("Legacy{level:?}"),
                    "Effect": "Allow",
                    "Action": actions,
                    "Resource": resources,
                }))
            })
            .collect();
    if statements.is_empty() {
        return None;
    }
    Some(serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string())
}

fn user_key(name: &str) -> Vec<u8> {
    format!("{}{name}", keys::USER).into_bytes()
}

impl Engine {
    /// A new user record (not stored).
    fn new_user(&self, name: &str, root: bool) -> User {
        User {
            name: name.to_owned(),
            canonical_id: hex::encode(rand::random::<[u8; 32]>()),
            created_ms: self.now_ms(),
            root,
            policies: BTreeMap::new(),
        }
    }

    /// Store `user` if no user by its name exists; false when one does.
    async fn insert_user(&self, user: &User) -> Result<bool> {
        let k = user_key(&user.name);
        let txn = Txn::new()
            .when(Compare::Absent(k.clone()))
            .and_then(Op::put(k, encode(user)));
        Ok(self.inner.meta.txn(txn).await?.succeeded)
    }

    /// Create a user (not root); `UserExists` when the name is taken.
    pub async fn create_user(&self, name: &str) -> Result<User> {
        validate_user_name(name)?;
        let user = self.new_user(name, false);
        if self.insert_user(&user).await? {
            tracing::info!(user = name, "user created");
            Ok(user)
        } else {
            Err(Error::UserExists {
                name: name.to_owned(),
            })
        }
    }

    /// The user `name`, created (with the `root` flag given) when missing.
    /// For the engine's own users (root, `key-<id>`): no name check.
    pub(crate) async fn ensure_user(&self, name: &str, root: bool) -> Result<User> {
        for _ in 0..4 {
            if let Some(u) = self.get_user(name).await? {
                return Ok(u);
            }
            let user = self.new_user(name, root);
            if self.insert_user(&user).await? {
                tracing::info!(user = name, "user created");
                return Ok(user);
            }
        }
        Err(Error::Conflict {
            what: format!("user {name}"),
        })
    }

    /// A user by name.
    pub async fn get_user(&self, name: &str) -> Result<Option<User>> {
        if name.is_empty() {
            return Ok(None);
        }
        match self.inner.meta.get(&user_key(name)).await? {
            Some(kv) => Ok(Some(decode(&kv.value)?)),
            None => Ok(None),
        }
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        crate::scan::decode_prefix(&self.inner.meta, keys::USER.as_bytes()).await
    }

    /// The user with this canonical id (S3 ACL grants name users by it).
    /// An index (canonical id → name) answers with one cached read of the
    /// user record; it needs no invalidation because each hit is checked
    /// against that record (canonical ids never change; a user deleted or
    /// made again under the same name has a new one). A miss or a stale
    /// entry reads every user once and rebuilds the index.
    pub async fn user_by_canonical_id(&self, id: &str) -> Result<Option<User>> {
        let hint = self.canonical_index().get(id).cloned();
        if let Some(name) = hint
            && let Some(u) = self.get_user(&name).await?
            && u.canonical_id == id
        {
            return Ok(Some(u));
        }
        let users = self.list_users().await?;
        let mut index = self.canonical_index();
        index.clear();
        index.extend(
            users
                .iter()
                .map(|u| (u.canonical_id.clone(), u.name.clone())),
        );
        drop(index);
        Ok(users.into_iter().find(|u| u.canonical_id == id))
    }

    fn canonical_index(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, String>> {
        // A panic while holding it leaves only a hint behind: keep using it.
        self.inner
            .canonical_ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Delete a user and its keys. Root cannot be deleted; a user that owns
    /// buckets neither (`UserOwnsBuckets` names them).
    pub async fn delete_user(&self, name: &str) -> Result<()> {
        let user = self
            .get_user(name)
            .await?
            .ok_or_else(|| Error::NoSuchUser {
                name: name.to_owned(),
            })?;
        if user.root {
            return Err(Error::InvalidArgument {
                what: "the root user cannot be deleted",
            });
        }
        let owned: Vec<String> = self
            .list_buckets()
            .await?
            .into_iter()
            .filter(|b| b.owner == name)
            .map(|b| b.name)
            .take(10)
            .collect();
        if !owned.is_empty() {
            return Err(Error::UserOwnsBuckets {
                name: name.to_owned(),
                buckets: owned,
            });
        }
        // Keys first: a key whose user is gone must not outlive it.
        for k in self.list_keys_of(name).await? {
            match self.delete_key(&k.id).await {
                Ok(()) | Err(Error::NoSuchAccessKey { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if !self.inner.meta.delete(&user_key(name)).await? {
            return Err(Error::NoSuchUser {
                name: name.to_owned(),
            });
        }
        tracing::info!(user = name, "user deleted");
        Ok(())
    }

    /// Change a user with `f` under compare-and-swap (retried on races).
    async fn update_user(&self, name: &str, f: impl Fn(&mut User) -> Result<()>) -> Result<User> {
        let k = user_key(name);
        for _ in 0..16 {
            let Some(kv) = self.inner.meta.get(&k).await? else {
                return Err(Error::NoSuchUser {
                    name: name.to_owned(),
                });
            };
            let mut user: User = decode(&kv.value)?;
            f(&mut user)?;
            let txn = Txn::new()
                .when(Compare::ModRevision(k.clone(), kv.mod_revision))
                .and_then(Op::put(k.clone(), encode(&user)));
            if self.inner.meta.txn(txn).await?.succeeded {
                return Ok(user);
            }
        }
        Err(Error::Conflict {
            what: format!("user {name}"),
        })
    }

    /// Attach (or replace) the identity policy `policy_name` of `user`.
    /// The caller validates the policy's grammar; the engine only checks
    /// that it is a JSON object of a sane size.
    pub async fn put_user_policy(&self, user: &str, policy_name: &str, json: &str) -> Result<User> {
        validate_policy_name(policy_name)?;
        if json.len() > MAX_POLICY_BYTES {
            return Err(Error::InvalidArgument {
                what: "policy is larger than 20 KiB",
            });
        }
        liuma_policy::Policy::parse(json, liuma_policy::PolicyKind::Identity).map_err(|e| {
            Error::MalformedPolicy {
                reason: e.to_string(),
            }
        })?;
        self.update_user(user, |u| {
            u.policies.insert(policy_name.to_owned(), json.to_owned());
            Ok(())
        })
        .await
    }

    /// Remove the identity policy `policy_name` of `user`.
    pub async fn delete_user_policy(&self, user: &str, policy_name: &str) -> Result<User> {
        self.update_user(user, |u| match u.policies.remove(policy_name) {
            Some(_) => Ok(()),
            None => Err(Error::NoSuchUserPolicy {
                user: user.to_owned(),
                policy: policy_name.to_owned(),
            }),
        })
        .await
    }

    /// The keys of `user` (an existing user), by id.
    pub async fn list_keys_of(&self, user: &str) -> Result<Vec<AccessKey>> {
        if self.get_user(user).await?.is_none() {
            return Err(Error::NoSuchUser {
                name: user.to_owned(),
            });
        }
        Ok(self
            .list_keys()
            .await?
            .into_iter()
            .filter(|k| k.user == user)
            .collect())
    }

    /// Disable (or enable again) a key; a disabled key is kept, and refused
    /// by the S3 front end.
    pub async fn set_key_disabled(&self, id: &str, disabled: bool) -> Result<AccessKey> {
        let key = self.update_key(id, |k| k.disabled = disabled).await?;
        tracing::info!(key = id, disabled, "access key state changed");
        Ok(key)
    }

    /// Keep the `legacy-grants` policy of a key's own user (`key-<id>`) in
    /// step with the key's bucket grants. Keys of other users are left alone
    /// (their grants, if any, are not the user's).
    pub(crate) async fn sync_legacy_grants(&self, key: &AccessKey) -> Result<()> {
        if key.user != legacy_user_name(&key.id) {
            return Ok(());
        }
        let want = legacy_grants_policy(&key.buckets);
        self.update_user(&key.user, |u| {
            match &want {
                Some(p) => u.policies.insert(LEGACY_POLICY.to_owned(), p.clone()),
                None => u.policies.remove(LEGACY_POLICY),
            };
            Ok(())
        })
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["root", "a", "app.cdn", "x@y", "a_b-c", &"a".repeat(64)] {
            assert!(validate_user_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(validate_user_name(bad).is_err(), "{bad}");
        }
        assert!(validate_policy_name("read-only+x=1,2").is_ok());
        assert!(validate_policy_name("a b").is_err());
        assert!(validate_policy_name("").is_err());
        assert_eq!(legacy_user_name("LMAB12"), "key-lmab12");
    }

    #[test]
    fn legacy_grants_become_one_statement_per_level() {
        assert_eq!(legacy_grants_policy(&BTreeMap::new()), None);
        let grants = BTreeMap::from([
            ("r1".to_owned(), Permission::Read),
            ("w1".to_owned(), Permission::Write),
            ("o1".to_owned(), Permission::Owner),
            ("r2".to_owned(), Permission::Read),
        ]);
        let p: serde_json::Value =
            serde_json::from_str(&legacy_grants_policy(&grants).unwrap()).unwrap();
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 3);
        assert_eq!(st[0]["Action"], serde_json::json!(["s3:Get*", "s3:List*"]));
        assert_eq!(
            st[0]["Resource"],
            serde_json::json!([
                "arn:aws:s3:::r1",
                "arn:aws:s3:::r1/*",
                "arn:aws:s3:::r2",
                "arn:aws:s3:::r2/*"
            ])
        );
        assert!(
            st[1]["Action"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("s3:PutObject*"))
        );
        assert_eq!(st[2]["Action"], serde_json::json!(["s3:*"]));
        assert_eq!(st[2]["Resource"][0], "arn:aws:s3:::o1");
    }
}

#[cfg(test)]
mod engine_tests {
    use std::sync::Arc;

    use liuma_disk::{DiskConfig, ShardStore};
    use liuma_meta::RedbStore;

    use super::*;
    use crate::EngineConfig;

    fn engine(dir: &std::path::Path) -> Engine {
        let meta = RedbStore::open(&dir.join("meta.redb")).expect("open redb");
        let store = Arc::new(ShardStore::open(&[DiskConfig::new(dir.join("d0"))]).expect("disk"));
        Engine::open(EngineConfig::default(), meta, store).expect("open engine")
    }

    #[tokio::test]
    async fn canonical_id_index_never_answers_for_a_gone_user() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        e.migrate_users().await.unwrap();
        let alice = e.create_user("alice").await.unwrap();
        let bob = e.create_user("bob").await.unwrap();
        for _ in 0..2 {
            // the first call fills the index, the second answers from it
            let found = e.user_by_canonical_id(&alice.canonical_id).await.unwrap();
            assert_eq!(found.map(|u| u.name), Some("alice".to_owned()));
        }
        assert_eq!(e.user_by_canonical_id("nobody").await.unwrap(), None);
        // Deleted, then made again under the same name: a new canonical id;
        // the old one names nobody, though the index still holds it.
        e.delete_user("alice").await.unwrap();
        assert_eq!(
            e.user_by_canonical_id(&alice.canonical_id).await.unwrap(),
            None
        );
        let alice2 = e.create_user("alice").await.unwrap();
        assert_ne!(alice2.canonical_id, alice.canonical_id);
        assert_eq!(
            e.user_by_canonical_id(&alice.canonical_id).await.unwrap(),
            None
        );
        let found = e.user_by_canonical_id(&alice2.canonical_id).await.unwrap();
        assert_eq!(found.map(|u| u.canonical_id), Some(alice2.canonical_id));
        let found = e.user_by_canonical_id(&bob.canonical_id).await.unwrap();
        assert_eq!(found.map(|u| u.name), Some("bob".to_owned()));
    }

    #[tokio::test]
    async fn users_keys_and_policies() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        e.migrate_users().await.unwrap();
        let alice = e.create_user("alice").await.unwrap();
        assert_eq!(alice.canonical_id.len(), 64);
        assert!(matches!(
            e.create_user("alice").await,
            Err(Error::UserExists { .. })
        ));
        assert!(matches!(
            e.create_user("bad name").await,
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            e.create_key_for("nobody", "k").await,
            Err(Error::NoSuchUser { .. })
        ));
        let k1 = e.create_key_for("alice", "app").await.unwrap();
        let k2 = e.create_key_for("alice", "cdn").await.unwrap();
        assert_eq!(k1.user, "alice");
        assert!(!k1.root && !k1.disabled);
        let mut ids: Vec<String> = e
            .list_keys_of("alice")
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.id)
            .collect();
        ids.sort();
        let mut want = vec![k1.id.clone(), k2.id.clone()];
        want.sort();
        assert_eq!(ids, want);

        let off = e.set_key_disabled(&k1.id, true).await.unwrap();
        assert!(off.disabled);
        let read = e.get_key(&k1.id).await.unwrap().unwrap();
        assert!(read.disabled, "a disabled key is still returned");
        assert_eq!(read.secret, k1.secret);
        assert!(!e.set_key_disabled(&k1.id, false).await.unwrap().disabled);

        // Policies: a valid identity policy is stored as given, anything
        // else refused (MalformedPolicy, with liuma-policy's reason).
        let p = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        let u = e.put_user_policy("alice", "ro", p).await.unwrap();
        assert_eq!(u.policies["ro"], p);
        for bad in [
            "[]",
            "nope",
            "\"s\"",
            r#"{"Version":"2012-10-17","Statement":[]}"#,
        ] {
            assert!(matches!(
                e.put_user_policy("alice", "x", bad).await,
                Err(Error::MalformedPolicy { .. })
            ));
        }
        assert!(matches!(
            e.put_user_policy("alice", "bad name", p).await,
            Err(Error::InvalidArgument { .. })
        ));
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_POLICY_BYTES));
        assert!(e.put_user_policy("alice", "big", &big).await.is_err());
        assert!(matches!(
            e.put_user_policy("nobody", "p", p).await,
            Err(Error::NoSuchUser { .. })
        ));
        let u = e.get_user("alice").await.unwrap().unwrap();
        assert_eq!(u.policies.len(), 1, "nothing stored on a refusal");
        e.delete_user_policy("alice", "ro").await.unwrap();
        assert!(matches!(
            e.delete_user_policy("alice", "ro").await,
            Err(Error::NoSuchUserPolicy { .. })
        ));

        // Delete: root never; an owner of buckets not until they are gone.
        assert!(matches!(
            e.delete_user("root").await,
            Err(Error::InvalidArgument { .. })
        ));
        e.create_bucket("alice-b", "alice").await.unwrap();
        let Err(Error::UserOwnsBuckets { buckets, .. }) = e.delete_user("alice").await else {
            panic!("a user owning buckets must not be deleted");
        };
        assert_eq!(buckets, ["alice-b"]);
        assert!(matches!(
            e.create_bucket("alice-b", "bob").await,
            Err(Error::BucketAlreadyExists { .. })
        ));
        assert!(matches!(
            e.create_bucket("alice-b", "alice").await,
            Err(Error::BucketAlreadyOwnedByYou { .. })
        ));
        e.delete_bucket("alice-b").await.unwrap();
        e.delete_user("alice").await.unwrap();
        assert!(e.get_user("alice").await.unwrap().is_none());
        assert!(
            e.get_key(&k1.id).await.unwrap().is_none(),
            "its keys went with it"
        );
        assert!(e.get_key(&k2.id).await.unwrap().is_none());
        assert!(matches!(
            e.delete_user("alice").await,
            Err(Error::NoSuchUser { .. })
        ));
    }

    #[tokio::test]
    async fn old_style_keys_get_a_user_of_their_own_and_grants_follow() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let k = e.create_key("legacy").await.unwrap();
        assert_eq!(k.user, legacy_user_name(&k.id));
        e.create_bucket("bkt", &k.user).await.unwrap();
        e.allow_key(&k.id, "bkt", Some(Permission::Write))
            .await
            .unwrap();
        let u = e.get_user(&k.user).await.unwrap().unwrap();
        assert!(u.policies[LEGACY_POLICY].contains("s3:PutObject*"));
        e.allow_key(&k.id, "bkt", None).await.unwrap();
        let u = e.get_user(&k.user).await.unwrap().unwrap();
        assert!(u.policies.is_empty(), "revoked grant, no policy");
    }

    #[tokio::test]
    async fn object_acl_and_owner_and_bucket_attrs() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        e.create_bucket("bkt", "root").await.unwrap();
        let opts = crate::PutOptions {
            owner: "alice".into(),
            acl: Some("{\"grants\":[]}".into()),
            ..Default::default()
        };
        let body = crate::body_from_bytes(b"hello".to_vec());
        let info = e.put_object("bkt", "k", body, opts).await.unwrap();
        assert_eq!(info.owner, "alice");
        let head = e.head_object("bkt", "k", None).await.unwrap();
        assert_eq!(head.acl.as_deref(), Some("{\"grants\":[]}"));
        e.set_object_acl("bkt", "k", None, None).await.unwrap();
        let head = e.head_object("bkt", "k", None).await.unwrap();
        assert_eq!((head.acl, head.owner.as_str()), (None, "alice"));
        assert!(matches!(
            e.set_object_acl("bkt", "nokey", None, None).await,
            Err(Error::NoSuchKey { .. })
        ));

        let b = e
            .set_bucket_attr("bkt", "policy", Some("{}".into()))
            .await
            .unwrap();
        assert_eq!(b.attrs["policy"], "{}");
        let b = e.set_bucket_attr("bkt", "policy", None).await.unwrap();
        assert!(!b.attrs.contains_key("policy"));
        assert!(matches!(
            e.set_bucket_attr("nob", "policy", None).await,
            Err(Error::NoSuchBucket { .. })
        ));
    }
}
