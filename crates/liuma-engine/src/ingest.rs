//! The upload pipeline: one streaming pass cuts the body into blocks while
//! hashing threads compute MD5 (ETag) and, when asked for, SHA-256 in
//! order, and up to `pipeline_depth` blocks per upload are
//! BLAKE3-identified, deduplicated, encoded and written concurrently. A
//! body that ends before its first block is full is hashed in place: no
//! thread hand-offs for small objects (see [`Hashing`]). The node's budget of block buffers
//! (see [`crate::budget`]) bounds memory across all uploads, whatever
//! their size or number: a block takes its grant once its first
//! sixteenth has arrived and is gathered into the
//! grant's pooled buffer.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{FuturesOrdered, Stream, StreamExt};
use liuma_codec::BlockId;
use liuma_meta::{MAX_TXN_OPS, Op, Txn};
use md5::Md5;
use md5::digest::{self, Digest};
use sha2::Sha256;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::blocks::Stored;
use crate::budget::{Budget, Gatherer, Grant};
use crate::crypt::{Compression, Sealer};
use crate::engine::Inner;
use crate::keys;
use crate::metrics::Stats;
use crate::model::{BlockEntry, Body, MANIFEST_PAGE, Owner, RefRecord, encode};
use crate::scan::apply_batched;
use crate::{Error, Result};

/// A request body: chunks of bytes, or the I/O error that cut it short.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// How an upload learns the SHA-256 of its content (the native API's
/// content identity, stored with the version or part).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContentSha256 {
    /// Hash the body (the default; the native API needs it).
    #[default]
    Compute,
    /// The front door verified the body against this digest while it
    /// streamed (a SigV4 signed payload): stored as is, not hashed again.
    /// A body that did not match must end in an error before its end.
    Verified([u8; 32]),
    /// Not needed (an S3 upload whose payload hash is not signed): not
    /// hashed and not stored. SHA-256 is about a fifth of a large PUT's
    /// CPU; nothing on the S3 side reads it.
    Skip,
}

/// What [`Inner::ingest`] is asked to do besides storing the bytes.
#[derive(Clone, Debug)]
pub(crate) struct IngestOptions {
    /// More bytes than this fail the upload (`EntityTooLarge`).
    pub max_size: u64,
    /// Small bodies may stay inline (not for multipart parts, so that
    /// completing an upload never has to write data).
    pub allow_inline: bool,
    /// Where the content's SHA-256 comes from.
    pub sha256: ContentSha256,
    /// Encrypt every block with this (SSE-S3 or SSE-C).
    pub sealer: Option<Sealer>,
}

/// What an upload produced, before its record is committed.
pub(crate) struct Ingested {
    pub size: u64,
    pub md5: [u8; 16],
    /// None when the upload was asked not to compute it.
    pub sha256: Option<[u8; 32]>,
    pub body: Body,
    /// Bytes on the data disks (`VersionRecord::disk_bytes`).
    pub disk_bytes: u64,
}

impl Ingested {
    /// Compare with what the client announced: length, MD5, SHA-256. On a
    /// mismatch the caller commits nothing (the blocks become garbage).
    pub fn check(
        &self,
        length: Option<u64>,
        md5: Option<[u8; 16]>,
        sha256: Option<[u8; 32]>,
    ) -> Result<()> {
        if let Some(expected) = length
            && self.size != expected
        {
            return Err(Error::IncompleteBody {
                received: self.size,
                expected,
            });
        }
        if md5.is_some_and(|m| m != self.md5) {
            return Err(Error::BadDigest { algorithm: "md5" });
        }
        // An expected digest is only passed with `ContentSha256::Compute`
        // (see `content_sha256`); a missing one cannot match.
        if sha256.is_some_and(|s| self.sha256 != Some(s)) {
            return Err(Error::BadDigest {
                algorithm: "sha256",
            });
        }
        Ok(())
    }
}

type BlockTask = JoinHandle<Result<(BlockEntry, Stored)>>;

/// A block and the share of the memory budget it holds: the permit goes
/// back only when the hashers and the block store are all done with it.
type Budgeted = (Bytes, Option<Arc<Grant>>);

