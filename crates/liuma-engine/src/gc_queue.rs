//! Incremental GC: look only at the blocks of owners that changed.
//!
//! A block can become garbage only when a reference to it goes stale: its
//! owner (an object version or a multipart part) is removed, or was never
//! committed (an upload cut short). Both leave an entry in the GC queue
//! `gq/<due>/<owner uid>`:
//! - every write of references adds one due when the grace has passed
//!   (`ingest::pending_check`): by then a committed owner is live and the
//!   entry is just dropped, an uncommitted one is stale and its blocks go;
//! - every removal of an owner adds one due at once, in the same
//!   transaction (`object::queue_for_gc`).
//!
//! The owner's blocks are found through the reverse index `go/<uid>/<block>`
//! written with each reference. Each block then gets exactly the full
//! pass's check ([`Engine::block_refs`], [`Engine::delete_block`]): the
//! queue only chooses which blocks to look at, it never decides that one is
//! garbage. A block it misses (an entry lost to a crash between batches, a
//! store written before the queue existed) is found by the next full pass,
//! which runs rarely ([`crate::WorkerConfig::gc_full_interval`]).
//!
//! So an incremental pass over a store where nothing changed reads one
//! empty key range, whatever the number of objects and blocks.

use std::collections::HashMap;

use liuma_codec::BlockId;
use liuma_meta::{Op, Txn};

use crate::Result;
use crate::engine::Engine;
use crate::gc::{GcReport, parse_block};
use crate::keys;
use crate::metrics::Stats;
use crate::model::{BlockState, RefRecord, decode};
use crate::scan::Pager;

/// What became of one block of a queued owner.
enum Looked {
    /// The owner's reference is gone (stale and removed, or never there):
    /// its index entry can go.
    Released,
    /// The owner still holds the block (live owner, or a block or reference
    /// younger than the grace: look again at this time).
    Held { again_at: Option<u64> },
}

impl Engine {
    /// One incremental GC pass: the upload housekeeping of every pass, then
    /// the queued owners that are due and that this node maintains.
    pub async fn gc_incremental_pass(&self, upload_expiry_ms: Option<u64>) -> Result<GcReport> {
        let mut report = self.gc_uploads(upload_expiry_ms).await?;
        let now = self.now_ms();
        let start = keys::GC_QUEUE.as_bytes().to_vec();
        let mut pager = Pager::range(start, keys::gc_due_until(now), 256);
        let mut owners = HashMap::new();
        while let Some(page) = pager.next(&self.inner.meta).await? {
            for kv in page {
                let Some((_, uid)) = keys::parse_gc_due(&kv.key) else {
                    tracing::warn!(key = %String::from_utf8_lossy(&kv.key), "malformed GC queue entry dropped");
                    self.delete_keys(vec![kv.key]).await?;
                    continue;
                };
                // One node of a cluster looks at each owner.
                if !self.cluster().view().maintains_item("gc", uid.as_bytes()) {
                    continue;
                }
                report.owners_checked += 1;
                let again_at = self.collect_owner(&uid, &mut report, &mut owners).await?;
                let mut txn = Txn::new().and_then(Op::delete(kv.key));
                if let Some(at) = again_at {
                    txn = txn.and_then(Op::put(keys::gc_due(at, &uid), Vec::new()));
                }
                self.inner.meta.txn(txn).await?;
            }
        }
        Stats::add(&self.inner.stats.gc_blocks_deleted, report.blocks_deleted);
        Stats::add(&self.inner.stats.gc_refs_deleted, report.refs_deleted);
        Ok(report)
    }

    /// Look at every block `uid` refers to; returns when to look again, if
    /// something was too young to decide.
    async fn collect_owner(
        &self,
        uid: &str,
        report: &mut GcReport,
        owners: &mut HashMap<String, bool>,
    ) -> Result<Option<u64>> {
        if self.owner_committed(uid, owners).await? {
            // The check written with a committed owner's references: all
            // of them are live, so none of its blocks can be freed now.
            return Ok(None);
        }
        let mut again: Option<u64> = None;
        let mut released = Vec::new();
        let mut pager = Pager::prefix(&keys::owned_by(uid), 256);
        while let Some(page) = pager.next(&self.inner.meta).await? {
            for kv in page {
                let Some(id) = keys::parse_owned(&kv.key) else {
                    released.push(kv.key);
                    continue;
                };
                match self.look_at_block(&id, uid, report, owners).await? {
                    Looked::Released => released.push(kv.key),
                    Looked::Held { again_at } => {
                        again = again.max(again_at);
                    }
                }
            }
        }
        self.delete_keys(released).await?;
        Ok(again)
    }

    /// True when `uid` is a live owner whose references are past the grace
    /// (read through one of them): looking at its blocks one by one would
    /// only find each of them held.
    async fn owner_committed(&self, uid: &str, owners: &mut HashMap<String, bool>) -> Result<bool> {
        let first = self
            .inner
            .meta
            .range(
                &keys::owned_by(uid),
                &liuma_meta::prefix_end(&keys::owned_by(uid)),
                1,
            )
            .await?;
        let Some(id) = first.first().and_then(|kv| keys::parse_owned(&kv.key)) else {
            return Ok(false);
        };
        let Some(r) = self.inner.meta.get(&keys::block_ref(&id, uid)).await? else {
            return Ok(false);
        };
        let r: RefRecord = decode(&r.value)?;
        if self.now_ms().saturating_sub(r.created_ms) < self.gc_grace_ms() {
            return Ok(false);
        }
        self.owner_live(&r.owner, owners).await
    }

    /// The full pass's check of one block, from the side of one owner.
    async fn look_at_block(
        &self,
        id: &BlockId,
        uid: &str,
        report: &mut GcReport,
        owners: &mut HashMap<String, bool>,
    ) -> Result<Looked> {
        let grace = self.gc_grace_ms();
        let now = self.now_ms();
        let ref_key = keys::block_ref(id, uid);
        let Some(kv) = self.inner.meta.get(&keys::block(id)).await? else {
            // No block record: nothing to free (a stray reference goes too).
            self.delete_keys(vec![ref_key]).await?;
            return Ok(Looked::Released);
        };
        let (_, rec) = parse_block(&kv)?;
        report.blocks_checked += 1;
        if let Some(r) = self.inner.meta.get(&ref_key).await? {
            let made = decode::<RefRecord>(&r.value)?.created_ms;
            if now.saturating_sub(made) < grace {
                return Ok(Looked::Held {
                    again_at: Some(made.saturating_add(grace)),
                });
            }
        }
        let touched = rec.created_ms.max(rec.touched_ms);
        if rec.state == BlockState::Live && now.saturating_sub(touched) < grace {
            return Ok(Looked::Held {
                again_at: Some(touched.saturating_add(grace)),
            });
        }
        let (live, stale) = self.block_refs(id, grace, owners).await?;
        let mine_stale = stale.contains(&ref_key);
        report.refs_deleted += stale.len() as u64;
        if live && rec.state == BlockState::Live {
            self.delete_keys(crate::gc::with_owned_index(stale)).await?;
        } else if self.delete_block(id, rec, kv.mod_revision, stale).await? {
            report.blocks_deleted += 1;
        }
        // (A lost CAS in delete_block: a writer reused the block meanwhile;
        // it is that writer's now, and this owner's part is decided below.)
        let still_mine = !mine_stale && self.inner.meta.get(&ref_key).await?.is_some();
        Ok(if still_mine {
            Looked::Held { again_at: None }
        } else {
            Looked::Released
        })
    }
}
