//! Block ids: BLAKE3 of the plain (uncompressed) block.

use std::fmt;

use crate::error::{Error, Result};

/// Identity of a block: the BLAKE3 hash of its plain bytes.
///
/// Equal content gives equal ids, which is what block-level dedup relies on.
/// Displayed and parsed as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId(pub [u8; 32]);

const HEX: &[u8; 16] = b"0123456789abcdef";

impl BlockId {
    /// Length of the hex form, in characters.
    pub const HEX_LEN: usize = 64;

    /// Hashes a plain block.
    pub fn of(plain: &[u8]) -> BlockId {
        BlockId(*blake3::hash(plain).as_bytes())
    }

    /// The id as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(Self::HEX_LEN);
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        s
    }

    /// Parses 64 hex characters (either case).
    ///
    /// Returns [`Error::InvalidBlockId`] on any other input.
    pub fn from_hex(s: &str) -> Result<BlockId> {
        let invalid = || Error::InvalidBlockId {
            input: s.chars().take(80).collect(),
        };
        let bytes = s.as_bytes();
        if bytes.len() != Self::HEX_LEN {
            return Err(invalid());
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let hi = hex_val(pair[0]).ok_or_else(invalid)?;
            let lo = hex_val(pair[1]).ok_or_else(invalid)?;
            *o = (hi << 4) | lo;
        }
        Ok(BlockId(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockId({})", self.to_hex())
    }
}

impl std::str::FromStr for BlockId {
    type Err = Error;

    fn from_str(s: &str) -> Result<BlockId> {
        BlockId::from_hex(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_empty() {
        // BLAKE3 of the empty input, from the BLAKE3 test vectors.
        assert_eq!(
            BlockId::of(b"").to_hex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn hex_round_trip() {
        let id = BlockId::of(b"hello liuma");
        let hex = id.to_hex();
        assert_eq!(hex.len(), 64);
        assert!(
            hex.bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
        assert_eq!(BlockId::from_hex(&hex).unwrap(), id);
        assert_eq!(BlockId::from_hex(&hex.to_uppercase()).unwrap(), id);
        assert_eq!(hex.parse::<BlockId>().unwrap(), id);
        assert_eq!(format!("{id}"), hex);
        assert_eq!(format!("{id:?}"), format!("BlockId({hex})"));
    }

    #[test]
    fn from_hex_rejects_bad_input() {
        let good = BlockId::of(b"x").to_hex();
        for bad in [
            String::new(),
            good[..63].to_string(),
            format!("{good}0"),
            format!("g{}", &good[1..]),
            format!("{}é", &good[..62]),
            format!(" {}", &good[1..]),
        ] {
            assert!(
                matches!(BlockId::from_hex(&bad), Err(Error::InvalidBlockId { .. })),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn ordering_follows_bytes() {
        let a = BlockId([0; 32]);
        let mut b = [0; 32];
        b[0] = 1;
        assert!(a < BlockId(b));
        assert!(a.to_hex() < BlockId(b).to_hex());
    }
}
