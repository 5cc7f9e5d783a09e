//! The redb backend: the full conformance suite (one test per check) plus redb-specific
//! behaviour (persistence across reopen, group commit, watch shutdown and lag, limits).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use liuma_meta::{
    DynMetaStore, Error, EventKind, MetaStore, Op, RedbConfig, RedbStore, Txn, conformance,
    prefix_end,
};
use tempfile::TempDir;

fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("meta.redb")
}

fn open(path: &Path) -> Arc<RedbStore> {
    RedbStore::open(path).expect("open redb store")
}

fn fresh() -> (TempDir, DynMetaStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: DynMetaStore = open(&db_path(&dir));
    (dir, store)
}

macro_rules! conformance_tests {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let (_dir, store) = fresh();
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
    let (_dir, store) = fresh();
    conformance::run_all(store).await;
}

#[tokio::test]
async fn reopen_keeps_data_and_revision_keeps_increasing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let (rev, lease) = {
        let store = open(&path);
        store.put(b"a", b"1").await.expect("put");
        let rev = store.put(b"b", b"2").await.expect("put");
        let lease = store
            .grant_lease(Duration::from_secs(60))
            .await
            .expect("grant");
        store
            .txn(Txn::new().and_then(Op::put_with_lease("c", "3", lease)))
            .await
            .expect("txn");
        assert_eq!(store.revision(), rev + 1);
        (rev + 1, lease)
    };
    let store = open(&path);
    assert_eq!(store.revision(), rev, "revision counter not persisted");
    assert_eq!(
        store.get(b"a").await.expect("get").expect("a kept").value,
        b"1"
    );
    let b = store.get(b"b").await.expect("get").expect("b kept");
    assert_eq!((b.create_revision, b.mod_revision), (rev - 1, rev - 1));
    assert_eq!(
        store.get(b"c").await.expect("get").expect("c kept").lease,
        Some(lease)
    );
    let next = store.put(b"a", b"again").await.expect("put");
    assert!(
        next > rev,
        "revision went backwards after reopen: {next} <= {rev}"
    );

    // Leases survive (with a fresh TTL) and new ids do not collide with old ones.
    store
        .keep_alive(lease)
        .await
        .expect("persisted lease is live after reopen");
    let newer = store
        .grant_lease(Duration::from_secs(60))
        .await
        .expect("grant");
    assert!(newer.0 > lease.0, "lease id reused after reopen");
    store.revoke_lease(lease).await.expect("revoke");
    assert!(
        store.get(b"c").await.expect("get").is_none(),
        "revoke after reopen kept the key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_200_concurrent_puts_are_durable_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    {
        let store = open(&path);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200u32 {
            let store = store.clone();
            tasks.spawn(async move {
                let key = format!("obj/{i:04}");
                store
                    .put(key.as_bytes(), &i.to_be_bytes())
                    .await
                    .expect("put")
            });
        }
        let mut revisions = Vec::new();
        while let Some(r) = tasks.join_next().await {
            revisions.push(r.expect("put task"));
        }
        revisions.sort_unstable();
        revisions.dedup();
        assert_eq!(revisions.len(), 200, "each put must get its own revision");
        let stats = store.writer_stats();
        println!(
            "group commit: {} requests in {} batches",
            stats.requests, stats.batches
        );
        assert_eq!(stats.requests, 200);
        assert!(
            stats.batches < stats.requests,
            "200 concurrent puts were never grouped"
        );
    }
    let store = open(&path);
    let all = store
        .range(b"obj/", &prefix_end(b"obj/"), 0)
        .await
        .expect("range");
    assert_eq!(all.len(), 200, "acknowledged puts lost across reopen");
    for (i, kv) in all.iter().enumerate() {
        let i = u32::try_from(i).expect("small");
        assert_eq!(kv.key, format!("obj/{i:04}").into_bytes());
        assert_eq!(kv.value, i.to_be_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_one_batch_see_each_other_and_fail_alone() {
    let (_dir, store) = fresh();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64u32 {
        let store = store.clone();
        tasks.spawn(async move {
            // Half race to create one key (exactly one may win), half write their own key.
            let txn = if i % 2 == 0 {
                Txn::new()
                    .when(liuma_meta::Compare::Absent(b"race".to_vec()))
                    .and_then(Op::put("race", i.to_string()))
            } else {
                Txn::new().and_then(Op::put(format!("own/{i:02}"), "v"))
            };
            store.txn(txn).await.expect("txn").succeeded
        });
    }
    let mut won = 0;
    while let Some(r) = tasks.join_next().await {
        won += usize::from(r.expect("task"));
    }
    assert_eq!(
        won,
        1 + 32,
        "exactly one creator and every independent write must succeed"
    );
    let own = store
        .range(b"own/", &prefix_end(b"own/"), 0)
        .await
        .expect("range");
    assert_eq!(own.len(), 32);
}

/// Move the runtime's clock forward by `by` at once, then let it run on in
/// real time (`pause`/`resume` keep the offset).
async fn skip(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}

#[tokio::test]
async fn leases_get_a_fresh_ttl_after_reopen_then_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    {
        let store = open(&path);
        let lease = store
            .grant_lease(Duration::from_millis(500))
            .await
            .expect("grant");
        store
            .txn(Txn::new().and_then(Op::put_with_lease("eph", "v", lease)))
            .await
            .expect("txn");
    }
    // Offline for longer than the TTL (lease deadlines are on the runtime's
    // clock, moved here instead of slept through): the lease must not be
    // expired on open...
    skip(Duration::from_millis(700)).await;
    let store = open(&path);
    assert!(
        store.get(b"eph").await.expect("get").is_some(),
        "lease not given a fresh TTL"
    );
    // ...but expires one TTL later: past it, the reaper's revoke commits soon
    // (polled against the real clock, which the skip does not move).
    skip(Duration::from_millis(500)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while store.get(b"eph").await.expect("get").is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "persisted lease never expired"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn dropping_the_store_ends_watches() {
    let (_dir, store) = fresh();
    let mut watch = store.watch_prefix(b"w/").await.expect("watch");
    store.put(b"w/a", b"1").await.expect("put");
    drop(store);
    let e = watch.next().await.expect("buffered event survives close");
    assert_eq!((e.kind, e.key), (EventKind::Put, b"w/a".to_vec()));
    assert!(
        watch.next().await.is_none(),
        "watch must end when the store closes"
    );
    assert!(!watch.is_lagged());
}

#[tokio::test]
async fn lagging_watcher_is_ended_not_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = RedbConfig {
        watch_buffer: 4,
        ..RedbConfig::default()
    };
    let store = RedbStore::open_with(&db_path(&dir), config).expect("open");
    let mut slow = store.watch_prefix(b"k/").await.expect("watch");
    for i in 0..10 {
        store
            .put(format!("k/{i}").as_bytes(), b"v")
            .await
            .expect("put");
    }
    for i in 0..4 {
        let e = slow.next().await.expect("buffered event");
        assert_eq!(
            e.key,
            format!("k/{i}").into_bytes(),
            "events must not be skipped"
        );
    }
    assert!(slow.next().await.is_none(), "a lagging watch must end");
    assert!(slow.is_lagged(), "a lagging watch must say so");
    // A new watch works normally.
    let mut fresh_watch = store.watch_prefix(b"k/").await.expect("watch");
    store.put(b"k/new", b"v").await.expect("put");
    assert_eq!(fresh_watch.next().await.expect("event").key, b"k/new");
}

#[tokio::test]
async fn values_over_the_limit_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = RedbConfig {
        max_value_size: 16,
        ..RedbConfig::default()
    };
    let store = RedbStore::open_with(&db_path(&dir), config).expect("open");
    store.put(b"k", &[7; 16]).await.expect("value at the limit");
    let err = store.put(b"k", &[7; 17]).await;
    assert!(
        matches!(err, Err(Error::ValueTooLarge { size: 17, max: 16 })),
        "{err:?}"
    );
    assert_eq!(
        store.get(b"k").await.expect("get").expect("kept").value,
        [7; 16]
    );
}

#[tokio::test]
async fn incompatible_format_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    drop(open(&path));
    {
        let db = redb::Database::create(&path).expect("raw open");
        let wtx = db.begin_write().expect("write");
        {
            let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
            let mut t = wtx.open_table(meta).expect("meta table");
            t.insert("format_version", 99).expect("insert");
        }
        wtx.commit().expect("commit");
    }
    let err = RedbStore::open(&path);
    assert!(
        matches!(
            err,
            Err(Error::IncompatibleFormat {
                found: 99,
                expected: 1
            })
        ),
        "{:?}",
        err.map(|_| ())
    );
}

#[test]
fn open_outside_a_runtime_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = RedbStore::open(&db_path(&dir));
    assert!(
        matches!(err, Err(Error::NoRuntime)),
        "{:?}",
        err.map(|_| ())
    );
}

#[tokio::test]
async fn backend_name_is_redb() {
    let (_dir, store) = fresh();
    assert_eq!(store.backend_name(), "redb");
}
