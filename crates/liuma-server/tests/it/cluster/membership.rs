//! Nodes joining, draining and being forgotten, a cluster growing from one
//! node to six, and writes refused below the failure-domain floor.

use super::common::*;

#[test]
fn join_and_drain_move_shards_without_loss() {
    let mut c = TestCluster::start(4, &["--erasure", "2+1"]);
    assert_eq!(c.status("n1")["erasure"], "2+1");
    c.create_bucket("n1");
    let mut objects = Vec::new();
    for (i, id) in ["n1", "n3"].into_iter().enumerate() {
        let key = format!("obj-{i}");
        let bytes = random(12 * MIB + 100 * i + 1);
        c.put_object(id, &key, &bytes);
        objects.push((key, bytes));
    }
    let file = random(6 * MIB + 11);
    let hash = c.node("n2").put(&file, "moving.bin");
    let mut lens: Vec<usize> = objects.iter().map(|(_, b)| b.len()).collect();
    lens.push(file.len());
    let (blocks, _, shards) = layout_all(&lens, 2, 1);
    let census = c.census("n1");
    all_healthy(&census, &[]).expect("healthy after upload");
    assert_eq!(census["blocks"], blocks, "{census}");
    let check_all = |c: &TestCluster, id: &str| {
        for (key, bytes) in &objects {
            c.assert_object(id, key, bytes);
        }
        c.assert_file(id, &hash, &file);
    };

    // A fifth node joins without restarts and takes a fair share.
    let joined = Instant::now();
    c.add("n5");
    wait_for("n1 sees n5 join", Duration::from_secs(5), || {
        let st = c.status("n1");
        let live = st["nodes"]
            .as_array()
            .is_some_and(|ns| ns.iter().any(|n| n["id"] == "n5" && n["live"] == true));
        if live && st["live_nodes"] == 5 {
            Ok(())
        } else {
            Err(st.to_string())
        }
    });
    println!("n5 visible after {:.1?}", joined.elapsed());
    let census = wait_for(
        "shards rebalanced onto n5 (a heal round moves nothing more)",
        Duration::from_secs(60),
        || {
            let reports = c.heal_all();
            let busy: u64 = reports
                .iter()
                .map(|r| {
                    r["rebalanced"].as_u64().unwrap_or(0)
                        + r["rebuilt"].as_u64().unwrap_or(0)
                        + r["failed"].as_u64().unwrap_or(0)
                })
                .sum();
            let census = c.census("n1");
            all_healthy(&census, &[])?;
            if busy == 0 && shards_on(&census, "n5") > 0 {
                Ok(census)
            } else {
                Err(format!("{census}; heal: {reports:?}"))
            }
        },
    );
    let on_new = shards_on(&census, "n5");
    println!("after the join: {census}");
    // Fair share: about 1/5 of the shards (placement is pseudo-random per
    // block, and zones come first: n5 shares zone z2 with n2, so it gets
    // about half of z2's one shard per block). Over only 33 blocks that
    // half varies a lot: runs have given n5 8 of 96 (n2 24) with the heal
    // finished, so the bound is 1/20..2/5 — it still catches a node that
    // takes nothing or everything.
    assert!(
        on_new * 20 >= shards && on_new * 5 <= shards * 2,
        "n5 holds {on_new} of {shards} shards: {census}"
    );
    for id in ["n1", "n2", "n3", "n4", "n5"] {
        assert!(
            shards_on(&census, id) <= blocks,
            "at most one shard per block per node: {census}"
        );
    }
    // Moved shards left no copy behind on the nodes they moved from.
    assert_disks_match(&c, &census);
    check_all(&c, "n5");

    // Drain n2 (through the CLI): its shards move away, nothing is lost.
    let out = c.node_cli("n1", &["drain", "n2", "--no-wait"]);
    assert!(out.contains("draining"), "{out}");
    let st = c.status("n4");
    let n2 = st["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["id"] == "n2"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(n2["draining"], true, "drain mark seen by n4: {st}");
    let census = wait_for("n2 drained", Duration::from_secs(60), || {
        let reports = c.heal_all();
        let census = c.census("n1");
        all_healthy(&census, &["n2"]).map_err(|e| format!("{e}; heal: {reports:?}"))?;
        Ok(census)
    });
    assert_disks_match(&c, &census);
    assert!(shard_files(&c.data("n2")).is_empty(), "n2's disk emptied");
    let status = c.node_cli("n3", &["status"]);
    let line = status
        .lines()
        .find(|l| l.starts_with("n2 "))
        .unwrap_or_default();
    assert!(
        line.contains("draining") && line.trim_end().ends_with(" 0"),
        "{status}"
    );
    check_all(&c, "n2");
    check_all(&c, "n4");

    // Only a node that is not live can be forgotten.
    let r = c.node("n1").node.admin_req("DELETE", "/admin/nodes/n2");
    assert_eq!(
        r.status,
        409,
        "forgetting a live node: {}",
        String::from_utf8_lossy(&r.body)
    );
    let r = c.node("n1").node.admin_req("DELETE", "/admin/nodes/n9");
    assert_eq!(r.status, 404, "forgetting an unknown node");

    // Stop it and forget it: the rest still has everything.
    c.stop("n2");
    wait_for("n1 sees n2 down", Duration::from_secs(15), || {
        let st = c.status("n1");
        if st["live_nodes"] == 4 {
            Ok(())
        } else {
            Err(st.to_string())
        }
    });
    let out = c.node_cli("n3", &["forget", "n2"]);
    assert!(out.contains("forgotten"), "{out}");
    wait_for("n2 gone from n1's view", Duration::from_secs(10), || {
        let st = c.status("n1");
        let listed = st["nodes"]
            .as_array()
            .is_some_and(|ns| ns.iter().any(|n| n["id"] == "n2"));
        if listed { Err(st.to_string()) } else { Ok(()) }
    });
    let census = c.census("n5");
    all_healthy(&census, &["n2"]).expect("healthy after forget");
    assert_disks_match(&c, &census);
    for id in ["n1", "n5"] {
        check_all(&c, id);
    }
}

/// SHA-256 of `bytes`, hex.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Issue #12: a cluster that grew from one node to six. Blocks written while
/// it was small (1+0 with n1 alone, then 1+1, 2+1, 2+2) are re-encoded to
/// the 4+2 the six nodes want; after one cluster-wide heal no block is below
/// target, and any two nodes can then die with every object readable.
#[test]
fn growth_from_one_node_to_six_reaches_full_redundancy() {
    let began = Instant::now();
    let mut c = TestCluster::start(1, &[]);
    c.create_bucket("n1");
    // (key, sha256, bytes): multi-block, one coded block, replicated, inline.
    let mut objects: Vec<(String, String, Vec<u8>)> = Vec::new();
    let mut put = |c: &TestCluster, key: String, len: usize| {
        let bytes = random(len);
        c.put_object("n1", &key, &bytes);
        objects.push((key, sha256_hex(&bytes), bytes));
    };
    for (i, len) in [9 * MIB + 100, 2 * MIB + MIB / 2, 300 << 10, 50 << 10, 10]
        .into_iter()
        .enumerate()
    {
        put(&c, format!("alone-{i}"), len);
    }
    assert_eq!(
        c.census("n1")["codes"],
        serde_json::json!({"1+0": 15}),
        "n1 alone writes 1+0"
    );
    for n in 2..=6 {
        let id = format!("n{n}");
        c.add(&id);
        c.wait_live(n);
        // Something written at every size of the cluster (1+1, 2+1, 2+2...).
        put(&c, format!("with-{n}-nodes"), 2 * MIB + 1000 * n);
    }
    println!("six nodes up after {:.1?}", began.elapsed());

    let heal_started = Instant::now();
    let census = wait_for(
        "a cluster-wide heal leaves no block below target",
        Duration::from_secs(45),
        || {
            let r = c.admin("n1", "POST", "/admin/heal?scope=cluster").json();
            let nodes = r["nodes"].as_object().map_or(0, |n| n.len());
            if nodes != 6 || r["failed_nodes"] != 0 {
                return Err(format!("fan-out: {r}"));
            }
            let census = c.census("n2");
            let codes = census["codes"].as_object().cloned().unwrap_or_default();
            // m = 2 everywhere: what any two lost nodes need.
            let only_full = codes.keys().all(|k| k.ends_with("+2"));
            if census["below_target"] == 0 && only_full && all_healthy(&census, &[]).is_ok() {
                Ok(census)
            } else {
                Err(format!("census {census}; heal {}", r["totals"]))
            }
        },
    );
    println!(
        "every block at 4+2 (or 3 replicas) {:.1?} after the first cluster-wide heal: {}",
        heal_started.elapsed(),
        census["codes"]
    );
    // Every coded block is 4+2 now: 13 written alone, 2 each with 2, 3 and
    // 6 nodes, and the 2 each written as 2+2 with 4 and 5 nodes (same
    // parity, fewer data shards: widened). Every tail under 128 KiB (with
    // the 50 KiB object: 7) is 3 replicas.
    assert_eq!(
        census["codes"],
        serde_json::json!({"4+2": 23, "1+2": 7}),
        "{census}"
    );
    assert_eq!(
        census["buckets"],
        serde_json::json!({}),
        "no unhealthy block in any bucket"
    );
    let reencoded: u64 = c
        .ids()
        .iter()
        .map(|id| c.metric(id, "heal_blocks_reencoded"))
        .sum();
    assert!(
        reencoded >= 15,
        "the 1+0 blocks were re-encoded ({reencoded})"
    );
    let status = c.node_cli("n3", &["status"]);
    assert!(status.contains("below target 0"), "{status}");

    // Any two nodes may go now, n1 (which once held everything) included.
    c.kill("n1");
    c.kill("n4");
    for (key, sha, _) in &objects {
        let (code, body) = c.s3_within(60, &[&c.url("n2", key)]);
        assert_eq!(code, 200, "GET {key} with n1 and n4 dead");
        assert_eq!(&sha256_hex(&body), sha, "{key}: {} bytes", body.len());
    }
    println!("growth test: {:.1?} in all", began.elapsed());
}

/// `--min-failure-domains`: with fewer live nodes than required, a write is
/// a 503 that says why (nothing doubled up on the nodes left); once the
/// node is back, writes are accepted again.
#[test]
fn writes_are_refused_below_min_failure_domains() {
    let mut c = TestCluster::start(3, &["--min-failure-domains", "3"]);
    c.create_bucket("n1");
    let bytes = random(2 * MIB);
    c.put_object("n1", "ok-with-three", &bytes);
    c.stop("n3");
    c.wait_live(2);
    let file = c.dir.path().join("refused.bin");
    // New bytes: a block stored already is only referenced (deduplicated),
    // which places no shard and is not refused.
    std::fs::write(&file, random(2 * MIB)).expect("writing the upload");
    let path = file.to_str().expect("utf-8 path");
    let (status, body) = c.s3_within(30, &["-T", path, &c.url("n1", "refused")]);
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("writes refused: 2 live") && text.contains("need 3"),
        "the 503 says why: {text}"
    );
    let (status, _) = c.s3_within(30, &[&c.url("n2", "refused")]);
    assert_eq!(status, 404, "nothing of the refused write is visible");
    c.assert_object("n2", "ok-with-three", &bytes);
    c.add("n3");
    c.wait_live(3);
    let again = random(2 * MIB);
    c.put_object("n2", "ok-again", &again);
    c.assert_object("n3", "ok-again", &again);
}
