//! The console's cluster and access pages in a real headless Chromium
//! (Debian's `chromium`, puppeteer-core from `tests/browser`; no browser is
//! downloaded): `tests/browser/cluster.mjs`. On one node: admin sign-in,
//! the node, live charts with points while this side makes S3 traffic,
//! drain/undrain, a user and a key whose secret is shown once, a policy,
//! the key disabled (this side then checks S3 refuses it), a backend
//! credential. On a 3-node cluster (etcd started here): every node listed,
//! the whole cluster's charts (and n1's) showing the S3 traffic sent to n1
//! while n2 serves the page, one node SIGKILLed and shown down with its
//! charts "no data" (the page answering meanwhile), the census degraded,
//! then healthy after the heal. Screenshots (desktop and phone width):
//! `<target>/console-screenshots/`.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::browser_common::{CHROMIUM, browser_dir, console_shots, preflight};
use crate::cluster::common::TestCluster;
use crate::harness::{TestNode, root_key, s3_curl};

/// `node cluster.mjs <spec>` with stdin and stdout piped.
fn spawn_script(spec: &serde_json::Value) -> std::process::Child {
    Command::new("node")
        .current_dir(browser_dir())
        .arg("cluster.mjs")
        .arg(spec.to_string())
        .env("PUPPETEER_SKIP_DOWNLOAD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running node tests/browser/cluster.mjs")
}

/// The script's stdout lines, read on a thread (so waits have deadlines).
fn lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// Wait for the script to end (within `limit`): its result line.
fn finish(
    mut child: std::process::Child,
    rx: &std::sync::mpsc::Receiver<String>,
    limit: Duration,
) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => last = l,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the browser test took over {limit:?}");
        }
    }
    let status = child.wait().expect("waiting for node");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    println!("cluster browser test:\n{err}\n{last}");
    assert!(status.success(), "the browser test failed:\n{err}\n{last}");
    let res: serde_json::Value = serde_json::from_str(last.trim()).expect("JSON result");
    assert_eq!(res["ok"], true, "{res}");
    res
}

