//! Streaming reads: only the blocks a range touches are read, in order,
//! with a small read-ahead, each block buffer counted against the node's
//! budget (see [`crate::budget`] for why this cannot deadlock).

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};
use liuma_codec::BlockId;

use tokio::task::JoinHandle;

use crate::budget::{Budget, Holder, PoolBuf};
use crate::checksum::StoredPart;
use crate::crypt_ops::ReadKeys;
use crate::engine::Inner;
use crate::keys;
use crate::metrics::Stats;
use crate::model::{BlockEntry, Body, VersionData, VersionRecord, decode};
use crate::{Error, Result};

/// An object's bytes as they are read.
pub type ObjectStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// A byte range as a client asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-last` (inclusive).
    FromTo(u64, u64),
    /// `bytes=first-`.
    From(u64),
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The half-open range [start, end) this selects in an object of `size`
    /// bytes, or `InvalidRange` when nothing of it lies inside.
    pub fn resolve(self, size: u64) -> Result<(u64, u64)> {
        let (start, end) = match self {
            ByteRange::FromTo(a, b) if a <= b => (a, b.saturating_add(1).min(size)),
            ByteRange::FromTo(a, b) => {
                return Err(Error::InvalidRange {
                    start: a,
                    end: b,
                    size,
                });
            }
            ByteRange::From(a) => (a, size),
            ByteRange::Suffix(n) if n > 0 => (size.saturating_sub(n), size),
            ByteRange::Suffix(n) => {
                return Err(Error::InvalidRange {
                    start: size,
                    end: size + n,
                    size,
                });
            }
        };
        if start >= size {
            return Err(Error::InvalidRange { start, end, size });
        }
        Ok((start, end))
    }
}

/// Blocks read ahead of the one being sent, when the budget has room.
const READ_AHEAD: usize = 2;

/// Bytes handed to the transport at a time. Small enough that a client
/// that stops reading pins little memory in the transport's write buffer;
/// large enough that per-frame costs stay negligible.
pub(crate) const FRAME: usize = 256 << 10;

/// Where a download's blocks come from: block `i` of the range, already cut
/// to the part of it the range covers.
pub(crate) trait BlockSource: Send + Sync + 'static {
    /// Number of blocks.
    fn len(&self) -> usize;
    /// Read block `i`, into `buf` (the pooled buffer of the block's grant)
    /// where the source can.
    fn read(&self, i: usize, buf: PoolBuf) -> impl Future<Output = Result<Bytes>> + Send;
    /// A block failed after the first was sent (for metrics).
    fn failed_mid_stream(&self) {}
}

/// The blocks of a byte range of a stored object.
struct RangeSource {
    inner: Arc<Inner>,
    /// (block id, slice within the block) for every block the range touches
    wanted: Vec<(BlockId, usize, usize)>,
    /// Per wanted block: its keyed id and plain length when encrypted.
    sealed: Vec<Option<([u8; 32], u32)>>,
    /// Keys to open encrypted blocks with.
    keys: ReadKeys,
}

impl BlockSource for RangeSource {
    fn len(&self) -> usize {
        self.wanted.len()
    }

    async fn read(&self, i: usize, buf: PoolBuf) -> Result<Bytes> {
        let (id, lo, hi) = self.wanted[i];
        let data = if let Some((kid, len)) = self.sealed[i] {
            // an envelope is opened into a buffer of its own: the pooled one goes back
            drop(buf);
            let keys = self.keys.clone();
            self.inner
                .blocks
                .read_sealed(&id, move |envelope| {
                    crate::crypt::open(
                        keys.ring.as_deref(),
                        keys.customer.as_ref(),
                        &kid,
                        envelope,
                        u64::from(len),
                    )
                })
                .await?
        } else {
            self.inner.blocks.read_into(&id, buf).await?
        };
        if data.len() < hi {
            return Err(Error::internal(std::io::Error::other(format!(
                "block {id} is shorter than its manifest entry"
            ))));
        }
        Stats::add(&self.inner.stats.bytes_out, (hi - lo) as u64);
        Ok(data.slice(lo..hi))
    }

    fn failed_mid_stream(&self) {
        Stats::add(&self.inner.stats.streams_cut, 1);
    }
}

