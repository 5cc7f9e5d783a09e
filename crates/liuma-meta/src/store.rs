//! The backend-neutral metadata API: [`MetaStore`], transactions, watches and key helpers.
//!
//! The model is etcd's, reduced to what liuma needs:
//!
//! - a flat, byte-ordered key space; keys are non-empty byte strings;
//! - a store-wide [`Revision`] that grows by one for every committed write (a transaction,
//!   put, delete or lease revocation that changed at least one key); every key records the
//!   revision that created it and the one that last modified it;
//! - multi-key transactions: compares, then a success or a failure branch, atomically;
//! - prefix watches and TTL leases that delete their keys when they end.
//!
//! ## Ranges
//!
//! A range `[start, end)` holds the keys `k` with `start <= k < end` in byte order. Following
//! etcd, `end == [0]` (what [`prefix_end`] returns when no finite end exists) means "no upper
//! bound". Any other `end <= start` is an empty range.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::error::{Error, Health, Result};
use crate::packed::PackedRows;

/// Store-wide version counter, like etcd's. It increases by one with every committed write
/// transaction that changed at least one key; a transaction that changed nothing (failed
/// compares with an empty failure branch, deleting absent keys) does not bump it.
/// Revisions of stored keys are always `>= 1`.
pub type Revision = u64;

/// A lease handle. Keys attached to a lease are deleted when it is revoked or expires.
/// Backends hand out positive ids; 0 is never a valid lease (etcd uses it for "no lease").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LeaseId(pub i64);

/// Maximum number of entries in each of a transaction's three lists (compares, success ops,
/// failure ops) that every backend must accept: etcd's default `--max-txn-ops`.
/// Callers batch larger work into several transactions.
pub const MAX_TXN_OPS: usize = 128;

/// Largest value that every backend accepts in one put (1 MiB). etcd also caps a whole
/// request at 1.5 MiB by default, so many large values must not share one transaction.
pub const MAX_VALUE_SIZE: usize = 1024 * 1024;

/// Largest key that every backend accepts (16 KiB).
pub const MAX_KEY_SIZE: usize = 16 * 1024;

/// One stored key with its value and bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value (may be empty).
    pub value: Vec<u8>,
    /// Revision of the write that created the key (kept across overwrites).
    pub create_revision: Revision,
    /// Revision of the write that last put the key.
    pub mod_revision: Revision,
    /// The lease the key is attached to, if any.
    pub lease: Option<LeaseId>,
}

/// A condition of a [`Txn`], evaluated atomically with the transaction's writes.
#[derive(Clone, Debug)]
pub enum Compare {
    /// The key does not exist.
    Absent(Vec<u8>),
    /// The key exists.
    Exists(Vec<u8>),
    /// The key exists and its `mod_revision` equals the given revision. Pass a revision read
    /// from a [`KeyValue`] (always `>= 1`); use [`Compare::Absent`] for "does not exist".
    ModRevision(Vec<u8>, Revision),
    /// The key exists and its value equals the given bytes (false for a missing key, even
    /// when comparing with the empty value, as in etcd).
    Value(Vec<u8>, Vec<u8>),
}

/// A write of a [`Txn`].
#[derive(Clone, Debug)]
pub enum Op {
    /// Create or overwrite `key`, optionally attached to `lease` (which must exist).
    /// Overwriting detaches the key from its previous lease.
    Put {
        /// The key (non-empty).
        key: Vec<u8>,
        /// The new value.
        value: Vec<u8>,
        /// Lease to attach the key to, or `None` for a permanent key.
        lease: Option<LeaseId>,
    },
    /// Delete `key` if it exists.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
    /// Delete every key in `[start, end)` (see the module docs for `end == [0]`).
    DeleteRange {
        /// First key of the range (inclusive).
        start: Vec<u8>,
        /// End of the range (exclusive).
        end: Vec<u8>,
    },
}

