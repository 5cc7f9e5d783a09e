//! Multipart edge cases and conditional writes against the real redb store
//! and shard files: racing `If-None-Match: *` puts (one winner, the losers'
//! blocks freed by GC), `If-Match`, retried and concurrent completes, a
//! part number uploaded twice (the upload that finishes last wins), and
//! reads of one part (`partNumber`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use liuma_disk::{DiskConfig, ShardStore};
use liuma_engine::{
    COMPLETED_TTL_MS, CompleteOptions, Engine, EngineConfig, Error, GetOptions, ObjectMeta,
    PutOptions, Versioning, WriteCondition, body_from_bytes,
};
use liuma_meta::RedbStore;
use rand::{Rng, SeedableRng, rngs::StdRng};

const BS: usize = 64 << 10;

fn engine(dir: &std::path::Path) -> Engine {
    let cfg = EngineConfig {
        block_size: BS,
        replicate_below: 16 << 10,
        min_part_size: 2 * BS as u64,
        // every unreferenced block is garbage at once: no test waits
        gc_grace: Duration::ZERO,
        ..Default::default()
    };
    let meta = RedbStore::open(&dir.join("meta.redb")).unwrap();
    let store = Arc::new(ShardStore::open(&[DiskConfig::new(dir.join("disk0"))]).unwrap());
    Engine::open(cfg, meta, store).unwrap()
}

fn random(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill(&mut v[..]);
    v
}

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