/// The expected SHA-256 wins: a digest to verify is always computed.
fn content_sha256(expected: Option<[u8; 32]>, asked: ContentSha256) -> ContentSha256 {
    if expected.is_some() {
        ContentSha256::Compute
    } else {
        asked
    }
}

impl IngestOptions {
    /// A client's body (PutObject, UploadPart): at most `max_size` bytes,
    /// sealed with `sealer`, its SHA-256 computed when the client gave one
    /// to check (`expected`) or asked for it (`asked`); inline when small.
    pub(crate) fn client(
        max_size: u64,
        sealer: Option<Sealer>,
        expected: Option<[u8; 32]>,
        asked: ContentSha256,
    ) -> Self {
        IngestOptions {
            max_size,
            allow_inline: true,
            sha256: content_sha256(expected, asked),
            sealer,
        }
    }

    /// The same, never inline (multipart parts: completing an upload then
    /// never has to write data).
    #[must_use]
    pub(crate) fn not_inline(self) -> Self {
        IngestOptions {
            allow_inline: false,
            ..self
        }
    }
}

/// A body that ends within this many bytes is hashed in place on the
/// request's task (MD5 of 256 KiB takes well under a millisecond): two
/// blocking threads and their wake-ups per request were a quarter of the
/// server's CPU time on 4 KiB PUTs (BENCHMARKS.md, profile of issue #14).
const HASH_IN_PLACE_MAX: usize = 256 << 10;

/// The in-order hashing of one upload: in place until the body turns out
/// to be bigger than [`HASH_IN_PLACE_MAX`] or a block, then on two
/// blocking threads (MD5 ~0.5 GiB/s and SHA-256 ~1.6 GiB/s with SHA-NI
/// each need the bytes in order; on their own threads they overlap with
/// each other and with block coding and disk writes).
enum Hashing {
    InPlace {
        md5: Md5,
        sha256: Option<Sha256>,
    },
    Threads {
        md5: (mpsc::Sender<Budgeted>, JoinHandle<digest::Output<Md5>>),
        sha256: Option<(mpsc::Sender<Budgeted>, JoinHandle<digest::Output<Sha256>>)>,
    },
    /// Taken by [`Hashing::finish`].
    Done,
}

impl Hashing {
    fn new(sha256: bool) -> Self {
        Hashing::InPlace {
            md5: Md5::new(),
            sha256: sha256.then(Sha256::new),
        }
    }

    /// Hash `block`, the next bytes of the body; `last` when no bytes follow.
    async fn feed(&mut self, block: &Bytes, permit: Option<&Arc<Grant>>, last: bool) -> Result<()> {
        if let Hashing::InPlace { md5, sha256 } = self {
            if last && block.len() <= HASH_IN_PLACE_MAX {
                md5.update(block);
                if let Some(h) = sha256 {
                    h.update(block);
                }
                return Ok(());
            }
            // Bigger than a small object: continue on threads from here.
            let md5 = spawn_hasher(std::mem::take(md5));
            let sha256 = sha256.take().map(spawn_hasher);
            *self = Hashing::Threads { md5, sha256 };
        }
        let Hashing::Threads { md5, sha256 } = self else {
            return Err(Error::internal(std::io::Error::other(
                "hashing fed after it finished",
            )));
        };
        let item = || (block.clone(), permit.cloned());
        md5.0.send(item()).await.map_err(Error::internal)?;
        if let Some(h) = sha256 {
            h.0.send(item()).await.map_err(Error::internal)?;
        }
        Ok(())
    }

    /// The digests of everything fed.
    async fn finish(&mut self) -> Result<([u8; 16], Option<[u8; 32]>)> {
        match std::mem::replace(self, Hashing::Done) {
            Hashing::InPlace { md5, sha256 } => {
                Ok((md5.finalize().into(), sha256.map(|h| h.finalize().into())))
            }
            Hashing::Threads { md5, sha256 } => {
                // Closing the channels ends the threads.
                drop(md5.0);
                let sha = match sha256 {
                    Some((tx, handle)) => {
                        drop(tx);
                        Some(handle.await?.into())
                    }
                    None => None,
                };
                Ok((md5.1.await?.into(), sha))
            }
            Hashing::Done => Err(Error::internal(std::io::Error::other(
                "hashing finished twice",
            ))),
        }
    }
}

