//! Property tests (round trip under erasure and corruption) and golden-frame
//! format compatibility tests for liuma-codec.

use std::path::PathBuf;

use bytes::Bytes;
use liuma_codec::{
    BlockId, CodecParams, EncodedBlock, Error, decode_block, decode_block_fast,
    decode_block_report, encode_block, parse_shard, rebuild_shards,
};
use proptest::prelude::*;
use rand::{Rng, RngCore, SeedableRng, rngs::StdRng};

fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

fn text_bytes(seed: u64, len: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "object", "bucket", "shard", "block", "liuma", "parity", "the", "a", "of", "store", "\n",
        "disk", "node", "erasure", "zstd", "42",
    ];
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v = Vec::with_capacity(len + 16);
    while v.len() < len {
        v.extend_from_slice(WORDS[rng.gen_range(0..WORDS.len())].as_bytes());
        v.push(b' ');
    }
    v.truncate(len);
    v
}

fn frames(b: &EncodedBlock) -> Vec<Option<Bytes>> {
    b.shards
        .iter()
        .map(|s| Some(Bytes::from(s.to_frame())))
        .collect()
}

#[derive(Clone, Debug)]
enum Damage {
    Erase,
    FlipHeader(usize),
    FlipPayload(usize),
}

fn damage_strategy() -> impl Strategy<Value = Damage> {
    prop_oneof![
        Just(Damage::Erase),
        (0usize..104).prop_map(Damage::FlipHeader),
        any::<usize>().prop_map(Damage::FlipPayload),
    ]
}

fn apply(frame: &mut Option<Bytes>, damage: &Damage) {
    let Some(f) = frame.take() else { return };
    let mut v = f.to_vec();
    match damage {
        Damage::Erase => return,
        Damage::FlipHeader(i) => v[*i] ^= 0x5a,
        Damage::FlipPayload(i) => {
            let payload_len = v.len() - 104;
            if payload_len == 0 {
                // Nothing to flip: damage the checksum instead.
                v[100] ^= 0x5a;
            } else {
                v[104 + i % payload_len] ^= 0x5a;
            }
        }
    }
    *frame = Some(Bytes::from(v));
}

fn size_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(1usize),
        2usize..64,
        64usize..5000,
        5000usize..300_000,
    ]
}

prop_compose! {
    fn case()(
        k in 1u16..=8,
        m in 0u16..=4,
        len in size_strategy(),
        text in any::<bool>(),
        seed in any::<u64>(),
        replicate_below in prop_oneof![Just(0usize), Just(64usize), Just(4096usize)],
        compress in any::<bool>(),
    ) -> (CodecParams, Vec<u8>) {
        let params = CodecParams {
            data_shards: k,
            parity_shards: m,
            compress,
            replicate_below,
            ..CodecParams::default()
        };
        let data = if text { text_bytes(seed, len) } else { random_bytes(seed, len) };
        (params, data)
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        // Tests under tests/ have no lib.rs beside them to anchor regression files;
        // proptest prints the minimal failing input instead.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn survives_up_to_m_bad_shards(
        (params, data) in case(),
        picks in proptest::collection::vec((any::<prop::sample::Index>(), damage_strategy()), 0..=8),
    ) {
        let plain = Bytes::from(data);
        let block = encode_block(&params, plain.clone()).unwrap();
        let n = block.shards.len();
        let m = usize::from(block.parity_shards);
        prop_assert_eq!(n, usize::from(block.data_shards) + m);
        prop_assert_eq!(block.id, BlockId::of(&plain));
        let expect_replica = params.data_shards == 1
            || block.stored_len == 0
            || (block.stored_len as usize) < params.replicate_below;
        prop_assert_eq!(block.replica, expect_replica);
        for (i, s) in block.shards.iter().enumerate() {
            prop_assert_eq!(usize::from(s.header.index), i);
        }

        let original = frames(&block);
        let mut damaged = original.clone();
        // At most one damage per shard (two flips of one byte would cancel out).
        let mut chosen = std::collections::BTreeMap::new();
        for (idx, d) in &picks {
            if chosen.len() == m {
                break;
            }
            chosen.entry(idx.index(n)).or_insert(d);
        }
        for (&i, d) in &chosen {
            apply(&mut damaged[i], d);
        }
        let bad: Vec<u16> = chosen.keys().map(|&i| i as u16).collect();

        let (decoded, reported) = decode_block_report(&damaged).unwrap();
        prop_assert_eq!(&decoded, &plain);
        prop_assert_eq!(&reported, &bad);

        let rebuilt = rebuild_shards(&damaged, &bad).unwrap();
        prop_assert_eq!(rebuilt.len(), bad.len());
        for (s, &i) in rebuilt.iter().zip(&bad) {
            prop_assert_eq!(Some(Bytes::from(s.to_frame())), original[usize::from(i)].clone());
        }
        // All shards can be rebuilt, even the good ones, byte for byte.
        let all: Vec<u16> = (0..n as u16).collect();
        let everything = rebuild_shards(&damaged, &all).unwrap();
        for (s, orig) in everything.iter().zip(&original) {
            prop_assert_eq!(Some(Bytes::from(s.to_frame())), orig.clone());
        }
    }

    #[test]
    fn more_than_m_erased_fails(
        (params, data) in case(),
        start in any::<prop::sample::Index>(),
    ) {
        let block = encode_block(&params, Bytes::from(data)).unwrap();
        let n = block.shards.len();
        let m = usize::from(block.parity_shards);
        let mut damaged = frames(&block);
        let first = start.index(n);
        for j in 0..=m {
            damaged[(first + j) % n] = None;
        }
        let err = decode_block(&damaged).unwrap_err();
        let is_not_enough = matches!(err, Error::NotEnoughShards { .. });
        prop_assert!(is_not_enough, "{:?}", err);
        let err = rebuild_shards(&damaged, &[0]).unwrap_err();
        let is_not_enough = matches!(err, Error::NotEnoughShards { .. });
        prop_assert!(is_not_enough, "{:?}", err);
    }
}

