//! [`PackedRows`]: the keys and values of a range in one buffer.
//!
//! A listing page reads 1 000 rows. As [`KeyValue`]s that is 2 000 small
//! heap blocks made in the store's read thread and freed after decoding:
//! malloc, copy and free of them were 9 % of a 1 000-key ListObjectsV2's
//! server CPU (BENCHMARKS.md, "Listing profile"). Packed, a page is two
//! allocations. Only key and value are kept (no revisions or lease):
//! scans that need those use [`MetaStore::range`](crate::MetaStore::range).

use crate::store::KeyValue;

/// Rows of a range, in order: keys and values back to back in one buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackedRows {
    buf: Vec<u8>,
    /// Per row: where its key ends and where its value ends in `buf`
    /// (the key starts where the previous row's value ended).
    ends: Vec<(usize, usize)>,
}

impl PackedRows {
    /// Room for `rows` rows of `bytes` bytes in all (a hint).
    pub fn with_capacity(rows: usize, bytes: usize) -> Self {
        PackedRows {
            buf: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(rows),
        }
    }

    /// Appends a row (rows must be pushed in key order).
    pub fn push(&mut self, key: &[u8], value: &[u8]) {
        self.buf.extend_from_slice(key);
        let key_end = self.buf.len();
        self.buf.extend_from_slice(value);
        self.ends.push((key_end, self.buf.len()));
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// No rows?
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Row `i`: (key, value).
    pub fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let &(key_end, value_end) = self.ends.get(i)?;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1].1,
        };
        Some((&self.buf[start..key_end], &self.buf[key_end..value_end]))
    }

    /// The last row's key.
    pub fn last_key(&self) -> Option<&[u8]> {
        self.get(self.len().checked_sub(1)?).map(|(k, _)| k)
    }

    /// Every row, in order: (key, value).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

impl From<Vec<KeyValue>> for PackedRows {
    fn from(kvs: Vec<KeyValue>) -> Self {
        let bytes = kvs.iter().map(|kv| kv.key.len() + kv.value.len()).sum();
        let mut rows = PackedRows::with_capacity(kvs.len(), bytes);
        for kv in &kvs {
            rows.push(&kv.key, &kv.value);
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_as_pushed() {
        let mut r = PackedRows::default();
        assert!(r.is_empty() && r.last_key().is_none() && r.get(0).is_none());
        r.push(b"a", b"");
        r.push(b"bb", b"value");
        r.push(b"c", b"v");
        assert_eq!(r.len(), 3);
        let all: Vec<_> = r.iter().collect();
        assert_eq!(
            all,
            vec![
                (&b"a"[..], &b""[..]),
                (&b"bb"[..], &b"value"[..]),
                (&b"c"[..], &b"v"[..])
            ]
        );
        assert_eq!(r.last_key(), Some(&b"c"[..]));
        assert_eq!(r.get(3), None);
    }
}
