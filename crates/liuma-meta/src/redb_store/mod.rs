//! The embedded backend: one redb file, for single-node deployments.
//!
//! - **Writes** go through one dedicated writer thread with group commit (see
//!   [`writer`](self::writer)): concurrent small writes share one fsync, and nothing is
//!   acknowledged before its batch is durable. Revisions are per request, as in etcd.
//! - **Reads** ([`MetaStore::get`], [`MetaStore::range`]) run in redb read transactions on
//!   tokio's blocking pool. They are MVCC snapshots and never wait for the writer; a read that
//!   starts after a write was acknowledged sees it.
//! - **Watches** are fed by the writer after each commit (see [`Watch`] for the lag policy).
//! - **Faults heal** (see [`recovery`](self::recovery)): after an I/O failure (typically a full
//!   disk) redb refuses everything until the database is reopened. The writer then reports
//!   the fault through [`MetaStore::health`], answers writes with [`Error::Fault`] at once,
//!   reopens the file (so reads work again) and, with backoff, probes whether a commit fits;
//!   when one does, writes resume, without a restart.
//! - **Leases** are persisted (id and TTL); their deadlines live in memory. A reaper task on the
//!   tokio runtime revokes expired leases through the writer, so expiry deletes keys and emits
//!   Delete events like an explicit revoke. **After a restart every persisted lease gets a
//!   fresh full TTL** (etcd does the same on leader change): its owner has that long to resume
//!   keep-alives.
//!
//! The on-disk layout is described in [`format`](self::format).

mod format;
mod recovery;
mod shared;
mod writer;

use std::collections::HashMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak, mpsc};
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase, ReadableTable};
use tokio::sync::oneshot;
use tokio::time::Instant;

use self::format::{
    FORMAT_VERSION, KV, LEASE_KEYS, LEASES, META, META_FORMAT, META_NEXT_LEASE, META_REVISION,
    decode_kv, decode_value,
};
use self::shared::{LeaseTimer, Shared};
use self::writer::{Request, Writer};
use crate::error::{Error, Health, Result};
use crate::packed::PackedRows;
use crate::store::{
    KeyValue, LeaseId, MAX_VALUE_SIZE, MetaStore, Revision, Txn, TxnResponse, Watch,
    is_unbounded_end, ttl_millis,
};

/// Tuning of a [`RedbStore`].
#[derive(Clone, Debug)]
pub struct RedbConfig {
    /// redb page cache, in bytes. Default 256 MiB.
    pub cache_size_bytes: usize,
    /// Most write requests committed together in one group commit. Default 1024.
    pub max_batch_requests: usize,
    /// Events buffered per watch before a lagging watcher is dropped (see [`Watch`]).
    /// Default 16384.
    pub watch_buffer: usize,
    /// Largest value accepted, in bytes. Default [`MAX_VALUE_SIZE`] (1 MiB), the portable
    /// limit; raise it only if you never move to etcd.
    pub max_value_size: usize,
}

impl Default for RedbConfig {
    fn default() -> Self {
        RedbConfig {
            cache_size_bytes: 256 * 1024 * 1024,
            max_batch_requests: 1024,
            watch_buffer: 16384,
            max_value_size: MAX_VALUE_SIZE,
        }
    }
}

/// Counters of the group-commit writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterStats {
    /// Write transactions committed (or failed) so far.
    pub batches: u64,
    /// Write requests (txns, lease grants and revocations) handled in them.
    pub requests: u64,
}

/// The embedded [`MetaStore`] backend on a redb file. Cheap to share as `Arc<RedbStore>`;
/// dropping the last handle finishes queued writes, ends all watches, and closes the file
/// (reads still in flight keep it open until they finish).
pub struct RedbStore {
    shared: Arc<Shared>,
    sender: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    max_value_size: usize,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("revision", &self.shared.revision())
            .finish()
    }
}

/// What [`RedbStore::init`] finds in the file.
pub(crate) struct Loaded {
    pub(crate) revision: Revision,
    pub(crate) next_lease: i64,
    pub(crate) leases: Vec<(i64, u64)>,
}

impl RedbStore {
    /// Opens (or creates) the store at `path` with the default [`RedbConfig`]. The parent
    /// directory must exist. Must be called inside a tokio runtime ([`Error::NoRuntime`]); the
    /// lease timer runs as a task on that runtime, so the store must not outlive it.
    pub fn open(path: &Path) -> Result<Arc<RedbStore>> {
        RedbStore::open_with(path, RedbConfig::default())
    }

