//! Listing: current objects (ListObjects v1/v2) and all versions, with
//! prefix, delimiter (common prefixes), markers and max-keys. Each listing
//! is one ordered range scan; a common prefix is skipped over in one jump.

use crate::engine::Engine;
use crate::keys;
use crate::listed::Listed;
use crate::object::ObjectInfo;
use crate::{Error, Result};

/// Parameters of an object listing.
#[derive(Clone, Debug, Default)]
pub struct ListParams {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up to the first delimiter after the prefix into common prefixes.
    pub delimiter: Option<String>,
    /// List keys after this key (or common prefix); v1 marker, v2 start-after/token.
    pub start_after: Option<String>,
    /// At most this many objects + common prefixes (S3 caps it at 1000).
    pub max_keys: usize,
}

/// One page of an object listing.
#[derive(Clone, Debug, Default)]
pub struct ListResult {
    /// Objects, in key order: key, version id, size, ETag, modification
    /// time, parts, owner and tag count; metadata, ACL and checksums are
    /// not read (HEAD has them).
    pub objects: Vec<ObjectInfo>,
    /// Common prefixes, in order.
    pub common_prefixes: Vec<String>,
    /// True when more entries follow.
    pub is_truncated: bool,
    /// The last key or common prefix returned: pass it as `start_after` to continue.
    pub next_marker: Option<String>,
}

/// Parameters of a version listing.
#[derive(Clone, Debug, Default)]
pub struct ListVersionsParams {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up into common prefixes.
    pub delimiter: Option<String>,
    /// Continue after this key...
    pub key_marker: Option<String>,
    /// ...and, within it, after this version.
    pub version_id_marker: Option<String>,
    /// At most this many versions + common prefixes.
    pub max_keys: usize,
    /// Decode whole records (metadata, checksums, ACL, encryption) instead
    /// of the listing fields only: for callers that show metadata (the
    /// native API's file info), at the cost of a slower listing.
    pub full_records: bool,
}

/// One page of a version listing.
#[derive(Clone, Debug, Default)]
pub struct ListVersionsResult {
    /// Versions and delete markers, by key then newest first (the same
    /// fields as [`ListResult::objects`], plus whether each is the latest).
    pub versions: Vec<ObjectInfo>,
    /// Common prefixes.
    pub common_prefixes: Vec<String>,
    /// True when more entries follow.
    pub is_truncated: bool,
    /// Continue with this key marker...
    pub next_key_marker: Option<String>,
    /// ...and this version id marker.
    pub next_version_id_marker: Option<String>,
}

/// If `key` rolls up into a common prefix, that prefix.
fn common_prefix<'a>(key: &'a str, prefix: &str, delimiter: Option<&str>) -> Option<&'a str> {
    let d = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    rest.find(d).map(|pos| &key[..prefix.len() + pos + d.len()])
}

/// Scan state shared by both listings: where to resume and what was emitted.
struct Page {
    count: usize,
    max: usize,
    truncated: bool,
}

impl Page {
    /// Room for one more entry? If not, mark truncated (another one exists).
    fn admit(&mut self) -> bool {
        if self.count >= self.max {
            self.truncated = true;
            false
        } else {
            self.count += 1;
            true
        }
    }
}

const SCAN_PAGE: usize = 1000;

