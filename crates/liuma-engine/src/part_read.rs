//! GetObject / HeadObject of one part (`?partNumber=N`): the byte range
//! of part N of a multipart object, as AWS serves it (206 with its range;
//! part N is the N-th part of the completed object, so `1..=parts count`
//! are always valid, as `x-amz-mp-parts-count` suggests). Part 1 of a plain
//! object is the whole object; any other part is `PartNotSatisfiable`
//! (416 `InvalidPartNumber`).
//!
//! Part sizes are recorded when an upload completes (`part_checksums`:
//! number, size, checksum of every part). For objects completed before
//! that, the boundaries are recovered from the block list: every part
//! starts a new block, so a block shorter than the object's full blocks
//! ends a part; when parts end on full blocks, parts of equal size
//! (what clients upload) are assumed if the block count allows exactly
//! that. Otherwise the request is refused (`InvalidArgument`) rather than
//! answered with wrong bytes.

use crate::engine::Engine;
use crate::model::VersionRecord;
use crate::multipart::MAX_PART_NUMBER;
use crate::object::{GetObject, ObjectInfo};
use crate::{Error, Result};

/// [start, end) of part `n` (1-based) given the parts' sizes.
fn span_of(sizes: &[u64], n: u32) -> Option<(u64, u64)> {
    let i = usize::try_from(n).ok()?.checked_sub(1)?;
    let start: u64 = sizes.get(..i)?.iter().sum();
    Some((start, start + sizes.get(i)?))
}

/// Part sizes of a multipart object of `parts` parts recovered from the
/// plain lengths of its blocks, in order; None when they are ambiguous.
fn legacy_part_sizes(block_lens: &[u64], parts: u32) -> Option<Vec<u64>> {
    let n = usize::try_from(parts).ok().filter(|&n| n > 0)?;
    let full = *block_lens.iter().max()?;
    // a short block ends a part, and so does the last block
    let mut sizes = Vec::new();
    let mut acc = 0;
    for (i, &len) in block_lens.iter().enumerate() {
        acc += len;
        if len < full || i + 1 == block_lens.len() {
            sizes.push(acc);
            acc = 0;
        }
    }
    if sizes.len() == n {
        return Some(sizes);
    }
    // parts of k blocks each (the last one 1..=k): only if no short block
    // sits inside a part
    let b = block_lens.len();
    let k = b.div_ceil(n);
    if k == 0 || (n - 1) * k >= b {
        return None;
    }
    let chunks: Vec<&[u64]> = block_lens.chunks(k).collect();
    if chunks.len() != n {
        return None;
    }
    let mut sizes = Vec::with_capacity(n);
    for c in &chunks {
        let inner_short = c.iter().rev().skip(1).any(|&l| l < full);
        if inner_short {
            return None;
        }
        sizes.push(c.iter().sum());
    }
    let first = sizes[0];
    sizes[..n - 1].iter().all(|&s| s == first).then_some(sizes)
}

impl Engine {
    /// [start, end) of part `n` of a version, and the object's parts count.
    async fn part_span(&self, rec: &VersionRecord, n: u32) -> Result<(u64, u64)> {
        if !(1..=MAX_PART_NUMBER).contains(&n) {
            return Err(Error::InvalidPartNumber { part_number: n });
        }
        if rec.parts == 0 {
            return if n == 1 {
                Ok((0, rec.size))
            } else {
                Err(Error::PartNotSatisfiable {
                    part_number: n,
                    parts: 1,
                })
            };
        }
        if n > rec.parts {
            return Err(Error::PartNotSatisfiable {
                part_number: n,
                parts: rec.parts,
            });
        }
        let recorded = self.inner.parts_of(rec).await?;
        let sizes: Vec<u64> = if recorded.is_empty() {
            let lens: Vec<u64> = self
                .inner
                .manifest(rec)
                .await?
                .iter()
                .map(|e| u64::from(e.len))
                .collect();
            legacy_part_sizes(&lens, rec.parts).ok_or(Error::InvalidArgument {
                what: "the part boundaries of this object were not recorded (completed by an older version)",
            })?
        } else {
            recorded.iter().map(|&(_, size, _)| size).collect()
        };
        span_of(&sizes, n).ok_or(Error::PartNotSatisfiable {
            part_number: n,
            parts: rec.parts,
        })
    }

