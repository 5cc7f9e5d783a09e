//! Whole-block encode and decode: compression, replica-or-RS choice, framing, voting.

use bytes::Bytes;

use crate::compress;
use crate::erasure;
use crate::error::{Error, Result};
use crate::format::{MAX_BLOCK_LEN, SHARD_HEADER_LEN, Shard, ShardHeader, parse_shard};
use crate::id::BlockId;

/// How blocks are encoded. Lower-layer config: the server maps its own config onto it.
#[derive(Clone, Debug)]
pub struct CodecParams {
    /// k, data shards per block. At least 1; 1 means pure replication. Default 1.
    pub data_shards: u16,
    /// m, parity shards per block: up to m shards may be lost. Default 0.
    pub parity_shards: u16,
    /// zstd level; 0 means zstd's default (3), negative levels are faster. Default 1.
    pub zstd_level: i32,
    /// Try zstd at all. Default true.
    pub compress: bool,
    /// Keep the compressed form only if it saves at least this percentage of the block
    /// (0..=100; 100 disables compression). Default 5.
    pub min_saving_percent: u8,
    /// Blocks whose stored size is below this many bytes are stored as m + 1 whole
    /// replicas (k forced to 1): same loss tolerance, no decode, and each replica is one
    /// file. Default 128 KiB.
    pub replicate_below: usize,
    /// The id given to [`encode_block_with_id`] is not BLAKE3 of the block (an
    /// encrypted envelope named by its keyed id): the shards say so, and decoding
    /// trusts the frames' checksums instead of re-hashing the block. Default false.
    pub opaque_id: bool,
}

impl Default for CodecParams {
    fn default() -> Self {
        CodecParams {
            data_shards: 1,
            parity_shards: 0,
            zstd_level: 1,
            compress: true,
            min_saving_percent: 5,
            replicate_below: 128 * 1024,
            opaque_id: false,
        }
    }
}

impl CodecParams {
    /// Checks `k >= 1`, `k + m <= 255` and, when compressing, a valid zstd level.
    pub fn validate(&self) -> Result<()> {
        let total = usize::from(self.data_shards) + usize::from(self.parity_shards);
        let level_ok = !self.compress || compress::level_is_valid(self.zstd_level);
        if self.data_shards == 0 || total > usize::from(u8::MAX) || !level_ok {
            return Err(Error::InvalidParams {
                data_shards: self.data_shards,
                parity_shards: self.parity_shards,
                zstd_level: self.zstd_level,
            });
        }
        Ok(())
    }
}

/// A block cut into framed shards, ready to be placed on disks.
#[derive(Clone, Debug)]
pub struct EncodedBlock {
    /// BLAKE3 of the plain block.
    pub id: BlockId,
    /// Length of the plain block, in bytes.
    pub plain_len: u64,
    /// Length after optional compression, in bytes.
    pub stored_len: u64,
    /// The stored bytes are zstd-compressed.
    pub compressed: bool,
    /// Effective k (1 in replica mode).
    pub data_shards: u16,
    /// Effective m.
    pub parity_shards: u16,
    /// Replica mode: every shard carries the whole stored block.
    pub replica: bool,
    /// k + m shards; `shards[i].header.index == i`, data shards first.
    pub shards: Vec<Shard>,
}

/// The fields every shard of one block agrees on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    id: BlockId,
    k: u16,
    m: u16,
    compressed: bool,
    replica: bool,
    plain_len: u64,
    stored_len: u64,
    opaque: bool,
}

impl Layout {
    fn of(h: &ShardHeader) -> Layout {
        Layout {
            id: h.block_id,
            k: h.data_shards,
            m: h.parity_shards,
            compressed: h.compressed,
            replica: h.replica,
            plain_len: h.plain_len,
            stored_len: h.stored_len,
            opaque: h.opaque,
        }
    }

    fn total(&self) -> usize {
        usize::from(self.k) + usize::from(self.m)
    }

    /// Payloads of all k + m shards for `stored`.
    fn payloads(&self, stored: &Bytes) -> Result<Vec<Bytes>> {
        if self.replica {
            // Zero copy: every replica shares the one buffer.
            Ok(vec![stored.clone(); self.total()])
        } else {
            erasure::encode_payloads(self.id, stored, self.k, self.m)
        }
    }

