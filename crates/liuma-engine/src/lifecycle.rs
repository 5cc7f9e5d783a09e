//! Bucket lifecycle rules (S3 semantics) and the pass that applies them.
//!
//! A bucket's rules live in its record ([`crate::BucketInfo::lifecycle`]);
//! the S3 front end validates and converts them (AWS's error codes are its
//! business). The pass here applies the enabled rules as of a given time,
//! so tests drive it with a clock of their own:
//!
//! - **Expiration** (`Days` / `Date`) of a current version: deleted in a
//!   bucket that never had versioning; a delete marker is added where
//!   versioning is enabled or suspended (the version becomes noncurrent).
//!   `Days` count from the version's modification time and are rounded up
//!   to the next midnight UTC, as AWS does. A current delete marker that is
//!   the key's only version (an *expired object delete marker*) is removed
//!   by `ExpiredObjectDeleteMarker`, and by `Days` once it is old enough.
//! - **NoncurrentVersionExpiration**: a noncurrent version is removed
//!   `NoncurrentDays` (rounded up to midnight) after it *became* noncurrent,
//!   which is its successor's modification time, and only beyond the
//!   `NewerNoncurrentVersions` newest noncurrent versions.
//! - **AbortIncompleteMultipartUpload**: uploads initiated more than
//!   `DaysAfterInitiation` days ago (rounded up to midnight) are aborted.
//!
//! Every change is a compare-and-swap on the key's latest pointer, so a
//! client write racing the pass wins and the key is looked at again on the
//! next pass; two nodes acting on one key at once (a moment of disagreeing
//! cluster views) cannot both apply a rule. In a cluster each bucket has one
//! maintainer, the live node chosen by rendezvous hashing of the bucket
//! name ([`liuma_cluster::View::maintainer_of`]): only it runs the bucket's
//! rules.
//!
//! Tag filters are matched against the version's tags (the record's
//! `tags`, set by `x-amz-tagging` or PutObjectTagging).

use liuma_meta::{Compare, Op, Txn};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::keys;
use crate::metrics::Stats;
use crate::model::{BucketInfo, UploadRecord, VersionRecord, Versioning, decode, encode};
use crate::object::remove_version_ops;
use crate::scan::Pager;
use crate::{Error, Result};

/// One day in milliseconds.
pub const DAY_MS: u64 = 86_400_000;

/// Most rules in one bucket's configuration (AWS's limit).
pub const MAX_LIFECYCLE_RULES: usize = 1000;

/// One lifecycle rule, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    /// Rule id, unique in the bucket (≤ 255 characters).
    pub id: String,
    /// `Status` Enabled (true) or Disabled.
    pub enabled: bool,
    /// Which objects the rule applies to.
    pub filter: RuleFilter,
    /// What happens to current versions.
    pub expiration: Option<Expiration>,
    /// What happens to noncurrent versions.
    pub noncurrent: Option<NoncurrentExpiration>,
    /// Abort multipart uploads initiated this many days ago.
    pub abort_upload_days: Option<u32>,
}

/// How the rule's filter was written, so it reads back as it was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterForm {
    /// The legacy `<Prefix>` directly in the rule.
    RulePrefix,
    /// An empty `<Filter/>`: every object.
    Empty,
    /// `<Filter><Prefix>`.
    Prefix,
    /// `<Filter><Tag>`.
    Tag,
    /// `<Filter><ObjectSizeGreaterThan>`.
    SizeGreaterThan,
    /// `<Filter><ObjectSizeLessThan>`.
    SizeLessThan,
    /// `<Filter><And>` of several predicates.
    And,
}

/// The objects a rule applies to: every predicate must hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleFilter {
    /// How it was written.
    pub form: FilterForm,
    /// Key prefix ("" = every key).
    pub prefix: String,
    /// Tags the object must carry (key, value).
    pub tags: Vec<(String, String)>,
    /// The object must be larger than this many bytes.
    pub size_greater_than: Option<u64>,
    /// The object must be smaller than this many bytes.
    pub size_less_than: Option<u64>,
}

