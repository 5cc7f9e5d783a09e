//! `liuma bench` against a node started by the test: bounded workloads,
//! counts and byte-exact GET verification read back from `--json`.

use std::path::Path;
use std::process::{Command, Output};

use crate::harness::TestNode;

/// The root key (line 1 id, line 2 secret).
fn root_key(data: &Path) -> (String, String) {
    let text = std::fs::read_to_string(data.join("secrets/root.key")).unwrap();
    let mut lines = text.lines();
    (
        lines.next().unwrap().to_owned(),
        lines.next().unwrap().to_owned(),
    )
}

/// Run `liuma bench --json` with `args`; returns the exit status and report.
fn bench(node: &TestNode, key: &(String, String), args: &[&str]) -> (Output, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_liuma"))
        .arg("bench")
        .args(["--endpoint", &format!("http://{}", node.s3)])
        .args(["--access-key", &key.0])
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .args(["--bucket", "bench", "--json", "--quiet"])
        .args(args)
        .output()
        .expect("running liuma bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "bench {args:?} printed no JSON report ({e}); status {}\n--- stdout\n{stdout}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, report)
}

fn assert_clean(out: &Output, r: &serde_json::Value, op: &str, ops: u64) {
    assert!(
        out.status.success(),
        "{r:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(r["total"]["errors"], 0, "{r:#}");
    assert_eq!(r["by_op"][op]["ops"], ops, "{r:#}");
    assert_eq!(r["total"]["ops"], ops, "{r:#}");
}

#[test]
fn bench_workloads_count_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path(), &[]);
    let key = root_key(dir.path());

    let (out, r) = bench(
        &node,
        &key,
        &[
            "-w",
            "put",
            "--ops",
            "40",
            "-c",
            "4",
            "--size",
            "1KiB..300KiB",
            "--data",
            "text",
        ],
    );
    assert_clean(&out, &r, "put", 40);
    assert!(r["total"]["bytes"].as_u64().unwrap() >= 40 * 1024, "{r:#}");

    // 12 prepared objects of varied sizes, each GET checked byte by byte.
    let (out, r) = bench(
        &node,
        &key,
        &[
            "-w",
            "get",
            "--ops",
            "30",
            "-c",
            "3",
            "--objects",
            "12",
            "--size",
            "1..700KiB",
            "--verify",
            "--seed",
            "42",
        ],
    );
    assert_clean(&out, &r, "get", 30);
    let bytes = r["total"]["bytes"].as_u64().unwrap();
    assert!(bytes > 0);
    assert_eq!(r["total"]["verified_bytes"].as_u64(), Some(bytes), "{r:#}");
    assert_eq!(r["seed"], 42);

    let (out, r) = bench(
        &node,
        &key,
        &[
            "-w",
            "mixed",
            "--ops",
            "60",
            "-c",
            "4",
            "--size",
            "8KiB",
            "--verify",
            "--data",
            "duplicate",
        ],
    );
    assert!(out.status.success(), "{r:#}");
    assert_eq!(r["total"]["ops"], 60, "{r:#}");
    assert_eq!(r["total"]["errors"], 0, "{r:#}");
    assert_eq!(
        r["by_op"]["get"]["verified_bytes"], r["by_op"]["get"]["bytes"],
        "{r:#}"
    );

    let (out, r) = bench(
        &node,
        &key,
        &[
            "-w",
            "list",
            "--ops",
            "3",
            "--objects",
            "1205",
            "--size",
            "0B",
            "-c",
            "8",
        ],
    );
    assert_clean(&out, &r, "list", 3);
    assert_eq!(r["total"]["keys_listed"], 3 * 1205, "{r:#}");

    let (out, r) = bench(
        &node,
        &key,
        &["-w", "delete", "--ops", "20", "-c", "4", "--size", "1KiB"],
    );
    assert_clean(&out, &r, "delete", 20);

    let (out, r) = bench(
        &node,
        &key,
        &[
            "-w",
            "multipart",
            "--ops",
            "2",
            "-c",
            "2",
            "--size",
            "11MiB",
            "--part-size",
            "5MiB",
        ],
    );
    assert_clean(&out, &r, "multipart", 2);
    assert_eq!(r["total"]["bytes"], 2 * (11 << 20), "{r:#}");
}

#[test]
fn bench_wrong_secret_counts_errors() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path(), &[]);
    let (id, _) = root_key(dir.path());
    let key = (id, "not-the-secret".to_owned());
    let (out, r) = bench(
        &node,
        &key,
        &["-w", "put", "--ops", "10", "-c", "2", "--size", "1KiB"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "errors give exit status 1, not a crash"
    );
    assert_eq!(r["total"]["ops"], 10, "{r:#}");
    assert_eq!(r["total"]["errors"], 10, "{r:#}");
    let first = r["total"]["first_error"].as_str().unwrap();
    assert!(first.contains("403"), "{first}");
}
