//! Objects: put, get (ranges), head, delete (versions, delete markers) and
//! server-side copy (new references to the same blocks, no data copied).

use liuma_meta::{Compare, Op, Txn};
use md5::Digest;

use crate::checksum::{Checksum, LateChecksum, PartChecksum};
use crate::conditional::WriteCondition;
use crate::crypt::{CustomerKey, Sse, SseRequest};
use crate::engine::Engine;
use crate::ingest::{ByteStream, IngestOptions, write_manifest, write_refs};
use crate::keys;
use crate::model::{
    Body, BucketInfo, ObjectMeta, Owner, Tags, VersionData, VersionRecord, Versioning,
    check_version_id, decode, encode, new_vsort, now_ms, random_id,
};
use crate::read::{ByteRange, ObjectStream};
use crate::{Error, KeyProblem, Result};

/// Largest user metadata (names + values), as S3 allows.
pub const MAX_USER_METADATA: usize = 2048;

/// What a put carries besides the bytes.
#[derive(Clone, Debug, Default)]
pub struct PutOptions {
    /// Content type, standard headers, user metadata.
    pub meta: ObjectMeta,
    /// `Content-MD5` sent by the client: verified, `BadDigest` on mismatch.
    pub content_md5: Option<[u8; 16]>,
    /// Expected SHA-256 of the content: verified, `BadDigest` on mismatch.
    pub sha256: Option<[u8; 32]>,
    /// Announced length: a shorter body is `IncompleteBody`.
    pub content_length: Option<u64>,
    /// The S3 additional checksum the front end computes (and verifies)
    /// while the body streams; stored with the version.
    pub checksum: Option<LateChecksum>,
    /// Object tags (`x-amz-tagging`).
    pub tags: Tags,
    /// `If-None-Match` / `If-Match`, checked atomically with the commit.
    pub condition: WriteCondition,
    /// User name of the writer (empty: the bucket's owner).
    pub owner: String,
    /// The version's ACL, JSON of `liuma_policy::Acl` (None: private).
    pub acl: Option<String>,
    /// Server-side encryption asked for (None: the bucket's default).
    pub sse: Option<SseRequest>,
    /// Where the content's SHA-256 comes from (computed by default; always
    /// computed when `sha256` is given).
    pub content_sha256: crate::ContentSha256,
}

/// Where [`Engine::copy_object_as`] writes, and as whom.
#[derive(Clone, Debug)]
pub struct CopyTarget<'a> {
    /// Destination bucket.
    pub bucket: &'a str,
    /// Destination key.
    pub key: &'a str,
    /// User name of the writer (empty: the bucket's owner).
    pub owner: String,
    /// The copy's ACL, JSON of `liuma_policy::Acl` (None: private).
    pub acl: Option<String>,
}

/// An object version as seen by clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Version id, "null" for unversioned writes.
    pub version_id: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex MD5 or `hex-N` for multipart; without quotes.
    pub etag: String,
    /// Hex SHA-256 of the content, when known.
    pub sha256: Option<String>,
    /// Last modification, ms since the epoch.
    pub last_modified_ms: u64,
    /// Content type, headers, user metadata.
    pub meta: ObjectMeta,
    /// True for a delete marker.
    pub delete_marker: bool,
    /// True when this is the key's current version.
    pub is_latest: bool,
    /// Parts of a multipart object, 0 otherwise.
    pub parts: u32,
    /// The S3 additional checksum, when the object has one.
    pub checksum: Option<Checksum>,
    /// How many tags the version has (`x-amz-tagging-count`).
    pub tag_count: usize,
    /// User name of the writer (empty: the bucket's owner).
    pub owner: String,
    /// The version's ACL, JSON of `liuma_policy::Acl` (None: private).
    pub acl: Option<String>,
    /// How the version is encrypted at rest (None: plain).
    pub sse: Option<Sse>,
}

