//! Records stored in the metadata store, encoded as MessagePack with field
//! names (so fields can be added later with `#[serde(default)]`).

use std::collections::BTreeMap;

use liuma_codec::BlockId;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::checksum::{Checksum, StoredPart, UploadChecksum};
use crate::{Error, Result};

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(v).expect("engine records always serialize")
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    Ok(rmp_serde::from_slice(bytes)?)
}

/// Byte strings in records as MessagePack `bin` (a length, then the bytes)
/// instead of serde's default for `Vec<u8>`, an array of integers: an
/// inline 4 KiB body took ~6 KiB and one serializer call per byte, a fifth
/// of the CPU of a 4 KiB PUT (BENCHMARKS.md, issue #14). Records written
/// before still decode: an array of integers is accepted too.
pub(crate) mod bin {
    use std::fmt;

    use serde::de::{SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(BytesOrInts)
    }

    struct BytesOrInts;

    impl<'de> Visitor<'de> for BytesOrInts {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("bytes or an array of bytes")
        }

        fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64 << 10));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A random 128-bit id as 32 hex characters.
pub(crate) fn random_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Object tags: (key, value) pairs, in the order the front end gives them (S3: key order).
/// The front end checks S3's limits before they reach the engine.
pub type Tags = Vec<(String, String)>;

/// Versioning state of a bucket (S3 semantics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    /// Never enabled: one ("null") version per key.
    #[default]
    Off,
    /// Every write makes a new version; deletes write delete markers.
    Enabled,
    /// Writes replace the "null" version; older versions are kept.
    Suspended,
}

/// A bucket as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BucketInfo {
    /// Bucket name.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_ms: u64,
    /// Access key id (or other principal) that owns it.
    pub owner: String,
    /// Versioning state.
    pub versioning: Versioning,
    /// Erasure code override for new blocks of this bucket.
    #[serde(default)]
    pub erasure: Option<(u16, u16)>,
    /// Front-end settings (CORS, ACL...), opaque to the engine.
    #[serde(default)]
    pub attrs: BTreeMap<String, String>,
    /// Lifecycle rules, applied by the lifecycle pass (empty: none).
    #[serde(default)]
    pub lifecycle: Vec<crate::lifecycle::LifecycleRule>,
    /// Default encryption (PutBucketEncryption): objects written without
    /// SSE headers are stored with SSE-S3. None: no default set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<crate::crypt::BucketEncryption>,
}

/// Content type, standard headers and user metadata of an object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// Other standard headers, lower-case names: cache-control,
    /// content-disposition, content-encoding, content-language, expires.
    pub headers: BTreeMap<String, String>,
    /// `x-amz-meta-*` (names without the prefix, lower case).
    pub user: BTreeMap<String, String>,
}

impl ObjectMeta {
    /// Approximate stored size, used to enforce metadata size limits.
    pub fn size(&self) -> usize {
        let pairs =
            |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        self.content_type.as_ref().map_or(0, String::len) + pairs(&self.headers) + pairs(&self.user)
    }
}

/// One block of an object: its id and its plain length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlockEntry {
    pub id: [u8; 32],
    pub len: u32,
    /// Encrypted blocks (see [`crate::crypt`]): the keyed id of the plain
    /// block, from which its data key is derived. None for plain blocks
    /// (and not written, so plain block lists encode as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<[u8; 32]>,
    /// SSE-S3 blocks: the master key version the block was sealed under
    /// (the version its envelope header names), so that counting what a
    /// version still protects (`sse_admin`) and fencing commits against a
    /// retirement (`sse_fence`) need no block read. None for plain and
    /// SSE-C blocks, and for SSE-S3 blocks listed before it was recorded
    /// (their envelope header is read instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv: Option<u32>,
}

impl BlockEntry {
    pub fn block_id(&self) -> BlockId {
        BlockId(self.id)
    }
}

