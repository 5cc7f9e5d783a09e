//! State shared by the store handle, the writer thread and the lease reaper: the open
//! database, the store's health, the watcher registry and the in-memory lease deadlines.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use redb::Database;

use crate::error::{Error, Fault, Health, Result};
use crate::store::{LeaseId, Revision, Watch, WatchEvent, watch_channel};

/// One registered watch.
struct Watcher {
    prefix: Vec<u8>,
    tx: mpsc::Sender<WatchEvent>,
    lagged: Arc<AtomicBool>,
}

#[derive(Default)]
struct Watchers {
    list: Vec<Watcher>,
    closed: bool,
}

/// A live lease's timer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeaseTimer {
    pub(crate) ttl: Duration,
    pub(crate) deadline: Instant,
}

/// See the module docs.
pub(crate) struct Shared {
    /// The open database; `None` while the writer reopens it after an I/O failure.
    db: RwLock<Option<Arc<Database>>>,
    /// Writable, or the fault the writer is healing from (it alone changes this).
    health: RwLock<Health>,
    watchers: Mutex<Watchers>,
    leases: Mutex<HashMap<LeaseId, LeaseTimer>>,
    /// Wakes the reaper: a lease was granted (maybe with an earlier deadline) or the store
    /// is closing.
    pub(crate) lease_wake: Notify,
    closed: AtomicBool,
    watch_capacity: usize,
    /// Last committed revision (updated together with the watch dispatch).
    revision: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) requests: AtomicU64,
}

/// Locks a mutex, ignoring poisoning: the data behind these locks stays consistent because
/// no code path panics while holding them.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(
        db: Arc<Database>,
        watch_capacity: usize,
        revision: Revision,
        leases: HashMap<LeaseId, LeaseTimer>,
    ) -> Shared {
        Shared {
            db: RwLock::new(Some(db)),
            health: RwLock::new(Health::Writable),
            watchers: Mutex::new(Watchers::default()),
            leases: Mutex::new(leases),
            lease_wake: Notify::new(),
            closed: AtomicBool::new(false),
            watch_capacity,
            revision: AtomicU64::new(revision),
            batches: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        }
    }

    /// The open database for a read, or the fault that closed it. A read holds its own
    /// handle, so the writer's reopen waits for reads in flight (redb locks the file).
    pub(crate) fn database(&self) -> Result<Arc<Database>> {
        let db = self
            .db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match db {
            Some(db) => Ok(db),
            None => Err(self.fault_error()),
        }
    }

    /// Installs (or, with `None`, withdraws) the database readers use.
    pub(crate) fn set_database(&self, db: Option<Arc<Database>>) {
        *self.db.write().unwrap_or_else(PoisonError::into_inner) = db;
    }

    /// The store's health.
    pub(crate) fn health(&self) -> Health {
        self.health
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_health(&self, health: Health) {
        *self.health.write().unwrap_or_else(PoisonError::into_inner) = health;
    }

    /// The current fault as an error (`Closed` when the store is healthy but has no
    /// database, which only happens while it shuts down).
    pub(crate) fn fault_error(&self) -> Error {
        match self.health() {
            Health::Failed(f) => Error::Fault(f),
            Health::Writable => Error::Closed,
        }
    }

    /// Maps a failed read: once the writer knows of a fault, a read that ran into it (redb's
    /// `PreviousIo` latch, or the old handle closed by a reopen) reports that fault.
    pub(crate) fn read_error(&self, e: Error) -> Error {
        match e {
            Error::Storage(s) => match (Fault::of_redb(&s), self.health()) {
                (Some(_), Health::Failed(f)) => Error::Fault(f),
                (Some(f), Health::Writable) => Error::Fault(f),
                (None, _) => Error::Storage(s),
            },
            other => other,
        }
    }

    /// The last committed revision.
    pub(crate) fn revision(&self) -> Revision {
        self.revision.load(Ordering::Acquire)
    }

    /// Registers a watch. Holding the registry lock orders this call against commits: the
    /// watch gets exactly the events of commits published after it.
    pub(crate) fn register_watch(&self, prefix: &[u8]) -> Result<Watch> {
        let mut w = lock(&self.watchers);
        if w.closed {
            return Err(Error::Closed);
        }
        w.list.retain(|x| !x.tx.is_closed());
        let (tx, lagged, watch) = watch_channel(self.watch_capacity);
        w.list.push(Watcher {
            prefix: prefix.to_vec(),
            tx,
            lagged,
        });
        Ok(watch)
    }

    /// Publishes a committed batch: records its revision and hands each event to the matching
    /// watchers. Never blocks: a watcher whose buffer is full is dropped (lag policy of
    /// [`Watch`]).
    pub(crate) fn publish(&self, revision: Revision, events: Vec<WatchEvent>) {
        let mut w = lock(&self.watchers);
        self.revision.store(revision, Ordering::Release);
        for event in events {
            w.list.retain(|x| {
                if !event.key.starts_with(&x.prefix) {
                    return true;
                }
                match x.tx.try_send(event.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::warn!(
                            capacity = self.watch_capacity,
                            "metadata watcher fell behind; ending its watch so it re-lists"
                        );
                        x.lagged.store(true, Ordering::Release);
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                }
            });
        }
    }

    /// Ends every watch (their streams return `None` after draining) and refuses new ones.
    pub(crate) fn close_watchers(&self) {
        let mut w = lock(&self.watchers);
        w.closed = true;
        w.list.clear();
    }

    /// Marks the store closed and wakes the reaper so it exits.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.lease_wake.notify_one();
    }

    /// True once the store handle was dropped.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Applies a committed batch's lease changes.
    pub(crate) fn update_leases(&self, granted: &[(LeaseId, LeaseTimer)], revoked: &[LeaseId]) {
        if granted.is_empty() && revoked.is_empty() {
            return;
        }
        let mut leases = lock(&self.leases);
        for id in revoked {
            leases.remove(id);
        }
        leases.extend(granted.iter().copied());
        drop(leases);
        if !granted.is_empty() {
            self.lease_wake.notify_one();
        }
    }

    /// Restarts a lease's TTL from `now`; fails if it is unknown or already past its deadline.
    pub(crate) fn keep_alive(&self, lease: LeaseId, now: Instant) -> Result<()> {
        let mut leases = lock(&self.leases);
        match leases.get_mut(&lease) {
            Some(t) if t.deadline > now => {
                t.deadline = now + t.ttl;
                Ok(())
            }
            _ => Err(Error::LeaseNotFound(lease)),
        }
    }

    /// The earliest lease deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        lock(&self.leases).values().map(|t| t.deadline).min()
    }

    /// Removes and returns the leases whose deadline is `<= now`. From here on they count as
    /// gone ([`Shared::keep_alive`] fails) even before the writer deletes their keys.
    pub(crate) fn take_expired(&self, now: Instant) -> Vec<LeaseId> {
        let mut leases = lock(&self.leases);
        let expired: Vec<LeaseId> = leases
            .iter()
            .filter(|(_, t)| t.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            leases.remove(id);
        }
        expired
    }
}