/// One download in progress: sends block `next` from `offset`, frame by
/// frame, with up to [`READ_AHEAD`] blocks read ahead when the budget has
/// room. Follows the budget's invariant (see [`crate::budget`]): it waits
/// for a grant only after giving back every block it parked.
pub(crate) struct Reader<S: BlockSource> {
    src: Arc<S>,
    budget: Arc<Budget>,
    holder: Arc<Holder>,
    next: usize,
    offset: usize,
    /// Read-ahead tasks by block index; each parks its block when done.
    ahead: Vec<(usize, JoinHandle<Result<()>>)>,
    frame: usize,
    /// A block was read: later waits are not the request's first.
    started: bool,
}

impl<S: BlockSource> Drop for Reader<S> {
    fn drop(&mut self) {
        for (_, t) in &self.ahead {
            t.abort();
        }
    }
}

impl<S: BlockSource> Reader<S> {
    pub(crate) fn new(src: S, budget: Arc<Budget>, frame: usize) -> Self {
        let holder = budget.holder();
        Reader {
            src: Arc::new(src),
            budget,
            holder,
            next: 0,
            offset: 0,
            ahead: Vec::new(),
            frame,
            started: false,
        }
    }

    /// The next frame of bytes, `None` at the end.
    pub(crate) async fn next_frame(&mut self) -> Option<Result<Bytes>> {
        loop {
            if self.next >= self.src.len() {
                return None;
            }
            self.holder.touch();
            if let Some((bytes, done)) = self.holder.copy_out(self.next, self.offset, self.frame) {
                if done {
                    self.next += 1;
                    self.offset = 0;
                } else {
                    self.offset += bytes.len();
                }
                self.read_ahead();
                return Some(Ok(bytes));
            }
            // Not parked: being read ahead, evicted, or never asked for.
            if let Some(pos) = self.ahead.iter().position(|(i, _)| *i == self.next) {
                let (_, task) = self.ahead.swap_remove(pos);
                // A failed read-ahead is retried below, where its error is reported.
                if matches!(task.await, Ok(Ok(()))) && self.holder.has(self.next) {
                    continue;
                }
            }
            // Wait for budget holding nothing (the invariant): blocks read
            // further ahead are given back and read again later.
            for (_, t) in self.ahead.drain(..) {
                t.abort();
            }
            self.holder.clear();
            let grant = match self.budget.acquire(!self.started).await {
                Ok(g) => g,
                Err(e) => return Some(Err(e)),
            };
            match self.src.read(self.next, grant.buffer()).await {
                Ok(data) => {
                    self.started = true;
                    self.holder.put(self.next, data, grant);
                }
                Err(e) => {
                    if self.started {
                        // The status line is out: the transport ends the
                        // response early (no final chunk, short body), so
                        // the client sees an error, never a silent cut.
                        self.src.failed_mid_stream();
                    }
                    return Some(Err(e));
                }
            }
        }
    }

    /// Start reading the blocks after `next` that are neither parked nor
    /// being read, while grants are free. Never waits for a grant.
    fn read_ahead(&mut self) {
        self.ahead.retain(|(_, t)| !t.is_finished());
        let last = (self.next + READ_AHEAD).min(self.src.len().saturating_sub(1));
        for i in self.next + 1..=last {
            if self.ahead.iter().any(|(j, _)| *j == i) || self.holder.has(i) {
                continue;
            }
            let Some(grant) = self.budget.try_acquire() else {
                return;
            };
            let (src, holder) = (self.src.clone(), self.holder.clone());
            let task = tokio::spawn(async move {
                let data = src.read(i, grant.buffer()).await?;
                holder.put(i, data, grant);
                Ok(())
            });
            self.ahead.push((i, task));
        }
    }

    /// As a stream of frames.
    pub(crate) fn into_stream(self) -> impl Stream<Item = Result<Bytes>> + Send {
        stream::unfold(
            self,
            |mut r| async move { r.next_frame().await.map(|f| (f, r)) },
        )
    }
}

