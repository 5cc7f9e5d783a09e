//! Backend credentials of the native API against the real binary: scopes
//! and bucket bindings, revocation and rotation (of credentials and of the
//! tokens they minted), replayed / skewed / wrongly signed requests, rate
//! limits, the legacy system token next to them, audit and metrics, the
//! `liuma backend` CLI, and botocore's SigV4Auth end to end.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::harness::{TestNode, copy_secrets};
use crate::http::{Resp, request};
use crate::native::{Native, data, sha};

const REGION: &str = "us-east-1";

/// A backend credential as created.
#[derive(Clone, Debug)]
pub struct Cred {
    pub id: String,
    pub secret: String,
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// HMAC-SHA256 (RFC 2104), so the test signer shares no code with the server.
pub(crate) fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = if key.len() > 64 {
        Sha256::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(64, 0);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// `YYYYMMDDTHHMMSSZ` of a Unix time.
pub(crate) fn amz_date(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap();
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// SigV4 headers (x-amz-date, authorization) for a request made at `at`.
fn sign(
    addr: &str,
    cred: &Cred,
    method: &str,
    path_query: &str,
    body: &[u8],
    at: u64,
) -> Vec<(String, String)> {
    let date = amz_date(at);
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort_unstable();
    let creq = format!(
        "{method}\n{path}\n{}\nhost:{addr}\nx-amz-date:{date}\n\nhost;x-amz-date\n{}",
        pairs.join("&"),
        hex(&Sha256::digest(body))
    );
    let scope = format!("{}/{REGION}/liuma/aws4_request", &date[..8]);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex(&Sha256::digest(creq.as_bytes()))
    );
    let k = hmac(
        format!("AWS4{}", cred.secret).as_bytes(),
        &date.as_bytes()[..8],
    );
    let k = hmac(
        &hmac(&hmac(&k, REGION.as_bytes()), b"liuma"),
        b"aws4_request",
    );
    let sig = hex(&hmac(&k, to_sign.as_bytes()));
    vec![
        ("x-amz-date".to_owned(), date),
        (
            "Authorization".to_owned(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=host;x-amz-date, Signature={sig}",
                cred.id
            ),
        ),
    ]
}

impl Native {
    /// A request signed by `cred` now.
    pub fn signed(&self, cred: &Cred, method: &str, path: &str) -> Resp {
        self.signed_at(cred, method, path, b"", &[], now())
    }

    fn signed_at(
        &self,
        cred: &Cred,
        method: &str,
        path: &str,
        body: &[u8],
        extra: &[(&str, &str)],
        at: u64,
    ) -> Resp {
        let h = sign(&self.node.native, cred, method, path, body, at);
        let mut headers: Vec<(&str, &str)> =
            h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        headers.extend_from_slice(extra);
        request(&self.node.native, method, path, &headers, body)
    }

    /// An admin API call with the bearer token.
    pub fn admin(&self, dir: &std::path::Path, method: &str, path: &str, body: &str) -> Resp {
        let bearer = format!("Bearer {}", TestNode::admin_token(dir));
        request(
            &self.node.admin,
            method,
            path,
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
    }

    /// Create a credential through the admin API.
    pub fn create(&self, dir: &std::path::Path, spec: serde_json::Value) -> Cred {
        let r = self.admin(dir, "POST", "/admin/backends", &spec.to_string());
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        Cred {
            id: v["id"].as_str().unwrap().to_owned(),
            secret: v["secret"].as_str().unwrap().to_owned(),
        }
    }
}

/// Run `liuma backend ARGS` against the node; its stdout.
pub fn cli(n: &Native, dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_liuma"))
        .arg("backend")
        .args(["--admin-url", &format!("http://{}", n.node.admin)])
        .arg("--admin-token-file")
        .arg(dir.join("secrets/admin.token"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn field(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} in {out}"))
        .trim()
        .to_owned()
}

fn status_code(r: &Resp) -> (u16, String) {
    (r.status, r.code())
}

fn token_of(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["token"].as_str().unwrap().to_owned()
}

#[test]
fn scopes_and_buckets_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    // uploader: made with the CLI, bound to the native bucket, size-limited
    let out = cli(
        &n,
        dir.path(),
        &[
            "create",
            "uploader",
            "--scope",
            "upload,info",
            "--bucket",
            "liuma",
            "--max-size",
            "5000",
        ],
    );
    let up = Cred {
        id: field(&out, "credential id:"),
        secret: field(&out, "secret:"),
    };
    assert_eq!(up.id.len(), 20);
    let reader = n.create(
        dir.path(),
        serde_json::json!({"name": "reader", "scopes": ["download", "info", "delete"]}),
    );
    let elsewhere = n.create(
        dir.path(),
        serde_json::json!({"name": "elsewhere", "scopes": ["upload", "download", "finish", "info", "delete", "admin"], "bucket": "other"}),
    );

    let bytes = data(3000, 1);
    let hash = sha(&bytes);
    // uploader: upload yes (up to its max size), everything else no
    let t = token_of(&n.signed(&up, "GET", &format!("/upload/token?hash={hash}")));
    let r = n.single(&t, "a.bin", &bytes);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = n.signed(&up, "GET", &format!("/upload/token?hash={hash}&size=6000"));
    assert_eq!(status_code(&r), (413, "EntityTooLarge".to_owned()));
    for (method, path) in [
        ("GET", format!("/download/token?hash={hash}")),
        ("DELETE", format!("/file?hash={hash}")),
        ("GET", format!("/upload/finish?file_name=x&hash={hash}")),
    ] {
        let r = n.signed(&up, method, &path);
        assert_eq!(status_code(&r), (403, "MissingScope".to_owned()), "{path}");
    }
    let r = n.signed_at(
        &up,
        "PUT",
        "/server/token",
        b"a-new-system-token-123",
        &[],
        now(),
    );
    assert_eq!(status_code(&r), (403, "MissingScope".to_owned()));
    // info shows who uploaded
    let r = n.signed(&up, "GET", &format!("/file?hash={hash}"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["uploaded_by"], up.id.as_str());
    assert_eq!(r.json()["versions"][0]["uploaded_by"], up.id.as_str());

    // reader: download, info, delete yes; upload no
    let r = n.signed(&reader, "GET", &format!("/upload/token?hash={hash}"));
    assert_eq!(status_code(&r), (403, "MissingScope".to_owned()));
    let t = token_of(&n.signed(&reader, "GET", &format!("/download/token?hash={hash}")));
    let r = n.req("GET", "/download", &[("token", &t)], b"");
    assert_eq!((r.status, r.body == bytes), (200, true));
    let r = n.signed(&reader, "GET", "/server/active");
    assert_eq!(r.status, 200);

    // bound to another bucket: nothing on this one
    for path in [
        format!("/upload/token?hash={hash}"),
        format!("/download/token?hash={hash}"),
        format!("/file?hash={hash}"),
    ] {
        let r = n.signed(&elsewhere, "GET", &path);
        assert_eq!(
            status_code(&r),
            (403, "BucketNotAllowed".to_owned()),
            "{path}"
        );
    }

    // the legacy system token keeps working, with every scope
    let r = n.backend("GET", &format!("/file?hash={hash}"));
    assert_eq!(r.status, 200);
    let r = n.signed(&reader, "DELETE", &format!("/file?hash={hash}"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    n.assert_absent(&hash);

    // the system token's uploads say so
    let h2 = n.put(b"by the system token", "s.txt");
    assert_eq!(
        n.backend("GET", &format!("/file?hash={h2}")).json()["uploaded_by"],
        "system"
    );

    // audit lines and per-credential metrics
    let bearer = format!("Bearer {}", TestNode::admin_token(dir.path()));
    let m = request(
        &n.node.admin,
        "GET",
        "/metrics",
        &[("Authorization", &bearer)],
        b"",
    );
    let text = String::from_utf8_lossy(&m.body);
    assert!(
        text.contains(&format!(
            "liuma_native_backend_requests_total{{credential=\"{}\",kind=\"backend\",result=\"MissingScope\"}}",
            up.id
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "credential=\"{}\",kind=\"token\",result=\"ok\"",
        up.id
    )));
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(log.lines().any(|l| l.contains("audit")
        && l.contains(&up.id)
        && l.contains(&hash)
        && l.contains("MissingScope")));
    assert!(!log.contains(&up.secret), "secrets are never logged");

    // the CLI lists them, without secrets
    let list = cli(&n, dir.path(), &["list"]);
    assert!(list.contains(&up.id) && list.contains("reader") && list.contains("other"));
    assert!(!list.contains(&up.secret));
}

#[test]
fn revocation_and_rotation_take_effect_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let all = serde_json::json!({"name": "a", "scopes": ["upload", "download", "info"]});
    let a = n.create(dir.path(), all.clone());
    let b = n.create(dir.path(), all);
    let bytes = data(2000, 2);
    let hash = sha(&bytes);
    let up_a = token_of(&n.signed(&a, "GET", &format!("/upload/token?hash={hash}")));
    let up_b = token_of(&n.signed(&b, "GET", &format!("/upload/token?hash={hash}")));
    assert_eq!(n.single(&up_b, "b.bin", &bytes).status, 200);
    let dl_a = token_of(&n.signed(&a, "GET", &format!("/download/token?hash={hash}")));

    // revoke a (CLI): its calls and its tokens fail at once; b is untouched
    let out = cli(&n, dir.path(), &["revoke", &a.id]);
    assert!(out.contains("revoked"));
    let r = n.signed(&a, "GET", "/server/active");
    assert_eq!(status_code(&r), (401, "CredentialRevoked".to_owned()));
    let r = n.req("GET", "/download", &[("token", &dl_a)], b"");
    assert_eq!(status_code(&r), (401, "CredentialRevoked".to_owned()));
    let r = n.single(&up_a, "a.bin", &bytes);
    assert_eq!(status_code(&r), (401, "CredentialRevoked".to_owned()));
    assert_eq!(n.signed(&b, "GET", "/server/active").status, 200);
    let list = cli(&n, dir.path(), &["list"]);
    assert!(
        list.lines()
            .any(|l| l.contains(&a.id) && l.contains("revoked"))
    );

    // rotate b (admin API): old secret and old tokens fail, the new secret works
    let dl_b = token_of(&n.signed(&b, "GET", &format!("/download/token?hash={hash}")));
    let r = n.admin(
        dir.path(),
        "POST",
        &format!("/admin/backends/{}/rotate", b.id),
        "",
    );
    assert_eq!(r.status, 200);
    let b2 = Cred {
        id: b.id.clone(),
        secret: r.json()["secret"].as_str().unwrap().to_owned(),
    };
    assert_ne!(b2.secret, b.secret);
    let r = n.signed(&b, "GET", "/server/active");
    assert_eq!(status_code(&r), (401, "SignatureDoesNotMatch".to_owned()));
    let r = n.req("GET", "/download", &[("token", &dl_b)], b"");
    assert_eq!(status_code(&r), (401, "InvalidToken".to_owned()));
    let dl = token_of(&n.signed(&b2, "GET", &format!("/download/token?hash={hash}")));
    let r = n.req("GET", "/download", &[("token", &dl)], b"");
    assert_eq!((r.status, r.body == bytes), (200, true));
    // revocation survives a restart; unknown ids are 404 on the admin API
    assert!(n.node.stop().success());
    let n = Native::start(dir.path(), &[]);
    let r = n.signed(&a, "GET", "/server/active");
    assert_eq!(status_code(&r), (401, "CredentialRevoked".to_owned()));
    let r = n.admin(
        dir.path(),
        "DELETE",
        "/admin/backends/LBNOSUCHCREDENTIAL00",
        "",
    );
    assert_eq!(status_code(&r), (404, "NoSuchCredential".to_owned()));
}

#[test]
fn replayed_skewed_and_wrongly_signed_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = Native::start(dir.path(), &[]);
    let c = n.create(
        dir.path(),
        serde_json::json!({"name": "c", "scopes": "info,admin".split(',').collect::<Vec<_>>()}),
    );
    // replay: the same signed request twice
    let h = sign(&n.node.native, &c, "GET", "/server/active", b"", now());
    let headers: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = request(&n.node.native, "GET", "/server/active", &headers, b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = request(&n.node.native, "GET", "/server/active", &headers, b"");
    assert_eq!(status_code(&r), (401, "ReplayedRequest".to_owned()));
    // signed for another path (the signature covers path and query)
    let r = request(&n.node.native, "GET", "/file?hash=00", &headers, b"");
    assert_eq!(status_code(&r), (401, "SignatureDoesNotMatch".to_owned()));
    // expired (and future) signatures
    for at in [now() - 20 * 60, now() + 20 * 60] {
        let r = n.signed_at(&c, "GET", "/server/active", b"", &[], at);
        assert_eq!(status_code(&r), (401, "RequestTimeTooSkewed".to_owned()));
    }
    // within the window is fine
    let r = n.signed_at(&c, "GET", "/server/active", b"", &[], now() - 60);
    assert_eq!(r.status, 200);
    // wrong secret, unknown id
    let wrong = Cred {
        id: c.id.clone(),
        secret: format!("{}x", &c.secret[1..]),
    };
    let r = n.signed(&wrong, "GET", "/server/active");
    assert_eq!(status_code(&r), (401, "SignatureDoesNotMatch".to_owned()));
    let ghost = Cred {
        id: "LBAAAAAAAAAAAAAAAAAA".to_owned(),
        secret: c.secret.clone(),
    };
    let r = n.signed(&ghost, "GET", "/server/active");
    assert_eq!(status_code(&r), (401, "InvalidAccessKeyId".to_owned()));
    // the body is signed too: a signed rotation of the system token works,
    // a changed body does not
    let new = b"rotated-by-a-credential-0001";
    let h = sign(&n.node.native, &c, "PUT", "/server/token", new, now());
    let headers: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = request(
        &n.node.native,
        "PUT",
        "/server/token",
        &headers,
        b"rotated-by-a-credential-0002",
    );
    assert_eq!(status_code(&r), (401, "SignatureDoesNotMatch".to_owned()));
    let old_system_token = n.upload_token(&sha(b"x"));
    let r = n.signed_at(&c, "PUT", "/server/token", new, &[], now());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // the legacy token rotated: the old one and its tokens fail, the new one works
    let r = n.backend("GET", "/server/active");
    assert_eq!(status_code(&r), (401, "InvalidSystemToken".to_owned()));
    let r = n.single(&old_system_token, "x", b"x");
    assert_eq!(status_code(&r), (401, "InvalidToken".to_owned()));
    n.system = String::from_utf8(new.to_vec()).unwrap();
    assert_eq!(n.backend("GET", "/server/active").status, 200);
    // no credentials at all: the legacy error
    let r = n.req("GET", "/server/active", &[], b"");
    assert_eq!(status_code(&r), (401, "InvalidSystemToken".to_owned()));
}

#[test]
fn rate_limit_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let slow = n.create(
        dir.path(),
        serde_json::json!({"name": "slow", "scopes": ["info"], "rate_limit": 2}),
    );
    // identical requests in one second have one signature: a nonce keeps them apart
    let codes: Vec<u16> = (0..5)
        .map(|i| {
            n.signed(&slow, "GET", &format!("/server/active?nonce={i}"))
                .status
        })
        .collect();
    assert!(codes.starts_with(&[200, 200]), "{codes:?}");
    assert!(codes.contains(&429), "{codes:?}");
    let r = n.signed(&slow, "GET", "/server/active?nonce=last");
    assert_eq!(status_code(&r), (429, "TooManyRequests".to_owned()));
    let old = n.create(
        dir.path(),
        serde_json::json!({"name": "old", "scopes": ["info"], "expires": "2001-01-01"}),
    );
    let r = n.signed(&old, "GET", "/server/active");
    assert_eq!(status_code(&r), (401, "CredentialExpired".to_owned()));
    let r = n.admin(
        dir.path(),
        "POST",
        "/admin/backends",
        r#"{"name": "x", "scopes": ["everything"]}"#,
    );
    assert_eq!(status_code(&r), (400, "InvalidArgument".to_owned()));
}

#[test]
fn botocore_sigv4auth_signs_native_calls() {
    let dir = tempfile::tempdir().unwrap();
    let n = Native::start(dir.path(), &[]);
    let c = n.create(
        dir.path(),
        serde_json::json!({"name": "python", "scopes": ["upload", "info", "delete"]}),
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/native/sigv4_backend.py");
    let out = Command::new("python3")
        .args([script, &n.node.native, &c.id, &c.secret, REGION])
        .output()
        .expect("running python3 (with botocore, installed by scripts/test)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["token"][0], 200, "{v}");
    assert_eq!(v["upload"][0], 200, "{v}");
    assert_eq!(v["info"][0], 200, "{v}");
    assert_eq!(v["info"][1]["uploaded_by"], c.id.as_str(), "{v}");
    assert_eq!(v["delete"][0], 200, "{v}");
    assert_eq!(v["wrong_secret"][1]["code"], "SignatureDoesNotMatch", "{v}");
    assert_eq!(
        v["wrong_region"][1]["code"], "AuthorizationHeaderMalformed",
        "{v}"
    );
}

#[test]
fn revocation_reaches_every_node_sharing_the_metadata() {
    let etcd = liuma_meta::testing::TestEtcd::start();
    let endpoint = etcd.endpoint();
    let args = ["--etcd", endpoint.as_str(), "--etcd-prefix", "/backend-it/"];
    let dir = tempfile::tempdir().unwrap();
    let (da, db) = (dir.path().join("a"), dir.path().join("b"));
    let a = Native::start(&da, &args);
    // b shares a's secrets (root key, tokens), as nodes of one cluster do
    copy_secrets(&da, &db);
    let b = Native::start(&db, &args);
    let c = a.create(
        &da,
        serde_json::json!({"name": "shared", "scopes": ["upload", "download", "info"]}),
    );
    let bytes = data(1500, 3);
    let hash = sha(&bytes);
    // minted on a, used on b; the credential works on b too
    let t = token_of(&a.signed(&c, "GET", &format!("/upload/token?hash={hash}")));
    assert_eq!(b.single(&t, "x.bin", &bytes).status, 200);
    let dl = token_of(&b.signed(&c, "GET", &format!("/download/token?hash={hash}")));
    assert_eq!(
        a.req("GET", "/download", &[("token", &dl)], b"").status,
        200
    );
    // revoked through b: refused on a at once, credential and token
    let r = b.admin(&db, "DELETE", &format!("/admin/backends/{}", c.id), "");
    assert_eq!(r.status, 200);
    let r = a.signed(&c, "GET", "/server/active");
    assert_eq!(status_code(&r), (401, "CredentialRevoked".to_owned()));
    let r = a.req("GET", "/download", &[("token", &dl)], b"");
    assert_eq!(status_code(&r), (401, "CredentialRevoked".to_owned()));
}
