//! SSE-S3 master key rotation on a node of its own (issue #19): `liuma sse
//! rotate` writes a new version into `secrets/sse.key`, new objects use it,
//! old ones read; re-encrypt, retire; and the ring survives a restart.

use crate::cluster::sse_keys::sse_cli;
use crate::harness::{TestNode, s3_curl};

fn put(node: &TestNode, key: &str, body: &str) {
    let url = format!("http://{}/one/{key}", node.s3);
    let (status, out) = s3_curl(
        &node.data,
        &[
            "-X",
            "PUT",
            "-H",
            "x-amz-server-side-encryption: AES256",
            "--data-binary",
            body,
            &url,
        ],
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
}

fn get(node: &TestNode, key: &str) -> String {
    let url = format!("http://{}/one/{key}", node.s3);
    let (status, out) = s3_curl(&node.data, &[&url]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    String::from_utf8_lossy(&out).into_owned()
}

fn cli(node: &TestNode, args: &[&str]) -> String {
    let (ok, out, err) = sse_cli(&node.data, &node.admin, args);
    assert!(ok, "liuma sse {args:?}: {err}");
    out
}

#[test]
fn single_node_rotate_reencrypt_retire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("d");
    let node = TestNode::start(&data, &[]);
    let (status, _) = s3_curl(&data, &["-X", "PUT", &format!("http://{}/one", node.s3)]);
    assert_eq!(status, 200);
    put(&node, "before", "sealed under version one");
    let ring_v1 = std::fs::read_to_string(data.join("secrets/sse.key")).expect("ring");
    let out = cli(&node, &["rotate"]);
    assert!(out.contains("version 2"), "{out}");
    let ring_v2 = std::fs::read_to_string(data.join("secrets/sse.key")).expect("ring");
    assert!(ring_v2.starts_with(&ring_v1) && ring_v2.contains("v2 "));
    put(&node, "after", "sealed under version two");
    let u2 = node.admin_req("GET", "/admin/sse/usage?version=2").json();
    assert_eq!(u2["object_versions"], 1, "{u2}");
    assert_eq!(get(&node, "before"), "sealed under version one");
    let (ok, _, err) = sse_cli(&data, &node.admin, &["retire", "1"]);
    assert!(!ok && err.contains("1 object version(s)"), "{err}");
    let out = cli(&node, &["reencrypt", "--from-version", "1"]);
    assert!(out.contains("rewritten 1"), "{out}");
    let out = cli(&node, &["retire", "1"]);
    assert!(out.contains("retired version 1"), "{out}");
    let ring = std::fs::read_to_string(data.join("secrets/sse.key")).expect("ring");
    assert!(
        !ring.contains("v1 ") && ring.contains("v2 "),
        "v1 gone from the file"
    );
    // restart: the ring on disk is the one in use
    node.stop();
    let node = TestNode::start(&data, &[]);
    assert_eq!(get(&node, "before"), "sealed under version one");
    assert_eq!(get(&node, "after"), "sealed under version two");
    let s = node.admin_req("GET", "/admin/sse").json();
    assert_eq!(
        (s["current"].as_u64(), s["versions"].clone()),
        (Some(2), serde_json::json!([2]))
    );
    // the retirement's fence stays (versions are never reused)
    assert_eq!(s["fenced"], serde_json::json!([1]), "{s}");
}

/// A ring from --sse-master-key-file is not liuma's to change.
#[test]
fn external_key_file_refuses_rotation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("d");
    let key = dir.path().join("kms.key");
    std::fs::write(&key, "ab".repeat(32)).expect("key");
    let node = TestNode::start(
        &data,
        &["--sse-master-key-file", key.to_str().expect("utf-8")],
    );
    let (ok, _, err) = sse_cli(&data, &node.admin, &["rotate"]);
    assert!(!ok && err.contains("--sse-master-key-file"), "{err}");
    let s = node.admin_req("GET", "/admin/sse").json();
    assert_eq!(s["managed"], false);
    assert_eq!(s["versions"], serde_json::json!([1]));
}

