//! The metadata layout version and the upgrade from older layouts.
//!
//! - Layout 1 (liuma ≤ 0.1 stores): a version record (`ob/`, `vr/`) holds
//!   its body — a small object's bytes or a large one's block map — so a
//!   listing decoded every listed object's data, and the latest version's
//!   body was stored twice.
//! - Layout 2: the body of every non-empty version lives in its own
//!   `vd/<uid>` record ([`crate::model::Body::Detached`] in the version
//!   record), so listings, version listings and HEADs read only what they
//!   need, whatever the objects' sizes.
//!
//! Readers accept both forms, so the upgrade runs in the background while
//! the node serves: each layout-1 record is rewritten with a
//! compare-and-swap on its revision (a concurrent write, already in layout
//! 2, wins), which also makes it safe for every node of a cluster to run
//! it at once. `fmt/layout` is set to 2 when a pass finds nothing left.

use liuma_meta::{Compare, KeyValue, Op, Txn};

use crate::Result;
use crate::engine::Engine;
use crate::keys;
use crate::model::{VersionRecord, decode, encode};
use crate::object::detach_body;
use crate::scan::Pager;

/// The layout this version of liuma writes.
pub const CURRENT_LAYOUT: u32 = 2;

/// Records rewritten per transaction (two ops and one compare each).
const BATCH: usize = 32;

/// What an upgrade did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayoutUpgrade {
    /// The layout found at start.
    pub from: u32,
    /// Version records rewritten (their body moved to `vd/`).
    pub rewritten: u64,
    /// Version records left alone because a concurrent write changed them.
    pub raced: u64,
}

impl Engine {
    /// The metadata layout of the store (1 when never marked).
    pub async fn layout(&self) -> Result<u32> {
        Ok(match self.inner.meta.get(keys::LAYOUT.as_bytes()).await? {
            Some(kv) => std::str::from_utf8(&kv.value)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1),
            None => 1,
        })
    }

    /// Bring the store to [`CURRENT_LAYOUT`]; a no-op (one read) when it is.
    /// Safe to run while serving and on several nodes at once.
    pub async fn upgrade_layout(&self) -> Result<LayoutUpgrade> {
        let from = self.layout().await?;
        let mut done = LayoutUpgrade {
            from,
            ..LayoutUpgrade::default()
        };
        if from >= CURRENT_LAYOUT {
            return Ok(done);
        }
        for prefix in [keys::LATEST, keys::VERSION] {
            let mut pager = Pager::prefix(prefix.as_bytes(), 1000);
            while let Some(page) = pager.next(&self.inner.meta).await? {
                let mut batch = Vec::with_capacity(BATCH);
                for kv in page {
                    let rec: VersionRecord = decode(&kv.value)?;
                    if rec.body.detachable() {
                        batch.push((kv, rec));
                    }
                    if batch.len() == BATCH {
                        self.rewrite(std::mem::take(&mut batch), &mut done).await?;
                    }
                }
                self.rewrite(batch, &mut done).await?;
            }
        }
        self.inner
            .meta
            .put(
                keys::LAYOUT.as_bytes(),
                CURRENT_LAYOUT.to_string().as_bytes(),
            )
            .await?;
        tracing::info!(
            from,
            to = CURRENT_LAYOUT,
            rewritten = done.rewritten,
            raced = done.raced,
            "metadata layout upgraded"
        );
        Ok(done)
    }

    /// Rewrite `batch` in one transaction; when a record changed under us,
    /// one at a time, skipping those that changed.
    async fn rewrite(
        &self,
        batch: Vec<(KeyValue, VersionRecord)>,
        done: &mut LayoutUpgrade,
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let n = batch.len() as u64;
        let mut txn = Txn::new();
        for (kv, rec) in &batch {
            txn = add_rewrite(txn, kv, rec.clone());
        }
        if self.inner.meta.txn(txn).await?.succeeded {
            done.rewritten += n;
            return Ok(());
        }
        for (kv, rec) in batch {
            if self
                .inner
                .meta
                .txn(add_rewrite(Txn::new(), &kv, rec))
                .await?
                .succeeded
            {
                done.rewritten += 1;
            } else {
                done.raced += 1;
            }
        }
        Ok(())
    }
}

/// Add the compare and ops that rewrite one record in layout 2.
fn add_rewrite(txn: Txn, kv: &KeyValue, mut rec: VersionRecord) -> Txn {
    let mut txn = txn.when(Compare::ModRevision(kv.key.clone(), kv.mod_revision));
    if let Some(op) = detach_body(&mut rec) {
        txn = txn.and_then(op);
    }
    txn.and_then(Op::put(kv.key.clone(), encode(&rec)))
}
