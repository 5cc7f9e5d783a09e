//! The shard frame: the self-describing unit written to disk and sent between nodes.
//!
//! A frame is a fixed 104-byte header followed by the payload. All integers are
//! little-endian.
//!
//! ```text
//! offset len  field
//!      0   4  magic b"LMSH"
//!      4   1  format version, FORMAT_VERSION = 1
//!      5   1  flags: bit 0 = payload belongs to a zstd-compressed block,
//!                    bit 1 = replica (k = 1, every shard holds the whole stored block),
//!                    bit 2 = opaque id: the block id is not BLAKE3 of the block (an
//!                            encrypted envelope identified by its keyed id); the frame
//!                            checksums alone vouch for the bytes;
//!                    other bits must be zero
//!      6   2  k, data shards (>= 1)
//!      8   2  m, parity shards
//!     10   2  shard index (< k + m; data shards are 0..k, parity k..k+m)
//!     12   4  reserved, zero
//!     16  32  block id (BLAKE3 of the plain block)
//!     48   8  plain length (bytes of the block before compression)
//!     56   8  stored length (bytes after optional compression, before sharding)
//!     64   8  payload length (bytes following the header)
//!     72  32  checksum: BLAKE3 over header bytes [0, 72) followed by the payload
//!    104      payload
//! ```
//!
//! Payload length is `stored length` for replicas. For Reed-Solomon shards it is the
//! shard length `ceil(stored / k)` rounded up to an even number (the RS library works
//! on 2-byte symbols); the data shards hold the stored bytes in order, zero padded at
//! the end, and parity shards are Reed-Solomon (`reed-solomon-simd`, systematic) over
//! them. Every field except the checksum itself is covered by the checksum, so any
//! flipped bit anywhere in the frame is detected.
//!
//! Compatibility: a reader must accept every version it has ever written. Golden frames
//! live in `tests/fixtures/` and are parsed by the test suite forever.

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::id::BlockId;

/// The four magic bytes at the start of every frame.
pub const MAGIC: [u8; 4] = *b"LMSH";
/// The frame format version written by this build.
pub const FORMAT_VERSION: u8 = 1;
/// Length of the frame header, in bytes.
pub const SHARD_HEADER_LEN: usize = 104;
/// Largest plain block the codec accepts, in bytes (1 GiB). Bounds the memory a
/// (possibly hostile) header can make a reader allocate.
pub const MAX_BLOCK_LEN: u64 = 1 << 30;

/// Flag bit: the stored block is zstd-compressed.
const FLAG_COMPRESSED: u8 = 0b01;
/// Flag bit: replica shard.
const FLAG_REPLICA: u8 = 0b10;
/// Flag bit: the block id is not the hash of the block (see the module docs).
const FLAG_OPAQUE: u8 = 0b100;
/// Bytes covered by the checksum before the payload.
const CHECKSUMMED_HEADER_LEN: usize = 72;

/// Decoded shard header. See the module docs for the byte layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardHeader {
    /// BLAKE3 of the plain block.
    pub block_id: BlockId,
    /// This shard's index, `0..data_shards + parity_shards`.
    pub index: u16,
    /// k: data shards of the block (1 for replicas).
    pub data_shards: u16,
    /// m: parity shards of the block (extra replicas in replica mode).
    pub parity_shards: u16,
    /// The stored block is zstd-compressed.
    pub compressed: bool,
    /// Replica mode: every shard carries the whole stored block.
    pub replica: bool,
    /// Length of the plain block, in bytes.
    pub plain_len: u64,
    /// Length of the stored (possibly compressed) block, in bytes.
    pub stored_len: u64,
    /// Length of the payload following the header, in bytes.
    pub payload_len: u64,
    /// BLAKE3 over header bytes `[0, 72)` followed by the payload.
    pub checksum: [u8; 32],
    /// The block id is not the hash of the block (an encrypted envelope):
    /// decoding verifies the frames' checksums instead of the id.
    pub opaque: bool,
}

