//! Users through the real binary: `liuma user ...` (the CLI against the
//! admin API) and S3 requests signed with a user's keys (curl
//! `--aws-sigv4`); and, on two nodes sharing one etcd, a key disabled or a
//! policy changed through one node takes effect on the other within one
//! second (the watch-invalidated cache of `us/` and `ak/`).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::cluster::common::TestCluster;
use crate::harness::TestNode;
use crate::http::{Resp, request};

/// `liuma user <args>` against the node's admin API: (success, stdout, stderr).
fn user_cli(node: &TestNode, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_liuma"))
        .arg("user")
        .args(["--admin-url", &format!("http://{}", node.admin)])
        .arg("--admin-token-file")
        .arg(node.data.join("secrets/admin.token"))
        .args(args)
        .output()
        .expect("running liuma user");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`user_cli`] that must succeed; its stdout.
fn user_ok(node: &TestNode, args: &[&str]) -> String {
    let (ok, out, err) = user_cli(node, args);
    assert!(ok, "liuma user {args:?}: {err}");
    out
}

/// The value after `label` in the CLI's output.
fn field(out: &str, label: &str) -> String {
    out.split(label)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {label:?} in {out}"))
        .to_owned()
}

/// `curl` signed with SigV4 as `id`/`secret`: (status, body).
fn curl_as(id: &str, secret: &str, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "-w", "\n%{http_code}"])
        .args(["--aws-sigv4", "aws:amz:us-east-1:s3"])
        .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
        .args(["--user", &format!("{id}:{secret}")])
        .args(args)
        .output()
        .expect("running curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("curl prints the status last");
    (
        code.trim().parse().expect("numeric status"),
        body.to_owned(),
    )
}

