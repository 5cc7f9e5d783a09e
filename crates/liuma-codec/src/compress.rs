//! zstd compression of whole blocks, kept only when it pays.
//!
//! A block is stored compressed only if that saves at least `min_saving_percent` of its
//! size. Large blocks are probed first: if the first [`SAMPLE_LEN`] bytes do not compress
//! well enough, the block is taken to be incompressible (media, archives, ciphertext) and
//! the full compression pass is skipped, which saves most of the CPU on such data.

use crate::error::{Error, Result};
use crate::id::BlockId;

/// Bytes probed before compressing a large block.
pub const SAMPLE_LEN: usize = 64 * 1024;

/// Blocks longer than this are probed with a [`SAMPLE_LEN`] sample first.
pub const SAMPLE_ABOVE: usize = 4 * SAMPLE_LEN;

/// True if going from `original` to `compressed` bytes saves at least `min_saving_percent` %.
pub(crate) fn saves_enough(original: usize, compressed: usize, min_saving_percent: u8) -> bool {
    if compressed >= original {
        // Never keep a form that is not smaller, even with a 0 % threshold.
        return false;
    }
    let saved = (original - compressed) as u128;
    saved * 100 >= original as u128 * u128::from(min_saving_percent)
}

/// Compresses `plain` if that saves enough; `None` means "store it raw".
pub fn maybe_compress(plain: &[u8], level: i32, min_saving_percent: u8) -> Result<Option<Vec<u8>>> {
    if plain.is_empty() || min_saving_percent >= 100 {
        return Ok(None);
    }
    if plain.len() > SAMPLE_ABOVE {
        let sample = &plain[..SAMPLE_LEN];
        let probe = zstd::bulk::compress(sample, level).map_err(Error::Compress)?;
        if !saves_enough(sample.len(), probe.len(), min_saving_percent) {
            return Ok(None);
        }
    }
    let compressed = zstd::bulk::compress(plain, level).map_err(Error::Compress)?;
    if saves_enough(plain.len(), compressed.len(), min_saving_percent) {
        Ok(Some(compressed))
    } else {
        Ok(None)
    }
}

/// Decompresses a stored block that must expand to exactly `plain_len` bytes.
pub fn decompress(block: BlockId, stored: &[u8], plain_len: u64) -> Result<Vec<u8>> {
    let err = |source| Error::Decompress { block, source };
    // plain_len is bounded by MAX_BLOCK_LEN when the header is parsed, so this cannot
    // allocate an absurd amount even for a hostile frame with a valid checksum.
    let capacity = usize::try_from(plain_len).map_err(|_| {
        err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "plain length does not fit in memory",
        ))
    })?;
    let plain = zstd::bulk::decompress(stored, capacity).map_err(err)?;
    if plain.len() != capacity {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "decompressed length differs from the recorded plain length",
        )));
    }
    Ok(plain)
}

/// True if `level` is a zstd level this build accepts.
pub(crate) fn level_is_valid(level: i32) -> bool {
    zstd::compression_level_range().contains(&level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_arithmetic() {
        assert!(saves_enough(100, 95, 5));
        assert!(!saves_enough(100, 96, 5));
        assert!(saves_enough(100, 99, 0));
        assert!(!saves_enough(100, 100, 0));
        assert!(!saves_enough(100, 120, 0));
        assert!(!saves_enough(0, 0, 0));
        assert!(saves_enough(usize::MAX, 0, 100));
    }

    #[test]
    fn text_is_compressed_and_round_trips() {
        let text = "the quick brown fox jumps over the lazy dog\n".repeat(10_000);
        let c = maybe_compress(text.as_bytes(), 1, 5)
            .unwrap()
            .expect("text compresses");
        assert!(c.len() < text.len() / 10);
        let id = BlockId::of(text.as_bytes());
        let back = decompress(id, &c, text.len() as u64).unwrap();
        assert_eq!(back, text.as_bytes());
    }

    #[test]
    fn random_data_is_left_alone() {
        use rand::{RngCore, SeedableRng};
        for len in [1, 1000, SAMPLE_ABOVE + 1, 1 << 20] {
            let mut data = vec![0u8; len];
            rand::rngs::StdRng::seed_from_u64(len as u64).fill_bytes(&mut data);
            assert!(maybe_compress(&data, 1, 5).unwrap().is_none(), "len {len}");
        }
    }

    #[test]
    fn incompressible_sample_skips_compressible_tail() {
        // The probe sees random bytes, so the text tail is never looked at: that is the
        // trade-off of sampling, pinned here so a change of policy is deliberate.
        use rand::{RngCore, SeedableRng};
        let mut data = vec![0u8; SAMPLE_LEN];
        rand::rngs::StdRng::seed_from_u64(7).fill_bytes(&mut data);
        data.extend(std::iter::repeat_n(b'a', 4 * SAMPLE_LEN));
        assert!(maybe_compress(&data, 1, 5).unwrap().is_none());
        // Below the sampling threshold the whole block is tried.
        let mut small = vec![0u8; 1000];
        rand::rngs::StdRng::seed_from_u64(8).fill_bytes(&mut small);
        small.extend(std::iter::repeat_n(b'a', 100_000));
        assert!(maybe_compress(&small, 1, 5).unwrap().is_some());
    }

    #[test]
    fn empty_and_threshold_100_are_never_compressed() {
        assert!(maybe_compress(b"", 1, 0).unwrap().is_none());
        assert!(maybe_compress(&[0u8; 10_000], 1, 100).unwrap().is_none());
    }

    #[test]
    fn wrong_plain_len_is_an_error() {
        let data = vec![7u8; 10_000];
        let c = maybe_compress(&data, 1, 5).unwrap().unwrap();
        let id = BlockId::of(&data);
        assert!(matches!(
            decompress(id, &c, 9_999),
            Err(Error::Decompress { .. })
        ));
        assert!(matches!(
            decompress(id, &c, 10_001),
            Err(Error::Decompress { .. })
        ));
        assert!(matches!(
            decompress(id, b"garbage", 10),
            Err(Error::Decompress { .. })
        ));
    }

    #[test]
    fn level_range() {
        assert!(level_is_valid(1));
        assert!(level_is_valid(0));
        assert!(level_is_valid(-5));
        assert!(!level_is_valid(1000));
    }
}
