//! Re-encoding: bringing a block up to the code the cluster wants *now*.
//!
//! A block keeps the code it was written with: moving its shards (heal,
//! drain, rebalance) adds no parity. A first node alone writes 1+0 blocks,
//! two or three nodes write 1+1 or 2+1; without re-encoding those blocks
//! would stay one node loss away from being gone after the cluster grew.
//!
//! The **target** of a block is the erasure override of the bucket(s)
//! referring to it, else the cluster's code now ([`Engine::erasure`]: the
//! configured `--erasure`, else the widest default the live failure
//! domains allow). A block is **below target** when it has fewer parity
//! shards than the target (a wider k with the same m is not worth the
//! rewrite); redundancy is never reduced. The block's maintainer
//! re-encodes it during a heal pass:
//!
//! 1. read the readable shards and decode the block (checked against its id);
//! 2. encode k'+m' (whole replicas for small blocks, as for a new write);
//! 3. write the new shards where placement puts them — never at the
//!    (disk, index) of an old shard: a shard file is named by block and
//!    index, so that would overwrite a shard the old record still needs;
//! 4. CAS the block record (same revision) to the new code and disks;
//! 5. delete the old shards.
//!
//! Crash safety: before 4, the new shard files are orphans (no record
//! places them) and the old record still reads; after 4 the old files are
//! orphans. The orphan sweep removes either kind after its grace. A lost
//! CAS (GC flipped the block to `Deleting`, a repair or another re-encode
//! won) or a failed write leaves what step 3 wrote to the sweep, and the
//! block is looked at again next pass. It must not delete those files
//! itself: two nodes that both think they maintain the block (maintainers
//! change while membership does) compute the same placement and write the
//! same (disk, index) files, so the loser's delete would remove the shards
//! the winner just recorded. The chaos suite lost acknowledged objects
//! exactly this way while a cluster grew; the sweep only removes files no
//! record places and that were not written within its grace.

use std::collections::HashMap;

use bytes::Bytes;
use futures_util::future::join_all;
use liuma_cluster::placement::{rank, spread_capped};
use liuma_codec::BlockId;
use liuma_meta::{Compare, Op, Txn};

use crate::blocks::index_u16;
use crate::engine::Engine;
use crate::keys;
use crate::model::{BlockRecord, BlockState, Owner, RefRecord, decode, encode};
use crate::scan::Pager;
use crate::{Error, Result};

/// References looked at to find the buckets of a block (a block shared by
/// more objects than this is judged by the first ones).
const REFS_LOOKED_AT: usize = 16;

/// New shards of a block, written but not recorded yet.
pub(crate) struct Staged {
    /// The record that will point at them.
    pub rec: BlockRecord,
    /// (disk, index) of every new shard.
    pub written: Vec<(String, u16)>,
}

/// The codes blocks should have now, computed once per pass.
pub(crate) struct Targets {
    /// The cluster's code ([`Engine::erasure`]).
    pub cluster: (u16, u16),
    /// Buckets that override it.
    pub buckets: HashMap<String, (u16, u16)>,
}

/// True when a block has less parity than `target` wants, or as much but
/// fewer data shards (the same tolerance at a higher storage cost: a 2+2
/// block written while the cluster had four nodes becomes 4+2 with six).
/// Blocks stored as whole replicas (stored under `replicate_below`) are
/// judged by their parity only: they stay replicas at any k. Redundancy is
/// never reduced: a block with more parity than the target is left alone.
pub(crate) fn below(rec: &BlockRecord, target: (u16, u16), replicate_below: usize) -> bool {
    let replica = rec.stored_len < replicate_below as u64;
    rec.m < target.1 || (rec.m == target.1 && rec.k < target.0 && !replica)
}

impl Engine {
    /// The codes blocks should have now (one bucket listing).
    pub(crate) async fn targets(&self) -> Result<Targets> {
        let buckets = self
            .list_buckets()
            .await?
            .into_iter()
            .filter_map(|b| Some((b.name, b.erasure?)))
            .collect();
        Ok(Targets {
            cluster: self.erasure(),
            buckets,
        })
    }

