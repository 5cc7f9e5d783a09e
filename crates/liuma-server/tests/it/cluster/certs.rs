//! Node certificates of the shard API at run time (issue #19): a lifetime
//! of a few seconds is renewed in place several times while the cluster
//! serves without a failed request; a revoked node's certificate is
//! refused in the handshake by every peer within seconds.

use super::common::*;

/// The certificate a shard listener presents now: (serial, notAfter), by openssl.
fn served_cert(addr: &str) -> (String, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {addr} -showcerts </dev/null 2>/dev/null | openssl x509 -noout -serial -enddate"
        ))
        .output()
        .expect("running openssl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_default()
            .to_owned()
    };
    (field("serial="), field("notAfter="))
}

fn renewals(c: &TestCluster, id: &str) -> usize {
    std::fs::read_to_string(c.data(id).join("stderr.log"))
        .unwrap_or_default()
        .matches("renewed the shard API node certificate")
        .count()
}

#[test]
fn short_lived_node_certificates_renew_without_a_failed_request() {
    let c = TestCluster::start(
        2,
        &["--erasure", "1+1", "--cluster-cert-lifetime-secs", "6"],
    );
    c.create_bucket("n1");
    let shard_addr = c.node("n2").node.cluster.clone();
    let (first_serial, _) = served_cert(&shard_addr);
    assert!(!first_serial.is_empty(), "openssl saw no certificate");
    let mut i = 0usize;
    // Traffic until both nodes renewed three times (each renewal at 4 s).
    wait_for(
        "three renewals on each node",
        Duration::from_secs(60),
        || {
            let data = random(150_000 + i);
            let (put, get) = if i.is_multiple_of(2) {
                ("n1", "n2")
            } else {
                ("n2", "n1")
            };
            let key = format!("obj{}", i % 5);
            c.put_object(put, &key, &data);
            c.assert_object(get, &key, &data);
            i += 1;
            let (r1, r2) = (renewals(&c, "n1"), renewals(&c, "n2"));
            if r1 >= 3 && r2 >= 3 {
                Ok(())
            } else {
                Err(format!("renewals n1 {r1}, n2 {r2}"))
            }
        },
    );
    println!("{i} PUT+GET pairs, all served");
    // the listener presents a renewed certificate, and it is current
    let (serial, not_after) = served_cert(&shard_addr);
    assert_ne!(serial, first_serial, "the certificate was swapped in place");
    println!("now serving {serial}, valid until {not_after}");
    // a new object written and read through both nodes after the renewals
    let data = random(MIB + 1);
    c.put_object("n2", "last", &data);
    c.assert_object("n1", "last", &data);
}

/// `curl` to `addr`'s shard API with a client certificate: curl's exit code
/// and the HTTP status (000 when the handshake failed).
fn curl_with(addr: &str, dir: &Path) -> (i32, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-m",
            "10",
            "-k",
        ])
        .arg("--cert")
        .arg(dir.join("node.pem"))
        .arg("--key")
        .arg(dir.join("node-key.pem"))
        .arg(format!("https://{addr}/v1/shard/x/y/0"))
        .output()
        .expect("running curl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_revoked_node_certificate_is_refused_by_every_peer() {
    let c = TestCluster::start(3, &["--erasure", "1+1"]);
    c.create_bucket("n1");
    let data = random(300_000);
    c.put_object("n1", "before", &data);
    // a certificate for node n3 from the cluster CA, as n3 holds one
    let out_dir = c.dir.path().join("n3-cert");
    super::revoke::issue_cert(&c, Some("n3"), &out_dir);
    for id in ["n1", "n2"] {
        // through TLS; the HMAC check then refuses the unsigned request
        assert_eq!(
            curl_with(&c.node(id).node.cluster, &out_dir),
            (0, "401".to_owned())
        );
    }
    // unknown node: clear error, nothing recorded
    let r = c
        .node("n1")
        .node
        .admin_req("POST", "/admin/nodes/nope/revoke");
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
    super::revoke::revoke(&c, "n2", &["n3"]);
    for id in ["n1", "n2"] {
        let addr = c.node(id).node.cluster.clone();
        wait_for(
            &format!("{id} refuses n3's certificate"),
            Duration::from_secs(15),
            || match curl_with(&addr, &out_dir) {
                (0, s) => Err(format!("still accepted ({s})")),
                _ => Ok(()),
            },
        );
    }
    // the others keep working: n1 and n2 read what they hold, n3 among them
    c.assert_object("n1", "before", &data);
    c.assert_object("n2", "before", &data);
    let log = std::fs::read_to_string(c.data("n1").join("stderr.log")).unwrap_or_default();
    assert!(log.contains("refused the shard API certificate of a peer"));
}
