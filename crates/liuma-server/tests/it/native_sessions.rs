//! Native chunk sessions that heal themselves (issue #16), against the real
//! binary: chunk size / file size / per-chunk SHA-256 checks, abort, stray
//! and late chunks, the token's size over a whole session, credential
//! quotas, head caps answered in JSON, liuma 1.0 compatibility (1-based
//! chunks, the envelope, `/server/active`), and versions after a delete.
//! Every refusal asserts its code and that nothing was stored.

use crate::backend::{Cred, cli};
use crate::http::{Resp, form};
use crate::native::{Native, data, sha};

impl Native {
    /// POST a chunk with a query (`chunk=N&...`), raw body.
    fn chunk_q(&self, token: &str, query: &str, bytes: &[u8]) -> Resp {
        let (ct, body) = form("file", "blob", "application/octet-stream", bytes);
        self.req(
            "POST",
            &format!("/upload/chunk?{query}"),
            &[("token", token), ("Content-Type", &ct)],
            &body,
        )
    }

    /// `DELETE /upload` with the token and the system token.
    fn abort(&self, token: &str) -> Resp {
        self.req(
            "DELETE",
            "/upload",
            &[("token", token), ("systemToken", &self.system)],
            b"",
        )
    }

    /// Chunk numbers and SHA-256s listed by `/upload/status`.
    fn listed(&self, token: &str) -> Vec<(u64, String)> {
        self.status(token)["chunks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["chunk"].as_u64().unwrap(),
                    c["sha256"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

fn ok(r: &Resp) -> serde_json::Value {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn refused(r: &Resp, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(
        (r.status, r.code().as_str()),
        (status, code),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

#[test]
fn two_clients_with_different_chunk_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(250_000, 40);
    let (hash, t) = (sha(&bytes), bytes.len());
    let token = n.upload_token(&hash);
    // client A cuts 100 000-byte chunks
    let a: Vec<&[u8]> = bytes.chunks(100_000).collect();
    for (i, c) in a.iter().enumerate().take(2) {
        let q = format!("chunk={i}&chunk_size=100000&size={t}&sha256={}", sha(c));
        ok(&n.chunk_q(&token, &q, c));
    }
    let before = n.listed(&token);
    // client B cuts 50 000-byte chunks: refused, the session is intact
    let b: Vec<&[u8]> = bytes.chunks(50_000).collect();
    let r = n.chunk_q(&token, &format!("chunk=1&chunk_size=50000&size={t}"), b[1]);
    let v = refused(&r, 409, "ChunkSizeMismatch");
    assert_eq!(v["expected_chunk_size"], 100_000);
    assert_eq!(n.listed(&token), before, "nothing replaced");
    let st = n.status(&token);
    assert_eq!(
        (st["chunk_size"].as_u64(), st["file_size"].as_u64()),
        (Some(100_000), Some(t as u64))
    );
    // B aborts through its backend and restarts with its own chunk size
    let r = n.abort(&token);
    let v = ok(&r);
    assert_eq!(
        (v["aborted"].as_bool(), v["chunks"].as_u64()),
        (Some(true), Some(2))
    );
    assert_eq!(n.status(&token)["session"], false);
    let v = ok(&n.abort(&token));
    assert_eq!(v["aborted"], false, "aborting twice is fine");
    for (i, c) in b.iter().enumerate() {
        ok(&n.chunk_q(&token, &format!("chunk={i}&chunk_size=50000&size={t}"), c));
    }
    // A's late chunk does not fit any more
    let r = n.chunk_q(&token, &format!("chunk=2&chunk_size=100000&size={t}"), a[2]);
    refused(&r, 409, "ChunkSizeMismatch");
    let v = ok(&n.finish(&token, "b.bin"));
    assert_eq!(v["size"], t);
    assert!(n.download(&hash, &[]).body == bytes);
}

#[test]
fn abort_needs_the_backend() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(5000, 41);
    let hash = sha(&bytes);
    let token = n.upload_token(&hash);
    ok(&n.chunk(&token, "0", &bytes[..1000]));
    let r = n.req("DELETE", "/upload", &[("token", &token)], b"");
    refused(&r, 401, "InvalidSystemToken");
    let r = n.req("DELETE", "/upload", &[("systemToken", &n.system)], b"");
    refused(&r, 401, "MissingToken");
    assert_eq!(n.chunk_count(&hash), 1, "the session is untouched");
}

#[test]
fn a_stray_chunk_does_not_block_finish() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(45_000, 42);
    let hash = sha(&bytes);
    let token = n.upload_token(&hash);
    for (i, c) in bytes.chunks(10_000).enumerate() {
        ok(&n.chunk(&token, &i.to_string(), c));
    }
    ok(&n.chunk(&token, "9999", b"stray bytes"));
    let v = ok(&n.finish(&token, "s.bin"));
    assert_eq!(v["size"], 45_000);
    assert!(n.download(&hash, &[]).body == bytes);
    // the stray chunk went with the session
    assert_eq!(n.status(&token)["session"], false);
}

#[test]
fn a_late_chunk_after_the_file_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(30_000, 43);
    let hash = n.put(&bytes, "first.bin");
    // another client's chunk arrives after the file was stored
    let token = n.upload_token(&hash);
    ok(&n.chunk(&token, "0", &bytes[..10_000]));
    assert_eq!(n.status(&token)["exists"], true);
    let v = ok(&n.finish(&token, "second.bin"));
    assert_eq!(v["instant"], true);
    assert_eq!(
        n.status(&token)["session"],
        false,
        "the stale session is dropped"
    );
    let info = n.backend("GET", &format!("/file?hash={hash}")).json();
    assert_eq!(info["name"], "second.bin");
    assert!(n.download(&hash, &[]).body == bytes);
}

#[test]
fn a_missing_last_chunk_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(35_000, 44);
    let hash = sha(&bytes);
    let token = n.upload_token(&hash);
    let pieces: Vec<&[u8]> = bytes.chunks(10_000).collect();
    for (i, c) in pieces.iter().enumerate().take(3) {
        ok(&n.chunk(&token, &i.to_string(), c));
    }
    let v = refused(&n.finish(&token, "m.bin"), 400, "MissingChunk");
    assert_eq!(v["chunk"], 3);
    n.assert_absent(&hash);
    ok(&n.chunk(&token, "3", pieces[3]));
    ok(&n.finish(&token, "m.bin"));
    // with the sizes announced, a gap anywhere is named without reading
    let bytes = data(35_000, 45);
    let hash = sha(&bytes);
    let token = n.upload_token(&hash);
    for i in [0usize, 1, 3] {
        let c = &bytes[i * 10_000..(i * 10_000 + 10_000).min(35_000)];
        ok(&n.chunk_q(&token, &format!("chunk={i}&chunk_size=10000&size=35000"), c));
    }
    let v = refused(&n.finish(&token, "m.bin"), 400, "MissingChunk");
    assert_eq!(v["chunk"], 2);
    n.assert_absent(&hash);
    // a wrong chunk: both digests named
    ok(&n.chunk_q(
        &token,
        "chunk=2&chunk_size=10000&size=35000",
        &data(10_000, 99),
    ));
    let v = refused(&n.finish(&token, "m.bin"), 400, "BadDigest");
    assert_eq!(v["expected"], hash.as_str());
    assert_eq!(v["received"].as_str().unwrap().len(), 64);
    n.assert_absent(&hash);
}

#[test]
fn chunks_that_do_not_fit_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(25_000, 46);
    let hash = sha(&bytes);
    let token = n.upload_token(&hash);
    let q = |i: usize| format!("chunk={i}&chunk_size=10000&size=25000");
    ok(&n.chunk_q(&token, &q(0), &bytes[..10_000]));
    // past the last chunk
    let v = refused(&n.chunk_q(&token, &q(3), b"x"), 409, "ChunkOutOfRange");
    assert_eq!(v["last_chunk"], 2);
    // a length its index cannot have
    let v = refused(
        &n.chunk_q(&token, &q(1), &bytes[10_000..19_000]),
        409,
        "ChunkSizeMismatch",
    );
    assert_eq!(v["expected_size"], 10_000);
    let v = refused(
        &n.chunk_q(&token, &q(2), &bytes[15_000..]),
        409,
        "ChunkSizeMismatch",
    );
    assert_eq!(v["expected_size"], 5000);
    refused(
        &n.chunk_q(&token, &q(2), &bytes[19_000..]),
        409,
        "ChunkSizeMismatch",
    );
    // another file size
    let v = refused(
        &n.chunk_q(
            &token,
            "chunk=1&chunk_size=10000&size=30000",
            &bytes[10_000..20_000],
        ),
        409,
        "FileSizeMismatch",
    );
    assert_eq!(v["expected_size"], 25_000);
    // a SHA-256 the body does not have: the older chunk 0 stays
    let good = sha(&bytes[..10_000]);
    let wrong = sha(b"something else");
    let v = refused(
        &n.chunk_q(
            &token,
            &format!("{}&sha256={wrong}", q(0)),
            &data(10_000, 98),
        ),
        400,
        "BadDigest",
    );
    assert_eq!(v["expected"], wrong.as_str());
    assert_eq!(v["received"], sha(&data(10_000, 98)).as_str());
    // malformed parameters
    for bad in [
        "chunk=1&chunk_size=0",
        "chunk=1&chunk_size=abc",
        "chunk=1&size=-5",
        "chunk=1&sha256=zz",
    ] {
        refused(&n.chunk_q(&token, bad, b"abc"), 400, "InvalidArgument");
    }
    refused(
        &n.chunk_q(&token, "chunk=1&chunk_size=1&size=20000", b"a"),
        400,
        "InvalidArgument",
    );
    assert_eq!(n.listed(&token), vec![(0, good)], "only chunk 0, unchanged");
    n.assert_absent(&hash);
    // the right chunks still finish the file
    ok(&n.chunk_q(&token, &q(1), &bytes[10_000..20_000]));
    ok(&n.chunk_q(
        &token,
        &format!("{}&sha256={}", q(2), sha(&bytes[20_000..])),
        &bytes[20_000..],
    ));
    ok(&n.finish(&token, "f.bin"));
    assert!(n.download(&hash, &[]).body == bytes);
}

#[test]
fn a_session_may_not_outgrow_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(3000, 47);
    let hash = sha(&bytes);
    let r = n.backend("GET", &format!("/upload/token?hash={hash}&size=2000"));
    let token = ok(&r)["token"].as_str().unwrap().to_owned();
    ok(&n.chunk(&token, "0", &bytes[..1500]));
    ok(&n.chunk(&token, "0", &bytes[..1500])); // a re-sent chunk counts once
    refused(&n.chunk(&token, "1", &bytes[1500..]), 413, "EntityTooLarge");
    let st = n.status(&token);
    assert_eq!(st["received_bytes"], 1500, "nothing parked");
    assert_eq!(st["chunks"].as_array().unwrap().len(), 1);
    for c in 2..6 {
        refused(
            &n.chunk(&token, &c.to_string(), &bytes[..600]),
            413,
            "EntityTooLarge",
        );
    }
    assert_eq!(n.status(&token)["received_bytes"], 1500);
    // a file size over the token's is refused up front
    refused(
        &n.chunk_q(&token, "chunk=1&chunk_size=1500&size=3000", &bytes[1500..]),
        413,
        "EntityTooLarge",
    );
    n.assert_absent(&hash);
}

