//! POST Object (browser-based uploads, issue #15) against the real binary:
//! forms with bad policies sent by curl (each refusal's status, code and
//! reason, and nothing stored), a 200 MiB upload whose peak RSS is measured
//! (the file streams into the engine, it is never held whole), and an
//! upload from a real page in headless Chromium (Debian's `chromium`,
//! driven by `tests/browser/post.mjs` with puppeteer-core). The forms are
//! signed here with the process tests' own SigV4 pieces (`backend.rs`),
//! which share no code with the server.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::backend::{amz_date, hex, hmac, now};
use crate::browser_common::{CHROMIUM, browser_dir, preflight};
use crate::harness::{TestNode, root_key, s3_curl};

/// Form fields in order: (name, value).
type Fields = Vec<(String, String)>;

/// A signed POST form for `policy` (a JSON document): the fields a page
/// would carry, `extra` first.
fn signed_form(data: &Path, policy: &str, extra: &[(&str, &str)]) -> Fields {
    let (id, secret) = root_key(data);
    let date = amz_date(now());
    let day = &date[..8];
    let credential = format!("{id}/{day}/us-east-1/s3/aws4_request");
    let policy = policy
        .replace("$CREDENTIAL", &credential)
        .replace("$DATE", &date);
    let b64 = base64_simd::STANDARD.encode_to_string(policy.as_bytes());
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), day.as_bytes());
    for part in ["us-east-1", "s3", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex(&hmac(&key, b64.as_bytes()));
    let mut fields: Fields = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    for (k, v) in [
        ("x-amz-algorithm", "AWS4-HMAC-SHA256".to_owned()),
        ("x-amz-credential", credential),
        ("x-amz-date", date),
        ("policy", b64),
        ("x-amz-signature", signature),
    ] {
        fields.push((k.to_owned(), v));
    }
    fields
}

/// ISO 8601 of `secs` from now (the policy's `expiration`).
fn expiration(secs: i64) -> String {
    let t = now().saturating_add_signed(secs);
    let d = amz_date(t);
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &d[9..11],
        &d[11..13],
        &d[13..15]
    )
}

/// A policy for `bucket` expiring in `secs`, with `conditions` added to the
/// signing ones.
fn policy(bucket: &str, secs: i64, conditions: &str) -> String {
    format!(
        r#"{{"expiration": "{}", "conditions": [{{"bucket": "{bucket}"}}, {{"x-amz-algorithm": "AWS4-HMAC-SHA256"}}, {{"x-amz-credential": "$CREDENTIAL"}}, {{"x-amz-date": "$DATE"}}{conditions}]}}"#,
        expiration(secs)
    )
}

/// POST a form with curl (`--form-string`: values taken literally) and the
/// file at `file` last; (status, body).
fn curl_post(url: &str, fields: &[(String, String)], file: &Path) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-m", "300", "-w", "\n%{http_code}"]);
    for (k, v) in fields {
        cmd.args(["--form-string", &format!("{k}={v}")]);
    }
    cmd.args(["-F", &format!("file=@{}", file.display()), url]);
    let out = cmd.output().expect("running curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("curl prints the status last");
    (
        status.trim().parse().expect("numeric status"),
        body.to_owned(),
    )
}

