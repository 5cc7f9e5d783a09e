//! The native token API against the real binary: the liuma 1.0 flow
//! (system token → upload token → upload → download token → download),
//! resumable chunks across a restart, ranges, instant upload, info,
//! delete, versions, tus, and bad input that must change nothing.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::harness::TestNode;
use crate::http::{Resp, form, request};

/// Deterministic pseudo-random bytes (xorshift), distinct per seed.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn sha(d: &[u8]) -> String {
    hex(&Sha256::digest(d))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A node with its system token.
pub struct Native {
    pub node: TestNode,
    pub system: String,
}

impl Native {
    pub fn start(dir: &Path, extra: &[&str]) -> Native {
        let mut args = vec!["--block-size", "65536"];
        args.extend_from_slice(extra);
        Native::wrap(TestNode::start(dir, &args))
    }

    /// The native API of a node started elsewhere (with its own flags).
    pub fn wrap(node: TestNode) -> Native {
        assert!(
            !node.native.is_empty(),
            "the ready file names the native API"
        );
        let system = std::fs::read_to_string(node.data.join("secrets/system.token"))
            .unwrap()
            .trim()
            .to_owned();
        Native { node, system }
    }

    pub fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        request(&self.node.native, method, path, headers, body)
    }

    /// A backend call with the system token.
    pub fn backend(&self, method: &str, path: &str) -> Resp {
        self.req(method, path, &[("systemToken", &self.system)], b"")
    }

    pub fn upload_token(&self, hash: &str) -> String {
        let r = self.backend("GET", &format!("/upload/token?hash={hash}"));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()["token"].as_str().unwrap().to_owned()
    }

    pub fn download_token(&self, hash: &str) -> String {
        let r = self.backend("GET", &format!("/download/token?hash={hash}"));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()["token"].as_str().unwrap().to_owned()
    }

    pub fn single(&self, token: &str, name: &str, bytes: &[u8]) -> Resp {
        let (ct, body) = form("file", name, "application/octet-stream", bytes);
        self.req(
            "POST",
            "/upload/single",
            &[("token", token), ("Content-Type", &ct)],
            &body,
        )
    }

    pub fn chunk(&self, token: &str, n: &str, bytes: &[u8]) -> Resp {
        let (ct, body) = form("file", "blob", "application/octet-stream", bytes);
        self.req(
            "POST",
            &format!("/upload/chunk?chunk={n}"),
            &[("token", token), ("Content-Type", &ct)],
            &body,
        )
    }

    pub fn status(&self, token: &str) -> serde_json::Value {
        let r = self.req("GET", "/upload/status", &[("token", token)], b"");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    }

    pub fn finish(&self, token: &str, name: &str) -> Resp {
        self.req(
            "GET",
            &format!("/upload/finish?file_name={name}"),
            &[("token", token), ("systemToken", &self.system)],
            b"",
        )
    }

    pub fn download(&self, hash: &str, headers: &[(&str, &str)]) -> Resp {
        let t = self.download_token(hash);
        let mut h = vec![("token", t.as_str())];
        h.extend_from_slice(headers);
        self.req("GET", "/download", &h, b"")
    }

    /// Upload `bytes` in one request; returns the hash.
    pub fn put(&self, bytes: &[u8], name: &str) -> String {
        let hash = sha(bytes);
        let r = self.single(&self.upload_token(&hash), name, bytes);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        hash
    }

    /// Assert no file with this hash is visible.
    pub fn assert_absent(&self, hash: &str) {
        let r = self.backend("GET", &format!("/file?hash={hash}"));
        assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.code(), "FileNotFound");
    }

    /// Number of chunks stored for `hash`.
    pub fn chunk_count(&self, hash: &str) -> usize {
        let t = self.upload_token(hash);
        self.status(&t)["chunks"].as_array().unwrap().len()
    }
}