/// Where an object's bytes are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Body {
    /// Small objects: the bytes themselves.
    Inline(#[serde(with = "bin")] Vec<u8>),
    /// The block list, in order.
    Blocks(Vec<BlockEntry>),
    /// Very large objects: the block list lives in `mf/<uid>/<page>` keys.
    Paged { blocks: u64, pages: u32 },
    /// In a version record: the body (one of the above) is in its own
    /// `vd/<uid>` record, so that listings and HEADs, which read version
    /// records, never read object bytes or block maps (layout 2).
    Detached,
    /// An encrypted small object: its sealed envelope (see [`crate::crypt`];
    /// no plaintext in the record) and the keyed id the data key derives
    /// from. Last, so records written before still decode.
    SealedInline {
        kid: [u8; 32],
        #[serde(with = "bin")]
        envelope: Vec<u8>,
    },
}

impl Body {
    /// Whether a version record should keep this body in its own record:
    /// everything but the empty body of 0-byte objects and delete markers
    /// (one key instead of two for those) and what is already detached.
    pub(crate) fn detachable(&self) -> bool {
        match self {
            Body::Inline(d) => !d.is_empty(),
            Body::SealedInline { .. } | Body::Blocks(_) | Body::Paged { .. } => true,
            Body::Detached => false,
        }
    }
}

/// The `vd/<uid>` record of a version (layout 2): what only reads of the
/// object's bytes or parts need, kept out of the version record so that
/// listings and HEADs do not read it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct VersionData {
    pub body: Body,
    /// Number, size and checksum of each part of a multipart object (up to
    /// 10 000 entries: GetObjectAttributes, GET `partNumber`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<StoredPart>,
}

/// Blocks per manifest page and the most kept inline in a record.
pub(crate) const MANIFEST_PAGE: usize = 1024;

/// One version of an object (or a delete marker).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct VersionRecord {
    /// Owner id of this version's block references.
    pub uid: String,
    /// Sort key: newest first; the version id unless `null_version`.
    pub vsort: String,
    pub null_version: bool,
    pub delete_marker: bool,
    pub size: u64,
    /// Hex MD5 (or `md5-of-md5s-N` for multipart), without quotes.
    pub etag: String,
    /// Hex SHA-256 of the content, when known (not for multipart).
    pub sha256: Option<String>,
    pub modified_ms: u64,
    pub meta: ObjectMeta,
    pub body: Body,
    /// Number of parts for multipart objects, 0 otherwise.
    #[serde(default)]
    pub parts: u32,
    /// The S3 additional checksum (x-amz-checksum-*), when there is one.
    #[serde(default)]
    pub checksum: Option<Checksum>,
    /// Sizes and checksums of the parts of a multipart object
    /// (GetObjectAttributes). Moved into `vd/<uid>` with the body when the
    /// record is stored (see `VersionData`): read it with `Inner::parts_of`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_checksums: Vec<StoredPart>,
    /// Object tags (key, value); changed in place by
    /// PutObjectTagging without touching the data.
    #[serde(default)]
    pub tags: Tags,
    /// User name of the writer (empty: the bucket's owner, as for every
    /// version written before users existed).
    #[serde(default)]
    pub owner: String,
    /// The version's ACL, JSON of `liuma_policy::Acl` (None: private to its owner).
    #[serde(default)]
    pub acl: Option<String>,
    /// Server-side encryption of the version's blocks (None: plain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<crate::crypt::Sse>,
    /// Bytes the version occupies on the data disks as written: the shard
    /// bytes of each distinct block it uses (compressed size spread over k
    /// data shards, times k+m), counted by every version using the block
    /// (before dedup across objects); an inline body counts its size. None:
    /// written before this was counted (bucket usage estimates those).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_bytes: Option<u64>,
}

impl VersionRecord {
    /// A new delete marker made at `modified_ms`; its sort key and "null"
    /// flag are set when it is committed.
    pub(crate) fn delete_marker(modified_ms: u64) -> VersionRecord {
        VersionRecord {
            uid: random_id(),
            vsort: String::new(),
            null_version: false,
            delete_marker: true,
            size: 0,
            etag: String::new(),
            sha256: None,
            modified_ms,
            meta: ObjectMeta::default(),
            body: Body::Inline(Vec::new()),
            parts: 0,
            checksum: None,
            part_checksums: Vec::new(),
            tags: Tags::new(),
            owner: String::new(),
            acl: None,
            sse: None,
            disk_bytes: None,
        }
    }

