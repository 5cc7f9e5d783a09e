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
//! go/<owner uid>/<block hex>          the blocks an owner refers to (GC's reverse index)
//! gq/<due ms, 16 hex>/<owner uid>     an owner for GC to look at once due
//! hq/<block hex>                      a block for the next heal pass (placed off its wanted disks)
//! us/<user name>                      user record (canonical id, identity policies)
//! bu/<bucket>/b, bu/<bucket>/d<rand>   bucket usage: base and deltas (usage.rs)
//! kf/<key version, 10 digits>         SSE-S3 master key version being or been retired (sse_fence.rs)
//! ```

use liuma_codec::BlockId;

pub(crate) const BUCKET: &str = "bk/";
pub(crate) const ACCESS_KEY: &str = "ak/";
pub(crate) const USER: &str = "us/";
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
pub(crate) const OWNED: &str = "go/";
pub(crate) const GC_QUEUE: &str = "gq/";
pub(crate) const HEAL_QUEUE: &str = "hq/";
pub(crate) const USAGE: &str = "bu/";
pub(crate) const SSE_FENCE: &str = "kf/";

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

/// `kf/<version>`: the retirement fence of an SSE-S3 master key version
/// (zero-padded, so the prefix lists versions in order).
pub(crate) fn sse_fence(version: u32) -> Vec<u8> {
    format!("{SSE_FENCE}{version:010}").into_bytes()
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

/// `go/<uid>/<block>`: `uid` refers to `id` (written with the reference).
pub(crate) fn owned(owner_uid: &str, id: &BlockId) -> Vec<u8> {
    let mut k = owned_by(owner_uid);
    k.extend_from_slice(id.to_hex().as_bytes());
    k
}

pub(crate) fn owned_by(owner_uid: &str) -> Vec<u8> {
    cat(&[OWNED.as_bytes(), owner_uid.as_bytes(), b"/"])
}

/// The block of a `go/<uid>/<block>` key.
pub(crate) fn parse_owned(raw: &[u8]) -> Option<BlockId> {
    let hex = raw.rsplit(|&b| b == b'/').next()?;
    BlockId::from_hex(std::str::from_utf8(hex).ok()?).ok()
}

/// The `go/` key that mirrors the reference key `rf/<block>/<uid>`.
pub(crate) fn owned_of_ref(ref_key: &[u8]) -> Option<Vec<u8>> {
    let rest = ref_key.strip_prefix(REF.as_bytes())?;
    let (hex, uid) = rest.split_at_checked(64)?;
    let uid = std::str::from_utf8(uid.strip_prefix(b"/")?).ok()?;
    let id = BlockId::from_hex(std::str::from_utf8(hex).ok()?).ok()?;
    Some(owned(uid, &id))
}

/// `gq/<due>/<uid>`: look at `uid`'s blocks once `due_ms` has passed. The
/// time is fixed-width hex so keys sort by due time.
pub(crate) fn gc_due(due_ms: u64, owner_uid: &str) -> Vec<u8> {
    cat(&[
        GC_QUEUE.as_bytes(),
        format!("{due_ms:016x}/").as_bytes(),
        owner_uid.as_bytes(),
    ])
}

/// The end (exclusive) of the queue entries due at or before `now_ms`.
pub(crate) fn gc_due_until(now_ms: u64) -> Vec<u8> {
    cat(&[
        GC_QUEUE.as_bytes(),
        format!("{:016x}", now_ms.saturating_add(1)).as_bytes(),
    ])
}

/// (due, uid) of a `gq/` key.
pub(crate) fn parse_gc_due(raw: &[u8]) -> Option<(u64, String)> {
    let rest = std::str::from_utf8(raw.strip_prefix(GC_QUEUE.as_bytes())?).ok()?;
    let (due, uid) = rest.split_once('/')?;
    if due.len() != 16 || uid.is_empty() {
        return None;
    }
    Some((u64::from_str_radix(due, 16).ok()?, uid.to_owned()))
}

pub(crate) fn heal_mark(id: &BlockId) -> Vec<u8> {
    cat(&[HEAL_QUEUE.as_bytes(), id.to_hex().as_bytes()])
}

pub(crate) fn parse_heal_mark(raw: &[u8]) -> Option<BlockId> {
    let hex = std::str::from_utf8(raw.strip_prefix(HEAL_QUEUE.as_bytes())?).ok()?;
    BlockId::from_hex(hex).ok()
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
    fn gc_keys_round_trip_and_sort_by_due_time() {
        let id = BlockId([7; 32]);
        let r = block_ref(&id, "u1");
        assert_eq!(owned_of_ref(&r), Some(owned("u1", &id)));
        assert_eq!(parse_owned(&owned("u1", &id)), Some(id));
        assert_eq!(parse_gc_due(&gc_due(42, "u1")), Some((42, "u1".to_owned())));
        assert!(gc_due(0xff, "z") < gc_due(0x100, "a"));
        assert!(gc_due(5, "zzz") < gc_due_until(5));
        assert!(gc_due(6, "a") >= gc_due_until(5));
        assert_eq!(parse_gc_due(b"gq/12/u"), None);
    }

    #[test]
    fn bucket_prefixes_do_not_collide() {
        // bucket "a" with key "b/c" vs bucket "a/b" is impossible (no '/' in
        // bucket names), and bucket "ab" never shares the "a/" prefix.
        assert!(!latest("ab", "x").starts_with(&latest("a", "")));
    }
}
