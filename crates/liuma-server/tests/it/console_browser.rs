//! The web console in a real headless Chromium (Debian's `chromium`,
//! puppeteer-core from `tests/browser`; no browser is downloaded):
//! `tests/browser/console.mjs` signs in, creates a bucket, times a
//! 1 000-key listing, sorts a 3 000-key folder by size (the largest
//! objects, on S3's last page, first), previews text with markup in its metadata (shown as
//! text), uploads (one PUT, and a 20 MiB multipart upload cut
//! at part 3 then resumed after a page reload sending only part 3), checks
//! an `<img onerror>` key stays text, navigates into a folder, previews an
//! image, makes a share link and deletes with confirmation. This side
//! checks the stored bytes and fetches the share link with curl.
//! Screenshots (desktop and phone width): `<target>/console-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::browser_common::{CHROMIUM, PNG, browser_dir, console_shots, preflight};
use crate::console::{Client, enc};
use crate::harness::{TestNode, root_key, s3_curl};

const MIB: usize = 1 << 20;
fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 13) as u8)
        .collect()
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).expect("writing a test file");
    p
}

#[test]
fn console_in_chromium_signs_in_uploads_resumes_previews_and_shares() {
    preflight();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(&dir.path().join("n"), &[]);
    let (key, secret) = root_key(&n.data);
    // 1 000 keys for the listing measurement, made through the console API
    let c = Client::root(&n);
    assert_eq!(
        c.json("POST", "/api/buckets", serde_json::json!({"name": "many"}))
            .status,
        200
    );
    for i in 0..1000 {
        let path = format!(
            "/api/buckets/many/object?key={}",
            enc(&format!("k{i:05}.txt"))
        );
        assert_eq!(c.req("PUT", &path, b"x").status, 200);
    }
    // 3 000 keys (three S3 pages of 1 000): the five largest sort last by
    // name, so a page sorted by size shows them only if the whole folder
    // is sorted, not just the page loaded
    assert_eq!(
        c.json(
            "POST",
            "/api/buckets",
            serde_json::json!({"name": "sorted"})
        )
        .status,
        200
    );
    std::thread::scope(|t| {
        for part in 0..3 {
            let c = Client::root(&n);
            t.spawn(move || {
                for i in (part * 1000)..(part * 1000 + 1000) {
                    let len = if i >= 2995 { 5000 + i } else { i % 7 };
                    let path = format!("/api/buckets/sorted/object?key=k{i:05}");
                    assert_eq!(c.req("PUT", &path, &vec![b'x'; len]).status, 200);
                }
            });
        }
    });
    // metadata that would run script if it were put in the page as HTML
    let (st, body) = s3_curl(
        &n.data,
        &[
            "-X",
            "PUT",
            "--data-binary",
            "hello",
            "-H",
            "x-amz-meta-note: <img src=x onerror=alert(2)>",
            "-H",
            "content-type: text/plain",
            &format!("http://{}/many/a-meta.txt", n.s3),
        ],
    );
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let small = bytes(3 * MIB + 7, 1);
    let big = bytes(20 * MIB + 3, 2);
    let xss_name = "<img src=x onerror=alert(1)>";
    let shots = console_shots();
    println!("console screenshots: {}", shots.display());
    let spec = serde_json::json!({
        "console": format!("http://{}/", n.console),
        "key": key, "secret": secret,
        "chromium": CHROMIUM,
        "shots": shots,
        "timeout_ms": 150_000,
        "largest": ["k02999", "k02998", "k02997", "k02996", "k02995"],
        "files": {
            "small": write(&files, "small.bin", &small),
            "big": write(&files, "big.bin", &big),
            "png": write(&files, "pic.png", PNG),
            "xss": write(&files, xss_name, b"inert"),
            "xss_name": xss_name,
        },
    });
    let started = Instant::now();
    let out = Command::new("node")
        .current_dir(browser_dir())
        .arg("console.mjs")
        .arg(spec.to_string())
        .env("PUPPETEER_SKIP_DOWNLOAD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("running node tests/browser/console.mjs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!(
        "console browser test took {:.1} s:\n{stderr}\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success(),
        "the browser test failed:\n{stderr}\n{stdout}"
    );
    assert!(started.elapsed() < Duration::from_secs(180));
    let res: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON result");
    assert_eq!(res["ok"], true);
    assert!(
        res["list1000_ms"].as_u64().unwrap() < 1000,
        "1 000-key listing page in under 1 s: {res}"
    );
    // what the browser stored, read back through S3
    let (st, got) = s3_curl(&n.data, &[&format!("http://{}/e2e/big.bin", n.s3)]);
    assert_eq!(st, 200);
    assert_eq!(
        sha(&got),
        sha(&big),
        "big.bin stored intact after the resume"
    );
    let (st, _) = s3_curl(&n.data, &[&format!("http://{}/e2e/small.bin", n.s3)]);
    assert_eq!(st, 404, "small.bin was deleted from the page");
    // the share link works with plain curl (no credentials)
    let url = res["share_url"].as_str().unwrap();
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl");
    let body = out.stdout;
    let split = body.iter().rposition(|&b| b == b'\n').unwrap();
    assert_eq!(&body[split + 1..], b"200", "share link {url}");
    assert_eq!(&body[..split], PNG);
}
