//! The node's memory budget for block buffers, shared by every upload and
//! download, and the rules that keep it from deadlocking.
//!
//! A *grant* is the right to hold one block buffer (`block_size` bytes plus
//! the coding overhead) in memory. There are `inflight_blocks` of them.
//!
//! # The invariant
//!
//! **A request waits for a grant only while every grant it holds can be
//! released without a grant**: either the block is being processed (read,
//! decoded, hashed, written; none of that needs budget) or it is parked in
//! an [`Holder`] that the budget may *evict* once its consumer has not asked
//! for data for `stall` (a client that stopped reading).
//!
//! In practice:
//! - a download holds the grant of the block it is sending and takes
//!   read-ahead grants only with [`Budget::try_acquire`], never waiting;
//!   before it waits (for the next block), it gives back whatever it holds;
//! - an upload takes a grant only when a whole block has arrived (a client
//!   that stalls mid-block holds nothing) and then holds it while the block
//!   is hashed and stored, which needs no further grant;
//! - a waiter evicts stalled holders, so clients that stop reading cannot
//!   pin the budget: an evicted download re-reads its block when its client
//!   wakes up.
//!
//! A few grants (an eighth, at least one) are kept for the *first* block of
//! a request: a new request waits only behind other new requests, never
//! behind the next blocks of long transfers already running, so a small
//! PUT or GET answers quickly under a heavy streaming load.
//!
//! Waiting is bounded twice: at most `max_queue` requests wait at once and
//! each for at most `max_wait`; beyond either the request fails with
//! [`Error::Overloaded`] (503 SlowDown + Retry-After) instead of queueing
//! without end.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::{Error, Result};

/// Limits of the budget.
#[derive(Clone, Copy, Debug)]
pub struct BudgetConfig {
    /// Grants: block buffers in memory at once, across every request.
    pub grants: usize,
    /// Requests that may wait for a grant at once; the next one gets 503.
    pub max_queue: usize,
    /// Longest wait for one grant before the request gets 503.
    pub max_wait: Duration,
    /// A download whose client has not asked for data this long may lose
    /// its parked blocks to a waiter.
    pub stall: Duration,
}

/// The right to hold one block buffer. Dropping it gives the budget back.
#[derive(Debug)]
pub(crate) struct Grant {
    _permit: OwnedSemaphorePermit,
}

/// Counters of the budget, for metrics.
#[derive(Debug, Default)]
pub struct BudgetStats {
    /// Requests refused because the wait queue was full or the wait too long.
    pub refused: AtomicUsize,
    /// Parked blocks taken from stalled downloads.
    pub evicted: AtomicUsize,
    /// Requests waiting for a grant now.
    pub waiting: AtomicUsize,
}

/// The shared budget. See the module documentation for its rules.
pub(crate) struct Budget {
    cfg: BudgetConfig,
    /// Grants anyone may take.
    sem: Arc<Semaphore>,
    /// Grants kept for the first block of a request.
    first: Arc<Semaphore>,
    holders: Mutex<Holders>,
    pub stats: BudgetStats,
}

/// The downloads whose parked blocks may be evicted, and when they were
/// last looked at.
#[derive(Default)]
struct Holders {
    list: Vec<Weak<Holder>>,
    /// One scan serves every waiter for half a check period: with many
    /// waiters and many downloads, a scan per waiter per period would be
    /// waiters × downloads work for the same result.
    scanned: Option<Instant>,
}

/// How often a waiter looks for stalled holders to evict.
const EVICT_CHECK: Duration = Duration::from_millis(100);

impl Budget {
    pub fn new(cfg: BudgetConfig) -> Arc<Budget> {
        let reserved = (cfg.grants / 8).max(1).min(cfg.grants - 1);
        Arc::new(Budget {
            cfg,
            sem: Arc::new(Semaphore::new(cfg.grants - reserved)),
            first: Arc::new(Semaphore::new(reserved)),
            holders: Mutex::new(Holders::default()),
            stats: BudgetStats::default(),
        })
    }

    /// Grants not held by anyone now.
    pub fn available(&self) -> usize {
        self.sem.available_permits() + self.first.available_permits()
    }

    /// A grant if one is free now; never waits (read-ahead uses this).
    pub fn try_acquire(&self) -> Option<Grant> {
        self.sem
            .clone()
            .try_acquire_owned()
            .ok()
            .map(|p| Grant { _permit: p })
    }