    /// The buckets referring to a block, from its first references (None
    /// for a multipart part: its reference does not name the bucket).
    pub(crate) async fn block_buckets(&self, id: &BlockId) -> Result<Vec<Option<String>>> {
        let mut pager = Pager::prefix(&keys::refs_of(id), REFS_LOOKED_AT);
        let page = pager.next(&self.inner.meta).await?.unwrap_or_default();
        page.iter()
            .map(|kv| {
                let r: RefRecord = decode(&kv.value)?;
                Ok(match r.owner {
                    Owner::Version { bucket, .. } => Some(bucket),
                    Owner::Part { .. } => None,
                })
            })
            .collect()
    }

    /// The code block `id` should have: the most parity any referring
    /// bucket wants (its override, else the cluster's code). Refs are read
    /// only when some bucket overrides the code.
    pub(crate) async fn block_target(&self, id: &BlockId, t: &Targets) -> Result<(u16, u16)> {
        if t.buckets.is_empty() {
            return Ok(t.cluster);
        }
        let buckets = self.block_buckets(id).await?;
        Ok(buckets
            .iter()
            .map(|b| {
                b.as_ref()
                    .and_then(|b| t.buckets.get(b).copied())
                    .unwrap_or(t.cluster)
            })
            .max_by_key(|&(k, m)| (m, k))
            .unwrap_or(t.cluster))
    }

    /// Re-encode a block below its target: stage the new shards, then
    /// commit (see the module header). Returns the new record.
    pub(crate) async fn reencode(
        &self,
        id: &BlockId,
        rec: &BlockRecord,
        rev: u64,
        target: (u16, u16),
    ) -> Result<BlockRecord> {
        let staged = self.reencode_stage(id, rec, target).await?;
        self.reencode_commit(id, rec, rev, staged).await
    }

