//! Sorting a whole folder (one prefix, not recursive), not just the page
//! loaded: S3 lists in key order only, so the console lists every entry of
//! the prefix server-side (pages of 1 000, as the session's key), up to
//! [`SORT_BOUND`] entries and within [`SORT_DEADLINE`], sorts them by
//! name, size or date and pages the sorted result back (`offset`). The
//! listing is kept for the session a short while ([`KEEP`]) so "Load
//! more" pages through the same sorted list instead of listing again; the
//! first page always lists afresh. Past the bound or the deadline the
//! answer says so in words and the page keeps key-order paging.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

/// Entries (objects and folders) listed at most for a sorted view.
pub(crate) const SORT_BOUND: usize = 20_000;
/// How long listing a folder for a sorted view may take.
pub(crate) const SORT_DEADLINE: Duration = Duration::from_secs(5);
/// How long a sorted listing is kept for the next pages.
const KEEP: Duration = Duration::from_secs(60);
/// Entries kept over all sorted listings (one listing per session; the
/// oldest goes first): 200 000 entries, some tens of MB at most.
const KEPT_ENTRIES: usize = 10 * SORT_BOUND;

/// One object of a listing.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub size: u64,
    pub modified: String,
    pub etag: String,
}

impl Entry {
    pub(crate) fn json(&self) -> Value {
        json!({"key": self.key, "size": self.size, "modified": self.modified, "etag": self.etag})
    }
}

/// A whole folder: its sub-folders and objects.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub folders: Vec<String>,
    pub objects: Vec<Entry>,
}

/// The orders the page offers (`-` first: descending).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Sort {
    Name,
    Size,
    Modified,
}

/// `name`, `-size`, ... → the order and whether descending.
pub(crate) fn parse_sort(s: &str) -> Option<(Sort, bool)> {
    let (desc, name) = match s.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, s),
    };
    let by = match name {
        "name" => Sort::Name,
        "size" => Sort::Size,
        "modified" => Sort::Modified,
        _ => return None,
    };
    Some((by, desc))
}

/// Sort `l` (folders stay first, by name; ties by key, so pages are stable).
pub(crate) fn sort_listing(l: &mut Listing, by: Sort, desc: bool) {
    l.folders.sort();
    if desc && by == Sort::Name {
        l.folders.reverse();
    }
    l.objects.sort_by(|a, b| {
        let o = match by {
            Sort::Name => std::cmp::Ordering::Equal,
            Sort::Size => a.size.cmp(&b.size),
            // ISO 8601 UTC times: text order is time order
            Sort::Modified => a.modified.cmp(&b.modified),
        }
        .then_with(|| a.key.cmp(&b.key));
        if desc { o.reverse() } else { o }
    });
}

/// (access key, bucket, prefix, order, descending).
type CacheKey = (String, String, String, Sort, bool);
/// A kept listing: what it lists, when, and the sorted entries.
type Kept = (CacheKey, Instant, Arc<Listing>);

/// Sorted listings kept per session.
#[derive(Debug, Default)]
pub struct SortCache {
    map: Mutex<HashMap<String, Kept>>,
}

impl SortCache {
    fn get(&self, session: &str, k: &CacheKey) -> Option<Arc<Listing>> {
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(session)
            .filter(|(key, at, _)| key == k && at.elapsed() < KEEP)
            .map(|(_, _, l)| l.clone())
    }

    fn put(&self, session: &str, k: CacheKey, l: Arc<Listing>) {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, (_, at, _)| at.elapsed() < KEEP);
        map.remove(session);
        let size = |l: &Listing| l.folders.len() + l.objects.len();
        let mut held: usize = map.values().map(|(_, _, l)| size(l)).sum();
        while held + size(&l) > KEPT_ENTRIES {
            let Some(old) = map
                .iter()
                .min_by_key(|(_, (_, at, _))| *at)
                .map(|(s, _)| s.clone())
            else {
                break;
            };
            if let Some((_, _, gone)) = map.remove(&old) {
                held -= size(&gone);
            }
        }
        map.insert(session.to_owned(), (k, Instant::now(), l));
    }
}

/// Why a folder is not sorted whole.
pub(crate) enum TooBig {
    Entries,
    Slow,
}

/// Every entry of `prefix` in `bucket` (one level), as the session's key;
/// `Err` past [`SORT_BOUND`] entries or [`SORT_DEADLINE`].
async fn list_whole(
    c: &Console,
    s: &Session,
    bucket: &str,
    prefix: &str,
) -> ApiResult<Result<Listing, TooBig>> {
    let began = Instant::now();
    let mut l = Listing::default();
    let mut token = String::new();
    loop {
        let mut k = call(Method::GET, bucket, "");
        k.query = format!(
            "list-type=2&max-keys=1000&delimiter=%2F&prefix={}",
            q(prefix)
        );
        if !token.is_empty() {
            k.query
                .push_str(&format!("&continuation-token={}", q(&token)));
        }
        let root = xml_of(&run(c, s, k).await?)?;
        l.folders.extend(
            root.all("CommonPrefixes")
                .map(|p| p.text_of("Prefix").to_owned()),
        );
        l.objects.extend(root.all("Contents").map(|o| Entry {
            key: o.text_of("Key").to_owned(),
            size: o.text_of("Size").parse::<u64>().unwrap_or(0),
            modified: o.text_of("LastModified").to_owned(),
            etag: o.text_of("ETag").to_owned(),
        }));
        if l.folders.len() + l.objects.len() > SORT_BOUND {
            return Ok(Err(TooBig::Entries));
        }
        if root.text_of("IsTruncated") != "true" {
            return Ok(Ok(l));
        }
        if began.elapsed() > SORT_DEADLINE {
            return Ok(Err(TooBig::Slow));
        }
        token = root.text_of("NextContinuationToken").to_owned();
        if token.is_empty() {
            return Ok(Ok(l));
        }
    }
}