async fn read(e: &Engine, b: &str, k: &str) -> Vec<u8> {
    let mut g = e.get_object(b, k, GetOptions::default()).await.unwrap();
    let mut out = Vec::new();
    while let Some(c) = g.body.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

fn if_none_match() -> WriteCondition {
    WriteCondition {
        if_none_match: true,
        if_match: None,
    }
}

fn if_match(etag: &str) -> WriteCondition {
    WriteCondition {
        if_none_match: false,
        if_match: Some(format!("\"{etag}\"")),
    }
}

async fn put_if(
    e: &Engine,
    b: &str,
    k: &str,
    data: &[u8],
    condition: WriteCondition,
) -> liuma_engine::Result<liuma_engine::ObjectInfo> {
    let opts = PutOptions {
        condition,
        ..Default::default()
    };
    e.put_object(b, k, body_from_bytes(data.to_vec()), opts)
        .await
}

/// Number of block records in the store (`bl/` keys), via a GC pass that
/// frees nothing (a fresh pass counts every block it checks).
async fn live_blocks(e: &Engine) -> u64 {
    let r = e.gc_pass(None).await.unwrap();
    r.blocks_checked - r.blocks_deleted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_if_none_match_puts_have_one_winner_and_losers_blocks_are_freed() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.create_bucket("cond", "me").await.unwrap();
    let writers = 8;
    let bodies: Vec<Vec<u8>> = (0..writers).map(|i| random(i, 3 * BS + 11)).collect();
    let tasks: Vec<_> = bodies
        .iter()
        .cloned()
        .map(|data| {
            let e = e.clone();
            tokio::spawn(async move { put_if(&e, "cond", "k", &data, if_none_match()).await })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(info) => winners.push((i, info)),
            Err(Error::PreconditionFailed) => {}
            Err(other) => panic!("writer {i}: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one If-None-Match writer wins");
    let (w, info) = &winners[0];
    assert_eq!(info.etag, md5_hex(&bodies[*w]));
    assert_eq!(read(&e, "cond", "k").await, bodies[*w]);
    // the losers' blocks (each 4 distinct blocks) are garbage: GC frees them
    let r = e.gc_pass(None).await.unwrap();
    assert_eq!(r.blocks_deleted, r.blocks_checked - 4, "{r:?}");
    assert_eq!(live_blocks(&e).await, 4);
    assert_eq!(read(&e, "cond", "k").await, bodies[*w]);
}

#[tokio::test]
async fn if_match_and_delete_markers() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.create_bucket("cond", "me").await.unwrap();
    // absent key: If-Match is NoSuchKey, If-None-Match writes
    let r = put_if(&e, "cond", "k", b"v1", if_match(&md5_hex(b"v0"))).await;
    assert!(matches!(r, Err(Error::NoSuchKey { .. })), "{r:?}");
    let v1 = put_if(&e, "cond", "k", b"v1", if_none_match())
        .await
        .unwrap();
    // present: If-None-Match fails, If-Match compares the ETag
    let r = put_if(&e, "cond", "k", b"v2", if_none_match()).await;
    assert!(matches!(r, Err(Error::PreconditionFailed)), "{r:?}");
    let r = put_if(&e, "cond", "k", b"v2", if_match(&md5_hex(b"other"))).await;
    assert!(matches!(r, Err(Error::PreconditionFailed)), "{r:?}");
    assert_eq!(read(&e, "cond", "k").await, b"v1", "nothing was written");
    let v2 = put_if(&e, "cond", "k", b"v2", if_match(&v1.etag))
        .await
        .unwrap();
    assert_eq!(v2.etag, md5_hex(b"v2"));
    // a stale ETag after someone else's write
    let r = put_if(&e, "cond", "k", b"v3", if_match(&v1.etag)).await;
    assert!(matches!(r, Err(Error::PreconditionFailed)), "{r:?}");
    // a delete marker as current version counts as no object
    e.set_versioning("cond", Versioning::Enabled).await.unwrap();
    e.delete_object("cond", "k", None).await.unwrap();
    let r = put_if(&e, "cond", "k", b"v3", if_match(&v2.etag)).await;
    assert!(matches!(r, Err(Error::NoSuchKey { .. })), "{r:?}");
    put_if(&e, "cond", "k", b"v3", if_none_match())
        .await
        .unwrap();
    assert_eq!(read(&e, "cond", "k").await, b"v3");
}

/// Upload parts 1..=n of fresh random data; returns the list for complete.
async fn upload_parts(
    e: &Engine,
    b: &str,
    k: &str,
    id: &str,
    sizes: &[usize],
    seed: u64,
) -> (Vec<(u32, String)>, Vec<u8>) {
    let mut list = Vec::new();
    let mut whole = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let data = random(seed + i as u64, size);
        let n = i as u32 + 1;
        let p = e
            .upload_part(
                b,
                k,
                id,
                n,
                body_from_bytes(data.clone()),
                Default::default(),
            )
            .await
            .unwrap();
        list.push((n, format!("\"{}\"", p.etag)));
        whole.extend_from_slice(&data);
    }
    (list, whole)
}

#[tokio::test]
async fn a_retried_complete_answers_like_the_first_until_the_record_expires() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.create_bucket("mpb", "me").await.unwrap();
    e.set_versioning("mpb", Versioning::Enabled).await.unwrap();
    let id = e
        .create_multipart("mpb", "obj", ObjectMeta::default())
        .await
        .unwrap();
    let (list, whole) = upload_parts(&e, "mpb", "obj", &id, &[2 * BS, 2 * BS, 100], 10).await;
    let first = e
        .complete_multipart("mpb", "obj", &id, &list)
        .await
        .unwrap();
    let again = e
        .complete_multipart("mpb", "obj", &id, &list)
        .await
        .unwrap();
    assert_eq!(
        (&again.etag, &again.version_id, again.size, again.parts),
        (&first.etag, &first.version_id, first.size, 3)
    );
    assert_eq!(read(&e, "mpb", "obj").await, whole, "no second object");
    // another part list is not the upload that completed
    let r = e.complete_multipart("mpb", "obj", &id, &list[..2]).await;
    assert!(matches!(r, Err(Error::NoSuchUpload { .. })), "{r:?}");
    // nor is another key
    let r = e.complete_multipart("mpb", "other", &id, &list).await;
    assert!(matches!(r, Err(Error::NoSuchUpload { .. })), "{r:?}");
    // the record outlives nothing: pruned once its time is up
    let now = first.last_modified_ms;
    assert_eq!(e.prune_completed_uploads(now).await.unwrap(), 0);
    assert_eq!(
        e.prune_completed_uploads(now + COMPLETED_TTL_MS)
            .await
            .unwrap(),
        1
    );
    let r = e.complete_multipart("mpb", "obj", &id, &list).await;
    assert!(matches!(r, Err(Error::NoSuchUpload { .. })), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_completes_make_one_object() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.create_bucket("mpb", "me").await.unwrap();
    e.set_versioning("mpb", Versioning::Enabled).await.unwrap();
    let id = e
        .create_multipart("mpb", "obj", ObjectMeta::default())
        .await
        .unwrap();
    let (list, whole) = upload_parts(&e, "mpb", "obj", &id, &[2 * BS, 2 * BS, 7], 20).await;
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let (e, id) = (e.clone(), id.clone());
            // one of them completes with the first two parts only
            let list = if i == 3 {
                list[..2].to_vec()
            } else {
                list.clone()
            };
            tokio::spawn(async move { e.complete_multipart("mpb", "obj", &id, &list).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let ok: Vec<_> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
    assert!(!ok.is_empty());
    assert!(
        ok.iter()
            .all(|i| i.etag == ok[0].etag && i.version_id == ok[0].version_id),
        "every success names the one object made: {answers:?}"
    );
    for a in &answers {
        if let Err(err) = a {
            assert!(matches!(err, Error::NoSuchUpload { .. }), "{err:?}");
        }
    }
    let versions = e
        .list_versions(
            "mpb",
            &liuma_engine::ListVersionsParams {
                max_keys: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .versions;
    assert_eq!(versions.len(), 1, "one object, not one per complete");
    let body = read(&e, "mpb", "obj").await;
    let made_from_two = ok[0].etag.ends_with("-2");
    let want = if made_from_two {
        &whole[..4 * BS]
    } else {
        &whole[..]
    };
    assert_eq!(body, want);
}

#[tokio::test]
async fn conditional_complete_keeps_the_upload_on_412() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.create_bucket("mpb", "me").await.unwrap();
    e.put_object("mpb", "obj", body_from_bytes("old"), PutOptions::default())
        .await
        .unwrap();
    let id = e
        .create_multipart("mpb", "obj", ObjectMeta::default())
        .await
        .unwrap();
    let (list, whole) = upload_parts(&e, "mpb", "obj", &id, &[2 * BS, 5], 30).await;
    let with = |condition| CompleteOptions {
        condition,
        ..Default::default()
    };
    let r = e
        .complete_multipart_with("mpb", "obj", &id, &list, with(if_none_match()))
        .await;
    assert!(matches!(r, Err(Error::PreconditionFailed)), "{r:?}");
    let r = e
        .complete_multipart_with("mpb", "obj", &id, &list, with(if_match(&md5_hex(b"x"))))
        .await;
    assert!(matches!(r, Err(Error::PreconditionFailed)), "{r:?}");
    assert_eq!(read(&e, "mpb", "obj").await, b"old");
    // the upload and its parts are still there
    let (parts, _) = e.list_parts("mpb", "obj", &id, 0, 100).await.unwrap();
    assert_eq!(parts.len(), 2);
    let info = e
        .complete_multipart_with("mpb", "obj", &id, &list, with(if_match(&md5_hex(b"old"))))
        .await
        .unwrap();
    assert!(info.etag.ends_with("-2"));
    assert_eq!(read(&e, "mpb", "obj").await, whole);
}

/// A body that sends its first byte, then waits for `gate` before the rest.
fn gated(data: Vec<u8>, gate: tokio::sync::oneshot::Receiver<()>) -> liuma_engine::ByteStream {
    let mut data = Bytes::from(data);
    let head = data.split_to(1);
    let first = futures_util::stream::once(async move { Ok(head) });
    let rest = futures_util::stream::once(async move {
        let _ = tokio::time::timeout(Duration::from_secs(30), gate).await;
        Ok(data)
    });
    Box::pin(first.chain(rest))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_part_upload_that_finishes_last_wins() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.create_bucket("mpb", "me").await.unwrap();
    let id = e
        .create_multipart("mpb", "obj", ObjectMeta::default())
        .await
        .unwrap();
    let first = random(40, 2 * BS + 1);
    let resent = random(41, 2 * BS + 2);
    let tail = random(42, 10);
    // part 1 starts, stalls; part 2 and a resent part 1 complete meanwhile
    let (open, gate) = tokio::sync::oneshot::channel();
    let slow = {
        let (e, id, first) = (e.clone(), id.clone(), first.clone());
        tokio::spawn(async move {
            e.upload_part("mpb", "obj", &id, 1, gated(first, gate), Default::default())
                .await
        })
    };
    let p2 = e
        .upload_part(
            "mpb",
            "obj",
            &id,
            2,
            body_from_bytes(tail.clone()),
            Default::default(),
        )
        .await
        .unwrap();
    let fast = e
        .upload_part(
            "mpb",
            "obj",
            &id,
            1,
            body_from_bytes(resent.clone()),
            Default::default(),
        )
        .await
        .unwrap();
    open.send(()).unwrap();
    let slow = slow.await.unwrap().unwrap();
    let (parts, _) = e.list_parts("mpb", "obj", &id, 0, 10).await.unwrap();
    assert_eq!(
        parts[0].etag, slow.etag,
        "the upload that finished last is kept"
    );
    // the replaced part's 3 blocks are garbage; the kept ones are not
    let r = e.gc_pass(None).await.unwrap();
    assert_eq!(r.blocks_deleted, 3, "{r:?}");
    // completing with the replaced part's ETag is InvalidPart, not InvalidPartOrder
    let stale = [(1, fast.etag.clone()), (2, p2.etag.clone())];
    let r = e.complete_multipart("mpb", "obj", &id, &stale).await;
    assert!(
        matches!(r, Err(Error::InvalidPart { part_number: 1 })),
        "{r:?}"
    );
    let list = [(1, slow.etag.clone()), (2, p2.etag.clone())];
    e.complete_multipart("mpb", "obj", &id, &list)
        .await
        .unwrap();
    assert_eq!(read(&e, "mpb", "obj").await, [first, tail].concat());
}

async fn read_part(e: &Engine, b: &str, k: &str, n: u32) -> liuma_engine::Result<(Vec<u8>, u32)> {
    let mut g = e.get_object_part(b, k, None, n).await?;
    let mut out = Vec::new();
    while let Some(c) = g.body.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    let (start, end) = g.range.unwrap();
    assert_eq!(end - start, out.len() as u64);
    Ok((out, g.info.parts))
}

#[tokio::test]
async fn one_part_of_an_object() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.create_bucket("mpb", "me").await.unwrap();
    let id = e
        .create_multipart("mpb", "obj", ObjectMeta::default())
        .await
        .unwrap();
    let sizes = [2 * BS + 5, 3 * BS, 17];
    let (list, whole) = upload_parts(&e, "mpb", "obj", &id, &sizes, 50).await;
    e.complete_multipart("mpb", "obj", &id, &list)
        .await
        .unwrap();
    let mut at = 0;
    for (i, size) in sizes.iter().enumerate() {
        let (bytes, parts) = read_part(&e, "mpb", "obj", i as u32 + 1).await.unwrap();
        assert_eq!(parts, 3);
        assert_eq!(bytes, whole[at..at + size]);
        at += size;
    }
    let (info, span) = e.head_object_part("mpb", "obj", None, 2).await.unwrap();
    assert_eq!(
        (info.parts, span),
        (3, ((2 * BS + 5) as u64, (5 * BS + 5) as u64))
    );
    let r = read_part(&e, "mpb", "obj", 4).await;
    assert!(
        matches!(
            r,
            Err(Error::PartNotSatisfiable {
                part_number: 4,
                parts: 3
            })
        ),
        "{r:?}"
    );
    // a plain object is one part
    e.put_object(
        "mpb",
        "plain",
        body_from_bytes("hello"),
        PutOptions::default(),
    )
    .await
    .unwrap();
    let (bytes, parts) = read_part(&e, "mpb", "plain", 1).await.unwrap();
    assert_eq!((bytes.as_slice(), parts), (&b"hello"[..], 0));
    let r = read_part(&e, "mpb", "plain", 2).await;
    assert!(matches!(r, Err(Error::PartNotSatisfiable { .. })), "{r:?}");
    let r = read_part(&e, "mpb", "nope", 1).await;
    assert!(matches!(r, Err(Error::NoSuchKey { .. })), "{r:?}");
}

/// Upload sessions (the native API's chunk sessions): the stored bytes are
/// kept in the upload record with each part commit, a replaced part counts
/// once, a part that would pass the limit is refused and not stored, and
/// the layout is set once.
#[tokio::test]
async fn session_bytes_are_bounded_as_parts_commit() {
    use liuma_engine::{PartOptions, UploadSession};
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    e.create_bucket("bkt", "o").await.unwrap();
    let sess = UploadSession {
        owner: "LBX".to_owned(),
        ..UploadSession::default()
    };
    assert!(
        e.create_session("bkt", "k", "sid", ObjectMeta::default(), Some(sess))
            .await
            .unwrap()
    );
    let part = |n: u32, len: usize, max: u64| {
        let e = e.clone();
        async move {
            e.upload_session_part(
                "bkt",
                "k",
                "sid",
                n,
                body_from_bytes(Bytes::from(random(u64::from(n), len))),
                PartOptions::default(),
                Some(max),
            )
            .await
        }
    };
    part(1, 600, 1000).await.unwrap();
    part(1, 600, 1000).await.unwrap(); // replaced: counted once
    part(2, 400, 1000).await.unwrap();
    let err = part(3, 1, 1000).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::EntityTooLarge {
                size: 1001,
                max: 1000
            }
        ),
        "{err:?}"
    );
    let (parts, _) = e.list_parts("bkt", "k", "sid", 0, 100).await.unwrap();
    assert_eq!(parts.len(), 2, "the refused part is not stored");
    let info = e.get_upload("bkt", "k", "sid").await.unwrap();
    let s = info.session.unwrap();
    assert_eq!((s.stored_bytes, s.owner.as_str()), (1000, "LBX"));
    // the layout is set once; later calls see it
    let s = e
        .update_session("bkt", "k", "sid", |x| {
            x.part_size = x.part_size.or(Some(600));
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(s.part_size, Some(600));
    let s = e
        .update_session("bkt", "k", "sid", |x| {
            x.part_size = x.part_size.or(Some(7));
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!((s.part_size, s.stored_bytes), (Some(600), 1000));
    // the SHA-256 of chosen parts, as a front end explains a failed finish
    let mut whole = random(1, 600);
    whole.extend(random(2, 400));
    let got = e.parts_sha256("bkt", "k", "sid", &[1, 2]).await.unwrap();
    use sha2::Digest;
    assert_eq!(got.to_vec(), sha2::Sha256::digest(&whole).to_vec());
    // an S3 upload has no accounting: no limit applies
    let id = e
        .create_multipart("bkt", "s3", ObjectMeta::default())
        .await
        .unwrap();
    assert!(
        e.get_upload("bkt", "s3", &id)
            .await
            .unwrap()
            .session
            .is_none()
    );
    // an upload opened without accounting gets it, its parts counted
    assert!(
        e.create_multipart_with_id("bkt", "old", "oldid", ObjectMeta::default())
            .await
            .unwrap()
    );
    let body = body_from_bytes(Bytes::from(random(9, 700)));
    e.upload_part("bkt", "old", "oldid", 1, body, PartOptions::default())
        .await
        .unwrap();
    let s = e
        .update_session("bkt", "old", "oldid", |_| Ok(()))
        .await
        .unwrap();
    assert_eq!(s.stored_bytes, 700);
    let body = body_from_bytes(Bytes::from(random(9, 400)));
    let err = e
        .upload_session_part(
            "bkt",
            "old",
            "oldid",
            2,
            body,
            PartOptions::default(),
            Some(1000),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::EntityTooLarge { .. }), "{err:?}");
}