    /// Opens (or creates) the store at `path` with `config`.
    pub fn open_with(path: &Path, config: RedbConfig) -> Result<Arc<RedbStore>> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let db = Database::builder()
            .set_cache_size(config.cache_size_bytes)
            .create(path)?;
        let loaded = RedbStore::init(&db)?;
        let now = Instant::now();
        let leases: HashMap<LeaseId, LeaseTimer> = loaded
            .leases
            .iter()
            .map(|&(id, ttl_ms)| {
                let ttl = std::time::Duration::from_millis(ttl_ms);
                (
                    LeaseId(id),
                    LeaseTimer {
                        ttl,
                        deadline: now + ttl,
                    },
                )
            })
            .collect();
        let db = Arc::new(db);
        let shared = Arc::new(Shared::new(
            Arc::clone(&db),
            config.watch_buffer,
            loaded.revision,
            leases,
        ));
        let (sender, rx) = mpsc::channel();
        let writer = Writer {
            db: Some(db),
            path: PathBuf::from(path),
            cache_size: config.cache_size_bytes,
            deferred: Vec::new(),
            rx,
            shared: Arc::clone(&shared),
            revision: loaded.revision,
            next_lease: loaded.next_lease,
            max_batch: config.max_batch_requests.max(1),
        };
        let handle = std::thread::Builder::new()
            .name("liuma-meta-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| Error::from(redb::StorageError::Io(e)))?;
        let store = Arc::new(RedbStore {
            shared: Arc::clone(&shared),
            sender: Some(sender),
            writer: Some(handle),
            max_value_size: config.max_value_size,
        });
        runtime.spawn(reap_leases(Arc::downgrade(&store), shared));
        tracing::info!(
            path = %path.display(),
            revision = loaded.revision,
            leases = loaded.leases.len(),
            "metadata store opened (redb)"
        );
        Ok(store)
    }

    /// Creates the tables on first use, checks the format version and loads the counters.
    pub(crate) fn init(db: &Database) -> Result<Loaded> {
        let wtx = db.begin_write()?;
        let loaded = {
            let mut meta = wtx.open_table(META)?;
            let format = meta.get(META_FORMAT)?.map(|g| g.value());
            match format {
                Some(FORMAT_VERSION) => {}
                Some(found) => {
                    return Err(Error::IncompatibleFormat {
                        found,
                        expected: FORMAT_VERSION,
                    });
                }
                None => {
                    meta.insert(META_FORMAT, FORMAT_VERSION)?;
                }
            }
            wtx.open_table(KV)?;
            wtx.open_table(LEASE_KEYS)?;
            let leases_table = wtx.open_table(LEASES)?;
            let leases = leases_table
                .iter()?
                .map(|r| r.map(|(k, v)| (k.value(), v.value())))
                .collect::<Result<Vec<_>, _>>()?;
            let revision = meta.get(META_REVISION)?.map_or(0, |g| g.value());
            let next_lease = meta.get(META_NEXT_LEASE)?.map_or(1, |g| g.value());
            Loaded {
                revision,
                next_lease: i64::try_from(next_lease).unwrap_or(1),
                leases,
            }
        };
        wtx.commit()?;
        Ok(loaded)
    }

    /// The last committed revision.
    pub fn revision(&self) -> Revision {
        self.shared.revision()
    }

    /// Group-commit counters (for tests and metrics).
    pub fn writer_stats(&self) -> WriterStats {
        WriterStats {
            batches: self.shared.batches.load(Ordering::Relaxed),
            requests: self.shared.requests.load(Ordering::Relaxed),
        }
    }

    /// Queues a request for the writer.
    fn send(&self, req: Request) -> Result<()> {
        self.sender
            .as_ref()
            .ok_or(Error::Closed)?
            .send(req)
            .map_err(|_| Error::Closed)
    }

    /// Queues a request and waits for its answer.
    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Request) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx))?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Runs a read-only closure on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.shared.database()?;
        match tokio::task::spawn_blocking(move || f(&db)).await {
            Ok(r) => r.map_err(|e| self.shared.read_error(e)),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(Error::Closed),
        }
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        self.shared.close();
        // Closing the queue lets the writer finish what is queued and stop.
        drop(self.sender.take());
        if let Some(handle) = self.writer.take()
            && handle.join().is_err()
        {
            tracing::error!("metadata writer thread panicked");
        }
        // The lease reaper may still hold `shared` for a moment: the file must close now.
        self.shared.set_database(None);
    }
}