/// A blocking thread that hashes every buffer sent to it, in order, and
/// returns the digest when the sender is dropped.
fn spawn_hasher<D: Digest + Send + 'static>(
    mut digest: D,
) -> (mpsc::Sender<Budgeted>, JoinHandle<digest::Output<D>>)
where
    digest::Output<D>: Send,
{
    let (tx, mut rx) = mpsc::channel::<Budgeted>(2);
    let handle = tokio::task::spawn_blocking(move || {
        while let Some((b, _permit)) = rx.blocking_recv() {
            digest.update(&b);
        }
        digest.finalize()
    });
    (tx, handle)
}

/// State of one upload in progress.
struct Upload<'a> {
    inner: &'a Inner,
    owner: Owner,
    uid: String,
    erasure: (u16, u16),
    hashing: Hashing,
    inflight: FuturesOrdered<BlockTask>,
    entries: Vec<BlockEntry>,
    referenced: HashSet<[u8; 32]>,
    pending_refs: Vec<Op>,
    /// The owner's GC queue entry is written (with its first references):
    /// one entry per upload, not one per batch.
    queued: bool,
    /// Encrypts every block (SSE); None stores them plain.
    sealer: Option<Arc<Sealer>>,
    /// Shard bytes of the distinct blocks stored or found so far.
    disk_bytes: u64,
}

impl Inner {
    /// Stream `body` into blocks owned by `owner` (refs written under `uid`).
    /// With `opts.sealer` every block is encrypted (see [`crate::crypt`]),
    /// and so is a small body kept inline (`Body::SealedInline`).
    pub(crate) async fn ingest(
        &self,
        mut body: ByteStream,
        owner: Owner,
        uid: &str,
        erasure: (u16, u16),
        opts: IngestOptions,
    ) -> Result<Ingested> {
        let allow_inline = opts.allow_inline;
        let mut up = Upload {
            inner: self,
            owner,
            uid: uid.to_owned(),
            erasure,
            hashing: Hashing::new(opts.sha256 == ContentSha256::Compute),
            inflight: FuturesOrdered::new(),
            entries: Vec::new(),
            referenced: HashSet::new(),
            pending_refs: Vec::new(),
            queued: false,
            sealer: opts.sealer.map(Arc::new),
            disk_bytes: 0,
        };
        let filled = up.fill(&mut body, opts.max_size, allow_inline).await;
        let (size, body) = match filled {
            Ok(done) => done,
            Err(e) => {
                // What was stored gets its references (and GC queue entry),
                // so the incremental GC frees it; see `settle`.
                up.settle().await;
                return Err(e);
            }
        };
        let (md5, computed) = up.hashing.finish().await?;
        let disk_bytes = match &body {
            Body::Inline(d) => d.len() as u64,
            Body::SealedInline { envelope, .. } => envelope.len() as u64,
            _ => up.disk_bytes,
        };
        drop(up);
        let sha256 = match opts.sha256 {
            ContentSha256::Compute => computed,
            ContentSha256::Verified(digest) => Some(digest),
            ContentSha256::Skip => None,
        };
        Ok(Ingested {
            size,
            md5,
            sha256,
            body,
            disk_bytes,
        })
    }
}

/// Bytes of a block gathered before it takes its grant: a sixteenth of a
/// block (256 KiB of 4 MiB). A body that ends within this (small objects,
/// tails) never touches the pool; a client that stalls within this pins
/// no grant; past it, the block is gathered into the pooled buffer of its
/// grant, so what an upload holds is counted by the budget (issue #11: 16
/// uploads gathering 4 MiB each were 64 MiB nothing bounded).
fn gather_uncounted(block_size: usize) -> usize {
    block_size / 16
}

/// The block still arriving: the body's own chunk when a whole block
/// came in one piece (no copy), else the bytes copied as they arrive: the
/// first [`gather_uncounted`] bytes into a buffer of their own, the rest
/// (with that start) into the pooled block buffer of the block's grant,
/// held by a [`Gatherer`] the budget may evict while the client stalls.
/// Copying at once (rather than keeping the transport's chunks) frees its
/// buffers right away and never holds a block twice.
struct Gathering {
    whole: Option<Bytes>,
    buf: BytesMut,
    /// Created with the upload's first counted block, reused for the next.
    gatherer: Option<Arc<Gatherer>>,
    /// The block being gathered is in the gatherer.
    in_gatherer: bool,
    /// [`gather_uncounted`] of the block size.
    uncounted: usize,
}

