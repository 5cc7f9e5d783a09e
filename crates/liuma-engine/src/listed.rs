//! What a listing reads of a version record.
//!
//! A listing page decodes up to 1 000 version records. Decoding the whole
//! `VersionRecord` built every string and map it holds (user metadata,
//! tags, ACL, checksum, the hex SHA-256, the owner id) only to drop most
//! of them: allocation and decoding were over half of a listing's CPU
//! (BENCHMARKS.md, profile of issue #14). [`Listed`] names only what a
//! listing returns, borrows its strings from the stored bytes, and serde
//! skips every other field without building it.

use serde::Deserialize;

use crate::Result;
use crate::msgpack_scan::Scan;
use crate::object::ObjectInfo;

/// The fields of a `VersionRecord` (same names: records are MessagePack
/// maps with field names) that ListObjects and ListObjectVersions return.
#[derive(Debug, Deserialize)]
pub(crate) struct Listed<'a> {
    #[serde(borrow)]
    pub vsort: &'a str,
    pub null_version: bool,
    pub delete_marker: bool,
    pub size: u64,
    #[serde(borrow)]
    pub etag: &'a str,
    pub modified_ms: u64,
    #[serde(default)]
    pub parts: u32,
    #[serde(default, borrow)]
    pub owner: &'a str,
    /// How many tags (counted, not built).
    #[serde(rename = "tags", default, deserialize_with = "count")]
    pub tag_count: usize,
}

/// The length of a sequence, its elements skipped.
fn count<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<usize, D::Error> {
    struct Count;
    impl<'de> serde::de::Visitor<'de> for Count {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<usize, A::Error> {
            let mut n = 0;
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                n += 1;
            }
            Ok(n)
        }
    }
    d.deserialize_seq(Count)
}

impl<'a> Listed<'a> {
    /// Decode the listing fields of a stored version record.
    pub(crate) fn decode(bytes: &'a [u8]) -> Result<Listed<'a>> {
        match Self::scan(bytes) {
            Some(l) => Ok(l),
            // Anything the fast reader does not know: serde decides (and
            // names the error if the record is bad).
            None => Ok(rmp_serde::from_slice(bytes)?),
        }
    }

    /// The fast path of [`Listed::decode`]: field names matched as bytes,
    /// every other field skipped unread (`msgpack_scan`).
    fn scan(bytes: &'a [u8]) -> Option<Listed<'a>> {
        let mut s = Scan::new(bytes);
        let (mut vsort, mut null_version, mut delete_marker) = (None, None, None);
        let (mut size, mut etag, mut modified_ms) = (None, None, None);
        let (mut parts, mut owner, mut tag_count) = (0, "", 0);
        for _ in 0..s.map_len()? {
            match s.str_bytes()? {
                b"vsort" => vsort = Some(s.str()?),
                b"null_version" => null_version = Some(s.bool()?),
                b"delete_marker" => delete_marker = Some(s.bool()?),
                b"size" => size = Some(s.uint()?),
                b"etag" => etag = Some(s.str()?),
                b"modified_ms" => modified_ms = Some(s.uint()?),
                b"parts" => parts = u32::try_from(s.uint()?).ok()?,
                b"owner" => owner = s.str()?,
                b"tags" => {
                    let n = s.array_len()?;
                    for _ in 0..n {
                        s.skip()?;
                    }
                    tag_count = n;
                }
                _ => s.skip()?,
            }
        }
        s.done().then_some(())?;
        Some(Listed {
            vsort: vsort?,
            null_version: null_version?,
            delete_marker: delete_marker?,
            size: size?,
            etag: etag?,
            modified_ms: modified_ms?,
            parts,
            owner,
            tag_count,
        })
    }

    /// The version as a listing entry: the fields above; metadata, ACL,
    /// checksum, SHA-256 and encryption are left empty (HEAD reads them).
    pub(crate) fn info(&self, bucket: &str, key: &str, is_latest: bool) -> ObjectInfo {
        ObjectInfo {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: if self.null_version {
                "null".to_owned()
            } else {
                self.vsort.to_owned()
            },
            size: self.size,
            etag: self.etag.to_owned(),
            sha256: None,
            last_modified_ms: self.modified_ms,
            meta: Default::default(),
            delete_marker: self.delete_marker,
            is_latest,
            parts: self.parts,
            checksum: None,
            tag_count: self.tag_count,
            owner: self.owner.to_owned(),
            acl: None,
            sse: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Body, ObjectMeta, VersionRecord, encode};

    #[test]
    fn listing_fields_match_the_full_record() {
        let mut meta = ObjectMeta::default();
        meta.user.insert("color".into(), "blue".into());
        for (null_version, delete_marker, owner) in [
            (false, false, "alice"),
            (true, false, ""),
            (false, true, "bob"),
        ] {
            let rec = VersionRecord {
                uid: "u".repeat(32),
                vsort: "0123456789abcdef".into(),
                null_version,
                delete_marker,
                size: 4096,
                etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
                sha256: Some("ab".repeat(32)),
                modified_ms: 1_700_000_000_123,
                meta: meta.clone(),
                body: Body::Inline(vec![7; 100]),
                parts: 3,
                checksum: None,
                part_checksums: Vec::new(),
                tags: vec![("k".into(), "v".into())],
                owner: owner.into(),
                acl: Some("{}".into()),
                // a field the listing skips, after those it reads
                sse: (owner == "alice").then_some(crate::crypt::Sse::S3),
                disk_bytes: Some(12_288),
            };
            let bytes = encode(&rec);
            assert!(Listed::scan(&bytes).is_some(), "the fast path reads it");
            let full = ObjectInfo::from_record("b", "key", &rec, true);
            let listed = Listed::decode(&bytes).unwrap().info("b", "key", true);
            assert_eq!(
                (
                    &listed.version_id,
                    listed.size,
                    &listed.etag,
                    listed.last_modified_ms,
                    listed.delete_marker,
                    listed.parts,
                    &listed.owner
                ),
                (
                    &full.version_id,
                    full.size,
                    &full.etag,
                    full.last_modified_ms,
                    full.delete_marker,
                    full.parts,
                    &full.owner
                ),
            );
            assert_eq!(listed.tag_count, full.tag_count);
            assert_eq!((listed.size, listed.is_latest), (full.size, full.is_latest));
        }
    }

    #[test]
    fn records_the_fast_path_does_not_know_go_through_serde() {
        // A record as a positional array (not what the engine writes):
        // the fast reader declines, serde still decodes it.
        let arr = rmp_serde::to_vec(&("v1", false, false, 5u64, "e", 9u64)).unwrap();
        assert!(Listed::scan(&arr).is_none());
        let l = Listed::decode(&arr).unwrap();
        assert_eq!((l.vsort, l.size, l.etag, l.modified_ms), ("v1", 5, "e", 9));
        // Garbage is an error either way, never a panic.
        assert!(Listed::decode(&[0x85, 0xa1]).is_err());
    }
}
