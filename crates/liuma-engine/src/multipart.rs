//! Multipart uploads: sessions, parts (each streamed into blocks like an
//! object), listing, completion (the object reuses the parts' blocks; the
//! ETag is MD5 of the parts' MD5s plus `-N`) and abort.

use liuma_meta::{Compare, Op, Txn};
use md5::{Digest, Md5};

use crate::checksum::{Checksum, CompleteChecksum, LateChecksum, UploadChecksum};
use crate::conditional::WriteCondition;
use crate::crypt::Sealer;
use crate::engine::Engine;
use crate::ingest::{ByteStream, IngestOptions, write_manifest, write_refs};
use crate::keys;
use crate::model::{
    BlockEntry, Body, BucketInfo, CompletedRecord, ObjectMeta, Owner, PartRecord, Tags,
    UploadRecord, VersionRecord, decode, encode, random_id,
};
use crate::object::{Guard, ObjectInfo, check_meta, queue_for_gc, validate_key};
use crate::{Error, Result};

/// Highest part number S3 allows.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// An open multipart upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadInfo {
    /// Object key it will create.
    pub key: String,
    /// Its id.
    pub upload_id: String,
    /// Start time, ms since the epoch.
    pub created_ms: u64,
    /// Metadata the object will get.
    pub meta: ObjectMeta,
    /// Checksum algorithm and type asked for at creation.
    pub checksum: Option<UploadChecksum>,
    /// Layout and stored bytes of a native chunk session.
    pub session: Option<crate::UploadSession>,
    /// User name of the initiator (empty: the bucket's owner).
    pub owner: String,
    /// Encryption of its parts and object (None: plain).
    pub sse: Option<crate::Sse>,
}

/// One stored part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartInfo {
    /// 1..=10000.
    pub part_number: u32,
    /// Bytes.
    pub size: u64,
    /// Hex MD5 without quotes.
    pub etag: String,
    /// Hex SHA-256 of the part.
    pub sha256: String,
    /// Upload time, ms since the epoch.
    pub last_modified_ms: u64,
    /// The part's S3 additional checksum, when it has one.
    pub checksum: Option<Checksum>,
}

impl From<&PartRecord> for PartInfo {
    fn from(p: &PartRecord) -> Self {
        PartInfo {
            part_number: p.part_number,
            size: p.size,
            etag: p.etag.clone(),
            sha256: p.sha256.clone(),
            last_modified_ms: p.modified_ms,
            checksum: p.checksums.first().cloned(),
        }
    }
}

/// A page of open uploads.
#[derive(Clone, Debug, Default)]
pub struct UploadList {
    /// Uploads by key, then id.
    pub uploads: Vec<UploadInfo>,
    /// True when more follow.
    pub is_truncated: bool,
}

/// The source of an UploadPartCopy.
#[derive(Clone, Debug, Default)]
pub struct CopySource {
    /// Source bucket.
    pub bucket: String,
    /// Source key.
    pub key: String,
    /// Source version (the current one when absent).
    pub version_id: Option<String>,
    /// Bytes of the source to copy (all when absent).
    pub range: Option<crate::ByteRange>,
    /// The source's SSE-C key (`x-amz-copy-source-server-side-encryption-customer-*`).
    pub source_key: Option<crate::CustomerKey>,
    /// The upload's SSE-C key, for the part written.
    pub part_key: Option<crate::CustomerKey>,
}

/// Options of [`Engine::complete_multipart_with`].
#[derive(Clone, Debug, Default)]
pub struct CompleteOptions {
    /// Minimum size of every part but the last; the configured one when None.
    pub min_part_size: Option<u64>,
    /// Expected SHA-256 of the assembled object: verified before anything is committed.
    pub sha256: Option<[u8; 32]>,
    /// Metadata of the object instead of the one given when the upload started.
    pub meta: Option<ObjectMeta>,
    /// Checksum type and values the client sent with the completion.
    pub checksum: CompleteChecksum,
    /// `If-None-Match` / `If-Match`, checked atomically with the commit.
    pub condition: WriteCondition,
}