impl Gathering {
    fn new(block_size: usize) -> Self {
        Gathering {
            whole: None,
            buf: BytesMut::new(),
            gatherer: None,
            in_gatherer: false,
            uncounted: gather_uncounted(block_size),
        }
    }

    fn len(&self) -> usize {
        match (&self.whole, &self.gatherer) {
            (_, Some(g)) if self.in_gatherer => g.len(),
            (Some(w), _) => w.len(),
            _ => self.buf.len(),
        }
    }

    /// Whether adding `more` bytes needs a grant first (past the uncounted
    /// start, or the grant was taken back while the client stalled).
    fn needs_grant(&self, more: usize) -> bool {
        match &self.gatherer {
            Some(g) if self.in_gatherer => !g.counted(),
            _ => self.len() + more > self.uncounted,
        }
    }

    /// Gather into `grant`'s pooled buffer from now on.
    fn counted(&mut self, budget: &Arc<Budget>, grant: Grant) {
        let g = self.gatherer.get_or_insert_with(|| budget.gatherer());
        if self.in_gatherer {
            g.take_grant(grant, &[]);
            return;
        }
        match self.whole.take() {
            Some(w) => g.take_grant(grant, &w),
            None => g.take_grant(grant, &self.buf.split()),
        }
        self.in_gatherer = true;
    }

    /// Add the next bytes of a block that will hold `want` bytes at most
    /// (the block size, or what is left of a body of known length).
    fn push(&mut self, b: Bytes, want: usize) {
        if let Some(g) = &self.gatherer
            && self.in_gatherer
        {
            g.push(&b);
            return;
        }
        if self.buf.is_empty() && self.whole.is_none() && b.len() == want {
            self.whole = Some(b);
            return;
        }
        if let Some(w) = self.whole.take() {
            self.buf.extend_from_slice(&w);
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve(want.min(self.uncounted).max(b.len()));
        }
        self.buf.extend_from_slice(&b);
    }

    /// The block as one buffer, with its grant when it took one while
    /// gathering; the gathering starts over.
    fn take(&mut self) -> (Bytes, Option<Grant>) {
        if let Some(g) = &self.gatherer
            && self.in_gatherer
        {
            self.in_gatherer = false;
            return g.take();
        }
        match self.whole.take() {
            Some(w) => (w, None),
            None => (self.buf.split().freeze(), None),
        }
    }
}