    fn seal(&self, index: u16, payload: Bytes) -> Shard {
        Shard::seal(
            ShardHeader {
                block_id: self.id,
                index,
                data_shards: self.k,
                parity_shards: self.m,
                compressed: self.compressed,
                replica: self.replica,
                plain_len: self.plain_len,
                stored_len: self.stored_len,
                payload_len: 0,
                checksum: [0; 32],
                opaque: self.opaque,
            },
            payload,
        )
    }
}

/// Encodes a block, hashing it to get its id.
pub fn encode_block(params: &CodecParams, plain: Bytes) -> Result<EncodedBlock> {
    let id = BlockId::of(&plain);
    encode_block_with_id(params, id, plain)
}

/// Encodes a block whose id the caller already computed (e.g. while streaming).
///
/// The id is trusted; a wrong one makes every later decode fail with
/// [`Error::BlockIdMismatch`].
pub fn encode_block_with_id(
    params: &CodecParams,
    id: BlockId,
    plain: Bytes,
) -> Result<EncodedBlock> {
    params.validate()?;
    let plain_len = plain.len() as u64;
    if plain_len > MAX_BLOCK_LEN {
        return Err(Error::BlockTooLarge {
            len: plain_len,
            max: MAX_BLOCK_LEN,
        });
    }
    let compressed = if params.compress {
        compress::maybe_compress(&plain, params.zstd_level, params.min_saving_percent)?
    } else {
        None
    };
    let (stored, compressed) = match compressed {
        Some(c) => (Bytes::from(c), true),
        None => (plain, false),
    };
    let replica =
        params.data_shards == 1 || stored.is_empty() || stored.len() < params.replicate_below;
    let layout = Layout {
        id,
        k: if replica { 1 } else { params.data_shards },
        m: params.parity_shards,
        compressed,
        replica,
        plain_len,
        stored_len: stored.len() as u64,
        opaque: params.opaque_id,
    };
    let shards = layout
        .payloads(&stored)?
        .into_iter()
        .zip(0u16..)
        .map(|(payload, index)| layout.seal(index, payload))
        .collect();
    Ok(EncodedBlock {
        id,
        plain_len,
        stored_len: layout.stored_len,
        compressed,
        data_shards: layout.k,
        parity_shards: layout.m,
        replica,
        shards,
    })
}

/// Decodes a block from any k good shards.
///
/// `shards[i]` is the frame read for shard index `i`, or `None`; the slice must have
/// k + m slots (k and m come from the headers). Frames that fail [`parse_shard`], sit in
/// the wrong slot, or disagree with the majority of headers (other block, k, m or
/// lengths) are treated as missing. The result is verified against its block id
/// ([`Error::BlockIdMismatch`]); too few good shards give [`Error::NotEnoughShards`].
pub fn decode_block(shards: &[Option<Bytes>]) -> Result<Bytes> {
    decode_block_report(shards).map(|(plain, _)| plain)
}

/// Like [`decode_block`], also returning the indices that were missing or bad (to repair).
pub fn decode_block_report(shards: &[Option<Bytes>]) -> Result<(Bytes, Vec<u16>)> {
    let r = recover(shards, None, None)?;
    let plain = r.plain()?;
    Ok((plain, r.bad))
}

/// Like [`decode_block_report`], but only shards of block `id` count: a valid frame of
/// another block can never out-vote the block the caller asked for.
pub fn decode_block_expect(id: &BlockId, shards: &[Option<Bytes>]) -> Result<(Bytes, Vec<u16>)> {
    let r = recover(shards, Some(*id), None)?;
    let plain = r.plain()?;
    Ok((plain, r.bad))
}

/// Like [`decode_block_expect`], for a caller whose records say whether the
/// block is opaque-id: frames flagged otherwise count as bad. An opaque id
/// vouches for nothing, so a forged frame must not turn a plain block into
/// one whose id is never checked.
pub fn decode_block_expect_as(
    id: &BlockId,
    shards: &[Option<Bytes>],
    opaque: bool,
) -> Result<(Bytes, Vec<u16>)> {
    let r = recover(shards, Some(*id), Some(opaque))?;
    let plain = r.plain()?;
    Ok((plain, r.bad))
}

/// [`decode_block_fast`] for a caller that knows whether the block is
/// opaque-id (see [`decode_block_expect_as`]).
pub fn decode_block_fast_as(
    id: &BlockId,
    shards: &[Option<Bytes>],
    opaque: bool,
) -> Result<(Bytes, Vec<u16>)> {
    if !opaque
        && let Some(plain) = recover_trusting_id(id, shards)
            .filter(|r| !r.layout.opaque)
            .and_then(|r| r.plain().ok())
    {
        return Ok((plain, Vec::new()));
    }
    decode_block_expect_as(id, shards, opaque)
}

