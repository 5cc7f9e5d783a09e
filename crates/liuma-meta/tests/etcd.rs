//! The etcd backend against a real etcd (started per test by [`TestEtcd`]; the `etcd` binary
//! must be installed, else these tests fail): the full conformance suite (one test per check,
//! each store on its own key prefix) plus etcd-specific behaviour: namespacing, op lists etcd
//! would refuse, paginated ranges, watch lag and resumption, etcd going away and coming back.
//!
//! Built when the `etcd` feature is on (`testing` is, through the crate's own
//! dev-dependency), which `cargo nextest run --workspace` does (liuma-server enables it);
//! alone: `cargo test -p liuma-meta --features etcd`.
#![cfg(feature = "etcd")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use liuma_meta::testing::TestEtcd;
use liuma_meta::{
    Compare, DynMetaStore, Error, EtcdConfig, EtcdStore, EventKind, LeaseId, MetaStore, Op,
    RedbStore, Txn, conformance, prefix_end,
};

/// A prefix no other store in this process uses.
fn unique_prefix() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "/liuma-test/{}-{}/",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn connect_with(etcd: &TestEtcd, config: EtcdConfig) -> Arc<EtcdStore> {
    EtcdStore::connect(&[etcd.endpoint()], config)
        .await
        .expect("connect to the test etcd")
}

async fn connect(etcd: &TestEtcd) -> Arc<EtcdStore> {
    let config = EtcdConfig {
        prefix: unique_prefix(),
        ..EtcdConfig::default()
    };
    connect_with(etcd, config).await
}

async fn fresh() -> (TestEtcd, DynMetaStore) {
    let etcd = tokio::task::spawn_blocking(TestEtcd::start)
        .await
        .expect("starting etcd");
    let store: DynMetaStore = connect(&etcd).await;
    (etcd, store)
}

macro_rules! conformance_tests {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let (_etcd, store) = fresh().await;
                conformance::$check(&store).await;
            }
        )*
    };
}