/// The text of element `t` in an XML answer, entities decoded.
fn tag(body: &str, t: &str) -> String {
    body.split(&format!("<{t}>"))
        .nth(1)
        .and_then(|s| s.split(&format!("</{t}>")).next())
        .unwrap_or("")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Keys of a bucket (ListObjectsV2 through curl).
fn listing(data: &Path, s3: &str, bucket: &str) -> Vec<String> {
    let (st, body) = s3_curl(data, &[&format!("http://{s3}/{bucket}?list-type=2")]);
    assert_eq!(st, 200);
    let body = String::from_utf8_lossy(&body).into_owned();
    body.split("<Key>")
        .skip(1)
        .filter_map(|s| s.split("</Key>").next())
        .map(str::to_owned)
        .collect()
}

fn start(dir: &Path) -> (TestNode, String) {
    let node = TestNode::start(&dir.join("node"), &[]);
    let bucket = "posts".to_owned();
    let (st, _) = s3_curl(
        &node.data,
        &["-X", "PUT", &format!("http://{}/{bucket}", node.s3)],
    );
    assert_eq!(st, 200);
    (node, bucket)
}

#[test]
fn s3_post_object_bad_policies_with_curl() {
    let dir = tempfile::tempdir().unwrap();
    let (node, bucket) = start(dir.path());
    let url = format!("http://{}/{bucket}", node.s3);
    let file = dir.path().join("small.txt");
    std::fs::write(&file, b"0123456789abcdef").unwrap();
    let key_cond = r#", ["starts-with", "$key", "up/"]"#;
    let d = &node.data;
    // (fields, status, code, message)
    let cases: Vec<(Fields, u16, &str, &str)> = vec![
        (
            signed_form(d, &policy(&bucket, -1, key_cond), &[("key", "up/a")]),
            403,
            "AccessDenied",
            "Invalid according to Policy: Policy expired.",
        ),
        (
            signed_form(d, &policy(&bucket, 600, key_cond), &[("key", "down/a")]),
            403,
            "AccessDenied",
            r#"Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "up/"]"#,
        ),
        (
            signed_form(
                d,
                &policy(&bucket, 600, key_cond),
                &[("key", "up/a"), ("Content-Type", "text/html")],
            ),
            403,
            "AccessDenied",
            "Invalid according to Policy: Extra input fields: content-type",
        ),
        (
            signed_form(
                d,
                &policy(
                    &bucket,
                    600,
                    r#", ["starts-with", "$key", ""], ["content-length-range", 1, 15]"#,
                ),
                &[("key", "up/a")],
            ),
            400,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size of 15 bytes",
        ),
        (
            signed_form(
                d,
                &policy(
                    &bucket,
                    600,
                    r#", ["starts-with", "$key", ""], ["content-length-range", 17, 100]"#,
                ),
                &[("key", "up/a")],
            ),
            400,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size of 17 bytes",
        ),
        (
            signed_form(
                d,
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["nope", "$key", "x"]]}"#,
                &[("key", "up/a")],
            ),
            400,
            "InvalidPolicyDocument",
            "Invalid Policy: invalid condition format",
        ),
        (
            signed_form(d, "not json at all", &[("key", "up/a")]),
            400,
            "InvalidPolicyDocument",
            "",
        ),
    ];
    for (fields, status, code, message) in &cases {
        let (st, body) = curl_post(&url, fields, &file);
        assert_eq!(
            (st, tag(&body, "Code").as_str()),
            (*status, *code),
            "{fields:?}: {body}"
        );
        if !message.is_empty() {
            assert_eq!(tag(&body, "Message"), *message, "{body}");
        }
    }
    // a signature over another policy
    let mut fields = signed_form(d, &policy(&bucket, 600, key_cond), &[("key", "up/a")]);
    let other = signed_form(d, &policy(&bucket, 601, key_cond), &[]);
    fields.retain(|(k, _)| k != "x-amz-signature");
    fields.push(other.last().unwrap().clone());
    let (st, body) = curl_post(&url, &fields, &file);
    assert_eq!(
        (st, tag(&body, "Code").as_str()),
        (403, "SignatureDoesNotMatch"),
        "{body}"
    );
    assert!(listing(d, &node.s3, &bucket).is_empty());
    // and the same form done right
    let fields = signed_form(
        d,
        &policy(
            &bucket,
            600,
            &format!("{key_cond}, {{\"success_action_status\": \"201\"}}"),
        ),
        &[("key", "up/${filename}"), ("success_action_status", "201")],
    );
    let (st, body) = curl_post(&url, &fields, &file);
    assert_eq!(st, 201, "{body}");
    assert_eq!(tag(&body, "Key"), "up/small.txt");
    assert_eq!(listing(d, &node.s3, &bucket), vec!["up/small.txt"]);
}

/// Peak resident memory of a process (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// A file of `len` pseudo-random bytes (incompressible, no duplicate blocks).
fn random_file(path: &Path, len: usize) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..len / buf.len() {
        for c in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&buf).unwrap();
    }
    f.flush().unwrap();
}

