//! The single writer thread: group commit of every write request.
//!
//! The thread blocks on its queue, then drains up to `max_batch` queued requests and applies
//! them **in arrival order inside one redb write transaction**. Each request is evaluated
//! against the state left by the requests before it in the same batch, gets its own revision
//! (if it changed anything), and can fail on its own (a failed compare or a missing lease
//! affects only that request). The batch is committed once with `Durability::Immediate`;
//! only then are lease timers updated, watch events published and the requests answered.
//! If the commit (or any storage access) fails, the whole batch is rolled back and every
//! request in it gets the storage error; an I/O failure also sends the writer into
//! [`recovery`](super::recovery) until a commit fits again.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use redb::{Database, Durability, ReadableTable, Table, WriteTransaction};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::format::{
    Header, KV, LEASE_KEYS, LEASES, META, META_NEXT_LEASE, META_REVISION, decode_value,
    encode_value, lease_key,
};
use super::shared::{LeaseTimer, Shared};
use crate::error::{Error, Fault, Result};
use crate::store::{
    Compare, EventKind, LeaseId, Op, Revision, Txn, TxnResponse, WatchEvent, prefix_end,
};

/// A write request for the writer thread.
pub(crate) enum Request {
    /// A transaction.
    Txn {
        txn: Txn,
        reply: oneshot::Sender<Result<TxnResponse>>,
    },
    /// Grant a lease; `deadline` is computed by the caller on the runtime's clock.
    Grant {
        ttl_ms: u64,
        deadline: Instant,
        reply: oneshot::Sender<Result<LeaseId>>,
    },
    /// Revoke a lease; `reply` is `None` when the reaper expires it.
    Revoke {
        lease: LeaseId,
        reply: Option<oneshot::Sender<Result<()>>>,
    },
}

/// A request's answer, held until the batch commits.
enum Reply {
    Txn(oneshot::Sender<Result<TxnResponse>>, Result<TxnResponse>),
    Lease(oneshot::Sender<Result<LeaseId>>, Result<LeaseId>),
    Unit(Option<oneshot::Sender<Result<()>>>, Result<()>),
}

impl Reply {
    /// Sends the answer, or the batch's failure instead. A dropped receiver (the caller gave
    /// up) is not an error: the write stands, as with a lost network reply.
    fn send(self, failure: Option<&Error>) {
        match self {
            Reply::Txn(tx, r) => {
                let _ = tx.send(fail_map(failure, r));
            }
            Reply::Lease(tx, r) => {
                let _ = tx.send(fail_map(failure, r));
            }
            Reply::Unit(Some(tx), r) => {
                let _ = tx.send(fail_map(failure, r));
            }
            Reply::Unit(None, r) => {
                // An expiry by the reaper: nobody waits. A lease revoked meanwhile is fine.
                if let Err(e) = fail_map(failure, r)
                    && !matches!(e, Error::LeaseNotFound(_))
                {
                    tracing::warn!(error = %e, "expiring a lease failed");
                }
            }
        }
    }
}

fn fail_map<T>(failure: Option<&Error>, r: Result<T>) -> Result<T> {
    match failure {
        Some(e) => Err(clone_failure(e)),
        None => r,
    }
}

/// Batch failures are storage errors, whose source is shared; anything else cannot occur at
/// batch level and is reported as `Closed`.
fn clone_failure(e: &Error) -> Error {
    match e {
        Error::Storage(s) => Error::Storage(Arc::clone(s)),
        Error::Fault(f) => Error::Fault(f.clone()),
        _ => Error::Closed,
    }
}

/// Side effects of a batch, applied after its commit.
#[derive(Default)]
struct Effects {
    events: Vec<WatchEvent>,
    granted: Vec<(LeaseId, LeaseTimer)>,
    revoked: Vec<LeaseId>,
}

/// The open tables of one write transaction.
struct Tables<'t> {
    kv: Table<'t, &'static [u8], &'static [u8]>,
    leases: Table<'t, i64, u64>,
    lease_keys: Table<'t, &'static [u8], ()>,
    meta: Table<'t, &'static str, u64>,
}

