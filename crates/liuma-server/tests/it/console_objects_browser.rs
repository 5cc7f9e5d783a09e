//! The console's bucket, object and upload pages in a real headless
//! Chromium (`tests/browser/objects.mjs`, puppeteer-core on Debian's
//! chromium): bucket usage (count, size) after uploads and deletes;
//! lifecycle, CORS and policy editors refusing invalid documents in the
//! server's words (nothing stored — checked here through S3); tags; the
//! versions of a key with an old one restored (content checked here);
//! previews of an image, text, a PDF and a video (Range seen); a dropped
//! folder keeping relative paths; pause/resume; a 200 MiB upload during
//! which this side SIGKILLs the server and restarts it on the same ports,
//! after which the page signs in again and finishes without re-sending a
//! stored part (content compared here); a second upload of the same file
//! shown as "already stored". Screenshots: `<target>/console-screenshots/objects-*`.
//!
//! The page asks for the kill and the restart on its stdout ("kill",
//! "restart") and waits for this side's answer on its stdin.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::browser_common::{CHROMIUM, PNG, browser_dir, console_shots, preflight};
use crate::harness::{TestNode, root_key, s3_curl};

const MIB: usize = 1 << 20;
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A node whose S3 and console listeners are on fixed ports, so that a
/// restarted node is the same origin to the page (its localStorage).
fn start_fixed(data: &Path, s3: u16, console: u16) -> TestNode {
    std::fs::create_dir_all(data).unwrap();
    let ready = data.join("ready.json");
    let _ = std::fs::remove_file(&ready);
    let log = |n: &str| Stdio::from(std::fs::File::create(data.join(n)).unwrap());
    let child = Command::new(env!("CARGO_BIN_EXE_liuma"))
        .args(["server", "--data"])
        .arg(data)
        .args(["--admin-listen", "127.0.0.1:0"])
        .args(["--native-listen", "127.0.0.1:0"])
        .args(["--s3-listen", &format!("127.0.0.1:{s3}")])
        .args(["--console-listen", &format!("127.0.0.1:{console}")])
        .args(["--cluster-listen", "127.0.0.1:0"])
        .arg("--ready-file")
        .arg(&ready)
        .stdout(log("stdout.log"))
        .stderr(log("stderr.log"))
        .spawn()
        .expect("spawning liuma");
    let deadline = Instant::now() + Duration::from_secs(30);
    let v = loop {
        if let Ok(t) = std::fs::read_to_string(&ready)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&t)
        {
            break v;
        }
        assert!(Instant::now() < deadline, "node did not become ready");
        std::thread::sleep(Duration::from_millis(50));
    };
    let f = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    TestNode {
        child,
        admin: f("admin"),
        native: f("native"),
        s3: f("s3"),
        cluster: f("cluster"),
        console: f("console"),
        node_id: f("node_id"),
        data: data.to_owned(),
        stdout: data.join("stdout.log"),
        admin_ca: None,
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 13) as u8)
        .collect()
}

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, data).expect("writing a test file");
    p
}

/// GET through S3 into memory: (status, body).
fn s3_get(n: &TestNode, path: &str) -> (u16, Vec<u8>) {
    s3_curl(&n.data, &[&format!("http://{}/{path}", n.s3)])
}

/// A tiny one-page PDF (hand-written; offsets need not be exact for viewers).
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n\
trailer<</Root 1 0 R>>\n%%EOF\n";