#[test]
fn one_based_chunks_with_the_compat_option() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &["--native-chunk-base", "1"]);
    let bytes = data(25_000, 48);
    let hash = sha(&bytes);
    let token = n.upload_token(&hash);
    refused(&n.chunk(&token, "0", b"abc"), 400, "InvalidChunkNumber");
    refused(&n.chunk(&token, "10001", b"abc"), 400, "InvalidChunkNumber");
    for (i, c) in bytes.chunks(10_000).enumerate() {
        // the 1.0 spelling, numbered from 1
        let (ct, body) = form("file", "blob", "application/octet-stream", c);
        let r = n.req(
            "POST",
            &format!("/upload/chuck?chuck={}", i + 1),
            &[("token", &token), ("Content-Type", &ct)],
            &body,
        );
        assert_eq!(ok(&r)["chunk"], i + 1);
    }
    let listed: Vec<u64> = n.listed(&token).iter().map(|c| c.0).collect();
    assert_eq!(listed, [1, 2, 3]);
    ok(&n.finish(&token, "one.bin"));
    assert!(n.download(&hash, &[]).body == bytes);
    // a gap is named in the client's numbering
    let bytes = data(25_000, 49);
    let token = n.upload_token(&sha(&bytes));
    ok(&n.chunk(&token, "2", &bytes[10_000..20_000]));
    let v = refused(&n.finish(&token, "x.bin"), 400, "MissingChunk");
    assert_eq!(v["chunk"], 1);
}