/// Whether the frames are of an opaque-id block (see [`CodecParams::opaque_id`]):
/// the first frame whose header parses says so.
pub fn is_opaque(shards: &[Option<Bytes>]) -> bool {
    shards
        .iter()
        .flatten()
        .find_map(|f| ShardHeader::from_bytes(f).ok())
        .is_some_and(|h| h.opaque)
}

/// The read path of an opaque-id block whose bytes authenticate themselves
/// (an AEAD envelope): the data shards' payloads (or a replica's) as they
/// are, without hashing anything. `None` unless every frame given is of an
/// opaque block `id` with sane, agreeing headers and the data shards are all
/// there. The caller must authenticate the result and, if that fails, decode
/// with [`decode_block_expect`], which verifies every frame's checksum and
/// names the bad ones (to repair).
pub fn decode_block_unverified(id: &BlockId, shards: &[Option<Bytes>]) -> Option<Bytes> {
    let r = recover_trusting_id(id, shards)?;
    (r.layout.opaque && !r.layout.compressed).then_some(r.stored)
}

/// The read path's decode: when the data shards (or, for a replicated
/// block, a replica) are all there, their frame checksums are skipped and
/// the block id alone vouches for the result (one BLAKE3 pass over the data
/// instead of two). Anything else (a missing data shard, a header that
/// disagrees, an id mismatch) falls back to [`decode_block_expect`], which
/// verifies every frame and names the bad ones. The scrubber must use
/// [`decode_block_expect`]: this fast path does not look at parity shards.
pub fn decode_block_fast(id: &BlockId, shards: &[Option<Bytes>]) -> Result<(Bytes, Vec<u16>)> {
    // Opaque ids vouch for nothing: those blocks always take the verifying path.
    if let Some(plain) = recover_trusting_id(id, shards)
        .filter(|r| !r.layout.opaque)
        .and_then(|r| r.plain().ok())
    {
        return Ok((plain, Vec::new()));
    }
    decode_block_expect(id, shards)
}

/// Stored bytes from the data shards' payloads without checking frame
/// checksums (headers must still parse, agree and be sane); `None` when a
/// data shard is missing or anything disagrees.
fn recover_trusting_id(id: &BlockId, frames: &[Option<Bytes>]) -> Option<Recovered> {
    let mut layout: Option<Layout> = None;
    let mut payloads: Vec<Option<Bytes>> = vec![None; frames.len()];
    for (i, frame) in frames.iter().enumerate() {
        let Some(frame) = frame else { continue };
        let h = ShardHeader::from_bytes(frame).ok()?;
        h.validate(frame[5], &frame[12..16]).ok()?;
        let len = usize::try_from(h.payload_len).ok()?;
        if usize::from(h.index) != i || h.block_id != *id || frame.len() != SHARD_HEADER_LEN + len {
            return None;
        }
        let l = Layout::of(&h);
        if *layout.get_or_insert(l) != l {
            return None;
        }
        payloads[i] = Some(frame.slice(SHARD_HEADER_LEN..));
    }
    let layout = layout?;
    if layout.total() != frames.len() {
        return None;
    }
    let stored = if layout.replica {
        payloads.iter().flatten().next()?.clone()
    } else {
        let k = usize::from(layout.k);
        if payloads[..k].iter().any(Option::is_none) {
            return None;
        }
        // Data shards only: systematic code, so this is a concatenation.
        let data: Vec<Option<Bytes>> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| if i < k { p.clone() } else { None })
            .collect();
        let stored_len = usize::try_from(layout.stored_len).ok()?;
        erasure::decode_payloads(layout.id, layout.k, layout.m, stored_len, &data).ok()?
    };
    Some(Recovered {
        layout,
        stored,
        bad: Vec::new(),
    })
}

/// Rebuilds the framed shards at `wanted` indices (for repair) from any k good frames.
///
/// The block is fully decoded and verified against its id first, so a repair never
/// writes shards of a block that could not be read back. The output is byte-for-byte
/// what [`encode_block`] produced.
pub fn rebuild_shards(shards: &[Option<Bytes>], wanted: &[u16]) -> Result<Vec<Shard>> {
    let r = recover(shards, None, None)?;
    if let Some(&index) = wanted.iter().find(|&&i| usize::from(i) >= r.layout.total()) {
        return Err(Error::InvalidShardIndex {
            block: r.layout.id,
            index,
            total: r.layout.total(),
        });
    }
    r.plain()?;
    let payloads = r.layout.payloads(&r.stored)?;
    Ok(wanted
        .iter()
        .map(|&i| r.layout.seal(i, payloads[usize::from(i)].clone()))
        .collect())
}

