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
//! # The pool of block buffers
//!
//! Each grant can hand out one reusable *block buffer* ([`Grant::buffer`]):
//! an upload gathers a block into it, a download reads a shard frame into
//! it. Freed buffers go back to the budget's [`Pool`], which keeps at most
//! `grants` of them and never frees one it keeps, so in steady state the
//! allocator never sees a block-sized allocation or free (glibc would keep
//! every freed 4 MiB buffer in an arena and peak RSS would follow how the
//! requests happened to overlap, not the budget; issue #11). Buffers are
//! allocated only when none is free, so the buffers that exist (in use plus
//! idle) never exceed the most grants ever held at once: the memory of
//! block buffers is bounded by `grants × buffer_size`, whatever the
//! concurrency.
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
    /// Capacity of a pooled block buffer: the block size plus room for a
    /// shard frame's header.
    pub buffer_size: usize,
}

/// The right to hold one block buffer. Dropping it gives the budget back.
#[derive(Debug)]
pub(crate) struct Grant {
    _permit: OwnedSemaphorePermit,
    pool: Arc<Pool>,
}

impl Grant {
    /// The block buffer this grant pays for: from the pool, or newly
    /// allocated when none is free. The caller drops the buffer no later
    /// than the grant (it goes back to the pool then), so buffers in use
    /// never outnumber grants held.
    pub fn buffer(&self) -> PoolBuf {
        self.pool.take()
    }
}

/// Idle block buffers, kept for the next grant (see the module docs).
#[derive(Debug)]
pub(crate) struct Pool {
    free: Mutex<Vec<Vec<u8>>>,
    /// Capacity of every buffer.
    size: usize,
    /// Most idle buffers kept: the number of grants.
    keep: usize,
    /// Buffers that exist now, in use or idle.
    allocated: AtomicUsize,
    /// Buffers handed out from the idle ones (not newly allocated).
    reused: AtomicUsize,
}

impl Pool {
    fn new(size: usize, keep: usize) -> Arc<Pool> {
        Arc::new(Pool {
            free: Mutex::new(Vec::with_capacity(keep)),
            size,
            keep,
            allocated: AtomicUsize::new(0),
            reused: AtomicUsize::new(0),
        })
    }

    fn take(self: &Arc<Self>) -> PoolBuf {
        let idle = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let buf = match idle {
            Some(b) => {
                self.reused.fetch_add(1, Ordering::Relaxed);
                b
            }
            None => {
                self.allocated.fetch_add(1, Ordering::Relaxed);
                Vec::with_capacity(self.size)
            }
        };
        PoolBuf {
            buf,
            pool: self.clone(),
        }
    }

    /// Keep `buf` for the next grant, unless the pool has its fill or the
    /// buffer is not a whole one (taken away, or shrunk).
    fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() >= self.size && buf.capacity() <= 2 * self.size {
            buf.clear();
            let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
            if free.len() < self.keep {
                free.push(buf);
                return;
            }
        }
        self.allocated.fetch_sub(1, Ordering::Relaxed);
    }

    /// Buffers that exist now (in use or idle).
    pub fn allocated(&self) -> usize {
        self.allocated.load(Ordering::Relaxed)
    }

    /// Idle buffers now.
    #[cfg(test)]
    pub fn idle(&self) -> usize {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Buffers handed out again rather than allocated.
    pub fn reused(&self) -> usize {
        self.reused.load(Ordering::Relaxed)
    }
}

/// A block buffer of the pool: an empty `Vec` with room for a block, that
/// goes back to the pool when dropped, also once frozen into [`Bytes`]
/// (when the last slice of it is dropped).
#[derive(Debug)]
pub(crate) struct PoolBuf {
    buf: Vec<u8>,
    pool: Arc<Pool>,
}