#[test]
fn one_based_chunks_are_detected_without_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(25_000, 57);
    let hash = sha(&bytes);
    let token = n.upload_token(&hash);
    // a 1.0 client numbering from 1: no chunk 0, the digest decides
    for (i, c) in bytes.chunks(10_000).enumerate() {
        ok(&n.chunk(&token, &(i + 1).to_string(), c));
    }
    ok(&n.finish(&token, "one.bin"));
    assert!(n.download(&hash, &[]).body == bytes);
    // chunks 1.. that do not make the file: chunk 0 is what is missing
    let bytes = data(25_000, 58);
    let hash = sha(&bytes);
    let token = n.upload_token(&hash);
    ok(&n.chunk(&token, "1", &bytes[10_000..20_000]));
    ok(&n.chunk(&token, "2", &bytes[20_000..]));
    let v = refused(&n.finish(&token, "x.bin"), 400, "MissingChunk");
    assert_eq!(v["chunk"], 0);
    n.assert_absent(&hash);
    assert_eq!(n.chunk_count(&hash), 2, "the chunks stay");
}

#[test]
fn credential_quotas_of_sessions_and_parked_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    // made with the CLI: one open session at most
    let out = cli(
        &n,
        dir.path(),
        &[
            "create",
            "one",
            "--scope",
            "upload,finish",
            "--max-sessions",
            "1",
        ],
    );
    let field = |label: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap()
            .trim()
            .to_owned()
    };
    let one = Cred {
        id: field("credential id:"),
        secret: field("secret:"),
    };
    let token_of = |c: &Cred, h: &str, nonce: &str| {
        let r = n.signed(c, "GET", &format!("/upload/token?hash={h}&nonce={nonce}"));
        ok(&r)["token"].as_str().unwrap().to_owned()
    };
    let (a, b) = (data(2000, 50), data(2000, 51));
    let ta = token_of(&one, &sha(&a), "1");
    let tb = token_of(&one, &sha(&b), "2");
    ok(&n.chunk(&ta, "0", &a[..1000]));
    ok(&n.chunk(&ta, "1", &a[1000..])); // the same session: fine
    refused(&n.chunk(&tb, "0", &b[..1000]), 429, "TooManySessions");
    assert_eq!(n.status(&tb)["session"], false, "nothing stored");
    // the system token's sessions are not charged to the credential
    ok(&n.chunk(&n.upload_token(&sha(&b)), "0", &b[..1000]));
    assert_eq!(n.abort(&n.upload_token(&sha(&b))).json()["aborted"], true);
    // finishing frees the slot
    ok(&n.finish(&ta, "a.bin"));
    ok(&n.chunk(&tb, "0", &b[..1000]));

    // parked bytes: 3000 over all its sessions
    let small = n.create(
        dir.path(),
        serde_json::json!({"name": "small", "scopes": ["upload"], "max_parked_bytes": 3000}),
    );
    let listed = n.admin(dir.path(), "GET", "/admin/backends", "");
    let me = ok(&listed)
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == small.id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (me["max_parked_bytes"].as_u64(), me["max_sessions"].as_u64()),
        (Some(3000), Some(1000))
    );
    let (c, d) = (data(4000, 52), data(4000, 53));
    let tc = token_of(&small, &sha(&c), "3");
    let td = token_of(&small, &sha(&d), "4");
    ok(&n.chunk(&tc, "0", &c[..2000]));
    refused(&n.chunk(&td, "0", &d[..2000]), 413, "QuotaExceeded");
    assert_eq!(n.status(&td)["received_bytes"], 0, "nothing parked");
    ok(&n.chunk(&td, "0", &d[..1000]));
    refused(&n.chunk(&tc, "1", &c[2000..2001]), 413, "QuotaExceeded");
    // bad limits are refused
    let r = n.admin(
        dir.path(),
        "POST",
        "/admin/backends",
        r#"{"name": "x", "max_sessions": 0}"#,
    );
    refused(&r, 400, "InvalidArgument");
}

