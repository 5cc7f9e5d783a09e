//! Authentication and authorization.
//!
//! - [`KeyAuth`]: s3s asks for the secret of an access key id; we look it
//!   up in the metadata store (so keys created at run time work at once,
//!   and deleted or disabled ones stop working at once: 403
//!   `InvalidAccessKeyId`, as AWS answers for an inactive key).
//! - [`KeyAccess`]: after the signature is verified, decide whether the
//!   key may run this operation on this bucket (`AccessKey::allows`), or,
//!   for anonymous requests, whether the bucket is public-read and the
//!   operation only reads. A key may also do everything in a bucket its user
//!   owns. The key, its user and the bucket record are left in the
//!   request's extensions ([`Caller`]) for the operation to use.

use std::sync::Arc;

use liuma_engine::{AccessKey, BucketInfo, Engine, User};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{Credentials, S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{S3Request, S3Result, s3_error};

use crate::authz::{ClientConn, Decider, Grounds, RequestFacts, Target};
use crate::error::s3_err;

/// Who is calling and the bucket the request addresses, as found by the access check.
#[derive(Clone, Debug, Default)]
pub(crate) struct Caller {
    /// The verified key; None for anonymous requests.
    pub key: Option<AccessKey>,
    /// The addressed bucket, when it exists.
    pub bucket: Option<BucketInfo>,
    /// The user the key belongs to.
    pub user: Option<User>,
    /// What later decisions of the same request need.
    pub grounds: Grounds,
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

    /// The user name new buckets and objects of the caller are owned by
    /// (a key not yet moved to a user: the user the migration gives it).
    pub(crate) fn owner_name(&self) -> Option<String> {
        match (&self.user, &self.key) {
            (Some(u), _) => Some(u.name.clone()),
            (None, Some(k)) if k.root => Some(liuma_engine::ROOT_USER.to_owned()),
            (None, Some(k)) => Some(liuma_engine::legacy_user_name(&k.id)),
            (None, None) => None,
        }
    }

    /// Does the caller's user own `bucket`?
    pub(crate) fn owns(&self, bucket: &BucketInfo) -> bool {
        self.owner_name().is_some_and(|n| n == bucket.owner)
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
            // AWS answers a request signed with an inactive key exactly as
            // one with an unknown key.
            Some(k) if !k.disabled => Ok(SecretKey::from(k.secret)),
            Some(_) | None => Err(s3_error!(
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

#[async_trait::async_trait]
impl S3Access for KeyAccess {
    /// The choke point: every S3 request is decided here (through
    /// [`KeyAccess::decide`] and [`Decider::decide`]) before its operation runs.
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let conn = cx.extensions_mut().get::<ClientConn>().copied();
        let caller = self
            .decide(
                cx.s3_op().name(),
                cx.s3_path(),
                cx.credentials(),
                cx.uri(),
                cx.headers(),
                conn,
            )
            .await?;
        cx.extensions_mut().insert(caller);
        Ok(())
    }
}

impl KeyAccess {
    /// The decision of [`S3Access::check`], reachable without an s3s
    /// context: POST Object is served in front of s3s (`crate::post`; s3s
    /// would buffer the file), and s3s's `S3AccessContext` cannot be built
    /// outside s3s. Same checks, same place.
    pub(crate) async fn decide(
        &self,
        op: &str,
        path: &S3Path,
        credentials: Option<&Credentials>,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        conn: Option<ClientConn>,
    ) -> S3Result<Caller> {
        if matches!(op, "PutObject" | "UploadPart") {
            self.check_length(headers)?;
        }
        let (bucket_name, object_key) = match path {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        let key = match credentials {
            Some(c) => self.engine.get_key(&c.access_key).await.map_err(s3_err)?,
            None => None,
        };
        let user = match &key {
            Some(k) => self.engine.get_user(&k.user).await.map_err(s3_err)?,
            None => None,
        };
        if key.is_some() && user.is_none() {
            // A key whose user was deleted meanwhile (delete_user removes
            // its keys too; this is the moment in between).
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        let bucket = match &bucket_name {
            Some(name) if op != "CreateBucket" => match self.engine.bucket(name).await {
                Ok(b) => Some(b),
                Err(liuma_engine::Error::NoSuchBucket { .. }) => None,
                Err(e) => return Err(s3_err(e)),
            },
            _ => None,
        };
        // An anonymous request for a bucket that does not exist learns
        // just that (404), as on AWS.
        if key.is_none()
            && bucket.is_none()
            && op != "CreateBucket"
            && let Some(name) = &bucket_name
        {
            return Err(s3_err(liuma_engine::Error::NoSuchBucket {
                bucket: name.clone(),
            }));
        }
        let facts = RequestFacts::new(conn, uri, headers, user.as_ref(), self.engine.now_ms());
        let version_id = facts
            .context
            .values
            .get("s3:versionid")
            .and_then(|v| v.first())
            .cloned();
        // DeleteObjects names its keys in the body: each is decided as one
        // DeleteObject by the operation, through `Caller::authorize`.
        if op != "DeleteObjects" {
            Decider {
                engine: &self.engine,
            }
            .decide(
                user.as_ref(),
                &facts,
                op,
                Target {
                    bucket: bucket.as_ref(),
                    key: object_key.as_deref(),
                    version_id: version_id.as_deref(),
                },
            )
            .await?;
        }
        Ok(Caller {
            key,
            bucket,
            user,
            grounds: Grounds {
                facts: Arc::new(facts),
            },
        })
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