impl RuleFilter {
    /// Every object.
    pub fn all() -> RuleFilter {
        RuleFilter {
            form: FilterForm::Empty,
            prefix: String::new(),
            tags: Vec::new(),
            size_greater_than: None,
            size_less_than: None,
        }
    }

    /// Whether a version of `key` matches. `size` is None for delete
    /// markers: size predicates do not apply to them.
    pub fn matches(&self, key: &str, size: Option<u64>, tags: &[(String, String)]) -> bool {
        key.starts_with(&self.prefix)
            && self.tags.iter().all(|t| tags.contains(t))
            && size.is_none_or(|s| {
                self.size_greater_than.is_none_or(|g| s > g)
                    && self.size_less_than.is_none_or(|l| s < l)
            })
    }

    /// Whether the filter looks at anything but the key (uploads have no
    /// tags or final size yet, so such rules never abort them).
    fn needs_object(&self) -> bool {
        !self.tags.is_empty() || self.size_greater_than.is_some() || self.size_less_than.is_some()
    }
}

/// Expiration of current versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiration {
    /// This many days after the version was written (rounded up to midnight UTC).
    Days(u32),
    /// From this time on (ms since the epoch, a midnight UTC).
    Date(u64),
    /// Remove delete markers that are the only version of their key.
    ExpiredDeleteMarker,
}

/// Expiration of noncurrent versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    /// Days after the version became noncurrent.
    pub days: u32,
    /// Keep this many newest noncurrent versions whatever their age.
    pub newer_versions: Option<u32>,
}

/// The next midnight UTC at or after `ms`.
pub fn ceil_midnight(ms: u64) -> u64 {
    ms.div_ceil(DAY_MS).saturating_mul(DAY_MS)
}

/// When something `days` days after `since` is due: AWS adds the days and
/// rounds up to the next midnight UTC.
pub fn due_after(since: u64, days: u32) -> u64 {
    ceil_midnight(since.saturating_add(u64::from(days) * DAY_MS))
}

/// The tags of a version, for tag filters.
fn version_tags(rec: &VersionRecord) -> &[(String, String)] {
    &rec.tags
}

/// How a lifecycle pass runs.
#[derive(Clone, Copy, Debug)]
pub struct LifecycleOptions {
    /// The time the rules are evaluated at, ms since the epoch (the real
    /// time for the worker; tests pass a clock of their own).
    pub now_ms: u64,
    /// Most changes (expirations, removals, aborts) per second; 0 = unlimited.
    pub ops_per_sec: u32,
}

/// What one lifecycle pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LifecycleReport {
    /// Buckets with rules that this node maintains and went through.
    pub buckets: u64,
    /// Keys looked at.
    pub keys_checked: u64,
    /// Current versions expired (deleted, or made noncurrent by a delete marker).
    pub objects_expired: u64,
    /// Noncurrent versions removed.
    pub versions_expired: u64,
    /// Expired object delete markers removed.
    pub delete_markers_removed: u64,
    /// Incomplete multipart uploads aborted.
    pub uploads_aborted: u64,
    /// Changes that lost a race with a client (retried next pass).
    pub skipped: u64,
    /// Duration of the pass in milliseconds.
    pub duration_ms: u64,
}

/// Spaces changes out to `ops_per_sec`.
struct Pacer {
    ops_per_sec: u32,
    began: tokio::time::Instant,
    ops: u64,
}

impl Pacer {
    async fn tick(&mut self) {
        self.ops += 1;
        if self.ops_per_sec == 0 {
            return;
        }
        let due = self.began
            + std::time::Duration::from_secs_f64(self.ops as f64 / f64::from(self.ops_per_sec));
        tokio::time::sleep_until(due).await;
    }
}

/// The outcome of one guarded change.
enum Done {
    Applied,
    Raced,
}

