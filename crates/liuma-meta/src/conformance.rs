//! Backend conformance suite: the behaviour every [`MetaStore`](crate::MetaStore) must show,
//! as runnable checks.
//!
//! Every backend's tests run these against a live store: [`run_all`] runs them in order, and
//! each `check_*` function is public so a test suite can give every check its own test. A
//! failed check panics with a message naming the backend and the broken rule.
//!
//! Checks only touch keys under their own unique prefix (`liuma-conformance/<check>/<nonce>/`),
//! so they can run concurrently against one shared store (for example a test etcd) and be
//! re-run without cleanup. Lease checks use real time with 1 s TTLs and wait at most a few
//! seconds; backends may round TTLs up (etcd's minimum is about 2 s), which the waits allow.
//! The checks need a multi-threaded tokio runtime only for speed, not for correctness.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::error::Error;
use crate::store::{
    Compare, DynMetaStore, EventKind, KeyValue, LeaseId, MAX_TXN_OPS, Op, Txn, Watch, key_after,
    prefix_end,
};

/// How long a check waits for a watch event or a lease expiry before failing.
const PATIENCE: Duration = Duration::from_secs(10);

/// Runs every check against `store`, in order; panics on the first failure.
pub async fn run_all(store: DynMetaStore) {
    let s = &store;
    check_get_put_delete(s).await;
    check_overwrite_revisions(s).await;
    check_range_order(s).await;
    check_range_bounds(s).await;
    check_range_pagination(s).await;
    check_txn_compares(s).await;
    check_txn_failure_branch(s).await;
    check_txn_atomicity(s).await;
    check_delete_range(s).await;
    check_too_many_ops(s).await;
    check_concurrent_cas(s).await;
    check_watch_prefix(s).await;
    check_lease_revoke(s).await;
    check_lease_unknown(s).await;
    // The two timed checks side by side: each waits out a real lease TTL
    // (etcd's are whole seconds), and one lease expiring while another is
    // kept alive on the same store is part of what they check.
    tokio::join!(check_lease_expiry(s), check_lease_keep_alive(s));
}

/// A key prefix no other check (or earlier run) uses.
fn unique_prefix(check: &str) -> Vec<u8> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "liuma-conformance/{check}/{nanos:x}-{:x}-{n}/",
        std::process::id()
    )
    .into_bytes()
}

fn key(prefix: &[u8], suffix: impl AsRef<[u8]>) -> Vec<u8> {
    [prefix, suffix.as_ref()].concat()
}