impl Upload<'_> {
    /// Read the body into blocks (or keep it inline): (size, body).
    async fn fill(
        &mut self,
        body: &mut ByteStream,
        max_size: u64,
        allow_inline: bool,
    ) -> Result<(u64, Body)> {
        let block_size = self.inner.cfg.block_size;
        // The block being gathered: counted by the budget once past its
        // first sixteenth; a client that stalls mid-block loses its grant
        // to the first waiter (see `Gatherer`), and its partial block is
        // freed when the body times out.
        let mut gathering = Gathering::new(block_size);
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk.map_err(Error::from_body)?;
            size += chunk.len() as u64;
            Stats::add(&self.inner.stats.bytes_in, chunk.len() as u64);
            if size > max_size {
                return Err(Error::EntityTooLarge {
                    size,
                    max: max_size,
                });
            }
            while !chunk.is_empty() {
                let room = block_size - gathering.len();
                let take = room.min(chunk.len());
                // what this block will hold at most: the block size, or the
                // rest of a body whose length is known (max_size)
                let left =
                    usize::try_from(max_size - (size - chunk.len() as u64)).unwrap_or(usize::MAX);
                let want = room.min(left) + gathering.len();
                // A whole block in one chunk is kept as it came (no copy).
                if gathering.needs_grant(take) && !(gathering.len() == 0 && take == want) {
                    // Waiting holds only grants of blocks being stored
                    // (the budget's invariant). The grants kept for first
                    // blocks serve objects of one block only: a long
                    // upload gathering its first block would pin one for
                    // as long as its client takes to send a block.
                    let small = self.first() && want < block_size;
                    let grant = self.inner.budget.acquire(small).await?;
                    gathering.counted(&self.inner.budget, grant);
                }
                gathering.push(chunk.split_to(take), want);
                if gathering.len() == block_size {
                    self.dispatch_gathered(&mut gathering, false).await?;
                }
            }
        }
        let inline = allow_inline
            && self.entries.is_empty()
            && self.inflight.is_empty()
            && gathering.len() <= self.inner.cfg.inline_threshold;
        let stored = if inline {
            let (tail, _) = gathering.take();
            self.hashing.feed(&tail, None, true).await?;
            match &self.sealer {
                // A few KiB: sealed here (microseconds), not compressed
                // (neither are plain inline bodies).
                Some(sealer) => {
                    let sealed = sealer.seal(&tail, Compression::OFF)?;
                    Body::SealedInline {
                        kid: sealed.kid,
                        envelope: sealed.envelope.to_vec(),
                    }
                }
                None => Body::Inline(tail.to_vec()),
            }
        } else {
            if gathering.len() > 0 {
                self.dispatch_gathered(&mut gathering, true).await?;
            }
            self.finish().await?
        };
        Ok((size, stored))
    }

    /// After a failed upload: wait for the blocks still being stored and
    /// write the references of every stored block (best effort). The owner
    /// is never committed, so the references are stale once the grace has
    /// passed and the GC queue entry written with them frees the blocks.
    /// (After a crash nothing runs here; the daily full GC pass frees those.)
    async fn settle(&mut self) {
        while !self.inflight.is_empty() {
            let _ = self.collect_one().await;
        }
        if let Err(e) = self.flush_refs().await {
            tracing::debug!(error = %e, "references of a failed upload not written; the full GC pass frees its blocks");
        }
    }

    /// Whether the next grant is the upload's first (see `Budget::acquire`).
    fn first(&self) -> bool {
        self.entries.is_empty() && self.inflight.is_empty()
    }

    /// Store the block gathered, with its grant (taken now if the block
    /// was small enough to gather without one).
    async fn dispatch_gathered(&mut self, gathering: &mut Gathering, last: bool) -> Result<()> {
        let (block, grant) = gathering.take();
        let grant = match grant {
            Some(g) => g,
            None => self.inner.budget.acquire(self.first()).await?,
        };
        self.dispatch(block, grant, last).await
    }

    /// Store `block` (`last`: the body ends with it).
    async fn dispatch(&mut self, block: Bytes, grant: Grant, last: bool) -> Result<()> {
        // The hashers must see blocks in order; they are never far behind.
        let permit = Arc::new(grant);
        self.hashing.feed(&block, Some(&permit), last).await?;
        let blocks = self.inner.blocks.clone();
        let erasure = self.erasure;
        let sealer = self.sealer.clone();
        let comp = Compression {
            enabled: blocks.codec().compress,
            level: blocks.codec().zstd_level,
            min_saving_percent: blocks.codec().min_saving_percent,
        };
        self.inflight.push_back(tokio::spawn(async move {
            let len = u32::try_from(block.len()).expect("blocks are at most 64 MiB");
            let b = block.clone();
            if let Some(sealer) = sealer {
                // Compressed and encrypted here; the codec stores the
                // envelope as it is (no second compression attempt).
                let kv = sealer.s3_version();
                let sealed = tokio::task::spawn_blocking(move || sealer.seal(&b, comp)).await??;
                let stored = blocks
                    .store_sealed(sealed.id, sealed.envelope, erasure)
                    .await?;
                drop(permit);
                let entry = BlockEntry {
                    id: sealed.id.0,
                    len,
                    kid: Some(sealed.kid),
                    kv,
                };
                return Ok((entry, stored));
            }
            let id = tokio::task::spawn_blocking(move || BlockId::of(&b)).await?;
            let stored = blocks.store(id, block, erasure).await?;
            drop(permit);
            Ok((
                BlockEntry {
                    id: id.0,
                    len,
                    kid: None,
                    kv: None,
                },
                stored,
            ))
        }));
        while self.inflight.len() >= self.inner.cfg.pipeline_depth {
            self.collect_one().await?;
        }
        Ok(())
    }

    async fn collect_one(&mut self) -> Result<()> {
        let Some(done) = self.inflight.next().await else {
            return Ok(());
        };
        let (entry, stored) = done??;
        if self.referenced.insert(entry.id) {
            // once per distinct block of this upload
            self.disk_bytes += stored.disk_bytes();
            let rec = RefRecord {
                owner: self.owner.clone(),
                created_ms: self.inner.clock.now_ms(),
            };
            // The reverse index first: whatever holds a reference, GC can
            // find from its owner.
            self.pending_refs.push(Op::put(
                keys::owned(&self.uid, &entry.block_id()),
                Vec::new(),
            ));
            self.pending_refs.push(Op::put(
                keys::block_ref(&entry.block_id(), &self.uid),
                encode(&rec),
            ));
            // two ops per block, plus the GC queue entry of the first flush
            if self.pending_refs.len() >= MAX_TXN_OPS - 2 {
                self.flush_refs().await?;
            }
        }
        self.entries.push(entry);
        Ok(())
    }

    async fn flush_refs(&mut self) -> Result<()> {
        if self.pending_refs.is_empty() {
            return Ok(());
        }
        let mut success = Vec::with_capacity(self.pending_refs.len() + 1);
        if !self.queued {
            success.push(pending_check(self.inner, &self.uid));
        }
        success.append(&mut self.pending_refs);
        let written = self
            .inner
            .meta
            .txn(Txn {
                success,
                ..Txn::default()
            })
            .await;
        if written.is_err() {
            // Stored blocks no reference or queue entry accounts for: only
            // a full GC pass finds them, so ask for one.
            self.inner.stats.note_leftover();
        }
        written?;
        self.queued = true;
        Ok(())
    }

    /// Wait for every block, write the remaining refs, build the body.
    async fn finish(&mut self) -> Result<Body> {
        while !self.inflight.is_empty() {
            self.collect_one().await?;
        }
        self.flush_refs().await?;
        let entries = std::mem::take(&mut self.entries);
        write_manifest(self.inner, &self.uid, entries).await
    }
}