    pub fn version_id(&self) -> String {
        if self.null_version {
            "null".to_owned()
        } else {
            self.vsort.clone()
        }
    }
}

/// Lifecycle of a stored block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum BlockState {
    Live,
    /// GC decided to delete it; shards are being removed.
    Deleting,
}

/// A stored block: how it was coded and where its shards are.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct BlockRecord {
    pub k: u16,
    pub m: u16,
    pub plain_len: u64,
    pub stored_len: u64,
    pub compressed: bool,
    /// Disk id holding shard i.
    pub disks: Vec<String>,
    pub state: BlockState,
    pub created_ms: u64,
    /// Last time an upload reused this block (dedup); GC waits a grace period after it.
    pub touched_ms: u64,
    /// An opaque-id block (a format-2 SSE envelope, see `crypt`): its id is
    /// not a hash of its bytes, so reads accept only frames flagged so, and
    /// plain blocks only frames not flagged (a forged flag is a bad frame).
    #[serde(default)]
    pub opaque: bool,
}

/// Who holds a block reference (the value of an `rf/` key).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Owner {
    Version {
        bucket: String,
        key: String,
        uid: String,
    },
    Part {
        upload_id: String,
        part_number: u32,
        uid: String,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RefRecord {
    pub owner: Owner,
    pub created_ms: u64,
}

/// An open multipart upload.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct UploadRecord {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub created_ms: u64,
    pub meta: ObjectMeta,
    /// Checksum algorithm and type asked for at creation.
    #[serde(default)]
    pub checksum: Option<UploadChecksum>,
    /// Tags the completed object gets (`x-amz-tagging` on CreateMultipartUpload).
    #[serde(default)]
    pub tags: Tags,
    /// Layout and byte accounting of a native chunk session (None for S3
    /// uploads and for sessions opened before sessions were tracked).
    #[serde(default)]
    pub session: Option<crate::session::UploadSession>,
    /// User name of the writer, given to the completed object (empty: the
    /// bucket's owner).
    #[serde(default)]
    pub owner: String,
    /// The completed object's ACL (JSON of `liuma_policy::Acl`; None: private).
    #[serde(default)]
    pub acl: Option<String>,
    /// Encryption of every part and of the completed object (None: plain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<crate::crypt::Sse>,
}

/// One uploaded part.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PartRecord {
    pub uid: String,
    pub part_number: u32,
    pub size: u64,
    /// Hex MD5 without quotes.
    pub etag: String,
    /// Hex SHA-256; empty when the upload did not compute it
    /// (`ContentSha256::Skip`: S3 parts without a signed payload hash).
    pub sha256: String,
    pub modified_ms: u64,
    pub body: Body,
    /// The part's S3 additional checksums: the client's algorithm first,
    /// then the default CRC64NVME when its upload names no algorithm.
    #[serde(default)]
    pub checksums: Vec<Checksum>,
    /// Shard bytes of the part's blocks (see `VersionRecord::disk_bytes`);
    /// None: uploaded before this was counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_bytes: Option<u64>,
}

/// What is remembered of a completed multipart upload (`mc/<upload id>`),
/// so that a retried CompleteMultipartUpload answers as the first did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct CompletedRecord {
    pub bucket: String,
    pub key: String,
    /// ETag of the object made (`md5-of-md5s-N`), without quotes.
    pub etag: String,
    pub version_id: String,
    pub size: u64,
    pub parts: u32,
    /// When the upload completed, ms since the epoch (expiry).
    pub completed_ms: u64,
    /// The object's checksum, as the first complete answered it.
    #[serde(default)]
    pub checksum: Option<Checksum>,
}

/// Decode the version id a client sent into a sort key (or "null").
pub(crate) fn check_version_id(key: &str, version_id: &str) -> Result<()> {
    let ok = version_id == "null"
        || (version_id.len() == 24 && version_id.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(Error::NoSuchVersion {
            key: key.to_owned(),
            version_id: version_id.to_owned(),
        })
    }
}