fn show(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

async fn must_get(store: &DynMetaStore, k: &[u8]) -> KeyValue {
    let name = store.backend_name();
    match store.get(k).await {
        Ok(Some(kv)) => kv,
        Ok(None) => panic!("[{name}] expected key {:?} to exist", show(k)),
        Err(e) => panic!("[{name}] get {:?} failed: {e}", show(k)),
    }
}

async fn must_be_absent(store: &DynMetaStore, k: &[u8]) {
    let got = store.get(k).await.expect("get");
    assert!(
        got.is_none(),
        "[{}] expected key {:?} to be absent",
        store.backend_name(),
        show(k)
    );
}

async fn must_txn(store: &DynMetaStore, txn: Txn) -> crate::store::TxnResponse {
    match store.txn(txn).await {
        Ok(r) => r,
        Err(e) => panic!("[{}] txn failed: {e}", store.backend_name()),
    }
}

fn keys_of(kvs: &[KeyValue]) -> Vec<Vec<u8>> {
    kvs.iter().map(|kv| kv.key.clone()).collect()
}

/// get of a missing key, put, get, delete (reporting existence), empty values, empty keys.
pub async fn check_get_put_delete(store: &DynMetaStore) {
    let name = store.backend_name();
    let p = unique_prefix("get_put_delete");
    let k = key(&p, "k");
    must_be_absent(store, &k).await;

    let rev = store.put(&k, b"hello").await.expect("put");
    assert!(
        rev >= 1,
        "[{name}] revisions start at 1, put returned {rev}"
    );
    let kv = must_get(store, &k).await;
    assert_eq!(kv.key, k, "[{name}] get returned the wrong key");
    assert_eq!(kv.value, b"hello", "[{name}] get returned the wrong value");
    assert_eq!(
        kv.create_revision, rev,
        "[{name}] create_revision != put revision"
    );
    assert_eq!(
        kv.mod_revision, rev,
        "[{name}] mod_revision != put revision"
    );
    assert_eq!(
        kv.lease, None,
        "[{name}] a plain put must not attach a lease"
    );

    assert!(
        store.delete(&k).await.expect("delete"),
        "[{name}] delete of a live key said absent"
    );
    must_be_absent(store, &k).await;
    assert!(
        !store.delete(&k).await.expect("delete"),
        "[{name}] delete of a missing key said true"
    );

    let empty = key(&p, "empty");
    store.put(&empty, b"").await.expect("put empty value");
    assert_eq!(
        must_get(store, &empty).await.value,
        b"",
        "[{name}] empty value not kept"
    );

    let err = store.put(b"", b"x").await;
    assert!(
        matches!(err, Err(Error::EmptyKey)),
        "[{name}] put of the empty key: {err:?}"
    );
}

/// Overwrites bump mod_revision and keep create_revision; revisions strictly increase.
pub async fn check_overwrite_revisions(store: &DynMetaStore) {
    let name = store.backend_name();
    let p = unique_prefix("overwrite_revisions");
    let (k, other) = (key(&p, "k"), key(&p, "other"));
    let r1 = store.put(&k, b"a").await.expect("put");
    let r2 = store.put(&k, b"b").await.expect("put");
    assert!(
        r2 > r1,
        "[{name}] second put revision {r2} not > first {r1}"
    );
    let kv = must_get(store, &k).await;
    assert_eq!(kv.value, b"b", "[{name}] overwrite lost");
    assert_eq!(
        kv.create_revision, r1,
        "[{name}] overwrite changed create_revision"
    );
    assert_eq!(
        kv.mod_revision, r2,
        "[{name}] overwrite did not bump mod_revision"
    );

    let r3 = store.put(&other, b"x").await.expect("put");
    assert!(r3 > r2, "[{name}] revision is store-wide: {r3} not > {r2}");

    assert!(store.delete(&k).await.expect("delete"));
    let r4 = store.put(&k, b"c").await.expect("put");
    let kv = must_get(store, &k).await;
    assert_eq!(
        kv.create_revision, r4,
        "[{name}] re-created key kept its old create_revision"
    );
    assert!(r4 > r3, "[{name}] revision went backwards: {r4} after {r3}");
}

/// Range returns keys in byte order, including 0x00 and 0xff bytes and prefixes of each other.
pub async fn check_range_order(store: &DynMetaStore) {
    let name = store.backend_name();
    let p = unique_prefix("range_order");
    let suffixes: [&[u8]; 11] = [
        b"a\xff",
        b"\xff\xff",
        b"a",
        b"\x00\x00",
        b"\x80",
        b"a\x00",
        b"\x01",
        b"\x7f",
        b"\xff",
        b"\x00",
        b"b",
    ];
    for (i, s) in suffixes.iter().enumerate() {
        store
            .put(&key(&p, s), format!("v{i}").as_bytes())
            .await
            .expect("put");
    }
    let got = store.range(&p, &prefix_end(&p), 0).await.expect("range");
    let mut want: Vec<Vec<u8>> = suffixes.iter().map(|s| key(&p, s)).collect();
    want.sort();
    assert_eq!(keys_of(&got), want, "[{name}] range is not in byte order");
    for kv in &got {
        let i = suffixes
            .iter()
            .position(|s| key(&p, s) == kv.key)
            .expect("known key");
        assert_eq!(
            kv.value,
            format!("v{i}").as_bytes(),
            "[{name}] range returned a wrong value"
        );
    }
}

/// `[start, end)` bounds: start inclusive, end exclusive, empty and inverted ranges, `[0]` end.
pub async fn check_range_bounds(store: &DynMetaStore) {
    let name = store.backend_name();
    let p = unique_prefix("range_bounds");
    for s in ["a", "b", "c", "d", "e"] {
        store.put(&key(&p, s), s.as_bytes()).await.expect("put");
    }
    let ks = |v: &[&str]| v.iter().map(|s| key(&p, s)).collect::<Vec<_>>();
    let got = store
        .range(&key(&p, "b"), &key(&p, "d"), 0)
        .await
        .expect("range");
    assert_eq!(keys_of(&got), ks(&["b", "c"]), "[{name}] [b, d) wrong");
    let got = store
        .range(&key(&p, "b"), &key_after(&key(&p, "b")), 0)
        .await
        .expect("range");
    assert_eq!(
        keys_of(&got),
        ks(&["b"]),
        "[{name}] [b, key_after(b)) must hold b alone"
    );
    let got = store
        .range(&key(&p, "b"), &key(&p, "b"), 0)
        .await
        .expect("range");
    assert!(got.is_empty(), "[{name}] [b, b) must be empty");
    let got = store
        .range(&key(&p, "d"), &key(&p, "b"), 0)
        .await
        .expect("range");
    assert!(got.is_empty(), "[{name}] inverted range must be empty");
    let got = store
        .range(&key(&p, "bb"), &key(&p, "cc"), 0)
        .await
        .expect("range");
    assert_eq!(
        keys_of(&got),
        ks(&["c"]),
        "[{name}] bounds between keys wrong"
    );
    let got = store.range(&key(&p, "d"), &[0], 2).await.expect("range");
    assert_eq!(
        keys_of(&got),
        ks(&["d", "e"]),
        "[{name}] end [0] must mean no upper bound"
    );
}

/// `limit` caps results; pagination with `key_after` visits every key exactly once.
pub async fn check_range_pagination(store: &DynMetaStore) {
    let name = store.backend_name();
    let p = unique_prefix("range_pagination");
    let end = prefix_end(&p);
    let all: Vec<Vec<u8>> = (0..25).map(|i| key(&p, format!("{i:03}"))).collect();
    let txn = all.iter().fold(Txn::new(), |t, k| {
        t.and_then(Op::put(k.clone(), b"v".to_vec()))
    });
    must_txn(store, txn).await;

    let got = store.range(&p, &end, 0).await.expect("range");
    assert_eq!(
        keys_of(&got),
        all,
        "[{name}] limit 0 must return everything"
    );
    let got = store.range(&p, &end, 100).await.expect("range");
    assert_eq!(
        got.len(),
        25,
        "[{name}] a limit above the count must return everything"
    );

    let mut start = p.clone();
    let mut pages = Vec::new();
    let mut seen = Vec::new();
    loop {
        let page = store.range(&start, &end, 7).await.expect("range");
        assert!(
            page.len() <= 7,
            "[{name}] page of {} exceeds limit 7",
            page.len()
        );
        let Some(last) = page.last() else { break };
        start = key_after(&last.key);
        pages.push(page.len());
        seen.extend(keys_of(&page));
    }
    assert_eq!(pages, [7, 7, 7, 4], "[{name}] wrong page sizes");
    assert_eq!(seen, all, "[{name}] pagination lost or repeated keys");

    // range_packed: the same rows, keys and values, for every bound and limit.
    let txn = all.iter().enumerate().fold(Txn::new(), |t, (i, k)| {
        t.and_then(Op::put(k.clone(), vec![b'x'; i * 37]))
    });
    must_txn(store, txn).await;
    for (start, stop, limit) in [
        (p.clone(), end.clone(), 0),
        (p.clone(), end.clone(), 7),
        (all[3].clone(), all[9].clone(), 100),
        (all[9].clone(), all[3].clone(), 0),
        (all[24].clone(), vec![0], 2),
    ] {
        let kvs = store.range(&start, &stop, limit).await.expect("range");
        let packed = store
            .range_packed(&start, &stop, limit)
            .await
            .expect("range_packed");
        let want: Vec<(&[u8], &[u8])> = kvs
            .iter()
            .map(|kv| (kv.key.as_slice(), kv.value.as_slice()))
            .collect();
        assert_eq!(
            packed.iter().collect::<Vec<_>>(),
            want,
            "[{name}] range_packed differs from range (limit {limit})"
        );
    }
}

/// Each compare kind, true and false, and a compare-and-swap on mod_revision.
pub async fn check_txn_compares(store: &DynMetaStore) {
    let name = store.backend_name();
    let p = unique_prefix("txn_compares");
    let (k, missing) = (key(&p, "k"), key(&p, "missing"));
    let rev = store.put(&k, b"v").await.expect("put");
    let cases = [
        (Compare::Absent(missing.clone()), true, "Absent(missing)"),
        (Compare::Absent(k.clone()), false, "Absent(existing)"),
        (Compare::Exists(k.clone()), true, "Exists(existing)"),
        (Compare::Exists(missing.clone()), false, "Exists(missing)"),
        (
            Compare::ModRevision(k.clone(), rev),
            true,
            "ModRevision(current)",
        ),
        (
            Compare::ModRevision(k.clone(), rev + 1000),
            false,
            "ModRevision(other)",
        ),
        (
            Compare::ModRevision(missing.clone(), rev),
            false,
            "ModRevision(missing)",
        ),
        (
            Compare::Value(k.clone(), b"v".to_vec()),
            true,
            "Value(equal)",
        ),
        (
            Compare::Value(k.clone(), b"w".to_vec()),
            false,
            "Value(different)",
        ),
        (
            Compare::Value(missing.clone(), Vec::new()),
            false,
            "Value(missing, empty)",
        ),
    ];
    for (compare, want, what) in cases {
        let resp = must_txn(store, Txn::new().when(compare)).await;
        assert_eq!(
            resp.succeeded, want,
            "[{name}] compare {what} evaluated wrong"
        );
        assert!(
            resp.revision >= rev,
            "[{name}] txn revision {} < {rev}",
            resp.revision
        );
    }
    let resp = must_txn(store, Txn::new()).await;
    assert!(
        resp.succeeded,
        "[{name}] a txn without compares must succeed"
    );

    let cas = Txn::new()
        .when(Compare::ModRevision(k.clone(), rev))
        .and_then(Op::put(&k[..], "v2"));
    let resp = must_txn(store, cas.clone()).await;
    assert!(
        resp.succeeded,
        "[{name}] CAS on the current revision failed"
    );
    let kv = must_get(store, &k).await;
    assert_eq!(
        (kv.value.as_slice(), kv.mod_revision),
        (&b"v2"[..], resp.revision)
    );
    let resp = must_txn(store, cas).await;
    assert!(
        !resp.succeeded,
        "[{name}] CAS on a stale revision succeeded"
    );
    assert_eq!(
        must_get(store, &k).await.value,
        b"v2",
        "[{name}] failed CAS changed the value"
    );
}

/// A failed compare runs the failure ops (and only them).
pub async fn check_txn_failure_branch(store: &DynMetaStore) {
    let name = store.backend_name();
    let p = unique_prefix("txn_failure_branch");
    let (a, b, c) = (key(&p, "a"), key(&p, "b"), key(&p, "c"));
    store.put(&c, b"doomed").await.expect("put");
    let txn = Txn::new()
        .when(Compare::Exists(key(&p, "missing")))
        .and_then(Op::put(a.clone(), "success"))
        .or_else(Op::put(b.clone(), "failure"))
        .or_else(Op::delete(c.clone()));
    let resp = must_txn(store, txn).await;
    assert!(
        !resp.succeeded,
        "[{name}] compare on a missing key must fail"
    );
    must_be_absent(store, &a).await;
    must_be_absent(store, &c).await;
    let kv = must_get(store, &b).await;
    assert_eq!(kv.value, b"failure", "[{name}] failure branch not applied");
    assert_eq!(
        kv.mod_revision, resp.revision,
        "[{name}] failure-branch put revision"
    );
}

/// All-or-nothing: one false compare among several applies no success op; a successful txn's
/// writes share one revision; later ops see earlier ones in the same txn.
pub async fn check_txn_atomicity(store: &DynMetaStore) {
    let name = store.backend_name();
    let p = unique_prefix("txn_atomicity");
    let (x, y) = (key(&p, "x"), key(&p, "y"));
    store.put(&y, b"right").await.expect("put");
    let writes = |t: Txn| (0..5).fold(t, |t, i| t.and_then(Op::put(key(&p, format!("w{i}")), "v")));
    let txn = writes(Txn::new())
        .when(Compare::Absent(x.clone()))
        .when(Compare::Value(y.clone(), b"wrong".to_vec()))
        .and_then(Op::delete(y.clone()));
    let resp = must_txn(store, txn).await;
    assert!(
        !resp.succeeded,
        "[{name}] a false compare among true ones must fail the txn"
    );
    let got = store
        .range(&key(&p, "w"), &prefix_end(&key(&p, "w")), 0)
        .await
        .expect("range");
    assert!(
        got.is_empty(),
        "[{name}] failed txn applied {} success ops",
        got.len()
    );
    must_get(store, &y).await;

    let txn = writes(Txn::new().when(Compare::Value(y.clone(), b"right".to_vec())))
        .and_then(Op::put(x.clone(), "first"))
        .and_then(Op::put(x.clone(), "second"));
    let resp = must_txn(store, txn).await;
    assert!(resp.succeeded, "[{name}] true compares must succeed");
    let got = store
        .range(&key(&p, "w"), &prefix_end(&key(&p, "w")), 0)
        .await
        .expect("range");
    assert_eq!(
        got.len(),
        5,
        "[{name}] successful txn applied {} of 5 puts",
        got.len()
    );
    for kv in got {
        assert_eq!(
            kv.mod_revision, resp.revision,
            "[{name}] one txn must be one revision"
        );
    }
    assert_eq!(
        must_get(store, &x).await.value,
        b"second",
        "[{name}] ops must apply in order"
    );
}

/// DeleteRange removes exactly `[start, end)`; prefix deletes via `prefix_end`.
pub async fn check_delete_range(store: &DynMetaStore) {
    let name = store.backend_name();
    let p = unique_prefix("delete_range");
    let all = ["a", "b", "b\x00", "c", "d"];
    for s in all {
        store.put(&key(&p, s), b"v").await.expect("put");
    }
    let resp = must_txn(
        store,
        Txn::new().and_then(Op::delete_range(key(&p, "b"), key(&p, "d"))),
    )
    .await;
    assert!(resp.succeeded);
    let left = store.range(&p, &prefix_end(&p), 0).await.expect("range");
    assert_eq!(
        keys_of(&left),
        [key(&p, "a"), key(&p, "d")],
        "[{name}] delete_range [b, d)"
    );

    let resp = must_txn(
        store,
        Txn::new().and_then(Op::delete_range(p.clone(), prefix_end(&p))),
    )
    .await;
    assert!(resp.succeeded);
    let left = store.range(&p, &prefix_end(&p), 0).await.expect("range");
    assert!(
        left.is_empty(),
        "[{name}] prefix delete left {} keys",
        left.len()
    );
}

/// More than [`MAX_TXN_OPS`] entries in a list is refused without applying anything; exactly
/// [`MAX_TXN_OPS`] is accepted.
pub async fn check_too_many_ops(store: &DynMetaStore) {
    let name = store.backend_name();
    let p = unique_prefix("too_many_ops");
    let puts = |n: usize| {
        (0..n).fold(Txn::new(), |t, i| {
            t.and_then(Op::put(key(&p, format!("{i:04}")), "v"))
        })
    };
    let err = store.txn(puts(MAX_TXN_OPS + 1)).await;
    assert!(
        matches!(err, Err(Error::TooManyOps { .. })),
        "[{name}] {} success ops must fail with TooManyOps, got {err:?}",
        MAX_TXN_OPS + 1
    );
    let got = store.range(&p, &prefix_end(&p), 0).await.expect("range");
    assert!(
        got.is_empty(),
        "[{name}] a refused txn wrote {} keys",
        got.len()
    );

    let compares = (0..=MAX_TXN_OPS).fold(Txn::new(), |t, i| {
        t.when(Compare::Absent(key(&p, format!("c{i}"))))
    });
    let err = store.txn(compares).await;
    assert!(
        matches!(err, Err(Error::TooManyOps { .. })),
        "[{name}] too many compares: {err:?}"
    );

    let resp = must_txn(store, puts(MAX_TXN_OPS)).await;
    assert!(
        resp.succeeded,
        "[{name}] a txn of exactly MAX_TXN_OPS puts must succeed"
    );
    let got = store.range(&p, &prefix_end(&p), 0).await.expect("range");
    assert_eq!(
        got.len(),
        MAX_TXN_OPS,
        "[{name}] MAX_TXN_OPS puts wrote {} keys",
        got.len()
    );
}

/// 16 tasks increment one counter with CAS retry loops; no increment may be lost.
pub async fn check_concurrent_cas(store: &DynMetaStore) {
    const TASKS: u64 = 16;
    const EACH: u64 = 8;
    let name = store.backend_name();
    let counter = key(&unique_prefix("concurrent_cas"), "counter");
    let mut tasks = JoinSet::new();
    for _ in 0..TASKS {
        let (store, counter) = (store.clone(), counter.clone());
        tasks.spawn(async move {
            for _ in 0..EACH {
                cas_increment(&store, &counter).await;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("increment task panicked");
    }
    let kv = must_get(store, &counter).await;
    let value: u64 = String::from_utf8_lossy(&kv.value)
        .parse()
        .expect("counter is a number");
    assert_eq!(
        value,
        TASKS * EACH,
        "[{name}] lost updates: counter is {value}"
    );
}

async fn cas_increment(store: &DynMetaStore, counter: &[u8]) {
    for _attempt in 0..10_000 {
        let current = store.get(counter).await.expect("get");
        let (compare, next) = match &current {
            None => (Compare::Absent(counter.to_vec()), 1),
            Some(kv) => {
                let n: u64 = String::from_utf8_lossy(&kv.value).parse().expect("number");
                (
                    Compare::ModRevision(counter.to_vec(), kv.mod_revision),
                    n + 1,
                )
            }
        };
        let txn = Txn::new()
            .when(compare)
            .and_then(Op::put(counter, next.to_string()));
        if store.txn(txn).await.expect("txn").succeeded {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("[{}] CAS increment never succeeded", store.backend_name());
}

async fn next_event(store: &DynMetaStore, watch: &mut Watch) -> crate::store::WatchEvent {
    match timeout(PATIENCE, watch.next()).await {
        Ok(Some(e)) => e,
        Ok(None) => panic!("[{}] watch ended unexpectedly", store.backend_name()),
        Err(_) => panic!(
            "[{}] no watch event within {PATIENCE:?}",
            store.backend_name()
        ),
    }
}

/// A prefix watch sees exactly the later puts and deletes under its prefix (also from txns,
/// range deletes), in revision order, with put values and the writes' revisions.
pub async fn check_watch_prefix(store: &DynMetaStore) {
    let name = store.backend_name();
    let p = unique_prefix("watch_prefix");
    let (w, outside) = (key(&p, "w/"), key(&p, "wx"));
    store.put(&key(&w, "before"), b"old").await.expect("put");
    let mut watch = store.watch_prefix(&w).await.expect("watch");

    let r1 = store.put(&key(&w, "a"), b"1").await.expect("put");
    store.put(&outside, b"not watched").await.expect("put");
    let txn = Txn::new()
        .and_then(Op::put(key(&w, "b"), "2"))
        .and_then(Op::put(key(&outside, "/x"), "no"))
        .and_then(Op::delete(key(&w, "a")));
    let r2 = must_txn(store, txn).await.revision;
    let r3 = must_txn(
        store,
        Txn::new().and_then(Op::delete_range(w.clone(), prefix_end(&w))),
    )
    .await
    .revision;
    let r4 = store.put(&key(&w, "end"), b"sentinel").await.expect("put");

    let want = [
        (EventKind::Put, "a", "1", r1),
        (EventKind::Put, "b", "2", r2),
        (EventKind::Delete, "a", "", r2),
        (EventKind::Delete, "b", "", r3),
        (EventKind::Delete, "before", "", r3),
        (EventKind::Put, "end", "sentinel", r4),
    ];
    for (i, (kind, k, v, rev)) in want.into_iter().enumerate() {
        let e = next_event(store, &mut watch).await;
        let got = (e.kind.clone(), show(&e.key), show(&e.value), e.mod_revision);
        let expected = (kind, show(&key(&w, k)), v.to_string(), rev);
        assert_eq!(got, expected, "[{name}] watch event #{i} wrong");
    }
}

/// Revoking a lease deletes its keys (with Delete events) and only them; the lease is gone.
pub async fn check_lease_revoke(store: &DynMetaStore) {
    let name = store.backend_name();
    let p = unique_prefix("lease_revoke");
    let lease = store
        .grant_lease(Duration::from_secs(60))
        .await
        .expect("grant");
    let (leased, detached, plain) = (key(&p, "leased"), key(&p, "detached"), key(&p, "plain"));
    let txn = Txn::new()
        .and_then(Op::put_with_lease(leased.clone(), "l", lease))
        .and_then(Op::put_with_lease(detached.clone(), "l", lease))
        .and_then(Op::put(plain.clone(), "p"));
    must_txn(store, txn).await;
    assert_eq!(
        must_get(store, &leased).await.lease,
        Some(lease),
        "[{name}] lease not recorded"
    );
    store.put(&detached, b"now permanent").await.expect("put");
    assert_eq!(
        must_get(store, &detached).await.lease,
        None,
        "[{name}] plain put keeps lease"
    );
    store
        .keep_alive(lease)
        .await
        .expect("keep_alive of a live lease");

    let mut watch = store.watch_prefix(&p).await.expect("watch");
    store.revoke_lease(lease).await.expect("revoke");
    must_be_absent(store, &leased).await;
    must_get(store, &detached).await;
    must_get(store, &plain).await;
    let e = next_event(store, &mut watch).await;
    assert_eq!(
        (e.kind, e.key),
        (EventKind::Delete, leased),
        "[{name}] revoke must emit Delete"
    );

    let err = store.keep_alive(lease).await;
    assert!(
        matches!(err, Err(Error::LeaseNotFound(l)) if l == lease),
        "[{name}] {err:?}"
    );
    let err = store.revoke_lease(lease).await;
    assert!(
        matches!(err, Err(Error::LeaseNotFound(_))),
        "[{name}] revoke twice: {err:?}"
    );
}

/// A put naming a revoked lease fails the whole txn with LeaseNotFound and applies nothing.
pub async fn check_lease_unknown(store: &DynMetaStore) {
    let name = store.backend_name();
    let p = unique_prefix("lease_unknown");
    let lease = store
        .grant_lease(Duration::from_secs(60))
        .await
        .expect("grant");
    store.revoke_lease(lease).await.expect("revoke");
    let txn = Txn::new()
        .and_then(Op::put(key(&p, "plain"), "p"))
        .and_then(Op::put_with_lease(key(&p, "leased"), "l", lease));
    let err = store.txn(txn).await;
    assert!(
        matches!(err, Err(Error::LeaseNotFound(l)) if l == lease),
        "[{name}] {err:?}"
    );
    let got = store.range(&p, &prefix_end(&p), 0).await.expect("range");
    assert!(
        got.is_empty(),
        "[{name}] txn with a dead lease wrote {} keys",
        got.len()
    );
}

async fn grant_with_key(store: &DynMetaStore, k: &[u8]) -> LeaseId {
    let lease = store
        .grant_lease(Duration::from_secs(1))
        .await
        .expect("grant");
    must_txn(
        store,
        Txn::new().and_then(Op::put_with_lease(k, "v", lease)),
    )
    .await;
    lease
}

async fn wait_absent(store: &DynMetaStore, k: &[u8]) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while store.get(k).await.expect("get").is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "[{}] leased key {:?} still exists {PATIENCE:?} after its lease stopped",
            store.backend_name(),
            show(k)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A lease that is not kept alive expires: its keys are deleted (with a Delete event) and
/// keep_alive then fails with LeaseNotFound.
pub async fn check_lease_expiry(store: &DynMetaStore) {
    let name = store.backend_name();
    let p = unique_prefix("lease_expiry");
    let k = key(&p, "ephemeral");
    let mut watch = store.watch_prefix(&p).await.expect("watch");
    let lease = grant_with_key(store, &k).await;
    must_get(store, &k).await;
    wait_absent(store, &k).await;
    let put = next_event(store, &mut watch).await;
    assert_eq!(put.kind, EventKind::Put, "[{name}] expected the put first");
    let del = next_event(store, &mut watch).await;
    assert_eq!(
        (del.kind, del.key),
        (EventKind::Delete, k),
        "[{name}] expiry must emit Delete"
    );
    assert!(
        del.mod_revision > put.mod_revision,
        "[{name}] expiry delete revision"
    );
    let err = store.keep_alive(lease).await;
    assert!(
        matches!(err, Err(Error::LeaseNotFound(_))),
        "[{name}] after expiry: {err:?}"
    );
}

/// keep_alive restarts the TTL: a 1 s lease kept alive for 2.5 s keeps its key; once
/// keep-alives stop it expires.
pub async fn check_lease_keep_alive(store: &DynMetaStore) {
    let name = store.backend_name();
    let p = unique_prefix("lease_keep_alive");
    let k = key(&p, "kept");
    let lease = grant_with_key(store, &k).await;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        store
            .keep_alive(lease)
            .await
            .expect("keep_alive of a live lease");
    }
    assert!(
        store.get(&k).await.expect("get").is_some(),
        "[{name}] key of a kept-alive lease vanished"
    );
    wait_absent(store, &k).await;
    let err = store.keep_alive(lease).await;
    assert!(
        matches!(err, Err(Error::LeaseNotFound(_))),
        "[{name}] after expiry: {err:?}"
    );
}