impl Engine {
    /// The lifecycle rules of a bucket (empty when it has none).
    pub async fn lifecycle(&self, bucket: &str) -> Result<Vec<LifecycleRule>> {
        Ok(self.bucket(bucket).await?.lifecycle)
    }

    /// Replace a bucket's lifecycle rules (validated by the caller; empty removes them).
    pub async fn set_lifecycle(&self, bucket: &str, rules: Vec<LifecycleRule>) -> Result<()> {
        self.update_bucket(bucket, |b| {
            b.lifecycle.clone_from(&rules);
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Apply every bucket's enabled rules as of `opts.now_ms`, for the
    /// buckets this node maintains.
    pub async fn lifecycle_pass(&self, opts: LifecycleOptions) -> Result<LifecycleReport> {
        let began = std::time::Instant::now();
        let mut report = LifecycleReport::default();
        let mut pacer = Pacer {
            ops_per_sec: opts.ops_per_sec,
            began: tokio::time::Instant::now(),
            ops: 0,
        };
        for b in self.list_buckets().await? {
            let rules: Vec<LifecycleRule> =
                b.lifecycle.iter().filter(|r| r.enabled).cloned().collect();
            if rules.is_empty()
                || !self
                    .cluster()
                    .view()
                    .maintains_item("lifecycle", b.name.as_bytes())
            {
                continue;
            }
            report.buckets += 1;
            self.lifecycle_versions(&b, &rules, opts.now_ms, &mut pacer, &mut report)
                .await?;
            self.lifecycle_uploads(&b, &rules, opts.now_ms, &mut pacer, &mut report)
                .await?;
        }
        report.duration_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
        let s = &self.inner.stats;
        Stats::add(&s.lifecycle_objects_expired, report.objects_expired);
        Stats::add(
            &s.lifecycle_versions_expired,
            report.versions_expired + report.delete_markers_removed,
        );
        Stats::add(&s.lifecycle_uploads_aborted, report.uploads_aborted);
        Stats::add(&s.lifecycle_passes, 1);
        Stats::set(&s.lifecycle_last_pass_ms, report.duration_ms);
        Ok(report)
    }

    /// Walk every version of the keys the rules can touch, key by key.
    async fn lifecycle_versions(
        &self,
        b: &BucketInfo,
        rules: &[LifecycleRule],
        now: u64,
        pacer: &mut Pacer,
        report: &mut LifecycleReport,
    ) -> Result<()> {
        let acting: Vec<&LifecycleRule> = rules
            .iter()
            .filter(|r| r.expiration.is_some() || r.noncurrent.is_some())
            .collect();
        for prefix in scan_prefixes(acting.iter().map(|r| r.filter.prefix.as_str())) {
            let mut pager = Pager::prefix(&keys::versions_prefix(&b.name, prefix), 256);
            let mut key = String::new();
            let mut versions: Vec<VersionRecord> = Vec::new();
            while let Some(page) = pager.next(&self.inner.meta).await? {
                for kv in page {
                    let Some((k, _)) = keys::parse_version(&b.name, &kv.key) else {
                        continue;
                    };
                    if k != key && !versions.is_empty() {
                        let done = std::mem::take(&mut versions);
                        self.lifecycle_key(b, &key, done, &acting, now, pacer, report)
                            .await?;
                    }
                    key = k;
                    versions.push(decode(&kv.value)?);
                }
            }
            if !versions.is_empty() {
                self.lifecycle_key(b, &key, versions, &acting, now, pacer, report)
                    .await?;
            }
        }
        Ok(())
    }

    /// Apply the rules to one key; `versions` newest first.
    #[allow(clippy::too_many_arguments)]
    async fn lifecycle_key(
        &self,
        b: &BucketInfo,
        key: &str,
        versions: Vec<VersionRecord>,
        rules: &[&LifecycleRule],
        now: u64,
        pacer: &mut Pacer,
        report: &mut LifecycleReport,
    ) -> Result<()> {
        report.keys_checked += 1;
        // Decided on the scanned versions; a change reads the latest pointer
        // (one read per change, not per key) and is made only if the scan's
        // newest version is still current.
        let Some(latest) = versions.first() else {
            return Ok(());
        };
        let size = (!latest.delete_marker).then_some(latest.size);
        let matching = || {
            rules
                .iter()
                .filter(|r| r.filter.matches(key, size, version_tags(latest)))
        };
        let expire_current = if latest.delete_marker {
            versions.len() == 1
                && matching().any(|r| match r.expiration {
                    Some(Expiration::ExpiredDeleteMarker) => true,
                    Some(Expiration::Days(d)) => due_after(latest.modified_ms, d) <= now,
                    _ => false,
                })
        } else {
            matching().any(|r| match r.expiration {
                Some(Expiration::Days(d)) => due_after(latest.modified_ms, d) <= now,
                Some(Expiration::Date(t)) => t <= now,
                _ => false,
            })
        };
        if !expire_current {
            return self
                .expire_noncurrent(b, key, &versions, rules, now, pacer, report)
                .await;
        }
        pacer.tick().await;
        let Some(rev) = self.current_rev(b, key, latest).await? else {
            report.skipped += 1;
            return Ok(());
        };
        let done = if latest.delete_marker {
            self.remove_latest(b, key, latest, rev, None).await?
        } else if b.versioning == Versioning::Off {
            self.remove_latest(b, key, latest, rev, versions.get(1))
                .await?
        } else {
            self.add_expiry_marker(b, key, rev).await?
        };
        match (done, latest.delete_marker) {
            (Done::Applied, true) => report.delete_markers_removed += 1,
            (Done::Applied, false) => report.objects_expired += 1,
            (Done::Raced, _) => report.skipped += 1,
        }
        // The key changed: its noncurrent versions wait for the next pass.
        Ok(())
    }

    /// The revision of the key's latest pointer if `scanned` is still its
    /// current version (else a client changed the key since the scan).
    async fn current_rev(
        &self,
        b: &BucketInfo,
        key: &str,
        scanned: &VersionRecord,
    ) -> Result<Option<u64>> {
        Ok(self
            .latest(&b.name, key)
            .await?
            .filter(|(l, _)| l.vsort == scanned.vsort)
            .map(|(_, rev)| rev))
    }

    /// Remove noncurrent versions past their rules' age and rank.
    #[allow(clippy::too_many_arguments)]
    async fn expire_noncurrent(
        &self,
        b: &BucketInfo,
        key: &str,
        versions: &[VersionRecord],
        rules: &[&LifecycleRule],
        now: u64,
        pacer: &mut Pacer,
        report: &mut LifecycleReport,
    ) -> Result<()> {
        let mut rev = None;
        for (i, v) in versions.iter().enumerate().skip(1) {
            // It became noncurrent when its successor was written; `i` is its
            // rank among the noncurrent versions (1 = newest).
            let since = versions[i - 1].modified_ms;
            let size = (!v.delete_marker).then_some(v.size);
            let expired = rules.iter().any(|r| {
                let Some(nc) = r.noncurrent else { return false };
                r.filter.matches(key, size, version_tags(v))
                    && due_after(since, nc.days) <= now
                    && nc
                        .newer_versions
                        .is_none_or(|n| i > usize::try_from(n).unwrap_or(usize::MAX))
            });
            if !expired {
                continue;
            }
            pacer.tick().await;
            // Guarded by the latest pointer: the version is still noncurrent.
            let rev = match rev {
                Some(r) => r,
                None => match self.current_rev(b, key, &versions[0]).await? {
                    Some(r) => *rev.insert(r),
                    None => {
                        report.skipped += 1;
                        return Ok(());
                    }
                },
            };
            let lk = keys::latest(&b.name, key);
            let txn = remove_version_ops(
                Txn::new().when(Compare::ModRevision(lk, rev)),
                &b.name,
                key,
                v,
            );
            if self.inner.meta.txn(txn).await?.succeeded {
                report.versions_expired += 1;
            } else {
                report.skipped += 1;
                return Ok(());
            }
        }
        Ok(())
    }

    /// Remove the current version (an object in an unversioned bucket, or
    /// an expired delete marker); `next` becomes current if there is one.
    async fn remove_latest(
        &self,
        b: &BucketInfo,
        key: &str,
        latest: &VersionRecord,
        rev: u64,
        next: Option<&VersionRecord>,
    ) -> Result<Done> {
        let lk = keys::latest(&b.name, key);
        let txn = remove_version_ops(
            Txn::new().when(Compare::ModRevision(lk.clone(), rev)),
            &b.name,
            key,
            latest,
        );
        let txn = match next {
            Some(n) => txn.and_then(Op::put(lk, encode(n))),
            None => txn.and_then(Op::delete(lk)),
        };
        Ok(if self.inner.meta.txn(txn).await?.succeeded {
            Done::Applied
        } else {
            Done::Raced
        })
    }

    /// Put a delete marker over the current version, as a DELETE would
    /// (a "null" marker replacing the null version where versioning is
    /// suspended), only if the key's latest pointer is still at `rev`.
    async fn add_expiry_marker(&self, b: &BucketInfo, key: &str, rev: u64) -> Result<Done> {
        // The one commit path of versions, pinned to the revision this pass
        // decided on: a client write that ran meanwhile wins, no retry.
        let g = crate::object::Guard {
            pinned: Some(rev),
            ..crate::object::Guard::default()
        };
        let marker = VersionRecord::delete_marker(self.now_ms());
        Ok(
            match self.commit_version_guarded(b, key, marker, g).await? {
                Some(_) => Done::Applied,
                None => Done::Raced,
            },
        )
    }

    /// Abort the bucket's uploads that a rule's `DaysAfterInitiation` has passed.
    async fn lifecycle_uploads(
        &self,
        b: &BucketInfo,
        rules: &[LifecycleRule],
        now: u64,
        pacer: &mut Pacer,
        report: &mut LifecycleReport,
    ) -> Result<()> {
        let acting: Vec<&LifecycleRule> = rules
            .iter()
            .filter(|r| r.abort_upload_days.is_some() && !r.filter.needs_object())
            .collect();
        for prefix in scan_prefixes(acting.iter().map(|r| r.filter.prefix.as_str())) {
            let mut pager = Pager::prefix(&keys::uploads_prefix(&b.name, prefix), 256);
            while let Some(page) = pager.next(&self.inner.meta).await? {
                for kv in page {
                    let u: UploadRecord = decode(&kv.value)?;
                    let due = acting.iter().any(|r| {
                        u.key.starts_with(&r.filter.prefix)
                            && r.abort_upload_days
                                .is_some_and(|d| due_after(u.created_ms, d) <= now)
                    });
                    if !due {
                        continue;
                    }
                    pacer.tick().await;
                    match self.abort_multipart(&b.name, &u.key, &u.upload_id).await {
                        Ok(()) => report.uploads_aborted += 1,
                        Err(Error::NoSuchUpload { .. }) => report.skipped += 1,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(())
    }
}

/// The key prefixes to scan for rules with these prefixes: one scan of the
/// whole bucket when a rule covers every key, else each prefix not already
/// covered by a shorter one.
fn scan_prefixes<'a>(prefixes: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut all: Vec<&str> = prefixes.collect();
    all.sort_unstable();
    all.dedup();
    let mut out: Vec<&str> = Vec::new();
    for p in all {
        // Sorted: a covering prefix comes before everything it covers.
        if !out.last().is_some_and(|q| p.starts_with(q)) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(dir: &std::path::Path) -> Engine {
        let meta = liuma_meta::RedbStore::open(&dir.join("meta.redb")).expect("open redb");
        let disks = liuma_disk::ShardStore::open(&[liuma_disk::DiskConfig::new(dir.join("d0"))])
            .expect("disk");
        Engine::open(
            crate::EngineConfig::default(),
            meta,
            std::sync::Arc::new(disks),
        )
        .expect("open engine")
    }

    /// The expiry marker commits through `commit_version_guarded` pinned to
    /// the revision the pass read: a client write in between wins, and the
    /// marker is not written on top of it.
    #[tokio::test]
    async fn a_client_write_racing_the_expiry_wins() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        e.create_bucket("bkt", "owner").await.unwrap();
        e.set_versioning("bkt", Versioning::Enabled).await.unwrap();
        let put = |data: &'static str| {
            e.put_object(
                "bkt",
                "k",
                crate::body_from_bytes(data),
                crate::PutOptions::default(),
            )
        };
        put("old").await.unwrap();
        let (_, seen) = e.latest("bkt", "k").await.unwrap().unwrap();
        // The client writes after the pass read the key.
        put("new").await.unwrap();
        let b = e.bucket("bkt").await.unwrap();
        assert!(matches!(
            e.add_expiry_marker(&b, "k", seen).await.unwrap(),
            Done::Raced
        ));
        let (latest, now) = e.latest("bkt", "k").await.unwrap().unwrap();
        assert!(!latest.delete_marker, "the client's write stays current");
        assert_eq!(e.versions("bkt", "k").await.unwrap().len(), 2, "no marker");
        // At the current revision the marker goes on top.
        assert!(matches!(
            e.add_expiry_marker(&b, "k", now).await.unwrap(),
            Done::Applied
        ));
        let (latest, _) = e.latest("bkt", "k").await.unwrap().unwrap();
        assert!(latest.delete_marker);
        assert_eq!(e.versions("bkt", "k").await.unwrap().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_holds_the_rate() {
        let began = tokio::time::Instant::now();
        let mut p = Pacer {
            ops_per_sec: 10,
            began,
            ops: 0,
        };
        for _ in 0..5 {
            p.tick().await;
        }
        // Virtual time: 5 changes at 10/s take half a second.
        assert_eq!(began.elapsed(), std::time::Duration::from_millis(500));
        let mut free = Pacer {
            ops_per_sec: 0,
            began,
            ops: 0,
        };
        free.tick().await;
        assert_eq!(began.elapsed(), std::time::Duration::from_millis(500));
    }

    #[test]
    fn days_round_up_to_midnight() {
        // 2014-01-15 10:30 UTC + 3 days → 2014-01-19 00:00 UTC (AWS's example).
        let created = 1_389_781_800_000;
        assert_eq!(due_after(created, 3), 1_390_089_600_000);
        // Exactly midnight stays midnight.
        assert_eq!(due_after(DAY_MS * 10, 1), DAY_MS * 11);
        assert_eq!(ceil_midnight(DAY_MS * 10 + 1), DAY_MS * 11);
    }

    #[test]
    fn prefixes_to_scan() {
        assert_eq!(
            scan_prefixes(["logs/", "logs/a", "tmp/", "logs/"].into_iter()),
            vec!["logs/", "tmp/"]
        );
        assert_eq!(scan_prefixes(["a", "", "b"].into_iter()), vec![""]);
        assert!(scan_prefixes(std::iter::empty()).is_empty());
    }

    #[test]
    fn filters_match_key_size_and_tags() {
        let mut f = RuleFilter::all();
        assert!(f.matches("any", Some(0), &[]));
        f.prefix = "logs/".into();
        f.size_greater_than = Some(10);
        f.size_less_than = Some(100);
        assert!(f.matches("logs/a", Some(50), &[]));
        assert!(!f.matches("logs/a", Some(10), &[]));
        assert!(!f.matches("logs/a", Some(100), &[]));
        assert!(!f.matches("other", Some(50), &[]));
        // Delete markers: size predicates do not apply.
        assert!(f.matches("logs/a", None, &[]));
        f.tags = vec![("k".into(), "v".into())];
        assert!(!f.matches("logs/a", Some(50), &[]));
        assert!(f.matches(
            "logs/a",
            Some(50),
            &[("x".into(), "y".into()), ("k".into(), "v".into())]
        ));
        assert!(f.needs_object());
    }
}
