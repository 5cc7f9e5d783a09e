//! The upload pipeline: one streaming pass cuts the body into blocks while
//! a hashing thread computes MD5 (ETag) and SHA-256 in order, and up to
//! `pipeline_depth` blocks per upload are BLAKE3-identified, deduplicated,
//! encoded and written concurrently. The node's budget of block buffers
//! (see [`crate::budget`]) bounds memory across all uploads, whatever
//! their size or number; a block takes its grant only once it has arrived.

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
use crate::budget::Grant;
use crate::crypt::{Compression, Sealer};
use crate::engine::Inner;
use crate::keys;
use crate::metrics::Stats;
use crate::model::{BlockEntry, Body, MANIFEST_PAGE, Owner, RefRecord, encode};
use crate::scan::apply_batched;
use crate::{Error, Result};

/// A request body: chunks of bytes, or the I/O error that cut it short.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// What an upload produced, before its record is committed.
pub(crate) struct Ingested {
    pub size: u64,
    pub md5: [u8; 16],
    pub sha256: [u8; 32],
    pub body: Body,
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
        if sha256.is_some_and(|s| s != self.sha256) {
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

/// The in-order hashing threads of one upload.
struct Hashers {
    md5: mpsc::Sender<Budgeted>,
    sha256: mpsc::Sender<Budgeted>,
}

impl Hashers {
    async fn send(&self, block: &Bytes, permit: Option<&Arc<Grant>>) -> Result<()> {
        let item = || (block.clone(), permit.cloned());
        self.md5.send(item()).await.map_err(Error::internal)?;
        self.sha256.send(item()).await.map_err(Error::internal)?;
        Ok(())
    }
}

/// A blocking thread that hashes every buffer sent to it, in order, and
/// returns the digest when the sender is dropped.
fn spawn_hasher<D: Digest + Send + 'static>(
    mut digest: D,
) -> (mpsc::Sender<Budgeted>, JoinHandle<digest::Output<D>>) {
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
    hash_tx: Hashers,
    inflight: FuturesOrdered<BlockTask>,
    entries: Vec<BlockEntry>,
    referenced: HashSet<[u8; 32]>,
    pending_refs: Vec<Op>,
    /// The owner's GC queue entry is written (with its first references):
    /// one entry per upload, not one per batch.
    queued: bool,
    /// Encrypts every block (SSE); None stores them plain.
    sealer: Option<Arc<Sealer>>,
}

impl Inner {
    /// Stream `body` into blocks owned by `owner` (refs written under `uid`).
    /// Small bodies stay inline when `allow_inline` (not for multipart parts,
    /// so completing an upload never has to write data). With a `sealer`
    /// every block is encrypted (see [`crate::crypt`]) and nothing is kept
    /// inline: the record would hold plaintext.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn ingest_sealed(
        &self,
        mut body: ByteStream,
        owner: Owner,
        uid: &str,
        erasure: (u16, u16),
        max_size: u64,
        allow_inline: bool,
        sealer: Option<Sealer>,
    ) -> Result<Ingested> {
        let allow_inline = allow_inline && sealer.is_none();
        // MD5 (~0.5 GiB/s) and SHA-256 (~1.6 GiB/s with SHA-NI) each need the
        // bytes in order; on their own threads they overlap with each other
        // and with block coding and disk writes.
        let (md5_tx, md5) = spawn_hasher(Md5::new());
        let (sha_tx, sha) = spawn_hasher(Sha256::new());
        let hash_tx = Hashers {
            md5: md5_tx,
            sha256: sha_tx,
        };
        let mut up = Upload {
            inner: self,
            owner,
            uid: uid.to_owned(),
            erasure,
            hash_tx,
            inflight: FuturesOrdered::new(),
            entries: Vec::new(),
            referenced: HashSet::new(),
            pending_refs: Vec::new(),
            queued: false,
            sealer: sealer.map(Arc::new),
        };
        let filled = up.fill(&mut body, max_size, allow_inline).await;
        let (size, body) = match filled {
            Ok(done) => done,
            Err(e) => {
                // What was stored gets its references (and GC queue entry),
                // so the incremental GC frees it; see `settle`.
                up.settle().await;
                return Err(e);
            }
        };
        drop(up);
        let md5: [u8; 16] = md5.await?.into();
        let sha256: [u8; 32] = sha.await?.into();
        Ok(Ingested {
            size,
            md5,
            sha256,
            body,
        })
    }
}

/// The chunks of a block still arriving.
#[derive(Default)]
struct Gathering {
    chunks: Vec<Bytes>,
    len: usize,
}

impl Gathering {
    fn push(&mut self, b: Bytes) {
        self.len += b.len();
        self.chunks.push(b);
    }

    /// The block as one buffer: the body's own chunk when it came whole
    /// (no copy), else one exact-size copy.
    fn take(&mut self) -> Bytes {
        self.len = 0;
        let mut chunks = std::mem::take(&mut self.chunks);
        if chunks.len() == 1 {
            return chunks.pop().expect("one chunk");
        }
        let mut buf = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
        for c in chunks {
            buf.extend_from_slice(&c);
        }
        buf.freeze()
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
        // The block being gathered, as the body delivered it: no budget is
        // taken until the whole block is here, so a client that stalls
        // mid-block pins nothing another request could use (its partial
        // block is freed when the body times out).
        let mut gathering = Gathering::default();
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
                let take = (block_size - gathering.len).min(chunk.len());
                gathering.push(chunk.split_to(take));
                if gathering.len == block_size {
                    let first = self.entries.is_empty() && self.inflight.is_empty();
                    let grant = self.inner.budget.acquire(first).await?;
                    self.dispatch(gathering.take(), grant).await?;
                }
            }
        }
        let inline = allow_inline
            && self.entries.is_empty()
            && self.inflight.is_empty()
            && gathering.len <= self.inner.cfg.inline_threshold;
        let stored = if inline {
            let tail = gathering.take();
            self.hash_tx.send(&tail, None).await?;
            Body::Inline(tail.to_vec())
        } else {
            if gathering.len > 0 {
                let first = self.entries.is_empty() && self.inflight.is_empty();
                let grant = self.inner.budget.acquire(first).await?;
                self.dispatch(gathering.take(), grant).await?;
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

    async fn dispatch(&mut self, block: Bytes, grant: Grant) -> Result<()> {
        // The hashers must see blocks in order; they are never far behind.
        let permit = Arc::new(grant);
        self.hash_tx.send(&block, Some(&permit)).await?;
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
                let sealed = tokio::task::spawn_blocking(move || sealer.seal(&b, comp)).await??;
                let stored = blocks
                    .store_coded(sealed.id, sealed.envelope, erasure, false)
                    .await?;
                drop(permit);
                let entry = BlockEntry {
                    id: sealed.id.0,
                    len,
                    kid: Some(sealed.kid),
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
        let (entry, _) = done??;
        if self.referenced.insert(entry.id) {
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
