//! Where data goes: an EC 4+2 object written anywhere reads everywhere;
//! lifecycle rules run once per bucket, on one node.

use super::common::*;

#[test]
fn six_nodes_ec_4_2_upload_anywhere_download_everywhere() {
    let c = TestCluster::start(6, &[]);
    let st = c.status("n1");
    assert_eq!(st["clustered"], true, "{st}");
    assert_eq!(st["erasure"], "4+2", "6 nodes x 1 disk: {st}");
    let nodes = st["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 6, "{st}");
    for n in nodes {
        let id = n["id"].as_str().expect("id");
        let me = &c.node(id).node;
        assert_eq!(n["live"], true, "{n}");
        assert_eq!(n["draining"], false, "{n}");
        assert_eq!(n["zone"], zone_of(id), "{n}");
        assert_eq!(n["shard_api"], me.cluster.as_str(), "{n}");
        assert_eq!(n["endpoints"]["s3"], me.s3.as_str(), "{n}");
        assert_eq!(n["endpoints"]["native"], me.native.as_str(), "{n}");
        assert_eq!(n["endpoints"]["admin"], me.admin.as_str(), "{n}");
        assert_eq!(n["disks"].as_array().map(Vec::len), Some(1), "{n}");
    }
    // The native API's node list (liuma 1.0's /server/active) names every
    // live node's native address, whichever node answers.
    let active = c.node("n4").backend("GET", "/server/active");
    assert_eq!(active.status, 200);
    let mut listed: Vec<String> = active.json()["active"]
        .as_array()
        .expect("active list")
        .iter()
        .map(|a| a.as_str().expect("address").to_owned())
        .collect();
    let mut expected: Vec<String> = c
        .ids()
        .iter()
        .map(|id| c.node(id).node.native.clone())
        .collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);

    // In through n3 (S3 and native), out through every node.
    let object = random(24 * MIB + 12_345);
    let file = random(13 * MIB + 999);
    c.create_bucket("n3");
    c.put_object("n3", "big.bin", &object);
    let hash = c.node("n3").put(&file, "big-file.bin");
    for id in c.ids() {
        c.assert_object(&id, "big.bin", &object);
        c.assert_file(&id, &hash, &file);
    }

    // Every block is healthy; every coded block has one shard on each node
    // (the small tail blocks have 3 copies on 3 of them).
    let (blocks, coded, shards) = layout_all(&[object.len(), file.len()], 4, 2);
    assert!(blocks > coded, "the test data has small tail blocks too");
    for id in ["n1", "n5"] {
        let census = c.census(id);
        all_healthy(&census, &[]).unwrap_or_else(|e| panic!("census on {id}: {e}"));
        assert_eq!(census["blocks"], blocks, "{census}");
        let per_node = census["shards_per_node"].as_object().expect("per node");
        assert_eq!(per_node.len(), 6, "shards on all six nodes: {census}");
        let total: u64 = per_node.values().filter_map(Value::as_u64).sum();
        assert_eq!(total, shards, "{census}");
        for n in c.ids() {
            let held = shards_on(&census, &n);
            assert!(
                (coded..=blocks).contains(&held),
                "{n} holds {held} shards, not one of each of the {coded} coded blocks: {census}"
            );
            // And the files are where the census says.
            let on_disk = shard_files(&c.data(&n)).len() as u64;
            assert_eq!(on_disk, held, "shard files on {n}'s disk");
        }
    }
}

/// Lifecycle in a cluster: each bucket's rules run on exactly one live node
/// (rendezvous hashing of the bucket name), so a pass on every node expires
/// each object once, and the buckets are spread over the nodes.
#[test]
fn lifecycle_runs_each_bucket_on_one_node() {
    let c = TestCluster::start(3, &["--lifecycle-test-clock"]);
    let rules = "<LifecycleConfiguration><Rule><ID>e</ID><Filter/><Status>Enabled</Status>\
                 <Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>";
    let names: Vec<String> = (0..8).map(|i| format!("life-{i}")).collect();
    let s3 = c.node("n1").node.s3.clone();
    for b in &names {
        let url = format!("http://{s3}/{b}");
        for args in [
            vec!["-X", "PUT", url.as_str()],
            vec![
                "-X",
                "PUT",
                "--data-binary",
                rules,
                &format!("{url}?lifecycle="),
            ],
            vec!["-X", "PUT", "--data-binary", "x", &format!("{url}/obj")],
        ] {
            let (status, body) = c.s3_within(60, &args);
            assert_eq!(status, 200, "{args:?}: {}", String::from_utf8_lossy(&body));
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let pass = |id: &str| {
        let path = format!("/admin/lifecycle?as_of={}", now + 3 * 86_400_000);
        c.admin(id, "POST", &path).json()
    };
    let reports: Vec<Value> = c.ids().iter().map(|id| pass(id)).collect();
    let sum = |f: &str| -> u64 { reports.iter().map(|r| r[f].as_u64().unwrap()).sum() };
    assert_eq!(sum("buckets"), 8, "{reports:?}");
    assert_eq!(sum("objects_expired"), 8, "{reports:?}");
    let busy = reports.iter().filter(|r| r["buckets"] != 0).count();
    assert!(busy >= 2, "buckets spread over the nodes: {reports:?}");
    for id in c.ids() {
        assert_eq!(pass(&id)["objects_expired"], 0, "nothing left on {id}");
    }
    for b in &names {
        let (status, _) = c.s3_within(60, &[&format!("http://{s3}/{b}/obj")]);
        assert_eq!(status, 404, "{b}/obj expired");
    }
    // A pass now on every node at once: each answers, together the 8 buckets.
    let all = c
        .admin("n2", "POST", "/admin/lifecycle?scope=cluster")
        .json();
    let nodes = all["nodes"].as_object().expect("per-node results");
    assert_eq!(nodes.len(), 3, "{all}");
    assert!(nodes.values().all(|n| n["ok"] == true), "{all}");
    assert_eq!(all["totals"]["buckets"], 8, "{all}");
    // A future time is never forwarded to other nodes.
    let r = c
        .node("n1")
        .node
        .admin_req("POST", "/admin/lifecycle?scope=cluster&as_of=4102444800000");
    assert_eq!(r.status, 400);
}
