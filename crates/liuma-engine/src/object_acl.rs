//! Access settings the engine stores but does not interpret: an object
//! version's ACL (JSON of `liuma_policy::Acl`), rewritten in place like its
//! tags (see `tagging`, the data is not touched), and a bucket's
//! front-end attributes (bucket policy, ACL, ownership, public access block).

use crate::engine::Engine;
use crate::model::BucketInfo;
use crate::{Error, Result};

impl Engine {
    /// Replace the ACL of a version (the current one when `version_id` is
    /// None); None makes it private to its owner.
    #[tracing::instrument(skip(self, acl), level = "debug")]
    pub async fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        acl: Option<String>,
    ) -> Result<()> {
        self.rewrite_version(bucket, key, version_id, |rec| rec.acl.clone_from(&acl))
            .await?;
        Ok(())
    }

    /// Set (Some) or remove (None) one front-end attribute of a bucket
    /// (`policy`, `acl`, `ownership`, `public-access-block`, ...) under
    /// compare-and-swap.
    pub async fn set_bucket_attr(
        &self,
        bucket: &str,
        name: &str,
        value: Option<String>,
    ) -> Result<BucketInfo> {
        if name.is_empty() {
            return Err(Error::InvalidArgument {
                what: "bucket attribute name must not be empty",
            });
        }
        self.update_bucket(bucket, |b| {
            match &value {
                Some(v) => b.attrs.insert(name.to_owned(), v.clone()),
                None => b.attrs.remove(name),
            };
            Ok(())
        })
        .await
    }
}
