//! The example upload page (`examples/native-upload`) in a real headless
//! Chromium: Debian's `chromium`, driven by puppeteer-core from
//! `tests/browser` (`npm ci` in `./scripts/test`; no browser is downloaded).
//! The test runs the real liuma binary, the example's `server.mjs` and a
//! fault proxy between the browser and liuma (`fault_proxy.rs`: cut, lost,
//! stalled and foreign chunks), lets `tests/browser/run.mjs` drive the page
//! and assert on what it shows, then checks through liuma what was stored
//! and which chunk uploads reached the network. Screenshots go to
//! `<target>/tmp/browser-screenshots/<test>/` (the path is printed).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::browser_common::{CHROMIUM, browser_dir, preflight};
use crate::fault_proxy::FaultProxy;
use crate::harness::TestNode;
use crate::http::request;
use crate::native::{Native, data, sha};

const MIB: usize = 1 << 20;

fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/native-upload")
}

/// Where one test's screenshots go (emptied first).
fn screenshots(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("browser-screenshots")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// liuma, the fault proxy in front of its native API, and the example
/// backend (which gives browsers the proxy's address).
struct Stack {
    native: Native,
    proxy: FaultProxy,
    backend: Child,
    /// The example backend's page, `http://127.0.0.1:port/`.
    page: String,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.backend.kill();
        let _ = self.backend.wait();
    }
}

fn start_stack(dir: &Path) -> Stack {
    // Missing tools fail the test: CI installs them (./scripts/test).
    preflight();
    let native = Native::wrap(TestNode::start(&dir.join("node"), &[]));
    let proxy = FaultProxy::start(&native.node.native);
    let mut backend = Command::new("node")
        .arg(example_dir().join("server.mjs"))
        .env("PORT", "0")
        .env("LIUMA_NATIVE", format!("http://{}", native.node.native))
        .env("LIUMA_PUBLIC_NATIVE", format!("http://{}", proxy.addr))
        .env("LIUMA_SYSTEM_TOKEN", &native.system)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("backend.log")).expect("backend log"),
        ))
        .spawn()
        .expect("running node examples/native-upload/server.mjs");
    // Its first line names the address it listens on.
    let stdout = backend.stdout.take().expect("backend stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the example backend did not start in 20 s");
    let page = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in the backend's first line: {line:?}"))
        .trim_end_matches(',')
        .to_owned()
        + "/";
    Stack {
        native,
        proxy,
        backend,
        page,
    }
}

/// A test file of `len` deterministic bytes.
struct TestFile {
    name: String,
    path: PathBuf,
    bytes: Vec<u8>,
    hash: String,
}

fn test_file(dir: &Path, name: &str, len: usize, seed: u64) -> TestFile {
    let bytes = data(len, seed);
    let path = dir.join(name);
    std::fs::write(&path, &bytes).expect("writing a test file");
    TestFile {
        name: name.to_owned(),
        path,
        hash: sha(&bytes),
        bytes,
    }
}

/// Run `run.mjs` on `scenarios`; returns its JSON result and how long it took.
fn run_browser(
    s: &Stack,
    test: &str,
    scenarios: &[&str],
    files: &[(&str, &TestFile)],
) -> serde_json::Value {
    let shots = screenshots(test);
    let files: serde_json::Map<String, serde_json::Value> = files
        .iter()
        .map(|(k, f)| {
            let v = serde_json::json!({
                "path": f.path, "hash": f.hash, "size": f.bytes.len(), "name": f.name,
            });
            ((*k).to_owned(), v)
        })
        .collect();
    let budget = Duration::from_secs(120);
    let spec = serde_json::json!({
        "page": s.page,
        "proxy": format!("http://{}", s.proxy.addr),
        "chromium": CHROMIUM,
        "shots": shots,
        "timeout_ms": budget.as_millis() as u64,
        "scenarios": scenarios,
        "files": files,
    });
    println!("browser screenshots: {}", shots.display());
    let out_dir = tempfile::tempdir().expect("temp dir");
    let (out, err) = (out_dir.path().join("stdout"), out_dir.path().join("stderr"));
    let started = Instant::now();
    let mut child = Command::new("node")
        .current_dir(browser_dir())
        .arg("run.mjs")
        .arg(spec.to_string())
        .env("PUPPETEER_SKIP_DOWNLOAD", "1")
        .stdout(Stdio::from(
            std::fs::File::create(&out).expect("stdout file"),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(&err).expect("stderr file"),
        ))
        .spawn()
        .expect("running node tests/browser/run.mjs");
    // run.mjs stops itself at its budget; this is the backstop.
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for node") {
            break status;
        }
        if started.elapsed() > budget + Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the browser test hung");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    println!(
        "browser test took {:.1} s:\n{stderr}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        status.success(),
        "the browser test failed (screenshots in {}):\n{stderr}\n{stdout}",
        shots.display()
    );
    serde_json::from_str(stdout.trim()).expect("run.mjs prints JSON")
}

/// The file is stored under its name, and its bytes come back.
fn assert_stored(n: &Native, f: &TestFile) {
    let info = n.backend("GET", &format!("/file?hash={}", f.hash));
    assert_eq!(info.status, 200, "{}", String::from_utf8_lossy(&info.body));
    assert_eq!(info.json()["name"], f.name.as_str());
    assert_eq!(info.json()["size"], f.bytes.len());
    let r = n.download(&f.hash, &[]);
    assert_eq!(r.status, 200);
    assert_eq!(sha(&r.body), f.hash, "{}: stored bytes differ", f.name);
}