impl<'t> Tables<'t> {
    fn open(wtx: &'t WriteTransaction) -> Result<Tables<'t>> {
        Ok(Tables {
            kv: wtx.open_table(KV)?,
            leases: wtx.open_table(LEASES)?,
            lease_keys: wtx.open_table(LEASE_KEYS)?,
            meta: wtx.open_table(META)?,
        })
    }

    fn header(&self, key: &[u8]) -> Result<Option<(Header, Vec<u8>)>> {
        match self.kv.get(key)? {
            Some(g) => {
                let (h, v) = decode_value(g.value())?;
                Ok(Some((h, v.to_vec())))
            }
            None => Ok(None),
        }
    }
}

/// The writer thread's state.
pub(crate) struct Writer {
    /// The open database; `None` only during [`recovery`](super::recovery).
    pub(crate) db: Option<Arc<Database>>,
    /// The file, to reopen it after an I/O failure.
    pub(crate) path: PathBuf,
    /// redb page cache for a reopen, in bytes.
    pub(crate) cache_size: usize,
    /// Lease expiries that arrived while the store was failed, replayed once it heals (the
    /// reaper forgets a lease when it asks, so dropping these would leave its keys forever).
    pub(crate) deferred: Vec<Request>,
    pub(crate) rx: Receiver<Request>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) revision: Revision,
    pub(crate) next_lease: i64,
    pub(crate) max_batch: usize,
}

impl Writer {
    /// Runs until every sender is dropped, then ends all watches.
    pub(crate) fn run(mut self) {
        while let Ok(first) = self.rx.recv() {
            let mut batch = vec![first];
            while batch.len() < self.max_batch {
                match self.rx.try_recv() {
                    Ok(req) => batch.push(req),
                    Err(_) => break,
                }
            }
            if let Some(fault) = self.process(batch)
                && !self.recover(fault)
            {
                break;
            }
        }
        self.shared.close_watchers();
        tracing::debug!("metadata writer stopped");
    }

    /// Applies a batch; returns the fault that failed it, if reopening may heal it.
    pub(super) fn process(&mut self, batch: Vec<Request>) -> Option<Fault> {
        let (revision0, next_lease0) = (self.revision, self.next_lease);
        let expiries: Vec<LeaseId> = batch
            .iter()
            .filter_map(|r| match r {
                Request::Revoke { lease, reply: None } => Some(*lease),
                Request::Revoke { reply: Some(_), .. }
                | Request::Txn { .. }
                | Request::Grant { .. } => None,
            })
            .collect();
        let mut fx = Effects::default();
        let mut replies = Vec::with_capacity(batch.len());
        let result = self.apply_batch(batch, &mut replies, &mut fx);
        self.shared
            .batches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.shared
            .requests
            .fetch_add(replies.len() as u64, std::sync::atomic::Ordering::Relaxed);
        match result {
            Ok(()) => {
                self.shared.update_leases(&fx.granted, &fx.revoked);
                self.shared.publish(self.revision, fx.events);
                replies.into_iter().for_each(|r| r.send(None));
                None
            }
            Err(e) => {
                tracing::error!(error = %e, requests = replies.len(), "metadata batch failed");
                self.revision = revision0;
                self.next_lease = next_lease0;
                // Callers get the fault (a clear "disk full"), not redb's raw error.
                let fault = Fault::of_error(&e);
                if fault.is_some() {
                    let again = expiries.into_iter();
                    self.deferred
                        .extend(again.map(|lease| Request::Revoke { lease, reply: None }));
                }
                let e = fault.clone().map_or(e, Error::Fault);
                replies.into_iter().for_each(|r| r.send(Some(&e)));
                fault
            }
        }
    }

    /// Applies and commits a batch. Pushes one reply per request, also on failure.
    fn apply_batch(
        &mut self,
        batch: Vec<Request>,
        replies: &mut Vec<Reply>,
        fx: &mut Effects,
    ) -> Result<()> {
        let mut batch = batch.into_iter();
        let result = self.apply_in_txn(&mut batch, replies, fx);
        // Requests not reached because of a failure still need an answer.
        replies.extend(batch.map(|req| match req {
            Request::Txn { reply, .. } => Reply::Txn(reply, Err(Error::Closed)),
            Request::Grant { reply, .. } => Reply::Lease(reply, Err(Error::Closed)),
            Request::Revoke { reply, .. } => Reply::Unit(reply, Err(Error::Closed)),
        }));
        result
    }