impl PoolBuf {
    /// The buffer to fill (cleared; capacity at least the buffer size).
    /// Growing it past its capacity works but leaves the pool a buffer
    /// short: fill it with at most the buffer size.
    pub fn vec(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// The buffer's room.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Move the buffer out (to a blocking thread); [`PoolBuf::put_back`]
    /// returns it. A buffer never put back is simply not reused.
    pub fn take_vec(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Return the buffer taken with [`PoolBuf::take_vec`].
    pub fn put_back(&mut self, buf: Vec<u8>) {
        self.buf = buf;
    }

    /// The bytes written, as shared [`Bytes`] over the pooled buffer (no
    /// copy); the buffer returns to the pool when the last clone or slice
    /// is dropped.
    pub fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for PoolBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for PoolBuf {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
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
    /// The block buffers grants hand out.
    pub pool: Arc<Pool>,
    pub stats: BudgetStats,
}

/// The downloads whose parked blocks may be evicted, and when they were
/// last looked at.
#[derive(Default)]
struct Holders {
    list: Vec<Weak<dyn Evict>>,
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
            pool: Pool::new(cfg.buffer_size, cfg.grants),
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
            .map(|p| self.grant(p))
    }

    fn grant(&self, permit: OwnedSemaphorePermit) -> Grant {
        Grant {
            _permit: permit,
            pool: self.pool.clone(),
        }
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
            return Ok(self.grant(p));
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
                    return Ok(self.grant(permit));
                }
                permit = &mut reserved => {
                    let permit = permit.map_err(Error::internal)?;
                    return Ok(self.grant(permit));
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
        self.register(Arc::downgrade(&h) as Weak<dyn Evict>);
        h
    }

    /// A new gatherer of an upload's block, evictable when stalled.
    pub fn gatherer(self: &Arc<Self>) -> Arc<Gatherer> {
        let g = Arc::new(Gatherer {
            state: Mutex::new(GatherState {
                touched: Instant::now(),
                pooled: None,
                spilled: Vec::new(),
            }),
        });
        self.register(Arc::downgrade(&g) as Weak<dyn Evict>);
        g
    }

    fn register(&self, w: Weak<dyn Evict>) {
        let mut holders = self.holders.lock().unwrap_or_else(PoisonError::into_inner);
        let list = &mut holders.list;
        if list.len() >= 64 && list.len().is_power_of_two() {
            list.retain(|w| w.strong_count() > 0);
        }
        list.push(w);
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

/// What a waiter may take from a request whose client stalled.
trait Evict: Send + Sync {
    /// Give back what is held if the client has not been heard from for
    /// `stall`; the number of grants given back.
    fn evict_if_stalled(&self, now: Instant, stall: Duration) -> usize;
}

impl Evict for Holder {
    fn evict_if_stalled(&self, now: Instant, stall: Duration) -> usize {
        Holder::evict_if_stalled(self, now, stall)
    }
}

/// The block an upload is gathering into the pooled buffer of its grant.
/// When its client stalls (no byte for `stall`) and someone waits for a
/// grant, the bytes gathered so far are moved to a buffer of their own
/// size and the grant and pooled buffer go back: a stalled upload pins no
/// budget (its spilled bytes are freed when the body deadline ends it).
/// When the client resumes, the upload takes a grant again.
pub(crate) struct Gatherer {
    state: Mutex<GatherState>,
}

struct GatherState {
    /// When the client last sent bytes.
    touched: Instant,
    pooled: Option<(PoolBuf, Grant)>,
    /// The bytes gathered when the grant was evicted.
    spilled: Vec<u8>,
}

impl Gatherer {
    fn lock(&self) -> std::sync::MutexGuard<'_, GatherState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes gathered.
    pub fn len(&self) -> usize {
        let s = self.lock();
        s.pooled
            .as_ref()
            .map_or(s.spilled.len(), |(p, _)| p.as_ref().len())
    }

    /// Whether the bytes are in a pooled buffer under a grant now.
    pub fn counted(&self) -> bool {
        self.lock().pooled.is_some()
    }

    /// Gather into `grant`'s buffer from now on, after `prefix` and what
    /// was spilled.
    pub fn take_grant(&self, grant: Grant, prefix: &[u8]) {
        let mut buf = grant.buffer();
        let mut s = self.lock();
        let v = buf.vec();
        v.extend_from_slice(&s.spilled);
        v.extend_from_slice(prefix);
        s.spilled = Vec::new();
        s.pooled = Some((buf, grant));
        s.touched = Instant::now();
    }

    /// Add the next bytes.
    pub fn push(&self, b: &[u8]) {
        let mut s = self.lock();
        s.touched = Instant::now();
        match &mut s.pooled {
            Some((p, _)) => p.vec().extend_from_slice(b),
            None => s.spilled.extend_from_slice(b),
        }
    }

    /// The block gathered, with its grant unless it was evicted; the
    /// gatherer starts over.
    pub fn take(&self) -> (Bytes, Option<Grant>) {
        let mut s = self.lock();
        s.touched = Instant::now();
        match s.pooled.take() {
            Some((p, g)) => (p.freeze(), Some(g)),
            None => (Bytes::from(std::mem::take(&mut s.spilled)), None),
        }
    }
}

impl Evict for Gatherer {
    fn evict_if_stalled(&self, now: Instant, stall: Duration) -> usize {
        let mut s = self.lock();
        if s.pooled.is_none() || now.duration_since(s.touched) < stall {
            return 0;
        }
        if let Some((p, grant)) = s.pooled.take() {
            s.spilled = p.as_ref().to_vec();
            drop((p, grant));
        }
        1
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
            buffer_size: 64,
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

    #[tokio::test(start_paused = true)]
    async fn a_stalled_upload_gives_its_grant_back_and_keeps_its_bytes() {
        let b = Budget::new(cfg(2));
        let g = b.gatherer();
        g.take_grant(b.try_acquire().unwrap(), b"abc");
        g.push(b"def");
        assert!(g.counted());
        assert_eq!((b.available(), b.pool.allocated()), (1, 1));
        // An active upload keeps its grant: the waiter gives up instead.
        let pusher = {
            let g = g.clone();
            tokio::spawn(async move {
                for _ in 0..3 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    g.push(b"");
                }
            })
        };
        let _other = b.acquire(true).await.unwrap();
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.acquire(false).await.map(drop) }
        });
        pusher.await.unwrap();
        assert!(g.counted());
        // Once it has sent nothing for the stall time, the waiter takes it.
        let started = Instant::now();
        waiter.await.unwrap().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(400));
        assert!(!g.counted());
        assert_eq!(g.len(), 6);
        assert_eq!(b.stats.evicted.load(Ordering::Relaxed), 1);
        // its buffer went back to the pool, not to the allocator
        assert_eq!(b.pool.idle(), 1);
        // The client resumes: a new grant, the same bytes.
        g.take_grant(b.acquire(false).await.unwrap(), b"");
        g.push(b"gh");
        let (block, grant) = g.take();
        assert_eq!(&block[..], b"abcdefgh");
        assert!(grant.is_some());
        assert_eq!(b.pool.allocated(), 1);
    }

