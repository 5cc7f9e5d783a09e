//! The retirement fence of SSE-S3 master key versions, and which key
//! versions a stored body depends on.
//!
//! # Why a fence
//!
//! Retiring version N counts what still needs N, then removes N from the
//! ring. A write that sealed its blocks under N and commits *after* the
//! count would store an object nobody can read once N is gone. Such a
//! writer exists: a long PUT that chose N before a rotation, and any node
//! whose 2 s ring re-read is late or failing (it never saw the rotation and
//! still seals new objects under N). A check of the node's own ring before
//! the commit cannot close this (the ring may be stale, and the check and
//! the commit are two steps); a key in the metadata store, compared inside
//! the commit transaction, can.
//!
//! # How
//!
//! `kf/<N>` (see `keys`) lives in the engine's metadata store, the one
//! object records are committed to (etcd in a cluster, so every node's
//! commits see it at once, whatever their ring says). Every commit that
//! stores data sealed under SSE-S3 version N, or an SSE-C key check made
//! under N, adds "`kf/<N>` is absent" to its transaction: PutObject,
//! CopyObject (sharing the source's blocks), UploadPart, CreateMultipartUpload
//! (SSE-C), CompleteMultipartUpload, and the re-encryption swap. When that
//! compare fails, nothing is stored and the write answers
//! [`Error::SseKeyRetired`] (503: the client retries and seals under the
//! current version; its blocks go to GC as any uncommitted write's do).
//!
//! Retirement ([`Engine::sse_retire`](crate::Engine::sse_retire)):
//! 1. raise the fence (`Retiring`, with a random token);
//! 2. count what needs N: every commit that landed before the fence is
//!    seen, every later one fails;
//! 3. in use: lower the fence (only if it still holds our token) and refuse;
//!    unused: turn it `Retired` (compare-and-swap on our token: if another
//!    retirement of N touched it meanwhile, count again), then remove N from
//!    the ring. A `Retired` fence stays forever (versions are never reused):
//!    a retirement cut short after it resumes at the ring swap.
//!
//! A retirement that dies between 1 and 3 leaves a `Retiring` fence: writes
//! under N (stale nodes, copies sharing blocks sealed under N) answer 503
//! until `liuma sse retire N` is run again, which either retires N or
//! lowers the fence. Such a fence is shown by `GET /admin/sse` (`fenced`).
//!
//! # Nodes whose ring re-read fails
//!
//! They need no lease-like rule (refusing SSE writes after some failed
//! re-reads): the fence is checked in the same store and transaction as
//! the object record is committed in, so a node that missed both the rotation and
//! the retirement still cannot commit under N; its writes answer 503 until
//! a re-read succeeds. A node that cannot reach the store commits nothing
//! at all. What such a node cannot do is read objects sealed under a
//! version it has not loaded yet (an error until it re-reads).
//!
//! # Which versions a body needs
//!
//! Every SSE-S3 block list entry written now records the version its block
//! was sealed under (`BlockEntry::kv`); entries written before do not, and
//! their envelope header is read instead: one shard, the one that starts
//! the block (`BlockStore::read_head`: the whole block for a replicated
//! one, its first 1/k when erasure coded; shards are read whole). Those
//! reads are cached per block id in a [`HeaderCache`] of bounded size, so
//! a scan of any store holds bounded memory. A copy or a completed upload
//! sharing such blocks learns their versions the same way (it must fence
//! them) and records them in its own block list.

use std::collections::{BTreeSet, HashMap};

use liuma_codec::BlockId;
use liuma_meta::{Compare, Op, Txn};
use serde::{Deserialize, Serialize};

use crate::crypt::Sse;
use crate::engine::{Engine, Inner};
use crate::keys;
use crate::model::{BlockEntry, decode, encode, random_id};
use crate::scan::Pager;
use crate::{Error, Result};

/// Block ids whose key version a [`HeaderCache`] remembers, at most.
/// About 60 bytes each: a few MiB whatever the store's size.
pub(crate) const HEADER_CACHE_ENTRIES: usize = 1 << 16;

/// What a fence says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum FenceState {
    /// A retirement is counting what needs the version.
    Retiring,
    /// Nothing needed it with the fence up: it is (being) removed from
    /// the ring, and the fence stays.
    Retired,
}

/// The value of `kf/<version>`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct FenceRecord {
    state: FenceState,
    /// Which retirement raised it (a later one's overwrite is seen).
    token: String,
    /// When, ms since the epoch.
    since_ms: u64,
}