impl ShardHeader {
    /// Serializes the header (the checksum field is written as is, not recomputed).
    pub fn to_bytes(&self) -> [u8; SHARD_HEADER_LEN] {
        let mut b = [0u8; SHARD_HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4] = FORMAT_VERSION;
        b[5] = (if self.compressed { FLAG_COMPRESSED } else { 0 })
            | (if self.replica { FLAG_REPLICA } else { 0 })
            | (if self.opaque { FLAG_OPAQUE } else { 0 });
        b[6..8].copy_from_slice(&self.data_shards.to_le_bytes());
        b[8..10].copy_from_slice(&self.parity_shards.to_le_bytes());
        b[10..12].copy_from_slice(&self.index.to_le_bytes());
        // 12..16 reserved, zero.
        b[16..48].copy_from_slice(&self.block_id.0);
        b[48..56].copy_from_slice(&self.plain_len.to_le_bytes());
        b[56..64].copy_from_slice(&self.stored_len.to_le_bytes());
        b[64..72].copy_from_slice(&self.payload_len.to_le_bytes());
        b[72..104].copy_from_slice(&self.checksum);
        b
    }

    /// Parses a header without verifying the checksum or the field invariants.
    ///
    /// Useful to peek at a shard (e.g. to re-index a disk); use [`parse_shard`] to trust one.
    /// Fails with [`Error::Truncated`], [`Error::BadMagic`] or [`Error::UnsupportedVersion`].
    pub fn from_bytes(bytes: &[u8]) -> Result<ShardHeader> {
        let Some(b) = bytes.get(..SHARD_HEADER_LEN) else {
            return Err(Error::Truncated {
                expected: SHARD_HEADER_LEN,
                got: bytes.len(),
            });
        };
        let magic: [u8; 4] = array(&b[0..4]);
        if magic != MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        if b[4] != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion { version: b[4] });
        }
        Ok(ShardHeader {
            block_id: BlockId(array(&b[16..48])),
            index: u16::from_le_bytes(array(&b[10..12])),
            data_shards: u16::from_le_bytes(array(&b[6..8])),
            parity_shards: u16::from_le_bytes(array(&b[8..10])),
            compressed: b[5] & FLAG_COMPRESSED != 0,
            replica: b[5] & FLAG_REPLICA != 0,
            plain_len: u64::from_le_bytes(array(&b[48..56])),
            stored_len: u64::from_le_bytes(array(&b[56..64])),
            payload_len: u64::from_le_bytes(array(&b[64..72])),
            checksum: array(&b[72..104]),
            opaque: b[5] & FLAG_OPAQUE != 0,
        })
    }

    /// Total shards of the block, k + m.
    pub fn total_shards(&self) -> usize {
        usize::from(self.data_shards) + usize::from(self.parity_shards)
    }

    /// Computes the checksum this header should carry for `payload`.
    pub fn compute_checksum(&self, payload: &[u8]) -> [u8; 32] {
        frame_checksum(&self.to_bytes(), payload)
    }

    /// Checks the invariants between fields (everything but the checksum).
    pub(crate) fn validate(&self, flags: u8, reserved: &[u8]) -> Result<()> {
        let invalid = |field| Error::InvalidHeader {
            block: self.block_id,
            index: self.index,
            field,
        };
        if flags & !(FLAG_COMPRESSED | FLAG_REPLICA | FLAG_OPAQUE) != 0 {
            return Err(invalid("flags"));
        }
        if reserved.iter().any(|&b| b != 0) {
            return Err(invalid("reserved"));
        }
        if self.data_shards == 0 || self.total_shards() > usize::from(u8::MAX) {
            return Err(invalid("data_shards"));
        }
        if usize::from(self.index) >= self.total_shards() {
            return Err(invalid("index"));
        }
        if self.plain_len > MAX_BLOCK_LEN {
            return Err(invalid("plain_len"));
        }
        if self.stored_len > MAX_BLOCK_LEN
            || (!self.compressed && self.stored_len != self.plain_len)
        {
            return Err(invalid("stored_len"));
        }
        if self.replica && self.data_shards != 1 {
            return Err(invalid("data_shards"));
        }
        let expected_payload = if self.replica {
            self.stored_len
        } else {
            rs_shard_len(self.stored_len, self.data_shards)
        };
        if self.payload_len != expected_payload {
            return Err(invalid("payload_len"));
        }
        Ok(())
    }
}