#[test]
fn heads_over_the_cap_are_answered_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let big = "x".repeat(20 * 1024);
    let r = n.req(
        "GET",
        "/server/active",
        &[("systemToken", &n.system), ("X-Big", &big)],
        b"",
    );
    let v = refused(&r, 431, "RequestHeaderFieldsTooLarge");
    assert!(v["message"].as_str().unwrap().contains("16384"));
    let long = format!("/file?hash={}", "a".repeat(9 * 1024));
    let r = n.backend("GET", &long);
    refused(&r, 414, "UriTooLong");
    // a POST over the cap stores nothing
    let hash = sha(b"abc");
    let token = n.upload_token(&hash);
    let r = n.req(
        "POST",
        "/upload/chunk?chunk=0",
        &[("token", &token), ("X-Big", &big)],
        b"abc",
    );
    refused(&r, 431, "RequestHeaderFieldsTooLarge");
    assert_eq!(n.chunk_count(&hash), 0);
    // many short header lines: the byte cap answers (in JSON), not hyper's
    // limit of 100 lines (an empty 431)
    let names: Vec<String> = (0..150).map(|i| format!("X-H{i}")).collect();
    let mut many: Vec<(&str, &str)> = names.iter().map(|h| (h.as_str(), "v")).collect();
    many.push(("systemToken", &n.system));
    ok(&n.req("GET", "/server/active", &many, b""));
    let long_values: Vec<(&str, &str)> = names.iter().map(|h| (h.as_str(), &big[..120])).collect();
    let r = n.req("GET", "/server/active", &long_values, b"");
    refused(&r, 431, "RequestHeaderFieldsTooLarge");
    // under the cap: fine
    let r = n.req(
        "GET",
        "/server/active",
        &[("systemToken", &n.system), ("X-Big", &big[..8000])],
        b"",
    );
    ok(&r);
    // the cap is configurable
    drop(n);
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &["--native-max-header-bytes", "4096"]);
    let r = n.req(
        "GET",
        "/server/active",
        &[("systemToken", &n.system), ("X-Big", &big[..5000])],
        b"",
    );
    refused(&r, 431, "RequestHeaderFieldsTooLarge");
}

