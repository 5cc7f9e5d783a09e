//! The shard API over mutual TLS (on by default in a cluster): the nodes
//! of a 3-node cluster share a cluster CA through etcd and talk https to
//! each other; a client without a certificate, or with one from another
//! CA, is refused in the handshake; a certificate of the cluster CA gets
//! through TLS but an unsigned request still meets the HMAC check (401);
//! a node whose certificate comes from another CA cannot serve the data.

use super::common::*;

/// `curl` to the shard API: (exit code, HTTP status as curl printed it).
fn curl(addr: &str, tls: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "10"])
        .args(tls)
        .arg(format!("https://{addr}/v1/shard/x/y/0"))
        .output()
        .expect("running curl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn liuma(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_liuma"))
        .args(args)
        .output()
        .expect("running liuma");
    assert!(
        out.status.success(),
        "liuma {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn shard_api_mutual_tls_refuses_other_cas_and_keeps_the_hmac() {
    use std::os::unix::fs::PermissionsExt;
    let mut c = TestCluster::start(3, &["--erasure", "2+1"]);
    c.create_bucket("n1");
    let first = random(3 * MIB + 7);
    c.put_object("n1", "first", &first);
    for id in ["n1", "n2", "n3"] {
        c.assert_object(id, "first", &first);
    }
    // every node has the one CA, its key private
    let ca = std::fs::read(c.data("n1").join("secrets/cluster-ca.pem")).expect("cluster CA");
    for id in ["n2", "n3"] {
        assert_eq!(
            std::fs::read(c.data(id).join("secrets/cluster-ca.pem")).expect("CA"),
            ca
        );
        let key = c.data(id).join("secrets/cluster-ca-key.pem");
        let mode = std::fs::metadata(&key)
            .expect("CA key")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    let addr1 = c.node("n1").node.cluster.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good");
    let secrets1 = c.data("n1").join("secrets");
    liuma(&[
        "cluster",
        "cert",
        "--secrets",
        secrets1.to_str().expect("utf-8"),
        "--host",
        "127.0.0.1",
        "--out",
        good.to_str().expect("utf-8"),
    ]);
    let g = |f: &str| good.join(f).display().to_string();
    let (ca_pem, cert, key) = (g("cluster-ca.pem"), g("node.pem"), g("node-key.pem"));

    // A certificate of the cluster CA passes TLS; the HMAC still refuses.
    let (code, status) = curl(
        &addr1,
        &["--cacert", &ca_pem, "--cert", &cert, "--key", &key],
    );
    assert_eq!((code, status.as_str()), (0, "401"), "valid cert, unsigned");

    // No client certificate: refused in the handshake (no HTTP status).
    let (code, status) = curl(&addr1, &["--cacert", &ca_pem]);
    assert!(
        code != 0 && status == "000",
        "no client cert: curl {code} {status}"
    );

    // A certificate from another CA: refused in the handshake too.
    let other = dir.path().join("other");
    liuma(&[
        "tls",
        "self-signed",
        "--host",
        "127.0.0.1",
        "--out",
        other.to_str().expect("utf-8"),
    ]);
    let o = |f: &str| other.join(f).display().to_string();
    let (code, status) = curl(
        &addr1,
        &[
            "--cacert",
            &ca_pem,
            "--cert",
            &o("server.pem"),
            "--key",
            &o("server-key.pem"),
        ],
    );
    assert!(
        code != 0 && status == "000",
        "foreign cert: curl {code} {status}"
    );
    // and a client trusting only the other CA does not accept the node's
    let (code, _) = curl(
        &addr1,
        &["--cacert", &o("ca.pem"), "--cert", &cert, "--key", &key],
    );
    assert!(code != 0, "the node's certificate is not the other CA's");

    // A node with the cluster secret but a certificate of another CA:
    // peers refuse it, so reads through it fail, and nothing breaks.
    let n4 = c.data("n4");
    copy_secrets(&c.data("n1"), &n4);
    let _ = std::fs::remove_file(n4.join("secrets/cluster-ca-key.pem"));
    std::fs::copy(other.join("ca.pem"), n4.join("secrets/cluster-ca.pem")).expect("copy");
    std::fs::copy(other.join("server.pem"), n4.join("secrets/node.pem")).expect("copy");
    std::fs::copy(
        other.join("server-key.pem"),
        n4.join("secrets/node-key.pem"),
    )
    .expect("copy");
    c.add("n4");
    let url = c.url("n4", "first");
    let (status, _) = c.s3_within(60, &[&url]);
    assert_ne!(status, 200, "n4 must not read shards of the cluster");
    let log = c.node("n4").node.log();
    assert!(
        log.contains("certificate") || log.contains("Certificate"),
        "n4's log names the certificate problem"
    );
    c.kill("n4");
    for id in ["n1", "n2", "n3"] {
        c.assert_object(id, "first", &first);
    }
}