impl ObjectInfo {
    pub(crate) fn from_record(
        bucket: &str,
        key: &str,
        rec: &VersionRecord,
        is_latest: bool,
    ) -> Self {
        ObjectInfo {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: rec.version_id(),
            size: rec.size,
            etag: rec.etag.clone(),
            sha256: rec.sha256.clone(),
            last_modified_ms: rec.modified_ms,
            meta: rec.meta.clone(),
            delete_marker: rec.delete_marker,
            is_latest,
            parts: rec.parts,
            checksum: rec.checksum.clone(),
            tag_count: rec.tags.len(),
            owner: rec.owner.clone(),
            acl: rec.acl.clone(),
            sse: rec.sse.clone(),
        }
    }
}

/// Which version and which bytes to read.
#[derive(Clone, Debug, Default)]
pub struct GetOptions {
    /// A version id; the current version when absent.
    pub version_id: Option<String>,
    /// A byte range; the whole object when absent.
    pub range: Option<ByteRange>,
    /// The SSE-C key of the version (required for SSE-C versions, refused for others).
    pub customer_key: Option<CustomerKey>,
}

/// An object being read.
pub struct GetObject {
    /// The version read.
    pub info: ObjectInfo,
    /// The resolved range [start, end) when one was asked for.
    pub range: Option<(u64, u64)>,
    /// The bytes.
    pub body: ObjectStream,
}

/// What a delete did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteResult {
    /// The version removed or the delete marker created, if any.
    pub version_id: Option<String>,
    /// True when a delete marker was created or removed.
    pub delete_marker: bool,
}

/// Check an object key: 1..=1024 bytes, no NUL (it separates key and version in the metadata).
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey {
            reason: KeyProblem::Empty,
        });
    }
    if key.len() > 1024 {
        return Err(Error::InvalidKey {
            reason: KeyProblem::TooLong,
        });
    }
    if key.contains('\0') {
        return Err(Error::InvalidKey {
            reason: KeyProblem::Nul,
        });
    }
    Ok(())
}

pub(crate) fn check_meta(meta: &ObjectMeta) -> Result<()> {
    let size: usize = meta.user.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_USER_METADATA {
        return Err(Error::MetadataTooLarge {
            size,
            max: MAX_USER_METADATA,
        });
    }
    Ok(())
}