/// The chunk numbers and proxy actions of the uploads seen for `f`.
fn seen(s: &Stack, f: &TestFile) -> Vec<(u32, String)> {
    s.proxy
        .seen(&f.hash)
        .into_iter()
        .map(|x| (x.chunk, x.action))
        .collect()
}

fn forwarded(seen: &[(u32, String)], chunk: u32) -> usize {
    seen.iter()
        .filter(|(c, a)| *c == chunk && a == "forward")
        .count()
}

#[test]
fn browser_upload_page_resumes_retries_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_stack(dir.path());
    let resume = test_file(dir.path(), "thirty MiB.bin", 30 * MIB, 61);
    let exhausted = test_file(dir.path(), "flaky.bin", 3 * MIB + 5, 62);
    let finish = test_file(dir.path(), "lost chunk.bin", 3 * MIB + 77, 63);
    let reload = test_file(dir.path(), "reload.bin", 6 * MIB, 64);
    let foreign = test_file(dir.path(), "foreign 报告.bin", 3 * MIB + 99, 65);
    // A poisoned session, placed through the API before the page starts:
    // chunk 0 is right, chunk 1 is another file's bytes of the same size.
    let t = s.native.upload_token(&foreign.hash);
    assert_eq!(s.native.chunk(&t, "0", &foreign.bytes[..MIB]).status, 200);
    assert_eq!(s.native.chunk(&t, "1", &data(MIB, 99)).status, 200);

    let out = run_browser(
        &s,
        "page",
        &[
            "sha",
            "resume",
            "exhausted",
            "finish",
            "reload",
            "foreign",
            "narrow",
        ],
        &[
            ("resume", &resume),
            ("exhausted", &exhausted),
            ("finish", &finish),
            ("reload", &reload),
            ("foreign", &foreign),
        ],
    );
    println!("{out:#}");
    for f in [&resume, &exhausted, &finish, &reload, &foreign] {
        assert_stored(&s.native, f);
    }
    // What reached the network (the proxy's view, not the page's).
    let a = seen(&s, &resume);
    assert!(a.contains(&(2, "kill".into())), "{a:?}");
    assert!(forwarded(&a, 2) >= 1, "chunk 2 resent: {a:?}");
    for c in [0, 1, 3, 4, 5, 6, 7] {
        assert_eq!(forwarded(&a, c), 1, "chunk {c} sent once: {a:?}");
    }
    let e = seen(&s, &exhausted);
    assert!(
        e.iter().filter(|(c, a)| *c == 1 && a == "kill").count() >= 3,
        "chunk 1 tried 1 + 2 retries: {e:?}"
    );
    let c = seen(&s, &finish);
    assert!(c.contains(&(1, "swallow".into())), "{c:?}");
    assert_eq!(forwarded(&c, 1), 1, "chunk 1 resent once by Retry: {c:?}");
    let d = seen(&s, &reload);
    for c in [0, 1, 2, 4, 5] {
        assert_eq!(
            forwarded(&d, c),
            1,
            "chunk {c} sent once across the reload: {d:?}"
        );
    }
    assert!(
        d.contains(&(3, "stall".into())) && forwarded(&d, 3) == 1,
        "{d:?}"
    );
    let f = seen(&s, &foreign);
    assert_eq!(
        forwarded(&f, 0),
        0,
        "the verified chunk 0 is not resent: {f:?}"
    );
    assert_eq!(
        forwarded(&f, 1),
        1,
        "the foreign chunk 1 is replaced: {f:?}"
    );
}

#[test]
fn browser_upload_page_aborts_sessions_of_another_chunk_size() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_stack(dir.path());
    let chunksize = test_file(dir.path(), "chunk size.bin", 3 * MIB + 11, 71);
    let conflict = test_file(dir.path(), "conflict.bin", 3 * MIB + 12, 72);
    let filesize = test_file(dir.path(), "file size.bin", 3 * MIB + 13, 73);
    // Another client started the session with 512 KiB chunks.
    let t = s.native.upload_token(&chunksize.hash);
    let size = chunksize.bytes.len();
    let r = request(
        &s.native.node.native,
        "POST",
        &format!("/upload/chunk?chunk=0&chunk_size=524288&size={size}"),
        &[
            ("token", t.as_str()),
            ("Content-Type", "application/octet-stream"),
        ],
        &chunksize.bytes[..512 * 1024],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(s.native.status(&t)["chunk_size"], 524_288);

    let out = run_browser(
        &s,
        "sessions",
        &["chunksize", "conflict", "filesize"],
        &[
            ("chunksize", &chunksize),
            ("conflict", &conflict),
            ("filesize", &filesize),
        ],
    );
    println!("{out:#}");
    for f in [&chunksize, &conflict, &filesize] {
        assert_stored(&s.native, f);
        // the session is gone: nothing parked
        let t = s.native.upload_token(&f.hash);
        assert_eq!(s.native.status(&t)["chunks"].as_array().unwrap().len(), 0);
    }
    for f in [&conflict, &filesize] {
        let c = seen(&s, f);
        assert_eq!(c[0], (0, "inject:200".to_owned()), "{c:?}");
        assert_eq!(
            forwarded(&c, 0),
            1,
            "chunk 0 sent again after the abort: {c:?}"
        );
    }
}
