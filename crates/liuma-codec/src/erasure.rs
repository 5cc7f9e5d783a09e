//! Reed-Solomon striping of a stored block into k data + m parity shard payloads.
//!
//! Systematic code: the data shards are the stored bytes themselves, cut into k equal
//! pieces of [`rs_shard_len`] bytes (the last one zero padded), so a block with all its
//! data shards intact is read back without any decoding. Parity comes from
//! `reed-solomon-simd` (GF(2^16), O(n log n)), whose shard length must be even.

use bytes::Bytes;
use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

use crate::error::{Error, Result};
use crate::format::rs_shard_len;
use crate::id::BlockId;

/// Splits `stored` into `k` data payloads followed by `m` parity payloads.
///
/// Copies the stored bytes once (into one padded buffer the data payloads slice), and
/// writes the parity into a second buffer.
pub(crate) fn encode_payloads(block: BlockId, stored: &[u8], k: u16, m: u16) -> Result<Vec<Bytes>> {
    let rs_err = |source| Error::ErasureCoding { block, source };
    let k_us = usize::from(k);
    let m_us = usize::from(m);
    let shard_len = shard_len_usize(stored.len(), k);
    let mut buf = vec![0u8; k_us * shard_len];
    buf[..stored.len()].copy_from_slice(stored);
    let data = Bytes::from(buf);
    let mut out: Vec<Bytes> = (0..k_us)
        .map(|i| data.slice(i * shard_len..(i + 1) * shard_len))
        .collect();
    if m == 0 {
        return Ok(out);
    }
    let mut encoder = ReedSolomonEncoder::new(k_us, m_us, shard_len).map_err(rs_err)?;
    for shard in &out {
        encoder.add_original_shard(shard).map_err(rs_err)?;
    }
    let result = encoder.encode().map_err(rs_err)?;
    let mut parity = Vec::with_capacity(m_us * shard_len);
    for shard in result.recovery_iter() {
        parity.extend_from_slice(shard);
    }
    drop(result);
    let parity = Bytes::from(parity);
    out.extend((0..m_us).map(|i| parity.slice(i * shard_len..(i + 1) * shard_len)));
    Ok(out)
}

/// Rebuilds the stored block (`stored_len` bytes) from the payloads at hand.
///
/// `payloads` has k + m slots, each `None` or a payload of the common shard length
/// (callers check lengths via the verified headers). At least k must be present.
pub(crate) fn decode_payloads(
    block: BlockId,
    k: u16,
    m: u16,
    stored_len: usize,
    payloads: &[Option<Bytes>],
) -> Result<Bytes> {
    let k_us = usize::from(k);
    let have = payloads.iter().flatten().count();
    if have < k_us {
        return Err(Error::NotEnoughShards {
            block: Some(block),
            have,
            need: k_us,
        });
    }
    let shard_len = shard_len_usize(stored_len, k);
    let mut out = Vec::with_capacity(k_us * shard_len);
    if payloads[..k_us].iter().all(Option::is_some) {
        for p in payloads[..k_us].iter().flatten() {
            out.extend_from_slice(p);
        }
    } else {
        let rs_err = |source| Error::ErasureCoding { block, source };
        let mut decoder =
            ReedSolomonDecoder::new(k_us, usize::from(m), shard_len).map_err(rs_err)?;
        let mut added = 0;
        for (i, p) in payloads.iter().enumerate() {
            let Some(p) = p else { continue };
            if added == k_us {
                break;
            }
            if i < k_us {
                decoder.add_original_shard(i, p).map_err(rs_err)?;
            } else {
                decoder.add_recovery_shard(i - k_us, p).map_err(rs_err)?;
            }
            added += 1;
        }
        let result = decoder.decode().map_err(rs_err)?;
        for (i, p) in payloads[..k_us].iter().enumerate() {
            match p {
                Some(p) => out.extend_from_slice(p),
                None => out.extend_from_slice(
                    result
                        .restored_original(i)
                        .expect("the decoder restores every missing original shard"),
                ),
            }
        }
    }
    out.truncate(stored_len);
    Ok(Bytes::from(out))
}

fn shard_len_usize(stored_len: usize, k: u16) -> usize {
    usize::try_from(rs_shard_len(stored_len as u64, k))
        .expect("shard length is at most the stored length plus 2, which fits in usize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 7) as u8).collect()
    }

    #[test]
    fn systematic_layout() {
        let stored = data(1001);
        let p = encode_payloads(BlockId([0; 32]), &stored, 4, 2).unwrap();
        assert_eq!(p.len(), 6);
        assert!(p.iter().all(|s| s.len() == 252));
        let mut cat: Vec<u8> = p[..4].iter().flat_map(|s| s.iter().copied()).collect();
        assert!(cat[1001..].iter().all(|&b| b == 0), "padding is zero");
        cat.truncate(1001);
        assert_eq!(cat, stored);
    }

    #[test]
    fn every_pair_of_erasures_recovers() {
        let stored = data(777);
        let id = BlockId([1; 32]);
        let p = encode_payloads(id, &stored, 3, 2).unwrap();
        for a in 0..5 {
            for b in a..5 {
                let mut slots: Vec<Option<Bytes>> = p.iter().cloned().map(Some).collect();
                slots[a] = None;
                slots[b] = None;
                assert_eq!(decode_payloads(id, 3, 2, 777, &slots).unwrap(), stored);
            }
        }
        let mut slots: Vec<Option<Bytes>> = p.iter().cloned().map(Some).collect();
        slots[0] = None;
        slots[1] = None;
        slots[4] = None;
        assert!(matches!(
            decode_payloads(id, 3, 2, 777, &slots),
            Err(Error::NotEnoughShards {
                have: 2,
                need: 3,
                ..
            })
        ));
    }

    #[test]
    fn no_parity() {
        let stored = data(10);
        let id = BlockId([2; 32]);
        let p = encode_payloads(id, &stored, 3, 0).unwrap();
        assert_eq!(p.len(), 3);
        let slots: Vec<Option<Bytes>> = p.into_iter().map(Some).collect();
        assert_eq!(decode_payloads(id, 3, 0, 10, &slots).unwrap(), stored);
    }
}