/// Version sort key for a write at `ms` that must sort before (be newer
/// than) `newest_existing`: 16 hex digits of inverted time + 8 random.
pub(crate) fn new_vsort(ms: u64, newest_existing: Option<&str>) -> String {
    let mut inverted = u64::MAX - ms;
    if let Some(prev) = newest_existing.and_then(|p| u64::from_str_radix(p.get(..16)?, 16).ok())
        && inverted >= prev
    {
        inverted = prev.saturating_sub(1);
    }
    format!("{inverted:016x}{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encryption fields are skipped when absent: plain records encode
    /// byte for byte as before encryption existed, and records written
    /// before decode with no encryption.
    #[test]
    fn plain_records_are_unchanged_by_encryption_fields() {
        #[derive(Serialize)]
        struct OldEntry {
            id: [u8; 32],
            len: u32,
        }
        let old = encode(&OldEntry {
            id: [3; 32],
            len: 7,
        });
        let new = BlockEntry {
            id: [3; 32],
            len: 7,
            kid: None,
            kv: None,
        };
        assert_eq!(encode(&new), old);
        let back: BlockEntry = decode(&old).unwrap();
        assert_eq!(back, new);
        let mut rec = VersionRecord::delete_marker(5);
        let plain = encode(&rec);
        assert!(!plain.windows(3).any(|w| w == b"sse"));
        let back: VersionRecord = decode(&plain).unwrap();
        assert!(back.sse.is_none());
        rec.sse = Some(crate::crypt::Sse::S3);
        let back: VersionRecord = decode(&encode(&rec)).unwrap();
        assert_eq!(back.sse, Some(crate::crypt::Sse::S3));
        let sealed = BlockEntry {
            kid: Some([9; 32]),
            kv: Some(4),
            ..new
        };
        assert_eq!(decode::<BlockEntry>(&encode(&sealed)).unwrap(), sealed);
        // an SSE-S3 entry listed before key versions were recorded
        #[derive(Serialize)]
        struct SealedBefore {
            id: [u8; 32],
            len: u32,
            kid: [u8; 32],
        }
        let before: BlockEntry = decode(&encode(&SealedBefore {
            id: [3; 32],
            len: 7,
            kid: [9; 32],
        }))
        .unwrap();
        assert_eq!((before.kid, before.kv), (Some([9; 32]), None));
    }

    #[test]
    fn newer_versions_sort_first_even_with_clock_skew() {
        let a = new_vsort(1000, None);
        let b = new_vsort(2000, Some(&a));
        assert!(b < a);
        // clock went backwards: still newer
        let c = new_vsort(500, Some(&b));
        assert!(c < b);
    }

    /// `Body` as it was encoded before inline bytes became `bin`.
    #[derive(Serialize)]
    enum OldBody {
        Inline(Vec<u8>),
    }

    #[test]
    fn inline_bodies_are_bin_and_old_records_still_decode() {
        let data: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        let new = encode(&VersionData {
            body: Body::Inline(data.clone()),
            parts: Vec::new(),
        });
        // bin: a 3-byte header per 4 KiB, not one to two bytes per byte
        assert!(new.len() < 4096 + 64, "{} bytes", new.len());
        let back: VersionData = decode(&new).unwrap();
        assert_eq!(back.body, Body::Inline(data.clone()));

        #[derive(Serialize)]
        struct OldData {
            body: OldBody,
        }
        let old = encode(&OldData {
            body: OldBody::Inline(data.clone()),
        });
        assert!(old.len() > 6000, "the old encoding: {} bytes", old.len());
        let back: VersionData = decode(&old).unwrap();
        assert_eq!(back.body, Body::Inline(data), "written before: still read");
        let empty: VersionData = decode(&encode(&OldData {
            body: OldBody::Inline(Vec::new()),
        }))
        .unwrap();
        assert_eq!(empty.body, Body::Inline(Vec::new()));
    }
}