    /// Metadata of a version and the [start, end) of its part `n`.
    pub async fn head_object_part(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        n: u32,
    ) -> Result<(ObjectInfo, (u64, u64))> {
        let (rec, is_latest) = self.find_version(bucket, key, version_id).await?;
        if rec.delete_marker {
            return Err(Error::NoSuchKey {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            });
        }
        let span = self.part_span(&rec, n).await?;
        Ok((ObjectInfo::from_record(bucket, key, &rec, is_latest), span))
    }

    /// Read part `n` of a version; `range` of the answer is the part's.
    pub async fn get_object_part(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        n: u32,
    ) -> Result<GetObject> {
        self.get_object_part_keyed(bucket, key, version_id, n, None)
            .await
    }

    /// [`Self::get_object_part`] of a version that may be stored with SSE-C.
    pub async fn get_object_part_keyed(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        n: u32,
        customer_key: Option<crate::CustomerKey>,
    ) -> Result<GetObject> {
        let (rec, is_latest) = self.find_version(bucket, key, version_id).await?;
        if rec.delete_marker {
            return Err(Error::NoSuchKey {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            });
        }
        self.inner
            .check_customer_key(rec.sse.as_ref(), customer_key.as_ref())?;
        let (start, end) = self.part_span(&rec, n).await?;
        let keys = self.inner.read_keys(customer_key.as_ref());
        let body = self.inner.open_stream_keyed(&rec, start, end, keys).await?;
        Ok(GetObject {
            info: ObjectInfo::from_record(bucket, key, &rec, is_latest),
            range: Some((start, end)),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_follow_the_part_sizes() {
        let sizes = [5, 5, 2];
        assert_eq!(span_of(&sizes, 1), Some((0, 5)));
        assert_eq!(span_of(&sizes, 3), Some((10, 12)));
        assert_eq!(span_of(&sizes, 0), None);
        assert_eq!(span_of(&sizes, 4), None);
    }

    #[test]
    fn legacy_boundaries_from_short_blocks() {
        // parts of 5 with blocks of 4: 4,1 | 4,1 | 3
        let lens = [4, 1, 4, 1, 3];
        assert_eq!(legacy_part_sizes(&lens, 3), Some(vec![5, 5, 3]));
    }

    #[test]
    fn legacy_boundaries_of_equal_parts_on_full_blocks() {
        // parts of 8 with blocks of 4: 4,4 | 4,4 | 4,1
        let lens = [4, 4, 4, 4, 4, 1];
        assert_eq!(legacy_part_sizes(&lens, 3), Some(vec![8, 8, 5]));
        // a single part
        assert_eq!(legacy_part_sizes(&[4, 4, 2], 1), Some(vec![10]));
    }

    #[test]
    fn ambiguous_legacy_boundaries_are_refused() {
        // one short block with two parts: it must end part 1
        assert_eq!(legacy_part_sizes(&[4, 1, 4, 4, 4], 2), Some(vec![5, 12]));
        // three parts, one ending on a short block: 5,8,8 or 5,4,12 or...
        assert_eq!(legacy_part_sizes(&[4, 1, 4, 4, 4, 4], 3), None);
        // too few blocks for equal parts
        assert_eq!(legacy_part_sizes(&[4, 4, 4, 1], 3), None);
        // more parts than blocks
        assert_eq!(legacy_part_sizes(&[4, 4], 3), None);
        assert_eq!(legacy_part_sizes(&[], 1), None);
    }
}
