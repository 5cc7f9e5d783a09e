//! Streaming reads: only the blocks a range touches are read, with a small
//! read-ahead, each block buffer counted against the global budget.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};
use liuma_codec::BlockId;

use crate::engine::Inner;
use crate::keys;
use crate::metrics::Stats;
use crate::model::{BlockEntry, Body, VersionRecord};
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

/// Blocks read ahead of the one being sent.
const READ_AHEAD: usize = 4;

impl Inner {
    /// The block list of a version, loading manifest pages when needed.
    pub(crate) async fn manifest(&self, rec: &VersionRecord) -> Result<Vec<BlockEntry>> {
        match &rec.body {
            Body::Inline(_) => Ok(Vec::new()),
            Body::Blocks(b) => Ok(b.clone()),
            Body::Paged { blocks, .. } => {
                let pages: Vec<Vec<BlockEntry>> =
                    crate::scan::decode_prefix(&self.meta, &keys::manifest_pages(&rec.uid)).await?;
                let mut out = Vec::with_capacity(usize::try_from(*blocks).unwrap_or(0));
                out.extend(pages.into_iter().flatten());
                Ok(out)
            }
        }
    }

    /// Stream bytes [start, end) of a version.
    pub(crate) async fn open_stream(
        self: &Arc<Self>,
        rec: &VersionRecord,
        start: u64,
        end: u64,
    ) -> Result<ObjectStream> {
        if let Body::Inline(data) = &rec.body {
            let lo = usize::try_from(start).unwrap_or(usize::MAX).min(data.len());
            let hi = usize::try_from(end).unwrap_or(usize::MAX).min(data.len());
            let bytes = Bytes::copy_from_slice(&data[lo..hi]);
            Stats::add(&self.stats.bytes_out, bytes.len() as u64);
            return Ok(Box::pin(stream::once(async move { Ok(bytes) })));
        }
        // (block id, slice within the block) for every block the range touches
        let mut wanted: Vec<(BlockId, usize, usize)> = Vec::new();
        let mut offset = 0u64;
        for e in self.manifest(rec).await? {
            let (b_start, b_end) = (offset, offset + u64::from(e.len));
            offset = b_end;
            if b_end <= start || b_start >= end {
                continue;
            }
            let lo = usize::try_from(start.saturating_sub(b_start)).expect("within a block");
            let hi = usize::try_from(end.min(b_end) - b_start).expect("within a block");
            wanted.push((e.block_id(), lo, hi));
        }
        let inner = self.clone();
        let blocks = stream::iter(wanted)
            .map(move |(id, lo, hi)| {
                let inner = inner.clone();
                // its own task: read-ahead blocks progress while the consumer
                // is busy sending the current one
                let task = tokio::spawn(async move {
                    let permit = inner
                        .permits
                        .clone()
                        .acquire_owned()
                        .await
                        .map_err(Error::internal)?;
                    let data = inner.blocks.read(&id).await?;
                    if data.len() < hi {
                        return Err(Error::internal(std::io::Error::other(format!(
                            "block {id} is shorter than its manifest entry"
                        ))));
                    }
                    let out = data.slice(lo..hi);
                    Stats::add(&inner.stats.bytes_out, out.len() as u64);
                    Ok((out, permit))
                });
                async move { task.await? }
            })
            .buffered(READ_AHEAD)
            // read-ahead blocks hold their budget until the consumer takes them
            .map(|r| r.map(|(bytes, _permit)| bytes));
        // The first block is read before the caller answers: an object that
        // cannot be read fails with a status (503), not a cut-off 200.
        let mut blocks = Box::pin(blocks);
        match blocks.next().await {
            Some(Err(e)) => Err(e),
            Some(Ok(first)) => Ok(Box::pin(
                stream::once(async move { Ok(first) }).chain(blocks),
            )),
            None => Ok(Box::pin(stream::empty())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