    /// Steps 1–3: decode the block, encode it with `target`, write the new
    /// shards. Nothing is recorded: dropping the result leaves orphans only.
    pub(crate) async fn reencode_stage(
        &self,
        id: &BlockId,
        rec: &BlockRecord,
        target: (u16, u16),
    ) -> Result<Staged> {
        let blocks = &self.inner.blocks;
        blocks.check_floor(target.0, target.1)?;
        let view = self.cluster().view();
        let readable = self.inner.blocks.live_shards(rec);
        let frames = self
            .read_shards_logged(id, rec, &readable, "re-encode")
            .await;
        let have = frames.iter().filter(|f| f.is_some()).count();
        let (frames, bid) = (frames, *id);
        // An encrypted envelope named by its keyed id stays so (and is not
        // compressed: it was before encryption).
        // (from the record, never from a frame's unchecked header)
        let opaque = rec.opaque;
        let plain = tokio::task::spawn_blocking(move || {
            liuma_codec::decode_block_expect_as(&bid, &frames, opaque).map(|(plain, _)| plain)
        })
        .await?
        .map_err(|_| Error::BlockUnavailable {
            block: *id,
            have,
            need: usize::from(rec.k),
        })?;
        let mut params = blocks.codec().clone();
        (params.data_shards, params.parity_shards) = target;
        params.opaque_id = opaque;
        params.compress &= !opaque;
        let encoded = tokio::task::spawn_blocking(move || {
            liuma_codec::encode_block_with_id(&params, bid, plain)
        })
        .await?
        .map_err(Error::internal)?;
        let n = encoded.shards.len();
        let cands = view.candidates();
        let cap = blocks.per_node_cap(encoded.parity_shards);
        let mut targets: Vec<String> = spread_capped(&cands, &rank(id, &cands), n, &[], cap)
            .into_iter()
            .map(|i| cands[i].disk.clone())
            .collect();
        if targets.len() < n {
            return Err(Error::TooFewFailureDomains {
                domain: "node",
                live: view.live_nodes().count(),
                needed: n.div_ceil(cap),
                k: encoded.data_shards,
                m: encoded.parity_shards,
            });
        }
        avoid_old_slots(&mut targets, &rec.disks).ok_or_else(|| Error::Conflict {
            what: format!("block {id}: no placement for re-encoding that spares its old shards"),
        })?;
        let writes = encoded
            .shards
            .iter()
            .zip(&targets)
            .map(|(shard, disk)| self.cluster().write_shard(disk, shard));
        let mut written = Vec::with_capacity(n);
        let mut first_err = None;
        for (i, (r, disk)) in join_all(writes).await.into_iter().zip(&targets).enumerate() {
            match r {
                Ok(()) => written.push((disk.clone(), index_u16(i))),
                Err(e) => {
                    tracing::warn!(block = %id, shard = i, %disk, error = %chain(&e),
                        "re-encode: writing a new shard failed");
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            // What was written stays for the orphan sweep: a concurrent
            // re-encode of the same block may have recorded the same files
            // (see the module documentation).
            self.inner.stats.note_leftover();
            tracing::debug!(block = %id, files = written.len(), "re-encode failed; new shards left to the sweep");
            return Err(Error::from_cluster(e));
        }
        let new = BlockRecord {
            k: encoded.data_shards,
            m: encoded.parity_shards,
            plain_len: rec.plain_len,
            stored_len: encoded.stored_len,
            compressed: encoded.compressed,
            disks: targets,
            state: BlockState::Live,
            created_ms: rec.created_ms,
            touched_ms: rec.touched_ms,
            opaque: rec.opaque,
        };
        Ok(Staged { rec: new, written })
    }

    /// Steps 4–5: CAS the record from `old` (at `rev`) to the staged one,
    /// then delete the old shards; on a lost CAS, leave the staged ones to
    /// the orphan sweep.
    pub(crate) async fn reencode_commit(
        &self,
        id: &BlockId,
        old: &BlockRecord,
        rev: u64,
        staged: Staged,
    ) -> Result<BlockRecord> {
        let blocks = &self.inner.blocks;
        let key = keys::block(id);
        let txn = Txn::new()
            .when(Compare::ModRevision(key.clone(), rev))
            .and_then(Op::put(key, encode(&staged.rec)));
        let committed = match self.inner.meta.txn(txn).await {
            Ok(r) => r.succeeded,
            Err(e) => {
                // Unknown outcome: leave the new shards; if the record did
                // not change they are orphans for the sweep.
                self.inner.stats.note_leftover();
                return Err(e.into());
            }
        };
        if !committed {
            self.inner.stats.note_leftover();
            // The staged files stay for the orphan sweep: the winner may be
            // a re-encode that wrote and recorded these very files.
            tracing::debug!(block = %id, files = staged.written.len(),
                "re-encode lost its CAS; new shards left to the sweep");
            return Err(Error::Conflict {
                what: format!("block {id} changed during re-encoding"),
            });
        }
        let old_shards: Vec<(String, u16)> = old
            .disks
            .iter()
            .enumerate()
            .map(|(i, d)| (d.clone(), index_u16(i)))
            .filter(|slot| !staged.written.contains(slot))
            .collect();
        blocks.remove(id, &old_shards).await;
        tracing::info!(block = %id, from = %format!("{}+{}", old.k, old.m),
            to = %format!("{}+{}", staged.rec.k, staged.rec.m), "block re-encoded");
        Ok(staged.rec)
    }

    /// Read shards `which` of a block into slots by index, logging every
    /// failure with block, shard, disk and error (`what` names the job).
    pub(crate) async fn read_shards_logged(
        &self,
        id: &BlockId,
        rec: &BlockRecord,
        which: &[usize],
        what: &'static str,
    ) -> Vec<Option<Bytes>> {
        let reads = which.iter().map(|&i| async move {
            let disk = &rec.disks[i];
            let r = self.cluster().read_shard(disk, id, index_u16(i)).await;
            if let Err(e) = &r {
                tracing::warn!(job = what, block = %id, shard = i, %disk, error = %chain(e),
                    "shard read failed");
            }
            (i, r.ok())
        });
        let mut frames = vec![None; rec.disks.len()];
        for (i, f) in join_all(reads).await {
            frames[i] = f;
        }
        frames
    }
}

/// Reorder `targets` (disk per new shard index) so that no new shard i goes
/// to the disk old shard i is on. None if no such order was found.
fn avoid_old_slots(targets: &mut [String], old: &[String]) -> Option<()> {
    let clash = |t: &[String], i: usize| old.get(i).is_some_and(|d| *d == t[i]);
    for i in 0..targets.len() {
        if !clash(targets, i) {
            continue;
        }
        let j = (0..targets.len()).find(|&j| {
            j != i
                && old.get(i).is_none_or(|d| *d != targets[j])
                && old.get(j).is_none_or(|d| *d != targets[i])
        })?;
        targets.swap(i, j);
    }
    (0..targets.len()).all(|i| !clash(targets, i)).then_some(())
}

/// An error with its sources, `a: b: c` (an `Internal` error alone says
/// only "internal error").
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        s.push_str(": ");
        s.push_str(&src.to_string());
        cur = src.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures_util::StreamExt;
    use liuma_disk::{DiskConfig, ShardStore};
    use liuma_meta::RedbStore;

    use super::*;
    use crate::gc::parse_block;
    use crate::{EngineConfig, GetOptions, PutOptions, body_from_bytes};

    const BS: usize = 64 << 10;

    /// A node on its own with six disks, writing 1+0 blocks.
    fn engine(dir: &std::path::Path) -> Engine {
        let meta = RedbStore::open(&dir.join("meta.redb")).expect("redb");
        let disks: Vec<DiskConfig> = (0..6)
            .map(|i| DiskConfig::new(dir.join(format!("disk{i}"))))
            .collect();
        let cfg = EngineConfig {
            block_size: BS,
            replicate_below: 16 << 10,
            erasure: Some((1, 0)),
            ..EngineConfig::default()
        };
        Engine::open(
            cfg,
            meta,
            Arc::new(ShardStore::open(&disks).expect("disks")),
        )
        .expect("engine")
    }

    fn shard_files(dir: &std::path::Path) -> usize {
        let mut n = 0;
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).expect("readable dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p
                    .extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| x.parse::<u16>().is_ok())
                {
                    n += 1;
                }
            }
        }
        n
    }

    async fn get(e: &Engine, key: &str) -> Vec<u8> {
        let mut g = e
            .get_object("bkt", key, GetOptions::default())
            .await
            .expect("get");
        let mut out = Vec::new();
        while let Some(c) = g.body.next().await {
            out.extend_from_slice(&c.expect("body chunk"));
        }
        out
    }

    async fn blocks(e: &Engine) -> Vec<(BlockId, BlockRecord, u64)> {
        let kvs = Pager::prefix(keys::BLOCK.as_bytes(), 100)
            .collect(&e.inner.meta)
            .await
            .expect("scan");
        kvs.iter()
            .map(|kv| {
                let (id, rec) = parse_block(kv).expect("block record");
                (id, rec, kv.mod_revision)
            })
            .collect()
    }

    /// A crash between writing the new shards and the CAS: the old record
    /// still reads, and the orphan sweep removes exactly the new shards.
    /// Then the full re-encode, and a lost CAS that cleans up after itself.
    #[tokio::test]
    async fn reencoding_is_crash_safe_at_every_step() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = engine(dir.path());
        e.create_bucket("bkt", "owner").await.expect("bucket");
        // Random (incompressible): full blocks stay above replicate_below.
        let mut data = vec![0u8; 3 * BS + 100];
        rand::Rng::fill(&mut rand::thread_rng(), &mut data[..]);
        e.put_object(
            "bkt",
            "k",
            body_from_bytes(data.clone()),
            PutOptions::default(),
        )
        .await
        .expect("put");
        let before = blocks(&e).await;
        assert_eq!(before.len(), 4, "three full blocks and a tail");
        assert!(before.iter().all(|(_, r, _)| (r.k, r.m) == (1, 0)));
        assert_eq!(shard_files(dir.path()), 4);

        // Stage every block to 4+2, then "crash": nothing committed.
        let mut new_files = 0;
        for (id, rec, _) in &before {
            let staged = e.reencode_stage(id, rec, (4, 2)).await.expect("stage");
            new_files += staged.written.len();
            for (i, d) in rec.disks.iter().enumerate() {
                assert!(
                    !staged.written.contains(&(d.clone(), index_u16(i))),
                    "a new shard took an old slot"
                );
            }
        }
        // 64 KiB blocks encode as 4+2 shards, the 100-byte tail as 3 replicas.
        assert_eq!(new_files, 3 * 6 + 3);
        assert_eq!(shard_files(dir.path()), 4 + new_files);
        assert_eq!(get(&e, "k").await, data, "the old record still reads");
        let swept = e.sweep_orphan_shards(0).await.expect("sweep");
        assert_eq!(swept, new_files as u64, "the sweep removes the new shards");
        assert_eq!(shard_files(dir.path()), 4, "and only them");
        assert_eq!(get(&e, "k").await, data);

        // The real thing: new record, old shards gone.
        for (id, rec, rev) in &before {
            let new = e.reencode(id, rec, *rev, (4, 2)).await.expect("re-encode");
            assert_eq!(new.m, 2);
        }
        assert!(blocks(&e).await.iter().all(|(_, r, _)| r.m == 2));
        assert_eq!(shard_files(dir.path()), new_files, "old shards deleted");
        assert_eq!(e.sweep_orphan_shards(0).await.expect("sweep"), 0);
        assert_eq!(get(&e, "k").await, data);

        // A lost CAS (the record changed after staging) deletes nothing: the
        // staged files may be the winner's; the sweep removes them when no
        // record places them.
        let (id, rec, rev) = blocks(&e).await.swap_remove(0);
        let staged = e.reencode_stage(&id, &rec, (8, 4)).await.expect("stage");
        let key = keys::block(&id);
        e.inner
            .meta
            .txn(Txn::new().and_then(Op::put(key, encode(&rec))))
            .await
            .expect("touch the record");
        let lost = e.reencode_commit(&id, &rec, rev, staged).await;
        assert!(matches!(lost, Err(Error::Conflict { .. })), "{lost:?}");
        assert!(shard_files(dir.path()) > new_files, "staged shards kept");
        assert_eq!(get(&e, "k").await, data);
        assert!(e.sweep_orphan_shards(0).await.expect("sweep") > 0);
        assert_eq!(shard_files(dir.path()), new_files, "the sweep took them");
        assert_eq!(get(&e, "k").await, data);
    }

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn new_shards_never_take_an_old_slot() {
        let old = v(&["a"]);
        let mut t = v(&["a", "bkt", "c", "d", "e", "f"]);
        avoid_old_slots(&mut t, &old).expect("a free order exists");
        assert_ne!(t[0], "a");
        let mut set = t.clone();
        set.sort();
        assert_eq!(
            set,
            v(&["a", "bkt", "c", "d", "e", "f"]),
            "same disks, other order"
        );
        // 2+1 -> 2+2 on the same disks, every slot clashing.
        let old = v(&["a", "bkt", "c"]);
        let mut t = v(&["a", "bkt", "c", "d"]);
        avoid_old_slots(&mut t, &old).expect("a free order exists");
        for (i, d) in old.iter().enumerate() {
            assert_ne!(&t[i], d, "slot {i}");
        }
        // One disk only: no order works.
        let mut t = v(&["a", "a"]);
        assert!(avoid_old_slots(&mut t, &v(&["a", "a"])).is_none());
    }

    #[test]
    fn below_target_means_less_parity_or_fewer_data_shards_but_never_narrower() {
        let rec = |k: u16, m: u16, stored_len: u64| BlockRecord {
            k,
            m,
            plain_len: stored_len,
            stored_len,
            compressed: false,
            disks: Vec::new(),
            state: BlockState::Live,
            created_ms: 0,
            touched_ms: 0,
            opaque: false,
        };
        let big = 4 << 20;
        let small = 1000;
        let rb = 128 << 10;
        assert!(below(&rec(1, 0, big), (4, 2), rb), "1+0 → 4+2");
        assert!(below(&rec(2, 1, big), (4, 2), rb), "less parity");
        assert!(below(&rec(2, 2, big), (4, 2), rb), "same parity, narrower");
        assert!(!below(&rec(4, 2, big), (4, 2), rb), "on target");
        assert!(
            !below(&rec(8, 4, big), (4, 2), rb),
            "more parity: never reduced"
        );
        assert!(
            !below(&rec(2, 3, big), (4, 2), rb),
            "more parity, narrower: left"
        );
        assert!(
            !below(&rec(1, 2, small), (4, 2), rb),
            "replicas stay replicas"
        );
        assert!(
            below(&rec(1, 1, small), (4, 2), rb),
            "replicas with too few copies"
        );
    }
}
