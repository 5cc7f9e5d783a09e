//! The web console's listener on the real binary: sign-in (one message for
//! a wrong key or a wrong secret, rate limit), cookie flags, CSRF, the
//! JSON API (buckets, objects, uploads, share links) and its access check,
//! which is the S3 API's own. The idle timeout is a unit test in
//! `liuma-console` (injectable clock); the browser test is `console_browser.rs`.

use std::path::Path;

use crate::harness::{TestNode, root_key};
use crate::http::{Resp, request};

/// A signed-in console client.
pub struct Client {
    pub addr: String,
    pub cookie: String,
    pub csrf: String,
}

pub fn login(addr: &str, key: &str, secret: &str) -> Resp {
    let body = serde_json::json!({"access_key": key, "secret": secret}).to_string();
    request(
        addr,
        "POST",
        "/api/login",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

impl Client {
    pub fn root(node: &TestNode) -> Client {
        let (id, secret) = root_key(&node.data);
        Client::sign_in(&node.console, &id, &secret)
    }

    pub fn sign_in(addr: &str, key: &str, secret: &str) -> Client {
        let r = login(addr, key, secret);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let set = r.header("set-cookie").expect("a session cookie").to_owned();
        let cookie = set.split(';').next().unwrap().to_owned();
        Client {
            addr: addr.to_owned(),
            cookie,
            csrf: r.json()["csrf"].as_str().unwrap().to_owned(),
        }
    }

    /// A request with the session cookie and the CSRF token.
    pub fn req(&self, method: &str, path: &str, body: &[u8]) -> Resp {
        request(
            &self.addr,
            method,
            path,
            &[
                ("Cookie", &self.cookie),
                ("x-csrf-token", &self.csrf),
                ("Content-Type", "application/json"),
            ],
            body,
        )
    }

    pub fn json(&self, method: &str, path: &str, v: serde_json::Value) -> Resp {
        self.req(method, path, v.to_string().as_bytes())
    }
}

fn node(dir: &Path) -> TestNode {
    TestNode::start(&dir.join("n"), &[])
}

#[test]
fn console_sign_in_refuses_wrong_key_and_secret_alike_and_rate_limits() {
    let dir = tempfile::tempdir().unwrap();
    let n = node(dir.path());
    let (id, secret) = root_key(&n.data);
    let wrong_secret = login(&n.console, &id, "not-the-secret");
    let wrong_key = login(&n.console, "AKNOSUCHKEY000000000", &secret);
    for r in [&wrong_secret, &wrong_key] {
        assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
        assert!(r.header("set-cookie").is_none());
    }
    assert_eq!(
        wrong_secret.body, wrong_key.body,
        "the same answer whichever half was wrong"
    );
    assert_eq!(wrong_key.json()["error"], "Wrong access key or secret.");
    // 10 attempts a minute per address: 2 above, 8 more pass, the 11th is refused
    for _ in 0..8 {
        assert_eq!(login(&n.console, &id, "nope").status, 401);
    }
    let r = login(&n.console, &id, &secret);
    assert_eq!(
        r.status,
        429,
        "even right credentials wait: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(r.json()["error"].as_str().unwrap().contains("Too many"));
}

#[test]
fn console_session_cookie_flags_csrf_and_sign_out() {
    let dir = tempfile::tempdir().unwrap();
    let n = node(dir.path());
    let (id, secret) = root_key(&n.data);
    let r = login(&n.console, &id, &secret);
    assert_eq!(r.status, 200);
    let set = r.header("set-cookie").unwrap();
    assert!(set.starts_with("liuma_console="), "{set}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{flag} in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: no Secure flag: {set}");
    // behind a TLS proxy: Secure
    let body = serde_json::json!({"access_key": id, "secret": secret}).to_string();
    let r = request(
        &n.console,
        "POST",
        "/api/login",
        &[("X-Forwarded-Proto", "https")],
        body.as_bytes(),
    );
    assert!(r.header("set-cookie").unwrap().contains("; Secure"));

    let c = Client::sign_in(&n.console, &id, &secret);
    // a change without the CSRF token, or with another one: 403, nothing made
    for token in [None, Some("0".repeat(64))] {
        let mut h = vec![
            ("Cookie", c.cookie.as_str()),
            ("Content-Type", "application/json"),
        ];
        if let Some(t) = &token {
            h.push(("x-csrf-token", t));
        }
        let r = request(
            &c.addr,
            "POST",
            "/api/buckets",
            &h,
            br#"{"name":"csrf-victim"}"#,
        );
        assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["code"], "BadCsrfToken");
    }
    let list = c.req("GET", "/api/buckets", b"");
    assert_eq!(list.status, 200);
    assert!(!String::from_utf8_lossy(&list.body).contains("csrf-victim"));
    // no cookie: 401
    let r = request(&c.addr, "GET", "/api/buckets", &[], b"");
    assert_eq!(r.status, 401);
    // sign out ends the session
    let r = c.req("POST", "/api/logout", b"");
    assert_eq!(r.status, 200);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(c.req("GET", "/api/buckets", b"").status, 401);
}

#[test]
fn console_assets_have_csp_types_and_cache_headers() {
    let dir = tempfile::tempdir().unwrap();
    let n = node(dir.path());
    let mut total = 0;
    for (path, ty) in [
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/api.js", "text/javascript"),
        ("/upload.js", "text/javascript"),
        ("/ui.js", "text/javascript"),
        ("/app.css", "text/css"),
    ] {
        let r = request(&n.console, "GET", path, &[], b"");
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header("content-type").unwrap().starts_with(ty), "{path}");
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        let etag = r.header("etag").unwrap().to_owned();
        let again = request(&n.console, "GET", path, &[("If-None-Match", &etag)], b"");
        assert_eq!(again.status, 304, "{path} revalidates");
        total += r.body.len();
    }
    println!("console first load: {total} bytes uncompressed");
    assert!(total < 250 << 10, "first load {total} bytes");
}

#[test]
fn console_buckets_objects_uploads_and_share_links_through_s3() {
    let dir = tempfile::tempdir().unwrap();
    let n = node(dir.path());
    let c = Client::root(&n);
    let r = c.json(
        "POST",
        "/api/buckets",
        serde_json::json!({"name": "photos"}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = c.json(
        "POST",
        "/api/buckets",
        serde_json::json!({"name": "Bad_Name"}),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("Invalid bucket name")
    );
    let list = c.req("GET", "/api/buckets", b"").json();
    let names: Vec<&str> = list["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"photos"), "{names:?}");
    // versioning on
    let r = c.json(
        "PUT",
        "/api/buckets/photos/versioning",
        serde_json::json!({"enabled": true}),
    );
    assert_eq!(r.status, 200);
    let v = c.req("GET", "/api/buckets/photos/versioning", b"").json();
    assert_eq!(v["enabled"], true);
    c.json(
        "PUT",
        "/api/buckets/photos/versioning",
        serde_json::json!({"enabled": false}),
    );
    assert_eq!(
        c.req("GET", "/api/buckets/photos/versioning", b"").json()["status"],
        "Suspended"
    );

    // uploads: one PUT, and multipart (2 parts)
    let keys = [
        "a/one.txt",
        "a/b/two.txt",
        "<img src=x onerror=alert(1)>",
        "../../etc/passwd",
    ];
    for k in keys {
        let path = format!("/api/buckets/photos/object?key={}", enc(k));
        let r = request(
            &c.addr,
            "PUT",
            &path,
            &[
                ("Cookie", &c.cookie),
                ("x-csrf-token", &c.csrf),
                ("Content-Type", "text/plain"),
            ],
            k.as_bytes(),
        );
        assert_eq!(r.status, 200, "{k}: {}", String::from_utf8_lossy(&r.body));
    }
    let big: Vec<u8> = (0..(5 << 20) + 100).map(|i| (i % 251) as u8).collect();
    let key = enc("a/big.bin");
    let up = c.req(
        "POST",
        &format!("/api/buckets/photos/multipart?key={key}"),
        b"",
    );
    assert_eq!(up.status, 200, "{}", String::from_utf8_lossy(&up.body));
    let uid = up.json()["upload_id"].as_str().unwrap().to_owned();
    let mut parts = Vec::new();
    for (i, chunk) in big.chunks(5 << 20).enumerate() {
        let r = request(
            &c.addr,
            "PUT",
            &format!(
                "/api/buckets/photos/multipart/part?key={key}&upload_id={}&part={}",
                enc(&uid),
                i + 1
            ),
            &[("Cookie", &c.cookie), ("x-csrf-token", &c.csrf)],
            chunk,
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        parts.push(serde_json::json!({"part": i + 1, "etag": r.json()["etag"]}));
    }
    let listed = c
        .req(
            "GET",
            &format!(
                "/api/buckets/photos/multipart/parts?key={key}&upload_id={}",
                enc(&uid)
            ),
            b"",
        )
        .json();
    assert_eq!(listed["parts"].as_array().unwrap().len(), 2);
    assert_eq!(listed["parts"][1]["size"], 100);
    let r = c.json(
        "POST",
        &format!(
            "/api/buckets/photos/multipart/complete?key={key}&upload_id={}",
            enc(&uid)
        ),
        serde_json::json!({"parts": parts}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // delimiter listing: folders and objects; paging by token
    let l = c
        .req("GET", "/api/buckets/photos/objects?prefix=", b"")
        .json();
    assert_eq!(l["folders"], serde_json::json!(["../", "a/"]));
    assert_eq!(l["objects"][0]["key"], "<img src=x onerror=alert(1)>");
    let l = c
        .req("GET", "/api/buckets/photos/objects?prefix=a%2F&max=1", b"")
        .json();
    assert_eq!(l["folders"], serde_json::json!(["a/b/"]));
    assert_eq!(l["objects"].as_array().unwrap().len(), 0);
    let token = l["next_token"].as_str().expect("more to come").to_owned();
    let l2 = c
        .req(
            "GET",
            &format!(
                "/api/buckets/photos/objects?prefix=a%2F&max=10&token={}",
                enc(&token)
            ),
            b"",
        )
        .json();
    let ks: Vec<&str> = l2["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(ks, ["a/big.bin", "a/one.txt"]);
    assert!(l2["next_token"].is_null());

    // download with Range; the traversal key is only a key
    let r = request(
        &c.addr,
        "GET",
        &format!("/api/buckets/photos/object?key={key}"),
        &[("Cookie", &c.cookie), ("Range", "bytes=10-19")],
        b"",
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &big[10..20]);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .contains("sandbox")
    );
    let r = request(
        &c.addr,
        "GET",
        &format!("/api/buckets/photos/object?key={}", enc("../../etc/passwd")),
        &[("Cookie", &c.cookie)],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"../../etc/passwd");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let meta = c
        .req("GET", &format!("/api/buckets/photos/meta?key={key}"), b"")
        .json();
    assert_eq!(meta["size"], big.len());

    // share link: a presigned GET on the S3 listener
    let r = c.json(
        "POST",
        "/api/buckets/photos/share",
        serde_json::json!({"key": "a/one.txt", "expires_secs": 3600}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let url = r.json()["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("http://{}/photos/a/one.txt?", n.s3)),
        "{url}"
    );
    let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
    let got = request(&n.s3, "GET", &path, &[], b"");
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    assert_eq!(got.body, b"a/one.txt");
    let r = c.json(
        "POST",
        "/api/buckets/photos/share",
        serde_json::json!({"key": "a/one.txt", "expires_secs": 7 * 86400 + 1}),
    );
    assert_eq!(r.status, 400);

    // delete: multi-select, then the bucket (not empty first)
    let r = c.json("DELETE", "/api/buckets/photos", serde_json::json!({}));
    assert_eq!(r.status, 409);
    assert!(r.json()["error"].as_str().unwrap().contains("not empty"));
    let mut all: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    all.push("a/big.bin".into());
    let r = c.json(
        "POST",
        "/api/buckets/photos/delete",
        serde_json::json!({"keys": all}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["deleted"], 5);
    // versioning was on once: delete markers/versions may remain; a bucket
    // that never had versions deletes cleanly
    let r = c.json(
        "POST",
        "/api/buckets",
        serde_json::json!({"name": "scratch"}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        c.json("DELETE", "/api/buckets/scratch", serde_json::json!({}))
            .status,
        200
    );
}

#[test]
fn console_user_without_rights_gets_the_s3_refusal_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let n = node(dir.path());
    let root = Client::root(&n);
    assert_eq!(
        root.json(
            "POST",
            "/api/buckets",
            serde_json::json!({"name": "private"})
        )
        .status,
        200
    );
    let auth = format!("Bearer {}", TestNode::admin_token(&n.data));
    let k = request(
        &n.admin,
        "POST",
        "/admin/keys",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        br#"{"name":"nobody"}"#,
    )
    .json();
    let user = Client::sign_in(
        &n.console,
        k["id"].as_str().unwrap(),
        k["secret"].as_str().unwrap(),
    );
    let r = user.req("GET", "/api/buckets/private/objects?prefix=", b"");
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["code"], "AccessDenied");
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("Access denied")
    );
    let r = user.json("DELETE", "/api/buckets/private", serde_json::json!({}));
    assert_eq!(r.status, 403);
    assert_eq!(
        root.req("GET", "/api/buckets/private/versioning", b"")
            .status,
        200
    );
}

/// Percent-encode a query value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
