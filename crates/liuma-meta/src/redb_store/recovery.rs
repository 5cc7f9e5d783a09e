//! Healing after an I/O failure of the redb file (typically: its disk filled up).
//!
//! After any I/O error redb latches: every later operation on that `Database`, reads
//! included, fails with `PreviousIo` ("close and re-open the database"). Without this module
//! the store stayed broken until the process restarted, even after space was freed.
//!
//! The writer thread owns recovery, because it is the only writer: no write transaction is
//! alive while it reopens, which redb needs to release its file lock. It loops:
//!
//! 1. **Reopen** when the current handle is latched: withdraw it from readers, drop it, and
//!    `Database::open` the file again (redb runs its crash recovery). A read still in flight
//!    keeps the old handle, and thus the file lock, for a moment: the open is retried briefly.
//!    Reads work again as soon as this succeeds, even while the disk is still full.
//! 2. **Probe** whether writes fit, but only when the file system reports room for
//!    [`PROBE_ROOM`] (`statvfs`): a probe that fails latches redb again and costs a reopen
//!    with its recovery scan, so it is not tried while the answer is known. The probe commits
//!    a [`PROBE_BYTES`] value and then deletes it (two durable commits): a commit that small
//!    could slip into free pages inside the file and declare a still-full disk healed.
//! 3. Otherwise **wait** with exponential backoff ([`MIN_BACKOFF`] to [`MAX_BACKOFF`]) — never a
//!    busy loop — answering every write that arrives meanwhile with the fault at once, so
//!    clients get a quick 503 with the reason rather than a hang.
//!
//! Lease expiries that arrive meanwhile are kept and replayed after healing (see
//! [`Writer::deferred`]).

use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use redb::{Database, DatabaseError, Durability};

use super::RedbStore;
use super::format::{PROBE, PROBE_KEY};
use super::writer::{Request, Writer};
use crate::error::{Error, Fault, Health, Result};

/// First wait between recovery attempts.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between recovery attempts: how late writes may resume after space is freed.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Size of the probe value written to decide that writes fit again.
const PROBE_BYTES: usize = 256 * 1024;
/// Free space the metadata file system must report before a probe is tried.
const PROBE_ROOM: u64 = 2 * PROBE_BYTES as u64;
/// How long a reopen waits for reads in flight to let go of the old handle.
const REOPEN_PATIENCE: Duration = Duration::from_secs(2);

impl Writer {
    /// Heals the store after `fault`. Returns false when the store was dropped meanwhile
    /// (the writer then stops), true once writes work again.
    pub(super) fn recover(&mut self, mut fault: Fault) -> bool {
        tracing::error!(error = %fault, path = %self.path.display(),
            "metadata store failed; rejecting writes and reopening it");
        self.shared.set_health(Health::Failed(fault.clone()));
        let mut latched = true;
        let mut delay = MIN_BACKOFF;
        loop {
            if latched {
                match self.reopen() {
                    Ok(()) => latched = false,
                    Err(e) => note(&mut fault, &e, "reopening the metadata store failed"),
                }
            }
            if !latched && self.has_room() {
                match self.probe() {
                    Ok(()) => break,
                    Err(e) => {
                        note(&mut fault, &e, "metadata store still cannot write");
                        // Reopen at once, so reads do not wait for the next attempt.
                        latched = self.reopen().is_err();
                    }
                }
            }
            self.shared.set_health(Health::Failed(fault.clone()));
            if !self.reject_for(delay, &fault) {
                return false;
            }
            delay = (delay * 2).min(MAX_BACKOFF);
        }
        self.shared.set_health(Health::Writable);
        tracing::info!(path = %self.path.display(), "metadata store writable again");
        let deferred = std::mem::take(&mut self.deferred);
        if !deferred.is_empty()
            && let Some(again) = self.process(deferred)
        {
            return self.recover(again);
        }
        true
    }

    /// Drops the latched handle and opens the file again; reloads the counters from it.
    fn reopen(&mut self) -> Result<()> {
        self.shared.set_database(None);
        self.db = None;
        let started = Instant::now();
        let db = loop {
            match Database::builder()
                .set_cache_size(self.cache_size)
                .open(&self.path)
            {
                Ok(db) => break db,
                // A read in flight still holds the old handle (and redb's file lock).
                Err(DatabaseError::DatabaseAlreadyOpen) if started.elapsed() < REOPEN_PATIENCE => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e.into()),
            }
        };
        // The failed batch was rolled back in memory too; the file is the truth.
        let loaded = RedbStore::init(&db)?;
        self.revision = loaded.revision;
        self.next_lease = loaded.next_lease;
        let db = Arc::new(db);
        self.shared.set_database(Some(Arc::clone(&db)));
        self.db = Some(db);
        tracing::info!(path = %self.path.display(), "metadata store reopened");
        Ok(())
    }

    /// True when the file system of the database reports room for a probe (or cannot say:
    /// then only a probe can tell).
    fn has_room(&self) -> bool {
        let dir = self.path.parent().unwrap_or(&self.path);
        match rustix::fs::statvfs(dir) {
            Ok(st) => st.f_bavail.saturating_mul(st.f_frsize) >= PROBE_ROOM,
            Err(_) => true,
        }
    }

    /// Two durable commits: a [`PROBE_BYTES`] value, then its removal.
    fn probe(&self) -> Result<()> {
        let db = self.db.as_ref().ok_or_else(|| self.shared.fault_error())?;
        let filler = vec![0u8; PROBE_BYTES];
        for write in [true, false] {
            let mut wtx = db.begin_write()?;
            wtx.set_durability(Durability::Immediate)?;
            {
                let mut table = wtx.open_table(PROBE)?;
                if write {
                    table.insert(PROBE_KEY, filler.as_slice())?;
                } else {
                    table.remove(PROBE_KEY)?;
                }
            }
            wtx.commit()?;
        }
        Ok(())
    }

    /// Waits `delay`, answering every request that arrives with `fault` (lease expiries are
    /// kept for later). False when every sender is gone.
    fn reject_for(&mut self, delay: Duration, fault: &Fault) -> bool {
        let until = Instant::now() + delay;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            match self.rx.recv_timeout(left) {
                Ok(req) => self.reject(req, fault),
                Err(RecvTimeoutError::Timeout) => return true,
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    fn reject(&mut self, req: Request, fault: &Fault) {
        let err = || Error::Fault(fault.clone());
        match req {
            Request::Txn { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Request::Grant { reply, .. } => {
                let _ = reply.send(Err(err()));
            }
            Request::Revoke {
                reply: Some(reply), ..
            } => {
                let _ = reply.send(Err(err()));
            }
            Request::Revoke { lease, reply: None } => {
                self.deferred.push(Request::Revoke { lease, reply: None });
            }
        }
    }
}

/// Keeps the most telling fault: a later error that is a fault replaces it (a full disk
/// seen again stays "disk full"; redb's `PreviousIo` latch says nothing new).
fn note(fault: &mut Fault, e: &Error, what: &str) {
    tracing::warn!(error = %e, "{what}");
    match Fault::of_error(e) {
        Some(Fault::Io(s)) if matches!(s.as_ref(), redb::Error::PreviousIo) => {}
        Some(f) => *fault = f,
        None => {}
    }
}