impl Op {
    /// A put of `value` at `key` without a lease.
    pub fn put(k: impl Into<Vec<u8>>, v: impl Into<Vec<u8>>) -> Op {
        Op::Put {
            key: k.into(),
            value: v.into(),
            lease: None,
        }
    }

    /// A put of `value` at `key`, attached to `lease`.
    pub fn put_with_lease(k: impl Into<Vec<u8>>, v: impl Into<Vec<u8>>, lease: LeaseId) -> Op {
        Op::Put {
            key: k.into(),
            value: v.into(),
            lease: Some(lease),
        }
    }

    /// A delete of `key`.
    pub fn delete(k: impl Into<Vec<u8>>) -> Op {
        Op::Delete { key: k.into() }
    }

    /// A delete of every key in `[start, end)`.
    pub fn delete_range(start: impl Into<Vec<u8>>, end: impl Into<Vec<u8>>) -> Op {
        Op::DeleteRange {
            start: start.into(),
            end: end.into(),
        }
    }
}

/// A multi-key transaction with etcd semantics: if every compare holds, the success ops run,
/// otherwise the failure ops run; either way atomically, as one revision.
///
/// Ops run in order, so a later op on the same key sees (and overrides) an earlier one.
/// Each list may hold at most [`MAX_TXN_OPS`] entries.
#[derive(Clone, Debug, Default)]
pub struct Txn {
    /// Conditions; all must hold for the success branch.
    pub compares: Vec<Compare>,
    /// Ops applied when every compare holds.
    pub success: Vec<Op>,
    /// Ops applied when any compare fails.
    pub failure: Vec<Op>,
}

impl Txn {
    /// An empty transaction (no compares: the success branch runs).
    pub fn new() -> Txn {
        Txn::default()
    }

    /// Adds a compare.
    pub fn when(mut self, c: Compare) -> Self {
        self.compares.push(c);
        self
    }

    /// Adds an op to the success branch.
    pub fn and_then(mut self, op: Op) -> Self {
        self.success.push(op);
        self
    }

    /// Adds an op to the failure branch.
    pub fn or_else(mut self, op: Op) -> Self {
        self.failure.push(op);
        self
    }

    /// Checks the backend-neutral limits: list lengths ([`Error::TooManyOps`]), empty keys
    /// ([`Error::EmptyKey`]), key sizes ([`Error::KeyTooLarge`]) and value sizes against
    /// `max_value` ([`Error::ValueTooLarge`]).
    pub fn validate(&self, max_value: usize) -> Result<()> {
        let longest = self
            .compares
            .len()
            .max(self.success.len())
            .max(self.failure.len());
        if longest > MAX_TXN_OPS {
            return Err(Error::TooManyOps {
                ops: longest,
                max: MAX_TXN_OPS,
            });
        }
        for op in self.success.iter().chain(&self.failure) {
            match op {
                Op::Put { key, value, .. } => {
                    check_key(key)?;
                    if value.len() > max_value {
                        return Err(Error::ValueTooLarge {
                            size: value.len(),
                            max: max_value,
                        });
                    }
                }
                Op::Delete { key } => check_key(key)?,
                // An empty start is fine: the range begins at the first key.
                Op::DeleteRange { .. } => {}
            }
        }
        Ok(())
    }
}

/// Rejects empty and oversized keys.
pub(crate) fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(Error::EmptyKey);
    }
    if key.len() > MAX_KEY_SIZE {
        return Err(Error::KeyTooLarge {
            size: key.len(),
            max: MAX_KEY_SIZE,
        });
    }
    Ok(())
}

/// Outcome of a committed [`Txn`].
#[derive(Clone, Debug)]
pub struct TxnResponse {
    /// True when every compare held and the success branch ran.
    pub succeeded: bool,
    /// The revision of this transaction's writes, or, when it wrote nothing, the store
    /// revision it was evaluated at.
    pub revision: Revision,
}

/// What happened to a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The key was created or overwritten.
    Put,
    /// The key was deleted (explicitly, by a range delete, or by its lease ending).
    Delete,
}