    fn apply_in_txn(
        &mut self,
        batch: &mut impl Iterator<Item = Request>,
        replies: &mut Vec<Reply>,
        fx: &mut Effects,
    ) -> Result<()> {
        let (revision0, next_lease0) = (self.revision, self.next_lease);
        let db = self.db.as_ref().ok_or_else(|| self.shared.fault_error())?;
        let mut wtx = db.begin_write()?;
        wtx.set_durability(Durability::Immediate)?;
        let dirty = {
            let mut t = Tables::open(&wtx)?;
            for req in batch.by_ref() {
                let (reply, outcome) = self.apply_request(&mut t, req, fx);
                replies.push(reply);
                outcome?;
            }
            let dirty = self.revision != revision0
                || self.next_lease != next_lease0
                || !fx.revoked.is_empty();
            if dirty {
                t.meta.insert(META_REVISION, self.revision)?;
                let next_lease = u64::try_from(self.next_lease).unwrap_or(1);
                t.meta.insert(META_NEXT_LEASE, next_lease)?;
            }
            dirty
        };
        if dirty {
            wtx.commit()?;
        } else {
            // Only failed compares or no-op deletes: nothing to make durable, skip the fsync.
            wtx.abort()?;
        }
        Ok(())
    }

    /// Applies one request. The second value is a batch-fatal (storage) error, if any.
    fn apply_request(
        &mut self,
        t: &mut Tables<'_>,
        req: Request,
        fx: &mut Effects,
    ) -> (Reply, Result<()>) {
        match req {
            Request::Txn { txn, reply } => match self.apply_txn(t, txn, fx) {
                Ok(r) => (Reply::Txn(reply, r), Ok(())),
                Err(e) => (Reply::Txn(reply, Err(Error::Closed)), Err(e)),
            },
            Request::Grant {
                ttl_ms,
                deadline,
                reply,
            } => match self.apply_grant(t, ttl_ms, deadline, fx) {
                Ok(id) => (Reply::Lease(reply, Ok(id)), Ok(())),
                Err(e) => (Reply::Lease(reply, Err(Error::Closed)), Err(e)),
            },
            Request::Revoke { lease, reply } => match self.apply_revoke(t, lease, fx) {
                Ok(r) => (Reply::Unit(reply, r), Ok(())),
                Err(e) => (Reply::Unit(reply, Err(Error::Closed)), Err(e)),
            },
        }
    }

    /// Outer error: storage (fails the batch). Inner error: this request only.
    fn apply_txn(
        &mut self,
        t: &mut Tables<'_>,
        txn: Txn,
        fx: &mut Effects,
    ) -> Result<Result<TxnResponse>> {
        let mut succeeded = true;
        for c in &txn.compares {
            if !compare(t, c)? {
                succeeded = false;
                break;
            }
        }
        let ops = if succeeded { txn.success } else { txn.failure };
        for op in &ops {
            if let Op::Put {
                lease: Some(lease), ..
            } = op
                && (lease.0 <= 0 || t.leases.get(lease.0)?.is_none())
            {
                return Ok(Err(Error::LeaseNotFound(*lease)));
            }
        }
        let rev = self.revision + 1;
        let mut changed = false;
        for op in ops {
            changed |= apply_op(t, op, rev, fx)?;
        }
        if changed {
            self.revision = rev;
        }
        Ok(Ok(TxnResponse {
            succeeded,
            revision: self.revision,
        }))
    }

    fn apply_grant(
        &mut self,
        t: &mut Tables<'_>,
        ttl_ms: u64,
        deadline: Instant,
        fx: &mut Effects,
    ) -> Result<LeaseId> {
        let id = self.next_lease;
        self.next_lease += 1;
        t.leases.insert(id, ttl_ms)?;
        let ttl = std::time::Duration::from_millis(ttl_ms);
        fx.granted.push((LeaseId(id), LeaseTimer { ttl, deadline }));
        Ok(LeaseId(id))
    }