#[test]
fn full_flow_single_upload_then_download() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let active = n.backend("GET", "/server/active");
    assert_eq!(active.status, 200);
    let nodes = &active.json()["nodes"];
    assert_eq!(nodes[0]["address"].as_str().unwrap(), n.node.native);
    assert!(nodes[0]["free_bytes"].as_u64().unwrap() > 0);
    assert!(nodes[0]["disks"][0]["total_bytes"].as_u64().unwrap() > 0);

    let bytes = data(300_000, 1);
    let hash = sha(&bytes);
    let r = n.backend("GET", &format!("/upload/token?hash={hash}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["exists"], false);
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let r = n.single(&token, "报告 2024.pdf", &bytes);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["size"], 300_000);
    assert_eq!(r.json()["name"], "报告 2024.pdf");

    // a plain link works too: ?token=
    let t = n.download_token(&hash);
    let r = n.req("GET", &format!("/download?token={t}"), &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.body == bytes, "downloaded bytes differ");
    assert_eq!(r.header("etag").unwrap(), format!("\"{hash}\""));
    assert!(r.header("last-modified").unwrap().ends_with("GMT"));
    assert_eq!(r.header("content-length").unwrap(), "300000");
    assert_eq!(
        r.header("content-disposition").unwrap(),
        "attachment; filename=\"__ 2024.pdf\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A%202024.pdf"
    );
    // and the header form
    let r = n.download(&hash, &[]);
    assert!(r.status == 200 && r.body == bytes);

    let info = n.backend("GET", &format!("/file?hash={hash}")).json();
    assert_eq!(info["size"], 300_000);
    assert_eq!(info["name"], "报告 2024.pdf");
    assert_eq!(info["hash"], hash);
    assert_eq!(info["content_type"], "application/octet-stream");
    assert_eq!(info["versions"].as_array().unwrap().len(), 1);
    // the upload token now says the content exists
    let r = n.backend("GET", &format!("/upload/token?hash={hash}"));
    assert_eq!(r.json()["exists"], true);
    assert!(n.node.stop().success());
}

#[test]
fn chunked_upload_out_of_order_resent_and_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(5 * 100_000 + 1234, 2);
    let hash = sha(&bytes);
    let pieces: Vec<&[u8]> = bytes.chunks(100_000).collect();
    assert_eq!(pieces.len(), 6);
    let token = n.upload_token(&hash);
    for i in [3usize, 0, 5] {
        let r = n.chunk(&token, &i.to_string(), pieces[i]);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["chunk"], i);
        assert_eq!(r.json()["sha256"], sha(pieces[i]));
    }
    // chunk 1 first sent wrong, then re-sent right: the second replaces it
    assert_eq!(n.chunk(&token, "1", b"garbage").status, 200);
    assert_eq!(n.chunk(&token, "1", pieces[1]).status, 200);
    let st = n.status(&token);
    let got: Vec<u64> = st["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["chunk"].as_u64().unwrap())
        .collect();
    assert_eq!(got, [0, 1, 3, 5]);
    assert_eq!(st["chunks"][1]["size"], 100_000);
    assert_eq!(st["chunks"][1]["sha256"], sha(pieces[1]));
    assert_eq!(st["next_missing"], 2);
    assert_eq!(st["exists"], false);

    // restart: the session is in the metadata store
    assert!(n.node.stop().success());
    let n = Native::start(dir.path(), &[]);
    let token = n.upload_token(&hash); // a fresh token continues the same session
    assert_eq!(n.status(&token)["chunks"].as_array().unwrap().len(), 4);
    // 1.0 spelling for one of them
    let (ct, body) = form("file", "blob", "application/octet-stream", pieces[2]);
    let r = n.req(
        "POST",
        "/upload/chuck?chuck=2",
        &[("token", &token), ("Content-Type", &ct)],
        &body,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(n.chunk(&token, "4", pieces[4]).status, 200);
    let r = n.finish(&token, "big.bin");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["size"], bytes.len());
    let r = n.download(&hash, &[]);
    assert!(r.status == 200 && r.body == bytes, "assembled file differs");
    // chunks are freed
    assert_eq!(n.chunk_count(&hash), 0);
    let st = n.status(&n.upload_token(&hash));
    assert_eq!(st["exists"], true);
    assert_eq!(st["session"], false);
}