/// The ring may come from `LIUMA_SSE_MASTER_KEY` (an external secret
/// manager injecting a variable): used as given, never written to
/// `secrets/`, never logged, not liuma's to rotate; objects written under it
/// read again after a restart with the same variable. Giving a file as
/// well, or malformed text, stops the start with a clear error.
#[test]
fn master_key_from_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("d");
    let hex_key = "5a".repeat(32);
    let ring = format!("v3 {hex_key}\n");
    let env = [("LIUMA_SSE_MASTER_KEY", ring.as_str())];
    let node = TestNode::start_env(&data, &[], &env);
    let (status, _) = s3_curl(&data, &["-X", "PUT", &format!("http://{}/one", node.s3)]);
    assert_eq!(status, 200);
    put(&node, "k", "sealed under the injected key");
    let s = node.admin_req("GET", "/admin/sse").json();
    assert_eq!(
        (
            s["managed"].clone(),
            s["versions"].clone(),
            s["current"].as_u64()
        ),
        (serde_json::json!(false), serde_json::json!([3]), Some(3)),
        "{s}"
    );
    let (ok, _, err) = sse_cli(&data, &node.admin, &["rotate"]);
    assert!(!ok && err.contains("--sse-master-key-file"), "{err}");
    assert!(
        !data.join("secrets/sse.key").exists(),
        "an injected key is not copied to secrets/"
    );
    assert!(!node.log().contains(&hex_key), "the key is never logged");
    node.stop();
    let node = TestNode::start_env(&data, &[], &env);
    assert_eq!(get(&node, "k"), "sealed under the injected key");
    node.stop();

    // both ways at once, or malformed text: a clear start-up error, no key echoed
    let file = dir.path().join("kms.key");
    std::fs::write(&file, &hex_key).expect("key file");
    for (args, value, expect) in [
        (
            vec!["--sse-master-key-file", file.to_str().expect("utf-8")],
            ring.as_str(),
            "both --sse-master-key-file and LIUMA_SSE_MASTER_KEY",
        ),
        (vec![], "v1 not-hex-at-all", "LIUMA_SSE_MASTER_KEY"),
        // an optional secret that is missing: never a silent fallback
        (vec![], "  ", "LIUMA_SSE_MASTER_KEY is set but empty"),
    ] {
        let out = crate::harness::server_command(&data, "127.0.0.1:0")
            .args(&args)
            .env("LIUMA_SSE_MASTER_KEY", value)
            .output()
            .expect("running liuma");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "start must fail: {err}");
        assert!(err.contains(expect), "{err}");
        assert!(
            !err.contains("not-hex-at-all") && !err.contains(&hex_key),
            "{err}"
        );
    }
}

/// A retired version stays retired: a ring from outside liuma that brings
/// its number back would have every write under it refused, so the node
/// refuses to start and says how to number the keys.
#[test]
fn an_outside_ring_may_not_bring_back_a_retired_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("d");
    let node = TestNode::start(&data, &[]);
    cli(&node, &["rotate"]);
    let out = cli(&node, &["retire", "1"]);
    assert!(out.contains("retired version 1"), "{out}");
    node.stop();
    let out = crate::harness::server_command(&data, "127.0.0.1:0")
        .env("LIUMA_SSE_MASTER_KEY", "ab".repeat(32))
        .output()
        .expect("running liuma");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "start must fail: {err}");
    assert!(
        err.contains("holds version(s) [1], which this store retired"),
        "{err}"
    );
    // numbered above the retired one, it starts
    let ring = format!("v7 {}\n", "ab".repeat(32));
    let node = TestNode::start_env(&data, &[], &[("LIUMA_SSE_MASTER_KEY", ring.as_str())]);
    let s = node.admin_req("GET", "/admin/sse").json();
    assert_eq!(s["versions"], serde_json::json!([7]), "{s}");
}
