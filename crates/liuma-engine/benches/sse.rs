//! Cost of server-side encryption at rest in the engine (no HTTP), plain vs
//! SSE-S3 vs SSE-C, in a form the noise of a shared machine does not
//! decide: per phase (PUT and GET of 64 MiB objects, of 4 KiB objects, and
//! one streamed 1 GiB object) the CPU seconds this process spent (user +
//! system, all threads, from /proc/self/stat) per GiB or per 1 000
//! operations, next to the wall-clock rate. Rounds interleave the modes,
//! their order rotated each round, every (round, mode) on a fresh engine
//! that is removed after; the summary is the median over rounds and its
//! ratio to plain's median. Data is unique and incompressible; the CPU of
//! generating it (a 1 MiB copy per chunk) is in every mode alike.
//!
//! `cargo bench -p liuma-engine --bench sse`
//!
//! Env: `SSE_BENCH_ROUNDS` (3), `SSE_BENCH_DIR` (where the engines live;
//! default the current directory, `/dev/shm` takes the disk out),
//! `SSE_BENCH_BIG_N` (64 MiB objects per round, 8), `SSE_BENCH_SMALL_N`
//! (4 KiB objects per round, 4000), `SSE_BENCH_1G=0` skips the 1 GiB rows.

mod common;

use std::time::Instant;

use futures_util::StreamExt;
use liuma_engine::{
    CustomerKey, Engine, EngineConfig, GetOptions, KeyRing, PutOptions, SseRequest,
};

const BIG: u64 = 64 << 20;
const SMALL: u64 = 4 << 10;
const HUGE: u64 = 1 << 30;
const GIB: f64 = (1u64 << 30) as f64;
/// 4 KiB operations in flight at once.
const IN_FLIGHT: usize = 32;

/// This process's CPU seconds so far (user + system, every thread).
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat format")
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on every Linux this runs on (the kernel's ABI constant)
    ticks as f64 / 100.0
}

/// CPU and wall seconds of one phase.
#[derive(Clone, Copy)]
struct Cost {
    cpu: f64,
    wall: f64,
}

async fn measure<F: Future<Output = ()>>(f: F) -> Cost {
    let (c, t) = (process_cpu(), Instant::now());
    f.await;
    Cost {
        cpu: process_cpu() - c,
        wall: t.elapsed().as_secs_f64(),
    }
}

