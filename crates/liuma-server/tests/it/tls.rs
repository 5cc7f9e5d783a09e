//! TLS on the public listeners with the real binary: `liuma tls
//! self-signed` makes a CA and certificate, a node serves S3, native and
//! admin over https, and real clients (boto3, aws cli, rclone) trust the
//! CA. The Python side is `tests/s3/test_tls.py`: clients, plain HTTP on
//! the TLS port, and certificate rotation under load.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{TestNode, root_key};
use crate::s3::repo_root;

/// `liuma tls self-signed` into `out` for 127.0.0.1 and localhost; its serial line.
pub(crate) fn self_signed(out: &Path) -> String {
    self_signed_for(out, &["127.0.0.1", "localhost"])
}

/// `liuma tls self-signed` into `out` for `hosts`; its serial line.
pub(crate) fn self_signed_for(out: &Path, hosts: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_liuma"))
        .args(["tls", "self-signed"])
        .args(hosts.iter().flat_map(|h| ["--host", h]))
        .arg("--out")
        .arg(out)
        .output()
        .expect("running liuma tls self-signed");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    text.lines()
        .find_map(|l| l.strip_prefix("serial:"))
        .expect("a serial line")
        .trim()
        .to_owned()
}

fn tls_args(tls: &Path) -> Vec<String> {
    vec![
        "--tls-cert".into(),
        tls.join("server.pem").display().to_string(),
        "--tls-key".into(),
        tls.join("server-key.pem").display().to_string(),
        "--tls-reload-secs".into(),
        "1".into(),
    ]
}

#[test]
fn tls_s3_native_admin_over_https_with_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    self_signed(&tls);
    let data = dir.path().join("node");
    let args = tls_args(&tls);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let node = TestNode::start(&data, &args);
    let banner = std::fs::read_to_string(&node.stdout).unwrap();
    assert!(
        banner.contains(&format!("https://{}", node.s3)),
        "the banner shows the https endpoint:\n{banner}"
    );
    assert!(
        banner.contains(&format!("https://{}", node.admin)),
        "{banner}"
    );
    let (id, secret) = root_key(&data);
    let out = Command::new("python3")
        .args([
            "-m",
            "pytest",
            "-x",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_tls.py",
        ])
        .current_dir(repo_root().join("tests/s3"))
        .env("LIUMA_S3_ENDPOINT", format!("https://{}", node.s3))
        .env("LIUMA_ADMIN_URL", format!("https://{}", node.admin))
        .env("LIUMA_NATIVE_URL", format!("https://{}", node.native))
        .env("LIUMA_TLS_CA", tls.join("ca.pem"))
        .env("LIUMA_TLS_DIR", &tls)
        .env("LIUMA_NODE_LOG", data.join("stderr.log"))
        .env("AWS_ACCESS_KEY_ID", id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("LIUMA_BIN", env!("CARGO_BIN_EXE_liuma"))
        .env("TMPDIR", dir.path())
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("REQUESTS_CA_BUNDLE")
        .output()
        .expect("running python3 -m pytest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "test_tls.py failed\n{stdout}\n{}\n--- node log\n{}",
        String::from_utf8_lossy(&out.stderr),
        node.log()
    );
    println!("{stdout}");
    assert!(node.stop().success(), "clean exit over TLS");
}

/// Run `liuma server` expecting it to fail at start; its stderr.
fn start_fails(dir: &Path, extra: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_liuma"))
        .args(["server", "--data"])
        .arg(dir.join("node"))
        .args([
            "--admin-listen",
            "127.0.0.1:0",
            "--native-listen",
            "127.0.0.1:0",
        ])
        .args(["--s3-listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning liuma");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the node started despite a bad TLS file");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{err}");
    err
}

#[test]
fn tls_bad_files_at_start_are_clear_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    self_signed(&tls);
    let cert = tls.join("server.pem").display().to_string();
    let key = tls.join("server-key.pem").display().to_string();
    let bad = dir.path().join("bad-key.pem");
    std::fs::write(&bad, "-----BEGIN PRIVATE KEY-----\nnot base64\n").unwrap();
    let bad = bad.display().to_string();

    let err = start_fails(dir.path(), &["--tls-cert", &cert, "--tls-key", &bad]);
    assert!(err.contains(&bad), "names the key file: {err}");
    assert!(err.contains("TLS"), "{err}");

    // the CA's key is a valid key, but not this certificate's
    let ca_key = tls.join("ca-key.pem").display().to_string();
    let err = start_fails(dir.path(), &["--tls-cert", &cert, "--tls-key", &ca_key]);
    assert!(err.contains("does not match"), "{err}");

    let missing = dir.path().join("missing.pem").display().to_string();
    let err = start_fails(
        dir.path(),
        &["--s3-tls-cert", &missing, "--s3-tls-key", &key],
    );
    assert!(err.contains(&missing) && err.contains("s3"), "{err}");

    let err = start_fails(dir.path(), &["--tls-cert", &cert]);
    assert!(err.contains("certificate and a key"), "{err}");

    // the CA of peers' admin certificates: a missing or empty file, named
    let err = start_fails(dir.path(), &["--tls-ca", &missing]);
    assert!(err.contains(&missing) && err.contains("--tls-ca"), "{err}");
    let err = start_fails(dir.path(), &["--tls-ca", &key]);
    assert!(
        err.contains(&key) && err.contains("no CERTIFICATE"),
        "{err}"
    );
}

/// `curl` over https trusting `ca`: (exit code, headers and body).
fn curl_https(ca: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-s", "-i", "-m", "20", "--cacert"])
        .arg(ca)
        .args(args)
        .output()
        .expect("running curl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn tls_console_over_https_with_a_secure_session_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    self_signed(&tls);
    let data = dir.path().join("node");
    // the console's own pair (the other listeners stay plain)
    let cert = tls.join("server.pem").display().to_string();
    let key = tls.join("server-key.pem").display().to_string();
    let node = TestNode::start(
        &data,
        &["--console-tls-cert", &cert, "--console-tls-key", &key],
    );
    let banner = std::fs::read_to_string(&node.stdout).unwrap();
    assert!(
        banner.contains(&format!("console:  https://{}", node.console)),
        "{banner}"
    );
    assert!(banner.contains(&format!("http://{}", node.s3)), "{banner}");
    let ca = tls.join("ca.pem");
    let base = format!("https://{}", node.console);
    let (code, index) = curl_https(&ca, &[&format!("{base}/")]);
    assert_eq!(code, 0, "{index}");
    assert!(index.starts_with("HTTP/1.1 200"), "{index}");
    assert!(index.to_ascii_lowercase().contains("<html"), "{index}");
    let (id, secret) = root_key(&data);
    let body = format!(r#"{{"access_key":"{id}","secret":"{secret}"}}"#);
    let (code, login) = curl_https(
        &ca,
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data",
            &body,
            &format!("{base}/api/login"),
        ],
    );
    assert_eq!(code, 0, "{login}");
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    let cookie = login
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("a session cookie in:\n{login}"));
    assert!(cookie.contains("; Secure"), "{cookie}");
    // plain HTTP to the console's TLS port gets no page
    let plain = Command::new("curl")
        .args(["-s", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{}/", node.console))
        .output()
        .expect("curl");
    let status = String::from_utf8_lossy(&plain.stdout).into_owned();
    assert_ne!(status, "200", "plain HTTP must not reach the console");
    assert!(node.stop().success());
}
