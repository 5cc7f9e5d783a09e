//! Per-bucket usage: how many object versions a bucket holds and their
//! logical bytes, kept up to date on the write and delete paths without a
//! hot counter key.
//!
//! Every transaction that adds a version record (`commit_version_guarded`)
//! or removes one (`remove_version_ops`, which every delete, overwrite of a
//! "null" version and lifecycle expiry goes through) also puts a small
//! *delta* record `bu/<bucket>/d<random>` with its (+/-1, +/-size). A delta
//! has a key of its own, so concurrent writers never conflict on it and the
//! write path costs one more put in a transaction it makes anyway. Reading
//! sums the bucket's base record `bu/<bucket>/b` and its deltas; when there
//! are many deltas the reader folds a batch into the base under a
//! compare-and-swap (a lost race just leaves them for the next reader).
//!
//! A bucket without a base (made before these counters existed) is counted
//! once by a scan of its version records; the base is then that count minus
//! the deltas seen after the scan, so it is exact when the bucket was idle
//! during the scan and off by the writes that raced the scan otherwise.
//! Delete markers count nothing. Deleting the bucket deletes its counters.

use liuma_meta::{Compare, Op, Txn};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::engine::Engine;
use crate::keys;
use crate::model::{VersionRecord, decode, encode, random_id};

/// Deltas a reader leaves before folding a batch into the base.
const FOLD_OVER: usize = 64;
/// Deltas folded per transaction (under the store's op limit).
const FOLD_BATCH: usize = 100;

/// A bucket's usage (every version, current or not; no delete markers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketUsage {
    /// Object versions (the current one of each key and older ones).
    pub objects: u64,
    /// Their logical bytes (sizes as uploaded).
    pub bytes: u64,
}

/// A base or delta record: signed changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Counts {
    objects: i64,
    bytes: i64,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.objects = self.objects.saturating_add(o.objects);
        self.bytes = self.bytes.saturating_add(o.bytes);
    }
}

fn prefix(bucket: &str) -> Vec<u8> {
    let mut k = keys::USAGE.as_bytes().to_vec();
    k.extend_from_slice(bucket.as_bytes());
    k.push(b'/');
    k
}

fn base_key(bucket: &str) -> Vec<u8> {
    let mut k = prefix(bucket);
    k.push(b'b');
    k
}

fn delta_key(bucket: &str) -> Vec<u8> {
    let mut k = prefix(bucket);
    k.push(b'd');
    k.extend_from_slice(random_id().as_bytes());
    k
}

/// The change a version record makes to its bucket's usage.
fn of(rec: &VersionRecord, sign: i64) -> Option<Counts> {
    (!rec.delete_marker).then(|| Counts {
        objects: sign,
        bytes: sign.saturating_mul(i64::try_from(rec.size).unwrap_or(i64::MAX)),
    })
}

/// Add to `txn` the delta of adding (`sign` 1) or removing (-1) `rec`.
pub(crate) fn delta_ops(txn: Txn, bucket: &str, rec: &VersionRecord, sign: i64) -> Txn {
    match of(rec, sign) {
        Some(c) => txn.and_then(Op::put(delta_key(bucket), encode(&c))),
        None => txn,
    }
}

/// The op that removes every usage record of a bucket (bucket deletion).
pub(crate) fn delete_all_op(bucket: &str) -> Op {
    let start = prefix(bucket);
    let end = liuma_meta::prefix_end(&start);
    Op::DeleteRange { start, end }
}

fn clamp(c: Counts) -> BucketUsage {
    BucketUsage {
        objects: u64::try_from(c.objects.max(0)).unwrap_or(0),
        bytes: u64::try_from(c.bytes.max(0)).unwrap_or(0),
    }
}

impl Engine {
    /// The usage of `bucket` (NoSuchBucket when it does not exist). Cheap:
    /// one range read of its counter records, plus a one-time scan for a
    /// bucket that predates the counters.
    pub async fn bucket_usage(&self, bucket: &str) -> Result<BucketUsage> {
        self.bucket(bucket).await?;
        let start = prefix(bucket);
        let end = liuma_meta::prefix_end(&start);
        let bk = base_key(bucket);
        let rows = self.inner.meta.range(&start, &end, 0).await?;
        let mut base: Option<(Counts, u64)> = None;
        let mut total = Counts::default();
        let mut deltas = Vec::new();
        for kv in &rows {
            let c: Counts = decode(&kv.value)?;
            total.add(c);
            if kv.key == bk {
                base = Some((c, kv.mod_revision));
            } else {
                deltas.push((kv.key.clone(), c));
            }
        }
        let Some((base, rev)) = base else {
            return self.first_count(bucket).await;
        };
        if deltas.len() > FOLD_OVER {
            let mut folded = base;
            let batch = &deltas[..deltas.len().min(FOLD_BATCH)];
            let mut txn = Txn::new().when(Compare::ModRevision(bk.clone(), rev));
            for (k, c) in batch {
                folded.add(*c);
                txn = txn.and_then(Op::delete(k.clone()));
            }
            // a lost race (another reader folded) changes nothing: retry later
            let _ = self
                .inner
                .meta
                .txn(txn.and_then(Op::put(bk, encode(&folded))))
                .await?;
        }
        Ok(clamp(total))
    }

    /// Count a bucket with no base record by scanning its versions, and
    /// store the base.
    async fn first_count(&self, bucket: &str) -> Result<BucketUsage> {
        let vp = keys::versions_prefix(bucket, "");
        let vend = liuma_meta::prefix_end(&vp);
        let mut scanned = Counts::default();
        let mut from = vp.clone();
        loop {
            let page = self.inner.meta.range(&from, &vend, 1000).await?;
            for kv in &page {
                let rec: VersionRecord = decode(&kv.value)?;
                if let Some(c) = of(&rec, 1) {
                    scanned.add(c);
                }
            }
            match page.last() {
                Some(last) if page.len() == 1000 => from = liuma_meta::key_after(&last.key),
                _ => break,
            }
        }
        // deltas now present are (mostly) in the scan: the base is the
        // scan without them, so base + deltas = the scan
        let start = prefix(bucket);
        let end = liuma_meta::prefix_end(&start);
        let mut base = scanned;
        for kv in self.inner.meta.range(&start, &end, 0).await? {
            let c: Counts = decode(&kv.value)?;
            base.objects = base.objects.saturating_sub(c.objects);
            base.bytes = base.bytes.saturating_sub(c.bytes);
        }
        let bk = base_key(bucket);
        let txn = Txn::new()
            .when(Compare::Absent(bk.clone()))
            .and_then(Op::put(bk, encode(&base)));
        self.inner.meta.txn(txn).await?;
        Ok(clamp(scanned))
    }
}