/// An admin call with a JSON body.
fn admin_json(node: &TestNode, method: &str, path: &str, body: &serde_json::Value) -> Resp {
    let auth = format!("Bearer {}", TestNode::admin_token(&node.data));
    let r = request(
        &node.admin,
        method,
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(
        r.status,
        200,
        "{method} {path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r
}

#[test]
fn user_cli_manages_users_keys_and_policies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = TestNode::start(dir.path(), &[]);
    let created = user_ok(&node, &["create", "alice"]);
    let canonical = field(&created, "canonical id:");
    assert_eq!(canonical.len(), 64, "{created}");
    let list = user_ok(&node, &["list"]);
    assert!(
        list.contains("alice") && list.contains(&canonical),
        "{list}"
    );
    assert!(list.contains("root (root)"), "{list}");

    let key = user_ok(&node, &["key", "create", "alice", "--name", "app"]);
    let (id, secret) = (
        field(&key, "access key id:"),
        field(&key, "secret access key:"),
    );
    let s3 = |args: &[&str]| curl_as(&id, &secret, args);
    let root_url = format!("http://{}/", node.s3);
    let bucket = format!("http://{}/alice-bkt", node.s3);
    assert_eq!(s3(&["-X", "PUT", &bucket]).0, 200);
    let (st, body) = s3(&[&root_url]);
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("<Name>alice-bkt</Name>"), "{body}");
    assert!(body.contains(&format!("<ID>{canonical}</ID>")), "{body}");

    // Disabled: 403 InvalidAccessKeyId; enabled again: back.
    user_ok(&node, &["key", "disable", "alice", &id]);
    let (st, body) = s3(&[&root_url]);
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("InvalidAccessKeyId"), "{body}");
    let keys = user_ok(&node, &["key", "list", "alice"]);
    assert!(keys.contains(&id) && keys.contains("disabled"), "{keys}");
    user_ok(&node, &["key", "enable", "alice", &id]);
    assert_eq!(s3(&[&root_url]).0, 200);

    // Policies: stored as given, listed, read back; a bad one refused.
    let file = dir.path().join("ro.json");
    let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::alice-bkt/*"}]}"#;
    std::fs::write(&file, text).expect("write policy");
    let f = file.to_str().expect("utf-8 path");
    user_ok(&node, &["policy", "put", "alice", "ro", "--file", f]);
    assert_eq!(
        user_ok(&node, &["policy", "get", "alice", "ro"]).trim(),
        text
    );
    assert_eq!(user_ok(&node, &["policy", "list", "alice"]).trim(), "ro");
    std::fs::write(&file, "not json").expect("write policy");
    let (ok, _, err) = user_cli(&node, &["policy", "put", "alice", "bad", "--file", f]);
    assert!(!ok && err.contains("400"), "{err}");
    assert_eq!(user_ok(&node, &["policy", "list", "alice"]).trim(), "ro");
    user_ok(&node, &["policy", "delete", "alice", "ro"]);
    assert_eq!(user_ok(&node, &["policy", "list", "alice"]).trim(), "");

    // A user owning a bucket stays; without it, it goes with its keys.
    let (ok, _, err) = user_cli(&node, &["delete", "alice"]);
    assert!(!ok && err.contains("alice-bkt"), "{err}");
    assert_eq!(s3(&["-X", "DELETE", &bucket]).0, 204);
    user_ok(&node, &["delete", "alice"]);
    assert_eq!(s3(&[&root_url]).0, 403);
    let (ok, _, err) = user_cli(&node, &["delete", "root"]);
    assert!(!ok && err.contains("400"), "{err}");
}

/// Poll `probe` every 10 ms until it holds (deadline 10 s); the time it
/// took, to within a poll (finer than `wait_for`'s quarter second: this is
/// what the test measures).
fn until(what: &str, mut probe: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if probe() {
            let took = start.elapsed();
            println!("{what}: after {took:?}");
            return took;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what}: not within 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn user_changes_reach_the_other_node_within_a_second() {
    let c = TestCluster::start(2, &[]);
    let (n1, n2) = (&c.node("n1").node, &c.node("n2").node);
    admin_json(
        n1,
        "POST",
        "/admin/users",
        &serde_json::json!({"name": "carol"}),
    );
    let k = admin_json(
        n1,
        "POST",
        "/admin/users/carol/keys",
        &serde_json::json!({"name": "k"}),
    )
    .json();
    let (id, secret) = (
        k["id"].as_str().expect("id").to_owned(),
        k["secret"].as_str().expect("secret").to_owned(),
    );
    let on_n2 = format!("http://{}/", n2.s3);
    let status_on_n2 = || curl_as(&id, &secret, &[&on_n2]).0;
    // A new key works on the other node (and is in its cache from now on).
    until("the new key works on n2", || status_on_n2() == 200);
    assert_eq!(status_on_n2(), 200);

    admin_json(
        n1,
        "POST",
        &format!("/admin/users/carol/keys/{id}/disable"),
        &serde_json::json!({}),
    );
    let disabled = until("n2 refuses the disabled key", || status_on_n2() == 403);
    admin_json(
        n1,
        "POST",
        &format!("/admin/users/carol/keys/{id}/enable"),
        &serde_json::json!({}),
    );
    let enabled = until("n2 accepts the key again", || status_on_n2() == 200);

    let has_policy = |name: &str| {
        let r = n2.admin_req("GET", "/admin/users/carol");
        r.status == 200
            && r.json()["policies"]
                .as_array()
                .is_some_and(|p| p.iter().any(|x| x == name))
    };
    assert!(!has_policy("p1"), "n2 has read the user before the change");
    admin_json(
        n1,
        "PUT",
        "/admin/users/carol/policies/p1",
        &serde_json::json!({"policy": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#}),
    );
    let policy = until("n2 sees the new policy", || has_policy("p1"));
    println!(
        "propagation to the other node: disable {disabled:?}, enable {enabled:?}, policy {policy:?}"
    );
    for (what, d) in [
        ("disable", disabled),
        ("enable", enabled),
        ("policy", policy),
    ] {
        assert!(d < Duration::from_secs(1), "{what} took {d:?} to reach n2");
    }
}
