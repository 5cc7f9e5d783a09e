//! Admin listeners over TLS in a cluster (real etcd, real nodes): every
//! node serves its admin API with a certificate of one CA and is given
//! that CA with `--tls-ca`. Nodes publish `https://host:port`; a
//! cluster-wide heal (`?scope=cluster`) and the console's whole-cluster
//! charts (`/api/charts?node=all`, the serving node asking each peer's
//! `/admin/charts`) reach every node. A node started without `--tls-ca`
//! warns at start that its peers' certificate would not be trusted, and
//! its own fan-out reports each peer's certificate as not trusted (with
//! the flag to fix it), while the others still reach it.

use super::common::*;
use crate::console_admin::admin_client;

/// `GET /admin/passes?scope=cluster` (cheap: no pass runs) on `id`: per node, ok or the error.
fn reach(c: &TestCluster, id: &str) -> Value {
    c.admin(id, "GET", "/admin/passes?scope=cluster").json()
}

#[test]
fn cluster_admin_tls_fan_out_and_charts_reach_every_node() {
    let tls_dir = tempfile::tempdir().unwrap();
    let tls = tls_dir.path().join("tls");
    crate::tls::self_signed(&tls);
    let file = |n: &str| tls.join(n).display().to_string();
    let (cert, key, ca) = (file("server.pem"), file("server-key.pem"), file("ca.pem"));
    let common = [
        "--admin-tls-cert",
        cert.as_str(),
        "--admin-tls-key",
        key.as_str(),
        "--tls-ca",
        ca.as_str(),
    ];
    let mut c = TestCluster::with_admin_tls(3, &common, &tls.join("ca.pem"));
    // given the CA, no node doubts its own certificate
    for id in c.ids() {
        let log = c.node(&id).node.log();
        assert!(!log.contains("would not trust"), "{id}:\n{log}");
    }

    // every node publishes its admin endpoint with the scheme
    let st = c.status("n1");
    for n in st["nodes"].as_array().unwrap() {
        let admin = n["endpoints"]["admin"].as_str().unwrap_or_default();
        assert!(admin.starts_with("https://127.0.0.1:"), "{n}");
        // the other listeners stay plain: published bare, as before
        let s3 = n["endpoints"]["s3"].as_str().unwrap_or_default();
        assert!(!s3.contains("://"), "{n}");
    }

    // a cluster-wide heal reaches every node over https
    let heal = c.admin("n1", "POST", "/admin/heal?scope=cluster").json();
    assert_eq!(heal["failed_nodes"], 0, "{heal}");
    for id in ["n1", "n2", "n3"] {
        assert_eq!(heal["nodes"][id]["ok"], true, "{id}: {heal}");
    }

    // the console's whole-cluster charts on n2: every node has data
    let console = admin_client(&c.node("n2").node);
    let charts = wait_for("charts from every node", Duration::from_secs(15), || {
        let r = console.req("GET", "/api/charts?node=all", b"");
        if r.status != 200 {
            return Err(format!(
                "{}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        let v = r.json();
        let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
        if nodes.len() == 3 && nodes.iter().all(|n| n["ok"] == true) {
            Ok(v)
        } else {
            Err(v["nodes"].to_string())
        }
    });
    println!("charts nodes: {}", charts["nodes"]);

    // the CLI over https with the CA (node status asks /admin/passes?scope=cluster too)
    let out = c.node_cli("n3", &["status"]);
    assert!(out.contains("3 live node(s)"), "{out}");

    // n4 without --tls-ca: it warns at start, and cannot verify its peers
    c.common.truncate(4);
    c.add("n4");
    c.wait_live(4);
    let log = c.node("n4").node.log();
    assert!(
        log.contains("would not trust its admin certificate"),
        "n4 warns at start:\n{log}"
    );
    let from_n4 = reach(&c, "n4");
    assert_eq!(from_n4["failed_nodes"], 3, "{from_n4}");
    assert_eq!(from_n4["nodes"]["n4"]["ok"], true, "{from_n4}");
    for id in ["n1", "n2", "n3"] {
        let e = from_n4["nodes"][id]["error"].as_str().unwrap_or_default();
        assert!(
            e.contains("is not trusted") && e.contains("--tls-ca"),
            "{id}: {e}"
        );
    }
    // the others trust n4's certificate (same CA): they still reach all four
    let from_n1 = reach(&c, "n1");
    assert_eq!(from_n1["failed_nodes"], 0, "{from_n1}");
    assert_eq!(
        from_n1["nodes"].as_object().map(|m| m.len()),
        Some(4),
        "{from_n1}"
    );

    // the admin token is in no node's log
    let token = TestNode::admin_token(&c.data("n1"));
    for id in c.ids() {
        assert!(
            !c.node(&id).node.log().contains(&token),
            "{id} logged the admin token"
        );
    }
}
