//! Codec throughput on a 4 MiB block, next to the machine's reference speeds
//! (BLAKE3, SHA-256, MD5, memcpy) measured in the same run.
//!
//! Run with `cargo bench -p liuma-codec`.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use liuma_codec::{CodecParams, decode_block, encode_block};
use rand::{Rng, RngCore, SeedableRng, rngs::StdRng};

const BLOCK: usize = 4 << 20;
const LAYOUTS: [(u16, u16); 4] = [(1, 0), (2, 1), (4, 2), (8, 4)];

fn random_block() -> Bytes {
    let mut v = vec![0u8; BLOCK];
    StdRng::seed_from_u64(1).fill_bytes(&mut v);
    Bytes::from(v)
}

/// Log-like text: compresses roughly 3-5x with zstd level 1.
fn text_block() -> Bytes {
    const WORDS: &[&str] = &[
        "GET",
        "PUT",
        "/bucket/object",
        "200",
        "404",
        "liuma",
        "request",
        "took",
        "ms",
        "user",
        "agent",
        "aws-sdk",
        "shard",
        "block",
        "disk",
        "node-3",
        "\n",
    ];
    let mut rng = StdRng::seed_from_u64(2);
    let mut v = Vec::with_capacity(BLOCK + 32);
    while v.len() < BLOCK {
        v.extend_from_slice(WORDS[rng.gen_range(0..WORDS.len())].as_bytes());
        v.push(b' ');
        if rng.gen_range(0..8) == 0 {
            v.extend_from_slice(rng.gen_range(0u32..1_000_000).to_string().as_bytes());
        }
    }
    v.truncate(BLOCK);
    Bytes::from(v)
}

fn params(k: u16, m: u16) -> CodecParams {
    CodecParams {
        data_shards: k,
        parity_shards: m,
        ..CodecParams::default()
    }
}

fn configure<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(BLOCK as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g
}

fn codec(c: &mut Criterion) {
    for (data_name, plain) in [("random", random_block()), ("text", text_block())] {
        let mut g = configure(c, &format!("codec/{data_name}"));
        for (k, m) in LAYOUTS {
            let p = params(k, m);
            let layout = format!("{k}+{m}");
            g.bench_function(BenchmarkId::new("encode", &layout), |b| {
                b.iter(|| encode_block(&p, black_box(plain.clone())).expect("valid params"))
            });
            let block = encode_block(&p, plain.clone()).expect("valid params");
            let frames: Vec<Option<Bytes>> = block
                .shards
                .iter()
                .map(|s| Some(Bytes::from(s.to_frame())))
                .collect();
            g.bench_function(BenchmarkId::new("decode", &layout), |b| {
                b.iter(|| decode_block(black_box(&frames)).expect("all shards present"))
            });
            if m > 0 {
                // Lose m data shards: the Reed-Solomon reconstruction path.
                let mut degraded = frames.clone();
                for f in degraded.iter_mut().take(usize::from(m)) {
                    *f = None;
                }
                g.bench_function(BenchmarkId::new("decode-degraded", &layout), |b| {
                    b.iter(|| decode_block(black_box(&degraded)).expect("k shards left"))
                });
            }
        }
        g.finish();
    }
}

fn reference(c: &mut Criterion) {
    use md5::Digest as _;
    let data = random_block();
    let mut g = configure(c, "reference");
    g.bench_function("blake3", |b| b.iter(|| blake3::hash(black_box(&data))));
    g.bench_function("sha256", |b| {
        b.iter(|| sha2::Sha256::digest(black_box(&data)))
    });
    g.bench_function("md5", |b| b.iter(|| md5::Md5::digest(black_box(&data))));
    let mut dst = vec![0u8; BLOCK];
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&data));
            black_box(&dst);
        })
    });
    g.finish();
}

criterion_group!(benches, reference, codec);
criterion_main!(benches);