/// The stored bytes of a block, recovered from its good shards.
struct Recovered {
    layout: Layout,
    stored: Bytes,
    bad: Vec<u16>,
}

impl Recovered {
    /// Decompresses if needed and checks the block id (opaque ids: nothing
    /// to check, every frame used was verified by its checksum).
    fn plain(&self) -> Result<Bytes> {
        let plain = if self.layout.compressed {
            Bytes::from(compress::decompress(
                self.layout.id,
                &self.stored,
                self.layout.plain_len,
            )?)
        } else {
            self.stored.clone()
        };
        if self.layout.opaque {
            return Ok(plain);
        }
        let actual = BlockId::of(&plain);
        if actual != self.layout.id {
            return Err(Error::BlockIdMismatch {
                expected: self.layout.id,
                actual,
            });
        }
        Ok(plain)
    }
}

fn recover(
    frames: &[Option<Bytes>],
    expected: Option<BlockId>,
    opaque: Option<bool>,
) -> Result<Recovered> {
    let parsed: Vec<Option<Shard>> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let s = parse_shard(f.clone()?).ok()?;
            let in_slot = usize::from(s.header.index) == i;
            let wanted = expected.is_none_or(|id| id == s.header.block_id)
                && opaque.is_none_or(|o| o == s.header.opaque);
            (in_slot && wanted).then_some(s)
        })
        .collect();
    let layout = majority(&parsed).ok_or(Error::NotEnoughShards {
        block: expected,
        have: 0,
        need: 1,
    })?;
    if layout.total() != frames.len() {
        return Err(Error::ShardCountMismatch {
            block: layout.id,
            expected: layout.total(),
            got: frames.len(),
        });
    }
    let mut bad = Vec::new();
    let payloads: Vec<Option<Bytes>> = parsed
        .into_iter()
        .zip(0u16..)
        .map(|(s, i)| {
            let good = s.filter(|s| Layout::of(&s.header) == layout);
            if good.is_none() {
                bad.push(i);
            }
            good.map(|s| s.payload)
        })
        .collect();
    let stored = if layout.replica {
        payloads
            .iter()
            .flatten()
            .next()
            .cloned()
            .expect("the majority layout has at least one good shard")
    } else {
        let stored_len = usize::try_from(layout.stored_len)
            .expect("stored_len <= MAX_BLOCK_LEN was checked by parse_shard");
        erasure::decode_payloads(layout.id, layout.k, layout.m, stored_len, &payloads)?
    };
    Ok(Recovered {
        layout,
        stored,
        bad,
    })
}

