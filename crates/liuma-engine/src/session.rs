//! Upload sessions: multipart uploads whose id the caller chooses (the
//! native API uses the file's SHA-256, so every node and every token finds
//! the same session), with a part layout fixed by the first part that
//! announces one and the sum of the stored parts' sizes kept in the upload
//! record, updated in the same transaction as each part commit. So a limit
//! on a session's bytes holds against concurrent parts, and a quota over
//! many sessions needs one range read of upload records, not of parts.

use liuma_meta::{Compare, Op, Txn};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::ingest::ByteStream;
use crate::keys;
use crate::model::{ObjectMeta, Tags, UploadRecord, decode, encode};
use crate::multipart::{PartInfo, PartOptions};
use crate::object::{check_meta, validate_key};
use crate::{Error, Result};

/// What a session remembers besides its parts (stored in the upload record).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSession {
    /// Size of every part but the last, once a client announced it.
    #[serde(default)]
    pub part_size: Option<u64>,
    /// Size of the whole object, once a client announced it.
    #[serde(default)]
    pub total_size: Option<u64>,
    /// Sum of the stored parts' sizes (a replaced part counted once).
    #[serde(default)]
    pub stored_bytes: u64,
    /// Who the session is charged to (a quota key; opaque to the engine).
    #[serde(default)]
    pub owner: String,
}

impl Engine {
    /// Open an upload with a caller-chosen id (1-64 letters or digits) and
    /// session accounting. False when that upload exists already (it is
    /// left as it is).
    pub async fn create_session(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        meta: ObjectMeta,
        session: Option<UploadSession>,
    ) -> Result<bool> {
        validate_key(key)?;
        check_meta(&meta)?;
        if upload_id.is_empty()
            || upload_id.len() > 64
            || !upload_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(Error::InvalidArgument {
                what: "upload id must be 1-64 letters or digits",
            });
        }
        self.bucket(bucket).await?;
        let rec = UploadRecord {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            created_ms: self.now_ms(),
            meta,
            checksum: None,
            tags: Tags::new(),
            session,
            owner: String::new(),
            acl: None,
            sse: None,
        };
        let k = keys::upload(bucket, key, upload_id);
        let txn = Txn::new()
            .when(Compare::Absent(k.clone()))
            .and_then(Op::put(k, encode(&rec)));
        Ok(self.inner.meta.txn(txn).await?.succeeded)
    }

    /// Change a session's record with `f` (compare-and-swap, retried); an
    /// upload opened without accounting gets it, counting its parts now.
    /// Returns the session as stored, or `f`'s error (nothing changed).
    pub async fn update_session(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        mut f: impl FnMut(&mut UploadSession) -> Result<()>,
    ) -> Result<UploadSession> {
        let uk = keys::upload(bucket, key, upload_id);
        for _ in 0..32 {
            let Some(kv) = self.inner.meta.get(&uk).await? else {
                return Err(Error::NoSuchUpload {
                    upload_id: upload_id.to_owned(),
                });
            };
            let mut rec: UploadRecord = decode(&kv.value)?;
            let before = rec.session.clone();
            let mut session = match before.clone() {
                Some(s) => s,
                None => {
                    let (parts, _) = self
                        .list_parts(bucket, key, upload_id, 0, usize::MAX - 1)
                        .await?;
                    UploadSession {
                        stored_bytes: parts.iter().map(|p| p.size).sum(),
                        ..UploadSession::default()
                    }
                }
            };
            f(&mut session)?;
            if before.as_ref() == Some(&session) {
                return Ok(session);
            }
            rec.session = Some(session.clone());
            let txn = Txn::new()
                .when(Compare::ModRevision(uk.clone(), kv.mod_revision))
                .and_then(Op::put(uk.clone(), encode(&rec)));
            if self.inner.meta.txn(txn).await?.succeeded {
                return Ok(session);
            }
        }
        Err(Error::Conflict {
            what: format!("session {upload_id}"),
        })
    }

    /// Upload (or replace) one part of a session; with `max_stored`, the
    /// part is committed only if the session's stored bytes stay at most
    /// that many (`EntityTooLarge` otherwise, nothing stored).
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_session_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        opts: PartOptions,
        max_stored: Option<u64>,
    ) -> Result<PartInfo> {
        self.upload_part_within(bucket, key, upload_id, part_number, body, opts, max_stored)
            .await
    }

    /// SHA-256 of the listed parts' bytes, in order (read once). For a
    /// front end that explains a failed completion with what it received.
    pub async fn parts_sha256(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[u32],
    ) -> Result<[u8; 32]> {
        self.upload_record(bucket, key, upload_id).await?;
        let mut entries = Vec::new();
        let mut size = 0u64;
        for &n in parts {
            let Some(kv) = self.inner.meta.get(&keys::part(upload_id, n)).await? else {
                return Err(Error::InvalidPart { part_number: n });
            };
            let part: crate::model::PartRecord = decode(&kv.value)?;
            size += part.size;
            entries.extend(self.inner.body_manifest(&part.uid, &part.body).await?);
        }
        self.sha256_of_entries(&entries, size).await
    }
}