    #[test]
    fn block_buffers_are_reused_not_reallocated() {
        let b = Budget::new(cfg(4));
        for round in 0..10 {
            let g = b.try_acquire().unwrap();
            let mut buf = g.buffer();
            assert!(buf.capacity() >= 64);
            buf.vec().extend_from_slice(&[round; 64]);
            let frozen = buf.freeze();
            let slice = frozen.slice(10..20);
            drop(frozen);
            assert_eq!(&slice[..], &[round; 10]);
            // the buffer comes back with its last slice, not before
            assert_eq!(b.pool.idle(), 0);
            drop((slice, g));
            assert_eq!(b.pool.idle(), 1);
        }
        assert_eq!(b.pool.allocated(), 1);
        assert_eq!(b.pool.reused(), 9);
        // a reused buffer comes back empty
        assert!(b.try_acquire().unwrap().buffer().vec().is_empty());
    }

    #[test]
    fn the_pool_never_holds_more_buffers_than_grants() {
        let b = Budget::new(cfg(4));
        // every grant taken, each with its buffer, three times over
        for _ in 0..3 {
            let grants: Vec<Grant> = std::iter::from_fn(|| b.try_acquire())
                .chain(b.first.clone().try_acquire_owned().ok().map(|p| b.grant(p)))
                .collect();
            assert_eq!(grants.len(), 4);
            let bufs: Vec<PoolBuf> = grants.iter().map(Grant::buffer).collect();
            assert_eq!(b.pool.allocated(), 4);
            drop((bufs, grants));
            assert_eq!(b.pool.idle(), 4);
        }
        assert_eq!(b.pool.allocated(), 4);
        // A caller breaking the rule (two buffers on one grant) gets them,
        // but the pool keeps no more than its cap once they are back.
        let g = b.try_acquire().unwrap();
        let extra: Vec<PoolBuf> = (0..6).map(|_| g.buffer()).collect();
        assert_eq!(b.pool.allocated(), 6);
        drop(extra);
        assert_eq!(b.pool.idle(), 4);
        assert_eq!(b.pool.allocated(), 4);
        // A buffer taken away (to a thread that never returns it) or grown
        // far past its size is not kept.
        let mut lost = g.buffer();
        drop(lost.take_vec());
        drop(lost);
        let mut grown = g.buffer();
        grown.vec().resize(1000, 0);
        drop(grown);
        assert_eq!(b.pool.allocated(), 2);
        assert_eq!(b.pool.idle(), 2);
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
