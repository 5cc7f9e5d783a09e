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
//!
//! Bytes on disks: a version written since they are counted carries its
//! `disk_bytes` (shard bytes of its distinct blocks as written, see
//! `VersionRecord::disk_bytes`); the deltas add them (`stored`) and the
//! logical bytes of such versions (`known_bytes`). The logical bytes of
//! the other versions (`bytes - known_bytes`: written before, counted in
//! old deltas or bases) are reported apart so a reader can estimate them;
//! no migration is needed, and the estimated share shrinks as old versions
//! are overwritten or deleted. A block shared by two objects is counted by
//! each: this is what the bucket's objects occupy before dedup across
//! objects (the cluster-wide physical figure is the stored-bytes metric).

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
    /// Bytes on the data disks of the versions whose figure is known
    /// (written since it is counted): compressed, erasure-coded or
    /// replicated, each distinct block once per version, before dedup
    /// across objects.
    pub stored_bytes: u64,
    /// Logical bytes of the versions whose bytes on disks are not known
    /// (written before they were counted): estimate them (e.g. × (k+m)/k).
    pub unknown_bytes: u64,
}

/// A base or delta record: signed changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Counts {
    objects: i64,
    bytes: i64,
    /// Logical bytes of versions whose `disk_bytes` is known.
    #[serde(default)]
    known_bytes: i64,
    /// Their bytes on disks.
    #[serde(default)]
    stored: i64,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.objects = self.objects.saturating_add(o.objects);
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.known_bytes = self.known_bytes.saturating_add(o.known_bytes);
        self.stored = self.stored.saturating_add(o.stored);
    }

    fn sub(&mut self, o: Counts) {
        self.objects = self.objects.saturating_sub(o.objects);
        self.bytes = self.bytes.saturating_sub(o.bytes);
        self.known_bytes = self.known_bytes.saturating_sub(o.known_bytes);
        self.stored = self.stored.saturating_sub(o.stored);
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
    let signed = |n: u64| sign.saturating_mul(i64::try_from(n).unwrap_or(i64::MAX));
    (!rec.delete_marker).then(|| Counts {
        objects: sign,
        bytes: signed(rec.size),
        known_bytes: rec.disk_bytes.map_or(0, |_| signed(rec.size)),
        stored: rec.disk_bytes.map_or(0, signed),
    })
}

/// Add to `txn` the delta of adding (`sign` 1) or removing (-1) `rec`.
pub(crate) fn delta_ops(txn: Txn, bucket: &str, rec: &VersionRecord, sign: i64) -> Txn {
    match of(rec, sign) {
        Some(c) => txn.and_then(Op::put(delta_key(bucket), encode(&c))),
        None => txn,
    }
}

/// Add to `txn` the delta of replacing `old` by `new` in place (a
/// re-encrypted version: same count and size, other bytes on disks); one
/// delta record, none when nothing changes.
pub(crate) fn replace_ops(txn: Txn, bucket: &str, old: &VersionRecord, new: &VersionRecord) -> Txn {
    let mut c = of(new, 1).unwrap_or_default();
    c.add(of(old, -1).unwrap_or_default());
    if c == Counts::default() {
        return txn;
    }
    txn.and_then(Op::put(delta_key(bucket), encode(&c)))
}

/// The op that removes every usage record of a bucket (bucket deletion).
pub(crate) fn delete_all_op(bucket: &str) -> Op {
    let start = prefix(bucket);
    let end = liuma_meta::prefix_end(&start);
    Op::DeleteRange { start, end }
}

fn clamp(c: Counts) -> BucketUsage {
    let pos = |n: i64| u64::try_from(n.max(0)).unwrap_or(0);
    BucketUsage {
        objects: pos(c.objects),
        bytes: pos(c.bytes),
        stored_bytes: pos(c.stored),
        unknown_bytes: pos(c.bytes.saturating_sub(c.known_bytes)),
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
            base.sub(c);
        }
        let bk = base_key(bucket);
        let txn = Txn::new()
            .when(Compare::Absent(bk.clone()))
            .and_then(Op::put(bk, encode(&base)));
        self.inner.meta.txn(txn).await?;
        Ok(clamp(scanned))
    }
}
