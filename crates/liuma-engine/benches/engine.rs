//! Engine PUT/GET next to the raw speed of the same machine in the same run:
//! plain file write+fsync and read of the same bytes. 64 MiB objects of
//! unique incompressible data, 1 disk (1+0) and 4 disks (2+2).
//!
//! `cargo bench -p liuma-engine --bench engine`

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use liuma_engine::{EngineConfig, GetOptions, PutOptions};

const SIZE: u64 = 64 << 20;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let pool = common::pool();
    let dir = tempfile::tempdir_in(".").unwrap();
    let mut g = c.benchmark_group("put_get_64MiB");
    g.throughput(Throughput::Bytes(SIZE));
    g.sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));

    let plain = dir.path().join("plain.bin");
    g.bench_function("plain_write_fsync", |b| {
        b.to_async(&rt).iter(|| async {
            let mut f = std::fs::File::create(&plain).unwrap();
            let mut s = common::stream(&pool, SIZE, 0);
            while let Some(c) = s.next().await {
                f.write_all(&c.unwrap()).unwrap();
            }
            f.sync_all().unwrap();
        });
    });
    g.bench_function("plain_read", |b| {
        b.iter(|| {
            let mut f = std::fs::File::open(&plain).unwrap();
            let mut buf = vec![0u8; 4 << 20];
            while f.read(&mut buf).unwrap() > 0 {}
        });
    });

    for disks in [1usize, 4] {
        let edir = dir.path().join(format!("e{disks}"));
        let engine = rt.block_on(common::engine(&edir, disks, EngineConfig::default()));
        rt.block_on(engine.create_bucket("bench", "bench")).unwrap();
        let mut salt = 1000u64;
        g.bench_with_input(BenchmarkId::new("engine_put", disks), &disks, |b, _| {
            b.to_async(&rt).iter(|| {
                salt += 1;
                let s = common::stream(&pool, SIZE, salt);
                let e = engine.clone();
                async move {
                    e.put_object("bench", "obj", s, PutOptions::default())
                        .await
                        .unwrap()
                }
            });
        });
        g.bench_with_input(BenchmarkId::new("engine_get", disks), &disks, |b, _| {
            b.to_async(&rt).iter(|| async {
                let mut got = engine
                    .get_object("bench", "obj", GetOptions::default())
                    .await
                    .unwrap();
                while let Some(c) = got.body.next().await {
                    c.unwrap();
                }
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
