//! Server-side encryption as the engine applies it: which sealer a write
//! uses (request headers, else the bucket default), the SSE-C key check
//! of reads, and the bucket default encryption setting. The cryptography
//! itself is in [`crate::crypt`].

use std::sync::Arc;

use crate::crypt::{BucketEncryption, CustomerKey, KeyRing, Sealer, Sse, SseRequest};
use crate::engine::{Engine, Inner};
use crate::ingest::ByteStream;
use crate::model::{BucketInfo, ObjectMeta, Tags};
use crate::object::{CopyTarget, GetOptions, ObjectInfo, PutOptions};
use crate::{Error, Result};

/// The keys a read may need: the node's ring, and the customer key the
/// request carried (checked against the version before it gets here).
#[derive(Clone, Default)]
pub(crate) struct ReadKeys {
    pub ring: Option<Arc<KeyRing>>,
    pub customer: Option<CustomerKey>,
}

impl Inner {
    /// The ring now (it changes at run time: rotation, retirement; see `sse_admin`).
    fn ring(&self) -> Result<Arc<KeyRing>> {
        self.sse_ring().ok_or(Error::SseUnavailable)
    }

    /// The sealer and stored setting of a write into bucket `b`: the
    /// request's, else the bucket's default (SSE-S3), else none.
    pub(crate) fn resolve_sse(
        &self,
        b: &BucketInfo,
        req: Option<&SseRequest>,
    ) -> Result<Option<(Sealer, Sse)>> {
        let req = match req {
            Some(r) => r.clone(),
            None if b.encryption.is_some() => SseRequest::S3,
            None => return Ok(None),
        };
        self.sealer_for(&req).map(Some)
    }

    /// The sealer and stored setting of an explicit request.
    pub(crate) fn sealer_for(&self, req: &SseRequest) -> Result<(Sealer, Sse)> {
        let ring = self.ring()?;
        Ok(match req {
            SseRequest::S3 => (Sealer::s3(ring.newest()), Sse::S3),
            SseRequest::Customer(key) => {
                let version = ring.newest().version;
                let check = ring.check_key(version).ok_or(Error::SseUnavailable)?;
                (
                    Sealer::customer(key),
                    Sse::Customer {
                        key_md5: key.md5_base64(),
                        mac: key.mac(&check),
                        check_version: version,
                    },
                )
            }
        })
    }

    /// The sealer of a write that continues a stored setting (a part of an
    /// upload): SSE-C needs the same customer key again.
    pub(crate) fn sealer_of(
        &self,
        sse: Option<&Sse>,
        key: Option<&CustomerKey>,
    ) -> Result<Option<Sealer>> {
        self.check_customer_key(sse, key)?;
        Ok(match (sse, key) {
            (None, _) => None,
            (Some(Sse::S3), _) => Some(Sealer::s3(self.ring()?.newest())),
            (Some(Sse::Customer { .. }), Some(k)) => Some(Sealer::customer(k)),
            (Some(Sse::Customer { .. }), None) => return Err(Error::SseCustomerKeyRequired),
        })
    }

    /// An SSE-C version needs its customer key; any other refuses one.
    pub(crate) fn check_customer_key(
        &self,
        sse: Option<&Sse>,
        key: Option<&CustomerKey>,
    ) -> Result<()> {
        match (sse, key) {
            (
                Some(Sse::Customer {
                    mac, check_version, ..
                }),
                Some(k),
            ) => {
                let check = self
                    .ring()?
                    .check_key(*check_version)
                    .ok_or(Error::SseUnavailable)?;
                // Both sides are keyed hashes: comparing them leaks nothing
                // about the stored key's bytes.
                if k.mac(&check) == *mac {
                    Ok(())
                } else {
                    Err(Error::SseCustomerKeyMismatch)
                }
            }
            (Some(Sse::Customer { .. }), None) => Err(Error::SseCustomerKeyRequired),
            (_, Some(_)) => Err(Error::SseNotApplicable),
            (_, None) => Ok(()),
        }
    }

    /// The keys to read a version with.
    pub(crate) fn read_keys(&self, customer: Option<&CustomerKey>) -> ReadKeys {
        ReadKeys {
            ring: self.sse_ring(),
            customer: customer.cloned(),
        }
    }
}

