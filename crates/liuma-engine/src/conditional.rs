//! Conditional writes (S3, 2024) and the memory of completed multipart
//! uploads.
//!
//! `If-None-Match: *` and `If-Match: "etag"` on PutObject and
//! CompleteMultipartUpload are evaluated against the key's current version
//! *inside* the compare-and-swap that makes the new version current
//! ([`Engine::commit_version_guarded`]): the transaction compares the
//! revision of the `ob/` key the condition was checked against, so a writer
//! that slips in between makes the transaction fail, and the condition is
//! checked again against what that writer left. Of racing `If-None-Match: *`
//! writers exactly one wins; the others get `PreconditionFailed`.
//!
//! A delete marker as current version counts as no object (AWS): an
//! `If-None-Match: *` write succeeds over it, an `If-Match` write is
//! `NoSuchKey`. An `If-Match` write whose object is deleted while it is in
//! flight is `ConditionalConflict` (409 `ConditionalRequestConflict`, as
//! AWS answers "a conflicting operation occurred"), so the client re-reads
//! the ETag and retries.
//!
//! A completed upload leaves a small record (`mc/<upload id>`, written in
//! the completing transaction) for [`COMPLETED_TTL_MS`]: a retried
//! CompleteMultipartUpload (the client timed out waiting for the answer)
//! whose part list makes the same ETag is answered 200 with the same ETag
//! and version id, as AWS and Ceph RGW (`check_previously_completed`) do;
//! another part list is `NoSuchUpload`. GC prunes expired records.

use liuma_meta::Op;
use md5::{Digest, Md5};

use crate::engine::Engine;
use crate::keys;
use crate::model::{Body, CompletedRecord, ObjectMeta, VersionRecord, decode};
use crate::object::ObjectInfo;
use crate::scan::{Pager, apply_batched};
use crate::{Error, Result};

/// How long a completed upload is remembered for retried completes (1 hour:
/// clients retry within seconds or minutes).
pub const COMPLETED_TTL_MS: u64 = 3600 * 1000;

/// A precondition on the key's current version, checked atomically with the write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteCondition {
    /// `If-None-Match: *`: the key must have no current object.
    pub if_none_match: bool,
    /// `If-Match`: the current object's ETag (quotes optional), or `*` for any object.
    pub if_match: Option<String>,
}

impl WriteCondition {
    /// No condition at all.
    pub fn is_empty(&self) -> bool {
        !self.if_none_match && self.if_match.is_none()
    }

    /// Check against the key's current version. `raced`: an earlier attempt
    /// of this same commit lost its compare-and-swap to another writer.
    pub(crate) fn check(
        &self,
        bucket: &str,
        key: &str,
        current: Option<&VersionRecord>,
        raced: bool,
    ) -> Result<()> {
        let live = current.filter(|v| !v.delete_marker);
        if self.if_none_match && live.is_some() {
            return Err(Error::PreconditionFailed);
        }
        if let Some(want) = &self.if_match {
            let Some(obj) = live else {
                return Err(if raced {
                    Error::ConditionalConflict {
                        what: format!("{bucket}/{key}"),
                    }
                } else {
                    Error::NoSuchKey {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                    }
                });
            };
            let want = want.trim().trim_matches('"');
            if want != "*" && want != obj.etag {
                return Err(Error::PreconditionFailed);
            }
        }
        Ok(())
    }
}

/// True when a commit that failed with `e` surely wrote nothing (a failed
/// condition, or every compare-and-swap attempt lost); a store error may
/// hide a transaction that did commit, so its pages must stay.
pub(crate) fn nothing_committed(e: &Error) -> bool {
    matches!(
        e,
        Error::PreconditionFailed
            | Error::NoSuchKey { .. }
            | Error::ConditionalConflict { .. }
            | Error::Conflict { .. }
            | Error::SseKeyRetired { .. }
    )
}

/// ETag of a multipart object made of parts with these ETags (hex MD5s,
/// quotes allowed): hex MD5 of their binary MD5s, `-N`. None when one is not hex.
pub(crate) fn multipart_etag<'a>(etags: impl ExactSizeIterator<Item = &'a str>) -> Option<String> {
    let n = etags.len();
    let mut md5s = Md5::new();
    for e in etags {
        md5s.update(hex::decode(e.trim_matches('"')).ok()?);
    }
    Some(format!("{}-{n}", hex::encode(md5s.finalize())))
}

impl Engine {
    /// Check `cond` against the key's current version now (before a body is
    /// stored, to fail early; the commit checks it again atomically).
    pub(crate) async fn check_write_condition(
        &self,
        bucket: &str,
        key: &str,
        cond: &WriteCondition,
    ) -> Result<()> {
        if cond.is_empty() {
            return Ok(());
        }
        let latest = self.latest(bucket, key).await?;
        cond.check(bucket, key, latest.as_ref().map(|(l, _)| l), false)
    }

    /// Drop what an uncommitted version wrote besides its block references
    /// (which GC frees once they are older than the grace period): the
    /// manifest pages of a very large object.
    pub(crate) async fn discard_uncommitted(&self, rec: &VersionRecord) -> Result<()> {
        if let Body::Paged { .. } = rec.body {
            let start = keys::manifest_pages(&rec.uid);
            let end = liuma_meta::prefix_end(&start);
            apply_batched(&self.inner.meta, vec![Op::DeleteRange { start, end }]).await?;
        }
        Ok(())
    }

