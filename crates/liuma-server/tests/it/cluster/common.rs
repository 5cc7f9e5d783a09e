//! What every cluster scenario uses: a [`TestCluster`] (one etcd, several
//! nodes), random data with its seed printed, polling with a deadline, and
//! the census checks (every block healthy, disks holding what it records).

pub use std::collections::BTreeMap;
pub use std::path::{Path, PathBuf};
pub use std::process::Command;
pub use std::time::{Duration, Instant};

pub use liuma_cluster::Signer;
pub use liuma_meta::testing::TestEtcd;
pub use serde_json::Value;

pub use crate::harness::{TestNode, copy_secrets, http_get, s3_curl};
pub use crate::http::{Resp, request};
pub use crate::native::{Native, data};

pub const MIB: usize = 1 << 20;
/// `--block-size` of every node.
pub const BLOCK: usize = MIB;
pub const BUCKET: &str = "cluster";

/// `len` random bytes (a new seed per call, printed: nextest shows a failed
/// test's output, so the data of a failure can be made again with `data`).
pub fn random(len: usize) -> Vec<u8> {
    let seed: u64 = rand::random();
    println!("random data: {len} bytes, seed {seed}");
    data(len, seed)
}

/// Poll `probe` every quarter second until it returns `Ok` or `limit` passes;
/// then panic with `what` and the last `Err` (what was seen instead).
pub fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
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
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Every file holding a shard on the node's only disk (`<data>/disk0`).
pub fn shard_files(data: &Path) -> Vec<PathBuf> {
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
pub fn shard_name(path: &Path) -> Option<(String, u16)> {
    let name = path.file_name()?.to_str()?;
    let (block, index) = name.split_once('.')?;
    let hex = block.len() == 64 && block.bytes().all(|b| b.is_ascii_hexdigit());
    Some((block.to_owned(), index.parse().ok()?)).filter(|_| hex)
}

/// Ok when every block is healthy (all shards on live disks and, as the
/// census was verified, good) and no shard is recorded on `gone` nodes or on
/// unknown disks; else the census, for the failure message.
pub fn all_healthy(census: &Value, gone: &[&str]) -> Result<(), String> {
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
pub fn assert_disks_match(c: &TestCluster, census: &Value) {
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
pub fn shards_on(census: &Value, node: &str) -> u64 {
    census["shards_per_node"][node].as_u64().unwrap_or(0)
}

/// Zone of node `nI`: z1, z2, z3, z1, ...
pub fn zone_of(id: &str) -> String {
    let i: usize = id.trim_start_matches('n').parse().expect("node ids are nI");
    format!("z{}", (i - 1) % 3 + 1)
}

/// An etcd and the nodes on one prefix of it, by id (`n1`, `n2`, ...).
/// Node `n1` creates the secrets; every other node gets a copy first.
pub struct TestCluster {
    // Dropped first (killed), before etcd and the directory go.
    pub nodes: BTreeMap<String, Native>,
    pub etcd: TestEtcd,
    pub prefix: String,
    /// Flags every node gets besides etcd, id, zone, heal timing and block size.
    pub common: Vec<String>,
    pub dir: tempfile::TempDir,
    /// The CA of the nodes' admin certificates when their admin listeners
    /// speak TLS (the harness's admin requests then go over https).
    pub admin_ca: Option<PathBuf>,
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
    pub fn start(n: usize, common: &[&str]) -> TestCluster {
        let prefix = format!("/t-{:016x}/", rand::random::<u64>());
        TestCluster::on(TestEtcd::start(), &prefix, n, common)
    }

    /// Nodes n1..=n on `prefix` of an etcd the caller started (e.g. with TLS).
    pub fn on(etcd: TestEtcd, prefix: &str, n: usize, common: &[&str]) -> TestCluster {
        TestCluster::boot(etcd, prefix, n, common, None)
    }

    /// Nodes n1..=n whose admin listeners speak TLS with a certificate of
    /// `admin_ca` (their flags in `common`).
    pub fn with_admin_tls(n: usize, common: &[&str], admin_ca: &Path) -> TestCluster {
        let prefix = format!("/t-{:016x}/", rand::random::<u64>());
        TestCluster::boot(
            TestEtcd::start(),
            &prefix,
            n,
            common,
            Some(admin_ca.to_owned()),
        )
    }

    fn boot(
        etcd: TestEtcd,
        prefix: &str,
        n: usize,
        common: &[&str],
        admin_ca: Option<PathBuf>,
    ) -> TestCluster {
        let mut c = TestCluster {
            nodes: BTreeMap::new(),
            etcd,
            prefix: prefix.to_owned(),
            common: common.iter().map(|s| (*s).to_owned()).collect(),
            dir: tempfile::tempdir().expect("tempdir"),
            admin_ca,
        };
        for i in 1..=n {
            c.add(&format!("n{i}"));
        }
        c.wait_live(n);
        c
    }

    pub fn data(&self, id: &str) -> PathBuf {
        self.dir.path().join(id)
    }

    /// Start node `id` (with n1's secrets unless its data dir has some).
    pub fn add(&mut self, id: &str) {
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
        let mut node = TestNode::start(&data, &args);
        node.admin_ca = self.admin_ca.clone();
        assert_eq!(node.node_id, id, "ready file names the node");
        assert!(!node.cluster.is_empty(), "ready file names the shard API");
        self.nodes.insert(id.to_owned(), Native::wrap(node));
    }

    pub fn node(&self, id: &str) -> &Native {
        self.nodes
            .get(id)
            .unwrap_or_else(|| panic!("node {id} is not running"))
    }

    pub fn ids(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// SIGKILL a node.
    pub fn kill(&mut self, id: &str) {
        self.nodes.remove(id).expect("running node").node.kill();
    }

    /// SIGTERM a node; it must exit cleanly.
    pub fn stop(&mut self, id: &str) {
        let status = self.nodes.remove(id).expect("running node").node.stop();
        assert!(status.success(), "{id} exited with {status}");
    }

    pub fn admin(&self, id: &str, method: &str, path: &str) -> Resp {
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
    pub fn status(&self, id: &str) -> Value {
        self.admin(id, "GET", "/admin/cluster").json()
    }

    /// `GET /admin/blocks?verify=true` on `id` (reads every shard).
    pub fn census(&self, id: &str) -> Value {
        self.admin(id, "GET", "/admin/blocks?verify=true").json()
    }

    /// `POST /admin/heal` on every running node; their reports.
    pub fn heal_all(&self) -> Vec<Value> {
        self.ids()
            .iter()
            .map(|id| self.admin(id, "POST", "/admin/heal").json())
            .collect()
    }

    /// `POST /admin/scrub` on every running node; their reports.
    pub fn scrub_all(&self) -> Vec<Value> {
        self.ids()
            .iter()
            .map(|id| self.admin(id, "POST", "/admin/scrub").json())
            .collect()
    }

    /// Wait until every running node sees `n` live nodes.
    pub fn wait_live(&self, n: usize) {
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
    pub fn metric(&self, id: &str, name: &str) -> u64 {
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
    pub fn s3_within(&self, max_secs: u64, args: &[&str]) -> (u16, Vec<u8>) {
        let secs = max_secs.to_string();
        let mut all = vec!["-m", secs.as_str()];
        all.extend_from_slice(args);
        s3_curl(&self.data("n1"), &all)
    }

    pub fn url(&self, id: &str, key: &str) -> String {
        format!("http://{}/{BUCKET}/{key}", self.node(id).node.s3)
    }

    pub fn create_bucket(&self, id: &str) {
        let url = format!("http://{}/{BUCKET}", self.node(id).node.s3);
        let (status, body) = self.s3_within(60, &["-X", "PUT", &url]);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }

    /// PUT an object through `id` (max 60 s): the status.
    pub fn try_put(&self, id: &str, key: &str, bytes: &[u8], max_secs: u64) -> u16 {
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

    pub fn put_object(&self, id: &str, key: &str, bytes: &[u8]) {
        assert_eq!(
            self.try_put(id, key, bytes, 60),
            200,
            "PUT {key} through {id}"
        );
    }

    /// GET an object through `id`: it must be byte-identical to `bytes`.
    pub fn assert_object(&self, id: &str, key: &str, bytes: &[u8]) {
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
    pub fn assert_file(&self, id: &str, hash: &str, bytes: &[u8]) {
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
    pub fn node_cli(&self, id: &str, args: &[&str]) -> String {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_liuma"));
        cmd.arg("node")
            .args(args)
            .args(["--admin-url", &self.node(id).node.admin_url()])
            .arg("--admin-token-file")
            .arg(self.data(id).join("secrets/admin.token"))
            .env_remove("LIUMA_ADMIN_CA");
        if let Some(ca) = &self.admin_ca {
            cmd.arg("--admin-ca").arg(ca);
        }
        let out = cmd.output().expect("running liuma node");
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
pub fn layout(len: usize, k: u64, m: u64) -> (u64, u64, u64) {
    let blocks = len.div_ceil(BLOCK) as u64;
    let coded = (len / BLOCK) as u64 + u64::from(len % BLOCK >= 128 << 10);
    (blocks, coded, coded * (k + m) + (blocks - coded) * (m + 1))
}

/// Sum of [`layout`] over several lengths.
pub fn layout_all(lens: &[usize], k: u64, m: u64) -> (u64, u64, u64) {
    lens.iter().fold((0, 0, 0), |(b, c, s), &len| {
        let (b2, c2, s2) = layout(len, k, m);
        (b + b2, c + c2, s + s2)
    })
}