/// The encryption side of a copy: the source's customer key (SSE-C
/// sources) and what the target asks for (None: the target bucket's default).
#[derive(Clone, Debug, Default)]
pub struct CopySse {
    /// `x-amz-copy-source-server-side-encryption-customer-*`.
    pub source_key: Option<CustomerKey>,
    /// `x-amz-server-side-encryption*` of the target.
    pub target: Option<SseRequest>,
}

impl Engine {
    /// Copy a version like [`Engine::copy_object_as`], with encryption:
    /// when the target is to be stored as the source is (both plain, both
    /// SSE-S3, or SSE-C under the same key) the copy shares the source's
    /// blocks; otherwise the plaintext is read and written again under
    /// the target's setting (SSE-C to SSE-S3 and back, plain to encrypted).
    /// A re-encrypted copy keeps no S3 additional checksum.
    #[allow(clippy::too_many_arguments)]
    pub async fn copy_object_sse(
        &self,
        src_bucket: &str,
        src_key: &str,
        src_version: Option<&str>,
        target: CopyTarget<'_>,
        meta: Option<ObjectMeta>,
        tags: Option<Tags>,
        sse: CopySse,
    ) -> Result<ObjectInfo> {
        let (src, _) = self.find_version(src_bucket, src_key, src_version).await?;
        if src.delete_marker {
            return Err(Error::NoSuchKey {
                bucket: src_bucket.to_owned(),
                key: src_key.to_owned(),
            });
        }
        self.inner
            .check_customer_key(src.sse.as_ref(), sse.source_key.as_ref())?;
        let dst = self.bucket(target.bucket).await?;
        let want = match sse.target {
            Some(r) => Some(r),
            None if dst.encryption.is_some() => Some(SseRequest::S3),
            None => None,
        };
        let same = match (&src.sse, &want) {
            (None, None) | (Some(Sse::S3), Some(SseRequest::S3)) => true,
            (Some(stored @ Sse::Customer { .. }), Some(SseRequest::Customer(k))) => {
                self.inner.check_customer_key(Some(stored), Some(k)).is_ok()
            }
            _ => false,
        };
        let version = src.version_id();
        if same {
            return self
                .copy_object_as(src_bucket, src_key, Some(&version), target, meta, tags)
                .await;
        }
        if let Some(m) = &meta {
            crate::object::check_meta(m)?;
        }
        let got = self
            .get_object(
                src_bucket,
                src_key,
                GetOptions {
                    version_id: Some(version),
                    range: None,
                    customer_key: sse.source_key,
                },
            )
            .await?;
        let body: ByteStream = Box::pin(futures_util::StreamExt::map(got.body, |r| {
            r.map_err(std::io::Error::other)
        }));
        let opts = PutOptions {
            meta: meta.unwrap_or(src.meta),
            content_length: Some(src.size),
            tags: tags.unwrap_or(src.tags),
            owner: target.owner,
            acl: target.acl,
            sse: want,
            ..PutOptions::default()
        };
        self.put_object(target.bucket, target.key, body, opts).await
    }

    /// Check the customer key a request carries against a version's
    /// encryption (HEAD and the front ends' own checks): an SSE-C version
    /// needs its key (`SseCustomerKeyRequired` without, `SseCustomerKeyMismatch`
    /// with another), any other version refuses one (`SseNotApplicable`).
    pub fn check_customer_key(&self, sse: Option<&Sse>, key: Option<&CustomerKey>) -> Result<()> {
        self.inner.check_customer_key(sse, key)
    }

    /// Whether this node can encrypt (it has a master key ring).
    pub fn sse_available(&self) -> bool {
        self.inner.sse_ring().is_some()
    }

    /// A bucket's default encryption (None: not set).
    pub async fn bucket_encryption(&self, bucket: &str) -> Result<Option<BucketEncryption>> {
        Ok(self.bucket(bucket).await?.encryption)
    }

    /// Set (Some) or remove (None) a bucket's default encryption.
    pub async fn set_bucket_encryption(
        &self,
        bucket: &str,
        enc: Option<BucketEncryption>,
    ) -> Result<()> {
        if enc.is_some() {
            self.inner.ring()?;
        }
        self.update_bucket(bucket, |b| {
            b.encryption.clone_from(&enc);
            Ok(())
        })
        .await?;
        Ok(())
    }
}