conformance_tests!(
    check_get_put_delete,
    check_overwrite_revisions,
    check_range_order,
    check_range_bounds,
    check_range_pagination,
    check_txn_compares,
    check_txn_failure_branch,
    check_txn_atomicity,
    check_delete_range,
    check_too_many_ops,
    check_concurrent_cas,
    check_watch_prefix,
    check_lease_revoke,
    check_lease_unknown,
    check_lease_expiry,
    check_lease_keep_alive,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_on_one_store() {
    let (_etcd, store) = fresh().await;
    conformance::run_all(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_name_is_etcd() {
    let (_etcd, store) = fresh().await;
    assert_eq!(store.backend_name(), "etcd");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_isolate_stores_sharing_one_etcd() {
    let (etcd, a) = fresh().await;
    let b = connect(&etcd).await;
    a.put(b"k", b"from a").await.expect("put");
    b.put(b"k", b"from b").await.expect("put");
    b.put(b"\xff\xff", b"b's last key").await.expect("put");
    let got = a.get(b"k").await.expect("get").expect("a's key");
    assert_eq!(got.value, b"from a");
    // The unbounded end [0] stops at the end of the store's own prefix.
    let all_a = a.range(b"", &[0], 0).await.expect("range");
    assert_eq!(all_a.len(), 1, "a sees b's keys: {all_a:?}");
    assert_eq!(all_a[0].key, b"k", "prefix not stripped");
    // A range delete of everything in b leaves a alone.
    b.txn(Txn::new().and_then(Op::delete_range("", [0])))
        .await
        .expect("txn");
    assert!(b.range(b"", &[0], 0).await.expect("range").is_empty());
    assert!(a.get(b"k").await.expect("get").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_ops_that_etcd_refuses_are_normalised() {
    let (_etcd, store) = fresh().await;
    for k in ["p/a", "p/b", "p/c", "p/d"] {
        store.put(k.as_bytes(), b"old").await.expect("put");
    }
    // Delete everything under p/, then put two keys inside the deleted range, one twice.
    let txn = Txn::new()
        .and_then(Op::delete_range("p/", prefix_end(b"p/")))
        .and_then(Op::put("p/b", "new"))
        .and_then(Op::put("p/x", "first"))
        .and_then(Op::put("p/x", "second"))
        .and_then(Op::put("p/gone", "v"))
        .and_then(Op::delete("p/gone"));
    let resp = store.txn(txn).await.expect("txn");
    assert!(resp.succeeded);
    let left = store
        .range(b"p/", &prefix_end(b"p/"), 0)
        .await
        .expect("range");
    let left: Vec<(String, String)> = left
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                String::from_utf8_lossy(&kv.value).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        left,
        [
            ("p/b".to_string(), "new".to_string()),
            ("p/x".to_string(), "second".to_string())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_ranges_are_paged_transparently() {
    let etcd = tokio::task::spawn_blocking(TestEtcd::start)
        .await
        .expect("start");
    let config = EtcdConfig {
        prefix: unique_prefix(),
        range_page_size: 3,
        ..EtcdConfig::default()
    };
    let store = connect_with(&etcd, config).await;
    let txn = (0..20).fold(Txn::new(), |t, i| {
        t.and_then(Op::put(format!("k/{i:02}"), "v"))
    });
    store.txn(txn).await.expect("txn");
    let all = store
        .range(b"k/", &prefix_end(b"k/"), 0)
        .await
        .expect("range");
    let keys: Vec<String> = all
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect();
    let want: Vec<String> = (0..20).map(|i| format!("k/{i:02}")).collect();
    assert_eq!(keys, want);
    let some = store
        .range(b"k/", &prefix_end(b"k/"), 7)
        .await
        .expect("range");
    assert_eq!(some.len(), 7, "limit across pages");
}

/// Pages are asked over windows that narrow and widen with the keys found
/// (see `etcd_store::window`); whatever the key shapes (shared prefixes,
/// 0xff runs, keys that extend others, varied lengths) and bounds, a range
/// must return exactly the keys a sorted model holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windowed_ranges_return_exactly_the_keys_of_the_range() {
    let etcd = tokio::task::spawn_blocking(TestEtcd::start)
        .await
        .expect("start");
    let config = EtcdConfig {
        prefix: unique_prefix(),
        range_page_size: 7,
        ..EtcdConfig::default()
    };
    let store = connect_with(&etcd, config).await;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let alphabet = [b'a', b'b', b'k', b'/', 0u8, 0xfe, 0xff];
    let mut model = std::collections::BTreeSet::new();
    for i in 0..1500u32 {
        let mut key = b"w/".to_vec();
        match i % 3 {
            // Dense, fixed-width keys (the usual object names).
            0 => key.extend(format!("obj{:05}", next(100_000)).into_bytes()),
            // Short random keys over a small alphabet: many shared prefixes and 0xff runs.
            1 => (0..1 + next(6)).for_each(|_| key.push(alphabet[next(7) as usize])),
            // Keys that extend others.
            _ => key.extend(format!("obj{:05}/{}", next(100), next(10)).into_bytes()),
        }
        model.insert(key);
    }
    let keys: Vec<Vec<u8>> = model.iter().cloned().collect();
    for chunk in keys.chunks(100) {
        let txn = chunk
            .iter()
            .fold(Txn::new(), |t, k| t.and_then(Op::put(k.clone(), "v")));
        store.txn(txn).await.expect("txn");
    }
    let whole_end = prefix_end(b"w/");
    let mut bounds = vec![
        (b"w/".to_vec(), whole_end.clone()),
        (b"w/obj".to_vec(), prefix_end(b"w/obj")),
        (b"w/\xff".to_vec(), whole_end.clone()),
    ];
    for _ in 0..12 {
        let a = &keys[next(keys.len() as u64) as usize];
        let b = &keys[next(keys.len() as u64) as usize];
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        bounds.push((lo.clone(), hi.clone()));
    }
    for (start, end) in bounds {
        let want: Vec<Vec<u8>> = model.range(start.clone()..end.clone()).cloned().collect();
        for limit in [0usize, 1, 7, 50, 333] {
            let got: Vec<Vec<u8>> = store
                .range(&start, &end, limit)
                .await
                .expect("range")
                .into_iter()
                .map(|kv| kv.key)
                .collect();
            let expect = if limit == 0 {
                &want[..]
            } else {
                &want[..limit.min(want.len())]
            };
            assert_eq!(
                got,
                expect,
                "range {:?}..{:?} limit {limit}",
                String::from_utf8_lossy(&start),
                String::from_utf8_lossy(&end)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_watcher_is_ended_not_skipped() {
    let etcd = tokio::task::spawn_blocking(TestEtcd::start)
        .await
        .expect("start");
    let config = EtcdConfig {
        prefix: unique_prefix(),
        watch_buffer: 4,
        ..EtcdConfig::default()
    };
    let store = connect_with(&etcd, config).await;
    let mut slow = store.watch_prefix(b"k/").await.expect("watch");
    for i in 0..10 {
        store
            .put(format!("k/{i}").as_bytes(), b"v")
            .await
            .expect("put");
    }
    for i in 0..4 {
        let e = tokio::time::timeout(Duration::from_secs(10), slow.next())
            .await
            .expect("event in time")
            .expect("buffered event");
        assert_eq!(e.key, format!("k/{i}").into_bytes(), "events skipped");
    }
    let end = tokio::time::timeout(Duration::from_secs(10), slow.next())
        .await
        .expect("the watch ends in time");
    assert!(end.is_none(), "a lagging watch must end, got {end:?}");
    assert!(slow.is_lagged(), "a lagging watch must say so");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_store_ends_watches() {
    let (_etcd, store) = fresh().await;
    let mut watch = store.watch_prefix(b"w/").await.expect("watch");
    store.put(b"w/a", b"1").await.expect("put");
    let e = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("event in time")
        .expect("event");
    assert_eq!((e.kind, e.key), (EventKind::Put, b"w/a".to_vec()));
    drop(store);
    let end = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("the watch ends in time");
    assert!(end.is_none());
    assert!(!watch.is_lagged(), "closing is not lagging");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_over_the_limit_are_refused() {
    let etcd = tokio::task::spawn_blocking(TestEtcd::start)
        .await
        .expect("start");
    let config = EtcdConfig {
        prefix: unique_prefix(),
        max_value_size: 16,
        ..EtcdConfig::default()
    };
    let store = connect_with(&etcd, config).await;
    store.put(b"k", &[7; 16]).await.expect("value at the limit");
    let err = store.put(b"k", &[7; 17]).await;
    assert!(
        matches!(err, Err(Error::ValueTooLarge { size: 17, max: 16 })),
        "{err:?}"
    );
    // The portable maximum itself is accepted by a default etcd.
    let store = connect(&etcd).await;
    store
        .put(b"big", &vec![1; liuma_meta::MAX_VALUE_SIZE])
        .await
        .expect("a MAX_VALUE_SIZE value");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_nothing_fails_fast_with_unavailable() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let started = Instant::now();
    let err = EtcdStore::connect(&[format!("http://{port}")], EtcdConfig::default()).await;
    assert!(
        matches!(
            err,
            Err(Error::Unavailable {
                backend: "etcd",
                ..
            })
        ),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let err = EtcdStore::connect(&["not a url".to_string()], EtcdConfig::default()).await;
    assert!(matches!(err, Err(Error::Rejected { .. })), "{err:?}");
}

/// Runs one request of every kind and checks that each fails with `Unavailable` within
/// `bound`.
async fn every_request_fails_unavailable(store: &EtcdStore, lease: LeaseId, bound: Duration) {
    let mut worst = Duration::ZERO;
    for what in [
        "get",
        "range",
        "put",
        "txn",
        "watch",
        "grant",
        "keep_alive",
        "revoke",
    ] {
        let started = Instant::now();
        let result = match what {
            "get" => store.get(b"kept").await.map(drop),
            "range" => store.range(b"", &[0], 0).await.map(drop),
            "put" => store.put(b"k", b"v").await.map(drop),
            "txn" => store
                .txn(Txn::new().when(Compare::Absent(b"x".to_vec())))
                .await
                .map(drop),
            "watch" => store.watch_prefix(b"x/").await.map(drop),
            "grant" => store.grant_lease(Duration::from_secs(5)).await.map(drop),
            "keep_alive" => store.keep_alive(lease).await,
            _ => store.revoke_lease(LeaseId(i64::MAX)).await,
        };
        let took = started.elapsed();
        worst = worst.max(took);
        assert!(
            matches!(
                result,
                Err(Error::Unavailable {
                    backend: "etcd",
                    ..
                })
            ),
            "{what} with etcd unreachable: {result:?}"
        );
        assert!(
            took < bound,
            "{what} took {took:?} to fail (bound {bound:?})"
        );
    }
    println!("with etcd unreachable every request failed with Unavailable; slowest {worst:?}");
}

/// etcd killed: every kind of request fails with Unavailable within a bounded time (no hang);
/// etcd restarted on the same data: the same store works again, data intact, and a watch
/// opened before the outage resumes without losing events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_down_then_back() {
    let mut etcd = tokio::task::spawn_blocking(TestEtcd::start)
        .await
        .expect("start");
    let store = connect(&etcd).await;
    store.put(b"kept", b"before").await.expect("put");
    let lease = store
        .grant_lease(Duration::from_secs(60))
        .await
        .expect("grant");
    let mut watch = store.watch_prefix(b"w/").await.expect("watch");
    store.put(b"w/1", b"before").await.expect("put");

    tokio::task::block_in_place(|| etcd.kill());
    // Refused connections fail fast; the guaranteed bound is one request timeout plus the
    // retry budget.
    every_request_fails_unavailable(&store, lease, Duration::from_secs(7)).await;

    tokio::task::block_in_place(|| etcd.restart());
    let started = Instant::now();
    let value = loop {
        match store.get(b"kept").await {
            Ok(v) => break v,
            Err(e) if e.is_retryable() && started.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("store did not recover after etcd restarted: {e}"),
        }
    };
    println!(
        "store usable again {:?} after etcd restart",
        started.elapsed()
    );
    assert_eq!(value.expect("data survived").value, b"before");
    store
        .put(b"w/2", b"after")
        .await
        .expect("put after restart");
    store.keep_alive(lease).await.expect("lease survived");

    for want in [&b"w/1"[..], b"w/2"] {
        let e = tokio::time::timeout(Duration::from_secs(15), watch.next())
            .await
            .expect("watch event in time");
        match e {
            Some(e) => assert_eq!(e.key, want, "watch lost or reordered an event"),
            None => {
                // Allowed by the lag policy (the caller re-lists), but it must say so.
                assert!(watch.is_lagged(), "watch ended without lagging");
                println!("watch ended lagged across the restart");
                return;
            }
        }
    }
    println!("watch resumed across the restart");
}

/// Events carrying values of the maximum size, written concurrently, all arrive. (The
/// client accepts watch responses far above gRPC's default 4 MiB, which etcd reaches when it
/// batches the events of many revisions, e.g. while a resumed watch catches up.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_delivers_large_values() {
    let (_etcd, store) = fresh().await;
    let mut watch = store.watch_prefix(b"big/").await.expect("watch");
    let value = vec![7u8; liuma_meta::MAX_VALUE_SIZE];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (store, value) = (store.clone(), value.clone());
        tasks.spawn(async move { store.put(format!("big/{i}").as_bytes(), &value).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect("put");
    }
    for _ in 0..8 {
        let e = tokio::time::timeout(Duration::from_secs(15), watch.next())
            .await
            .expect("event in time")
            .expect("watch still open");
        assert_eq!(e.value.len(), value.len());
    }
}

/// etcd frozen (SIGSTOP: connections stay open, nothing answers): requests fail with
/// Unavailable after the request timeout instead of hanging, and work again once it thaws.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_etcd_times_out_instead_of_hanging() {
    let etcd = tokio::task::spawn_blocking(TestEtcd::start)
        .await
        .expect("start");
    let config = EtcdConfig {
        prefix: unique_prefix(),
        request_timeout: Duration::from_secs(1),
        ..EtcdConfig::default()
    };
    let store = connect_with(&etcd, config).await;
    store.put(b"kept", b"v").await.expect("put");
    let lease = store
        .grant_lease(Duration::from_secs(60))
        .await
        .expect("grant");
    etcd.freeze();
    // Per request: timeout (1 s) plus at most one more attempt within the retry budget.
    every_request_fails_unavailable(&store, lease, Duration::from_secs(4)).await;
    etcd.thaw();
    let kv = store.get(b"kept").await.expect("get after thaw");
    assert_eq!(kv.expect("kept").value, b"v");
}

/// Prints (does not assert) the latency of sequential operations on local etcd vs redb.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_vs_redb() {
    const N: u32 = 200;
    let (_etcd, etcd_store) = fresh().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let redb_store: DynMetaStore = RedbStore::open(&dir.path().join("m.redb")).expect("redb");
    for store in [&redb_store, &etcd_store] {
        let name = store.backend_name();
        let t = Instant::now();
        for i in 0..N {
            store
                .put(format!("bench/{i}").as_bytes(), &[0; 256])
                .await
                .expect("put");
        }
        let put = t.elapsed() / N;
        let t = Instant::now();
        for i in 0..N {
            store
                .get(format!("bench/{i}").as_bytes())
                .await
                .expect("get");
        }
        let get = t.elapsed() / N;
        let t = Instant::now();
        for i in 0..N {
            let k = format!("bench/{i}");
            let kv = store
                .get(k.as_bytes())
                .await
                .expect("get")
                .expect("present");
            let txn = Txn::new()
                .when(Compare::ModRevision(
                    k.clone().into_bytes(),
                    kv.mod_revision,
                ))
                .and_then(Op::put(k, "updated"));
            assert!(store.txn(txn).await.expect("txn").succeeded);
        }
        let cas = t.elapsed() / N;
        let t = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..N {
            let store = store.clone();
            tasks.spawn(async move {
                store
                    .put(format!("conc/{i}").as_bytes(), &[0; 256])
                    .await
                    .expect("put")
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("task");
        }
        let concurrent = t.elapsed();
        println!(
            "{name}: put {put:?}, get {get:?}, get+CAS txn {cas:?} (sequential, mean of {N}); \
             {N} concurrent puts in {concurrent:?}"
        );
    }
}

/// `reconnect` swaps the client under a running store: a watch opened
/// before moves over without losing or repeating an event, a lease granted
/// before keeps alive and still holds its key, writes go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_keeps_watches_and_leases() {
    let etcd = tokio::task::spawn_blocking(TestEtcd::start)
        .await
        .expect("start");
    let store = connect(&etcd).await;
    let mut watch = store.watch_prefix(b"r/").await.expect("watch");
    let lease = store
        .grant_lease(Duration::from_secs(5))
        .await
        .expect("lease");
    store
        .txn(Txn::new().and_then(Op::put_with_lease(
            b"r/leased".to_vec(),
            b"1".to_vec(),
            lease,
        )))
        .await
        .expect("leased put");
    store.put(b"r/0", b"before").await.expect("put");
    for _ in 0..3 {
        store
            .reconnect(liuma_meta::EtcdSecurity::default())
            .await
            .expect("reconnect");
    }
    store.put(b"r/1", b"after").await.expect("put after");
    let mut keys = Vec::new();
    for _ in 0..3 {
        let e = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("event in time")
            .expect("event");
        keys.push(e.key);
    }
    assert_eq!(
        keys,
        vec![b"r/leased".to_vec(), b"r/0".to_vec(), b"r/1".to_vec()],
        "every event once, in order, across the swaps"
    );
    // the lease granted on the first client is kept alive through the last
    for _ in 0..4 {
        store
            .keep_alive(lease)
            .await
            .expect("keep-alive after the swap");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(
        store.get(b"r/leased").await.expect("get").is_some(),
        "the leased key outlived its TTL through keep-alives on the new client"
    );
    let extra = tokio::time::timeout(Duration::from_millis(300), watch.next()).await;
    assert!(extra.is_err(), "no repeated event: {extra:?}");
}
