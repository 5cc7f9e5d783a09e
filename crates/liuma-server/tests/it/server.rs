//! `liuma server` as a process: health, readiness, metrics, secrets kept
//! private and stable across restarts, clean SIGTERM, bad config refused.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::harness::{TestNode, http_get, http_get_with};

#[test]
fn health_ready_and_metrics_answer() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path(), &[]);
    let (status, body) = http_get(&node.admin, "/health");
    assert_eq!(status, 200);
    assert!(body.contains("ok"), "{body}");
    let (status, _) = http_get(&node.admin, "/ready");
    assert_eq!(status, 200);
    let (status, _) = http_get(&node.admin, "/metrics");
    assert_eq!(status, 401, "metrics need the admin token");
    let (status, _) = http_get_with(
        &node.admin,
        "/metrics",
        &[("Authorization", "Bearer wrong")],
    );
    assert_eq!(status, 401);
    let token = TestNode::admin_token(dir.path());
    let bearer = format!("Bearer {token}");
    let (status, metrics) = http_get_with(&node.admin, "/metrics", &[("Authorization", &bearer)]);
    assert_eq!(status, 200);
    for name in [
        "liuma_blocks_written",
        "liuma_disk_free_bytes",
        "liuma_http_requests",
        "liuma_scrub_passes",
    ] {
        assert!(metrics.contains(name), "metric {name} missing:\n{metrics}");
    }
    let (status, _) = http_get(&node.admin, "/no-such-path");
    assert_eq!(status, 404);
    assert!(node.stop().success(), "clean exit on SIGTERM");
}

#[test]
fn secrets_are_private_printed_once_and_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path(), &[]);
    let out = node.stdout.clone();
    assert!(node.stop().success());
    let first = std::fs::read_to_string(&out).unwrap();
    assert!(first.contains("root secret access key"), "{first}");
    let key = std::fs::read_to_string(dir.path().join("secrets/root.key")).unwrap();
    let mode = std::fs::metadata(dir.path().join("secrets/root.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let secret = key.lines().nth(1).unwrap();
    assert!(first.contains(secret));
    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(!stderr.contains(secret), "secret leaked into the logs");

    let node = TestNode::start(dir.path(), &[]);
    let out = node.stdout.clone();
    assert!(node.stop().success());
    let second = std::fs::read_to_string(&out).unwrap();
    assert!(!second.contains(secret), "secret printed again on restart");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("secrets/root.key")).unwrap(),
        key
    );
}

#[test]
fn bad_configuration_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "data_dirr = \"x\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_liuma"))
        .args(["server", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown field"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_liuma"))
        .args(["server", "--erasure", "4-2", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("K+M"));
}

#[test]
fn version_and_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_liuma"))
        .arg("version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("liuma "));
    let out = Command::new(env!("CARGO_BIN_EXE_liuma"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("server") && help.contains("version"),
        "{help}"
    );
}