#[test]
fn range_downloads_at_block_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(3 * 65_536 + 100, 3);
    let hash = n.put(&bytes, "r.bin");
    let len = bytes.len();
    for (spec, lo, hi) in [
        ("bytes=0-65535", 0, 65_536),
        ("bytes=65535-65536", 65_535, 65_537),
        ("bytes=65536-131071", 65_536, 131_072),
        ("bytes=131000-", 131_000, len),
        ("bytes=-100", len - 100, len),
        ("bytes=196600-999999", 196_600, len),
    ] {
        let r = n.download(&hash, &[("Range", spec)]);
        assert_eq!(r.status, 206, "{spec}");
        assert!(r.body == bytes[lo..hi], "{spec}: wrong bytes");
        assert_eq!(
            r.header("content-range").unwrap(),
            format!("bytes {lo}-{}/{len}", hi - 1)
        );
    }
    // If-Range: the current ETag → 206, an old one → the whole file
    let etag = format!("\"{hash}\"");
    let r = n.download(&hash, &[("Range", "bytes=0-9"), ("If-Range", &etag)]);
    assert_eq!(r.status, 206);
    let r = n.download(&hash, &[("Range", "bytes=0-9"), ("If-Range", "\"other\"")]);
    assert!(r.status == 200 && r.body == bytes);
    let lm = r.header("last-modified").unwrap().to_owned();
    let r = n.download(&hash, &[("Range", "bytes=0-9"), ("If-Range", &lm)]);
    assert_eq!(r.status, 206);
    // multiple ranges: served whole
    let r = n.download(&hash, &[("Range", "bytes=0-1,5-6")]);
    assert_eq!(r.status, 200);
    let r = n.download(&hash, &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
}

#[test]
fn range_out_of_bounds_is_416() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(70_000, 4);
    let hash = n.put(&bytes, "r.bin");
    for spec in ["bytes=70000-", "bytes=80000-90000", "bytes=-0"] {
        let r = n.download(&hash, &[("Range", spec)]);
        assert_eq!(r.status, 416, "{spec}");
        assert_eq!(r.code(), "InvalidRange");
        assert_eq!(r.header("content-range").unwrap(), "bytes */70000");
    }
    // the file is untouched
    assert!(n.download(&hash, &[]).body == bytes);
}