impl Engine {
    /// List the current (non-deleted) objects of a bucket.
    #[tracing::instrument(skip(self), level = "debug")]
    pub async fn list_objects(&self, bucket: &str, p: &ListParams) -> Result<ListResult> {
        self.bucket(bucket).await?;
        let mut out = ListResult::default();
        if p.max_keys == 0 {
            return Ok(out);
        }
        let base_len = keys::latest_bucket_prefix_len(bucket);
        let first = keys::latest(bucket, &p.prefix);
        let end = liuma_meta::prefix_end(&first);
        let mut start = first;
        if let Some(marker) = p.start_after.as_deref().filter(|m| !m.is_empty()) {
            let resume = resume_after(
                bucket,
                marker,
                &p.prefix,
                p.delimiter.as_deref(),
                keys::latest,
            );
            start = start.max(resume);
        }
        let mut page = Page {
            count: 0,
            max: p.max_keys,
            truncated: false,
        };
        // The marker is the last entry admitted: a common prefix sets it
        // at once; for objects it is taken from the last one at the end
        // (not copied for every object of the page).
        let mut marker_is_last_object = false;
        'scan: loop {
            let rows = self
                .inner
                .meta
                .range_packed(&start, &end, SCAN_PAGE)
                .await?;
            let full = rows.len() == SCAN_PAGE;
            let Some(last) = rows.last_key() else { break };
            let mut next_start = liuma_meta::key_after(last);
            for (row_key, value) in rows.iter() {
                let key = row_key.get(base_len..).ok_or_else(|| {
                    Error::internal(std::io::Error::other("malformed object key"))
                })?;
                let key = std::str::from_utf8(key).map_err(Error::internal)?;
                if let Some(cp) = common_prefix(key, &p.prefix, p.delimiter.as_deref()) {
                    if !page.admit() {
                        break 'scan;
                    }
                    out.common_prefixes.push(cp.to_owned());
                    out.next_marker = Some(cp.to_owned());
                    marker_is_last_object = false;
                    next_start = liuma_meta::prefix_end(&keys::latest(bucket, cp));
                    start = next_start;
                    continue 'scan;
                }
                let rec = Listed::decode(value)?;
                if rec.delete_marker {
                    continue;
                }
                if !page.admit() {
                    break 'scan;
                }
                out.objects.push(rec.info(bucket, key, true));
                marker_is_last_object = true;
            }
            if !full {
                break;
            }
            start = next_start;
        }
        if marker_is_last_object {
            out.next_marker = out.objects.last().map(|o| o.key.clone());
        }
        out.is_truncated = page.truncated;
        Ok(out)
    }

    /// List every version and delete marker of a bucket.
    #[tracing::instrument(skip(self), level = "debug")]
    pub async fn list_versions(
        &self,
        bucket: &str,
        p: &ListVersionsParams,
    ) -> Result<ListVersionsResult> {
        self.bucket(bucket).await?;
        let mut out = ListVersionsResult::default();
        if p.max_keys == 0 {
            return Ok(out);
        }
        let first = keys::versions_prefix(bucket, &p.prefix);
        let end = liuma_meta::prefix_end(&first);
        let mut start = first;
        // The key whose newest version was already seen (so later ones are not latest).
        let mut seen_key: Option<String> = None;
        if let Some(km) = p.key_marker.as_deref().filter(|m| !m.is_empty()) {
            match p.version_id_marker.as_deref().filter(|v| !v.is_empty()) {
                Some(vid) => {
                    let vsort = self.vsort_of(bucket, km, vid).await?;
                    start = start.max(liuma_meta::key_after(&keys::version(bucket, km, &vsort)));
                    seen_key = Some(km.to_owned());
                }
                None => {
                    let resume = resume_after(
                        bucket,
                        km,
                        &p.prefix,
                        p.delimiter.as_deref(),
                        keys::versions_of,
                    );
                    start = start.max(resume);
                }
            }
        }
        let mut page = Page {
            count: 0,
            max: p.max_keys,
            truncated: false,
        };
        // As in `list_objects`: a version's markers are set once, at the end.
        let mut marker_is_last_version = false;
        'scan: loop {
            let rows = self
                .inner
                .meta
                .range_packed(&start, &end, SCAN_PAGE)
                .await?;
            let full = rows.len() == SCAN_PAGE;
            let Some(last) = rows.last_key() else { break };
            let mut next_start = liuma_meta::key_after(last);
            for (row_key, value) in rows.iter() {
                let (key, _) = keys::parse_version(bucket, row_key).ok_or_else(|| {
                    Error::internal(std::io::Error::other("malformed version key"))
                })?;
                if let Some(cp) = common_prefix(&key, &p.prefix, p.delimiter.as_deref()) {
                    if !page.admit() {
                        break 'scan;
                    }
                    out.common_prefixes.push(cp.to_owned());
                    out.next_key_marker = Some(cp.to_owned());
                    out.next_version_id_marker = None;
                    marker_is_last_version = false;
                    next_start = liuma_meta::prefix_end(&keys::versions_prefix(bucket, cp));
                    start = next_start;
                    continue 'scan;
                }
                if !page.admit() {
                    break 'scan;
                }
                let is_latest = seen_key.as_deref() != Some(key.as_str());
                let info = if p.full_records {
                    let rec: crate::model::VersionRecord = crate::model::decode(value)?;
                    ObjectInfo::from_record(bucket, &key, &rec, is_latest)
                } else {
                    Listed::decode(value)?.info(bucket, &key, is_latest)
                };
                out.versions.push(info);
                marker_is_last_version = true;
                seen_key = Some(key);
            }
            if !full {
                break;
            }
            start = next_start;
        }
        if marker_is_last_version && let Some(v) = out.versions.last() {
            out.next_key_marker = Some(v.key.clone());
            out.next_version_id_marker = Some(v.version_id.clone());
        }
        out.is_truncated = page.truncated;
        if !out.is_truncated {
            out.next_key_marker = None;
            out.next_version_id_marker = None;
        }
        Ok(out)
    }

    async fn vsort_of(&self, bucket: &str, key: &str, vid: &str) -> Result<String> {
        if vid == "null" {
            let v = self.versions(bucket, key).await?;
            return Ok(v
                .into_iter()
                .find(|v| v.null_version)
                .map(|v| v.vsort)
                .unwrap_or_default());
        }
        crate::model::check_version_id(key, vid)?;
        Ok(vid.to_owned())
    }
}

/// First scan key after `marker`: past the whole common prefix when the
/// marker is one, else just past the key (all its versions for version scans).
fn resume_after(
    bucket: &str,
    marker: &str,
    prefix: &str,
    delimiter: Option<&str>,
    key_fn: fn(&str, &str) -> Vec<u8>,
) -> Vec<u8> {
    if let Some(cp) = common_prefix(marker, prefix, delimiter)
        && cp.len() == marker.len()
    {
        return liuma_meta::prefix_end(&key_fn(bucket, cp));
    }
    let k = key_fn(bucket, marker);
    if k.last() == Some(&0) {
        // versions_of(key) ends with NUL: skip every version of that key
        liuma_meta::prefix_end(&k)
    } else {
        liuma_meta::key_after(&k)
    }
}

#[cfg(test)]
mod tests {
    use super::common_prefix;

    #[test]
    fn common_prefixes() {
        assert_eq!(common_prefix("a/b/c", "", Some("/")), Some("a/"));
        assert_eq!(common_prefix("a/b/c", "a/", Some("/")), Some("a/b/"));
        assert_eq!(common_prefix("a/b", "a/", Some("/")), None);
        assert_eq!(common_prefix("a/b", "", None), None);
        assert_eq!(common_prefix("x--y--z", "", Some("--")), Some("x--"));
    }
}