#[async_trait::async_trait]
impl MetaStore for RedbStore {
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        let key = key.to_vec();
        self.read(move |db| {
            let rtx = db.begin_read()?;
            let kv = rtx.open_table(KV)?;
            kv.get(key.as_slice())?
                .map(|g| decode_kv(&key, g.value()))
                .transpose()
        })
        .await
    }

    async fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>> {
        if key_bounds(start, end).is_none() {
            return Ok(Vec::new());
        }
        let (start, end) = (start.to_vec(), end.to_vec());
        self.read(move |db| {
            let rtx = db.begin_read()?;
            let kv = rtx.open_table(KV)?;
            let Some(bounds) = key_bounds(&start, &end) else {
                return Ok(Vec::new());
            };
            kv.range::<&[u8]>(bounds)?
                .take(row_limit(limit))
                .map(|r| {
                    let (k, v) = r?;
                    decode_kv(k.value(), v.value())
                })
                .collect()
        })
        .await
    }

    async fn range_packed(&self, start: &[u8], end: &[u8], limit: usize) -> Result<PackedRows> {
        if key_bounds(start, end).is_none() {
            return Ok(PackedRows::default());
        }
        let (start, end) = (start.to_vec(), end.to_vec());
        self.read(move |db| {
            let rtx = db.begin_read()?;
            let kv = rtx.open_table(KV)?;
            let Some(bounds) = key_bounds(&start, &end) else {
                return Ok(PackedRows::default());
            };
            let limit = row_limit(limit);
            // Listing rows are a few hundred bytes: one buffer for a page.
            let mut rows = PackedRows::with_capacity(limit.min(1024), limit.min(1024) * 512);
            for r in kv.range::<&[u8]>(bounds)?.take(limit) {
                let (k, v) = r?;
                let (_, value) = decode_value(v.value())?;
                rows.push(k.value(), value);
            }
            Ok(rows)
        })
        .await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        txn.validate(self.max_value_size)?;
        self.call(|reply| Request::Txn { txn, reply }).await
    }

    async fn watch_prefix(&self, prefix: &[u8]) -> Result<Watch> {
        self.shared.register_watch(prefix)
    }

    async fn grant_lease(&self, ttl: std::time::Duration) -> Result<LeaseId> {
        let ttl_ms = ttl_millis(ttl);
        let deadline = Instant::now() + std::time::Duration::from_millis(ttl_ms);
        self.call(|reply| Request::Grant {
            ttl_ms,
            deadline,
            reply,
        })
        .await
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<()> {
        self.shared.keep_alive(lease, Instant::now())
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        self.call(|reply| Request::Revoke {
            lease,
            reply: Some(reply),
        })
        .await
    }

    fn backend_name(&self) -> &'static str {
        "redb"
    }

    fn health(&self) -> Health {
        self.shared.health()
    }
}

/// The lease reaper: sleeps until the earliest deadline (or a new grant), then asks the writer
/// to revoke every expired lease. Holds only a weak handle, so it never keeps the store open.
async fn reap_leases(store: Weak<RedbStore>, shared: Arc<Shared>) {
    loop {
        if shared.is_closed() {
            return;
        }
        let wake = shared.lease_wake.notified();
        match shared.next_deadline() {
            Some(deadline) => tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                () = wake => {}
            },
            None => wake.await,
        }
        let expired = shared.take_expired(Instant::now());
        if expired.is_empty() {
            continue;
        }
        let Some(store) = store.upgrade() else { return };
        for lease in expired {
            tracing::debug!(lease = lease.0, "lease expired");
            if store.send(Request::Revoke { lease, reply: None }).is_err() {
                return;
            }
        }
    }
}

/// A key range as redb takes it.
type KeyBounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// The keys `[start, end)` as redb bounds (an unbounded `end`, see
/// [`is_unbounded_end`], runs to the last key); `None` when the range
/// holds no key. What every range scan of the KV table starts from.
fn key_bounds<'a>(start: &'a [u8], end: &'a [u8]) -> Option<KeyBounds<'a>> {
    let upper = if is_unbounded_end(end) {
        Bound::Unbounded
    } else if end <= start {
        return None;
    } else {
        Bound::Excluded(end)
    };
    Some((Bound::Included(start), upper))
}

/// A scan's row limit: 0 is none.
fn row_limit(limit: usize) -> usize {
    if limit == 0 { usize::MAX } else { limit }
}