fn blocks_written(n: &Native, dir: &Path) -> u64 {
    let token = TestNode::admin_token(dir);
    let r = request(
        &n.node.admin,
        "GET",
        "/metrics",
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    );
    let text = String::from_utf8(r.body).unwrap();
    text.lines()
        .find(|l| l.starts_with("liuma_blocks_written"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn instant_upload_stores_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(200_000, 5);
    let hash = n.put(&bytes, "first.bin");
    let before = blocks_written(&n, dir.path());
    let r = n.backend("GET", &format!("/upload/token?hash={hash}"));
    assert_eq!(r.json()["exists"], true);
    let token = r.json()["token"].as_str().unwrap().to_owned();
    // no upload at all: finish records the new name as a new version
    let r = n.finish(&token, "second.bin");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["instant"], true);
    // uploading the same content again writes no block either
    assert_eq!(n.single(&token, "third.bin", &bytes).status, 200);
    assert_eq!(
        blocks_written(&n, dir.path()),
        before,
        "no new block written"
    );
    let info = n.backend("GET", &format!("/file?hash={hash}")).json();
    assert_eq!(info["name"], "third.bin");
    let names: Vec<&str> = info["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["third.bin", "second.bin", "first.bin"]);
    assert!(n.download(&hash, &[]).body == bytes);
}

#[test]
fn info_delete_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(10_000, 6);
    let hash = n.put(&bytes, "v1.txt");
    n.put(&bytes, "v2.txt");
    let info = n.backend("GET", &format!("/file?hash={hash}")).json();
    let versions = info["versions"].as_array().unwrap().clone();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["is_latest"], true);
    let old = versions[1]["version_id"].as_str().unwrap().to_owned();

    // an old version stays downloadable by id
    let t = n.download_token(&hash);
    let r = n.req(
        "GET",
        &format!("/download?version={old}"),
        &[("token", &t)],
        b"",
    );
    assert_eq!(r.status, 200);
    assert!(r.header("content-disposition").unwrap().contains("v1.txt"));

    let r = n.backend("DELETE", &format!("/file?hash={hash}"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["delete_marker"], true);
    n.assert_absent(&hash);
    let r = n.backend("GET", &format!("/download/token?hash={hash}"));
    assert_eq!((r.status, r.code().as_str()), (404, "FileNotFound"));
    let r = n.req("GET", "/download", &[("token", &t)], b"");
    assert_eq!(r.status, 404);
    assert_eq!(
        n.backend("GET", &format!("/upload/token?hash={hash}"))
            .json()["exists"],
        false
    );
    let r = n.backend("DELETE", &format!("/file?hash={hash}"));
    assert_eq!(r.status, 404, "deleting twice: no such file");
    // uploading again brings it back
    n.put(&bytes, "v3.txt");
    let info = n.backend("GET", &format!("/file?hash={hash}")).json();
    assert_eq!(info["name"], "v3.txt");
    assert_eq!(
        info["versions"].as_array().unwrap().len(),
        4,
        "3 versions + marker"
    );
}

// ---- bad input: each asserts the error code and that nothing changed ----

#[test]
fn missing_or_wrong_system_token() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let hash = sha(b"x");
    for headers in [vec![], vec![("systemToken", "wrong-token-0123456789")]] {
        for path in [
            format!("/upload/token?hash={hash}"),
            format!("/download/token?hash={hash}"),
            format!("/file?hash={hash}"),
            "/server/active".to_owned(),
        ] {
            let r = n.req("GET", &path, &headers, b"");
            assert_eq!(
                (r.status, r.code().as_str()),
                (401, "InvalidSystemToken"),
                "{path}"
            );
        }
        let r = n.req("PUT", "/server/token", &headers, b"new-token-0123456789");
        assert_eq!(r.status, 401);
    }
    // the real one still works: nothing was rotated
    assert_eq!(n.backend("GET", "/server/active").status, 200);
    // the router's own answers are in the API's JSON shape too
    let r = n.backend("DELETE", "/server/active");
    assert_eq!((r.status, r.code().as_str()), (405, "MethodNotAllowed"));
    let r = n.backend("GET", "/no/such/endpoint");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchEndpoint"));
    // finish needs both tokens
    let token = n.upload_token(&hash);
    let r = n.req(
        "GET",
        "/upload/finish?file_name=a",
        &[("token", &token)],
        b"",
    );
    assert_eq!((r.status, r.code().as_str()), (401, "InvalidSystemToken"));
}

#[test]
fn tampered_wrong_operation_and_wrong_hash_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(5000, 7);
    let hash = sha(&bytes);
    let up = n.upload_token(&hash);
    // tampered: one character changed in the middle
    let mut t: Vec<char> = up.chars().collect();
    t[40] = if t[40] == 'A' { 'B' } else { 'A' };
    let tampered: String = t.into_iter().collect();
    let r = n.single(&tampered, "a.bin", &bytes);
    assert_eq!((r.status, r.code().as_str()), (401, "InvalidToken"));
    let r = n.single("", "a.bin", &bytes);
    assert_eq!((r.status, r.code().as_str()), (401, "MissingToken"));
    n.assert_absent(&hash);
    // an upload token cannot download, a download token cannot upload
    let other = n.put(&data(100, 8), "o.bin");
    let r = n.req("GET", "/download", &[("token", &up)], b"");
    assert_eq!((r.status, r.code().as_str()), (403, "WrongTokenOperation"));
    let dl = n.download_token(&other);
    let r = n.single(&dl, "a.bin", &bytes);
    assert_eq!((r.status, r.code().as_str()), (403, "WrongTokenOperation"));
    let r = n.chunk(&dl, "0", &bytes);
    assert_eq!((r.status, r.code().as_str()), (403, "WrongTokenOperation"));
    // a token bound to another hash
    let r = n.req(
        "GET",
        &format!("/download?hash={hash}"),
        &[("token", &dl)],
        b"",
    );
    assert_eq!((r.status, r.code().as_str()), (403, "TokenHashMismatch"));
    // uploading other content than the token's hash: rejected, nothing kept
    let r = n.single(&up, "a.bin", &data(5000, 9));
    assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"));
    n.assert_absent(&hash);
    assert_eq!(n.chunk_count(&hash), 0);
}