/// `curl` signed as `id`/`secret`: the HTTP status.
fn s3_status_as(id: &str, secret: &str, url: &str) -> u16 {
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--aws-sigv4", "aws:amz:us-east-1:s3"])
        .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
        .args(["--user", &format!("{id}:{secret}")])
        .arg(url)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Stops the traffic thread when the test ends, passed or not.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn console_cluster_and_access_pages_in_chromium() {
    preflight();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(&dir.path().join("n"), &[]);
    let (key, secret) = root_key(&n.data);
    let (st, _) = s3_curl(&n.data, &["-X", "PUT", &format!("http://{}/traffic", n.s3)]);
    assert_eq!(st, 200);
    // S3 traffic while the page watches its charts: puts, gets and 404s
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_drop = StopOnDrop(stop.clone());
    let traffic = {
        let (stop, data, s3) = (stop.clone(), n.data.clone(), n.s3.clone());
        // incompressible, and 20 different objects: the bytes chart shows
        // erasure coding's overhead and dedup's saving on the repeats
        let files: Vec<PathBuf> = (0..20u8)
            .map(|i| {
                let f = dir.path().join(format!("obj{i}"));
                std::fs::write(&f, crate::cluster::common::random(300 << 10)).unwrap();
                f
            })
            .collect();
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) && i < 2000 {
                let url = format!("http://{s3}/traffic/o{}", i % 20);
                let file = &files[i % 20];
                s3_curl(&data, &["-m", "5", "-T", file.to_str().unwrap(), &url]);
                s3_curl(&data, &["-m", "5", "-o", "/dev/null", &url]);
                s3_curl(&data, &["-m", "5", &format!("http://{s3}/traffic/missing")]);
                i += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let shots = console_shots();
    println!("console screenshots: {}", shots.display());
    let spec = serde_json::json!({
        "mode": "single",
        "console": format!("http://{}/", n.console),
        "token": TestNode::admin_token(&n.data),
        "key": key, "secret": secret,
        "chromium": CHROMIUM,
        "shots": shots,
        "timeout_ms": 150_000,
    });
    let mut child = spawn_script(&spec);
    let rx = lines(&mut child);
    let res = finish(child, &rx, Duration::from_secs(170));
    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
    // the key the page made, then disabled: refused by S3
    let (id, sk) = (
        res["key_id"].as_str().unwrap(),
        res["key_secret"].as_str().unwrap(),
    );
    let url = format!("http://{}/", n.s3);
    assert_eq!(s3_status_as(id, sk, &url), 403, "a disabled key is refused");
    let keys = n.admin_req("GET", "/admin/users/carol/keys").json();
    assert_eq!(keys[0]["id"], id);
    assert_eq!(keys[0]["disabled"], true);
    // enabled again (admin API), the page's policy lets it list buckets
    let auth = format!("Bearer {}", TestNode::admin_token(&n.data));
    let r = crate::http::request(
        &n.admin,
        "POST",
        &format!("/admin/users/carol/keys/{id}/enable"),
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        s3_status_as(id, sk, &url),
        200,
        "the key and policy the page made work"
    );
    assert!(
        !res["policy_error"].as_str().unwrap().is_empty(),
        "a bad policy's error shown: {res}"
    );
    // the page's backend credential is revoked
    let list = n.admin_req("GET", "/admin/backends").json();
    let b = list
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == res["backend"])
        .expect("the credential the page made");
    assert!(b["revoked_ms"].is_u64(), "{b}");
    assert_eq!(b["generation"], 1, "rotated once: {b}");
    assert_eq!(
        n.admin_req("GET", "/admin/cluster").json()["nodes"][0]["draining"],
        false
    );
}

#[test]
fn console_cluster_page_of_three_nodes_shows_a_killed_node_down_then_heals() {
    preflight();
    let mut c = TestCluster::start(3, &["--erasure", "2+2", "--lease-ttl-secs", "3"]);
    c.create_bucket("n1");
    for i in 0..4 {
        c.put_object(
            "n1",
            &format!("o{i}"),
            &crate::cluster::common::random(1 << 20),
        );
    }
    let shots = console_shots();
    // S3 traffic to n1 only: n2's page shows it in the whole cluster's
    // charts (and n1's), fetched from n1's admin API
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_drop = StopOnDrop(stop.clone());
    let traffic = {
        let n1 = &c.node("n1").node;
        let (stop, data) = (stop.clone(), n1.data.clone());
        let urls: Vec<String> = (0..4).map(|i| c.url("n1", &format!("o{i}"))).collect();
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) && i < 5000 {
                // (a GET may fail while n3 is being found down: traffic all the same)
                s3_curl(&data, &["-m", "5", "-o", "/dev/null", &urls[i % 4]]);
                i += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    // any node serves the page: n2's
    let n2 = &c.node("n2").node;
    let spec = serde_json::json!({
        "mode": "cluster",
        "console": format!("http://{}/", n2.console),
        "token": TestNode::admin_token(&n2.data),
        "nodes": ["n1", "n2", "n3"],
        "kill": "n3",
        "busy": "n1",
        "chromium": CHROMIUM,
        "shots": shots,
        "timeout_ms": 240_000,
    });
    let mut child = spawn_script(&spec);
    let rx = lines(&mut child);
    let line = rx
        .recv_timeout(Duration::from_secs(90))
        .expect("the page lists the 3 nodes (or the script failed)");
    if !line.contains("\"kill\"") {
        let _ = child.kill();
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        panic!("the browser test failed before the kill:\n{err}\n{line}");
    }
    // The drain may have moved every shard off n3 before the undrain (it
    // takes a second or two): new objects put shards on it again (2+2 over
    // three nodes gives every node a shard of each block), so the kill
    // leaves blocks degraded for the census to show.
    for i in 0..2 {
        c.put_object(
            "n1",
            &format!("after-undrain-{i}"),
            &crate::cluster::common::random(1 << 20),
        );
    }
    c.kill("n3");
    let mut stdin = child.stdin.take().expect("piped stdin");
    writeln!(stdin, "killed").unwrap();
    drop(stdin);
    let res = finish(child, &rx, Duration::from_secs(250));
    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
    println!("n3 shown down after {} ms", res["down_after_ms"]);
    println!(
        "charts: whole cluster {}, n1 {}, n2 (serving, no S3 traffic) {}; after the kill: {}; slowest charts request {} ms",
        res["chart_cluster"],
        res["chart_busy"],
        res["chart_here"],
        res["chart_nodes_after_kill"],
        res["slowest_charts_ms"]
    );
    assert_eq!(res["healed"], true);
}
