//! Parsed policies, cached by their text.
//!
//! The access decision needs the caller's identity policies and the
//! bucket's policy as [`Policy`] values; parsing their JSON on every
//! request (and, for ListBuckets, for every bucket) was most of a
//! non-root request's decision cost. Parsing depends only on the text
//! and, for a bucket policy, the bucket's name, so the cache is keyed by
//! exactly those: a policy changed, or set on another bucket, is another
//! key, and nothing can go stale — no invalidation is needed. The cache
//! is process-wide and bounded by the bytes of its keys: past
//! [`MAX_KEY_BYTES`] it is emptied and refills with what is in use.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use liuma_policy::{Policy, PolicyKind};

/// Key bytes the cache holds at most (a policy is at most 20 KiB).
const MAX_KEY_BYTES: usize = 4 << 20;

/// One cache: parsed values by key text.
struct Cache<V> {
    map: HashMap<String, V>,
    key_bytes: usize,
}

impl<V: Clone> Cache<V> {
    fn new() -> Self {
        Cache {
            map: HashMap::new(),
            key_bytes: 0,
        }
    }

    fn get_or_parse(cell: &Mutex<Self>, key: String, parse: impl FnOnce() -> V) -> V {
        if let Some(v) = lock(cell).map.get(&key) {
            return v.clone();
        }
        // Parsed outside the lock: two requests may both parse a new
        // policy once; neither waits for the other.
        let v = parse();
        let mut c = lock(cell);
        if c.key_bytes + key.len() > MAX_KEY_BYTES {
            c.map.clear();
            c.key_bytes = 0;
        }
        c.key_bytes += key.len();
        c.map.insert(key, v.clone());
        v
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Only parse results are inside: a panic elsewhere leaves them valid.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

static BUCKET: LazyLock<Mutex<Cache<Option<Arc<Policy>>>>> =
    LazyLock::new(|| Mutex::new(Cache::new()));
static IDENTITY: LazyLock<Mutex<Cache<Arc<Vec<Policy>>>>> =
    LazyLock::new(|| Mutex::new(Cache::new()));

/// The bucket policy `text` of `bucket`, parsed (None: it does not parse;
/// `on_error` was told why, once per parse).
pub(crate) fn bucket_policy(
    bucket: &str,
    text: &str,
    on_error: impl FnOnce(&liuma_policy::PolicyError),
) -> Option<Arc<Policy>> {
    // Bucket names hold no newline: the key is unambiguous.
    let key = format!("{bucket}\n{text}");
    Cache::get_or_parse(&BUCKET, key, || {
        match Policy::parse(text, PolicyKind::Bucket { bucket }) {
            Ok(p) => Some(Arc::new(p)),
            Err(e) => {
                on_error(&e);
                None
            }
        }
    })
}

/// A user's identity policies (name, text), parsed; those that do not
/// parse are left out (`on_error` was told, with the policy's name).
pub(crate) fn identity_policies<'a>(
    policies: impl Iterator<Item = (&'a String, &'a String)> + Clone,
    on_error: impl Fn(&str, &liuma_policy::PolicyError),
) -> Arc<Vec<Policy>> {
    // Names hold no NUL and JSON text holds no raw NUL: unambiguous.
    let mut key = String::new();
    for (name, text) in policies.clone() {
        key.push_str(name);
        key.push('\0');
        key.push_str(text);
        key.push('\0');
    }
    Cache::get_or_parse(&IDENTITY, key, || {
        Arc::new(
            policies
                .filter_map(
                    |(name, text)| match Policy::parse(text, PolicyKind::Identity) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            on_error(name.as_str(), &e);
                            None
                        }
                    },
                )
                .collect(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(action: &str, bucket: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"{action}","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
        )
    }

    #[test]
    fn same_text_same_parse_changed_text_parsed_again() {
        let text = policy("s3:GetObject", "pc-a");
        let a = bucket_policy("pc-a", &text, |_| panic!("parses")).unwrap();
        let again = bucket_policy("pc-a", &text, |_| panic!("parses")).unwrap();
        assert!(Arc::ptr_eq(&a, &again), "served from the cache");
        let changed = policy("s3:PutObject", "pc-a");
        let b = bucket_policy("pc-a", &changed, |_| panic!("parses")).unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        let fresh = Policy::parse(&changed, PolicyKind::Bucket { bucket: "pc-a" }).unwrap();
        assert_ne!(format!("{a:?}"), format!("{b:?}"), "not served stale");
        assert_eq!(format!("{b:?}"), format!("{fresh:?}"));
    }

    #[test]
    fn the_bucket_is_part_of_the_key() {
        // Valid for pc-b, not for pc-c (its resource names another bucket).
        let text = policy("s3:GetObject", "pc-b");
        assert!(bucket_policy("pc-b", &text, |_| panic!("parses")).is_some());
        let mut told = 0;
        assert!(bucket_policy("pc-c", &text, |_| told += 1).is_none());
        assert_eq!(told, 1);
    }

    #[test]
    fn identity_sets_drop_what_does_not_parse() {
        let good = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#.to_owned();
        let bad = "not json".to_owned();
        let (n1, n2) = ("good".to_owned(), "bad".to_owned());
        let set = [(&n1, &good), (&n2, &bad)];
        let bad_names = Mutex::new(Vec::new());
        let p = identity_policies(set.iter().copied(), |name, _| {
            lock(&bad_names).push(name.to_owned())
        });
        assert_eq!(p.len(), 1);
        assert_eq!(*lock(&bad_names), vec!["bad".to_owned()]);
        let again = identity_policies(set.iter().copied(), |_, _| panic!("cached"));
        assert!(Arc::ptr_eq(&p, &again));
    }
}
