//! Engine throughput against the machine's own limits, measured in the same
//! run: plain file write+fsync and read of the same bytes, then engine PUT
//! and GET of a 1 GiB incompressible object, then 16 concurrent 1 GiB PUTs
//! with the process's peak RSS.
//!
//! `cargo bench -p liuma-engine --bench load` (env LOAD_GIB=n changes the
//! size, LOAD_WRITERS=n the concurrent PUTs, 0 to skip them, LOAD_DIR the
//! directory).

mod common;

use std::io::Write;
use std::time::Instant;

use futures_util::StreamExt;
use liuma_engine::{EngineConfig, GetOptions, PutOptions};

fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

fn drop_caches() -> bool {
    // needs root; without it reads come from the page cache (said in the output)
    std::process::Command::new("sync").status().ok();
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let gib: u64 = std::env::var("LOAD_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let size = gib << 30;
    let dir =
        tempfile::tempdir_in(std::env::var("LOAD_DIR").unwrap_or_else(|_| ".".into())).unwrap();
    let pool = common::pool();

    // plain write + fsync of the same bytes
    let path = dir.path().join("plain.bin");
    let t = Instant::now();
    {
        let mut f = std::fs::File::create(&path).unwrap();
        let mut s = common::stream(&pool, size, 0);
        while let Some(c) = s.next().await {
            f.write_all(&c.unwrap()).unwrap();
        }
        f.sync_all().unwrap();
    }
    let plain_write = mbps(size, t.elapsed().as_secs_f64());
    let cold = drop_caches();
    let t = Instant::now();
    {
        use std::io::Read;
        let mut f = std::fs::File::open(&path).unwrap();
        let mut buf = vec![0u8; 4 << 20];
        while f.read(&mut buf).unwrap() > 0 {}
    }
    let plain_read = mbps(size, t.elapsed().as_secs_f64());
    std::fs::remove_file(&path).unwrap();

    let inflight = std::env::var("LOAD_INFLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(EngineConfig::default().inflight_blocks);
    let engine = common::engine(
        dir.path(),
        1,
        EngineConfig {
            inflight_blocks: inflight,
            ..EngineConfig::default()
        },
    )
    .await;
    engine.create_bucket("bench", "bench").await.unwrap();
    common::reset_peak_rss();
    let t = Instant::now();
    engine
        .put_object(
            "bench",
            "one",
            common::stream(&pool, size, 1),
            PutOptions::default(),
        )
        .await
        .unwrap();
    let put = mbps(size, t.elapsed().as_secs_f64());
    let rss_put = common::peak_rss();
    drop_caches();
    let t = Instant::now();
    let mut g = engine
        .get_object("bench", "one", GetOptions::default())
        .await
        .unwrap();
    let mut n = 0u64;
    while let Some(c) = g.body.next().await {
        n += c.unwrap().len() as u64;
    }
    assert_eq!(n, size);
    let get = mbps(size, t.elapsed().as_secs_f64());

    println!("liuma engine load, {gib} GiB incompressible object, 1 disk (1+0), block 4 MiB");
    println!(
        "  reads from {}",
        if cold {
            "disk (page cache dropped)"
        } else {
            "page cache (no root to drop it)"
        }
    );
    println!("  plain write+fsync  {plain_write:8.1} MB/s");
    println!(
        "  engine PUT         {put:8.1} MB/s  = {:5.1} % of plain write   (peak RSS {} MiB)",
        100.0 * put / plain_write,
        rss_put >> 20
    );
    println!("  plain read         {plain_read:8.1} MB/s");
    println!(
        "  engine GET         {get:8.1} MB/s  = {:5.1} % of plain read",
        100.0 * get / plain_read
    );

    let writers: u64 = std::env::var("LOAD_WRITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    if writers == 0 {
        return;
    }
    common::reset_peak_rss();
    let t = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|i| {
            let e = engine.clone();
            let s = common::stream(&pool, size, 100 + i);
            tokio::spawn(async move {
                e.put_object("bench", &format!("c{i}"), s, PutOptions::default())
                    .await
                    .unwrap()
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "  {writers} concurrent PUTs of {gib} GiB: {:8.1} MB/s total, peak RSS {} MiB",
        mbps(size * writers, secs),
        common::peak_rss() >> 20
    );
}