/// A phase: its name, and how many units (GiB or thousands of ops) it does.
struct Phase {
    name: &'static str,
    units: f64,
    per: &'static str,
    rate: &'static str,
    /// Multiplies units/s into the rate's unit.
    scale: f64,
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let rounds = env("SSE_BENCH_ROUNDS", 3) as usize;
    let big_n = env("SSE_BENCH_BIG_N", 8);
    let small_n = env("SSE_BENCH_SMALL_N", 4000);
    let huge = std::env::var("SSE_BENCH_1G").map_or(true, |v| v != "0");
    let root = std::env::var("SSE_BENCH_DIR").unwrap_or_else(|_| ".".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let pool = common::pool();
    let dir = tempfile::tempdir_in(&root).unwrap();
    let key = CustomerKey::from_bytes([0x42; 32]);
    let modes: [(&str, Option<SseRequest>); 3] = [
        ("plain", None),
        ("sse-s3", Some(SseRequest::S3)),
        ("sse-c", Some(SseRequest::Customer(key.clone()))),
    ];
    let gib = |bytes: u64| bytes as f64 / GIB;
    let mut phases = vec![
        Phase {
            name: "PUT 64 MiB",
            units: gib(BIG * big_n),
            per: "GiB",
            rate: "MiB/s",
            scale: 1024.0,
        },
        Phase {
            name: "GET 64 MiB",
            units: gib(BIG * big_n),
            per: "GiB",
            rate: "MiB/s",
            scale: 1024.0,
        },
        Phase {
            name: "PUT 4 KiB",
            units: small_n as f64 / 1000.0,
            per: "1k ops",
            rate: "ops/s",
            scale: 1000.0,
        },
        Phase {
            name: "GET 4 KiB",
            units: small_n as f64 / 1000.0,
            per: "1k ops",
            rate: "ops/s",
            scale: 1000.0,
        },
    ];
    if huge {
        for name in ["PUT 1 GiB", "GET 1 GiB"] {
            phases.push(Phase {
                name,
                units: 1.0,
                per: "GiB",
                rate: "MiB/s",
                scale: 1024.0,
            });
        }
    }
    println!(
        "# {rounds} rounds, {big_n} × 64 MiB, {small_n} × 4 KiB ({IN_FLIGHT} in flight){}, engines in {root}, load average {}",
        if huge { ", 1 × 1 GiB streamed" } else { "" },
        loadavg()
    );
    println!();
    let head: Vec<String> = phases
        .iter()
        .map(|p| format!("{} CPU-s/{} ({})", p.name, p.per, p.rate))
        .collect();
    println!("| round | mode | {} |", head.join(" | "));
    println!("|---|---|{}", "---|".repeat(phases.len()));
    // costs[mode][phase] over rounds
    let mut costs: Vec<Vec<Vec<Cost>>> = vec![vec![Vec::new(); phases.len()]; modes.len()];
    common::reset_peak_rss();
    rt.block_on(async {
        for round in 0..rounds {
            for k in 0..modes.len() {
                let m = (round + k) % modes.len();
                let (name, sse) = &modes[m];
                let sub = dir.path().join(format!("{name}-{round}"));
                let got = one_mode(&sub, &pool, sse.clone(), &key, big_n, small_n, huge).await;
                let _ = std::fs::remove_dir_all(&sub);
                let cells: Vec<String> = phases
                    .iter()
                    .zip(&got)
                    .map(|(p, c)| {
                        format!("{:.3} ({:.0})", c.cpu / p.units, p.units / c.wall * p.scale)
                    })
                    .collect();
                println!("| {} | {name} | {} |", round + 1, cells.join(" | "));
                for (i, c) in got.into_iter().enumerate() {
                    costs[m][i].push(c);
                }
            }
        }
    });
    println!();
    println!(
        "Median over {rounds} rounds: CPU-s per GiB or per 1 000 ops (ratio to plain), then the wall-clock rate (ratio to plain). Load average now {}, peak RSS {:.0} MiB.",
        loadavg(),
        common::peak_rss() as f64 / (1 << 20) as f64
    );
    println!();
    println!("| mode | {} |", head.join(" | "));
    println!("|---|{}", "---|".repeat(phases.len()));
    let med = |m: usize, i: usize| {
        let p = &phases[i];
        let cpu = median(costs[m][i].iter().map(|c| c.cpu / p.units).collect());
        let rate = median(
            costs[m][i]
                .iter()
                .map(|c| p.units / c.wall * p.scale)
                .collect(),
        );
        (cpu, rate)
    };
    for (m, (name, _)) in modes.iter().enumerate() {
        let cells: Vec<String> = (0..phases.len())
            .map(|i| {
                let ((cpu, rate), (pcpu, prate)) = (med(m, i), med(0, i));
                format!(
                    "{cpu:.3} ({:.2}×) / {rate:.0} ({:.2}×)",
                    cpu / pcpu,
                    rate / prate
                )
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One fresh engine in one mode: the phases' costs, in `phases` order.
async fn one_mode(
    dir: &std::path::Path,
    pool: &bytes::Bytes,
    sse: Option<SseRequest>,
    key: &CustomerKey,
    big_n: u64,
    small_n: u64,
    huge: bool,
) -> Vec<Cost> {
    let cfg = EngineConfig {
        sse_keys: Some(KeyRing::generate()),
        ..EngineConfig::default()
    };
    let e = common::engine(dir, 1, cfg).await;
    e.create_bucket("bkt", "bench").await.unwrap();
    let get_key = matches!(sse, Some(SseRequest::Customer(_))).then(|| key.clone());
    let opts = || PutOptions {
        sse: sse.clone(),
        ..PutOptions::default()
    };
    let mut out = Vec::new();
    out.push(
        measure(async {
            for i in 0..big_n {
                let body = common::stream(pool, BIG, i + 1);
                e.put_object("bkt", &format!("big{i}"), body, opts())
                    .await
                    .unwrap();
            }
        })
        .await,
    );
    out.push(
        measure(async {
            for i in 0..big_n {
                read_all(&e, &format!("big{i}"), get_key.clone(), BIG).await;
            }
        })
        .await,
    );
    out.push(
        measure(async {
            futures_util::stream::iter(0..small_n)
                .map(|i| {
                    let body = common::stream(pool, SMALL, 1_000_000 + i);
                    let (e, o) = (e.clone(), opts());
                    async move {
                        e.put_object("bkt", &format!("s{i}"), body, o)
                            .await
                            .unwrap()
                    }
                })
                .buffer_unordered(IN_FLIGHT)
                .for_each(|_| async {})
                .await;
        })
        .await,
    );
    out.push(
        measure(async {
            futures_util::stream::iter(0..small_n)
                .map(|i| {
                    let (e, k) = (e.clone(), get_key.clone());
                    async move { read_all(&e, &format!("s{i}"), k, SMALL).await }
                })
                .buffer_unordered(IN_FLIGHT)
                .for_each(|_| async {})
                .await;
        })
        .await,
    );
    if huge {
        out.push(
            measure(async {
                let body = common::stream(pool, HUGE, 7_000_000);
                e.put_object("bkt", "huge", body, opts()).await.unwrap();
            })
            .await,
        );
        out.push(measure(read_all(&e, "huge", get_key.clone(), HUGE)).await);
    }
    out
}

/// GET an object and drain its body, checking its length.
async fn read_all(e: &Engine, key: &str, customer_key: Option<CustomerKey>, want: u64) {
    let got = e
        .get_object(
            "bkt",
            key,
            GetOptions {
                customer_key,
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
    assert_eq!(len, want);
}