#[test]
fn the_liuma_1_0_envelope_and_active_shape() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(
        dir.path(),
        &["--native-envelope", "v1", "--native-active-shape", "v1"],
    );
    let r = n.backend("GET", "/server/active");
    let v = ok(&r);
    assert_eq!(v["status"], true);
    assert_eq!(v["code"], 200);
    assert_eq!(v["msg"], "");
    assert_eq!(v["data"]["status"][0], n.node.native.as_str());
    let bytes = data(1000, 54);
    let hash = sha(&bytes);
    let r = n.backend("GET", &format!("/upload/token?hash={hash}"));
    let token = ok(&r)["data"]["token"].as_str().unwrap().to_owned();
    let r = n.req(
        "GET",
        "/server/active",
        &[("systemToken", "wrong-token-0123456789")],
        b"",
    );
    assert_eq!(r.status, 401);
    let v = r.json();
    assert_eq!(
        (v["status"].as_bool(), v["code"].as_u64()),
        (Some(false), Some(5533))
    );
    assert_eq!(v["error"]["code"], "InvalidSystemToken");
    assert!(!v["msg"].as_str().unwrap().is_empty());
    // downloads are not wrapped
    let (ct, body) = form("file", "a.bin", "application/octet-stream", &bytes);
    ok(&n.req(
        "POST",
        "/upload/single",
        &[("token", &token), ("Content-Type", &ct)],
        &body,
    ));
    let r = n.backend("GET", &format!("/download/token?hash={hash}"));
    let dl = ok(&r)["data"]["token"].as_str().unwrap().to_owned();
    let r = n.req("GET", "/download", &[("token", &dl)], b"");
    assert!(r.status == 200 && r.body == bytes);
}

