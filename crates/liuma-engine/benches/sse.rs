//! Cost of server-side encryption at rest in the engine (no HTTP): PUT and
//! GET of 64 MiB and 4 KiB objects of unique incompressible data, plain vs
//! SSE-S3 vs SSE-C, one disk, same run; then one streamed 1 GiB PUT and GET
//! per mode, each on an engine of its own that is removed after (at most
//! ~1.2 GiB on disk at a time). A plain timing loop (no criterion): a few
//! seconds per row. `SSE_BENCH_1G=0` skips the 1 GiB rows.
//!
//! `cargo bench -p liuma-engine --bench sse`

mod common;

use std::time::Instant;

use futures_util::StreamExt;
use liuma_engine::{CustomerKey, EngineConfig, GetOptions, KeyRing, PutOptions, SseRequest};

const BIG: u64 = 64 << 20;
const SMALL: u64 = 4 << 10;

#[allow(clippy::too_many_lines)]
fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let pool = common::pool();
    let dir = tempfile::tempdir_in(".").unwrap();
    rt.block_on(async {
        let cfg = EngineConfig {
            sse_keys: Some(KeyRing::generate()),
            ..EngineConfig::default()
        };
        let e = common::engine(&dir.path().join("e"), 1, cfg).await;
        e.create_bucket("bkt", "bench").await.unwrap();
        let key = CustomerKey::from_bytes([0x42; 32]);
        let modes: [(&str, Option<SseRequest>); 3] = [
            ("plain", None),
            ("sse-s3", Some(SseRequest::S3)),
            ("sse-c", Some(SseRequest::Customer(key.clone()))),
        ];
        println!("| mode | PUT 64 MiB | GET 64 MiB | PUT 4 KiB | GET 4 KiB |");
        println!("|---|---|---|---|---|");
        let mut salt = 0u64;
        for (name, sse) in modes {
            let get_key = matches!(sse, Some(SseRequest::Customer(_))).then(|| key.clone());
            let opts = || PutOptions {
                sse: sse.clone(),
                ..PutOptions::default()
            };
            // 64 MiB: 6 PUTs, then 6 GETs of them
            let n = 6u64;
            let t = Instant::now();
            for i in 0..n {
                salt += 1;
                let body = common::stream(&pool, BIG, salt);
                e.put_object("bkt", &format!("{name}/big{i}"), body, opts())
                    .await
                    .unwrap();
            }
            let put_big = (BIG * n) as f64 / t.elapsed().as_secs_f64() / (1 << 20) as f64;
            let t = Instant::now();
            for i in 0..n {
                let got = e
                    .get_object(
                        "bkt",
                        &format!("{name}/big{i}"),
                        GetOptions {
                            customer_key: get_key.clone(),
                            ..GetOptions::default()
                        },
                    )
                    .await
                    .unwrap();
                let mut s = got.body;
                let mut len = 0u64;
                while let Some(c) = s.next().await {
                    len += c.unwrap().len() as u64;
                }
                assert_eq!(len, BIG);
            }
            let get_big = (BIG * n) as f64 / t.elapsed().as_secs_f64() / (1 << 20) as f64;
            // 4 KiB: 2000 PUTs, 32 at a time, then 2000 GETs
            let small = 2000u64;
            let t = Instant::now();
            futures_util::stream::iter(0..small)
                .map(|i| {
                    let body = common::stream(&pool, SMALL, 1_000_000 + salt * 10_000 + i);
                    let e = e.clone();
                    let o = opts();
                    async move {
                        e.put_object("bkt", &format!("{name}/s{i}"), body, o)
                            .await
                            .unwrap();
                    }
                })
                .buffer_unordered(32)
                .collect::<Vec<()>>()
                .await;
            let put_small = small as f64 / t.elapsed().as_secs_f64();
            let t = Instant::now();
            futures_util::stream::iter(0..small)
                .map(|i| {
                    let e = e.clone();
                    let k = get_key.clone();
                    async move {
                        let got = e
                            .get_object(
                                "bkt",
                                &format!("{name}/s{i}"),
                                GetOptions {
                                    customer_key: k,
                                    ..GetOptions::default()
                                },
                            )
                            .await
                            .unwrap();
                        let mut s = got.body;
                        while let Some(c) = s.next().await {
                            c.unwrap();
                        }
                    }
                })
                .buffer_unordered(32)
                .collect::<Vec<()>>()
                .await;
            let get_small = small as f64 / t.elapsed().as_secs_f64();
            println!(
                "| {name} | {put_big:.0} MiB/s | {get_big:.0} MiB/s | {put_small:.0} ops/s | {get_small:.0} ops/s |"
            );
        }
        if std::env::var("SSE_BENCH_1G").is_ok_and(|v| v == "0") {
            return;
        }
        println!();
        println!("| mode | PUT 1 GiB (streamed) | GET 1 GiB |");
        println!("|---|---|---|");
        for (name, sse) in modes_again(&key) {
            const HUGE: u64 = 1 << 30;
            let sub = dir.path().join(format!("huge-{name}"));
            let cfg = EngineConfig {
                sse_keys: Some(KeyRing::generate()),
                ..EngineConfig::default()
            };
            let e = common::engine(&sub, 1, cfg).await;
            e.create_bucket("bkt", "bench").await.unwrap();
            let get_key = matches!(sse, Some(SseRequest::Customer(_))).then(|| key.clone());
            let t = Instant::now();
            e.put_object(
                "bkt",
                "huge",
                common::stream(&pool, HUGE, 7_000_000),
                PutOptions {
                    sse,
                    ..PutOptions::default()
                },
            )
            .await
            .unwrap();
            let put = HUGE as f64 / t.elapsed().as_secs_f64() / (1 << 20) as f64;
            let t = Instant::now();
            let got = e
                .get_object(
                    "bkt",
                    "huge",
                    GetOptions {
                        customer_key: get_key,
                        ..GetOptions::default()
                    },
                )
                .await
                .unwrap();
            let mut s = got.body;
            let mut len = 0u64;
            while let Some(c) = s.next().await {
                len += c.unwrap().len() as u64;
            }
            assert_eq!(len, HUGE);
            let get = HUGE as f64 / t.elapsed().as_secs_f64() / (1 << 20) as f64;
            println!("| {name} | {put:.0} MiB/s | {get:.0} MiB/s |");
            drop(e);
            let _ = std::fs::remove_dir_all(&sub);
        }
    });
}

fn modes_again(key: &CustomerKey) -> [(&'static str, Option<SseRequest>); 3] {
    [
        ("plain", None),
        ("sse-s3", Some(SseRequest::S3)),
        ("sse-c", Some(SseRequest::Customer(key.clone()))),
    ]
}
