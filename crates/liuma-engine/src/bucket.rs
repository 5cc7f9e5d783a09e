//! Buckets: create, head, list, delete (only when empty), versioning and
//! front-end attributes.

use liuma_meta::{Compare, Op, Txn};

use crate::engine::Engine;
use crate::keys;
use crate::model::{BucketInfo, Versioning, decode, encode};
use crate::{Error, Result};

/// Check a bucket name against the S3 rules (DNS-compatible names).
pub fn validate_bucket_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidBucketName {
            bucket: name.to_owned(),
            reason,
        })
    };
    if !(3..=63).contains(&name.len()) {
        return bad("must be 3 to 63 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return bad("may hold only lowercase letters, digits, '.' and '-'");
    }
    let edge_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !edge_ok(name.as_bytes()[0]) || !edge_ok(name.as_bytes()[name.len() - 1]) {
        return bad("must begin and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return bad("must not hold adjacent periods or a period next to a hyphen");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return bad("must not look like an IP address");
    }
    Ok(())
}

impl Engine {
    /// Create a bucket owned by `owner`.
    #[tracing::instrument(skip(self), level = "debug")]
    pub async fn create_bucket(&self, name: &str, owner: &str) -> Result<BucketInfo> {
        validate_bucket_name(name)?;
        let info = BucketInfo {
            name: name.to_owned(),
            created_ms: self.now_ms(),
            owner: owner.to_owned(),
            versioning: Versioning::Off,
            erasure: None,
            attrs: Default::default(),
            lifecycle: Vec::new(),
            encryption: self
                .inner
                .cfg
                .sse_by_default
                .then(crate::crypt::BucketEncryption::default),
        };
        let key = keys::bucket(name);
        let txn = Txn::new()
            .when(Compare::Absent(key.clone()))
            .and_then(Op::put(key, encode(&info)));
        if self.inner.meta.txn(txn).await?.succeeded {
            return Ok(info);
        }
        let existing = self.bucket(name).await?;
        if existing.owner == owner {
            Err(Error::BucketAlreadyOwnedByYou {
                bucket: name.to_owned(),
            })
        } else {
            Err(Error::BucketAlreadyExists {
                bucket: name.to_owned(),
            })
        }
    }

    /// The bucket, or `NoSuchBucket`.
    pub async fn bucket(&self, name: &str) -> Result<BucketInfo> {
        Ok(self.bucket_rev(name).await?.0)
    }

    async fn bucket_rev(&self, name: &str) -> Result<(BucketInfo, u64)> {
        match self.inner.meta.get(&keys::bucket(name)).await? {
            Some(kv) => Ok((decode(&kv.value)?, kv.mod_revision)),
            None => Err(Error::NoSuchBucket {
                bucket: name.to_owned(),
            }),
        }
    }

    /// Every bucket, in name order.
    pub async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        crate::scan::decode_prefix(&self.inner.meta, keys::BUCKET.as_bytes()).await
    }

    /// Delete an empty bucket (no versions, no delete markers, no uploads).
    #[tracing::instrument(skip(self), level = "debug")]
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        let (_, rev) = self.bucket_rev(name).await?;
        let not_empty = || Error::BucketNotEmpty {
            bucket: name.to_owned(),
        };
        let versions = keys::versions_prefix(name, "");
        let end = liuma_meta::prefix_end(&versions);
        if !self.inner.meta.range(&versions, &end, 1).await?.is_empty() {
            return Err(not_empty());
        }
        // Incomplete multipart uploads do not keep a bucket alive (as on
        // AWS for general-purpose buckets, and Ceph RGW): they are aborted
        // and their parts left to GC. Otherwise a tool that was interrupted
        // mid-upload could never clean its bucket up.
        loop {
            let open = self.list_uploads(name, "", 1000).await?;
            for u in &open.uploads {
                match self.abort_multipart(name, &u.key, &u.upload_id).await {
                    Ok(()) | Err(Error::NoSuchUpload { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            if !open.is_truncated {
                break;
            }
        }
        // An upload started meanwhile still blocks the delete.
        let uploads = keys::uploads_prefix(name, "");
        let end = liuma_meta::prefix_end(&uploads);
        if !self.inner.meta.range(&uploads, &end, 1).await?.is_empty() {
            return Err(not_empty());
        }
        let key = keys::bucket(name);
        let txn = Txn::new()
            .when(Compare::ModRevision(key.clone(), rev))
            .and_then(Op::delete(key))
            .and_then(crate::usage::delete_all_op(name));
        if self.inner.meta.txn(txn).await?.succeeded {
            Ok(())
        } else {
            Err(Error::Conflict {
                what: format!("bucket {name}"),
            })
        }
    }

    /// Change a bucket with `f` under compare-and-swap (retried on races).
    pub async fn update_bucket(
        &self,
        name: &str,
        f: impl Fn(&mut BucketInfo) -> Result<()>,
    ) -> Result<BucketInfo> {
        for _ in 0..16 {
            let (mut info, rev) = self.bucket_rev(name).await?;
            f(&mut info)?;
            let key = keys::bucket(name);
            let txn = Txn::new()
                .when(Compare::ModRevision(key.clone(), rev))
                .and_then(Op::put(key, encode(&info)));
            if self.inner.meta.txn(txn).await?.succeeded {
                return Ok(info);
            }
        }
        Err(Error::Conflict {
            what: format!("bucket {name}"),
        })
    }

    /// Set the versioning state. A bucket that was versioned can only be
    /// suspended, never turned back to `Off` (S3 rule). Suspending a bucket
    /// that was never versioned makes it `Suspended` too, as on AWS (which
    /// then reports `Status: Suspended`): writes still make "null" versions.
    pub async fn set_versioning(&self, name: &str, state: Versioning) -> Result<BucketInfo> {
        self.update_bucket(name, |b| {
            b.versioning = match (b.versioning, state) {
                (_, Versioning::Off) if b.versioning != Versioning::Off => Versioning::Suspended,
                (_, s) => s,
            };
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::validate_bucket_name as v;

    #[test]
    fn bucket_name_rules() {
        for ok in ["abc", "my-bucket.v2", "a1b", &"a".repeat(63)] {
            assert!(v(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "ABC",
            "a_b",
            "-ab",
            "ab-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            &"a".repeat(64),
            "a/b",
        ] {
            assert!(v(bad).is_err(), "{bad}");
        }
    }
}
