//! [`CachedStore`]: a read cache in front of any [`MetaStore`] for a few
//! small, hot, rarely written prefixes (access keys, buckets), kept
//! coherent by a watch on each prefix.
//!
//! Every S3 request reads its access key and bucket record; on etcd each
//! read is a network round trip. The cache answers `get` for keys under the
//! cached prefixes from memory, and forgets a key:
//! - at once when this process writes it (any txn naming the key, whether
//!   it succeeded or not, so a CAS retry reads fresh data);
//! - when the watch reports a change made by another node (milliseconds);
//! - entirely whenever the watch is not running (start, lag, etcd outage):
//!   then every read goes to the store, as without the cache.
//!
//! A generation counter closes the race between a read in flight and an
//! invalidation: a value read before a change is never cached after it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::store::{
    Compare, DynMetaStore, KeyValue, LeaseId, MetaStore, Op, Txn, TxnResponse, Watch,
};
use crate::{Health, PackedRows, Result};

/// Entries kept per prefix at most (beyond, reads go to the store).
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
struct PrefixState {
    /// The watch is running: cached entries are trustworthy.
    live: bool,
    /// Bumped on every invalidation.
    generation: u64,
    /// Key → value (None: known absent).
    entries: HashMap<Vec<u8>, Option<KeyValue>>,
}

/// A [`MetaStore`] that caches `get` under some prefixes (see the module docs).
pub struct CachedStore {
    inner: DynMetaStore,
    prefixes: Vec<(Vec<u8>, Mutex<PrefixState>)>,
}