#[test]
fn console_objects_usage_editors_versions_previews_and_resumable_uploads_in_chromium() {
    preflight();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("n");
    let (s3_port, console_port) = (free_port(), free_port());
    let mut node = Some(start_fixed(&data, s3_port, console_port));
    let (key, secret) = root_key(&data);
    let files = dir.path().join("files");
    let big = pattern(200 * MIB + 5, 3);
    let big_sha = hex::encode(Sha256::digest(&big));
    let mid = pattern(40 * MIB + 1, 4);
    let shots = console_shots();
    let spec = serde_json::json!({
        "console": format!("http://127.0.0.1:{console_port}/"),
        "key": key, "secret": secret,
        "chromium": CHROMIUM,
        "shots": shots,
        "timeout_ms": 240_000,
        "files": {
            "png": write(&files, "pic.png", PNG),
            "text": write(&files, "notes.txt", b"first version\n"),
            "text2": write(&files, "v2/notes.txt", b"second version, longer\n"),
            "pdf": write(&files, "doc.pdf", PDF),
            "video_dir": files.join("video"),
            "mid": write(&files, "mid.bin", &mid),
            "big": write(&files, "big.bin", &big),
        },
    });
    drop(big);
    let started = Instant::now();
    let mut child = Command::new("node")
        .current_dir(browser_dir())
        .arg("objects.mjs")
        .arg(spec.to_string())
        .env("PUPPETEER_SKIP_DOWNLOAD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("running node tests/browser/objects.mjs");
    let mut to_page = child.stdin.take().unwrap();
    let from_page = BufReader::new(child.stdout.take().unwrap());
    let mut result = None;
    for line in from_page.lines() {
        let line = line.expect("reading the page's stdout");
        match line.trim() {
            "kill" => {
                node.take().expect("a running node").kill();
                writeln!(to_page, "killed").unwrap();
            }
            "restart" => {
                node = Some(start_fixed(&data, s3_port, console_port));
                writeln!(to_page, "restarted").unwrap();
            }
            l if l.starts_with('{') => result = Some(l.to_owned()),
            l => println!("[objects.mjs] {l}"),
        }
    }
    let status = child.wait().unwrap();
    println!(
        "objects browser test took {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        result.as_deref().unwrap_or("(no result)")
    );
    assert!(status.success(), "the browser test failed");
    let res: serde_json::Value =
        serde_json::from_str(result.as_deref().expect("a JSON result")).unwrap();
    assert_eq!(res["ok"], true, "{res}");
    let n = node.as_ref().expect("the node runs");

    // the invalid documents stored nothing; the valid CORS rule is there
    let (st, body) = s3_get(n, "media?lifecycle=");
    assert_eq!(st, 404, "{}", String::from_utf8_lossy(&body));
    let (st, _) = s3_get(n, "media?policy=");
    assert_eq!(st, 404);
    let (st, body) = s3_get(n, "media?cors=");
    assert_eq!(st, 200);
    assert!(String::from_utf8_lossy(&body).contains("https://app.example"));
    // tags edited in the page
    let (st, body) = s3_get(n, "media/notes.txt?tagging=");
    assert_eq!(st, 200);
    let tags = String::from_utf8_lossy(&body);
    assert!(
        tags.contains("<Key>team</Key>") && tags.contains("<Value>blue + green</Value>"),
        "{tags}"
    );
    // the old version restored over the key
    let (st, body) = s3_get(n, "media/notes.txt");
    assert_eq!(st, 200);
    assert_eq!(body, b"first version\n", "restored content");
    // the dropped folder kept its paths
    for (k, v) in [
        ("media/album/a.txt", &b"dropped a"[..]),
        ("media/album/sub/b.txt", b"dropped b"),
    ] {
        assert_eq!(s3_get(n, k), (200, v.to_vec()), "{k}");
    }
    assert_eq!(
        hex::encode(Sha256::digest(s3_get(n, "media/mid.bin").1)),
        hex::encode(Sha256::digest(&mid)),
        "paused and resumed upload intact"
    );
    // the 200 MiB upload across the kill and restart
    let out = dir.path().join("big.out");
    let (st, _) = s3_curl(
        &n.data,
        &[
            "-o",
            out.to_str().unwrap(),
            &format!("http://{}/media/big.bin", n.s3),
        ],
    );
    assert_eq!(st, 200);
    let got = std::fs::read(&out).unwrap();
    assert_eq!(hex::encode(Sha256::digest(&got)), big_sha, "big.bin intact");
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "took {:?}",
        started.elapsed()
    );
}
