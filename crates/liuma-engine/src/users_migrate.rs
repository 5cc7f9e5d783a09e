//! The move of a store written before users existed (run at every start,
//! idempotent, every write a compare-and-swap so nodes starting together
//! cannot lose each other's changes):
//!
//! 1. user `root` exists;
//! 2. every key without a user gets one: a root key → `root`, any other →
//!    a user of its own named `key-<id>` (lowercase), whose `legacy-grants`
//!    identity policy says what the key's bucket grants said (the grants
//!    stay on the key too, for the access check of today);
//! 3. every bucket whose owner is a key id (the old meaning of `owner`)
//!    gets that key's user as owner.
//!
//! Owners that are neither a user nor a key are left as they are.

use std::collections::BTreeMap;

use crate::engine::Engine;
use crate::users::{ROOT_USER, legacy_user_name};
use crate::{Error, Result};

/// What one run of [`Engine::migrate_users`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserMigration {
    /// Keys given a user.
    pub keys: usize,
    /// Buckets whose owner changed from a key id to a user name.
    pub buckets: usize,
}

impl Engine {
    /// Move a store from before users to users (see the module docs).
    pub async fn migrate_users(&self) -> Result<UserMigration> {
        let mut done = UserMigration::default();
        self.ensure_user(ROOT_USER, true).await?;
        let mut user_of_key: BTreeMap<String, String> = BTreeMap::new();
        for key in self.list_keys().await? {
            if !key.user.is_empty() {
                user_of_key.insert(key.id, key.user);
                continue;
            }
            let user = if key.root {
                ROOT_USER.to_owned()
            } else {
                legacy_user_name(&key.id)
            };
            self.ensure_user(&user, key.root).await?;
            let moved = match self
                .update_key(&key.id, |k| {
                    if k.user.is_empty() {
                        k.user.clone_from(&user);
                    }
                })
                .await
            {
                Ok(k) => k,
                // Deleted meanwhile: nothing to move.
                Err(Error::NoSuchAccessKey { .. }) => continue,
                Err(e) => return Err(e),
            };
            self.sync_legacy_grants(&moved).await?;
            user_of_key.insert(moved.id, moved.user);
            done.keys += 1;
        }
        let users: std::collections::BTreeSet<String> = self
            .list_users()
            .await?
            .into_iter()
            .map(|u| u.name)
            .collect();
        for b in self.list_buckets().await? {
            if users.contains(&b.owner) {
                continue;
            }
            let Some(user) = user_of_key.get(&b.owner) else {
                continue;
            };
            let old = b.owner.clone();
            match self
                .update_bucket(&b.name, |info| {
                    if info.owner == old {
                        info.owner.clone_from(user);
                    }
                    Ok(())
                })
                .await
            {
                Ok(_) => done.buckets += 1,
                Err(Error::NoSuchBucket { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if done != UserMigration::default() {
            tracing::info!(
                keys = done.keys,
                buckets = done.buckets,
                "moved access keys and bucket owners to users"
            );
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use liuma_disk::{DiskConfig, ShardStore};
    use liuma_meta::{Op, RedbStore, Txn};
    use serde::Serialize;

    use super::*;
    use crate::access::Permission;
    use crate::model::{BucketInfo, Versioning, encode};
    use crate::users::LEGACY_POLICY;
    use crate::{EngineConfig, SealKey};

    fn engine(dir: &std::path::Path) -> Engine {
        let meta = RedbStore::open(&dir.join("meta.redb")).expect("open redb");
        let store = Arc::new(ShardStore::open(&[DiskConfig::new(dir.join("d0"))]).expect("disk"));
        let cfg = EngineConfig {
            secret_seal: Some(SealKey::from_bytes([9; 32])),
            ..EngineConfig::default()
        };
        Engine::open(cfg, meta, store).expect("open engine")
    }

    /// An `ak/` record as written before users existed (plain secret).
    #[derive(Serialize)]
    struct OldKey<'a> {
        id: &'a str,
        secret: &'a str,
        name: &'a str,
        created_ms: u64,
        root: bool,
        buckets: BTreeMap<String, Permission>,
    }

    async fn put_raw(e: &Engine, key: String, value: Vec<u8>) {
        e.inner
            .meta
            .txn(Txn::new().and_then(Op::put(key.into_bytes(), value)))
            .await
            .unwrap();
    }

    fn old_bucket(name: &str, owner: &str) -> Vec<u8> {
        encode(&BucketInfo {
            name: name.into(),
            created_ms: 1,
            owner: owner.into(),
            versioning: Versioning::Off,
            erasure: None,
            attrs: BTreeMap::from([("acl".to_owned(), "public-read".to_owned())]),
            lifecycle: Vec::new(),
            encryption: None,
        })
    }

    #[tokio::test]
    async fn a_store_of_the_old_layout_moves_to_users_once() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let secret = "s".repeat(40);
        let old = |id, root, buckets| {
            encode(&OldKey {
                id,
                secret: &secret,
                name: "n",
                created_ms: 1,
                root,
                buckets,
            })
        };
        put_raw(&e, "ak/LMROOT".into(), old("LMROOT", true, BTreeMap::new())).await;
        let grants = BTreeMap::from([
            ("alpha".to_owned(), Permission::Owner),
            ("beta".to_owned(), Permission::Read),
        ]);
        put_raw(&e, "ak/LMAPP1".into(), old("LMAPP1", false, grants)).await;
        put_raw(
            &e,
            "ak/LMBARE".into(),
            old("LMBARE", false, BTreeMap::new()),
        )
        .await;
        put_raw(&e, "bk/alpha".into(), old_bucket("alpha", "LMAPP1")).await;
        put_raw(&e, "bk/beta".into(), old_bucket("beta", "LMROOT")).await;
        put_raw(&e, "bk/gamma".into(), old_bucket("gamma", "someone-else")).await;

        let done = e.migrate_users().await.unwrap();
        assert_eq!(
            done,
            UserMigration {
                keys: 3,
                buckets: 2
            }
        );

        let names: Vec<String> = e
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.name)
            .collect();
        assert_eq!(names, ["key-lmapp1", "key-lmbare", "root"]);
        let root = e.get_user("root").await.unwrap().unwrap();
        assert!(root.root && root.canonical_id.len() == 64);
        assert!(
            root.canonical_id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let app = e.get_user("key-lmapp1").await.unwrap().unwrap();
        assert!(!app.root);
        let policy: serde_json::Value = serde_json::from_str(&app.policies[LEGACY_POLICY]).unwrap();
        assert_eq!(policy["Statement"][0]["Resource"][0], "arn:aws:s3:::beta");
        assert_eq!(policy["Statement"][1]["Action"][0], "s3:*");
        assert_eq!(
            policy["Statement"][1]["Resource"][1],
            "arn:aws:s3:::alpha/*"
        );
        let bare = e.get_user("key-lmbare").await.unwrap().unwrap();
        assert!(bare.policies.is_empty(), "no grants, no policy");

        let key = e.get_key("LMAPP1").await.unwrap().unwrap();
        assert_eq!((key.user.as_str(), key.disabled), ("key-lmapp1", false));
        assert_eq!(key.secret, secret);
        assert_eq!(key.buckets.len(), 2, "grants kept for today's access check");
        assert_eq!(e.get_key("LMROOT").await.unwrap().unwrap().user, "root");

        assert_eq!(e.bucket("alpha").await.unwrap().owner, "key-lmapp1");
        let beta = e.bucket("beta").await.unwrap();
        assert_eq!(beta.owner, "root");
        assert_eq!(beta.attrs["acl"], "public-read", "attrs carried over");
        assert_eq!(e.bucket("gamma").await.unwrap().owner, "someone-else");

        // Idempotent: nothing more to do, and nothing changes.
        assert_eq!(e.migrate_users().await.unwrap(), UserMigration::default());
        assert_eq!(e.get_user("root").await.unwrap().unwrap(), root);
        assert_eq!(e.get_user("key-lmapp1").await.unwrap().unwrap(), app);

        // The store opens again (a restart) and is still migrated.
        drop(e);
        let e = engine(dir.path());
        assert_eq!(e.migrate_users().await.unwrap(), UserMigration::default());
        assert_eq!(
            e.get_key("LMBARE").await.unwrap().unwrap().user,
            "key-lmbare"
        );
    }
}