/// Payload length of each shard of a Reed-Solomon coded block: `ceil(stored / k)`
/// rounded up to an even number, at least 2.
pub fn rs_shard_len(stored_len: u64, data_shards: u16) -> u64 {
    let k = u64::from(data_shards.max(1));
    let len = stored_len.div_ceil(k).max(1);
    len + (len & 1)
}

/// BLAKE3 over the first 72 bytes of `header` followed by `payload`.
fn frame_checksum(header: &[u8], payload: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&header[..CHECKSUMMED_HEADER_LEN]);
    h.update(payload);
    *h.finalize().as_bytes()
}

fn array<const N: usize>(s: &[u8]) -> [u8; N] {
    s.try_into().expect("callers slice exactly N bytes")
}

/// One framed shard ready to be written: header bytes then payload bytes.
///
/// Header and payload are kept apart so writers can `writev` without copying the payload,
/// and so the payloads of replicas can share one buffer.
#[derive(Clone, Debug)]
pub struct Shard {
    /// The header, with its checksum filled in.
    pub header: ShardHeader,
    /// The payload.
    pub payload: Bytes,
}

impl Shard {
    /// Builds a shard, computing the checksum.
    pub(crate) fn seal(mut header: ShardHeader, payload: Bytes) -> Shard {
        header.payload_len = payload.len() as u64;
        header.checksum = header.compute_checksum(&payload);
        Shard { header, payload }
    }

    /// The serialized header.
    pub fn header_bytes(&self) -> [u8; SHARD_HEADER_LEN] {
        self.header.to_bytes()
    }

    /// Length of the whole frame (header + payload), in bytes.
    pub fn frame_len(&self) -> usize {
        SHARD_HEADER_LEN + self.payload.len()
    }

    /// The whole frame in one buffer (copies the payload).
    pub fn to_frame(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.frame_len());
        v.extend_from_slice(&self.header_bytes());
        v.extend_from_slice(&self.payload);
        v
    }
}

