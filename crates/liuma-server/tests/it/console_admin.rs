//! The console's admin side on the real binary: admin sign-in (the admin
//! token, refused in one message, the same rate limit as key sign-ins),
//! sessions of the two kinds kept apart (an S3 user's session gets 403 on
//! the admin routes and the charts, an admin session 403 on the bucket
//! routes), CSRF on admin changes, the passthrough's list of routes, users
//! and keys through the admin API (a disabled key is refused by S3), policy
//! validation errors in words, and the charts' points. The browser side is
//! `cluster_browser.rs`.

use std::time::{Duration, Instant};

use crate::console::Client;
use crate::harness::{TestNode, s3_curl};
use crate::http::{Resp, request};

fn admin_login(addr: &str, token: &str) -> Resp {
    let body = serde_json::json!({ "token": token }).to_string();
    request(
        addr,
        "POST",
        "/api/admin/login",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// An admin console session on `n`.
pub fn admin_client(n: &TestNode) -> Client {
    let r = admin_login(&n.console, &TestNode::admin_token(&n.data));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let set = r.header("set-cookie").expect("a session cookie").to_owned();
    for flag in ["HttpOnly", "SameSite=Strict"] {
        assert!(set.contains(flag), "{flag} in {set}");
    }
    Client {
        addr: n.console.clone(),
        cookie: set.split(';').next().unwrap().to_owned(),
        csrf: r.json()["csrf"].as_str().unwrap().to_owned(),
    }
}

/// `curl` signed as `id`/`secret`: the HTTP status.
fn s3_status_as(id: &str, secret: &str, url: &str) -> u16 {
    let out = std::process::Command::new("curl")
        .args(["-s", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--aws-sigv4", "aws:amz:us-east-1:s3"])
        .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
        .args(["--user", &format!("{id}:{secret}")])
        .arg(url)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn console_admin_sign_in_refuses_a_wrong_token_and_shares_the_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(&dir.path().join("n"), &[]);
    let token = TestNode::admin_token(&n.data);
    for bad in ["wrong".to_owned(), format!("{token}x"), String::new()] {
        let r = admin_login(&n.console, &bad);
        assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["error"], "Wrong admin token.");
        assert!(r.header("set-cookie").is_none());
    }
    // the root key's secret is no admin token
    let (_, secret) = crate::harness::root_key(&n.data);
    assert_eq!(admin_login(&n.console, &secret).status, 401);
    // the token never reaches the log
    assert!(!n.log().contains(&token), "the admin token was logged");
    // 10 attempts a minute per address, key and token sign-ins together:
    // 4 above, a key sign-in, 5 more token ones; the 11th waits
    assert_eq!(crate::console::login(&n.console, "AKNOPE", "x").status, 401);
    for _ in 0..5 {
        assert_eq!(admin_login(&n.console, "nope").status, 401);
    }
    let r = admin_login(&n.console, &token);
    assert_eq!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
}

#[test]
fn console_sessions_of_each_kind_stay_on_their_side_and_changes_need_csrf() {
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(&dir.path().join("n"), &[]);
    let admin = admin_client(&n);
    let user = Client::root(&n);
    // who is signed in
    let s = admin.req("GET", "/api/session", b"").json();
    assert_eq!(
        (s["kind"].as_str(), s["access_key"].as_str()),
        (Some("admin"), Some("admin"))
    );
    assert_eq!(user.req("GET", "/api/session", b"").json()["kind"], "s3");
    // the admin session reaches the admin API in-process
    let r = admin.req("GET", "/api/admin/cluster", b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let nodes = r.json()["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 1, "single-node mode shows the one node");
    assert_eq!(nodes[0]["live"], true);
    // an S3 user's session does not, even the root key's
    for path in ["/api/admin/cluster", "/api/admin/users", "/api/charts"] {
        let r = user.req("GET", path, b"");
        assert_eq!(
            r.status,
            403,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json()["code"], "NotAdmin");
    }
    let r = user.json(
        "POST",
        "/api/admin/users",
        serde_json::json!({"name": "sneaky"}),
    );
    assert_eq!(r.status, 403);
    // no session: 401
    let r = request(&n.console, "GET", "/api/admin/cluster", &[], b"");
    assert_eq!(r.status, 401);
    // an admin session is no S3 key
    let r = admin.req("GET", "/api/buckets", b"");
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["code"], "AdminSession");
    // changes need the CSRF token: refused without, nothing made
    let r = request(
        &n.console,
        "POST",
        "/api/admin/users",
        &[
            ("Cookie", &admin.cookie),
            ("Content-Type", "application/json"),
        ],
        br#"{"name":"nocsrf"}"#,
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["code"], "BadCsrfToken");
    let r = request(
        &n.console,
        "POST",
        "/api/admin/nodes/local/drain",
        &[("Cookie", &admin.cookie), ("x-csrf-token", "stale")],
        b"",
    );
    assert_eq!(r.status, 403);
    let users = n.admin_req("GET", "/admin/users").json();
    assert!(
        !users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "nocsrf" || u["name"] == "sneaky"),
        "{users}"
    );
    // only the listed admin routes pass: not the legacy keys, metrics or lifecycle
    for (m, p) in [
        ("GET", "/api/admin/keys"),
        ("GET", "/api/admin/metrics"),
        ("POST", "/api/admin/lifecycle"),
        ("GET", "/api/admin/nodes/../metrics"),
    ] {
        let r = admin.req(m, p, b"");
        assert_eq!(
            r.status,
            404,
            "{m} {p}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // signing out ends the admin session
    assert_eq!(admin.req("POST", "/api/logout", b"").status, 200);
    assert_eq!(admin.req("GET", "/api/admin/cluster", b"").status, 401);
}

#[test]
fn console_admin_manages_users_keys_policies_backends_and_drain() {
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(&dir.path().join("n"), &[]);
    let a = admin_client(&n);
    let ok = |r: Resp| {
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    };
    ok(a.json(
        "POST",
        "/api/admin/users",
        serde_json::json!({"name": "alice"}),
    ));
    let k = ok(a.json(
        "POST",
        "/api/admin/users/alice/keys",
        serde_json::json!({"name": "laptop"}),
    ));
    let (id, secret) = (k["id"].as_str().unwrap(), k["secret"].as_str().unwrap());
    assert!(secret.len() >= 20);
    // listed without its secret
    let keys = ok(a.req("GET", "/api/admin/users/alice/keys", b""));
    assert_eq!(keys[0]["id"], id);
    assert!(keys[0].get("secret").is_none(), "{keys}");
    // a bad policy: the server's validation in words, nothing stored
    let r = a.json(
        "PUT",
        "/api/admin/users/alice/policies/p1",
        serde_json::json!({"policy": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Maybe\"}]}"}),
    );
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert!(!r.json()["error"].as_str().unwrap().is_empty());
    assert_eq!(
        ok(a.req("GET", "/api/admin/users/alice", b""))["policies"],
        serde_json::json!([])
    );
    // a good one: alice may list every bucket
    let pol = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#;
    ok(a.json(
        "PUT",
        "/api/admin/users/alice/policies/list",
        serde_json::json!({"policy": pol}),
    ));
    let url = format!("http://{}/", n.s3);
    assert_eq!(s3_status_as(id, secret, &url), 200);
    // disabled: S3 refuses it; enabled again: accepted
    let d = ok(a.req(
        "POST",
        &format!("/api/admin/users/alice/keys/{id}/disable"),
        b"",
    ));
    assert_eq!(d["disabled"], true);
    assert_eq!(s3_status_as(id, secret, &url), 403);
    ok(a.req(
        "POST",
        &format!("/api/admin/users/alice/keys/{id}/enable"),
        b"",
    ));
    assert_eq!(s3_status_as(id, secret, &url), 200);
    // errors in words: no such user
    let r = a.req("GET", "/api/admin/users/nobody", b"");
    assert_eq!(r.status, 404);
    assert!(
        r.json()["error"].as_str().unwrap().contains("nobody"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // backend credentials: create with scopes, rotate, revoke
    let b = ok(a.json(
        "POST",
        "/api/admin/backends",
        serde_json::json!({"name": "app", "scopes": ["upload", "info"]}),
    ));
    assert_eq!(b["scopes"], serde_json::json!(["upload", "info"]));
    let bid = b["id"].as_str().unwrap();
    let rot = ok(a.req("POST", &format!("/api/admin/backends/{bid}/rotate"), b""));
    assert_ne!(rot["secret"], b["secret"]);
    ok(a.req("DELETE", &format!("/api/admin/backends/{bid}"), b""));
    let list = ok(a.req("GET", "/api/admin/backends", b""));
    assert!(list[0]["revoked_ms"].is_u64(), "{list}");
    // draining needs a cluster: refused in words on a single node
    let node = ok(a.req("GET", "/api/admin/cluster", b""))["node_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = a.req("POST", &format!("/api/admin/nodes/{node}/drain"), b"");
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["error"].as_str().unwrap().contains("cluster"));
    // heal, scrub, census and passes
    ok(a.req("POST", "/api/admin/heal", b""));
    ok(a.req("POST", "/api/admin/scrub", b""));
    assert!(ok(a.req("GET", "/api/admin/blocks", b""))["healthy"].is_u64());
    assert!(ok(a.req("GET", "/api/admin/passes", b""))["heal"]["last_done_ms"].is_u64());
    // delete the key and the user
    ok(a.req("DELETE", &format!("/api/admin/users/alice/keys/{id}"), b""));
    assert_eq!(s3_status_as(id, secret, &url), 403);
    ok(a.req("DELETE", "/api/admin/users/alice", b""));
}

#[test]
fn console_charts_have_points_from_the_nodes_own_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(&dir.path().join("n"), &[]);
    let a = admin_client(&n);
    let (st, _) = s3_curl(&n.data, &["-X", "PUT", &format!("http://{}/charts", n.s3)]);
    assert_eq!(st, 200);
    let body = vec![7u8; 256 << 10];
    let file = dir.path().join("obj");
    std::fs::write(&file, &body).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let points = loop {
        // traffic on every round, so some interval has requests and bytes
        let (st, _) = s3_curl(
            &n.data,
            &[
                "-T",
                file.to_str().unwrap(),
                &format!("http://{}/charts/o", n.s3),
            ],
        );
        assert_eq!(st, 200);
        let (st, _) = s3_curl(&n.data, &[&format!("http://{}/charts/missing", n.s3)]);
        assert_eq!(st, 404);
        let r = a.req("GET", "/api/charts", b"").json();
        let pts = r["points"].as_array().unwrap().clone();
        if pts.iter().any(|p| p["rps"].as_f64().unwrap() > 0.0)
            && pts
                .iter()
                .any(|p| p["client_errors_ps"].as_f64().unwrap() > 0.0)
        {
            break pts;
        }
        assert!(
            Instant::now() < deadline,
            "no chart points with traffic: {r}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let last = points.last().unwrap();
    assert!(
        last["logical_bytes"].as_f64().unwrap() >= (256 << 10) as f64,
        "{last}"
    );
    assert!(last["stored_bytes"].as_f64().unwrap() > 0.0, "{last}");
    assert!(points.iter().any(|p| p["p99_ms"].is_f64()), "{points:?}");
    // the same ring on the admin API (what other nodes' consoles read for
    // the whole-cluster charts): the admin token required, `since_ms` honoured
    let r = crate::http::request(&n.admin, "GET", "/admin/charts", &[], b"");
    assert_eq!(r.status, 401);
    let all = n.admin_req("GET", "/admin/charts").json();
    let all = all["points"].as_array().unwrap();
    assert!(all.len() >= points.len(), "{all:?}");
    // only points newer than `since_ms` (a sample may land meanwhile)
    let t = all.last().unwrap()["t_ms"].as_u64().unwrap() - 1;
    let newer = n
        .admin_req("GET", &format!("/admin/charts?since_ms={t}"))
        .json();
    let newer = newer["points"].as_array().unwrap();
    assert!(
        !newer.is_empty() && newer.len() <= 2 && newer[0] == *all.last().unwrap(),
        "{newer:?}"
    );
    assert!(newer.iter().all(|p| p["t_ms"].as_u64().unwrap() > t));
    // a single node: the whole cluster is this node; an unknown node is 404
    let r = a.req("GET", "/api/charts?node=all", b"").json();
    assert_eq!(r["nodes"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["nodes"][0]["ok"], true, "{r}");
    assert!(!r["points"].as_array().unwrap().is_empty(), "{r}");
    assert_eq!(a.req("GET", "/api/charts?node=nope", b"").status, 404);
}
