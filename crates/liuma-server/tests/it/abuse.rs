//! A node that never hangs: clients that stall, never read, hold idle
//! connections or flood it with large transfers must not slow a normal
//! client by more than a second, and must not pin memory. Each scenario
//! starts a real node and real clients (raw sockets with presigned URLs
//! made by boto3, `curl --aws-sigv4`, `liuma bench`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{TestNode, root_key, s3_curl};

/// The sum of a metric's samples on the node's `/metrics` whose labels
/// contain `labels` (0 when absent).
fn metric(node: &TestNode, name: &str, labels: &str) -> u64 {
    let r = node.admin_req("GET", "/metrics");
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
        .filter(|(k, _)| k.contains(labels))
        .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Poll `cond` every 50 ms until it holds; panic with `what` and the node's
/// metrics after `limit`.
fn wait_until(node: &TestNode, what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        if started.elapsed() > limit {
            let r = node.admin_req("GET", "/metrics");
            panic!(
                "{what}: not within {limit:?}; metrics:\n{}",
                String::from_utf8_lossy(&r.body)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Start a node with `[limits]` from `limits_toml`.
fn node_with_limits(dir: &Path, limits_toml: &str) -> TestNode {
    std::fs::create_dir_all(dir).unwrap();
    let cfg = dir.join("liuma.toml");
    std::fs::write(&cfg, format!("[limits]\n{limits_toml}\n")).unwrap();
    TestNode::start(dir, &["--config", cfg.to_str().unwrap()])
}

/// A presigned URL (path and query) for `method` on bucket/key, by boto3.
fn presign(data: &Path, addr: &str, method: &str, bucket: &str, key: &str) -> String {
    let (id, secret) = root_key(data);
    let op = match method {
        "GET" => "get_object",
        "PUT" => "put_object",
        other => panic!("no presign for {other}"),
    };
    let script = format!(
        "import boto3\n\
         from botocore.config import Config\n\
         c = boto3.client('s3', endpoint_url='http://{addr}', aws_access_key_id='{id}',\n\
             aws_secret_access_key='{secret}', region_name='us-east-1',\n\
             config=Config(signature_version='s3v4', s3={{'addressing_style': 'path'}}))\n\
         print(c.generate_presigned_url('{op}', Params={{'Bucket': '{bucket}', 'Key': '{key}'}}, ExpiresIn=600))\n"
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("running python3 with boto3 (is it installed?)");
    assert!(
        out.status.success(),
        "presigning failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap();
    let url = url.trim();
    let path = url
        .strip_prefix(&format!("http://{addr}"))
        .unwrap_or_else(|| panic!("unexpected presigned URL {url}"));
    path.to_owned()
}

/// `s3_curl` that also measures how long it took.
fn timed_curl(data: &Path, args: &[&str]) -> (u16, Duration) {
    let t = Instant::now();
    let (status, _) = s3_curl(data, args);
    (status, t.elapsed())
}

/// A normal client: PUT a 1 MiB object (it needs a block buffer of the
/// budget, unlike an inline one), read it back; the slower of the two.
fn probe(node: &TestNode, file: &Path, key: &str) -> Duration {
    let url = format!("http://{}/abuse/{key}", node.s3);
    let (s, put) = timed_curl(
        &node.data,
        &["-m", "20", "-T", file.to_str().unwrap(), &url],
    );
    assert_eq!(s, 200, "probe PUT {key}");
    let (s, get) = timed_curl(&node.data, &["-m", "20", "-o", "/dev/null", &url]);
    assert_eq!(s, 200, "probe GET {key}");
    eprintln!("probe {key}: PUT {put:?}, GET {get:?}");
    put.max(get)
}

/// A connection that sent `head` (and maybe a little body) and then stops.
fn stall(addr: &str, head: &str, body: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    s
}

/// True when the server closed `s` (EOF or reset) within `within`; what
/// it sent before (an error response, buffered body bytes) is drained.
fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true, // reset
        }
    }
}

#[test]
fn stalled_uploads_and_non_reading_downloads_do_not_slow_a_normal_client() {
    let dir = tempfile::tempdir().unwrap();
    let node = node_with_limits(dir.path(), "body_timeout_secs = 5\nwrite_timeout_secs = 5");
    let data = dir.path();
    assert_eq!(
        s3_curl(data, &["-X", "PUT", &format!("http://{}/abuse", node.s3)]).0,
        200
    );
    let big = data.join("big.bin");
    std::fs::write(&big, vec![0x5au8; 32 << 20]).unwrap();
    let small = data.join("small.bin");
    std::fs::write(&small, vec![0x33u8; 1 << 20]).unwrap();
    let url = format!("http://{}/abuse/big", node.s3);
    assert_eq!(s3_curl(data, &["-T", big.to_str().unwrap(), &url]).0, 200);

    // Presigned first (a python process each), so that every stalled
    // client below starts at once and all stall together.
    let put_paths: Vec<String> = (0..16)
        .map(|i| presign(data, &node.s3, "PUT", "abuse", &format!("stalled-{i}")))
        .collect();
    let get_path = presign(data, &node.s3, "GET", "abuse", "big");
    // 16 uploads that send one byte of 8 MiB and stop.
    let mut stalled_puts = Vec::new();
    for path in &put_paths {
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
            node.s3,
            8 << 20
        );
        stalled_puts.push(stall(&node.s3, &head, b"x"));
    }
    // 16 downloads of 32 MiB that never read a byte.
    let mut deaf_gets = Vec::new();
    for _ in 0..16 {
        let head = format!("GET {get_path} HTTP/1.1\r\nHost: {}\r\n\r\n", node.s3);
        deaf_gets.push(stall(&node.s3, &head, b""));
    }
    // Every stalled client is being served (its connection open), and the
    // downloads had a moment to fill what they can.
    wait_until(
        &node,
        "32 stalled connections open",
        Duration::from_secs(10),
        || metric(&node, "connections_open", "\"s3\"") >= 32,
    );
    std::thread::sleep(Duration::from_millis(300));

    // Pinned permits would make every probe wait for the stalled clients'
    // 5 s deadline (or curl's 20 s); a loaded CI machine makes one probe
    // slow now and then (1.5 s seen on a 2-core runner running other
    // tests), so the typical probe is held to 1 s and the worst to 3 s,
    // still well before any stalled client is cut.
    let mut took: Vec<Duration> = (0..5)
        .map(|i| probe(&node, &small, &format!("probe-{i}")))
        .collect();
    took.sort();
    let (median, worst) = (took[2], took[4]);
    assert!(
        median < Duration::from_secs(1) && worst < Duration::from_secs(3),
        "a normal client took {median:?} (median), {worst:?} (worst) next to stalled clients; log {}",
        data.join("stderr.log").display()
    );

    // The stalled uploads are cut by the body deadline (5 s) and stored nothing.
    for s in &mut stalled_puts {
        assert!(
            closed_by_server(s, Duration::from_secs(10)),
            "a stalled upload's connection is still open"
        );
    }
    for i in 0..16 {
        let (status, _) = s3_curl(
            data,
            &["-I", &format!("http://{}/abuse/stalled-{i}", node.s3)],
        );
        assert_eq!(status, 404, "stalled-{i} must not exist");
    }
    // The deaf downloads are cut by the write deadline (5 s); reading
    // before then would wake them up, so the server's count of cut
    // connections (16 uploads, 16 downloads) says when.
    wait_until(
        &node,
        "32 connections cut by a deadline",
        Duration::from_secs(15),
        || metric(&node, "connection_timeouts", "\"s3\"") >= 32,
    );
    for s in &mut deaf_gets {
        // never read before: what arrives now is what the kernel buffered
        assert!(
            closed_by_server(s, Duration::from_secs(12)),
            "a download that never read is still open"
        );
    }
    // And the big object is intact.
    let (status, body) = s3_curl(data, &[&url]);
    assert_eq!(status, 200);
    assert_eq!(body.len(), 32 << 20);
    assert!(body.iter().all(|&b| b == 0x5a));
}

/// Run `liuma bench` in the background against `node`.
fn bench_bg(node: &TestNode, args: &[&str]) -> Child {
    let (id, secret) = root_key(&node.data);
    Command::new(env!("CARGO_BIN_EXE_liuma"))
        .arg("bench")
        .args(["--endpoint", &format!("http://{}", node.s3)])
        .args(["--access-key", &id])
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .args(["--bucket", "load", "--json", "--quiet"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting liuma bench")
}

/// Wait for `child` at most until `deadline`; its JSON report.
fn finish(mut child: Child, deadline: Instant, what: &str) -> serde_json::Value {
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not finish in time: the node hangs");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: no JSON report ({e})\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The reproduction of the old node-wide deadlock, CI-sized: 64 concurrent
/// large GETs and 16 large PUTs all finish, and a small PUT from another
/// client answers within a second meanwhile. (bench/abuse.sh runs the full
/// 64 × 64 MiB size.)
#[test]
fn many_large_gets_and_puts_finish_while_a_small_put_answers() {
    let dir = tempfile::tempdir().unwrap();
    let node = node_with_limits(dir.path(), "");
    let data = dir.path();
    assert_eq!(
        s3_curl(data, &["-X", "PUT", &format!("http://{}/abuse", node.s3)]).0,
        200
    );
    let small = data.join("small.bin");
    std::fs::write(&small, vec![0x33u8; 1 << 20]).unwrap();

    let gets = bench_bg(
        &node,
        &[
            "-w",
            "get",
            "--size",
            "16MiB",
            "-c",
            "64",
            "--ops",
            "128",
            "--objects",
            "16",
        ],
    );
    let puts = bench_bg(
        &node,
        &["-w", "put", "--size", "16MiB", "-c", "16", "--ops", "32"],
    );
    // Probe once the load is on: the memory budget all taken or queued for.
    wait_until(
        &node,
        "the load holds the memory budget",
        Duration::from_secs(30),
        || metric(&node, "budget_free_blocks", "") == 0 || metric(&node, "budget_waiting", "") > 0,
    );
    let mut worst = Duration::ZERO;
    let mut probes = 0;
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut gets = Some(gets);
    let mut puts = Some(puts);
    let mut reports = Vec::new();
    while gets.is_some() || puts.is_some() {
        if probes < 20 {
            worst = worst.max(probe(&node, &small, &format!("probe-{probes}")));
            probes += 1;
        } else {
            std::thread::sleep(Duration::from_millis(200));
        }
        for (slot, what) in [(&mut gets, "64 GETs"), (&mut puts, "16 PUTs")] {
            if let Some(c) = slot
                && c.try_wait().unwrap().is_some()
            {
                reports.push((what, finish(slot.take().unwrap(), deadline, what)));
            }
        }
        assert!(
            Instant::now() < deadline,
            "the load did not finish: the node hangs"
        );
    }
    for (what, r) in &reports {
        assert_eq!(r["total"]["errors"], 0, "{what}: {r:#}");
    }
    assert!(probes >= 3, "only {probes} probes ran during the load");
    // The target is 1 s for the release binary (bench/abuse.sh measures
    // it). This is the debug binary on a 2-core machine that also runs the
    // 80 load clients, where CPU alone stretches a 1 MiB PUT to ~1 s; the
    // hang this guards against took 30 s and more.
    let max = Duration::from_millis(
        std::env::var("LIUMA_PROBE_MAX_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000),
    );
    assert!(
        worst < max,
        "a small PUT took {worst:?} during the load ({probes} probes)"
    );
}

#[test]
fn idle_and_slow_connections_are_bounded_and_refused_clearly() {
    // The test process itself needs > 2000 descriptors.
    raise_own_fd_limit(8192);
    let dir = tempfile::tempdir().unwrap();
    let node = node_with_limits(
        dir.path(),
        "max_connections = 2100\nheader_timeout_secs = 30",
    );
    let data = dir.path();
    // 2000 idle connections do not stop service.
    let idle: Vec<TcpStream> = (0..2000)
        .map(|_| TcpStream::connect(&node.s3).unwrap())
        .collect();
    let (status, took) = timed_curl(data, &["-m", "5", &format!("http://{}/", node.s3)]);
    assert_eq!(status, 200, "ListBuckets next to 2000 idle connections");
    assert!(took < Duration::from_secs(1), "took {took:?}");

    // Over the limit: a clear 503 with Retry-After, at once.
    let extra: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(&node.s3).unwrap())
        .collect();
    let mut over = TcpStream::connect(&node.s3).unwrap();
    over.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(over, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = over.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    assert!(answer.contains("Retry-After: 1"), "{answer:?}");

    drop(idle);
    drop(extra);
    drop(node);

    // With short deadlines: connections that never send a request are
    // closed after the header timeout, and service comes back for everyone.
    let dir = tempfile::tempdir().unwrap();
    let node = node_with_limits(
        dir.path(),
        "max_connections = 50\nheader_timeout_secs = 1\nidle_timeout_secs = 2",
    );
    let data = dir.path();
    let mut silent: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(&node.s3).unwrap())
        .collect();
    let (status, _) = timed_curl(data, &["-m", "5", &format!("http://{}/", node.s3)]);
    assert_eq!(status, 503, "the 51st connection is refused");
    for s in &mut silent {
        assert!(
            closed_by_server(s, Duration::from_secs(5)),
            "a connection that never sent a request is still open"
        );
    }
    let (status, _) = timed_curl(data, &["-m", "5", &format!("http://{}/", node.s3)]);
    assert_eq!(
        status, 200,
        "service is back once the silent connections are gone"
    );

    // Slowloris: a head sent a byte at a time is cut at the header timeout.
    let mut slow = TcpStream::connect(&node.s3).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let started = Instant::now();
    let mut closed = false;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(250));
        if slow.write_all(b"X").is_err() {
            closed = true;
            break;
        }
    }
    let mut buf = [0u8; 16];
    slow.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    closed |= matches!(slow.read(&mut buf), Ok(0) | Err(_));
    assert!(closed, "a trickled head kept its connection");
    let cut = started.elapsed();
    assert!(
        cut > Duration::from_millis(750) && cut < Duration::from_secs(5),
        "{cut:?}"
    );

    // An idle keep-alive connection is closed after the idle timeout (2 s).
    let mut ka = TcpStream::connect(&node.s3).unwrap();
    write!(ka, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    ka.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let t = Instant::now();
    loop {
        match ka.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let lasted = t.elapsed();
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 "),
        "a response came first"
    );
    assert!(
        lasted >= Duration::from_millis(1500) && lasted < Duration::from_secs(6),
        "keep-alive closed after {lasted:?}"
    );
}

fn raise_own_fd_limit(want: u64) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current.is_some_and(|c| c < want) {
        lim.current = Some(lim.maximum.map_or(want, |m| m.min(want)));
        setrlimit(Resource::Nofile, lim).expect("raising the test's open-files limit");
    }
}

/// The server bounds glibc's malloc arenas (peak RSS, see BENCHMARKS.md)
/// by re-executing itself with `MALLOC_ARENA_MAX=2`, unless the operator
/// set the variable.
#[test]
fn the_server_runs_with_two_malloc_arenas_unless_told_otherwise() {
    let environ = |node: &TestNode| {
        let raw = std::fs::read(format!("/proc/{}/environ", node.child.id())).unwrap();
        String::from_utf8_lossy(&raw)
            .split('\0')
            .filter(|v| v.starts_with("MALLOC_ARENA_MAX="))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path(), &[]);
    assert_eq!(environ(&node), ["MALLOC_ARENA_MAX=2"]);
    drop(node);
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start_env(dir.path(), &[], &[("MALLOC_ARENA_MAX", "8")]);
    assert_eq!(environ(&node), ["MALLOC_ARENA_MAX=8"]);
}
