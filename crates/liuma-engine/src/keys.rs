//! Metadata key layout. Byte order of keys = S3 order of object keys, and
//! bucket prefixes never collide: bucket names cannot hold `/`, and object
//! keys cannot hold NUL, which separates a key from its version suffix.
//!
//! ```text
//! bk/<bucket>                         bucket record
//! ob/<bucket>/<key>                   latest version of a key (may be a delete marker)
//! vr/<bucket>/<key>\0<vsort>          every version, newest first per key
//! vd/<version uid>                    a version's body: inline bytes or block map
//! bl/<block hex>                      block record (codec params, shard locations)
//! rf/<block hex>/<owner uid>          a reference from an object version or part
//! mf/<owner uid>/<page>               manifest pages of very large objects
//! mu/<bucket>/<key>\0<upload id>      multipart upload session
//! mp/<upload id>/<part, 5 digits>     uploaded part
//! mc/<upload id>                      completed upload (answers a retried complete)
//! ```

use liuma_codec::BlockId;

pub(crate) const BUCKET: &str = "bk/";
pub(crate) const ACCESS_KEY: &str = "ak/";
pub(crate) const LATEST: &str = "ob/";
pub(crate) const VERSION: &str = "vr/";
pub(crate) const VERSION_DATA: &str = "vd/";
/// The metadata layout version (absent: layout 1, bodies inside version records).
pub(crate) const LAYOUT: &str = "fmt/layout";
pub(crate) const BLOCK: &str = "bl/";
pub(crate) const REF: &str = "rf/";
pub(crate) const MANIFEST: &str = "mf/";
pub(crate) const UPLOAD: &str = "mu/";
pub(crate) const PART: &str = "mp/";
pub(crate) const COMPLETED: &str = "mc/";

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

pub(crate) fn bucket(name: &str) -> Vec<u8> {
    cat(&[BUCKET.as_bytes(), name.as_bytes()])
}

/// `ob/<bucket>/` followed by `key_prefix`.
pub(crate) fn latest(bucket: &str, key: &str) -> Vec<u8> {
    cat(&[LATEST.as_bytes(), bucket.as_bytes(), b"/", key.as_bytes()])
}

pub(crate) fn latest_bucket_prefix_len(bucket: &str) -> usize {
    LATEST.len() + bucket.len() + 1
}

/// `vr/<bucket>/<key>\0` — the prefix of all versions of one key.
pub(crate) fn versions_of(bucket: &str, key: &str) -> Vec<u8> {
    cat(&[
        VERSION.as_bytes(),
        bucket.as_bytes(),
        b"/",
        key.as_bytes(),
        b"\0",
    ])
}

/// `vr/<bucket>/` followed by a key prefix (no NUL): versions of all keys with that prefix.
pub(crate) fn versions_prefix(bucket: &str, key_prefix: &str) -> Vec<u8> {
    cat(&[
        VERSION.as_bytes(),
        bucket.as_bytes(),
        b"/",
        key_prefix.as_bytes(),
    ])
}

pub(crate) fn version(bucket: &str, key: &str, vsort: &str) -> Vec<u8> {
    let mut k = versions_of(bucket, key);
    k.extend_from_slice(vsort.as_bytes());
    k
}

/// Split `vr/<bucket>/<key>\0<vsort>` into (key, vsort).
pub(crate) fn parse_version(bucket: &str, raw: &[u8]) -> Option<(String, String)> {
    let rest = raw.get(VERSION.len() + bucket.len() + 1..)?;
    let nul = rest.iter().position(|&b| b == 0)?;
    let key = std::str::from_utf8(&rest[..nul]).ok()?;
    let vsort = std::str::from_utf8(&rest[nul + 1..]).ok()?;
    Some((key.to_owned(), vsort.to_owned()))
}

pub(crate) fn version_data(uid: &str) -> Vec<u8> {
    cat(&[VERSION_DATA.as_bytes(), uid.as_bytes()])
}

pub(crate) fn block(id: &BlockId) -> Vec<u8> {
    cat(&[BLOCK.as_bytes(), id.to_hex().as_bytes()])
}

pub(crate) fn refs_of(id: &BlockId) -> Vec<u8> {
    cat(&[REF.as_bytes(), id.to_hex().as_bytes(), b"/"])
}

pub(crate) fn block_ref(id: &BlockId, owner_uid: &str) -> Vec<u8> {
    let mut k = refs_of(id);
    k.extend_from_slice(owner_uid.as_bytes());
    k
}

pub(crate) fn manifest_page(owner_uid: &str, page: u32) -> Vec<u8> {
    cat(&[
        MANIFEST.as_bytes(),
        owner_uid.as_bytes(),
        format!("/{page:08}").as_bytes(),
    ])
}

pub(crate) fn manifest_pages(owner_uid: &str) -> Vec<u8> {
    cat(&[MANIFEST.as_bytes(), owner_uid.as_bytes(), b"/"])
}

pub(crate) fn upload(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    cat(&[
        UPLOAD.as_bytes(),
        bucket.as_bytes(),
        b"/",
        key.as_bytes(),
        b"\0",
        upload_id.as_bytes(),
    ])
}

pub(crate) fn uploads_prefix(bucket: &str, key_prefix: &str) -> Vec<u8> {
    cat(&[
        UPLOAD.as_bytes(),
        bucket.as_bytes(),
        b"/",
        key_prefix.as_bytes(),
    ])
}

pub(crate) fn part(upload_id: &str, part_number: u32) -> Vec<u8> {
    cat(&[
        PART.as_bytes(),
        upload_id.as_bytes(),
        format!("/{part_number:05}").as_bytes(),
    ])
}

pub(crate) fn completed(upload_id: &str) -> Vec<u8> {
    cat(&[COMPLETED.as_bytes(), upload_id.as_bytes()])
}

pub(crate) fn parts_of(upload_id: &str) -> Vec<u8> {
    cat(&[PART.as_bytes(), upload_id.as_bytes(), b"/"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_keys_sort_by_key_then_newest_first() {
        let a = version("b", "a", "1");
        let a2 = version("b", "a", "2");
        let ab = version("b", "a/b", "0");
        let b = version("b", "b", "0");
        assert!(a < a2 && a2 < ab && ab < b);
        assert_eq!(parse_version("b", &ab), Some(("a/b".into(), "0".into())));
    }

    #[test]
    fn bucket_prefixes_do_not_collide() {
        // bucket "a" with key "b/c" vs bucket "a/b" is impossible (no '/' in
        // bucket names), and bucket "ab" never shares the "a/" prefix.
        assert!(!latest("ab", "x").starts_with(&latest("a", "")));
    }
}
