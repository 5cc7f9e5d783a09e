//! Paging through a key range of the metadata store: every range scan in
//! the engine goes through [`Pager`], so page size and resume logic live in
//! one place.

use liuma_meta::{DynMetaStore, KeyValue, MAX_TXN_OPS, Op, Txn};

use crate::Result;

/// Pages of the keys in `[start, end)`, in order.
pub(crate) struct Pager {
    start: Vec<u8>,
    end: Vec<u8>,
    page: usize,
    done: bool,
}

impl Pager {
    /// All keys starting with `prefix`.
    pub fn prefix(prefix: &[u8], page: usize) -> Pager {
        Pager {
            start: prefix.to_vec(),
            end: liuma_meta::prefix_end(prefix),
            page,
            done: false,
        }
    }

    /// All keys in `[start, end)`.
    pub fn range(start: Vec<u8>, end: Vec<u8>, page: usize) -> Pager {
        Pager {
            start,
            end,
            page,
            done: false,
        }
    }

    /// The next page, or None when the range is exhausted.
    pub async fn next(&mut self, meta: &DynMetaStore) -> Result<Option<Vec<KeyValue>>> {
        if self.done {
            return Ok(None);
        }
        let kvs = meta.range(&self.start, &self.end, self.page).await?;
        match kvs.last() {
            Some(last) => self.start = liuma_meta::key_after(&last.key),
            None => return Ok(None),
        }
        self.done = kvs.len() < self.page;
        Ok(Some(kvs))
    }

    /// Every remaining key-value (for ranges known to be small).
    pub async fn collect(mut self, meta: &DynMetaStore) -> Result<Vec<KeyValue>> {
        let mut out = Vec::new();
        while let Some(page) = self.next(meta).await? {
            out.extend(page);
        }
        Ok(out)
    }
}

/// Decode every record under `prefix` (for ranges known to be small).
pub(crate) async fn decode_prefix<T: serde::de::DeserializeOwned>(
    meta: &DynMetaStore,
    prefix: &[u8],
) -> Result<Vec<T>> {
    let kvs = Pager::prefix(prefix, 500).collect(meta).await?;
    kvs.iter()
        .map(|kv| crate::model::decode(&kv.value))
        .collect()
}

/// Apply `ops` in as many transactions as the per-transaction limit needs.
/// Not atomic as a whole: only for writes that are safe in any prefix
/// (references written before the record that makes them live, deletes of
/// garbage).
pub(crate) async fn apply_batched(meta: &DynMetaStore, ops: Vec<Op>) -> Result<()> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    for op in ops {
        bytes += match &op {
            Op::Put { key, value, .. } => key.len() + value.len(),
            Op::Delete { key } => key.len(),
            Op::DeleteRange { start, end } => start.len() + end.len(),
        };
        batch.push(op);
        if batch.len() == MAX_TXN_OPS || bytes >= TXN_BYTES {
            meta.txn(Txn {
                success: std::mem::take(&mut batch),
                ..Txn::default()
            })
            .await?;
            bytes = 0;
        }
    }
    if !batch.is_empty() {
        meta.txn(Txn {
            success: batch,
            ..Txn::default()
        })
        .await?;
    }
    Ok(())
}

/// Payload bytes per batched transaction: well under etcd's 1.5 MiB request limit.
const TXN_BYTES: usize = 1 << 20;

/// Paces a background pass to `bytes_per_sec` of shard reads (0 = unlimited).
pub(crate) struct Throttle {
    bytes_per_sec: u64,
    began: std::time::Instant,
    bytes: u64,
}

impl Throttle {
    pub fn new(bytes_per_sec: u64) -> Throttle {
        Throttle {
            bytes_per_sec,
            began: std::time::Instant::now(),
            bytes: 0,
        }
    }

    /// Account for reading every shard of `rec`, sleeping if ahead of pace.
    pub async fn read_block(&mut self, rec: &crate::model::BlockRecord) {
        self.bytes +=
            rec.stored_len * (u64::from(rec.k) + u64::from(rec.m)) / u64::from(rec.k.max(1));
        if self.bytes_per_sec == 0 {
            return;
        }
        let due = std::time::Duration::from_secs_f64(self.bytes as f64 / self.bytes_per_sec as f64);
        if let Some(wait) = due.checked_sub(self.began.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
}