/// The layout most shards agree on; ties go to the lowest shard index.
fn majority(parsed: &[Option<Shard>]) -> Option<Layout> {
    let mut votes: Vec<(Layout, usize)> = Vec::new();
    for s in parsed.iter().flatten() {
        let l = Layout::of(&s.header);
        match votes.iter_mut().find(|(v, _)| *v == l) {
            Some((_, n)) => *n += 1,
            None => votes.push((l, 1)),
        }
    }
    let mut best: Option<(Layout, usize)> = None;
    for (l, n) in votes {
        if best.is_none_or(|(_, b)| n > b) {
            best = Some((l, n));
        }
    }
    best.map(|(l, _)| l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(b: &EncodedBlock) -> Vec<Option<Bytes>> {
        b.shards
            .iter()
            .map(|s| Some(Bytes::from(s.to_frame())))
            .collect()
    }

    fn rs_params(k: u16, m: u16) -> CodecParams {
        CodecParams {
            data_shards: k,
            parity_shards: m,
            replicate_below: 0,
            ..CodecParams::default()
        }
    }

    /// Opaque ids (encrypted envelopes): no id check, but every frame's
    /// checksum still catches rot on the verifying paths (scrub, heal,
    /// re-encode, repair), and the fast path never vouches for them.
    #[test]
    fn opaque_ids_are_verified_by_frame_checksums() {
        for (k, m, len) in [(1u16, 2u16, 3000usize), (4, 2, 300_000)] {
            let params = CodecParams {
                data_shards: k,
                parity_shards: m,
                compress: false,
                opaque_id: true,
                ..CodecParams::default()
            };
            let body: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let id = BlockId([0x5a; 32]); // not the hash of `body`
            let b = encode_block_with_id(&params, id, Bytes::from(body.clone())).unwrap();
            let good = frames(&b);
            assert!(is_opaque(&good));
            assert_eq!(decode_block_unverified(&id, &good).unwrap(), body);
            assert_eq!(decode_block_expect(&id, &good).unwrap().0, body);
            assert_eq!(decode_block_fast(&id, &good).unwrap().0, body);
            // rot in shard 0's payload: the unverified read returns it (the
            // caller's AEAD catches it), every verifying path names shard 0
            let mut rotten = good.clone();
            let mut f = rotten[0].take().unwrap().to_vec();
            let last = f.len() - 1;
            f[last] ^= 1;
            rotten[0] = Some(Bytes::from(f));
            assert_ne!(decode_block_unverified(&id, &rotten).unwrap(), body);
            let (back, bad) = decode_block_expect(&id, &rotten).unwrap();
            assert_eq!((back.as_ref(), bad), (body.as_slice(), vec![0]));
            let (back, bad) = decode_block_fast(&id, &rotten).unwrap();
            assert_eq!((back.as_ref(), bad), (body.as_slice(), vec![0]));
            // a rebuilt shard is byte for byte the original, still opaque
            let rebuilt = rebuild_shards(&rotten, &[0]).unwrap();
            assert_eq!(rebuilt[0].to_frame(), good[0].clone().unwrap());
            assert!(rebuilt[0].header.opaque);
            // a plain block is not opaque and has no unverified read
            let plain = encode_block(&CodecParams::default(), Bytes::from(body.clone())).unwrap();
            assert!(!is_opaque(&frames(&plain)));
            assert!(decode_block_unverified(&plain.id, &frames(&plain)).is_none());
            // A caller that knows the kind: frames of the other kind are bad.
            // Forged opaque frames under a plain block's id (valid checksums,
            // other bytes) never pass for it, and the opaque block reads only
            // as opaque.
            assert_eq!(decode_block_expect_as(&id, &good, true).unwrap().0, body);
            assert_eq!(decode_block_fast_as(&id, &good, true).unwrap().0, body);
            assert!(decode_block_expect_as(&id, &good, false).is_err());
            assert!(decode_block_fast_as(&id, &good, false).is_err());
            let forged =
                encode_block_with_id(&params, plain.id, Bytes::from(vec![7u8; len])).unwrap();
            assert!(
                decode_block_fast(&plain.id, &frames(&forged)).is_ok(),
                "the unchecked kind"
            );
            assert!(decode_block_fast_as(&plain.id, &frames(&forged), false).is_err());
            assert!(decode_block_expect_as(&plain.id, &frames(&forged), false).is_err());
            assert_eq!(
                decode_block_fast_as(&plain.id, &frames(&plain), false)
                    .unwrap()
                    .0,
                body
            );
        }
    }

    #[test]
    fn params_validation() {
        assert!(CodecParams::default().validate().is_ok());
        assert!(rs_params(0, 1).validate().is_err());
        assert!(rs_params(200, 55).validate().is_ok());
        assert!(rs_params(200, 56).validate().is_err());
        let bad_level = CodecParams {
            zstd_level: 10_000,
            ..CodecParams::default()
        };
        assert!(matches!(
            bad_level.validate(),
            Err(Error::InvalidParams {
                zstd_level: 10_000,
                ..
            })
        ));
        let no_compress = CodecParams {
            compress: false,
            ..bad_level
        };
        assert!(no_compress.validate().is_ok());
    }

    #[test]
    fn empty_block_is_replicated() {
        let b = encode_block(&rs_params(4, 2), Bytes::new()).unwrap();
        assert!(b.replica);
        assert_eq!((b.data_shards, b.parity_shards), (1, 2));
        assert_eq!(b.shards.len(), 3);
        assert!(b.shards.iter().all(|s| s.payload.is_empty()));
        assert_eq!(b.id, BlockId::of(b""));
        let f = frames(&b);
        assert_eq!(decode_block(&f).unwrap(), Bytes::new());
        assert_eq!(decode_block(&[f[2].clone(), None, None]).ok(), None);
        assert_eq!(
            decode_block(&[None, None, f[2].clone()]).unwrap(),
            Bytes::new()
        );
    }

    #[test]
    fn small_blocks_are_zero_copy_replicas() {
        let params = CodecParams {
            data_shards: 4,
            parity_shards: 2,
            compress: false,
            ..CodecParams::default()
        };
        let plain = Bytes::from(vec![9u8; 1000]);
        let b = encode_block(&params, plain.clone()).unwrap();
        assert!(b.replica && !b.compressed);
        assert_eq!(b.shards.len(), 3);
        for (i, s) in b.shards.iter().enumerate() {
            assert_eq!(usize::from(s.header.index), i);
            assert_eq!(
                s.payload.as_ptr(),
                plain.as_ptr(),
                "shares the caller's buffer"
            );
        }
    }

    #[test]
    fn compressible_block_is_compressed_and_striped() {
        let text = "liuma stores objects in blocks. ".repeat(20_000);
        let b = encode_block(&rs_params(4, 2), Bytes::from(text.clone())).unwrap();
        assert!(b.compressed && !b.replica);
        assert!(b.stored_len < b.plain_len / 10);
        assert_eq!(b.shards.len(), 6);
        let mut f = frames(&b);
        f[0] = None;
        f[3] = None;
        let (plain, bad) = decode_block_report(&f).unwrap();
        assert_eq!(plain, text.as_bytes());
        assert_eq!(bad, vec![0, 3]);
    }

    #[test]
    fn foreign_and_misplaced_frames_are_outvoted() {
        let a = encode_block(&rs_params(2, 2), Bytes::from(vec![1u8; 5000])).unwrap();
        let other = encode_block(&rs_params(2, 2), Bytes::from(vec![2u8; 5000])).unwrap();
        let mut f = frames(&a);
        f[1] = Some(other.shards[1].to_frame().into()); // valid frame, other block
        f[2] = Some(a.shards[3].to_frame().into()); // valid frame, wrong slot
        let (plain, bad) = decode_block_report(&f).unwrap();
        assert_eq!(plain, vec![1u8; 5000]);
        assert_eq!(bad, vec![1, 2]);
    }

    #[test]
    fn expect_ignores_other_blocks_even_in_majority() {
        let p = CodecParams {
            parity_shards: 2,
            compress: false,
            ..CodecParams::default()
        };
        let a = encode_block(&p, Bytes::from_static(b"block a")).unwrap();
        let b = encode_block(&p, Bytes::from_static(b"block b")).unwrap();
        let f = vec![
            Some(b.shards[0].to_frame().into()),
            Some(b.shards[1].to_frame().into()),
            Some(a.shards[2].to_frame().into()),
        ];
        assert_eq!(decode_block(&f).unwrap(), &b"block b"[..]);
        let (plain, bad) = decode_block_expect(&a.id, &f).unwrap();
        assert_eq!(plain, &b"block a"[..]);
        assert_eq!(bad, vec![0, 1]);
        let none: Vec<Option<Bytes>> = vec![None, None, None];
        assert!(matches!(
            decode_block_expect(&a.id, &none),
            Err(Error::NotEnoughShards { block: Some(id), have: 0, .. }) if id == a.id
        ));
    }

    #[test]
    fn wrong_slot_count_is_reported() {
        let b = encode_block(&rs_params(2, 1), Bytes::from(vec![5u8; 3000])).unwrap();
        let mut f = frames(&b);
        f.push(None);
        assert!(matches!(
            decode_block(&f),
            Err(Error::ShardCountMismatch {
                expected: 3,
                got: 4,
                ..
            })
        ));
    }

    #[test]
    fn nothing_parsable() {
        assert!(matches!(
            decode_block(&[None, Some(Bytes::from_static(b"junk"))]),
            Err(Error::NotEnoughShards {
                block: None,
                have: 0,
                need: 1
            })
        ));
        assert!(matches!(
            decode_block(&[]),
            Err(Error::NotEnoughShards { block: None, .. })
        ));
    }

    #[test]
    fn wrong_id_is_caught_on_decode() {
        let plain = Bytes::from(vec![3u8; 10_000]);
        let b = encode_block_with_id(&rs_params(2, 1), BlockId([7; 32]), plain).unwrap();
        assert!(matches!(
            decode_block(&frames(&b)),
            Err(Error::BlockIdMismatch { .. })
        ));
        assert!(matches!(
            rebuild_shards(&frames(&b), &[0]),
            Err(Error::BlockIdMismatch { .. })
        ));
    }

    #[test]
    fn rebuild_rejects_out_of_range() {
        let b = encode_block(&rs_params(2, 1), Bytes::from(vec![5u8; 3000])).unwrap();
        assert!(matches!(
            rebuild_shards(&frames(&b), &[0, 3]),
            Err(Error::InvalidShardIndex {
                index: 3,
                total: 3,
                ..
            })
        ));
    }
}