/// One change seen by a [`Watch`].
#[derive(Clone, Debug)]
pub struct WatchEvent {
    /// Put or delete.
    pub kind: EventKind,
    /// The key.
    pub key: Vec<u8>,
    /// The new value; empty for a delete.
    pub value: Vec<u8>,
    /// Revision of the write; for a delete, the revision of the deleting write.
    pub mod_revision: Revision,
}

/// A stream of changes under a key prefix, in revision order (and, within a revision, in the
/// order of the transaction's ops).
///
/// **Lag policy: the stream ends, it never skips.** Each watch has a bounded buffer. If the
/// consumer falls so far behind that the buffer fills, the backend drops the watch (logging a
/// warning): [`Watch::next`] returns the events already buffered and then `None`, and
/// [`Watch::is_lagged`] turns true. The caller must then re-list (range) and watch again.
/// `None` with `is_lagged() == false` means the store was closed.
#[derive(Debug)]
pub struct Watch {
    rx: mpsc::Receiver<WatchEvent>,
    lagged: Arc<AtomicBool>,
}

impl Watch {
    /// Wraps a channel fed by a backend; the backend sets `lagged` before dropping the sender
    /// because the buffer was full.
    pub(crate) fn new(rx: mpsc::Receiver<WatchEvent>, lagged: Arc<AtomicBool>) -> Watch {
        Watch { rx, lagged }
    }

    /// The next event, or `None` when the watch ended (store closed, or the watcher lagged:
    /// see [`Watch::is_lagged`]).
    pub async fn next(&mut self) -> Option<WatchEvent> {
        self.rx.recv().await
    }

    /// True when the watch was ended because its consumer fell behind; events after the last
    /// one returned were not delivered, so the caller must re-list.
    pub fn is_lagged(&self) -> bool {
        self.lagged.load(Ordering::Acquire)
    }
}

/// The metadata store: a small etcd-like KV interface implemented by every backend.
///
/// All methods are cancel-safe in the etcd sense: a write whose future is dropped may or may
/// not have been applied, exactly like a request to a remote server whose answer was lost.
#[async_trait::async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// The current value of `key`.
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>>;

    /// Keys in `[start, end)` in ascending byte order; at most `limit` of them (`0` = no
    /// limit). Callers paginate with `start = key_after(last_key)`. `end == [0]` means no
    /// upper bound (etcd's rule).
    async fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>>;

    /// The keys and values of [`MetaStore::range`] in one buffer (no
    /// revisions or lease): for listings, which read many rows and only
    /// their bytes. Backends that can fill it without a [`KeyValue`] per
    /// row override it.
    async fn range_packed(&self, start: &[u8], end: &[u8], limit: usize) -> Result<PackedRows> {
        Ok(PackedRows::from(self.range(start, end, limit).await?))
    }

    /// Runs a transaction atomically. More than [`MAX_TXN_OPS`] entries in any of its lists
    /// fails with [`Error::TooManyOps`]; a put naming a missing lease fails the whole
    /// transaction with [`Error::LeaseNotFound`]. Either way nothing is applied.
    async fn txn(&self, txn: Txn) -> Result<TxnResponse>;

    /// Creates or overwrites `key` (without a lease); returns the write's revision, which is
    /// the key's new `mod_revision`.
    async fn put(&self, key: &[u8], value: &[u8]) -> Result<Revision> {
        let resp = self.txn(Txn::new().and_then(Op::put(key, value))).await?;
        Ok(resp.revision)
    }

    /// Deletes `key`; returns true if it existed.
    async fn delete(&self, key: &[u8]) -> Result<bool> {
        let txn = Txn::new()
            .when(Compare::Exists(key.to_vec()))
            .and_then(Op::delete(key));
        Ok(self.txn(txn).await?.succeeded)
    }

    /// Watches every key starting with `prefix` (the empty prefix watches everything).
    /// Delivers the changes committed after this call returns, in revision order.
    async fn watch_prefix(&self, prefix: &[u8]) -> Result<Watch>;

    /// Grants a lease that expires `ttl` after the last keep-alive. Backends may round the TTL
    /// up (etcd: to whole seconds, at least its minimum TTL).
    async fn grant_lease(&self, ttl: std::time::Duration) -> Result<LeaseId>;

    /// Restarts the lease's TTL. [`Error::LeaseNotFound`] if it expired or was revoked.
    async fn keep_alive(&self, lease: LeaseId) -> Result<()>;

    /// Ends the lease now, deleting every key attached to it (with Delete watch events).
    /// [`Error::LeaseNotFound`] if it already ended.
    async fn revoke_lease(&self, lease: LeaseId) -> Result<()>;

    /// Short name of the backend (`"redb"`, `"etcd"`), for logs and metrics.
    fn backend_name(&self) -> &'static str;

    /// Whether writes can commit right now, from state the store already has (no I/O): the
    /// engine asks before it writes any shard of an upload, so that a store that cannot
    /// commit does not leave data behind for GC, and `/ready` reports it. A required method,
    /// so that wrappers cannot forget to forward it.
    fn health(&self) -> Health;
}