/// Parses and verifies one framed shard (header followed by payload, as read from disk).
///
/// The returned payload is a zero-copy slice of `frame`.
///
/// Errors: [`Error::Truncated`] when short, [`Error::TrailingBytes`] when long,
/// [`Error::BadMagic`], [`Error::UnsupportedVersion`], [`Error::ChecksumMismatch`], and
/// [`Error::InvalidHeader`] for a checksummed header with impossible fields.
pub fn parse_shard(frame: Bytes) -> Result<Shard> {
    let header = ShardHeader::from_bytes(&frame)?;
    let expected = usize::try_from(header.payload_len)
        .ok()
        .and_then(|p| p.checked_add(SHARD_HEADER_LEN))
        .unwrap_or(usize::MAX);
    if frame.len() < expected {
        return Err(Error::Truncated {
            expected,
            got: frame.len(),
        });
    }
    if frame.len() > expected {
        return Err(Error::TrailingBytes {
            expected,
            got: frame.len(),
        });
    }
    let payload = frame.slice(SHARD_HEADER_LEN..);
    // Over the raw bytes, not a re-serialization: unknown flag or reserved bits count.
    if frame_checksum(&frame, &payload) != header.checksum {
        return Err(Error::ChecksumMismatch {
            block: header.block_id,
            index: header.index,
        });
    }
    header.validate(frame[5], &frame[12..16])?;
    Ok(Shard { header, payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Shard {
        let payload = Bytes::from_static(b"hello shard");
        Shard::seal(
            ShardHeader {
                block_id: BlockId::of(b"hello shard"),
                index: 1,
                data_shards: 1,
                parity_shards: 2,
                compressed: false,
                replica: true,
                plain_len: 11,
                stored_len: 11,
                payload_len: 0,
                checksum: [0; 32],
                opaque: false,
            },
            payload,
        )
    }

    #[test]
    fn layout_is_as_documented() {
        let s = sample();
        let b = s.header_bytes();
        assert_eq!(&b[0..4], b"LMSH");
        assert_eq!(b[4], 1);
        assert_eq!(b[5], 0b10);
        assert_eq!(&b[6..8], &[1, 0]);
        assert_eq!(&b[8..10], &[2, 0]);
        assert_eq!(&b[10..12], &[1, 0]);
        assert_eq!(&b[12..16], &[0; 4]);
        assert_eq!(&b[16..48], &s.header.block_id.0);
        assert_eq!(&b[48..56], &11u64.to_le_bytes());
        assert_eq!(&b[56..64], &11u64.to_le_bytes());
        assert_eq!(&b[64..72], &11u64.to_le_bytes());
        let mut h = blake3::Hasher::new();
        h.update(&b[..72]);
        h.update(b"hello shard");
        assert_eq!(&b[72..104], h.finalize().as_bytes());
        assert_eq!(s.frame_len(), 115);
        assert_eq!(s.to_frame().len(), 115);
    }

    #[test]
    fn round_trip() {
        let s = sample();
        let parsed = parse_shard(Bytes::from(s.to_frame())).unwrap();
        assert_eq!(parsed.header, s.header);
        assert_eq!(parsed.payload, s.payload);
        assert_eq!(
            ShardHeader::from_bytes(&s.header_bytes()).unwrap(),
            s.header
        );
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let frame = sample().to_frame();
        for i in 0..frame.len() {
            for bit in 0..8 {
                let mut f = frame.clone();
                f[i] ^= 1 << bit;
                assert!(parse_shard(Bytes::from(f)).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn specific_errors() {
        let frame = sample().to_frame();
        let mut f = frame.clone();
        f[0] = b'X';
        assert!(matches!(parse_shard(f.into()), Err(Error::BadMagic { .. })));
        let mut f = frame.clone();
        f[4] = 2;
        assert!(matches!(
            parse_shard(f.into()),
            Err(Error::UnsupportedVersion { version: 2 })
        ));
        assert!(matches!(
            parse_shard(Bytes::copy_from_slice(&frame[..50])),
            Err(Error::Truncated {
                expected: 104,
                got: 50
            })
        ));
        assert!(matches!(
            parse_shard(Bytes::copy_from_slice(&frame[..110])),
            Err(Error::Truncated {
                expected: 115,
                got: 110
            })
        ));
        let mut f = frame.clone();
        f.push(0);
        assert!(matches!(
            parse_shard(f.into()),
            Err(Error::TrailingBytes { .. })
        ));
        let mut f = frame.clone();
        *f.last_mut().unwrap() ^= 1;
        assert!(matches!(
            parse_shard(f.into()),
            Err(Error::ChecksumMismatch { index: 1, .. })
        ));
        assert!(matches!(
            parse_shard(Bytes::new()),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn checksummed_but_inconsistent_headers_are_rejected() {
        let base = sample();
        type Mutate = fn(&mut ShardHeader);
        let cases: [(&str, Mutate); 6] = [
            ("index", |h| h.index = 3),
            ("data_shards", |h| h.data_shards = 0),
            ("data_shards", |h| h.data_shards = 2),
            ("data_shards", |h| h.parity_shards = 255),
            ("stored_len", |h| h.stored_len = 10),
            ("plain_len", |h| h.plain_len = MAX_BLOCK_LEN + 1),
        ];
        for (field, mutate) in cases {
            let mut h = base.header.clone();
            mutate(&mut h);
            let s = Shard::seal(h, base.payload.clone());
            match parse_shard(s.to_frame().into()) {
                Err(Error::InvalidHeader { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        // Unknown flag bits, with a valid checksum.
        let mut f = base.to_frame();
        f[5] |= 0b1000;
        let mut h = blake3::Hasher::new();
        h.update(&f[..72]);
        h.update(&f[104..]);
        f[72..104].copy_from_slice(h.finalize().as_bytes());
        assert!(matches!(
            parse_shard(f.into()),
            Err(Error::InvalidHeader { field: "flags", .. })
        ));
    }

    #[test]
    fn shard_len_rule() {
        assert_eq!(rs_shard_len(0, 4), 2);
        assert_eq!(rs_shard_len(1, 4), 2);
        assert_eq!(rs_shard_len(8, 4), 2);
        assert_eq!(rs_shard_len(9, 4), 4);
        assert_eq!(rs_shard_len(12, 4), 4);
        assert_eq!(rs_shard_len(13, 4), 4);
        assert_eq!(rs_shard_len(17, 4), 6);
        assert_eq!(rs_shard_len(4 << 20, 8), 512 * 1024);
    }
}