#[test]
fn expired_token() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &["--native-token-ttl-secs", "1"]);
    let bytes = data(1000, 10);
    let hash = sha(&bytes);
    let r = n.backend("GET", &format!("/upload/token?hash={hash}"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let token = r.json()["token"].as_str().unwrap().to_owned();
    // Expiry is in whole seconds (issued + 1): wait only until the server's
    // stated second has come (the test shares its clock), at most 1 s.
    let expires = r.json()["expires"]
        .as_u64()
        .expect("expires in Unix seconds");
    let expiry = std::time::UNIX_EPOCH + std::time::Duration::from_secs(expires);
    if let Ok(left) = expiry.duration_since(std::time::SystemTime::now()) {
        std::thread::sleep(left);
    }
    let r = n.single(&token, "a.bin", &bytes);
    assert_eq!((r.status, r.code().as_str()), (401, "ExpiredToken"));
    let r = n.chunk(&token, "0", &bytes);
    assert_eq!((r.status, r.code().as_str()), (401, "ExpiredToken"));
    n.assert_absent(&hash);
    assert_eq!(n.chunk_count(&hash), 0);
}

#[test]
fn rotation_invalidates_old_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = Native::start(dir.path(), &[]);
    let bytes = data(1000, 11);
    let hash = n.put(&bytes, "a.bin");
    let old_dl = n.download_token(&hash);
    let old_up = n.upload_token(&sha(b"other"));
    let r = n.req(
        "PUT",
        "/server/token",
        &[
            ("systemToken", &n.system),
            ("Content-Type", "application/json"),
        ],
        br#"{"token": "a-brand-new-system-token-42"}"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // old system token and old temporary tokens stop working
    let r = n.backend("GET", "/server/active");
    assert_eq!((r.status, r.code().as_str()), (401, "InvalidSystemToken"));
    let r = n.req("GET", "/download", &[("token", &old_dl)], b"");
    assert_eq!((r.status, r.code().as_str()), (401, "InvalidToken"));
    let r = n.single(&old_up, "x", b"other");
    assert_eq!((r.status, r.code().as_str()), (401, "InvalidToken"));
    n.system = "a-brand-new-system-token-42".to_owned();
    // plain-text rotation, and the rotation survives a restart
    let r = n.req(
        "PUT",
        "/server/token",
        &[("systemToken", &n.system)],
        b"plain-text-token-0123456789\n",
    );
    assert_eq!(r.status, 200);
    let r = n.req(
        "PUT",
        "/server/token",
        &[("systemToken", "plain-text-token-0123456789")],
        b"short",
    );
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
    // A 1.0 client's JSON body without a Content-Type sets the token inside
    // it, never the JSON text (which would lock the client out).
    let r = n.req(
        "PUT",
        "/server/token",
        &[("systemToken", "plain-text-token-0123456789")],
        br#"{"token": "json-without-type-0123456"}"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = n.req(
        "GET",
        "/server/active",
        &[("systemToken", "json-without-type-0123456")],
        b"",
    );
    assert_eq!(r.status, 200);
    // bodies that are neither form are refused, and nothing changes
    for bad in [
        &br#"{"tok": "json-without-type-0123456"}"#[..],
        br#"{"token": 12345678901234567890}"#,
        br#""quoted-token-0123456789""#,
        b"{not json at all 0123456789",
    ] {
        let r = n.req(
            "PUT",
            "/server/token",
            &[("systemToken", "json-without-type-0123456")],
            bad,
        );
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidArgument"),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let r = n.req(
        "GET",
        "/server/active",
        &[("systemToken", "json-without-type-0123456")],
        b"",
    );
    assert_eq!(r.status, 200, "a refused rotation changed the token");
    assert!(n.node.stop().success());
    let mut n = Native::start(dir.path(), &[]);
    n.system = "json-without-type-0123456".to_owned();
    assert!(n.download(&hash, &[]).body == bytes, "files are untouched");
}

#[test]
fn hash_mismatch_at_finish_keeps_the_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(250_000, 12);
    let hash = sha(&bytes);
    let token = n.upload_token(&hash);
    let pieces: Vec<&[u8]> = bytes.chunks(100_000).collect();
    assert_eq!(n.chunk(&token, "0", pieces[0]).status, 200);
    assert_eq!(n.chunk(&token, "1", &data(100_000, 99)).status, 200); // wrong bytes
    assert_eq!(n.chunk(&token, "2", pieces[2]).status, 200);
    let r = n.finish(&token, "f.bin");
    assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"));
    n.assert_absent(&hash);
    assert_eq!(n.chunk_count(&hash), 3, "chunks stay for a retry");
    // fix chunk 1 and finish again
    assert_eq!(n.chunk(&token, "1", pieces[1]).status, 200);
    let r = n.finish(&token, "f.bin");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(n.download(&hash, &[]).body == bytes);
}