    /// A grant, waiting in line (first come, first served) for at most
    /// `max_wait`. The caller must hold no grant of its own that only its
    /// client can release (see the module's invariant). `first`: for the
    /// first block of a request, which may also use the reserved grants.
    pub async fn acquire(&self, first: bool) -> Result<Grant> {
        if let Some(g) = self.try_acquire() {
            return Ok(g);
        }
        if first && let Ok(p) = self.first.clone().try_acquire_owned() {
            return Ok(Grant { _permit: p });
        }
        let waiting = self.stats.waiting.fetch_add(1, Ordering::SeqCst);
        let _in_line = InLine(&self.stats.waiting);
        if waiting >= self.cfg.max_queue {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Error::Overloaded {
                what: "too many requests waiting for memory",
            });
        }
        let deadline = Instant::now() + self.cfg.max_wait;
        let acquire = self.sem.clone().acquire_owned();
        tokio::pin!(acquire);
        let reserved = async {
            if first {
                self.first.clone().acquire_owned().await
            } else {
                std::future::pending().await
            }
        };
        tokio::pin!(reserved);
        loop {
            self.evict_stalled();
            let next_check = (Instant::now() + EVICT_CHECK).min(deadline);
            tokio::select! {
                permit = &mut acquire => {
                    let permit = permit.map_err(Error::internal)?;
                    return Ok(Grant { _permit: permit });
                }
                permit = &mut reserved => {
                    let permit = permit.map_err(Error::internal)?;
                    return Ok(Grant { _permit: permit });
                }
                () = tokio::time::sleep_until(next_check) => {
                    if Instant::now() >= deadline {
                        self.stats.refused.fetch_add(1, Ordering::Relaxed);
                        return Err(Error::Overloaded {
                            what: "no memory for the request within the wait limit",
                        });
                    }
                }
            }
        }
    }

    /// A new holder of parked blocks for one download, evictable when stalled.
    pub fn holder(self: &Arc<Self>) -> Arc<Holder> {
        let h = Arc::new(Holder {
            state: Mutex::new(HolderState {
                touched: Instant::now(),
                blocks: VecDeque::new(),
            }),
        });
        let mut holders = self.holders.lock().unwrap_or_else(PoisonError::into_inner);
        let list = &mut holders.list;
        if list.len() >= 64 && list.len().is_power_of_two() {
            list.retain(|w| w.strong_count() > 0);
        }
        list.push(Arc::downgrade(&h));
        h
    }

    /// Take parked blocks from every holder whose consumer stalled.
    fn evict_stalled(&self) {
        let now = Instant::now();
        let mut evicted = 0;
        let mut holders = self.holders.lock().unwrap_or_else(PoisonError::into_inner);
        if holders
            .scanned
            .is_some_and(|t| now.duration_since(t) < EVICT_CHECK / 2)
        {
            return;
        }
        holders.scanned = Some(now);
        holders.list.retain(|w| {
            let Some(h) = w.upgrade() else { return false };
            evicted += h.evict_if_stalled(now, self.cfg.stall);
            true
        });
        if evicted > 0 {
            self.stats.evicted.fetch_add(evicted, Ordering::Relaxed);
            tracing::debug!(blocks = evicted, "evicted blocks of stalled downloads");
        }
    }
}

/// Decrements the waiting count when a waiter leaves the line, however it leaves.
struct InLine<'a>(&'a AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Blocks a download has read but not sent yet, each with its grant.
pub(crate) struct Holder {
    state: Mutex<HolderState>,
}

struct HolderState {
    /// When the consumer last asked for data.
    touched: Instant,
    /// (block index in the download, its bytes, its grant), in index order.
    blocks: VecDeque<(usize, Bytes, Grant)>,
}

impl Holder {
    fn lock(&self) -> std::sync::MutexGuard<'_, HolderState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The consumer asks for data now.
    pub fn touch(&self) {
        self.lock().touched = Instant::now();
    }

    /// Park block `index`.
    pub fn put(&self, index: usize, data: Bytes, grant: Grant) {
        let mut s = self.lock();
        let at = s.blocks.partition_point(|(i, _, _)| *i < index);
        s.blocks.insert(at, (index, data, grant));
    }

    /// True when block `index` is parked.
    pub fn has(&self, index: usize) -> bool {
        self.lock().blocks.iter().any(|(i, _, _)| *i == index)
    }

    /// Blocks parked now.
    #[cfg(test)]
    pub fn parked(&self) -> usize {
        self.lock().blocks.len()
    }

    /// A copy of up to `max` bytes of block `index` from `offset`, and
    /// whether that reached the block's end (the block and its grant are
    /// then released). `None` when the block is not parked (evicted or
    /// never read).
    ///
    /// A copy, not a slice: a slice would keep the whole block alive in the
    /// transport's write buffer, beyond the reach of the budget.
    pub fn copy_out(&self, index: usize, offset: usize, max: usize) -> Option<(Bytes, bool)> {
        let mut s = self.lock();
        let pos = s.blocks.iter().position(|(i, _, _)| *i == index)?;
        let data = &s.blocks[pos].1;
        let end = data.len().min(offset.saturating_add(max));
        let out = Bytes::copy_from_slice(&data[offset.min(end)..end]);
        let done = end >= data.len();
        if done {
            s.blocks.remove(pos);
        }
        Some((out, done))
    }