/// What a completion request must be on its own: valid replacement
/// metadata, at least one part, part numbers strictly ascending.
fn check_completion(parts: &[(u32, String)], opts: &CompleteOptions) -> Result<()> {
    if let Some(m) = &opts.meta {
        check_meta(m)?;
    }
    if parts.is_empty() {
        return Err(Error::InvalidPart { part_number: 0 });
    }
    if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(Error::InvalidPartOrder);
    }
    Ok(())
}

/// The parts a completion lists, checked and gathered
/// ([`Engine::assemble_parts`]).
struct Assembled {
    /// Every part's blocks, in order: the object's body.
    entries: Vec<BlockEntry>,
    /// The parts' MD5s, hashed together for the multipart ETag.
    md5s: Md5,
    /// Total size in bytes.
    size: u64,
    /// The stored part records, in the listed order.
    chosen: Vec<PartRecord>,
}

/// An upload being completed and the revision of its record when read.
#[derive(Clone, Copy)]
struct UploadAt<'a> {
    bucket: &'a str,
    key: &'a str,
    upload_id: &'a str,
    rev: u64,
    /// SSE key versions the object needs (see `sse_fence`).
    fences: &'a [u32],
}

/// Options of a part upload.
#[derive(Clone, Debug, Default)]
pub struct PartOptions {
    /// `Content-MD5`, verified when present.
    pub content_md5: Option<[u8; 16]>,
    /// Expected SHA-256, verified when present.
    pub sha256: Option<[u8; 32]>,
    /// Announced length.
    pub content_length: Option<u64>,
    /// The S3 additional checksum the front end computes (and verifies)
    /// while the body streams; stored with the part.
    pub checksum: Option<LateChecksum>,
    /// The upload's SSE-C key: every part of an SSE-C upload carries it.
    pub customer_key: Option<crate::CustomerKey>,
    /// Where the part's SHA-256 comes from (computed by default; always
    /// computed when `sha256` is given).
    pub content_sha256: crate::ContentSha256,
}