#[test]
fn missing_chunk_at_finish() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(30_000, 13);
    let hash = sha(&bytes);
    let token = n.upload_token(&hash);
    let pieces: Vec<&[u8]> = bytes.chunks(10_000).collect();
    assert_eq!(n.chunk(&token, "0", pieces[0]).status, 200);
    assert_eq!(n.chunk(&token, "2", pieces[2]).status, 200);
    let r = n.finish(&token, "f.bin");
    assert_eq!((r.status, r.code().as_str()), (400, "MissingChunk"));
    assert!(r.json()["message"].as_str().unwrap().contains("chunk 1"));
    n.assert_absent(&hash);
    assert_eq!(n.chunk_count(&hash), 2);
    // no chunk at all and no such content
    let other = sha(b"nothing here");
    let r = n.finish(&n.upload_token(&other), "f.bin");
    assert_eq!((r.status, r.code().as_str()), (400, "NoChunks"));
}

#[test]
fn chunk_number_negative_or_absurd() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let hash = sha(b"abc");
    let token = n.upload_token(&hash);
    for bad in ["-1", "10000", "99999999999999999999", "abc", "1.5", ""] {
        let r = n.chunk(&token, bad, b"abc");
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidChunkNumber"),
            "{bad}"
        );
    }
    let r = n.req("POST", "/upload/chunk", &[("token", &token)], b"abc");
    assert_eq!(r.code(), "InvalidChunkNumber");
    assert_eq!(n.chunk_count(&hash), 0);
    assert_eq!(
        n.chunk(&token, "9999", b"abc").status,
        200,
        "the highest is fine"
    );
}

#[test]
fn oversized_chunk_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(3000, 14);
    let hash = sha(&bytes);
    let r = n.backend("GET", &format!("/upload/token?hash={hash}&size=2000"));
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let r = n.chunk(&token, "0", &bytes);
    assert_eq!((r.status, r.code().as_str()), (413, "EntityTooLarge"));
    let r = n.single(&token, "a.bin", &bytes);
    assert_eq!((r.status, r.code().as_str()), (413, "EntityTooLarge"));
    // chunks each under the limit, but more than `size` in total: the
    // session is bounded as chunks arrive
    assert_eq!(n.chunk(&token, "0", &bytes[..1500]).status, 200);
    let r = n.chunk(&token, "1", &bytes[1500..]);
    assert_eq!((r.status, r.code().as_str()), (413, "EntityTooLarge"));
    assert_eq!(n.chunk_count(&hash), 1);
    n.assert_absent(&hash);
    let r = n.backend("GET", &format!("/upload/token?hash={hash}&size=lots"));
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
}