    /// The answer to a CompleteMultipartUpload of an upload that is no longer
    /// open: the same as the first complete's when the upload completed less
    /// than [`COMPLETED_TTL_MS`] ago into this bucket and key and `parts`
    /// make the same ETag; `NoSuchUpload` otherwise.
    pub(crate) async fn previously_completed(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        now_ms: u64,
    ) -> Result<ObjectInfo> {
        let no_upload = || Error::NoSuchUpload {
            upload_id: upload_id.to_owned(),
        };
        if upload_id.is_empty() || !upload_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(no_upload());
        }
        let Some(kv) = self.inner.meta.get(&keys::completed(upload_id)).await? else {
            return Err(no_upload());
        };
        let rec: CompletedRecord = decode(&kv.value)?;
        let etag =
            multipart_etag(parts.iter().map(|(_, e)| e.as_str())).map(|e| e.to_ascii_lowercase());
        let same = rec.bucket == bucket
            && rec.key == key
            && now_ms.saturating_sub(rec.completed_ms) < COMPLETED_TTL_MS
            && etag.as_deref() == Some(rec.etag.as_str());
        if !same {
            return Err(no_upload());
        }
        Ok(ObjectInfo {
            bucket: rec.bucket,
            key: rec.key,
            version_id: rec.version_id,
            size: rec.size,
            etag: rec.etag,
            sha256: None,
            last_modified_ms: rec.completed_ms,
            meta: ObjectMeta::default(),
            delete_marker: false,
            is_latest: true,
            parts: rec.parts,
            checksum: rec.checksum,
            // CompleteMultipartUpload's answer carries no tag count
            tag_count: 0,
            // nor an owner or ACL
            owner: String::new(),
            acl: None,
            sse: None,
        })
    }

    /// Delete the records of uploads completed [`COMPLETED_TTL_MS`] or more
    /// before `now_ms` (ms since the epoch; each GC pass does it); returns how many.
    pub async fn prune_completed_uploads(&self, now_ms: u64) -> Result<u64> {
        let mut old = Vec::new();
        let mut pager = Pager::prefix(keys::COMPLETED.as_bytes(), 256);
        while let Some(page) = pager.next(&self.inner.meta).await? {
            for kv in page {
                let rec: CompletedRecord = decode(&kv.value)?;
                if now_ms.saturating_sub(rec.completed_ms) >= COMPLETED_TTL_MS {
                    old.push(Op::delete(kv.key));
                }
            }
        }
        let n = old.len() as u64;
        apply_batched(&self.inner.meta, old).await?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(etag: &str, delete_marker: bool) -> VersionRecord {
        VersionRecord {
            uid: "u".into(),
            vsort: "v".into(),
            null_version: true,
            delete_marker,
            size: 1,
            etag: etag.into(),
            sha256: None,
            modified_ms: 0,
            meta: ObjectMeta::default(),
            body: Body::Inline(vec![1]),
            parts: 0,
            checksum: None,
            part_checksums: Vec::new(),
            tags: Default::default(),
            owner: String::new(),
            acl: None,
            sse: None,
            disk_bytes: None,
        }
    }

    fn absent() -> WriteCondition {
        WriteCondition {
            if_none_match: true,
            if_match: None,
        }
    }

    fn matching(e: &str) -> WriteCondition {
        WriteCondition {
            if_none_match: false,
            if_match: Some(e.into()),
        }
    }

    #[test]
    fn if_none_match_fails_on_an_object_not_on_a_delete_marker() {
        let obj = version("abc", false);
        let marker = version("", true);
        assert!(absent().check("b", "k", None, false).is_ok());
        assert!(absent().check("b", "k", Some(&marker), false).is_ok());
        assert!(matches!(
            absent().check("b", "k", Some(&obj), false),
            Err(Error::PreconditionFailed)
        ));
        // the loser of a race sees the winner's object: 412, not 409
        assert!(matches!(
            absent().check("b", "k", Some(&obj), true),
            Err(Error::PreconditionFailed)
        ));
    }

    #[test]
    fn if_match_compares_etags_and_needs_an_object() {
        let obj = version("abc", false);
        let marker = version("", true);
        assert!(
            matching("\"abc\"")
                .check("b", "k", Some(&obj), false)
                .is_ok()
        );
        assert!(matching("abc").check("b", "k", Some(&obj), false).is_ok());
        assert!(matching("*").check("b", "k", Some(&obj), false).is_ok());
        assert!(matches!(
            matching("\"abd\"").check("b", "k", Some(&obj), false),
            Err(Error::PreconditionFailed)
        ));
        for current in [None, Some(&marker)] {
            assert!(matches!(
                matching("abc").check("b", "k", current, false),
                Err(Error::NoSuchKey { .. })
            ));
            // deleted while the write was in flight
            assert!(matches!(
                matching("abc").check("b", "k", current, true),
                Err(Error::ConditionalConflict { .. })
            ));
        }
        assert!(
            WriteCondition::default()
                .check("b", "k", None, true)
                .is_ok()
        );
    }

    #[test]
    fn multipart_etags() {
        let a = hex::encode(Md5::digest(b"a"));
        let b = hex::encode(Md5::digest(b"b"));
        let mut both = Md5::new();
        both.update(Md5::digest(b"a"));
        both.update(Md5::digest(b"b"));
        let want = format!("{}-2", hex::encode(both.finalize()));
        let quoted = format!("\"{a}\"");
        assert_eq!(
            multipart_etag([quoted.as_str(), b.as_str()].into_iter()),
            Some(want)
        );
        assert_eq!(multipart_etag(["zz"].into_iter()), None);
    }
}