/// A fence this node raised: its stored value, compared by every later
/// step so that a fence another retirement replaced is never taken for ours.
pub(crate) struct Raised(Vec<u8>);

/// The outcome of [`Engine::raise_fence`].
pub(crate) enum Fence {
    /// Raised by us, `Retiring`.
    Raised(Raised),
    /// `Retired` already (an earlier retirement got that far).
    Retired,
}

/// Add "no fence for any of `versions`" to a commit's transaction.
pub(crate) fn fenced(mut txn: Txn, versions: &[u32]) -> Txn {
    for v in versions {
        txn = txn.when(Compare::Absent(keys::sse_fence(*v)));
    }
    txn
}

/// The key versions a record being committed depends on: `sealed` (the
/// SSE-S3 versions its data is sealed under) plus the master version of
/// an SSE-C key check. Sorted, without repeats.
pub(crate) fn fences_of(sealed: impl IntoIterator<Item = u32>, sse: Option<&Sse>) -> Vec<u32> {
    let mut all: BTreeSet<u32> = sealed.into_iter().collect();
    if let Some(Sse::Customer { check_version, .. }) = sse {
        all.insert(*check_version);
    }
    all.into_iter().collect()
}

/// Key versions of blocks by id, learned from envelope headers; bounded:
/// two generations of at most half the capacity each, the older dropped
/// when the newer fills (a recently used id is moved to the newer one).
pub(crate) struct HeaderCache {
    new: HashMap<BlockId, Option<u32>>,
    old: HashMap<BlockId, Option<u32>>,
    cap: usize,
}

impl HeaderCache {
    pub(crate) fn new(cap: usize) -> Self {
        HeaderCache {
            new: HashMap::new(),
            old: HashMap::new(),
            cap: cap.max(2),
        }
    }

    fn get(&mut self, id: &BlockId) -> Option<Option<u32>> {
        if let Some(v) = self.new.get(id) {
            return Some(*v);
        }
        let v = self.old.remove(id)?;
        self.insert(*id, v);
        Some(v)
    }

    fn insert(&mut self, id: BlockId, v: Option<u32>) {
        if self.new.len() >= self.cap / 2 {
            self.old = std::mem::take(&mut self.new);
        }
        self.new.insert(id, v);
    }

    /// Ids held now (never more than the capacity).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.new.len() + self.old.len()
    }
}

impl Inner {
    /// After a commit lost: `SseKeyRetired` when one of `versions` is
    /// fenced (the commit failed for that), else nothing.
    pub(crate) async fn check_fences(&self, versions: &[u32]) -> Result<()> {
        for v in versions {
            if self.meta.get(&keys::sse_fence(*v)).await?.is_some() {
                return Err(Error::SseKeyRetired { version: *v });
            }
        }
        Ok(())
    }

    /// The SSE-S3 key version of the block of `e` (None: not SSE-S3).
    pub(crate) async fn entry_key_version(
        &self,
        e: &BlockEntry,
        cache: &mut HeaderCache,
    ) -> Result<Option<u32>> {
        if e.kv.is_some() || e.kid.is_none() {
            return Ok(e.kv);
        }
        // listed before versions were recorded: the envelope says
        let id = e.block_id();
        if let Some(v) = cache.get(&id) {
            return Ok(v);
        }
        let head = self.blocks.read_head(&id, crate::crypt::HEADER_LEN).await?;
        let v = crate::crypt::envelope_key_version(&head);
        cache.insert(id, v);
        Ok(v)
    }

    /// The SSE-S3 key versions the blocks of `entries`, stored with `sse`,
    /// are sealed under (none unless SSE-S3: SSE-C blocks are sealed under
    /// the customer's key). Entries listed before versions were recorded
    /// get theirs filled in, so the list the caller writes (a copy's, a
    /// completed upload's) needs no block read the next time.
    pub(crate) async fn sealed_versions(
        &self,
        entries: &mut [BlockEntry],
        sse: Option<&Sse>,
    ) -> Result<Vec<u32>> {
        if sse != Some(&Sse::S3) {
            return Ok(Vec::new());
        }
        let mut cache = HeaderCache::new(HEADER_CACHE_ENTRIES);
        let mut out = BTreeSet::new();
        for e in entries {
            let v = self.entry_key_version(e, &mut cache).await?;
            if e.kid.is_some() {
                e.kv = v;
            }
            out.extend(v);
        }
        Ok(out.into_iter().collect())
    }
}