    /// Give back every parked block.
    pub fn clear(&self) {
        let taken = std::mem::take(&mut self.lock().blocks);
        drop(taken);
    }

    fn evict_if_stalled(&self, now: Instant, stall: Duration) -> usize {
        let mut s = self.lock();
        if s.blocks.is_empty() || now.duration_since(s.touched) < stall {
            return 0;
        }
        let n = s.blocks.len();
        s.blocks.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(grants: usize) -> BudgetConfig {
        BudgetConfig {
            grants,
            max_queue: 8,
            max_wait: Duration::from_secs(5),
            stall: Duration::from_millis(500),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_evicts_a_stalled_holder() {
        let b = Budget::new(cfg(1));
        let h = b.holder();
        h.put(0, Bytes::from_static(b"abc"), b.try_acquire().unwrap());
        assert!(b.try_acquire().is_none());
        // The holder's consumer never comes back: the waiter gets the grant
        // once the stall time has passed, not before.
        let started = Instant::now();
        let g = b.acquire(false).await.unwrap();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(500), "{waited:?}");
        assert!(waited < Duration::from_millis(700), "{waited:?}");
        assert!(!h.has(0));
        assert_eq!(b.stats.evicted.load(Ordering::Relaxed), 1);
        drop(g);
    }

    #[tokio::test(start_paused = true)]
    async fn an_active_holder_is_not_evicted_and_the_waiter_gives_up() {
        let b = Budget::new(cfg(1));
        let h = b.holder();
        h.put(0, Bytes::from_static(b"abc"), b.try_acquire().unwrap());
        let toucher = {
            let h = h.clone();
            tokio::spawn(async move {
                loop {
                    h.touch();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let err = b.acquire(false).await.unwrap_err();
        assert!(matches!(err, Error::Overloaded { .. }), "{err}");
        assert!(h.has(0));
        assert_eq!(b.stats.refused.load(Ordering::Relaxed), 1);
        toucher.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_block_does_not_wait_behind_running_transfers() {
        let b = Budget::new(cfg(16));
        // running transfers hold every shared grant and more are waiting
        let held: Vec<Grant> = std::iter::from_fn(|| b.try_acquire()).collect();
        assert_eq!(held.len(), 14);
        let next = tokio::spawn({
            let b = b.clone();
            async move { b.acquire(false).await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        // a new request still gets one of the two kept grants at once
        let started = Instant::now();
        let g1 = b.acquire(true).await.unwrap();
        let g2 = b.acquire(true).await.unwrap();
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert!(!next.is_finished());
        drop((g1, g2, held));
        next.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_queue_is_bounded() {
        let b = Budget::new(BudgetConfig {
            max_queue: 2,
            ..cfg(1)
        });
        let _held = b.try_acquire().unwrap();
        let w1 = tokio::spawn({
            let b = b.clone();
            async move { b.acquire(false).await.map(drop) }
        });
        let w2 = tokio::spawn({
            let b = b.clone();
            async move { b.acquire(false).await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(b.stats.waiting.load(Ordering::SeqCst), 2);
        // the third is refused at once, without waiting
        let started = Instant::now();
        assert!(matches!(
            b.acquire(false).await.unwrap_err(),
            Error::Overloaded { .. }
        ));
        assert_eq!(started.elapsed(), Duration::ZERO);
        drop(_held);
        w1.await.unwrap().unwrap();
        w2.await.unwrap().unwrap();
        assert_eq!(b.available(), 1);
        assert_eq!(b.stats.waiting.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn copy_out_walks_a_block_and_releases_it_at_the_end() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let b = Budget::new(cfg(2));
            let h = b.holder();
            h.put(1, Bytes::from_static(b"defgh"), b.try_acquire().unwrap());
            // the second grant is the one kept for first blocks
            assert!(b.try_acquire().is_none());
            h.put(
                0,
                Bytes::from_static(b"abc"),
                b.acquire(true).await.unwrap(),
            );
            assert_eq!(b.available(), 0);
            assert_eq!(
                h.copy_out(0, 0, 2).unwrap(),
                (Bytes::from_static(b"ab"), false)
            );
            assert_eq!(
                h.copy_out(0, 2, 2).unwrap(),
                (Bytes::from_static(b"c"), true)
            );
            assert_eq!(b.available(), 1);
            assert!(h.copy_out(0, 0, 2).is_none());
            assert_eq!(h.parked(), 1);
            h.clear();
            assert_eq!(b.available(), 2);
        });
    }
}
