//! Authentication and authorization.
//!
//! - [`KeyAuth`]: s3s asks for the secret of an access key id; we look it
//!   up in the metadata store (so keys created at run time work at once,
//!   and deleted ones stop working at once).
//! - [`KeyAccess`]: after the signature is verified, decide whether the
//!   key may run this operation on this bucket (`AccessKey::allows`), or,
//!   for anonymous requests, whether the bucket is public-read and the
//!   operation only reads. The key and the bucket record are left in the
//!   request's extensions ([`Caller`]) for the operation to use.

use liuma_engine::{AccessKey, BucketInfo, Engine, Permission};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{Credentials, S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{S3Request, S3Result, s3_error};

use crate::error::s3_err;

/// Bucket attribute that makes a bucket readable without credentials.
pub(crate) const ACL_ATTR: &str = "acl";

/// Who is calling and the bucket the request addresses, as found by the access check.
#[derive(Clone, Debug, Default)]
pub(crate) struct Caller {
    /// The verified key; None for anonymous requests.
    pub key: Option<AccessKey>,
    /// The addressed bucket, when it exists.
    pub bucket: Option<BucketInfo>,
}

impl Caller {
    /// The caller of a request (set by [`KeyAccess`] before any operation runs).
    pub(crate) fn of<T>(req: &S3Request<T>) -> Caller {
        req.extensions.get::<Caller>().cloned().unwrap_or_default()
    }

    /// The caller's key id, or "anonymous".
    pub(crate) fn id(&self) -> &str {
        self.key.as_ref().map_or("anonymous", |k| k.id.as_str())
    }

    /// May the caller act on `bucket` at level `need`?
    pub(crate) fn allows(&self, bucket: &str, need: Permission) -> bool {
        self.key.as_ref().is_some_and(|k| k.allows(bucket, need))
    }
}

/// Secret lookup for SigV4 / SigV2.
pub(crate) struct KeyAuth {
    pub engine: Engine,
}

#[async_trait::async_trait]
impl S3Auth for KeyAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.engine.get_key(access_key).await.map_err(s3_err)? {
            Some(k) => Ok(SecretKey::from(k.secret)),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}

/// Per-request authorization.
pub(crate) struct KeyAccess {
    pub engine: Engine,
    pub max_put_bytes: u64,
}

/// The permission an operation needs on its bucket; None for operations
/// that need no bucket grant (any valid key may list its buckets or create one).
pub(crate) fn needed(op: &str) -> Option<Permission> {
    let p = match op {
        "ListBuckets" | "CreateBucket" => return None,
        "GetObject"
        | "HeadObject"
        | "ListObjects"
        | "ListObjectsV2"
        | "ListObjectVersions"
        | "HeadBucket"
        | "GetBucketLocation"
        | "GetBucketVersioning"
        | "GetBucketCors"
        | "GetBucketAcl"
        | "GetObjectAcl"
        | "GetObjectTagging"
        | "GetObjectAttributes" => Permission::Read,
        "PutObject"
        | "PostObject"
        | "DeleteObject"
        | "DeleteObjects"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "ListParts"
        | "ListMultipartUploads"
        | "CompleteMultipartUpload"
        | "AbortMultipartUpload"
        | "PutObjectAcl"
        | "PutObjectTagging"
        | "DeleteObjectTagging" => Permission::Write,
        _ => Permission::Owner,
    };
    Some(p)
}

/// Operations an anonymous caller may run on a public-read bucket.
fn anonymous_read(op: &str) -> bool {
    matches!(
        op,
        "GetObject" | "HeadObject" | "ListObjects" | "ListObjectsV2" | "HeadBucket"
    )
}

#[async_trait::async_trait]
impl S3Access for KeyAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let op = cx.s3_op().name();
        let caller = self
            .decide(op, cx.s3_path(), cx.credentials(), cx.headers())
            .await?;
        cx.extensions_mut().insert(caller);
        Ok(())
    }
}

impl KeyAccess {
    /// The decision of [`S3Access::check`], reachable without an s3s
    /// context: POST Object is served in front of s3s ([`crate::post`];
    /// s3s would buffer the file), and s3s's `S3AccessContext` cannot be
    /// built outside s3s. Same checks, same place.
    pub(crate) async fn decide(
        &self,
        op: &str,
        path: &S3Path,
        credentials: Option<&Credentials>,
        headers: &http::HeaderMap,
    ) -> S3Result<Caller> {
        if matches!(op, "PutObject" | "UploadPart") {
            self.check_length(headers)?;
        }
        let bucket_name = match path {
            S3Path::Root => None,
            S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } => Some(bucket.to_string()),
        };
        let key = match credentials {
            Some(c) => self.engine.get_key(&c.access_key).await.map_err(s3_err)?,
            None => None,
        };
        let bucket = match &bucket_name {
            Some(name) if op != "CreateBucket" => match self.engine.bucket(name).await {
                Ok(b) => Some(b),
                Err(liuma_engine::Error::NoSuchBucket { .. }) => None,
                Err(e) => return Err(s3_err(e)),
            },
            _ => None,
        };
        // An anonymous request for a bucket that does not exist learns
        // just that (404), as on AWS; one for a private bucket is refused.
        if key.is_none()
            && bucket.is_none()
            && op != "CreateBucket"
            && let Some(name) = &bucket_name
        {
            return Err(s3_err(liuma_engine::Error::NoSuchBucket {
                bucket: name.clone(),
            }));
        }
        let allowed = match (&key, needed(op), &bucket_name) {
            (None, _, Some(_)) => {
                anonymous_read(op)
                    && bucket.as_ref().is_some_and(|b| {
                        b.attrs.get(ACL_ATTR).map(String::as_str) == Some("public-read")
                    })
            }
            (None, _, None) => false,
            (Some(_), None, _) => true,
            (Some(k), Some(need), Some(name)) => k.allows(name, need),
            (Some(k), Some(_), None) => k.root,
        };
        if !allowed {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        Ok(Caller { key, bucket })
    }

    /// Refuse bodies above the limit before reading any of them.
    fn check_length(&self, headers: &http::HeaderMap) -> S3Result<()> {
        let len = headers
            .get("x-amz-decoded-content-length")
            .or_else(|| headers.get(http::header::CONTENT_LENGTH))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(len) = len
            && len > self.max_put_bytes
        {
            return Err(s3_error!(
                EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size of {} bytes",
                self.max_put_bytes
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_need_the_right_level() {
        assert_eq!(needed("ListBuckets"), None);
        assert_eq!(needed("GetObject"), Some(Permission::Read));
        assert_eq!(needed("PutObject"), Some(Permission::Write));
        assert_eq!(needed("PostObject"), Some(Permission::Write));
        assert_eq!(needed("DeleteBucket"), Some(Permission::Owner));
        assert_eq!(needed("PutBucketCors"), Some(Permission::Owner));
        assert_eq!(needed("SomethingNew"), Some(Permission::Owner));
        assert!(anonymous_read("GetObject") && !anonymous_read("PutObject"));
    }
}
