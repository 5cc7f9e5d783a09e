//! `liuma server --etcd`: a node whose metadata lives in a real etcd (started by the test; the
//! `etcd` binary must be installed, else the test fails). Objects and access keys written
//! through the node survive its restart, the records are in etcd under the prefix, and a node
//! on a fresh data directory pointed at the same etcd sees the same metadata.

use std::path::Path;
use std::process::Command;

use liuma_meta::testing::TestEtcd;
use liuma_meta::{EtcdConfig, EtcdStore, MetaStore};

use crate::harness::{TestNode, copy_secrets, http_get, s3_curl};

/// `liuma key <args>` against the node's admin API.
fn key_cli(node: &TestNode, data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_liuma"))
        .arg("key")
        .args(["--admin-url", &format!("http://{}", node.admin)])
        .arg("--admin-token-file")
        .arg(data.join("secrets/admin.token"))
        .args(args)
        .output()
        .expect("running liuma key");
    assert!(
        out.status.success(),
        "liuma key {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Keys stored under `prefix` in the etcd, read directly.
fn keys_in_etcd(etcd: &TestEtcd, prefix: &str) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let config = EtcdConfig {
            prefix: prefix.to_owned(),
            ..EtcdConfig::default()
        };
        let store = EtcdStore::connect(&[etcd.endpoint()], config)
            .await
            .expect("connect");
        store.range(b"", &[0], 0).await.expect("range").len()
    })
}

#[test]
fn metadata_on_etcd_survives_restarts_and_is_shared() {
    let mut etcd = TestEtcd::start();
    let endpoint = etcd.endpoint();
    let args = ["--etcd", endpoint.as_str(), "--etcd-prefix", "/liuma-it/"];
    let dir = tempfile::tempdir().expect("tempdir");
    let data_a = dir.path().join("a");

    let node = TestNode::start(&data_a, &args);
    assert_eq!(http_get(&node.admin, "/ready").0, 200, "node on etcd ready");
    let banner = std::fs::read_to_string(&node.stdout).expect("stdout");
    assert!(banner.contains("metadata: etcd"), "{banner}");
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let file = dir.path().join("payload.bin");
    std::fs::write(&file, &payload).expect("write payload");
    // Every start binds new ports: URLs are per node.
    let bucket = |node: &TestNode| format!("http://{}/survivors", node.s3);
    let object = |node: &TestNode| format!("http://{}/survivors/big.bin", node.s3);
    assert_eq!(s3_curl(&data_a, &["-X", "PUT", &bucket(&node)]).0, 200);
    let file_arg = file.to_str().expect("utf-8 path");
    assert_eq!(s3_curl(&data_a, &["-T", file_arg, &object(&node)]).0, 200);
    key_cli(&node, &data_a, &["create", "etcd-survivor"]);
    assert!(node.stop().success(), "clean exit");

    let records = keys_in_etcd(&etcd, "/liuma-it/");
    assert!(records > 0, "no liuma records in etcd under /liuma-it/");
    assert_eq!(keys_in_etcd(&etcd, "/elsewhere/"), 0);

    // Same data dir: the object and the key are back.
    let node = TestNode::start(&data_a, &args);
    assert_eq!(http_get(&node.admin, "/ready").0, 200);
    let (status, body) = s3_curl(&data_a, &[&object(&node)]);
    assert_eq!(status, 200);
    assert!(body == payload, "object changed across the restart");
    assert!(key_cli(&node, &data_a, &["list"]).contains("etcd-survivor"));

    // etcd gone: clear 503s within a bounded time, no hang; back: everything works again.
    etcd.kill();
    let started = std::time::Instant::now();
    let (status, _) = s3_curl(&data_a, &[&object(&node)]);
    assert_eq!(status, 503, "S3 GET with etcd down");
    assert_eq!(
        http_get(&node.admin, "/ready").0,
        503,
        "ready with etcd down"
    );
    let (status, _) = s3_curl(&data_a, &["-T", file_arg, &format!("{}.2", object(&node))]);
    assert_eq!(status, 503, "S3 PUT with etcd down");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "503s took {:?}",
        started.elapsed()
    );
    etcd.restart();
    assert_eq!(
        http_get(&node.admin, "/ready").0,
        200,
        "ready after etcd is back"
    );
    let (status, body) = s3_curl(&data_a, &[&object(&node)]);
    assert_eq!(status, 200);
    assert!(body == payload, "object changed across the etcd outage");
    assert!(node.stop().success());

    // A fresh data dir on the same etcd prefix sees the same metadata (its shards are not
    // there: moving them between nodes is cluster mode's job, not this test's). Nodes of one
    // cluster share their secrets (a Kubernetes Secret): with its own root key the node would
    // not own the native API's bucket, and with its own cluster secret its peers would refuse
    // its shard API calls.
    let data_b = dir.path().join("b");
    copy_secrets(&data_a, &data_b);
    let node = TestNode::start(&data_b, &args);
    assert!(key_cli(&node, &data_b, &["list"]).contains("etcd-survivor"));
    let (status, _) = s3_curl(&data_b, &["-I", &bucket(&node)]);
    assert_eq!(status, 200, "bucket record shared through etcd");
    assert!(node.stop().success());

    // Another prefix is another, empty, metadata store.
    let other = ["--etcd", endpoint.as_str(), "--etcd-prefix", "/other/"];
    let node = TestNode::start(&dir.path().join("c"), &other);
    assert!(!key_cli(&node, &dir.path().join("c"), &["list"]).contains("etcd-survivor"));
    assert!(node.stop().success());
}

#[test]
fn unreachable_etcd_is_a_clear_start_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let out = crate::harness::server_command(dir.path(), "127.0.0.1:0")
        .args(["--etcd", &format!("http://{port}")])
        .output()
        .expect("running liuma");
    assert!(!out.status.success(), "started without etcd");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("connecting to etcd"), "{stderr}");
}
