//! Object tags: read and replace the tags of one version in place.
//!
//! Tags live in the version record (and in its copy under the key's latest
//! pointer when the version is current), so listing or reading an object
//! needs no second lookup. Replacing them rewrites only those records, under
//! a compare-and-swap on both: the version's data (blocks, manifest, inline
//! bytes) is carried over unchanged. The front end checks S3's limits.

use liuma_meta::{Compare, Op, Txn};

use crate::engine::Engine;
use crate::keys;
use crate::model::{Tags, VersionRecord, check_version_id, decode, encode};
use crate::{Error, Result};

impl Engine {
    /// The tags of a version (the current one when `version_id` is None)
    /// and that version's id. A delete marker has no tags: `NoSuchKey`.
    pub async fn object_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<(String, Tags)> {
        let (rec, _) = self.find_version(bucket, key, version_id).await?;
        if rec.delete_marker {
            return Err(Error::NoSuchKey {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            });
        }
        Ok((rec.version_id(), rec.tags))
    }

    /// Replace the tags of a version (the current one when `version_id` is
    /// None); returns its version id. The data is not rewritten.
    #[tracing::instrument(skip(self, tags), level = "debug")]
    pub async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: Tags,
    ) -> Result<String> {
        self.rewrite_version(bucket, key, version_id, |rec| {
            rec.tags.clone_from(&tags);
        })
        .await
    }

    /// Change one version's record in place with `f` (the current version
    /// when `version_id` is None) under a compare-and-swap on the record and
    /// the key's latest pointer; returns its version id. A delete marker is
    /// `NoSuchKey`. The data is not rewritten.
    pub(crate) async fn rewrite_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        f: impl Fn(&mut VersionRecord),
    ) -> Result<String> {
        if let Some(vid) = version_id {
            check_version_id(key, vid)?;
        }
        let lk = keys::latest(bucket, key);
        for _ in 0..32 {
            // Which version, then that record at a known revision.
            let (target, _) = self.find_version(bucket, key, version_id).await?;
            if target.delete_marker {
                return Err(Error::NoSuchKey {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                });
            }
            let vk = keys::version(bucket, key, &target.vsort);
            let Some(kv) = self.inner.meta.get(&vk).await? else {
                continue;
            };
            let mut rec: VersionRecord = decode(&kv.value)?;
            f(&mut rec);
            let value = encode(&rec);
            let mut txn = Txn::new()
                .when(Compare::ModRevision(vk.clone(), kv.mod_revision))
                .and_then(Op::put(vk, value.clone()));
            match self.latest(bucket, key).await? {
                Some((l, rev)) if l.vsort == rec.vsort => {
                    txn = txn
                        .when(Compare::ModRevision(lk.clone(), rev))
                        .and_then(Op::put(lk.clone(), value));
                }
                // Not current: the pointer must still not name it.
                Some((_, rev)) => txn = txn.when(Compare::ModRevision(lk.clone(), rev)),
                None => continue,
            }
            if self.inner.meta.txn(txn).await?.succeeded {
                return Ok(rec.version_id());
            }
        }
        Err(Error::Conflict {
            what: format!("{bucket}/{key}"),
        })
    }
}