#[test]
fn versions_stay_reachable_after_a_delete() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(10_000, 55);
    let hash = n.put(&bytes, "v1.txt");
    n.put(&bytes, "v2.txt");
    ok(&n.backend("DELETE", &format!("/file?hash={hash}")));
    n.assert_absent(&hash);
    let v = ok(&n.backend("GET", &format!("/file?hash={hash}&deleted=true")));
    assert_eq!(v["deleted"], true);
    assert_eq!(v["name"], "v2.txt");
    let versions = v["versions"].as_array().unwrap().clone();
    assert_eq!(versions.len(), 3, "two versions and the marker");
    assert_eq!(versions[0]["delete_marker"], true);
    let marker = versions[0]["version_id"].as_str().unwrap().to_owned();
    let old = versions[2]["version_id"].as_str().unwrap().to_owned();
    let newer = versions[1]["version_id"].as_str().unwrap().to_owned();
    // a download token bound to a version, served by /download
    let r = n.backend("GET", &format!("/download/token?hash={hash}&version={old}"));
    let t = ok(&r)["token"].as_str().unwrap().to_owned();
    let r = n.req("GET", "/download", &[("token", &t)], b"");
    assert!(r.status == 200 && r.body == bytes);
    assert!(r.header("content-disposition").unwrap().contains("v1.txt"));
    let r = n.req(
        "GET",
        &format!("/download?version={newer}"),
        &[("token", &t)],
        b"",
    );
    refused(&r, 403, "TokenVersionMismatch");
    // no token for the marker, another file's or an unknown version
    for v in [marker.as_str(), "0123456789abcdef01234567", "nonsense"] {
        let r = n.backend("GET", &format!("/download/token?hash={hash}&version={v}"));
        refused(&r, 404, "FileNotFound");
    }
    // a file never stored stays 404 with deleted=true
    let r = n.backend("GET", &format!("/file?hash={}&deleted=true", sha(b"never")));
    refused(&r, 404, "FileNotFound");
}

#[test]
fn concurrent_finishes_answer_in_the_native_api_words() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let bytes = data(300_000, 56);
    let hash = sha(&bytes);
    let token = n.upload_token(&hash);
    for (i, c) in bytes.chunks(100_000).enumerate() {
        ok(&n.chunk(&token, &i.to_string(), c));
    }
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let (n, token) = (&n, &token);
                s.spawn(move || n.finish(token, &format!("f{i}.bin")))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &answers {
        let text = String::from_utf8_lossy(&r.body);
        assert!(!text.contains("multipart"), "{text}");
        assert!(r.status == 200 || r.code() == "OperationAborted", "{text}");
    }
    assert!(answers.iter().any(|r| r.status == 200));
    assert!(n.download(&hash, &[]).body == bytes);
}