/// A page of the folder sorted whole: `{"sorted": true, "folders" (first
/// page only), "objects", "next_offset", "total"}`, or `{"sorted": false,
/// "reason"}` when the folder is too big or slow to sort whole.
pub(super) async fn sorted_page(
    c: &Console,
    h: &HeaderMap,
    s: &Session,
    bucket: &str,
    prefix: &str,
    (by, desc): (Sort, bool),
    (offset, max): (usize, usize),
) -> ApiResult<Value> {
    let sid = cookie_id(h).unwrap_or_default();
    let key: CacheKey = (
        s.access_key.clone(),
        bucket.to_owned(),
        prefix.to_owned(),
        by,
        desc,
    );
    let kept = if offset > 0 {
        c.sorted.get(&sid, &key)
    } else {
        None
    };
    let l = match kept {
        Some(l) => l,
        None => match list_whole(c, s, bucket, prefix).await? {
            Ok(mut l) => {
                sort_listing(&mut l, by, desc);
                let l = Arc::new(l);
                c.sorted.put(&sid, key, l.clone());
                l
            }
            Err(why) => {
                let reason = match why {
                    TooBig::Entries => format!(
                        "This folder has more than {} entries: it is listed in name order, page by page, and the order you chose applies to the rows loaded.",
                        SORT_BOUND
                    ),
                    TooBig::Slow => format!(
                        "Listing this folder took over {} s: it is listed in name order, page by page, and the order you chose applies to the rows loaded.",
                        SORT_DEADLINE.as_secs()
                    ),
                };
                return Ok(json!({"sorted": false, "reason": reason}));
            }
        },
    };
    // folders first (on the first page), then objects
    let folders: &[String] = if offset == 0 { &l.folders } else { &[] };
    let objs_from = offset.saturating_sub(if offset == 0 { 0 } else { l.folders.len() });
    let room = max.saturating_sub(folders.len());
    let objects: Vec<Value> = l
        .objects
        .iter()
        .skip(objs_from)
        .take(room)
        .map(Entry::json)
        .collect();
    let shown_to = if offset == 0 {
        l.folders.len() + objects.len()
    } else {
        offset + objects.len()
    };
    let total = l.folders.len() + l.objects.len();
    Ok(json!({
        "sorted": true,
        "prefix": prefix,
        "folders": folders,
        "objects": objects,
        "next_token": null,
        "next_offset": (shown_to < total).then_some(shown_to),
        "total": total,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(key: &str, size: u64, modified: &str) -> Entry {
        Entry {
            key: key.into(),
            size,
            modified: modified.into(),
            etag: String::new(),
        }
    }

    #[test]
    fn sorts_folders_first_then_objects_with_ties_by_key() {
        let mut l = Listing {
            folders: vec!["p/b/".into(), "p/a/".into()],
            objects: vec![
                e("p/x", 5, "2026-01-02T00:00:00.000Z"),
                e("p/y", 9, "2026-01-01T00:00:00.000Z"),
                e("p/w", 5, "2026-01-03T00:00:00.000Z"),
            ],
        };
        sort_listing(&mut l, Sort::Size, true);
        assert_eq!(l.folders, ["p/a/", "p/b/"]);
        let keys: Vec<&str> = l.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["p/y", "p/x", "p/w"]);
        sort_listing(&mut l, Sort::Modified, false);
        let keys: Vec<&str> = l.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["p/y", "p/x", "p/w"]);
        sort_listing(&mut l, Sort::Name, true);
        assert_eq!(l.folders, ["p/b/", "p/a/"]);
        let keys: Vec<&str> = l.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["p/y", "p/x", "p/w"]);
    }

    #[test]
    fn sort_names_parse() {
        assert_eq!(parse_sort("-size"), Some((Sort::Size, true)));
        assert_eq!(parse_sort("modified"), Some((Sort::Modified, false)));
        assert_eq!(parse_sort("name"), Some((Sort::Name, false)));
        assert_eq!(parse_sort("colour"), None);
    }

    #[test]
    fn the_cache_is_per_session_and_per_listing() {
        let c = SortCache::default();
        let k: CacheKey = ("ak".into(), "b".into(), "p/".into(), Sort::Size, true);
        c.put("s1", k.clone(), Arc::new(Listing::default()));
        assert!(c.get("s1", &k).is_some());
        assert!(c.get("s2", &k).is_none());
        let other: CacheKey = ("ak".into(), "b".into(), "q/".into(), Sort::Size, true);
        assert!(c.get("s1", &other).is_none());
    }

    #[test]
    fn the_cache_holds_a_bounded_number_of_entries_dropping_the_oldest() {
        let c = SortCache::default();
        let big = || {
            Arc::new(Listing {
                folders: Vec::new(),
                objects: vec![e("k", 1, ""); SORT_BOUND],
            })
        };
        let k: CacheKey = ("ak".into(), "b".into(), "p/".into(), Sort::Size, true);
        for i in 0..12 {
            c.put(&format!("s{i}"), k.clone(), big());
        }
        assert!(c.get("s0", &k).is_none() && c.get("s1", &k).is_none());
        assert!(c.get("s2", &k).is_some() && c.get("s11", &k).is_some());
    }
}