    fn apply_revoke(
        &mut self,
        t: &mut Tables<'_>,
        lease: LeaseId,
        fx: &mut Effects,
    ) -> Result<Result<()>> {
        if t.leases.remove(lease.0)?.is_none() {
            return Ok(Err(Error::LeaseNotFound(lease)));
        }
        fx.revoked.push(lease);
        let prefix = lease.0.to_be_bytes();
        let end = prefix_end(&prefix);
        let rows: Vec<Vec<u8>> = t
            .lease_keys
            .range::<&[u8]>(&prefix[..]..end.as_slice())?
            .map(|r| r.map(|(k, _)| k.value().to_vec()))
            .collect::<Result<_, _>>()?;
        let rev = self.revision + 1;
        let mut changed = false;
        for row in rows {
            t.lease_keys.remove(row.as_slice())?;
            let key = &row[prefix.len()..];
            // Only delete keys still attached to this lease (the index is kept exact, but a
            // mismatch must never delete someone else's key).
            if let Some((h, _)) = t.header(key)?
                && h.lease == lease.0
            {
                t.kv.remove(key)?;
                fx.events.push(delete_event(key, rev));
                changed = true;
            }
        }
        if changed {
            self.revision = rev;
        }
        Ok(Ok(()))
    }
}

fn compare(t: &Tables<'_>, c: &Compare) -> Result<bool> {
    Ok(match c {
        Compare::Absent(k) => t.kv.get(k.as_slice())?.is_none(),
        Compare::Exists(k) => t.kv.get(k.as_slice())?.is_some(),
        Compare::ModRevision(k, rev) => t.header(k)?.is_some_and(|(h, _)| h.mod_revision == *rev),
        Compare::Value(k, v) => t.header(k)?.is_some_and(|(_, value)| value == *v),
    })
}

/// Applies one op at revision `rev`; returns whether it changed anything.
fn apply_op(t: &mut Tables<'_>, op: Op, rev: Revision, fx: &mut Effects) -> Result<bool> {
    match op {
        Op::Put { key, value, lease } => {
            put(t, &key, &value, lease, rev)?;
            fx.events.push(WatchEvent {
                kind: EventKind::Put,
                key,
                value,
                mod_revision: rev,
            });
            Ok(true)
        }
        Op::Delete { key } => {
            let existed = delete(t, &key)?;
            if existed {
                fx.events.push(delete_event(&key, rev));
            }
            Ok(existed)
        }
        Op::DeleteRange { start, end } => {
            let keys = keys_in_range(t, &start, &end)?;
            for key in &keys {
                delete(t, key)?;
                fx.events.push(delete_event(key, rev));
            }
            Ok(!keys.is_empty())
        }
    }
}

fn put(
    t: &mut Tables<'_>,
    key: &[u8],
    value: &[u8],
    lease: Option<LeaseId>,
    rev: Revision,
) -> Result<()> {
    let old =
        t.kv.get(key)?
            .map(|g| decode_value(g.value()).map(|(h, _)| h))
            .transpose()?;
    let new_lease = lease.map_or(0, |l| l.0);
    if let Some(old) = old
        && old.lease != 0
        && old.lease != new_lease
    {
        t.lease_keys.remove(lease_key(old.lease, key).as_slice())?;
    }
    if new_lease != 0 {
        t.lease_keys
            .insert(lease_key(new_lease, key).as_slice(), ())?;
    }
    let header = Header {
        create_revision: old.map_or(rev, |h| h.create_revision),
        mod_revision: rev,
        lease: new_lease,
    };
    t.kv.insert(key, encode_value(&header, value).as_slice())?;
    Ok(())
}

/// Deletes `key` and its lease index row; returns whether it existed.
fn delete(t: &mut Tables<'_>, key: &[u8]) -> Result<bool> {
    let old =
        t.kv.remove(key)?
            .map(|g| decode_value(g.value()).map(|(h, _)| h))
            .transpose()?;
    match old {
        Some(h) => {
            if h.lease != 0 {
                t.lease_keys.remove(lease_key(h.lease, key).as_slice())?;
            }
            Ok(true)
        }
        None => Ok(false),
    }
}

fn keys_in_range(t: &Tables<'_>, start: &[u8], end: &[u8]) -> Result<Vec<Vec<u8>>> {
    let Some(bounds) = super::key_bounds(start, end) else {
        return Ok(Vec::new());
    };
    t.kv.range::<&[u8]>(bounds)?
        .map(|r| r.map(|(k, _)| k.value().to_vec()).map_err(Error::from))
        .collect()
}

fn delete_event(key: &[u8], rev: Revision) -> WatchEvent {
    WatchEvent {
        kind: EventKind::Delete,
        key: key.to_vec(),
        value: Vec::new(),
        mod_revision: rev,
    }
}
