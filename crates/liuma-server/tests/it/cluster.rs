//! Cluster mode with real processes: one real etcd (a [`TestEtcd`] per test,
//! a fresh prefix) and several `liuma server` nodes sharing their secrets.
//! Objects go in through one node and come out of every other one; nodes are
//! SIGKILLed, shards rotted or deleted, nodes join and drain, etcd stops, and
//! a node with the wrong cluster secret joins — data stays intact and the
//! healer and scrubber bring every block back to full health.
//!
//! Blocks are 1 MiB so that a few MiB of random data make many blocks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use liuma_cluster::Signer;
use liuma_meta::testing::TestEtcd;
use serde_json::Value;

use crate::harness::{TestNode, copy_secrets, http_get, s3_curl};
use crate::http::{Resp, request};
use crate::native::{Native, data};

const MIB: usize = 1 << 20;
/// `--block-size` of every node.
const BLOCK: usize = MIB;
const BUCKET: &str = "cluster";

/// `len` random bytes (a new seed per call, printed: nextest shows a failed
/// test's output, so the data of a failure can be made again with `data`).
fn random(len: usize) -> Vec<u8> {
    let seed: u64 = rand::random();
    println!("random data: {len} bytes, seed {seed}");
    data(len, seed)
}

/// Poll `probe` every half second until it returns `Ok` or `limit` passes;
/// then panic with `what` and the last `Err` (what was seen instead).
fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        match probe() {
            Ok(v) => {
                println!("{what}: after {:.1?}", started.elapsed());
                return v;
            }
            Err(last) => assert!(
                started.elapsed() < limit,
                "{what}: not reached within {limit:?}; last seen: {last}"
            ),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Every file holding a shard on the node's only disk (`<data>/disk0`).
fn shard_files(data: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, out);
            } else if shard_name(&path).is_some() {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&data.join("disk0/shards"), &mut out);
    out.sort();
    out
}

/// (block hex, index) of a shard file name `<blockhex>.<index>` (not temp files).
fn shard_name(path: &Path) -> Option<(String, u16)> {
    let name = path.file_name()?.to_str()?;
    let (block, index) = name.split_once('.')?;
    let hex = block.len() == 64 && block.bytes().all(|b| b.is_ascii_hexdigit());
    Some((block.to_owned(), index.parse().ok()?)).filter(|_| hex)
}

/// Ok when every block is healthy (all shards on live disks and, as the
/// census was verified, good) and no shard is recorded on `gone` nodes or on
/// unknown disks; else the census, for the failure message.
fn all_healthy(census: &Value, gone: &[&str]) -> Result<(), String> {
    let blocks = census["blocks"].as_u64().unwrap_or(0);
    let per_node = &census["shards_per_node"];
    let stray = gone
        .iter()
        .chain(&["?"])
        .any(|n| per_node[n].as_u64().unwrap_or(0) > 0);
    if blocks > 0
        && census["healthy"].as_u64() == Some(blocks)
        && census["degraded"] == 0
        && census["lost"] == 0
        && !stray
    {
        Ok(())
    } else {
        Err(census.to_string())
    }
}

/// Every running node's disk holds exactly the shards the census records on
/// it: moved and rebuilt shards left no stray copies behind.
fn assert_disks_match(c: &TestCluster, census: &Value) {
    for id in c.ids() {
        let on_disk = shard_files(&c.data(&id)).len() as u64;
        assert_eq!(
            on_disk,
            shards_on(census, &id),
            "shard files on {id}'s disk vs the census: {census}"
        );
    }
}

/// Shards recorded on `node` in a census.
fn shards_on(census: &Value, node: &str) -> u64 {
    census["shards_per_node"][node].as_u64().unwrap_or(0)
}

/// Zone of node `nI`: z1, z2, z3, z1, ...
fn zone_of(id: &str) -> String {
    let i: usize = id.trim_start_matches('n').parse().expect("node ids are nI");
    format!("z{}", (i - 1) % 3 + 1)
}

/// An etcd and the nodes on one prefix of it, by id (`n1`, `n2`, ...).
/// Node `n1` creates the secrets; every other node gets a copy first.
struct TestCluster {
    // Dropped first (killed), before etcd and the directory go.
    nodes: BTreeMap<String, Native>,
    etcd: TestEtcd,
    prefix: String,
    /// Flags every node gets besides etcd, id, zone, heal timing and block size.
    common: Vec<String>,
    dir: tempfile::TempDir,
}

impl Drop for TestCluster {
    /// On a failure, show the end of every node's log (the directory goes).
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else {
            return;
        };
        let mut logs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("stderr.log"))
            .filter(|p| p.exists())
            .collect();
        logs.sort();
        for log in logs {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!(
                "--- {} (last 25 lines)\n{}",
                log.display(),
                lines[lines.len().saturating_sub(25)..].join("\n")
            );
        }
    }
}

impl TestCluster {
    /// etcd plus nodes n1..=n, once each sees all n live.
    fn start(n: usize, common: &[&str]) -> TestCluster {
        let mut c = TestCluster {
            nodes: BTreeMap::new(),
            etcd: TestEtcd::start(),
            prefix: format!("/t-{:016x}/", rand::random::<u64>()),
            common: common.iter().map(|s| (*s).to_owned()).collect(),
            dir: tempfile::tempdir().expect("tempdir"),
        };
        for i in 1..=n {
            c.add(&format!("n{i}"));
        }
        c.wait_live(n);
        c
    }

    fn data(&self, id: &str) -> PathBuf {
        self.dir.path().join(id)
    }

    /// Start node `id` (with n1's secrets unless its data dir has some).
    fn add(&mut self, id: &str) {
        let data = self.data(id);
        if id != "n1" && !data.join("secrets").exists() {
            copy_secrets(&self.data("n1"), &data);
        }
        let endpoint = self.etcd.endpoint();
        let zone = zone_of(id);
        let block = BLOCK.to_string();
        let mut args = vec![
            "--etcd",
            &endpoint,
            "--etcd-prefix",
            &self.prefix,
            "--node-id",
            id,
            "--zone",
            &zone,
            "--heal-grace-secs",
            "3",
            "--heal-interval-secs",
            "2",
            "--block-size",
            &block,
        ];
        args.extend(self.common.iter().map(String::as_str));
        let node = TestNode::start(&data, &args);
        assert_eq!(node.node_id, id, "ready file names the node");
        assert!(!node.cluster.is_empty(), "ready file names the shard API");
        self.nodes.insert(id.to_owned(), Native::wrap(node));
    }