/// Keep the block list in the record when small, else in manifest pages
/// (etcd values are limited to ~1.5 MiB).
pub(crate) async fn write_manifest(
    inner: &Inner,
    uid: &str,
    entries: Vec<BlockEntry>,
) -> Result<Body> {
    if entries.len() <= MANIFEST_PAGE {
        return Ok(Body::Blocks(entries));
    }
    let blocks = entries.len() as u64;
    let ops: Vec<Op> = entries
        .chunks(MANIFEST_PAGE)
        .zip(0u32..)
        .map(|(chunk, page)| Op::put(keys::manifest_page(uid, page), encode(&chunk.to_vec())))
        .collect();
    let pages = u32::try_from(ops.len()).expect("pages fit in u32");
    apply_batched(&inner.meta, ops).await?;
    Ok(Body::Paged { blocks, pages })
}

/// Write references from `uid` (owned by `owner`) to every block of `entries`.
pub(crate) async fn write_refs(
    inner: &Arc<Inner>,
    owner: &Owner,
    uid: &str,
    entries: &[BlockEntry],
) -> Result<()> {
    let mut seen = HashSet::new();
    let rec = encode(&RefRecord {
        owner: owner.clone(),
        created_ms: inner.clock.now_ms(),
    });
    // In order (batches are applied in order, each atomically): the GC
    // queue entry, then per block the reverse index and the reference.
    let mut ops = vec![pending_check(inner, uid)];
    for e in entries.iter().filter(|e| seen.insert(e.id)) {
        ops.push(Op::put(keys::owned(uid, &e.block_id()), Vec::new()));
        ops.push(Op::put(keys::block_ref(&e.block_id(), uid), rec.clone()));
    }
    let written = apply_batched(&inner.meta, ops).await;
    if written.is_err() {
        inner.stats.note_leftover();
    }
    written
}

/// The GC queue entry written with an owner's references: once the grace
/// has passed, GC looks at the owner's blocks; if the owner was never
/// committed (an upload cut short), its references are stale by then and
/// blocks nothing else uses are freed.
fn pending_check(inner: &Inner, uid: &str) -> Op {
    let grace = u64::try_from(inner.cfg.gc_grace.as_millis()).unwrap_or(u64::MAX);
    Op::put(
        keys::gc_due(inner.clock.now_ms().saturating_add(grace), uid),
        Vec::new(),
    )
}