/// A shared, type-erased metadata store.
pub type DynMetaStore = Arc<dyn MetaStore>;

/// The smallest key greater than every key starting with `prefix`, for use as a range end
/// (etcd's `GetPrefixRangeEnd`): trailing `0xff` bytes are dropped and the last remaining byte
/// is incremented. When no such key exists (the prefix is empty or all `0xff`), returns
/// `[0]`, which ranges interpret as "no upper bound".
///
/// ```
/// assert_eq!(liuma_meta::prefix_end(b"ab"), b"ac".to_vec());
/// assert_eq!(liuma_meta::prefix_end(b"a\xff"), b"b".to_vec());
/// assert_eq!(liuma_meta::prefix_end(b"\xff\xff"), vec![0]);
/// assert_eq!(liuma_meta::prefix_end(b""), vec![0]);
/// ```
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The smallest key greater than `key`: `key ++ [0]`. Used to continue a paginated range.
///
/// ```
/// assert_eq!(liuma_meta::key_after(b"k"), b"k\0".to_vec());
/// ```
pub fn key_after(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// True when `end` is etcd's "no upper bound" marker.
pub(crate) fn is_unbounded_end(end: &[u8]) -> bool {
    end == [0]
}

/// A watch-registration helper shared by backends: a bounded channel plus its lag flag.
pub(crate) fn watch_channel(capacity: usize) -> (mpsc::Sender<WatchEvent>, Arc<AtomicBool>, Watch) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let lagged = Arc::new(AtomicBool::new(false));
    (tx, lagged.clone(), Watch::new(rx, lagged))
}

/// Converts a TTL to whole milliseconds, at least 1.
pub(crate) fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_follows_etcd() {
        assert_eq!(prefix_end(b"a"), b"b");
        assert_eq!(prefix_end(b"a\x00"), b"a\x01");
        assert_eq!(prefix_end(b"a\xfe\xff"), b"a\xff");
        assert_eq!(prefix_end(b"\xff"), [0]);
        assert_eq!(prefix_end(b""), [0]);
    }

    #[test]
    fn validate_limits() {
        let mut txn = Txn::new();
        for i in 0..MAX_TXN_OPS {
            txn = txn.and_then(Op::put(format!("k{i}"), "v"));
        }
        assert!(txn.validate(10).is_ok());
        let txn = txn.and_then(Op::put("x", "v"));
        assert!(matches!(
            txn.validate(10),
            Err(Error::TooManyOps { ops: 129, max: 128 })
        ));
        let txn = Txn::new().or_else(Op::put("k", vec![0; 11]));
        assert!(matches!(
            txn.validate(10),
            Err(Error::ValueTooLarge { size: 11, max: 10 })
        ));
        assert!(matches!(
            Txn::new().and_then(Op::delete("")).validate(10),
            Err(Error::EmptyKey)
        ));
    }
}