    fn node(&self, id: &str) -> &Native {
        self.nodes
            .get(id)
            .unwrap_or_else(|| panic!("node {id} is not running"))
    }

    fn ids(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// SIGKILL a node.
    fn kill(&mut self, id: &str) {
        self.nodes.remove(id).expect("running node").node.kill();
    }

    /// SIGTERM a node; it must exit cleanly.
    fn stop(&mut self, id: &str) {
        let status = self.nodes.remove(id).expect("running node").node.stop();
        assert!(status.success(), "{id} exited with {status}");
    }

    fn admin(&self, id: &str, method: &str, path: &str) -> Resp {
        let r = self.node(id).node.admin_req(method, path);
        assert_eq!(
            r.status,
            200,
            "{method} {path} on {id}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r
    }

    /// `GET /admin/cluster` on `id`.
    fn status(&self, id: &str) -> Value {
        self.admin(id, "GET", "/admin/cluster").json()
    }

    /// `GET /admin/blocks?verify=true` on `id` (reads every shard).
    fn census(&self, id: &str) -> Value {
        self.admin(id, "GET", "/admin/blocks?verify=true").json()
    }

    /// `POST /admin/heal` on every running node; their reports.
    fn heal_all(&self) -> Vec<Value> {
        self.ids()
            .iter()
            .map(|id| self.admin(id, "POST", "/admin/heal").json())
            .collect()
    }

    /// `POST /admin/scrub` on every running node; their reports.
    fn scrub_all(&self) -> Vec<Value> {
        self.ids()
            .iter()
            .map(|id| self.admin(id, "POST", "/admin/scrub").json())
            .collect()
    }

    /// Wait until every running node sees `n` live nodes.
    fn wait_live(&self, n: usize) {
        wait_for(
            &format!("every node sees {n} live nodes"),
            Duration::from_secs(20),
            || {
                for id in self.ids() {
                    let st = self.status(&id);
                    if st["live_nodes"] != n {
                        return Err(format!("{id}: {st}"));
                    }
                }
                Ok(())
            },
        );
    }

    /// A counter from `/metrics` on `id` (0 when absent).
    fn metric(&self, id: &str, name: &str) -> u64 {
        let r = self.admin(id, "GET", "/metrics");
        let text = String::from_utf8_lossy(&r.body).into_owned();
        let names = [
            name.to_owned(),
            format!("{name}_total"),
            format!("liuma_{name}"),
            format!("liuma_{name}_total"),
        ];
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(' '))
            .filter(|(k, _)| names.iter().any(|n| n == k.split('{').next().unwrap_or("")))
            .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
            .map(|v| v as u64)
            .sum()
    }

    /// S3 call with curl (root key; at most `max_secs`); the URL names the node.
    fn s3_within(&self, max_secs: u64, args: &[&str]) -> (u16, Vec<u8>) {
        let secs = max_secs.to_string();
        let mut all = vec!["-m", secs.as_str()];
        all.extend_from_slice(args);
        s3_curl(&self.data("n1"), &all)
    }

    fn url(&self, id: &str, key: &str) -> String {
        format!("http://{}/{BUCKET}/{key}", self.node(id).node.s3)
    }

    fn create_bucket(&self, id: &str) {
        let url = format!("http://{}/{BUCKET}", self.node(id).node.s3);
        let (status, body) = self.s3_within(60, &["-X", "PUT", &url]);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }

    /// PUT an object through `id` (max 60 s): the status.
    fn try_put(&self, id: &str, key: &str, bytes: &[u8], max_secs: u64) -> u16 {
        let file = self
            .dir
            .path()
            .join(format!("upload-{key}-{}", rand::random::<u32>()));
        std::fs::write(&file, bytes).expect("writing the upload");
        let path = file.to_str().expect("utf-8 path");
        let (status, _) = self.s3_within(max_secs, &["-T", path, &self.url(id, key)]);
        let _ = std::fs::remove_file(&file);
        status
    }

    fn put_object(&self, id: &str, key: &str, bytes: &[u8]) {
        assert_eq!(
            self.try_put(id, key, bytes, 60),
            200,
            "PUT {key} through {id}"
        );
    }

    /// GET an object through `id`: it must be byte-identical to `bytes`.
    fn assert_object(&self, id: &str, key: &str, bytes: &[u8]) {
        let (status, body) = self.s3_within(60, &[&self.url(id, key)]);
        assert_eq!(
            status,
            200,
            "GET {key} through {id}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
        assert!(
            body == bytes,
            "GET {key} through {id}: {} bytes differ from the {} uploaded",
            body.len(),
            bytes.len()
        );
    }

    /// Download a native file through `id`: byte-identical.
    fn assert_file(&self, id: &str, hash: &str, bytes: &[u8]) {
        let r = self.node(id).download(hash, &[]);
        assert_eq!(r.status, 200, "native download through {id}");
        assert!(
            r.body == bytes,
            "native download through {id}: {} bytes differ from the {} uploaded",
            r.body.len(),
            bytes.len()
        );
    }

    /// `liuma node <args>` against `id`'s admin API; its stdout.
    fn node_cli(&self, id: &str, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_liuma"))
            .arg("node")
            .args(args)
            .args([
                "--admin-url",
                &format!("http://{}", self.node(id).node.admin),
            ])
            .arg("--admin-token-file")
            .arg(self.data(id).join("secrets/admin.token"))
            .output()
            .expect("running liuma node");
        assert!(
            out.status.success(),
            "liuma node {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Blocks an object of `len` bytes is cut into, how many of them are
/// erasure coded, and their shards under k+m: a block under 128 KiB is stored
/// as m+1 whole copies instead.
fn layout(len: usize, k: u64, m: u64) -> (u64, u64, u64) {
    let blocks = len.div_ceil(BLOCK) as u64;
    let coded = (len / BLOCK) as u64 + u64::from(len % BLOCK >= 128 << 10);
    (blocks, coded, coded * (k + m) + (blocks - coded) * (m + 1))
}

/// Sum of [`layout`] over several lengths.
fn layout_all(lens: &[usize], k: u64, m: u64) -> (u64, u64, u64) {
    lens.iter().fold((0, 0, 0), |(b, c, s), &len| {
        let (b2, c2, s2) = layout(len, k, m);
        (b + b2, c + c2, s + s2)
    })
}

#[test]
fn six_nodes_ec_4_2_upload_anywhere_download_everywhere() {
    let c = TestCluster::start(6, &[]);
    let st = c.status("n1");
    assert_eq!(st["clustered"], true, "{st}");
    assert_eq!(st["erasure"], "4+2", "6 nodes x 1 disk: {st}");
    let nodes = st["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 6, "{st}");
    for n in nodes {
        let id = n["id"].as_str().expect("id");
        let me = &c.node(id).node;
        assert_eq!(n["live"], true, "{n}");
        assert_eq!(n["draining"], false, "{n}");
        assert_eq!(n["zone"], zone_of(id), "{n}");
        assert_eq!(n["shard_api"], me.cluster.as_str(), "{n}");
        assert_eq!(n["endpoints"]["s3"], me.s3.as_str(), "{n}");
        assert_eq!(n["endpoints"]["native"], me.native.as_str(), "{n}");
        assert_eq!(n["endpoints"]["admin"], me.admin.as_str(), "{n}");
        assert_eq!(n["disks"].as_array().map(Vec::len), Some(1), "{n}");
    }
    // The native API's node list (liuma 1.0's /server/active) names every
    // live node's native address, whichever node answers.
    let active = c.node("n4").backend("GET", "/server/active");
    assert_eq!(active.status, 200);
    let mut listed: Vec<String> = active.json()["active"]
        .as_array()
        .expect("active list")
        .iter()
        .map(|a| a.as_str().expect("address").to_owned())
        .collect();
    let mut expected: Vec<String> = c
        .ids()
        .iter()
        .map(|id| c.node(id).node.native.clone())
        .collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);

    // In through n3 (S3 and native), out through every node.
    let object = random(24 * MIB + 12_345);
    let file = random(13 * MIB + 999);
    c.create_bucket("n3");
    c.put_object("n3", "big.bin", &object);
    let hash = c.node("n3").put(&file, "big-file.bin");
    for id in c.ids() {
        c.assert_object(&id, "big.bin", &object);
        c.assert_file(&id, &hash, &file);
    }

    // Every block is healthy; every coded block has one shard on each node
    // (the small tail blocks have 3 copies on 3 of them).
    let (blocks, coded, shards) = layout_all(&[object.len(), file.len()], 4, 2);
    assert!(blocks > coded, "the test data has small tail blocks too");
    for id in ["n1", "n5"] {
        let census = c.census(id);
        all_healthy(&census, &[]).unwrap_or_else(|e| panic!("census on {id}: {e}"));
        assert_eq!(census["blocks"], blocks, "{census}");
        let per_node = census["shards_per_node"].as_object().expect("per node");
        assert_eq!(per_node.len(), 6, "shards on all six nodes: {census}");
        let total: u64 = per_node.values().filter_map(Value::as_u64).sum();
        assert_eq!(total, shards, "{census}");
        for n in c.ids() {
            let held = shards_on(&census, &n);
            assert!(
                (coded..=blocks).contains(&held),
                "{n} holds {held} shards, not one of each of the {coded} coded blocks: {census}"
            );
            // And the files are where the census says.
            let on_disk = shard_files(&c.data(&n)).len() as u64;
            assert_eq!(on_disk, held, "shard files on {n}'s disk");
        }
    }
}

#[test]
fn sigkill_two_nodes_keeps_data_and_heals() {
    let mut c = TestCluster::start(6, &[]);
    c.create_bucket("n1");
    let mut objects: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, id) in ["n1", "n2", "n3"].into_iter().enumerate() {
        let key = format!("before-{i}");
        let bytes = random(6 * MIB + 1000 * i + 7);
        c.put_object(id, &key, &bytes);
        objects.push((key, bytes));
    }
    let file = random(5 * MIB + 3);
    let hash = c.node("n4").put(&file, "before.bin");
    all_healthy(&c.census("n1"), &[]).expect("healthy before the kill");

    c.kill("n5");
    c.kill("n6");
    let survivors = ["n1", "n2", "n3", "n4"];
    // At once, while the others still count n5 and n6 as live: reads decode
    // around them, writes fall back to other disks.
    for (key, bytes) in &objects {
        c.assert_object("n2", key, bytes);
    }
    c.assert_file("n3", &hash, &file);
    let mut round = 0;
    wait_for(
        "every survivor sees n5 and n6 gone (lease expiry), while reads and writes go on",
        Duration::from_secs(40),
        || {
            round += 1;
            let (w, r) = (survivors[round % 4], survivors[(round + 1) % 4]);
            let key = format!("during-{round}");
            let bytes = random(MIB + 4096 * round);
            c.put_object(w, &key, &bytes);
            c.assert_object(r, &key, &bytes);
            let (old, old_bytes) = &objects[round % objects.len()];
            c.assert_object(r, old, old_bytes);
            objects.push((key, bytes));
            for id in survivors {
                let st = c.status(id);
                if st["live_nodes"] != 4 {
                    return Err(format!("{id}: {st}"));
                }
            }
            Ok(())
        },
    );
    println!("{round} objects written during the outage");

    // Past the grace, the healer rebuilds what n5 and n6 held on the others.
    wait_for(
        "healthy blocks and no shard left on n5/n6",
        Duration::from_secs(60),
        || {
            let reports = c.heal_all();
            let census = c.census("n1");
            all_healthy(&census, &["n5", "n6"]).map_err(|e| format!("{e}; heal: {reports:?}"))
        },
    );
    // The healers counted their work (a pass still finishing a block may
    // count it a moment after the census saw it).
    wait_for(
        "heal_shards_rebuilt counted on the survivors",
        Duration::from_secs(10),
        || {
            let rebuilt: u64 = survivors
                .iter()
                .map(|id| c.metric(id, "heal_shards_rebuilt"))
                .sum();
            if rebuilt > 0 {
                Ok(())
            } else {
                Err("heal_shards_rebuilt is 0 on every survivor".to_owned())
            }
        },
    );
    for id in survivors {
        for (key, bytes) in &objects {
            c.assert_object(id, key, bytes);
        }
        c.assert_file(id, &hash, &file);
    }
    let census = c.census("n3");
    all_healthy(&census, &["n5", "n6"]).expect("census on n3 agrees");
    assert_disks_match(&c, &census);
}

/// Send `sig` (STOP, CONT) to node `id`.
fn signal(c: &TestCluster, id: &str, sig: &str) {
    let pid = c.node(id).node.child.id().to_string();
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid])
        .status()
        .expect("kill");
    assert!(ok.success(), "kill -{sig} {id}");
}

/// A hung peer (SIGSTOP: its lease still runs) is treated like a slow one:
/// reads ask parity after a short hedge delay, writes skip it after one
/// missed deadline; no request waits for the 30 s RPC timeout.
#[test]
fn a_frozen_node_delays_no_request_by_more_than_two_seconds() {
    let c = TestCluster::start(6, &[]);
    c.create_bucket("n1");
    let mut objects: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..4 {
        let key = format!("before-{i}");
        let bytes = random(4 * MIB + 999 * i);
        c.put_object(["n1", "n2", "n3"][i % 3], &key, &bytes);
        objects.push((key, bytes));
    }
    signal(&c, "n6", "STOP");
    let others = ["n1", "n2", "n3", "n4", "n5"];
    let mut worst = Duration::ZERO;
    let mut slow = Vec::new();
    // Within the lease TTL (10 s) n6 still counts as live: every block has
    // a shard on it, and every write's placement may pick it.
    let until = Instant::now() + Duration::from_secs(9);
    let mut round = 0;
    while Instant::now() < until {
        let via = others[round % others.len()];
        let key = format!("frozen-{round}");
        let bytes = random(2 * MIB + 17 * round);
        let t = Instant::now();
        assert_eq!(c.try_put(via, &key, &bytes, 20), 200, "PUT {key} via {via}");
        let put = t.elapsed();
        let (old, old_bytes) = &objects[round % objects.len()];
        let t = Instant::now();
        c.assert_object(others[(round + 1) % others.len()], old, old_bytes);
        let get = t.elapsed();
        for (what, took) in [(format!("PUT {key}"), put), (format!("GET {old}"), get)] {
            worst = worst.max(took);
            if took > Duration::from_secs(2) {
                slow.push(format!("{what}: {took:?}"));
            }
        }
        objects.push((key, bytes));
        round += 1;
    }
    println!("{round} rounds with n6 frozen; slowest request {worst:?}");
    assert!(round >= 4, "only {round} rounds in 9 s");
    // A request that meets the frozen peer first pays one deadline (2 s for
    // a write); every later one skips it.
    assert!(
        slow.len() <= 1,
        "requests over 2 s with n6 frozen: {slow:?}"
    );
    assert!(worst < Duration::from_secs(3), "slowest request {worst:?}");
    let hedged: u64 = others.iter().map(|id| c.metric(id, "hedged_reads")).sum();
    assert!(hedged > 0, "no read was hedged around the frozen node");

    signal(&c, "n6", "CONT");
    for (key, bytes) in &objects {
        c.assert_object("n6", key, bytes);
    }
}

/// With 2+1 blocks over six nodes and two nodes gone, some blocks of a
/// large object are lost and others not: a GET answers 503 before its
/// status line, never a 200 whose body then stops.
#[test]
fn a_partly_lost_object_is_503_not_a_cut_200() {
    let mut c = TestCluster::start(6, &["--erasure", "2+1"]);
    c.create_bucket("n1");
    let bytes = random(24 * MIB + 5);
    c.put_object("n1", "big", &bytes);
    c.kill("n5");
    c.kill("n6");
    wait_for("n1 sees n5 and n6 gone", Duration::from_secs(30), || {
        let st = c.status("n1");
        if st["live_nodes"] == 4 {
            Ok(())
        } else {
            Err(format!("{st}"))
        }
    });
    for _ in 0..3 {
        let (status, body) = c.s3_within(30, &[&c.url("n1", "big")]);
        match status {
            503 => {}
            200 => assert!(
                body == bytes,
                "a 200 with {} of {} bytes",
                body.len(),
                bytes.len()
            ),
            other => panic!("GET answered {other}"),
        }
    }
    assert_eq!(c.metric("n1", "streams_cut"), 0);
}

#[test]
fn bitrot_and_deleted_shards_on_two_nodes_are_repaired() {
    let c = TestCluster::start(6, &[]);
    c.create_bucket("n1");
    let object = random(10 * MIB + 200_000);
    c.put_object("n1", "rot.bin", &object);
    let file = random(3 * MIB + 300_000);
    let hash = c.node("n4").put(&file, "rot-file.bin");
    // Tails over 128 KiB: every block is coded 4+2, one shard on each node.
    let (blocks, coded, _) = layout_all(&[object.len(), file.len()], 4, 2);
    assert_eq!(blocks, coded);
    all_healthy(&c.census("n1"), &[]).expect("healthy after upload");

    // n2: flip bytes in the middle of every shard; n3: delete every shard.
    let rotten = shard_files(&c.data("n2"));
    assert_eq!(rotten.len() as u64, blocks, "one shard per block on n2");
    for path in &rotten {
        let mut bytes = std::fs::read(path).expect("reading a shard");
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 16] {
            *b ^= 0x5a;
        }
        std::fs::write(path, &bytes).expect("rotting a shard");
    }
    let deleted = shard_files(&c.data("n3"));
    assert_eq!(deleted.len() as u64, blocks, "one shard per block on n3");
    for path in &deleted {
        std::fs::remove_file(path).expect("deleting a shard");
    }
    let census = c.census("n1");
    assert_eq!(
        census["healthy"], 0,
        "every block lost two shards: {census}"
    );
    assert_eq!(census["degraded"], blocks, "{census}");
    assert_eq!(census["lost"], 0, "{census}");

    // Reads decode around the damage and repair what they touched.
    c.assert_object("n1", "rot.bin", &object);
    c.assert_file("n1", &hash, &file);
    assert!(
        c.metric("n1", "degraded_reads") > 0,
        "no degraded read on n1 although every block has 2 bad shards"
    );
    wait_for(
        "n1 repairs shards its reads found bad",
        Duration::from_secs(15),
        || match c.metric("n1", "shards_repaired") {
            0 => Err("shards_repaired 0".to_owned()),
            n => Ok(n),
        },
    );

    // Scrubbing on every node (each scrubs the blocks it maintains) repairs the rest.
    let reports = c.scrub_all();
    let unrecoverable: u64 = reports
        .iter()
        .map(|r| r["unrecoverable"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(unrecoverable, 0, "scrub: {reports:?}");
    let checked: u64 = reports
        .iter()
        .map(|r| r["blocks_checked"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        checked, blocks,
        "each block scrubbed by one node: {reports:?}"
    );
    let census = c.census("n1");
    all_healthy(&census, &[]).unwrap_or_else(|e| panic!("after scrub: {e}; {reports:?}"));
    assert_disks_match(&c, &census);
    // The shards are back on their own disks.
    assert_eq!(
        shard_files(&c.data("n3")).len() as u64,
        blocks,
        "n3 refilled"
    );
    for id in ["n2", "n3", "n6"] {
        c.assert_object(id, "rot.bin", &object);
        c.assert_file(id, &hash, &file);
    }
}

#[test]
fn join_and_drain_move_shards_without_loss() {
    let mut c = TestCluster::start(4, &["--erasure", "2+1"]);
    assert_eq!(c.status("n1")["erasure"], "2+1");
    c.create_bucket("n1");
    let mut objects = Vec::new();
    for (i, id) in ["n1", "n3"].into_iter().enumerate() {
        let key = format!("obj-{i}");
        let bytes = random(12 * MIB + 100 * i + 1);
        c.put_object(id, &key, &bytes);
        objects.push((key, bytes));
    }
    let file = random(6 * MIB + 11);
    let hash = c.node("n2").put(&file, "moving.bin");
    let mut lens: Vec<usize> = objects.iter().map(|(_, b)| b.len()).collect();
    lens.push(file.len());
    let (blocks, _, shards) = layout_all(&lens, 2, 1);
    let census = c.census("n1");
    all_healthy(&census, &[]).expect("healthy after upload");
    assert_eq!(census["blocks"], blocks, "{census}");
    let check_all = |c: &TestCluster, id: &str| {
        for (key, bytes) in &objects {
            c.assert_object(id, key, bytes);
        }
        c.assert_file(id, &hash, &file);
    };

    // A fifth node joins without restarts and takes a fair share.
    let joined = Instant::now();
    c.add("n5");
    wait_for("n1 sees n5 join", Duration::from_secs(5), || {
        let st = c.status("n1");
        let live = st["nodes"]
            .as_array()
            .is_some_and(|ns| ns.iter().any(|n| n["id"] == "n5" && n["live"] == true));
        if live && st["live_nodes"] == 5 {
            Ok(())
        } else {
            Err(st.to_string())
        }
    });
    println!("n5 visible after {:.1?}", joined.elapsed());
    let census = wait_for(
        "shards rebalanced onto n5 (a heal round moves nothing more)",
        Duration::from_secs(60),
        || {
            let reports = c.heal_all();
            let busy: u64 = reports
                .iter()
                .map(|r| {
                    r["rebalanced"].as_u64().unwrap_or(0)
                        + r["rebuilt"].as_u64().unwrap_or(0)
                        + r["failed"].as_u64().unwrap_or(0)
                })
                .sum();
            let census = c.census("n1");
            all_healthy(&census, &[])?;
            if busy == 0 && shards_on(&census, "n5") > 0 {
                Ok(census)
            } else {
                Err(format!("{census}; heal: {reports:?}"))
            }
        },
    );
    let on_new = shards_on(&census, "n5");
    println!("after the join: {census}");
    // Fair share: about 1/5 of the shards (placement is pseudo-random per
    // block, and zones come first: n5 shares zone z2 with n2, so it gets
    // about half of z2's one shard per block). Allow 1/10..2/5.
    assert!(
        on_new * 10 >= shards && on_new * 5 <= shards * 2,
        "n5 holds {on_new} of {shards} shards: {census}"
    );
    for id in ["n1", "n2", "n3", "n4", "n5"] {
        assert!(
            shards_on(&census, id) <= blocks,
            "at most one shard per block per node: {census}"
        );
    }
    // Moved shards left no copy behind on the nodes they moved from.
    assert_disks_match(&c, &census);
    check_all(&c, "n5");

    // Drain n2 (through the CLI): its shards move away, nothing is lost.
    let out = c.node_cli("n1", &["drain", "n2", "--no-wait"]);
    assert!(out.contains("draining"), "{out}");
    let st = c.status("n4");
    let n2 = st["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["id"] == "n2"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(n2["draining"], true, "drain mark seen by n4: {st}");
    let census = wait_for("n2 drained", Duration::from_secs(60), || {
        let reports = c.heal_all();
        let census = c.census("n1");
        all_healthy(&census, &["n2"]).map_err(|e| format!("{e}; heal: {reports:?}"))?;
        Ok(census)
    });
    assert_disks_match(&c, &census);
    assert!(shard_files(&c.data("n2")).is_empty(), "n2's disk emptied");
    let status = c.node_cli("n3", &["status"]);
    let line = status
        .lines()
        .find(|l| l.starts_with("n2 "))
        .unwrap_or_default();
    assert!(
        line.contains("draining") && line.trim_end().ends_with(" 0"),
        "{status}"
    );
    check_all(&c, "n2");
    check_all(&c, "n4");

    // Only a node that is not live can be forgotten.
    let r = c.node("n1").node.admin_req("DELETE", "/admin/nodes/n2");
    assert_eq!(
        r.status,
        409,
        "forgetting a live node: {}",
        String::from_utf8_lossy(&r.body)
    );
    let r = c.node("n1").node.admin_req("DELETE", "/admin/nodes/n9");
    assert_eq!(r.status, 404, "forgetting an unknown node");

    // Stop it and forget it: the rest still has everything.
    c.stop("n2");
    wait_for("n1 sees n2 down", Duration::from_secs(15), || {
        let st = c.status("n1");
        if st["live_nodes"] == 4 {
            Ok(())
        } else {
            Err(st.to_string())
        }
    });
    let out = c.node_cli("n3", &["forget", "n2"]);
    assert!(out.contains("forgotten"), "{out}");
    wait_for("n2 gone from n1's view", Duration::from_secs(10), || {
        let st = c.status("n1");
        let listed = st["nodes"]
            .as_array()
            .is_some_and(|ns| ns.iter().any(|n| n["id"] == "n2"));
        if listed { Err(st.to_string()) } else { Ok(()) }
    });
    let census = c.census("n5");
    all_healthy(&census, &["n2"]).expect("healthy after forget");
    assert_disks_match(&c, &census);
    for id in ["n1", "n5"] {
        check_all(&c, id);
    }
}

#[test]
fn etcd_stopped_gives_503_then_recovers() {
    let mut c = TestCluster::start(3, &[]);
    assert_eq!(c.status("n1")["erasure"], "2+1", "3 disks");
    c.create_bucket("n1");
    let mut objects = vec![("kept".to_owned(), random(5 * MIB + 17))];
    c.put_object("n1", "kept", &objects[0].1);
    let file = random(2 * MIB + 1);
    let hash = c.node("n2").put(&file, "kept.bin");
    let extra = random(2 * MIB);

    // Frozen etcd (nothing answers, connections stay open): 503, not a hang.
    c.etcd.freeze();
    let started = Instant::now();
    let (get, put) = std::thread::scope(|s| {
        let get = s.spawn(|| c.s3_within(30, &[&c.url("n1", "kept")]).0);
        let put = s.spawn(|| c.try_put("n2", "frozen", &extra, 30));
        (
            get.join().expect("GET thread"),
            put.join().expect("PUT thread"),
        )
    });
    let took = started.elapsed();
    // Frozen past the membership lease TTL (10 s): on thaw etcd expires every
    // node's lease and the nodes must register again.
    std::thread::sleep(Duration::from_secs(13).saturating_sub(started.elapsed()));
    c.etcd.thaw();
    assert_eq!(get, 503, "S3 GET with etcd frozen (0 = no answer in 30 s)");
    assert_eq!(put, 503, "S3 PUT with etcd frozen (0 = no answer in 30 s)");
    assert!(took < Duration::from_secs(20), "503s took {took:?}");
    println!("frozen etcd: 503s after {took:.1?}");
    wait_for(
        "S3 PUT works again after etcd thaws",
        Duration::from_secs(30),
        || match c.try_put("n3", "after-thaw", &extra, 15) {
            200 => Ok(()),
            s => Err(format!("status {s}")),
        },
    );
    objects.push(("after-thaw".to_owned(), extra.clone()));
    c.wait_live(3);
    all_healthy(&c.census("n2"), &[]).expect("healthy after the freeze");

    // Killed etcd (connections refused): 503 fast; restarted: works again.
    c.etcd.kill();
    let started = Instant::now();
    let (status, _) = c.s3_within(30, &[&c.url("n3", "kept")]);
    assert_eq!(status, 503, "S3 GET with etcd killed");
    assert_eq!(
        c.try_put("n1", "killed", &extra, 30),
        503,
        "S3 PUT with etcd killed"
    );
    for id in c.ids() {
        let ready = http_get(&c.node(&id).node.admin, "/ready").0;
        assert_eq!(ready, 503, "{id} /ready with etcd killed");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "503s took {took:?}");
    c.etcd.restart();
    wait_for(
        "S3 PUT works again after etcd restarts",
        Duration::from_secs(30),
        || match c.try_put("n2", "after-restart", &extra, 15) {
            200 => Ok(()),
            s => Err(format!("status {s}")),
        },
    );
    objects.push(("after-restart".to_owned(), extra.clone()));
    for id in c.ids() {
        for (key, bytes) in &objects {
            c.assert_object(&id, key, bytes);
        }
        c.assert_file(&id, &hash, &file);
    }
    c.wait_live(3);
    all_healthy(&c.census("n1"), &[]).expect("healthy after the outages");
}

/// Headers of a shard API request signed by `signer`.
fn signed(signer: &Signer, method: &str, path: &str, body: &[u8]) -> Vec<(String, String)> {
    let sig = signer.sign(method, path, body);
    vec![
        ("x-liuma-date".to_owned(), sig.date.to_string()),
        ("x-liuma-nonce".to_owned(), sig.nonce),
        ("x-liuma-content-blake3".to_owned(), sig.body_hash),
        ("x-liuma-signature".to_owned(), sig.mac),
    ]
}

fn shard_call(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Resp {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    request(addr, method, path, &h, body)
}

#[test]
fn wrong_or_missing_cluster_secret_cannot_touch_shards() {
    let c = TestCluster::start(3, &["--erasure", "2+1"]);
    c.create_bucket("n1");
    let first = random(4 * MIB + 5);
    c.put_object("n1", "first", &first);

    // A shard n1 holds, and where it would go on n2 (which holds another index of it).
    let n2_files = shard_files(&c.data("n2"));
    let (held, block, index) = shard_files(&c.data("n1"))
        .into_iter()
        .find_map(|p| {
            let (b, i) = shard_name(&p)?;
            let on_n2 = n2_files
                .iter()
                .any(|q| shard_name(q) == Some((b.clone(), i)));
            (!on_n2).then_some((p, b, i))
        })
        .expect("a shard on n1 that n2 lacks");
    let held_bytes = std::fs::read(&held).expect("reading the shard");
    let st = c.status("n1");
    let disk_of = |id: &str| -> String {
        st["nodes"]
            .as_array()
            .and_then(|ns| ns.iter().find(|n| n["id"] == id))
            .and_then(|n| n["disks"][0]["id"].as_str())
            .expect("node's disk id")
            .to_owned()
    };
    let (addr1, addr2) = (
        c.node("n1").node.cluster.clone(),
        c.node("n2").node.cluster.clone(),
    );
    let on_n1 = format!("/v1/shard/{}/{block}/{index}", disk_of("n1"));
    let on_n2 = format!("/v1/shard/{}/{block}/{index}", disk_of("n2"));
    let n2_copy = held
        .strip_prefix(c.data("n1"))
        .map(|rel| c.data("n2").join(rel))
        .expect("shard path under n1's data");
    let secret = std::fs::read_to_string(c.data("n1").join("secrets/cluster.secret"))
        .expect("cluster secret");
    let good = Signer::new(secret.trim().as_bytes());
    let wrong = Signer::new(b"not the cluster secret, but long enough");

    // Control: the right secret reads the frame (so the refusals below mean something).
    let r = shard_call(
        &addr1,
        "GET",
        &on_n1,
        &signed(&good, "GET", &on_n1, b""),
        b"",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body == held_bytes, "GET returns the stored frame");
    let frame = r.body;

    let garbage: Vec<(String, String)> = [
        ("x-liuma-date", "yesterday"),
        ("x-liuma-nonce", "00"),
        ("x-liuma-content-blake3", "zz"),
        ("x-liuma-signature", "not-hex"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (what, method, addr, path, body) in [
        ("GET", "GET", &addr1, &on_n1, &b""[..]),
        ("DELETE", "DELETE", &addr1, &on_n1, &b""[..]),
        ("PUT", "PUT", &addr2, &on_n2, &frame[..]),
    ] {
        let cases = [
            ("no signature", Vec::new()),
            ("garbage headers", garbage.clone()),
            ("wrong secret", signed(&wrong, method, path, body)),
            // Signed for another path: must not transfer.
            ("other path", signed(&good, method, "/v1/shard/x/y/0", body)),
        ];
        for (case, headers) in cases {
            let r = shard_call(addr, method, path, &headers, body);
            assert_eq!(
                r.status,
                401,
                "{what} with {case}: {}",
                String::from_utf8_lossy(&r.body)
            );
        }
    }
    // A replayed request is refused too.
    let once = signed(&good, "GET", &on_n1, b"");
    assert_eq!(shard_call(&addr1, "GET", &on_n1, &once, b"").status, 200);
    assert_eq!(
        shard_call(&addr1, "GET", &on_n1, &once, b"").status,
        401,
        "replay"
    );
    // Nothing changed on disk: n1's shard is intact, n2 got no file.
    assert!(
        std::fs::read(&held).ok() == Some(held_bytes.clone()),
        "n1's shard changed"
    );
    assert!(
        !n2_copy.exists(),
        "a refused PUT created {}",
        n2_copy.display()
    );
    // Control: signed right, the PUT creates the file and the DELETE removes it.
    let put = signed(&good, "PUT", &on_n2, &frame);
    assert_eq!(shard_call(&addr2, "PUT", &on_n2, &put, &frame).status, 204);
    assert!(n2_copy.exists(), "signed PUT stored {}", n2_copy.display());
    let del = signed(&good, "DELETE", &on_n2, b"");
    assert_eq!(shard_call(&addr2, "DELETE", &on_n2, &del, b"").status, 204);
    assert!(!n2_copy.exists(), "signed DELETE removed the file");
    assert!(
        c.node("n1")
            .node
            .log()
            .contains("shard API request refused"),
        "n1 logs refusals"
    );

    // A node with another cluster secret on the same prefix is refused at
    // start (the cluster keeps a fingerprint of its secret in etcd), so it
    // never takes shards nobody else could read.
    let rogue = c.data("n4");
    copy_secrets(&c.data("n1"), &rogue);
    std::fs::write(
        rogue.join("secrets/cluster.secret"),
        format!("{}\n", "r".repeat(64)),
    )
    .expect("writing the rogue secret");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_liuma"))
        .args(["server", "--data"])
        .arg(&rogue)
        .args(["--etcd", &c.etcd.endpoint(), "--etcd-prefix", &c.prefix])
        .args(["--node-id", "n4", "--admin-listen", "127.0.0.1:0"])
        .args([
            "--native-listen",
            "127.0.0.1:0",
            "--s3-listen",
            "127.0.0.1:0",
        ])
        .args(["--cluster-listen", "127.0.0.1:0"])
        .output()
        .expect("running the rogue node");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the rogue node must not start");
    assert!(
        stderr.contains("cluster secret differs"),
        "clear start error, got: {stderr}"
    );
    let live = c.status("n1")["live_nodes"].as_u64();
    assert_eq!(live, Some(3), "the rogue never joined");
    let mut objects = vec![("first".to_owned(), first)];
    for (i, id) in ["n1", "n2", "n3"].into_iter().enumerate() {
        let key = format!("after-rogue-{i}");
        let bytes = random(5 * MIB + 33 * i);
        c.put_object(id, &key, &bytes);
        objects.push((key, bytes));
    }
    let census = c.census("n1");
    all_healthy(&census, &["n4"]).unwrap_or_else(|e| panic!("after the rogue: {e}"));
    for id in ["n1", "n2", "n3"] {
        for (key, bytes) in &objects {
            c.assert_object(id, key, bytes);
        }
    }
}

#[test]
fn shard_api_on_all_interfaces_needs_an_advertised_address() {
    let etcd = TestEtcd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_liuma"))
            .args(["server", "--data"])
            .arg(dir.path())
            .args(["--etcd", &etcd.endpoint(), "--node-id", "lonely"])
            .args([
                "--admin-listen",
                "127.0.0.1:0",
                "--native-listen",
                "127.0.0.1:0",
            ])
            .args([
                "--s3-listen",
                "127.0.0.1:0",
                "--cluster-listen",
                "0.0.0.0:0",
            ])
            .args(extra)
            .output()
            .expect("running liuma")
    };
    // Peers would dial 0.0.0.0, i.e. themselves: refused at start.
    let out = run(&[]);
    assert!(!out.status.success(), "started with nothing to advertise");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("set --advertise"), "{stderr}");
    // Nothing was registered for it.
    let node = TestNode::start(
        &dir.path().join("probe"),
        &["--etcd", &etcd.endpoint(), "--node-id", "probe"],
    );
    let r = node.admin_req("GET", "/admin/cluster");
    let st = r.json();
    assert_eq!(st["live_nodes"], 1, "{st}");
    assert!(
        st["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .all(|n| n["id"] != "lonely"),
        "{st}"
    );
}

/// SHA-256 of `bytes`, hex.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Issue #12: a cluster that grew from one node to six. Blocks written while
/// it was small (1+0 with n1 alone, then 1+1, 2+1, 2+2) are re-encoded to
/// the 4+2 the six nodes want; after one cluster-wide heal no block is below
/// target, and any two nodes can then die with every object readable.
#[test]
fn growth_from_one_node_to_six_reaches_full_redundancy() {
    let began = Instant::now();
    let mut c = TestCluster::start(1, &[]);
    c.create_bucket("n1");
    // (key, sha256, bytes): multi-block, one coded block, replicated, inline.
    let mut objects: Vec<(String, String, Vec<u8>)> = Vec::new();
    let mut put = |c: &TestCluster, key: String, len: usize| {
        let bytes = random(len);
        c.put_object("n1", &key, &bytes);
        objects.push((key, sha256_hex(&bytes), bytes));
    };
    for (i, len) in [9 * MIB + 100, 2 * MIB + MIB / 2, 300 << 10, 50 << 10, 10]
        .into_iter()
        .enumerate()
    {
        put(&c, format!("alone-{i}"), len);
    }
    assert_eq!(
        c.census("n1")["codes"],
        serde_json::json!({"1+0": 15}),
        "n1 alone writes 1+0"
    );
    for n in 2..=6 {
        let id = format!("n{n}");
        c.add(&id);
        c.wait_live(n);
        // Something written at every size of the cluster (1+1, 2+1, 2+2...).
        put(&c, format!("with-{n}-nodes"), 2 * MIB + 1000 * n);
    }
    println!("six nodes up after {:.1?}", began.elapsed());

    let heal_started = Instant::now();
    let census = wait_for(
        "a cluster-wide heal leaves no block below target",
        Duration::from_secs(45),
        || {
            let r = c.admin("n1", "POST", "/admin/heal?scope=cluster").json();
            let nodes = r["nodes"].as_object().map_or(0, |n| n.len());
            if nodes != 6 || r["failed_nodes"] != 0 {
                return Err(format!("fan-out: {r}"));
            }
            let census = c.census("n2");
            let codes = census["codes"].as_object().cloned().unwrap_or_default();
            // m = 2 everywhere: what any two lost nodes need.
            let only_full = codes.keys().all(|k| k.ends_with("+2"));
            if census["below_target"] == 0 && only_full && all_healthy(&census, &[]).is_ok() {
                Ok(census)
            } else {
                Err(format!("census {census}; heal {}", r["totals"]))
            }
        },
    );
    println!(
        "every block at 4+2 (or 3 replicas) {:.1?} after the first cluster-wide heal: {}",
        heal_started.elapsed(),
        census["codes"]
    );
    // Every coded block is 4+2 now: 13 written alone, 2 each with 2, 3 and
    // 6 nodes, and the 2 each written as 2+2 with 4 and 5 nodes (same
    // parity, fewer data shards: widened). Every tail under 128 KiB (with
    // the 50 KiB object: 7) is 3 replicas.
    assert_eq!(
        census["codes"],
        serde_json::json!({"4+2": 23, "1+2": 7}),
        "{census}"
    );
    assert_eq!(
        census["buckets"],
        serde_json::json!({}),
        "no unhealthy block in any bucket"
    );
    let reencoded: u64 = c
        .ids()
        .iter()
        .map(|id| c.metric(id, "heal_blocks_reencoded"))
        .sum();
    assert!(
        reencoded >= 15,
        "the 1+0 blocks were re-encoded ({reencoded})"
    );
    let status = c.node_cli("n3", &["status"]);
    assert!(status.contains("below target 0"), "{status}");

    // Any two nodes may go now, n1 (which once held everything) included.
    c.kill("n1");
    c.kill("n4");
    for (key, sha, _) in &objects {
        let (code, body) = c.s3_within(60, &[&c.url("n2", key)]);
        assert_eq!(code, 200, "GET {key} with n1 and n4 dead");
        assert_eq!(&sha256_hex(&body), sha, "{key}: {} bytes", body.len());
    }
    println!("growth test: {:.1?} in all", began.elapsed());
}

/// `--min-failure-domains`: with fewer live nodes than required, a write is
/// a 503 that says why (nothing doubled up on the nodes left); once the
/// node is back, writes are accepted again.
#[test]
fn writes_are_refused_below_min_failure_domains() {
    let mut c = TestCluster::start(3, &["--min-failure-domains", "3"]);
    c.create_bucket("n1");
    let bytes = random(2 * MIB);
    c.put_object("n1", "ok-with-three", &bytes);
    c.stop("n3");
    c.wait_live(2);
    let file = c.dir.path().join("refused.bin");
    // New bytes: a block stored already is only referenced (deduplicated),
    // which places no shard and is not refused.
    std::fs::write(&file, random(2 * MIB)).expect("writing the upload");
    let path = file.to_str().expect("utf-8 path");
    let (status, body) = c.s3_within(30, &["-T", path, &c.url("n1", "refused")]);
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("writes refused: 2 live") && text.contains("need 3"),
        "the 503 says why: {text}"
    );
    let (status, _) = c.s3_within(30, &[&c.url("n2", "refused")]);
    assert_eq!(status, 404, "nothing of the refused write is visible");
    c.assert_object("n2", "ok-with-three", &bytes);
    c.add("n3");
    c.wait_live(3);
    let again = random(2 * MIB);
    c.put_object("n2", "ok-again", &again);
    c.assert_object("n3", "ok-again", &again);
}

/// Lifecycle in a cluster: each bucket's rules run on exactly one live node
/// (rendezvous hashing of the bucket name), so a pass on every node expires
/// each object once, and the buckets are spread over the nodes.
#[test]
fn lifecycle_runs_each_bucket_on_one_node() {
    let c = TestCluster::start(3, &["--lifecycle-test-clock"]);
    let rules = "<LifecycleConfiguration><Rule><ID>e</ID><Filter/><Status>Enabled</Status>\
                 <Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>";
    let names: Vec<String> = (0..8).map(|i| format!("life-{i}")).collect();
    let s3 = c.node("n1").node.s3.clone();
    for b in &names {
        let url = format!("http://{s3}/{b}");
        for args in [
            vec!["-X", "PUT", url.as_str()],
            vec![
                "-X",
                "PUT",
                "--data-binary",
                rules,
                &format!("{url}?lifecycle="),
            ],
            vec!["-X", "PUT", "--data-binary", "x", &format!("{url}/obj")],
        ] {
            let (status, body) = c.s3_within(60, &args);
            assert_eq!(status, 200, "{args:?}: {}", String::from_utf8_lossy(&body));
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let pass = |id: &str| {
        let path = format!("/admin/lifecycle?as_of={}", now + 3 * 86_400_000);
        c.admin(id, "POST", &path).json()
    };
    let reports: Vec<Value> = c.ids().iter().map(|id| pass(id)).collect();
    let sum = |f: &str| -> u64 { reports.iter().map(|r| r[f].as_u64().unwrap()).sum() };
    assert_eq!(sum("buckets"), 8, "{reports:?}");
    assert_eq!(sum("objects_expired"), 8, "{reports:?}");
    let busy = reports.iter().filter(|r| r["buckets"] != 0).count();
    assert!(busy >= 2, "buckets spread over the nodes: {reports:?}");
    for id in c.ids() {
        assert_eq!(pass(&id)["objects_expired"], 0, "nothing left on {id}");
    }
    for b in &names {
        let (status, _) = c.s3_within(60, &[&format!("http://{s3}/{b}/obj")]);
        assert_eq!(status, 404, "{b}/obj expired");
    }
    // A pass now on every node at once: each answers, together the 8 buckets.
    let all = c
        .admin("n2", "POST", "/admin/lifecycle?scope=cluster")
        .json();
    let nodes = all["nodes"].as_object().expect("per-node results");
    assert_eq!(nodes.len(), 3, "{all}");
    assert!(nodes.values().all(|n| n["ok"] == true), "{all}");
    assert_eq!(all["totals"]["buckets"], 8, "{all}");
    // A future time is never forwarded to other nodes.
    let r = c
        .node("n1")
        .node
        .admin_req("POST", "/admin/lifecycle?scope=cluster&as_of=4102444800000");
    assert_eq!(r.status, 400);
}