impl CachedStore {
    /// Wrap `inner`, caching reads of keys under `prefixes`. Needs a tokio
    /// runtime for the watches; without one nothing is cached.
    pub fn wrap(inner: DynMetaStore, prefixes: &[&[u8]]) -> Arc<CachedStore> {
        let store = Arc::new(CachedStore {
            inner,
            prefixes: prefixes
                .iter()
                .map(|p| (p.to_vec(), Mutex::new(PrefixState::default())))
                .collect(),
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            for i in 0..store.prefixes.len() {
                rt.spawn(watch_loop(Arc::downgrade(&store), i));
            }
        }
        store
    }

    fn slot(&self, key: &[u8]) -> Option<&Mutex<PrefixState>> {
        self.prefixes
            .iter()
            .find(|(p, _)| key.starts_with(p))
            .map(|(_, s)| s)
    }

    fn invalidate(&self, key: &[u8]) {
        if let Some(slot) = self.slot(key) {
            let mut s = slot.lock().expect("cache lock");
            s.generation += 1;
            s.entries.remove(key);
        }
    }

    /// The cached keys a transaction names (compares and both branches),
    /// and whether it deletes a range (then every cached entry goes).
    /// Only keys under cached prefixes are copied: most writes name none.
    fn touched(&self, txn: &Txn) -> (Vec<Vec<u8>>, bool) {
        let compared = txn.compares.iter().map(|c| {
            let (Compare::Absent(k)
            | Compare::Exists(k)
            | Compare::ModRevision(k, _)
            | Compare::Value(k, _)) = c;
            k
        });
        let mut range = false;
        let written = txn
            .success
            .iter()
            .chain(&txn.failure)
            .filter_map(|op| match op {
                Op::Put { key, .. } | Op::Delete { key } => Some(key),
                Op::DeleteRange { .. } => {
                    range = true;
                    None
                }
            });
        let keys = compared
            .chain(written)
            .filter(|k| self.slot(k).is_some())
            .cloned()
            .collect();
        (keys, range)
    }

    /// Forget what [`Self::touched`] found.
    fn forget(&self, (keys, range): &(Vec<Vec<u8>>, bool)) {
        for k in keys {
            self.invalidate(k);
        }
        if *range {
            for (_, slot) in &self.prefixes {
                let mut s = slot.lock().expect("cache lock");
                s.generation += 1;
                s.entries.clear();
            }
        }
    }
}

/// Keep prefix `i` watched while the store lives; invalidate on events.
async fn watch_loop(store: Weak<CachedStore>, i: usize) {
    loop {
        let watch = {
            let Some(s) = store.upgrade() else { return };
            let prefix = s.prefixes[i].0.clone();
            s.inner.watch_prefix(&prefix).await
        };
        if let Ok(mut w) = watch {
            set_live(&store, i, true);
            while let Some(ev) = w.next().await {
                let Some(s) = store.upgrade() else { return };
                s.invalidate(&ev.key);
            }
        }
        set_live(&store, i, false);
        if store.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn set_live(store: &Weak<CachedStore>, i: usize, live: bool) {
    if let Some(s) = store.upgrade() {
        let mut st = s.prefixes[i].1.lock().expect("cache lock");
        st.live = live;
        st.generation += 1;
        st.entries.clear();
    }
}

#[async_trait::async_trait]
impl MetaStore for CachedStore {
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        let Some(slot) = self.slot(key) else {
            return self.inner.get(key).await;
        };
        let generation = {
            let s = slot.lock().expect("cache lock");
            if s.live
                && let Some(v) = s.entries.get(key)
            {
                return Ok(v.clone());
            }
            s.generation
        };
        let v = self.inner.get(key).await?;
        let mut s = slot.lock().expect("cache lock");
        if s.live && s.generation == generation && s.entries.len() < MAX_ENTRIES {
            s.entries.insert(key.to_vec(), v.clone());
        }
        Ok(v)
    }

    async fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>> {
        self.inner.range(start, end, limit).await
    }

    async fn range_packed(&self, start: &[u8], end: &[u8], limit: usize) -> Result<PackedRows> {
        self.inner.range_packed(start, end, limit).await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        // Before (reads in flight must not cache the old value) and after
        // (a read that started meanwhile must not have cached it either).
        let touched = self.touched(&txn);
        self.forget(&touched);
        let r = self.inner.txn(txn).await;
        self.forget(&touched);
        r
    }

    async fn watch_prefix(&self, prefix: &[u8]) -> Result<Watch> {
        self.inner.watch_prefix(prefix).await
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        self.inner.grant_lease(ttl).await
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<()> {
        self.inner.keep_alive(lease).await
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        self.inner.revoke_lease(lease).await
    }

    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    fn health(&self) -> Health {
        self.inner.health()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RedbStore;

    #[tokio::test]
    async fn cached_reads_follow_local_and_foreign_writes() {
        let dir = tempfile::tempdir().unwrap();
        let raw: DynMetaStore = RedbStore::open(&dir.path().join("m.redb")).unwrap();
        let cached = CachedStore::wrap(raw.clone(), &[b"ak/"]);
        // Wait for the watch to be live (the cache is bypassed until then).
        for _ in 0..100 {
            if cached.prefixes[0].1.lock().unwrap().live {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        raw.put(b"ak/x", b"1").await.unwrap();
        // A read racing the put's own watch event is not cached: retry until
        // one lands in the cache.
        let mut in_cache = false;
        for _ in 0..200 {
            assert_eq!(cached.get(b"ak/x").await.unwrap().unwrap().value, b"1");
            in_cache = cached.prefixes[0]
                .1
                .lock()
                .unwrap()
                .entries
                .contains_key(&b"ak/x"[..]);
            if in_cache {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(in_cache, "a quiet key gets cached");
        // Through the cache: visible at once.
        cached.put(b"ak/x", b"2").await.unwrap();
        assert_eq!(cached.get(b"ak/x").await.unwrap().unwrap().value, b"2");
        // Behind its back (another node): the watch invalidates it.
        raw.put(b"ak/x", b"3").await.unwrap();
        let mut seen = Vec::new();
        for _ in 0..200 {
            seen = cached.get(b"ak/x").await.unwrap().unwrap().value;
            if seen == b"3" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(seen, b"3", "a foreign write reaches the cache");
        raw.delete(b"ak/x").await.unwrap();
        let mut gone = false;
        for _ in 0..200 {
            if cached.get(b"ak/x").await.unwrap().is_none() {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(gone, "a foreign delete reaches the cache");
        // Keys outside the cached prefixes are never cached.
        raw.put(b"ob/y", b"1").await.unwrap();
        cached.get(b"ob/y").await.unwrap();
        raw.put(b"ob/y", b"2").await.unwrap();
        assert_eq!(cached.get(b"ob/y").await.unwrap().unwrap().value, b"2");
    }
}