#[test]
fn empty_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let empty = sha(b"");
    let r = n.backend("GET", &format!("/upload/token?hash={empty}"));
    assert_eq!((r.status, r.code().as_str()), (400, "EmptyFile"));
    let hash = sha(b"not empty");
    let r = n.backend("GET", &format!("/upload/token?hash={hash}&size=0"));
    assert_eq!((r.status, r.code().as_str()), (400, "EmptyFile"));
    // an empty body for a non-empty hash is a digest mismatch
    let r = n.single(&n.upload_token(&hash), "e.txt", b"");
    assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"));
    n.assert_absent(&hash);
    n.assert_absent(&empty);
    let r = n.backend("GET", "/upload/token?hash=xyz");
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidHash"));
}

#[test]
fn file_names_with_separators_or_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(2000, 15);
    let hash = sha(&bytes);
    let token = n.upload_token(&hash);
    for name in ["../../etc/passwd", "a\\b.txt", "dir/x"] {
        let r = n.single(&token, name, &bytes);
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidFileName"),
            "{name}"
        );
    }
    // ... and names whose percent-decoded bytes are not UTF-8 (they were
    // stored with U+FFFD in their place, a name no client could ask for)
    for name in ["a%0Ab", "%00x", "..", "a%2Fb", "a%7F", "%FF.txt", "caf%C3"] {
        let (ct, body) = form("file", "ok.bin", "application/octet-stream", &bytes);
        let r = n.req(
            "POST",
            &format!("/upload/single?file_name={name}"),
            &[("token", &token), ("Content-Type", &ct)],
            &body,
        );
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidFileName"),
            "{name}"
        );
        let r = n.finish(&token, name);
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidFileName"),
            "{name}"
        );
    }
    n.assert_absent(&hash);
    // no file was created under the data directory by any of these names
    assert!(!dir.path().join("x").exists() && !dir.path().join("dir").exists());
}

#[test]
fn malformed_form_data() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(2000, 16);
    let hash = sha(&bytes);
    let token = n.upload_token(&hash);
    // no boundary
    let r = n.req(
        "POST",
        "/upload/single",
        &[("token", &token), ("Content-Type", "multipart/form-data")],
        &bytes,
    );
    assert_eq!((r.status, r.code().as_str()), (400, "MalformedForm"));
    // a form without the `file` field
    let (ct, body) = form("other", "a.bin", "application/octet-stream", &bytes);
    let r = n.req(
        "POST",
        "/upload/single",
        &[("token", &token), ("Content-Type", &ct)],
        &body,
    );
    assert_eq!((r.status, r.code().as_str()), (400, "MissingFile"));
    // garbage after the boundary declaration
    let r = n.req(
        "POST",
        "/upload/single",
        &[
            ("token", &token),
            ("Content-Type", "multipart/form-data; boundary=xyz"),
        ],
        b"this is not a form at all",
    );
    assert_eq!((r.status, r.code().as_str()), (400, "MalformedForm"));
    // a form cut short inside the file (no closing boundary)
    let (ct, body) = form("file", "a.bin", "application/octet-stream", &bytes);
    let cut = &body[..body.len() - 40];
    let r = n.req(
        "POST",
        "/upload/single",
        &[("token", &token), ("Content-Type", &ct)],
        cut,
    );
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let r = n.req(
        "POST",
        "/upload/chunk?chunk=0",
        &[("token", &token), ("Content-Type", &ct)],
        cut,
    );
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    n.assert_absent(&hash);
    assert_eq!(n.chunk_count(&hash), 0);
}