impl Inner {
    /// A version's body: from its own `vd/<uid>` record when detached
    /// (layout 2), else the one in the record (layout 1, empty bodies).
    pub(crate) async fn body_of<'a>(&self, rec: &'a VersionRecord) -> Result<Cow<'a, Body>> {
        if !matches!(rec.body, Body::Detached) {
            return Ok(Cow::Borrowed(&rec.body));
        }
        Ok(Cow::Owned(self.version_data(rec).await?.body))
    }

    /// The parts (number, size, checksum) of a multipart version: from its
    /// `vd/<uid>` record when detached, else the ones in the record.
    pub(crate) async fn parts_of<'a>(
        &self,
        rec: &'a VersionRecord,
    ) -> Result<Cow<'a, [StoredPart]>> {
        if !matches!(rec.body, Body::Detached) {
            return Ok(Cow::Borrowed(&rec.part_checksums));
        }
        Ok(Cow::Owned(self.version_data(rec).await?.parts))
    }

    /// The `vd/<uid>` record of a detached version.
    async fn version_data(&self, rec: &VersionRecord) -> Result<VersionData> {
        let kv = self
            .meta
            .get(&keys::version_data(&rec.uid))
            .await?
            .ok_or_else(|| {
                Error::internal(std::io::Error::other(format!(
                    "version {} has no body record",
                    rec.uid
                )))
            })?;
        decode(&kv.value)
    }

    /// The block list of a version, loading its body and manifest pages when needed.
    pub(crate) async fn manifest(&self, rec: &VersionRecord) -> Result<Vec<BlockEntry>> {
        let body = self.body_of(rec).await?;
        self.body_manifest(&rec.uid, &body).await
    }

    /// The block list of a body owned by `uid` (a version or a part).
    pub(crate) async fn body_manifest(&self, uid: &str, body: &Body) -> Result<Vec<BlockEntry>> {
        match body {
            Body::Inline(_) | Body::SealedInline { .. } => Ok(Vec::new()),
            Body::Blocks(b) => Ok(b.clone()),
            Body::Paged { blocks, .. } => {
                let pages: Vec<Vec<BlockEntry>> =
                    crate::scan::decode_prefix(&self.meta, &keys::manifest_pages(uid)).await?;
                let mut out = Vec::with_capacity(usize::try_from(*blocks).unwrap_or(0));
                out.extend(pages.into_iter().flatten());
                Ok(out)
            }
            Body::Detached => Err(Error::internal(std::io::Error::other(format!(
                "body record of {uid} is itself detached"
            )))),
        }
    }

    /// Check that `blocks` are readable (see `BlockStore::check_readable`),
    /// a few at a time; each distinct block once.
    async fn check_readable(&self, blocks: impl Iterator<Item = BlockId>) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        let ids: Vec<BlockId> = blocks.filter(|id| seen.insert(*id)).collect();
        let mut checks = stream::iter(ids)
            .map(|id| async move { self.blocks.check_readable(&id).await })
            .buffer_unordered(16);
        while let Some(r) = checks.next().await {
            r?;
        }
        Ok(())
    }

    /// Stream bytes [start, end) of a version.
    pub(crate) async fn open_stream(
        self: &Arc<Self>,
        rec: &VersionRecord,
        start: u64,
        end: u64,
    ) -> Result<ObjectStream> {
        self.open_stream_keyed(rec, start, end, self.read_keys(None))
            .await
    }

    /// [`Self::open_stream`] of a version whose blocks may need `keys`
    /// (SSE-C: the customer key, checked against the version beforehand).
    pub(crate) async fn open_stream_keyed(
        self: &Arc<Self>,
        rec: &VersionRecord,
        start: u64,
        end: u64,
        keys: ReadKeys,
    ) -> Result<ObjectStream> {
        let body = self.body_of(rec).await?;
        let range = |len: usize| {
            let lo = usize::try_from(start).unwrap_or(usize::MAX).min(len);
            let hi = usize::try_from(end).unwrap_or(usize::MAX).min(len);
            lo..hi
        };
        let inline = match body.as_ref() {
            Body::Inline(data) => Some(Bytes::copy_from_slice(&data[range(data.len())])),
            Body::SealedInline { kid, envelope } => {
                let plain = crate::crypt::open(
                    keys.ring.as_deref(),
                    keys.customer.as_ref(),
                    kid,
                    Bytes::copy_from_slice(envelope),
                    rec.size,
                )?;
                Some(plain.slice(range(plain.len())))
            }
            _ => None,
        };
        if let Some(bytes) = inline {
            Stats::add(&self.stats.bytes_out, bytes.len() as u64);
            return Ok(Box::pin(stream::once(async move { Ok(bytes) })));
        }
        let mut wanted: Vec<(BlockId, usize, usize)> = Vec::new();
        let mut sealed = Vec::new();
        let mut offset = 0u64;
        for e in self.body_manifest(&rec.uid, &body).await? {
            let (b_start, b_end) = (offset, offset + u64::from(e.len));
            offset = b_end;
            if b_end <= start || b_start >= end {
                continue;
            }
            let lo = usize::try_from(start.saturating_sub(b_start)).expect("within a block");
            let hi = usize::try_from(end.min(b_end) - b_start).expect("within a block");
            wanted.push((e.block_id(), lo, hi));
            sealed.push(e.kid.map(|k| (k, e.len)));
        }
        // Every block after the first (which is read below) must be
        // readable as far as membership tells, before the caller answers.
        // Each block's record is read again when the block itself is read:
        // a long download must use the record as it is then (a heal may
        // have moved or re-encoded the block meanwhile), not this one.
        self.check_readable(wanted.iter().skip(1).map(|(id, _, _)| *id))
            .await?;
        let src = RangeSource {
            inner: self.clone(),
            wanted,
            sealed,
            keys,
        };
        let mut reader = Reader::new(src, self.budget.clone(), FRAME);
        // The first frame is read before the caller answers: an object that
        // cannot be read fails with a status (503), not a cut-off 200.
        match reader.next_frame().await {
            Some(Err(e)) => Err(e),
            Some(Ok(first)) => Ok(Box::pin(
                stream::once(async move { Ok(first) }).chain(reader.into_stream()),
            )),
            None => Ok(Box::pin(stream::empty())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::{BudgetConfig, Grant};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::time::Duration;

    /// Blocks of fake content: block `i` of download `r` has `lens[i]`
    /// bytes, each `(r + i + offset) as u8`, and takes `delays[i]` to read.
    struct Fake {
        r: usize,
        lens: Vec<usize>,
        delays: Vec<Duration>,
    }

    impl Fake {
        fn expected(&self) -> Vec<u8> {
            (0..self.lens.len()).flat_map(|i| self.block(i)).collect()
        }
        fn block(&self, i: usize) -> Vec<u8> {
            (0..self.lens[i]).map(|o| (self.r + i + o) as u8).collect()
        }
    }

    impl BlockSource for Fake {
        fn len(&self) -> usize {
            self.lens.len()
        }
        async fn read(&self, i: usize, mut buf: PoolBuf) -> Result<Bytes> {
            tokio::time::sleep(self.delays[i]).await;
            buf.vec().extend_from_slice(&self.block(i));
            Ok(buf.freeze())
        }
    }

    /// The budget's invariant, as a randomized model: many downloads over a
    /// small budget, some of whose clients stop reading forever, with random
    /// block sizes and read times. Every download whose client keeps
    /// reading must finish with the right bytes (no deadlock, no
    /// starvation behind stalled clients), and grants all come back. The
    /// seed is printed on failure; `LIUMA_TEST_SEED` replays it.
    #[test]
    fn downloads_never_deadlock_and_stalled_clients_pin_nothing() {
        let base: u64 = std::env::var("LIUMA_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(rand::random);
        for case in 0..150u64 {
            let seed = base.wrapping_add(case);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(run_case(seed));
        }
    }

    async fn run_case(seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let grants = rng.gen_range(2..6);
        // Half the cases have clients that stop reading; the other half
        // never evict (stall = 1 h), so only the ordering rules can keep
        // them from deadlocking.
        let with_stalls = rng.gen_bool(0.5);
        let budget = Budget::new(BudgetConfig {
            grants,
            max_queue: 1000,
            max_wait: Duration::from_secs(7200),
            stall: Duration::from_millis(if with_stalls { 500 } else { 3_600_000 }),
            buffer_size: 1000,
        });
        let downloads = rng.gen_range(1..40);
        let mut tasks = Vec::new();
        let mut stalled = Vec::new();
        for r in 0..downloads {
            let n = rng.gen_range(1..8);
            let src = Fake {
                r,
                lens: (0..n).map(|_| rng.gen_range(1..1000)).collect(),
                delays: (0..n)
                    .map(|_| Duration::from_millis(rng.gen_range(0..20)))
                    .collect(),
            };
            let expected = src.expected();
            let frame = rng.gen_range(16..300);
            // a fifth of the clients stop after a few frames, forever
            let stop_after = (with_stalls && rng.gen_range(0..5) == 0).then(|| rng.gen_range(1..4));
            let pause = Duration::from_millis(rng.gen_range(0..5));
            let budget = budget.clone();
            let (tx, rx) = tokio::sync::oneshot::channel::<Reader<Fake>>();
            tasks.push(tokio::spawn(async move {
                let mut reader = Reader::new(src, budget, frame);
                let mut got = Vec::new();
                let mut frames = 0;
                while let Some(f) = reader.next_frame().await {
                    got.extend_from_slice(&f.expect("no error"));
                    frames += 1;
                    if stop_after == Some(frames) {
                        let _ = tx.send(reader); // keep it alive, never read again
                        return None;
                    }
                    tokio::time::sleep(pause).await;
                }
                assert_eq!(got, expected, "seed {seed}: download {r} got wrong bytes");
                Some(())
            }));
            stalled.push(rx);
        }
        let all = futures_util::future::join_all(tasks);
        let done = tokio::time::timeout(Duration::from_secs(600), all)
            .await
            .unwrap_or_else(|_| panic!("seed {seed}: downloads deadlocked"));
        for d in done {
            d.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
        // stalled readers still alive: their grants are evictable, and
        // all come back when they go
        let mut parked = Vec::new();
        for rx in stalled {
            if let Ok(r) = rx.await {
                parked.push(r);
            }
        }
        if with_stalls {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let g = budget
                .acquire(false)
                .await
                .expect("stalled readers were evicted");
            drop(g);
        }
        drop(parked);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(budget.available(), grants, "seed {seed}: grants leaked");
        // Every block buffer is back in the pool, and there never were
        // more than grants.
        let pool = &budget.pool;
        assert_eq!(pool.idle(), pool.allocated(), "seed {seed}: buffers leaked");
        assert!(pool.allocated() <= grants, "seed {seed}: pool over its cap");
    }

    fn fake(r: usize, blocks: usize) -> Fake {
        Fake {
            r,
            lens: vec![1000; blocks],
            delays: vec![Duration::from_millis(1); blocks],
        }
    }

    fn budget(grants: usize) -> Arc<Budget> {
        Budget::new(BudgetConfig {
            grants,
            max_queue: 100,
            max_wait: Duration::from_secs(60),
            stall: Duration::from_millis(500),
            buffer_size: 1000,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_download_returns_its_buffers() {
        let b = budget(8);
        let mut r = Reader::new(fake(0, 20), b.clone(), 100);
        for _ in 0..15 {
            r.next_frame().await.unwrap().unwrap();
        }
        // read-ahead in flight or parked
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(b.available() < 8);
        drop(r);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(b.available(), 8);
        assert_eq!(b.pool.idle(), b.pool.allocated());
        assert!(b.pool.allocated() <= 1 + READ_AHEAD);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_download_pins_no_more_than_its_allowance_and_then_nothing() {
        let b = budget(8);
        // Many downloads read a frame each and stop reading.
        let mut stalled = Vec::new();
        for r in 0..2 {
            let mut reader = Reader::new(fake(r, 20), b.clone(), 100);
            reader.next_frame().await.unwrap().unwrap();
            stalled.push(reader);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        for r in &stalled {
            // the block being sent and its read-ahead, no more
            assert!(r.holder.parked() <= 1 + READ_AHEAD, "{}", r.holder.parked());
        }
        assert_eq!(b.available(), 8 - 2 * (1 + READ_AHEAD));
        // A download that keeps reading gets every block: the stalled ones
        // give theirs back once they have not read for the stall time.
        let mut active = Reader::new(fake(9, 30), b.clone(), 1000);
        let mut n = 0;
        while let Some(f) = active.next_frame().await {
            f.unwrap();
            n += 1;
        }
        assert_eq!(n, 30);
        drop(active);
        // Someone who needs a grant when none is free evicts them.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut held: Vec<Grant> = std::iter::from_fn(|| b.try_acquire()).collect();
        held.push(b.acquire(true).await.unwrap());
        held.push(b.acquire(false).await.unwrap());
        drop(held);
        for r in &stalled {
            assert_eq!(r.holder.parked(), 0);
        }
        assert_eq!(b.available(), 8);
        assert_eq!(b.pool.idle(), b.pool.allocated());
        assert!(b.pool.allocated() <= 8);
    }

    #[test]
    fn ranges_resolve_like_http() {
        assert_eq!(ByteRange::FromTo(0, 9).resolve(100).unwrap(), (0, 10));
        assert_eq!(ByteRange::FromTo(90, 200).resolve(100).unwrap(), (90, 100));
        assert_eq!(ByteRange::From(10).resolve(100).unwrap(), (10, 100));
        assert_eq!(ByteRange::Suffix(10).resolve(100).unwrap(), (90, 100));
        assert_eq!(ByteRange::Suffix(500).resolve(100).unwrap(), (0, 100));
        assert!(ByteRange::From(100).resolve(100).is_err());
        assert!(ByteRange::FromTo(5, 4).resolve(100).is_err());
        assert!(ByteRange::Suffix(0).resolve(100).is_err());
        assert!(ByteRange::FromTo(0, 0).resolve(0).is_err());
    }
}