impl Engine {
    /// Store an object from a stream. It becomes visible only once every
    /// block is durable and its record is committed.
    #[tracing::instrument(skip(self, body, opts), level = "debug")]
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: ByteStream,
        opts: PutOptions,
    ) -> Result<ObjectInfo> {
        validate_key(key)?;
        check_meta(&opts.meta)?;
        let b = self.bucket(bucket).await?;
        self.check_write_condition(bucket, key, &opts.condition)
            .await?;
        let uid = random_id();
        let owner = Owner::Version {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            uid: uid.clone(),
        };
        let erasure = b.erasure.unwrap_or_else(|| self.erasure());
        let max = opts
            .content_length
            .unwrap_or(self.inner.cfg.max_object_size)
            .min(self.inner.cfg.max_object_size);
        let (sealer, sse_record) = self.inner.resolve_sse(&b, opts.sse.as_ref())?.unzip();
        let sealed_under = sealer.as_ref().and_then(|s| s.s3_version());
        let ing = self
            .inner
            .ingest(
                body,
                owner,
                &uid,
                erasure,
                IngestOptions::client(max, sealer, opts.sha256, opts.content_sha256),
            )
            .await?;
        ing.check(opts.content_length, opts.content_md5, opts.sha256)?;
        // SSE-C: neither the MD5 nor the SHA-256 of the plaintext is kept
        // (either would confirm a known file); AWS's ETag is not the MD5 either.
        let (etag, sha256) = match &opts.sse {
            Some(SseRequest::Customer(k)) => (k.etag_of(&ing.md5), None),
            _ => (hex::encode(ing.md5), ing.sha256.map(hex::encode)),
        };
        let rec = VersionRecord {
            uid,
            vsort: String::new(),
            null_version: false,
            delete_marker: false,
            size: ing.size,
            etag,
            sha256,
            modified_ms: self.now_ms(),
            meta: opts.meta,
            body: ing.body,
            parts: 0,
            checksum: opts
                .checksum
                .as_ref()
                .and_then(|l| l.get().into_iter().next()),
            part_checksums: Vec::new(),
            tags: opts.tags,
            owner: opts.owner,
            acl: opts.acl,
            sse: sse_record,
            disk_bytes: Some(ing.disk_bytes),
        };
        // A key version retired while this write ran (a long PUT that began
        // before a rotation): committing would store an unreadable object.
        // This node's ring says so at once; the fence in the commit is what
        // holds when the ring is stale or the retirement lands after this.
        if let Some(version) = sealed_under
            && !self.inner.sse_version_live(version)
        {
            self.discard_uncommitted(&rec).await?;
            return Err(Error::SseKeyRetired { version });
        }
        self.commit_new(&b, key, rec, &opts.condition, sealed_under)
            .await
    }

    /// Commit a new version (a put's or a copy's) under `condition`, fenced
    /// by the SSE key versions its data needs (`sealed`, and its SSE-C key
    /// check; see `sse_fence`). When nothing was committed (a failed
    /// condition, a retired key version) its manifest pages go and its
    /// blocks' references go stale (GC).
    async fn commit_new(
        &self,
        b: &BucketInfo,
        key: &str,
        rec: VersionRecord,
        condition: &WriteCondition,
        sealed: impl IntoIterator<Item = u32>,
    ) -> Result<ObjectInfo> {
        let fences = crate::sse_fence::fences_of(sealed, rec.sse.as_ref());
        let guard = Guard {
            condition,
            fences: &fences,
            ..Guard::default()
        };
        match self
            .commit_version_guarded(b, key, rec.clone(), guard)
            .await
        {
            Ok(Some(rec)) => Ok(ObjectInfo::from_record(&b.name, key, &rec, true)),
            Ok(None) => Err(Error::internal(std::io::Error::other(
                "unguarded commit lost",
            ))),
            Err(e) => {
                if crate::conditional::nothing_committed(&e) {
                    self.discard_uncommitted(&rec).await?;
                }
                Err(e)
            }
        }
    }

    /// The key's latest version record (maybe a delete marker) and the revision of its `ob/` key.
    pub(crate) async fn latest(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(VersionRecord, u64)>> {
        match self.inner.meta.get(&keys::latest(bucket, key)).await? {
            Some(kv) => Ok(Some((decode(&kv.value)?, kv.mod_revision))),
            None => Ok(None),
        }
    }

    /// Every version of a key, newest first.
    pub(crate) async fn versions(&self, bucket: &str, key: &str) -> Result<Vec<VersionRecord>> {
        crate::scan::decode_prefix(&self.inner.meta, &keys::versions_of(bucket, key)).await
    }

    /// Make `rec` the newest version of `key`: assigns its sort key, replaces
    /// the "null" version when the bucket is not versioning, and updates the
    /// latest pointer, all in one compare-and-swap transaction.
    pub(crate) async fn commit_version(
        &self,
        b: &BucketInfo,
        key: &str,
        rec: VersionRecord,
    ) -> Result<VersionRecord> {
        let committed = self
            .commit_version_guarded(b, key, rec, Guard::default())
            .await?;
        committed.ok_or_else(|| Error::internal(std::io::Error::other("unguarded commit lost")))
    }

    /// [`Self::commit_version`] under a [`Guard`]: a write condition checked
    /// against the current version inside the compare-and-swap, a key that
    /// must still be at a known revision and is deleted in the same
    /// transaction (the multipart upload being completed), and extra ops.
    /// None when the guard key changed or vanished (someone else completed
    /// or aborted first), or the latest pointer left the pinned revision:
    /// nothing was written.
    pub(crate) async fn commit_version_guarded(
        &self,
        b: &BucketInfo,
        key: &str,
        mut rec: VersionRecord,
        g: Guard<'_>,
    ) -> Result<Option<VersionRecord>> {
        let lk = keys::latest(&b.name, key);
        let body_op = detach_body(&mut rec);
        let guard = g.key;
        let mut raced = false;
        for _ in 0..32 {
            let latest = self.latest(&b.name, key).await?;
            if let Some(pin) = g.pinned
                && latest.as_ref().map(|(_, rev)| *rev) != Some(pin)
            {
                return Ok(None);
            }
            g.condition
                .check(&b.name, key, latest.as_ref().map(|(l, _)| l), raced)?;
            rec.vsort = new_vsort(
                self.now_ms(),
                latest.as_ref().map(|(l, _)| l.vsort.as_str()),
            );
            rec.null_version = b.versioning != Versioning::Enabled;
            let mut txn = Txn::new().when(match &latest {
                Some((_, rev)) => Compare::ModRevision(lk.clone(), *rev),
                None => Compare::Absent(lk.clone()),
            });
            if let Some((gk, grev)) = guard {
                txn = txn
                    .when(Compare::ModRevision(gk.to_vec(), grev))
                    .and_then(Op::delete(gk));
            }
            if rec.null_version {
                let olds = match (&latest, b.versioning) {
                    (Some((l, _)), Versioning::Off) => vec![l.clone()],
                    (None, Versioning::Off) => Vec::new(),
                    _ => self.versions(&b.name, key).await?,
                };
                for old in olds.iter().filter(|o| o.null_version) {
                    txn = remove_version_ops(txn, &b.name, key, old);
                }
            }
            if let Some(op) = &body_op {
                txn = txn.and_then(op.clone());
            }
            let value = encode(&rec);
            txn = crate::usage::delta_ops(txn, &b.name, &rec, 1);
            txn = txn
                .and_then(Op::put(
                    keys::version(&b.name, key, &rec.vsort),
                    value.clone(),
                ))
                .and_then(Op::put(lk.clone(), value));
            if let Some(extra) = g.extra {
                for op in extra(&rec) {
                    txn = txn.and_then(op);
                }
            }
            txn = crate::sse_fence::fenced(txn, g.fences);
            if self.inner.meta.txn(txn).await?.succeeded {
                return Ok(Some(rec));
            }
            // a key version the data is sealed under is being retired
            self.inner.check_fences(g.fences).await?;
            if g.pinned.is_some() {
                return Ok(None);
            }
            if let Some((gk, grev)) = guard
                && self
                    .inner
                    .meta
                    .get(gk)
                    .await?
                    .is_none_or(|kv| kv.mod_revision != grev)
            {
                return Ok(None);
            }
            raced = true;
        }
        Err(Error::Conflict {
            what: format!("{}/{key}", b.name),
        })
    }

    /// Find a version (the latest when `version_id` is None) and whether it is the latest.
    pub(crate) async fn find_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<(VersionRecord, bool)> {
        let latest = self.latest(bucket, key).await?;
        let no_key = || Error::NoSuchKey {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        };
        let Some(vid) = version_id else {
            return match latest {
                Some((rec, _)) => Ok((rec, true)),
                None => {
                    self.bucket(bucket).await?;
                    Err(no_key())
                }
            };
        };
        check_version_id(key, vid)?;
        let no_version = || Error::NoSuchVersion {
            key: key.to_owned(),
            version_id: vid.to_owned(),
        };
        let latest_vsort = latest.as_ref().map(|(l, _)| l.vsort.clone());
        let found = if vid == "null" {
            self.versions(bucket, key)
                .await?
                .into_iter()
                .find(|v| v.null_version)
        } else {
            match self
                .inner
                .meta
                .get(&keys::version(bucket, key, vid))
                .await?
            {
                Some(kv) => Some(decode::<VersionRecord>(&kv.value)?),
                None => None,
            }
        };
        match found {
            Some(rec) => {
                let is_latest = latest_vsort.as_deref() == Some(rec.vsort.as_str());
                Ok((rec, is_latest))
            }
            None => {
                self.bucket(bucket).await?;
                Err(no_version())
            }
        }
    }

    /// Metadata of an object version (a delete marker is `NoSuchKey`).
    pub async fn head_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectInfo> {
        let info = self.version_info(bucket, key, version_id).await?;
        if info.delete_marker {
            return Err(Error::NoSuchKey {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            });
        }
        Ok(info)
    }

    /// Metadata of a version (the current one when `version_id` is None),
    /// delete markers included: what a front end tells a client about the
    /// marker that made a read fail with `NoSuchKey`.
    pub async fn version_info(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectInfo> {
        let (rec, is_latest) = self.find_version(bucket, key, version_id).await?;
        Ok(ObjectInfo::from_record(bucket, key, &rec, is_latest))
    }

    /// Read an object (or a byte range of it) as a stream.
    #[tracing::instrument(skip(self, opts), level = "debug")]
    pub async fn get_object(&self, bucket: &str, key: &str, opts: GetOptions) -> Result<GetObject> {
        let (rec, is_latest) = self
            .find_version(bucket, key, opts.version_id.as_deref())
            .await?;
        if rec.delete_marker {
            return Err(Error::NoSuchKey {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            });
        }
        self.inner
            .check_customer_key(rec.sse.as_ref(), opts.customer_key.as_ref())?;
        let range = opts.range.map(|r| r.resolve(rec.size)).transpose()?;
        let (start, end) = range.unwrap_or((0, rec.size));
        let keys = self.inner.read_keys(opts.customer_key.as_ref());
        let body = self.inner.open_stream_keyed(&rec, start, end, keys).await?;
        Ok(GetObject {
            info: ObjectInfo::from_record(bucket, key, &rec, is_latest),
            range,
            body,
        })
    }

    /// Delete the current version (a delete marker where versioning) or a given version.
    #[tracing::instrument(skip(self), level = "debug")]
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<DeleteResult> {
        validate_key(key)?;
        let b = self.bucket(bucket).await?;
        if let Some(vid) = version_id {
            return self.delete_version(&b, key, vid).await;
        }
        if b.versioning == Versioning::Off {
            let Some((latest, _)) = self.latest(bucket, key).await? else {
                return Ok(DeleteResult {
                    version_id: None,
                    delete_marker: false,
                });
            };
            return self
                .delete_version(&b, key, &latest.vsort)
                .await
                .map(|mut r| {
                    r.version_id = None;
                    r
                });
        }
        let marker = VersionRecord::delete_marker(self.now_ms());
        let marker = self.commit_version(&b, key, marker).await?;
        Ok(DeleteResult {
            version_id: Some(marker.version_id()),
            delete_marker: true,
        })
    }

    /// Remove one version; if it was the latest, the next newest becomes latest.
    async fn delete_version(&self, b: &BucketInfo, key: &str, vid: &str) -> Result<DeleteResult> {
        check_version_id(key, vid)?;
        let lk = keys::latest(&b.name, key);
        for _ in 0..32 {
            let latest = self.latest(&b.name, key).await?;
            let versions = self.versions(&b.name, key).await?;
            let target = versions.iter().position(|v| {
                if vid == "null" {
                    v.null_version
                } else {
                    v.vsort == vid
                }
            });
            let Some(pos) = target else {
                return Ok(DeleteResult {
                    version_id: Some(vid.to_owned()),
                    delete_marker: false,
                });
            };
            let rec = &versions[pos];
            let mut txn = Txn::new().when(match &latest {
                Some((_, rev)) => Compare::ModRevision(lk.clone(), *rev),
                None => Compare::Absent(lk.clone()),
            });
            txn = remove_version_ops(txn, &b.name, key, rec);
            if latest.as_ref().is_some_and(|(l, _)| l.vsort == rec.vsort) {
                txn = match versions.iter().find(|v| v.vsort != rec.vsort) {
                    Some(next) => {
                        // The version promoted to latest must still be there
                        // as read: a concurrent delete of it (which leaves the
                        // latest pointer alone) would otherwise leave the
                        // pointer naming a removed version.
                        let nk = keys::version(&b.name, key, &next.vsort);
                        let Some(kv) = self.inner.meta.get(&nk).await? else {
                            continue;
                        };
                        let next: VersionRecord = decode(&kv.value)?;
                        txn.when(Compare::ModRevision(nk, kv.mod_revision))
                            .and_then(Op::put(lk.clone(), encode(&next)))
                    }
                    None => txn.and_then(Op::delete(lk.clone())),
                };
            }
            if self.inner.meta.txn(txn).await?.succeeded {
                return Ok(DeleteResult {
                    version_id: Some(rec.version_id()),
                    delete_marker: rec.delete_marker,
                });
            }
        }
        Err(Error::Conflict {
            what: format!("{}/{key}", b.name),
        })
    }

    /// Copy a version to another key (or bucket) by adding references to
    /// its blocks; `meta` replaces the metadata when given.
    pub async fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        src_version: Option<&str>,
        dst_bucket: &str,
        dst_key: &str,
        meta: Option<ObjectMeta>,
    ) -> Result<ObjectInfo> {
        self.copy_object_tagged(
            src_bucket,
            src_key,
            src_version,
            dst_bucket,
            dst_key,
            meta,
            None,
        )
        .await
    }

    /// [`Self::copy_object`] that also sets the copy's tags (the source's when None).
    #[tracing::instrument(skip(self, meta, tags), level = "debug")]
    #[allow(clippy::too_many_arguments)]
    pub async fn copy_object_tagged(
        &self,
        src_bucket: &str,
        src_key: &str,
        src_version: Option<&str>,
        dst_bucket: &str,
        dst_key: &str,
        meta: Option<ObjectMeta>,
        tags: Option<Tags>,
    ) -> Result<ObjectInfo> {
        let dst = CopyTarget {
            bucket: dst_bucket,
            key: dst_key,
            owner: String::new(),
            acl: None,
        };
        self.copy_object_as(src_bucket, src_key, src_version, dst, meta, tags)
            .await
    }

    /// [`Self::copy_object_tagged`] into `dst`, whose writer and ACL it names.
    #[tracing::instrument(skip(self, meta, tags), level = "debug")]
    pub async fn copy_object_as(
        &self,
        src_bucket: &str,
        src_key: &str,
        src_version: Option<&str>,
        target: CopyTarget<'_>,
        meta: Option<ObjectMeta>,
        tags: Option<Tags>,
    ) -> Result<ObjectInfo> {
        let (dst_bucket, dst_key) = (target.bucket, target.key);
        validate_key(dst_key)?;
        if let Some(m) = &meta {
            check_meta(m)?;
        }
        let (src, _) = self.find_version(src_bucket, src_key, src_version).await?;
        if src.delete_marker {
            return Err(Error::NoSuchKey {
                bucket: src_bucket.to_owned(),
                key: src_key.to_owned(),
            });
        }
        let dst = self.bucket(dst_bucket).await?;
        let uid = random_id();
        let owner = Owner::Version {
            bucket: dst_bucket.to_owned(),
            key: dst_key.to_owned(),
            uid: uid.clone(),
        };
        let (body, sealed_under) = match self.inner.body_of(&src).await?.as_ref() {
            Body::Inline(d) => (Body::Inline(d.clone()), Vec::new()),
            // stored as the source is (same encryption): the envelope as is
            sealed @ Body::SealedInline { envelope, .. } => (
                sealed.clone(),
                crate::crypt::envelope_key_version(envelope)
                    .into_iter()
                    .collect(),
            ),
            _ => {
                let mut entries = self.inner.manifest(&src).await?;
                let versions = self
                    .inner
                    .sealed_versions(&mut entries, src.sse.as_ref())
                    .await?;
                write_refs(&self.inner, &owner, &uid, &entries).await?;
                (write_manifest(&self.inner, &uid, entries).await?, versions)
            }
        };
        let rec = VersionRecord {
            uid,
            vsort: String::new(),
            null_version: false,
            delete_marker: false,
            size: src.size,
            etag: src.etag.clone(),
            sha256: src.sha256.clone(),
            modified_ms: self.now_ms(),
            meta: meta.unwrap_or(src.meta.clone()),
            body,
            parts: src.parts,
            // The data is the same, so are its checksums.
            checksum: src.checksum.clone(),
            part_checksums: self.inner.parts_of(&src).await?.into_owned(),
            tags: tags.unwrap_or_else(|| src.tags.clone()),
            // A copy is a new object, written by the copier.
            owner: target.owner,
            acl: target.acl,
            sse: src.sse.clone(),
            // the same blocks (or inline bytes): the same bytes on disks
            disk_bytes: src.disk_bytes,
        };
        // The copy shares the source's blocks: it needs their key versions.
        self.commit_new(&dst, dst_key, rec, &WriteCondition::default(), sealed_under)
            .await
    }

    /// A version (the current one when `version_id` is None) with the sizes
    /// and checksums of its parts (empty unless multipart), for
    /// GetObjectAttributes.
    pub async fn object_parts(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<(ObjectInfo, Vec<PartChecksum>)> {
        let (rec, latest) = self.find_version(bucket, key, version_id).await?;
        if rec.delete_marker {
            return Err(Error::NoSuchKey {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            });
        }
        let parts = self.inner.parts_of(&rec).await?;
        let info = ObjectInfo::from_record(bucket, key, &rec, latest);
        Ok((info, parts.iter().map(PartChecksum::from).collect()))
    }

    /// The SHA-256 of an object's content, for objects whose record does not
    /// hold it (multipart uploads); reads the object once.
    pub async fn content_sha256(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<[u8; 32]> {
        use futures_util::StreamExt;
        let mut got = self
            .get_object(
                bucket,
                key,
                GetOptions {
                    version_id: version_id.map(str::to_owned),
                    range: None,
                    customer_key: None,
                },
            )
            .await?;
        let mut sha = sha2::Sha256::new();
        while let Some(chunk) = got.body.next().await {
            sha.update(&chunk?);
        }
        Ok(sha.finalize().into())
    }
}

/// Extra conditions and effects of [`Engine::commit_version_guarded`].
pub(crate) struct Guard<'a> {
    /// A key that must still be at this revision; deleted by the commit.
    pub key: Option<(&'a [u8], u64)>,
    /// Checked against the current version at the moment of the swap.
    pub condition: &'a WriteCondition,
    /// More ops for the committing transaction, given the record committed.
    pub extra: Option<&'a ExtraOps<'a>>,
    /// The revision of the key's latest pointer the caller decided on: commit
    /// only while it is still there, and never retry. A background change
    /// (a lifecycle expiry) loses to any client write that ran meanwhile.
    pub pinned: Option<u64>,
    /// SSE key versions the record's data needs (sealed under, or its
    /// SSE-C key check): the commit fails with `SseKeyRetired` when one is
    /// fenced (see `sse_fence`).
    pub fences: &'a [u32],
}

/// Ops added to a version's commit, made from the record committed.
pub(crate) type ExtraOps<'a> = dyn Fn(&VersionRecord) -> Vec<Op> + Sync + 'a;

static NO_CONDITION: WriteCondition = WriteCondition {
    if_none_match: false,
    if_match: None,
};

impl Default for Guard<'_> {
    fn default() -> Self {
        Guard {
            key: None,
            condition: &NO_CONDITION,
            extra: None,
            pinned: None,
            fences: &[],
        }
    }
}

/// Move a version's body out of its record into the op that stores it as
/// `vd/<uid>` (metadata layout 2); None when it stays in the record.
pub(crate) fn detach_body(rec: &mut VersionRecord) -> Option<Op> {
    if !rec.body.detachable() {
        return None;
    }
    let data = VersionData {
        body: std::mem::replace(&mut rec.body, Body::Detached),
        parts: std::mem::take(&mut rec.part_checksums),
    };
    Some(Op::put(keys::version_data(&rec.uid), encode(&data)))
}

/// Add the ops that remove one version record, its body record and its
/// manifest pages.
pub(crate) fn remove_version_ops(txn: Txn, bucket: &str, key: &str, rec: &VersionRecord) -> Txn {
    // The body record goes whatever this record says: while a layout-1
    // store is being upgraded, the `ob/` copy of a version may already be
    // detached when its `vr/` copy is not.
    let txn = crate::usage::delta_ops(txn, bucket, rec, -1)
        .and_then(Op::delete(keys::version(bucket, key, &rec.vsort)))
        .and_then(Op::delete(keys::version_data(&rec.uid)));
    match rec.body {
        Body::Paged { .. } | Body::Detached => {
            let start = keys::manifest_pages(&rec.uid);
            let end = liuma_meta::prefix_end(&start);
            queue_for_gc(txn.and_then(Op::DeleteRange { start, end }), &rec.uid)
        }
        Body::Blocks(_) => queue_for_gc(txn, &rec.uid),
        Body::Inline(_) | Body::SealedInline { .. } => txn,
    }
}

/// Ask GC to look at the blocks of `uid`, an owner this transaction removes
/// (its references become stale; blocks nothing else uses are freed). Due
/// now on the system clock, which the engine's clock never runs behind: at
/// worst looked at early, and the pass checks the grace itself.
pub(crate) fn queue_for_gc(txn: Txn, uid: &str) -> Txn {
    txn.and_then(Op::put(keys::gc_due(now_ms(), uid), Vec::new()))
}