// ---------------------------------------------------------------------------------------
// Golden frames: written once by `LIUMA_REGEN_FIXTURES=1 cargo test -p liuma-codec`,
// committed, and parsed forever after. Never regenerate them to make a test pass:
// a failure here means old shards on disk would become unreadable.

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Text striped 2+1, zstd-compressed.
fn golden_rs_plain() -> Vec<u8> {
    "liuma golden fixture: format version 1, block striped 2+1 and compressed.\n"
        .repeat(40)
        .into_bytes()
}

/// A tiny uncompressed block as 1+1 replicas.
const GOLDEN_REPLICA_PLAIN: &[u8] = b"liuma replica fixture v1";

fn golden_blocks() -> [(&'static str, CodecParams, Vec<u8>); 2] {
    [
        (
            "v1-rs2p1-zstd",
            CodecParams {
                data_shards: 2,
                parity_shards: 1,
                replicate_below: 0,
                ..CodecParams::default()
            },
            golden_rs_plain(),
        ),
        (
            "v1-replica1p1",
            CodecParams {
                parity_shards: 1,
                compress: false,
                ..CodecParams::default()
            },
            GOLDEN_REPLICA_PLAIN.to_vec(),
        ),
    ]
}

fn read_fixture(name: &str, n: usize) -> Vec<Option<Bytes>> {
    (0..n)
        .map(|i| {
            let path = fixture_dir().join(format!("{name}.{i}.lmsh"));
            Some(Bytes::from(
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            ))
        })
        .collect()
}

#[test]
fn golden_frames_still_decode() {
    if std::env::var_os("LIUMA_REGEN_FIXTURES").is_some() {
        std::fs::create_dir_all(fixture_dir()).unwrap();
        for (name, params, plain) in golden_blocks() {
            let block = encode_block(&params, Bytes::from(plain)).unwrap();
            for s in &block.shards {
                let path = fixture_dir().join(format!("{name}.{}.lmsh", s.header.index));
                std::fs::write(path, s.to_frame()).unwrap();
            }
        }
    }

    // 2+1 compressed.
    let plain = golden_rs_plain();
    let f = read_fixture("v1-rs2p1-zstd", 3);
    for (i, frame) in f.iter().enumerate() {
        let s = parse_shard(frame.clone().unwrap()).unwrap();
        assert_eq!(usize::from(s.header.index), i);
        assert_eq!((s.header.data_shards, s.header.parity_shards), (2, 1));
        assert!(s.header.compressed && !s.header.replica);
        assert_eq!(s.header.plain_len, plain.len() as u64);
        assert_eq!(s.header.block_id, BlockId::of(&plain));
    }
    assert_eq!(decode_block(&f).unwrap(), plain);
    for lost in 0..3 {
        let mut g = f.clone();
        g[lost] = None;
        let (p, bad) = decode_block_report(&g).unwrap();
        assert_eq!(p, plain);
        assert_eq!(bad, vec![lost as u16]);
        let rebuilt = rebuild_shards(&g, &[lost as u16]).unwrap();
        assert_eq!(Some(Bytes::from(rebuilt[0].to_frame())), f[lost]);
    }

    // 1+1 replica, uncompressed: the encoder must still produce these exact bytes.
    let f = read_fixture("v1-replica1p1", 2);
    assert_eq!(
        decode_block(&[None, f[1].clone()]).unwrap(),
        GOLDEN_REPLICA_PLAIN
    );
    let [_, (_, params, plain)] = golden_blocks();
    let block = encode_block(&params, Bytes::from(plain)).unwrap();
    assert_eq!(frames(&block), f);
    let hex = BlockId::of(GOLDEN_REPLICA_PLAIN).to_hex();
    let first = f[0].as_ref().unwrap();
    assert_eq!(&first[0..6], b"LMSH\x01\x02");
    assert_eq!(
        &first[16..48],
        BlockId::from_hex(&hex).unwrap().0.as_slice()
    );
}

#[test]
fn fast_decode_trusts_the_block_id_and_falls_back_on_damage() {
    let params = CodecParams {
        data_shards: 4,
        parity_shards: 2,
        ..CodecParams::default()
    };
    let plain = random_bytes(41, 3 << 20);
    let b = encode_block(&params, Bytes::from(plain.clone())).unwrap();
    let good = frames(&b);
    // Data shards only (what a read fetches first): decoded, nothing bad.
    let mut data_only = good.clone();
    data_only[4] = None;
    data_only[5] = None;
    let (out, bad) = decode_block_fast(&b.id, &data_only).unwrap();
    assert_eq!(out, plain);
    assert!(bad.is_empty());
    // A flipped payload byte in a data shard: the fast path's id check
    // fails, the full path names the shard and still decodes from parity.
    let mut rotten = good.clone();
    let mut f = rotten[1].take().unwrap().to_vec();
    f[200] ^= 0x40;
    rotten[1] = Some(Bytes::from(f));
    let (out, bad) = decode_block_fast(&b.id, &rotten).unwrap();
    assert_eq!(out, plain);
    assert_eq!(bad, vec![1]);
    // Another block's id never decodes.
    let other = BlockId::of(b"not this block");
    assert!(decode_block_fast(&other, &good).is_err());
}