impl Engine {
    /// Start a multipart upload; returns its id.
    pub async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
    ) -> Result<String> {
        self.create_multipart_with_checksum(bucket, key, meta, None)
            .await
    }

    /// Start a multipart upload whose parts carry `checksum`'s algorithm
    /// and whose object gets a checksum of its type; returns its id.
    pub async fn create_multipart_with_checksum(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        checksum: Option<UploadChecksum>,
    ) -> Result<String> {
        self.create_multipart_tagged(bucket, key, meta, checksum, Tags::new())
            .await
    }

    /// [`Self::create_multipart_with_checksum`] whose completed object gets `tags`.
    pub async fn create_multipart_tagged(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        checksum: Option<UploadChecksum>,
        tags: Tags,
    ) -> Result<String> {
        self.create_multipart_owned(bucket, key, meta, checksum, tags, String::new(), None)
            .await
    }

    /// [`Self::create_multipart_tagged`] whose completed object is written by
    /// user `owner` (empty: the bucket's owner) with `acl` (JSON of
    /// `liuma_policy::Acl`; None: private).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_multipart_owned(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        checksum: Option<UploadChecksum>,
        tags: Tags,
        owner: String,
        acl: Option<String>,
    ) -> Result<String> {
        self.create_multipart_sse(bucket, key, meta, checksum, tags, owner, acl, None)
            .await
    }

    /// [`Self::create_multipart_owned`] whose parts and object are stored
    /// with `sse` (None: the bucket's default encryption).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_multipart_sse(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
        checksum: Option<UploadChecksum>,
        tags: Tags,
        owner: String,
        acl: Option<String>,
        sse: Option<crate::SseRequest>,
    ) -> Result<String> {
        validate_key(key)?;
        check_meta(&meta)?;
        let b = self.bucket(bucket).await?;
        let sse = self
            .inner
            .resolve_sse(&b, sse.as_ref())?
            .map(|(_, stored)| stored);
        // An SSE-C upload's completed object keeps this key check: its
        // master version must not be retired meanwhile (see `sse_fence`).
        let fences = crate::sse_fence::fences_of([], sse.as_ref());
        let upload_id = random_id();
        let rec = UploadRecord {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            upload_id: upload_id.clone(),
            created_ms: self.now_ms(),
            meta,
            checksum,
            tags,
            session: None,
            owner,
            acl,
            sse,
        };
        let txn = Txn::new().and_then(Op::put(keys::upload(bucket, key, &upload_id), encode(&rec)));
        let txn = crate::sse_fence::fenced(txn, &fences);
        if !self.inner.meta.txn(txn).await?.succeeded {
            self.inner.check_fences(&fences).await?;
            return Err(Error::Conflict {
                what: format!("upload {upload_id}"),
            });
        }
        Ok(upload_id)
    }

    pub(crate) async fn upload_record(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(UploadRecord, u64)> {
        let no_upload = || Error::NoSuchUpload {
            upload_id: upload_id.to_owned(),
        };
        if upload_id.is_empty()
            || upload_id.len() > 64
            || !upload_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(no_upload());
        }
        match self
            .inner
            .meta
            .get(&keys::upload(bucket, key, upload_id))
            .await?
        {
            Some(kv) => Ok((decode(&kv.value)?, kv.mod_revision)),
            None => {
                self.bucket(bucket).await?;
                Err(no_upload())
            }
        }
    }

    /// Upload (or replace) one part.
    #[tracing::instrument(skip(self, body, opts), level = "debug")]
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        opts: PartOptions,
    ) -> Result<PartInfo> {
        self.upload_part_within(bucket, key, upload_id, part_number, body, opts, None)
            .await
    }

    /// [`Self::upload_part`] that, for an upload with session accounting
    /// ([`crate::UploadSession`]), commits the part only if the upload's
    /// stored bytes stay at most `max_stored` (`EntityTooLarge` otherwise,
    /// the part not stored). The check and the commit are one transaction.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn upload_part_within(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        opts: PartOptions,
        max_stored: Option<u64>,
    ) -> Result<PartInfo> {
        if !(1..=MAX_PART_NUMBER).contains(&part_number) {
            return Err(Error::InvalidPartNumber { part_number });
        }
        let (upload, _) = self.upload_record(bucket, key, upload_id).await?;
        let sealer = self
            .inner
            .sealer_of(upload.sse.as_ref(), opts.customer_key.as_ref())?;
        let fences: Vec<u32> = sealer
            .as_ref()
            .and_then(Sealer::s3_version)
            .into_iter()
            .collect();
        let b = self.bucket(bucket).await?;
        let uid = random_id();
        let owner = Owner::Part {
            upload_id: upload_id.to_owned(),
            part_number,
            uid: uid.clone(),
        };
        let max = self.inner.cfg.max_object_size;
        let erasure = b.erasure.unwrap_or_else(|| self.erasure());
        let ing = self
            .inner
            .ingest(
                body,
                owner,
                &uid,
                erasure,
                IngestOptions::client(max, sealer, opts.sha256, opts.content_sha256).not_inline(),
            )
            .await?;
        ing.check(opts.content_length, opts.content_md5, opts.sha256)?;
        // SSE-C parts keep neither MD5 nor SHA-256 of their plaintext.
        let (etag, sha256) = match &opts.customer_key {
            Some(k) => (k.etag_of(&ing.md5), String::new()),
            None => (
                hex::encode(ing.md5),
                ing.sha256.map(hex::encode).unwrap_or_default(),
            ),
        };
        let part = PartRecord {
            uid,
            part_number,
            size: ing.size,
            etag,
            sha256,
            modified_ms: self.now_ms(),
            body: ing.body,
            disk_bytes: Some(ing.disk_bytes),
            checksums: opts
                .checksum
                .as_ref()
                .map(LateChecksum::get)
                .unwrap_or_default(),
        };
        self.commit_part(bucket, key, upload_id, part, max_stored, &fences)
            .await
    }

    /// Store a part record unless the upload was completed or aborted
    /// meanwhile. The upload of a part number that *finishes* last wins: its
    /// record replaces the one before in a compare-and-swap (so the pages of
    /// a replaced very large part are deleted with it, never those of the
    /// winner); the replaced part's block references go stale and GC frees
    /// its blocks (`owner_live` compares the part record's uid). `fences`:
    /// the SSE-S3 key versions the part is sealed under (see `sse_fence`).
    pub(crate) async fn commit_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part: PartRecord,
        max_stored: Option<u64>,
        fences: &[u32],
    ) -> Result<PartInfo> {
        let info = PartInfo::from(&part);
        let uk = keys::upload(bucket, key, upload_id);
        let pk = keys::part(upload_id, part.part_number);
        let value = encode(&part);
        for _ in 0..32 {
            let old = self.inner.meta.get(&pk).await?;
            let replaced_size = match &old {
                Some(kv) => decode::<PartRecord>(&kv.value)?.size,
                None => 0,
            };
            let mut txn = match self
                .account_part(&uk, replaced_size, part.size, max_stored)
                .await
            {
                Ok(Some(guarded)) => guarded,
                Ok(None) => Txn::new().when(Compare::Exists(uk.clone())),
                Err(e) => {
                    self.discard_part(&part).await?;
                    return Err(e);
                }
            };
            txn = match &old {
                Some(kv) => {
                    let replaced: PartRecord = decode(&kv.value)?;
                    let txn = txn.when(Compare::ModRevision(pk.clone(), kv.mod_revision));
                    match replaced.body {
                        _ if replaced.uid == part.uid => txn,
                        Body::Paged { .. } => {
                            let start = keys::manifest_pages(&replaced.uid);
                            let end = liuma_meta::prefix_end(&start);
                            queue_for_gc(
                                txn.and_then(Op::DeleteRange { start, end }),
                                &replaced.uid,
                            )
                        }
                        _ => queue_for_gc(txn, &replaced.uid),
                    }
                }
                None => txn.when(Compare::Absent(pk.clone())),
            };
            txn =
                crate::sse_fence::fenced(txn.and_then(Op::put(pk.clone(), value.clone())), fences);
            if self.inner.meta.txn(txn).await?.succeeded {
                return Ok(info);
            }
            if let Err(e) = self.inner.check_fences(fences).await {
                self.discard_part(&part).await?;
                return Err(e);
            }
            if self.inner.meta.get(&uk).await?.is_none() {
                self.discard_part(&part).await?;
                return Err(Error::NoSuchUpload {
                    upload_id: upload_id.to_owned(),
                });
            }
            // another upload of this part number committed meanwhile: this
            // one finished later, so it replaces that one
        }
        Err(Error::Conflict {
            what: format!("part {} of upload {upload_id}", part.part_number),
        })
    }

    /// For an upload with session accounting: a transaction guarded by the
    /// upload record's revision that stores its new byte count (a replaced
    /// part counted once), or `EntityTooLarge` over `max_stored`. None for
    /// uploads without accounting (and `NoSuchUpload` when it is gone).
    async fn account_part(
        &self,
        uk: &[u8],
        replaced: u64,
        added: u64,
        max_stored: Option<u64>,
    ) -> Result<Option<Txn>> {
        let Some(kv) = self.inner.meta.get(uk).await? else {
            return Ok(None); // the commit's Exists guard reports it
        };
        let mut rec: UploadRecord = decode(&kv.value)?;
        let Some(session) = rec.session.as_mut() else {
            return Ok(None);
        };
        let total = session
            .stored_bytes
            .saturating_sub(replaced)
            .saturating_add(added);
        if let Some(max) = max_stored
            && total > max
        {
            return Err(Error::EntityTooLarge { size: total, max });
        }
        session.stored_bytes = total;
        Ok(Some(
            Txn::new()
                .when(Compare::ModRevision(uk.to_vec(), kv.mod_revision))
                .and_then(Op::put(uk.to_vec(), encode(&rec))),
        ))
    }

    /// Drop the manifest pages of a part that was never committed.
    async fn discard_part(&self, part: &PartRecord) -> Result<()> {
        if let Body::Paged { .. } = part.body {
            let start = keys::manifest_pages(&part.uid);
            let end = liuma_meta::prefix_end(&start);
            self.inner
                .meta
                .txn(Txn::new().and_then(Op::DeleteRange { start, end }))
                .await?;
        }
        Ok(())
    }

    /// Copy (a byte range of) an existing object into a part (UploadPartCopy).
    pub async fn upload_part_copy(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        src: &CopySource,
    ) -> Result<PartInfo> {
        let opts = crate::GetOptions {
            version_id: src.version_id.clone(),
            range: src.range,
            customer_key: src.source_key.clone(),
        };
        let got = self.get_object(&src.bucket, &src.key, opts).await?;
        // A source that cannot be read (a lost block, the store down) rides
        // through the body typed, and comes out of `upload_part` as itself
        // (`Error::from_body`), not as the client's IncompleteBody.
        let body: ByteStream = Box::pin(futures_util::StreamExt::map(got.body, |r| {
            r.map_err(std::io::Error::other)
        }));
        // The part gets the checksum its upload asks for (AWS's default
        // CRC64NVME when none), computed as the copied bytes pass.
        let (upload, _) = self.upload_record(bucket, key, upload_id).await?;
        let alg = upload
            .checksum
            .map_or(crate::ChecksumAlgorithm::Crc64Nvme, |c| c.algorithm);
        let (body, late) = crate::checksum::hashing(body, alg);
        let opts = PartOptions {
            checksum: Some(late),
            customer_key: src.part_key.clone(),
            ..PartOptions::default()
        };
        self.upload_part(bucket, key, upload_id, part_number, body, opts)
            .await
    }

    /// All parts of an upload (after `marker`, at most `max`).
    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        marker: u32,
        max: usize,
    ) -> Result<(Vec<PartInfo>, bool)> {
        self.upload_record(bucket, key, upload_id).await?;
        let parts = self
            .part_records(upload_id, marker, max.saturating_add(1))
            .await?;
        let truncated = parts.len() > max;
        Ok((
            parts.iter().take(max).map(PartInfo::from).collect(),
            truncated,
        ))
    }

    pub(crate) async fn part_records(
        &self,
        upload_id: &str,
        marker: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>> {
        let prefix = keys::parts_of(upload_id);
        let end = liuma_meta::prefix_end(&prefix);
        let mut start = liuma_meta::key_after(&keys::part(upload_id, marker));
        let mut out = Vec::new();
        while out.len() < limit {
            let page = self
                .inner
                .meta
                .range(&start, &end, (limit - out.len()).min(1000))
                .await?;
            let Some(last) = page.last() else { break };
            start = liuma_meta::key_after(&last.key);
            for kv in page {
                out.push(decode(&kv.value)?);
            }
        }
        Ok(out)
    }

    /// Open uploads of a bucket whose key starts with `prefix`.
    pub async fn list_uploads(&self, bucket: &str, prefix: &str, max: usize) -> Result<UploadList> {
        self.bucket(bucket).await?;
        let start = keys::uploads_prefix(bucket, prefix);
        let end = liuma_meta::prefix_end(&start);
        let page = self
            .inner
            .meta
            .range(&start, &end, max.saturating_add(1))
            .await?;
        let mut out = UploadList {
            is_truncated: page.len() > max,
            ..Default::default()
        };
        for kv in page.into_iter().take(max) {
            let rec: UploadRecord = decode(&kv.value)?;
            out.uploads.push(UploadInfo {
                key: rec.key,
                upload_id: rec.upload_id,
                created_ms: rec.created_ms,
                meta: rec.meta,
                checksum: rec.checksum,
                session: rec.session,
                owner: rec.owner,
                sse: rec.sse,
            });
        }
        Ok(out)
    }

    /// Complete an upload from the listed parts (number, ETag without quotes).
    #[tracing::instrument(skip(self, parts), level = "debug")]
    pub async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<ObjectInfo> {
        self.complete_multipart_with(bucket, key, upload_id, parts, CompleteOptions::default())
            .await
    }

    /// Complete an upload with per-call options: a minimum part size other
    /// than the configured one, replacement metadata, and a SHA-256 the
    /// assembled content must have. The digest is checked by reading the
    /// parts' blocks once, in order, *before* anything is committed: on
    /// `BadDigest` the upload and its parts are left as they were.
    #[tracing::instrument(skip(self, parts, opts), level = "debug")]
    pub async fn complete_multipart_with(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        opts: CompleteOptions,
    ) -> Result<ObjectInfo> {
        let (upload, rev) = match self.upload_record(bucket, key, upload_id).await {
            Ok(found) => found,
            // completed already: a client retrying after a lost answer
            Err(Error::NoSuchUpload { .. }) => {
                return self
                    .previously_completed(bucket, key, upload_id, parts, self.now_ms())
                    .await;
            }
            Err(e) => return Err(e),
        };
        let b = self.bucket(bucket).await?;
        check_completion(parts, &opts)?;
        self.check_write_condition(bucket, key, &opts.condition)
            .await?;
        let min_part_size = opts.min_part_size.unwrap_or(self.inner.cfg.min_part_size);
        let mut assembled = match self.assemble_parts(upload_id, parts, min_part_size).await {
            // A concurrent complete of this upload may have won since the
            // upload record was read, and removed the parts: the same part
            // list gets its answer.
            Err(e @ Error::InvalidPart { .. }) => {
                return self
                    .previously_completed(bucket, key, upload_id, parts, self.now_ms())
                    .await
                    .map_err(|_| e);
            }
            r => r?,
        };
        let sha256 = self.check_sha256(&assembled, opts.sha256).await?;
        let chosen: Vec<&PartRecord> = assembled.chosen.iter().collect();
        let chosen_disk_bytes = chosen.iter().map(|p| p.disk_bytes).sum::<Option<u64>>();
        let (checksum, part_checksums) =
            crate::checksum::complete(upload.checksum, &chosen, &opts.checksum)?;
        let uid = random_id();
        let owner = Owner::Version {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            uid: uid.clone(),
        };
        // the parts' key versions (parts may straddle a rotation)
        let sealed = self
            .inner
            .sealed_versions(&mut assembled.entries, upload.sse.as_ref())
            .await?;
        let fences = crate::sse_fence::fences_of(sealed, upload.sse.as_ref());
        write_refs(&self.inner, &owner, &uid, &assembled.entries).await?;
        let body = write_manifest(&self.inner, &uid, assembled.entries).await?;
        let rec = VersionRecord {
            uid,
            vsort: String::new(),
            null_version: false,
            delete_marker: false,
            size: assembled.size,
            etag: format!("{}-{}", hex::encode(assembled.md5s.finalize()), parts.len()),
            sha256,
            modified_ms: self.now_ms(),
            meta: opts.meta.unwrap_or(upload.meta),
            body,
            parts: u32::try_from(parts.len()).unwrap_or(u32::MAX),
            checksum,
            part_checksums,
            tags: upload.tags,
            owner: upload.owner,
            acl: upload.acl,
            sse: upload.sse.clone(),
            // the parts' blocks (a block in two parts counts twice)
            disk_bytes: chosen_disk_bytes,
        };
        let upload = UploadAt {
            bucket,
            key,
            upload_id,
            rev,
            fences: &fences,
        };
        self.commit_completed(&b, &upload, parts, rec, &opts.condition)
            .await
    }

    /// The expected SHA-256 of the assembled content (hex), verified by
    /// reading it once; None when none is expected.
    async fn check_sha256(
        &self,
        assembled: &Assembled,
        expected: Option<[u8; 32]>,
    ) -> Result<Option<String>> {
        let Some(expected) = expected else {
            return Ok(None);
        };
        let got = self
            .sha256_of_entries(&assembled.entries, assembled.size)
            .await?;
        if got != expected {
            return Err(Error::BadDigest {
                algorithm: "sha256",
            });
        }
        Ok(Some(hex::encode(expected)))
    }

    /// The stored parts the client listed, in order, checked against it
    /// (each exists with that ETag, all but the last are big enough), with
    /// their blocks, total size and the MD5s the multipart ETag is made of.
    async fn assemble_parts(
        &self,
        upload_id: &str,
        parts: &[(u32, String)],
        min_part_size: u64,
    ) -> Result<Assembled> {
        let stored = self.part_records(upload_id, 0, usize::MAX).await?;
        let mut out = Assembled {
            entries: Vec::new(),
            md5s: Md5::new(),
            size: 0,
            chosen: Vec::with_capacity(parts.len()),
        };
        for (i, (number, etag)) in parts.iter().enumerate() {
            let etag = etag.trim_matches('"');
            let part = stored
                .iter()
                .find(|p| p.part_number == *number && p.etag.eq_ignore_ascii_case(etag))
                .ok_or(Error::InvalidPart {
                    part_number: *number,
                })?;
            if i + 1 < parts.len() && part.size < min_part_size {
                return Err(Error::EntityTooSmall {
                    part_number: *number,
                    size: part.size,
                    min: min_part_size,
                });
            }
            out.md5s
                .update(hex::decode(&part.etag).map_err(Error::internal)?);
            out.size += part.size;
            out.entries.extend(self.part_entries(part).await?);
            out.chosen.push(part.clone());
        }
        Ok(out)
    }

    /// Commit the completed object `rec`, ending the upload in the same
    /// transaction, and answer; when the commit loses, clean up what was
    /// written for it and answer as the winner decided.
    async fn commit_completed(
        &self,
        b: &BucketInfo,
        upload: &UploadAt<'_>,
        parts: &[(u32, String)],
        rec: VersionRecord,
        condition: &WriteCondition,
    ) -> Result<ObjectInfo> {
        let UploadAt {
            bucket,
            key,
            upload_id,
            rev,
            fences,
        } = *upload;
        // The object, the end of the upload and the record that answers a
        // retried complete commit in one transaction: a racing complete or
        // abort cannot also win, and a crash leaves either the upload
        // (retry) or the object, never neither.
        let uk = keys::upload(bucket, key, upload_id);
        let completed = |r: &VersionRecord| {
            let done = CompletedRecord {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                etag: r.etag.clone(),
                version_id: r.version_id(),
                size: r.size,
                parts: r.parts,
                completed_ms: r.modified_ms,
                checksum: r.checksum.clone(),
            };
            vec![Op::put(keys::completed(upload_id), encode(&done))]
        };
        let guard = Guard {
            key: Some((&uk, rev)),
            condition,
            extra: Some(&completed),
            pinned: None,
            fences,
        };
        let committed = self
            .commit_version_guarded(b, key, rec.clone(), guard)
            .await;
        let lost = match committed {
            Ok(Some(rec)) => {
                self.delete_parts(upload_id).await?;
                return Ok(ObjectInfo::from_record(bucket, key, &rec, true));
            }
            Ok(None) => None,
            Err(e) => Some(e),
        };
        // Nothing was committed: the new references go stale (GC frees
        // them), the pages go now; the parts stay for a retry or an abort.
        if let Some(e) = lost {
            if crate::conditional::nothing_committed(&e) {
                self.discard_uncommitted(&rec).await?;
            }
            return Err(e);
        }
        self.discard_uncommitted(&rec).await?;
        // A concurrent complete of this upload won: the same part list gets
        // its answer, another one AWS's "conflicting operation".
        match self
            .previously_completed(bucket, key, upload_id, parts, self.now_ms())
            .await
        {
            Err(Error::NoSuchUpload { .. }) if !condition.is_empty() => {
                Err(Error::ConditionalConflict {
                    what: format!("{bucket}/{key}"),
                })
            }
            answer => answer,
        }
    }

    /// SHA-256 of the bytes of `entries` (in order), read once from the
    /// blocks and hashed on a blocking thread while the next blocks load.
    pub(crate) async fn sha256_of_entries(
        &self,
        entries: &[BlockEntry],
        size: u64,
    ) -> Result<[u8; 32]> {
        use futures_util::StreamExt;
        use sha2::{Digest as _, Sha256};
        let rec = VersionRecord {
            uid: String::new(),
            vsort: String::new(),
            null_version: false,
            delete_marker: false,
            size,
            etag: String::new(),
            sha256: None,
            modified_ms: 0,
            meta: ObjectMeta::default(),
            body: Body::Blocks(entries.to_vec()),
            parts: 0,
            checksum: None,
            part_checksums: Vec::new(),
            tags: Tags::new(),
            owner: String::new(),
            acl: None,
            sse: None,
            disk_bytes: None,
        };
        let mut stream = self.inner.open_stream(&rec, 0, size).await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(2);
        let hasher = tokio::task::spawn_blocking(move || {
            let mut sha = Sha256::new();
            while let Some(b) = rx.blocking_recv() {
                sha.update(&b);
            }
            <[u8; 32]>::from(sha.finalize())
        });
        while let Some(chunk) = stream.next().await {
            if tx.send(chunk?).await.is_err() {
                break;
            }
        }
        drop(tx);
        Ok(hasher.await?)
    }

    /// Start a multipart upload with an id chosen by the caller (1-64
    /// letters or digits), e.g. derived from the content hash so that every
    /// node finds the same session. False when that upload exists already.
    pub async fn create_multipart_with_id(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        meta: ObjectMeta,
    ) -> Result<bool> {
        self.create_session(bucket, key, upload_id, meta, None)
            .await
    }

    /// One open upload, or `NoSuchUpload`.
    pub async fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<UploadInfo> {
        let (rec, _) = self.upload_record(bucket, key, upload_id).await?;
        Ok(UploadInfo {
            key: rec.key,
            upload_id: rec.upload_id,
            created_ms: rec.created_ms,
            meta: rec.meta,
            checksum: rec.checksum,
            session: rec.session,
            owner: rec.owner,
            sse: rec.sse,
        })
    }

    /// A part's blocks as manifest entries (parts are never inline).
    async fn part_entries(&self, part: &PartRecord) -> Result<Vec<crate::model::BlockEntry>> {
        self.inner.body_manifest(&part.uid, &part.body).await
    }

    /// Delete every part record (and the manifest pages of very large parts).
    pub(crate) async fn delete_parts(&self, upload_id: &str) -> Result<()> {
        let mut txn = Txn::new();
        for part in self.part_records(upload_id, 0, usize::MAX).await? {
            // GC looks at each part's blocks once the parts are gone (an
            // entry that lands first, in an earlier batch, finds its part
            // still live and is dropped: the next full pass frees those).
            txn = queue_for_gc(txn, &part.uid);
            if let Body::Paged { .. } = part.body {
                let start = keys::manifest_pages(&part.uid);
                let end = liuma_meta::prefix_end(&start);
                txn = txn.and_then(Op::DeleteRange { start, end });
            }
            if txn.success.len() >= liuma_meta::MAX_TXN_OPS - 2 {
                self.inner.meta.txn(std::mem::take(&mut txn)).await?;
            }
        }
        let start = keys::parts_of(upload_id);
        let end = liuma_meta::prefix_end(&start);
        self.inner
            .meta
            .txn(txn.and_then(Op::DeleteRange { start, end }))
            .await?;
        Ok(())
    }

    /// Abort an upload: its parts become garbage (GC frees their blocks).
    pub async fn abort_multipart(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        let (_, rev) = self.upload_record(bucket, key, upload_id).await?;
        let uk = keys::upload(bucket, key, upload_id);
        let txn = Txn::new()
            .when(Compare::ModRevision(uk.clone(), rev))
            .and_then(Op::delete(uk));
        if !self.inner.meta.txn(txn).await?.succeeded {
            return Err(Error::NoSuchUpload {
                upload_id: upload_id.to_owned(),
            });
        }
        self.delete_parts(upload_id).await
    }
}