impl Engine {
    /// Raise the fence of `version` (`Retiring`, ours), unless it is
    /// `Retired` already.
    pub(crate) async fn raise_fence(&self, version: u32) -> Result<Fence> {
        let key = keys::sse_fence(version);
        let value = encode(&FenceRecord {
            state: FenceState::Retiring,
            token: random_id(),
            since_ms: self.now_ms(),
        });
        for _ in 0..8 {
            let txn = match self.inner.meta.get(&key).await? {
                Some(kv) => {
                    let rec: FenceRecord = decode(&kv.value)?;
                    if rec.state == FenceState::Retired {
                        return Ok(Fence::Retired);
                    }
                    // Another retirement's (running, or one that died):
                    // ours from now on; its own later steps see the change.
                    Txn::new().when(Compare::ModRevision(key.clone(), kv.mod_revision))
                }
                None => Txn::new().when(Compare::Absent(key.clone())),
            };
            let txn = txn.and_then(Op::put(key.clone(), value.clone()));
            if self.inner.meta.txn(txn).await?.succeeded {
                return Ok(Fence::Raised(Raised(value)));
            }
        }
        Err(Error::Conflict {
            what: format!("SSE key version {version} fence"),
        })
    }

    /// Lower our fence (a refused retirement). Left alone when another
    /// retirement replaced it: that one decides.
    pub(crate) async fn lower_fence(&self, version: u32, ours: &Raised) -> Result<()> {
        let key = keys::sse_fence(version);
        let txn = Txn::new()
            .when(Compare::Value(key.clone(), ours.0.clone()))
            .and_then(Op::delete(key));
        self.inner.meta.txn(txn).await?;
        Ok(())
    }

    /// Turn our fence `Retired`. False when it is no longer ours (another
    /// retirement of the version raised or lowered it meanwhile, so our
    /// count may have missed a commit).
    pub(crate) async fn seal_fence(&self, version: u32, ours: &Raised) -> Result<bool> {
        let key = keys::sse_fence(version);
        let mut rec: FenceRecord = decode(&ours.0)?;
        rec.state = FenceState::Retired;
        let txn = Txn::new()
            .when(Compare::Value(key.clone(), ours.0.clone()))
            .and_then(Op::put(key, encode(&rec)));
        Ok(self.inner.meta.txn(txn).await?.succeeded)
    }

    /// Versions with a fence (retired, or a retirement running or cut
    /// short), oldest first, and whether each is `Retired`.
    pub(crate) async fn fences(&self) -> Result<Vec<(u32, FenceState)>> {
        let kvs = Pager::prefix(keys::SSE_FENCE.as_bytes(), 256)
            .collect(&self.inner.meta)
            .await?;
        let mut out = Vec::with_capacity(kvs.len());
        for kv in kvs {
            let Some(v) = std::str::from_utf8(&kv.key[keys::SSE_FENCE.len()..])
                .ok()
                .and_then(|s| s.parse().ok())
            else {
                continue;
            };
            let rec: FenceRecord = decode(&kv.value)?;
            out.push((v, rec.state));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_cache_stays_bounded_and_keeps_recent_ids() {
        let mut c = HeaderCache::new(8);
        let id = |i: u32| {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&i.to_le_bytes());
            BlockId(b)
        };
        for i in 0..1000 {
            c.insert(id(i), Some(i % 3));
            // id 0 is used all along: never evicted
            assert_eq!(c.get(&id(0)), Some(Some(0)), "at {i}");
            assert!(c.len() <= 8, "{} ids held", c.len());
        }
        assert_eq!(c.get(&id(999)), Some(Some(0)));
        assert_eq!(c.get(&id(3)), None, "an old id was dropped");
    }

    #[test]
    fn fences_are_sorted_and_include_the_customer_check() {
        assert_eq!(fences_of([3, 1, 3], None), vec![1, 3]);
        let c = Sse::Customer {
            key_md5: String::new(),
            mac: [0; 32],
            check_version: 2,
        };
        assert_eq!(fences_of([], Some(&c)), vec![2]);
        assert_eq!(fences_of([5], Some(&Sse::S3)), vec![5]);
        assert_eq!(keys::sse_fence(7), b"kf/0000000007");
    }
}
