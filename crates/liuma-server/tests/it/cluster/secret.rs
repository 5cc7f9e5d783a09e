//! The shard API: only nodes with the cluster secret touch shards, and a
//! node listening on every interface must advertise an address.

use super::common::*;

/// Headers of a shard API request signed by `signer`.
fn signed(signer: &Signer, method: &str, path: &str, body: &[u8]) -> Vec<(String, String)> {
    let sig = signer.sign(method, path, body);
    vec![
        ("x-liuma-date".to_owned(), sig.date.to_string()),
        ("x-liuma-nonce".to_owned(), sig.nonce),
        ("x-liuma-content-blake3".to_owned(), sig.body_hash),
        ("x-liuma-signature".to_owned(), sig.mac),
    ]
}

fn shard_call(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Resp {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    request(addr, method, path, &h, body)
}

#[test]
fn wrong_or_missing_cluster_secret_cannot_touch_shards() {
    // Plain HTTP on the shard API, so the HMAC check is reached by these
    // hand-made requests (mtls.rs tests it behind mutual TLS).
    let c = TestCluster::start(3, &["--erasure", "2+1", "--cluster-tls", "off"]);
    // Plain shard traffic is never silent: every node says so in its log.
    for id in ["n1", "n2", "n3"] {
        let log = c.node(id).node.log();
        assert!(
            log.contains("--cluster-tls off: the shard API between nodes is plain HTTP"),
            "{id} must warn about plain shard traffic:\n{log}"
        );
    }
    c.create_bucket("n1");
    let first = random(4 * MIB + 5);
    c.put_object("n1", "first", &first);

    // A shard n1 holds, and where it would go on n2 (which holds another index of it).
    let n2_files = shard_files(&c.data("n2"));
    let (held, block, index) = shard_files(&c.data("n1"))
        .into_iter()
        .find_map(|p| {
            let (b, i) = shard_name(&p)?;
            let on_n2 = n2_files
                .iter()
                .any(|q| shard_name(q) == Some((b.clone(), i)));
            (!on_n2).then_some((p, b, i))
        })
        .expect("a shard on n1 that n2 lacks");
    let held_bytes = std::fs::read(&held).expect("reading the shard");
    let st = c.status("n1");
    let disk_of = |id: &str| -> String {
        st["nodes"]
            .as_array()
            .and_then(|ns| ns.iter().find(|n| n["id"] == id))
            .and_then(|n| n["disks"][0]["id"].as_str())
            .expect("node's disk id")
            .to_owned()
    };
    let (addr1, addr2) = (
        c.node("n1").node.cluster.clone(),
        c.node("n2").node.cluster.clone(),
    );
    let on_n1 = format!("/v1/shard/{}/{block}/{index}", disk_of("n1"));
    let on_n2 = format!("/v1/shard/{}/{block}/{index}", disk_of("n2"));
    let n2_copy = held
        .strip_prefix(c.data("n1"))
        .map(|rel| c.data("n2").join(rel))
        .expect("shard path under n1's data");
    let secret = std::fs::read_to_string(c.data("n1").join("secrets/cluster.secret"))
        .expect("cluster secret");
    let good = Signer::new(secret.trim().as_bytes());
    let wrong = Signer::new(b"not the cluster secret, but long enough");

    // Control: the right secret reads the frame (so the refusals below mean something).
    let r = shard_call(
        &addr1,
        "GET",
        &on_n1,
        &signed(&good, "GET", &on_n1, b""),
        b"",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body == held_bytes, "GET returns the stored frame");
    let frame = r.body;

    let garbage: Vec<(String, String)> = [
        ("x-liuma-date", "yesterday"),
        ("x-liuma-nonce", "00"),
        ("x-liuma-content-blake3", "zz"),
        ("x-liuma-signature", "not-hex"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (what, method, addr, path, body) in [
        ("GET", "GET", &addr1, &on_n1, &b""[..]),
        ("DELETE", "DELETE", &addr1, &on_n1, &b""[..]),
        ("PUT", "PUT", &addr2, &on_n2, &frame[..]),
    ] {
        let cases = [
            ("no signature", Vec::new()),
            ("garbage headers", garbage.clone()),
            ("wrong secret", signed(&wrong, method, path, body)),
            // Signed for another path: must not transfer.
            ("other path", signed(&good, method, "/v1/shard/x/y/0", body)),
        ];
        for (case, headers) in cases {
            let r = shard_call(addr, method, path, &headers, body);
            assert_eq!(
                r.status,
                401,
                "{what} with {case}: {}",
                String::from_utf8_lossy(&r.body)
            );
        }
    }
    // A replayed request is refused too.
    let once = signed(&good, "GET", &on_n1, b"");
    assert_eq!(shard_call(&addr1, "GET", &on_n1, &once, b"").status, 200);
    assert_eq!(
        shard_call(&addr1, "GET", &on_n1, &once, b"").status,
        401,
        "replay"
    );
    // Nothing changed on disk: n1's shard is intact, n2 got no file.
    assert!(
        std::fs::read(&held).ok() == Some(held_bytes.clone()),
        "n1's shard changed"
    );
    assert!(
        !n2_copy.exists(),
        "a refused PUT created {}",
        n2_copy.display()
    );
    // Control: signed right, the PUT creates the file and the DELETE removes it.
    let put = signed(&good, "PUT", &on_n2, &frame);
    assert_eq!(shard_call(&addr2, "PUT", &on_n2, &put, &frame).status, 204);
    assert!(n2_copy.exists(), "signed PUT stored {}", n2_copy.display());
    let del = signed(&good, "DELETE", &on_n2, b"");
    assert_eq!(shard_call(&addr2, "DELETE", &on_n2, &del, b"").status, 204);
    assert!(!n2_copy.exists(), "signed DELETE removed the file");
    assert!(
        c.node("n1")
            .node
            .log()
            .contains("shard API request refused"),
        "n1 logs refusals"
    );

    // A node with another cluster secret on the same prefix is refused at
    // start (the cluster keeps a fingerprint of its secret in etcd), so it
    // never takes shards nobody else could read.
    let rogue = c.data("n4");
    copy_secrets(&c.data("n1"), &rogue);
    std::fs::write(
        rogue.join("secrets/cluster.secret"),
        format!("{}\n", "r".repeat(64)),
    )
    .expect("writing the rogue secret");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_liuma"))
        .args(["server", "--data"])
        .arg(&rogue)
        .args(["--etcd", &c.etcd.endpoint(), "--etcd-prefix", &c.prefix])
        .args(["--node-id", "n4", "--admin-listen", "127.0.0.1:0"])
        .args([
            "--native-listen",
            "127.0.0.1:0",
            "--s3-listen",
            "127.0.0.1:0",
            "--console-listen",
            "127.0.0.1:0",
        ])
        .args(["--cluster-listen", "127.0.0.1:0"])
        .output()
        .expect("running the rogue node");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the rogue node must not start");
    assert!(
        stderr.contains("cluster secret differs"),
        "clear start error, got: {stderr}"
    );
    let live = c.status("n1")["live_nodes"].as_u64();
    assert_eq!(live, Some(3), "the rogue never joined");
    let mut objects = vec![("first".to_owned(), first)];
    for (i, id) in ["n1", "n2", "n3"].into_iter().enumerate() {
        let key = format!("after-rogue-{i}");
        let bytes = random(5 * MIB + 33 * i);
        c.put_object(id, &key, &bytes);
        objects.push((key, bytes));
    }
    let census = c.census("n1");
    all_healthy(&census, &["n4"]).unwrap_or_else(|e| panic!("after the rogue: {e}"));
    for id in ["n1", "n2", "n3"] {
        for (key, bytes) in &objects {
            c.assert_object(id, key, bytes);
        }
    }
}

#[test]
fn shard_api_on_all_interfaces_needs_an_advertised_address() {
    let etcd = TestEtcd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |extra: &[&str]| {
        crate::harness::server_command(dir.path(), "0.0.0.0:0")
            .args(["--etcd", &etcd.endpoint(), "--node-id", "lonely"])
            .args(extra)
            .output()
            .expect("running liuma")
    };
    // Peers would dial 0.0.0.0, i.e. themselves: refused at start.
    let out = run(&[]);
    assert!(!out.status.success(), "started with nothing to advertise");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("set --advertise"), "{stderr}");
    // Nothing was registered for it.
    let node = TestNode::start(
        &dir.path().join("probe"),
        &["--etcd", &etcd.endpoint(), "--node-id", "probe"],
    );
    let r = node.admin_req("GET", "/admin/cluster");
    let st = r.json();
    assert_eq!(st["live_nodes"], 1, "{st}");
    assert!(
        st["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .all(|n| n["id"] != "lonely"),
        "{st}"
    );
}
