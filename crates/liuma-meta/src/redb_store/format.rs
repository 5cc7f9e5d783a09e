//! On-disk format of the redb backend, `FORMAT_VERSION` 1.
//!
//! Four redb tables (and `probe`, below):
//!
//! | table        | key                         | value                                  |
//! |--------------|-----------------------------|----------------------------------------|
//! | `kv`         | user key (`&[u8]`)          | 24-byte header ++ user value (`&[u8]`) |
//! | `leases`     | lease id (`i64`, > 0)       | TTL in milliseconds (`u64`)            |
//! | `lease_keys` | lease id (8 bytes BE) ++ key| `()`                                   |
//! | `meta`       | name (`&str`)               | `u64`                                  |
//!
//! Value header in `kv`, big-endian, 24 bytes:
//!
//! ```text
//! 0..8    create_revision  u64
//! 8..16   mod_revision     u64
//! 16..24  lease            i64   (0 = no lease)
//! 24..    user value
//! ```
//!
//! `lease_keys` is the reverse index of the `lease` field: one row per leased key, so that
//! revoking a lease range-scans its rows (lease ids are positive, so big-endian order groups
//! them). `meta` holds `format_version`, `revision` (the last committed revision) and
//! `next_lease` (the next lease id to grant).
//!
//! `probe` (`&str` → `&[u8]`) is scratch space for recovery after an I/O failure: one row,
//! `probe`, is written and deleted again to test that commits fit (see `recovery.rs`). It is
//! empty at rest and older builds ignore it, so it does not change `FORMAT_VERSION`.

use redb::TableDefinition;

use crate::error::{Error, Result};
use crate::store::{KeyValue, LeaseId, Revision};

/// Version of the layout above; bumped on any incompatible change.
pub(crate) const FORMAT_VERSION: u64 = 1;

/// User keys to header ++ value.
pub(crate) const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
/// Live leases: id to TTL in milliseconds.
pub(crate) const LEASES: TableDefinition<i64, u64> = TableDefinition::new("leases");
/// Reverse index: lease id (BE) ++ key.
pub(crate) const LEASE_KEYS: TableDefinition<&[u8], ()> = TableDefinition::new("lease_keys");
/// Store-wide counters.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Recovery scratch table (empty at rest).
pub(crate) const PROBE: TableDefinition<&str, &[u8]> = TableDefinition::new("probe");
/// The one `probe` row.
pub(crate) const PROBE_KEY: &str = "probe";

/// `meta` row: the format version.
pub(crate) const META_FORMAT: &str = "format_version";
/// `meta` row: the last committed revision.
pub(crate) const META_REVISION: &str = "revision";
/// `meta` row: the next lease id.
pub(crate) const META_NEXT_LEASE: &str = "next_lease";

/// Length of the value header.
pub(crate) const HEADER_LEN: usize = 24;

/// The bookkeeping stored in front of every value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) create_revision: Revision,
    pub(crate) mod_revision: Revision,
    /// Raw lease id, 0 for none.
    pub(crate) lease: i64,
}

impl Header {
    /// The lease, if any.
    pub(crate) fn lease(&self) -> Option<LeaseId> {
        (self.lease != 0).then_some(LeaseId(self.lease))
    }
}

/// Header ++ value, as stored in `kv`.
pub(crate) fn encode_value(header: &Header, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + value.len());
    out.extend_from_slice(&header.create_revision.to_be_bytes());
    out.extend_from_slice(&header.mod_revision.to_be_bytes());
    out.extend_from_slice(&header.lease.to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// Splits a stored `kv` value into header and user value.
pub(crate) fn decode_value(stored: &[u8]) -> Result<(Header, &[u8])> {
    let (Some(create), Some(modr), Some(lease)) = (be8(stored, 0), be8(stored, 8), be8(stored, 16))
    else {
        return Err(corrupted(format!(
            "kv value of {} bytes has no header",
            stored.len()
        )));
    };
    let header = Header {
        create_revision: u64::from_be_bytes(create),
        mod_revision: u64::from_be_bytes(modr),
        lease: i64::from_be_bytes(lease),
    };
    Ok((header, &stored[HEADER_LEN..]))
}

/// Decodes a `kv` row into a [`KeyValue`].
pub(crate) fn decode_kv(key: &[u8], stored: &[u8]) -> Result<KeyValue> {
    let (h, value) = decode_value(stored)?;
    Ok(KeyValue {
        key: key.to_vec(),
        value: value.to_vec(),
        create_revision: h.create_revision,
        mod_revision: h.mod_revision,
        lease: h.lease(),
    })
}

/// The `lease_keys` row of `key` under `lease`.
pub(crate) fn lease_key(lease: i64, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len());
    out.extend_from_slice(&lease.to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// An error for a structurally invalid row.
pub(crate) fn corrupted(what: String) -> Error {
    Error::from(redb::StorageError::Corrupted(what))
}

fn be8(bytes: &[u8], at: usize) -> Option<[u8; 8]> {
    bytes.get(at..at + 8)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = Header {
            create_revision: 3,
            mod_revision: 9,
            lease: 42,
        };
        let stored = encode_value(&h, b"value");
        assert_eq!(stored.len(), HEADER_LEN + 5);
        assert_eq!(&stored[..8], &3u64.to_be_bytes());
        let (back, value) = decode_value(&stored).expect("valid");
        assert_eq!(back, h);
        assert_eq!(value, b"value");
        assert_eq!(back.lease(), Some(LeaseId(42)));
        assert!(decode_value(&stored[..10]).is_err());
    }
}