#[test]
fn s3_post_object_200_mib_streams() {
    const SIZE: usize = 200 << 20;
    let dir = tempfile::tempdir().unwrap();
    let (node, bucket) = start(dir.path());
    let file = dir.path().join("big.bin");
    random_file(&file, SIZE);
    let before = peak_rss(node.child.id());
    let fields = signed_form(
        &node.data,
        &policy(
            &bucket,
            600,
            r#", ["eq", "$key", "big.bin"], ["content-length-range", 0, 314572800]"#,
        ),
        &[("key", "big.bin")],
    );
    let url = format!("http://{}/{bucket}", node.s3);
    let (st, body) = curl_post(&url, &fields, &file);
    assert_eq!(st, 204, "{body}");
    let after = peak_rss(node.child.id());
    println!(
        "POST Object of 200 MiB: node peak RSS {} MiB before, {} MiB after",
        before >> 20,
        after >> 20
    );
    let (st, head) = s3_curl(
        &node.data,
        &["-I", &format!("http://{}/{bucket}/big.bin", node.s3)],
    );
    assert_eq!(st, 200);
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.contains(&format!("content-length: {SIZE}")), "{head}");
    // The engine holds at most its block budget (14 x 4 MiB) plus the
    // transport's buffers; a buffered file would add 200 MiB.
    assert!(
        after < before + (120 << 20),
        "peak RSS grew from {before} to {after} bytes"
    );
    std::fs::remove_file(&file).unwrap();
}

/// A page with an upload form whose fields come from a signed POST policy,
/// a file picked with the file input, submitted by a real browser; the
/// object read back and compared.
#[test]
fn s3_post_object_from_headless_chromium() {
    preflight();
    let dir = tempfile::tempdir().unwrap();
    let (node, bucket) = start(dir.path());
    let file = dir.path().join("photo 1.bin");
    random_file(&file, 3 << 20);
    let fields = signed_form(
        &node.data,
        &policy(
            &bucket,
            600,
            r#", ["starts-with", "$key", "user/"], {"success_action_status": "201"}, ["starts-with", "$Content-Type", ""], ["content-length-range", 1, 10485760]"#,
        ),
        &[
            ("key", "user/${filename}"),
            ("success_action_status", "201"),
            ("Content-Type", "application/octet-stream"),
        ],
    );
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">\n",
                v.replace('&', "&amp;").replace('"', "&quot;")
            )
        })
        .collect();
    let page = dir.path().join("upload.html");
    std::fs::write(
        &page,
        format!(
            "<!doctype html><html><body><h1>Upload to {bucket}</h1>\n<form action=\"http://{}/{bucket}\" method=\"post\" enctype=\"multipart/form-data\">\n{inputs}<input type=\"file\" name=\"file\">\n<input id=\"submit\" type=\"submit\" value=\"Upload\">\n</form></body></html>",
            node.s3
        ),
    )
    .unwrap();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("browser-screenshots")
        .join("post_object");
    let _ = std::fs::remove_dir_all(&shots);
    let spec = serde_json::json!({
        "page": format!("file://{}", page.display()),
        "chromium": CHROMIUM,
        "shots": shots,
        "file": file,
        "timeout_ms": 120_000,
    });
    let out = Command::new("node")
        .arg(browser_dir().join("post.mjs"))
        .arg(spec.to_string())
        .output()
        .expect("running node tests/browser/post.mjs");
    println!("screenshots: {}", shots.display());
    assert!(
        out.status.success(),
        "post.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["status"], 201, "{result}");
    let body = result["body"].as_str().unwrap();
    assert!(body.contains("user/photo 1.bin"), "{body}");
    // read it back
    let (st, stored) = s3_curl(
        &node.data,
        &[&format!("http://{}/{bucket}/user/photo%201.bin", node.s3)],
    );
    assert_eq!(st, 200);
    assert!(
        stored == std::fs::read(&file).unwrap(),
        "stored bytes differ"
    );
}
