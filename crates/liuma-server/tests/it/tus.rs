//! The tus 1.0 endpoint: a real tus-js-client (Node) uploads with an
//! interruption and a resume; checksum, termination and protocol errors
//! are checked with raw requests.

use std::path::PathBuf;
use std::process::Command;

use crate::native::{Native, data, sha};

fn tus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tus")
}

fn b64(s: &str) -> String {
    b64_bytes(s.as_bytes())
}

#[test]
fn tus_js_client_uploads_with_resume() {
    let modules = tus_dir().join("node_modules/tus-js-client");
    assert!(
        modules.exists(),
        "tus-js-client is not installed: run ./scripts/test (it runs npm ci in {})",
        tus_dir().display()
    );
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(5 * 65_536 + 777, 20);
    let hash = sha(&bytes);
    let file = dir.path().join("upload.bin");
    std::fs::write(&file, &bytes).unwrap();
    let token = n.upload_token(&hash);
    let out = Command::new("node")
        .current_dir(tus_dir())
        .arg("upload.mjs")
        .arg(format!("http://{}/tus/", n.node.native))
        .arg(&token)
        .arg(&file)
        .arg("tus 文件.bin")
        .arg("65536")
        .output()
        .expect("running node");
    assert!(
        out.status.success(),
        "tus-js-client failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(result["resumedAt"].as_u64().unwrap() >= 2 * 65_536);
    let r = n.download(&hash, &[]);
    assert!(r.status == 200 && r.body == bytes, "tus upload differs");
    let info = n.backend("GET", &format!("/file?hash={hash}")).json();
    assert_eq!(info["name"], "tus 文件.bin");
}

#[test]
fn tus_protocol_checksum_and_termination() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(3000, 21);
    let hash = sha(&bytes);
    let token = n.upload_token(&hash);
    let r = n.req("OPTIONS", "/tus/", &[], b"");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("tus-version").unwrap(), "1.0.0");
    assert!(r.header("tus-extension").unwrap().contains("checksum"));
    // wrong protocol version, missing token
    let r = n.req(
        "POST",
        "/tus/",
        &[("Tus-Resumable", "0.2.2"), ("token", &token)],
        b"",
    );
    assert_eq!(r.status, 412);
    let r = n.req(
        "POST",
        "/tus/",
        &[("Tus-Resumable", "1.0.0"), ("Upload-Length", "3000")],
        b"",
    );
    assert_eq!((r.status, r.code().as_str()), (401, "MissingToken"));
    let meta = format!("filename {}", b64("c.bin"));
    let r = n.req(
        "POST",
        "/tus/",
        &tus(
            &token,
            &[("Upload-Length", "3000"), ("Upload-Metadata", &meta)],
        ),
        b"",
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let loc = r.header("location").unwrap().to_owned();
    assert_eq!(r.header("tus-resumable").unwrap(), "1.0.0");
    let patch = |offset: &str, checksum: Option<&str>, body: &[u8]| {
        let mut h = tus(
            &token,
            &[
                ("Upload-Offset", offset),
                ("Content-Type", "application/offset+octet-stream"),
            ],
        );
        if let Some(c) = checksum {
            h.push(("Upload-Checksum", c));
        }
        n.req("PATCH", &loc, &h, body)
    };
    // a checksum that does not match: 460, nothing appended
    let wrong = format!("sha1 {}", b64("01234567890123456789"));
    let r = patch("0", Some(&wrong), &bytes[..1000]);
    assert_eq!((r.status, r.code().as_str()), (460, "ChecksumMismatch"));
    let r = n.req("HEAD", &loc, &tus(&token, &[]), b"");
    assert_eq!(r.header("upload-offset").unwrap(), "0");
    assert_eq!(r.header("upload-length").unwrap(), "3000");
    // a right sha256 checksum
    let digest: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&sha(&bytes[..1000])[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let right = format!("sha256 {}", b64_bytes(&digest));
    let r = patch("0", Some(&right), &bytes[..1000]);
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("upload-offset").unwrap(), "1000");
    // a stale offset: 409
    let r = patch("0", None, &bytes[..1000]);
    assert_eq!((r.status, r.code().as_str()), (409, "OffsetMismatch"));
    // wrong content type: 415
    let r = n.req(
        "PATCH",
        &loc,
        &tus(&token, &[("Upload-Offset", "1000")]),
        &bytes[1000..],
    );
    assert_eq!(r.status, 415);
    // termination
    let r = n.req("DELETE", &loc, &tus(&token, &[]), b"");
    assert_eq!(r.status, 204);
    let r = n.req("HEAD", &loc, &tus(&token, &[]), b"");
    assert_eq!(r.status, 404);
    n.assert_absent(&hash);

    // a complete upload whose content is not the token's hash: rejected
    let r = n.req(
        "POST",
        "/tus/",
        &tus(&token, &[("Upload-Length", "3000")]),
        b"",
    );
    let loc = r.header("location").unwrap().to_owned();
    let h = tus(
        &token,
        &[
            ("Upload-Offset", "0"),
            ("Content-Type", "application/offset+octet-stream"),
        ],
    );
    let r = n.req("PATCH", &loc, &h, &data(3000, 22));
    assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"));
    n.assert_absent(&hash);
    // more than Upload-Length: 413
    let r = n.req(
        "POST",
        "/tus/",
        &tus(&token, &[("Upload-Length", "3000")]),
        b"",
    );
    let loc = r.header("location").unwrap().to_owned();
    let r = n.req("PATCH", &loc, &h, &data(4000, 23));
    assert_eq!((r.status, r.code().as_str()), (413, "EntityTooLarge"));
    // and the right bytes: stored
    let r = n.req("PATCH", &loc, &h, &bytes);
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert!(n.download(&hash, &[]).body == bytes);
}

/// tus request headers with the protocol version and the upload token.
fn tus<'a>(token: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![("Tus-Resumable", "1.0.0"), ("token", token)];
    h.extend_from_slice(extra);
    h
}

/// Standard base64 with padding (tus metadata and checksums).
fn b64_bytes(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
