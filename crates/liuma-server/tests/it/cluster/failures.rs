//! Nodes killed or frozen, shards rotted or deleted, etcd frozen or killed:
//! clear errors, no hangs, and healing back to full health.

use super::common::*;

#[test]
fn sigkill_two_nodes_keeps_data_and_heals() {
    let mut c = TestCluster::start(6, &[]);
    c.create_bucket("n1");
    let mut objects: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, id) in ["n1", "n2", "n3"].into_iter().enumerate() {
        let key = format!("before-{i}");
        let bytes = random(6 * MIB + 1000 * i + 7);
        c.put_object(id, &key, &bytes);
        objects.push((key, bytes));
    }
    let file = random(5 * MIB + 3);
    let hash = c.node("n4").put(&file, "before.bin");
    all_healthy(&c.census("n1"), &[]).expect("healthy before the kill");

    c.kill("n5");
    c.kill("n6");
    let survivors = ["n1", "n2", "n3", "n4"];
    // At once, while the others still count n5 and n6 as live: reads decode
    // around them, writes fall back to other disks.
    for (key, bytes) in &objects {
        c.assert_object("n2", key, bytes);
    }
    c.assert_file("n3", &hash, &file);
    let mut round = 0;
    wait_for(
        "every survivor sees n5 and n6 gone (lease expiry), while reads and writes go on",
        Duration::from_secs(40),
        || {
            round += 1;
            let (w, r) = (survivors[round % 4], survivors[(round + 1) % 4]);
            let key = format!("during-{round}");
            let bytes = random(MIB + 4096 * round);
            c.put_object(w, &key, &bytes);
            c.assert_object(r, &key, &bytes);
            let (old, old_bytes) = &objects[round % objects.len()];
            c.assert_object(r, old, old_bytes);
            objects.push((key, bytes));
            for id in survivors {
                let st = c.status(id);
                if st["live_nodes"] != 4 {
                    return Err(format!("{id}: {st}"));
                }
            }
            Ok(())
        },
    );
    println!("{round} objects written during the outage");

    // Past the grace, the healer rebuilds what n5 and n6 held on the others.
    wait_for(
        "healthy blocks and no shard left on n5/n6",
        Duration::from_secs(60),
        || {
            let reports = c.heal_all();
            let census = c.census("n1");
            all_healthy(&census, &["n5", "n6"]).map_err(|e| format!("{e}; heal: {reports:?}"))
        },
    );
    // The healers counted their work (a pass still finishing a block may
    // count it a moment after the census saw it).
    wait_for(
        "heal_shards_rebuilt counted on the survivors",
        Duration::from_secs(10),
        || {
            let rebuilt: u64 = survivors
                .iter()
                .map(|id| c.metric(id, "heal_shards_rebuilt"))
                .sum();
            if rebuilt > 0 {
                Ok(())
            } else {
                Err("heal_shards_rebuilt is 0 on every survivor".to_owned())
            }
        },
    );
    for id in survivors {
        for (key, bytes) in &objects {
            c.assert_object(id, key, bytes);
        }
        c.assert_file(id, &hash, &file);
    }
    let census = c.census("n3");
    all_healthy(&census, &["n5", "n6"]).expect("census on n3 agrees");
    assert_disks_match(&c, &census);
}

/// Send `sig` (STOP, CONT) to node `id`.
fn signal(c: &TestCluster, id: &str, sig: &str) {
    let pid = c.node(id).node.child.id().to_string();
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid])
        .status()
        .expect("kill");
    assert!(ok.success(), "kill -{sig} {id}");
}

/// A hung peer (SIGSTOP: its lease still runs) is treated like a slow one:
/// reads ask parity after a short hedge delay, writes skip it after one
/// missed deadline; no request waits for the 30 s RPC timeout.
#[test]
fn a_frozen_node_delays_no_request_by_more_than_two_seconds() {
    let c = TestCluster::start(6, &[]);
    c.create_bucket("n1");
    let mut objects: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..4 {
        let key = format!("before-{i}");
        let bytes = random(4 * MIB + 999 * i);
        c.put_object(["n1", "n2", "n3"][i % 3], &key, &bytes);
        objects.push((key, bytes));
    }
    signal(&c, "n6", "STOP");
    let others = ["n1", "n2", "n3", "n4", "n5"];
    let mut worst = Duration::ZERO;
    let mut slow = Vec::new();
    // Within the lease TTL (10 s) n6 still counts as live: every block has
    // a shard on it, and every write's placement may pick it.
    let until = Instant::now() + Duration::from_secs(9);
    let mut round = 0;
    while Instant::now() < until {
        let via = others[round % others.len()];
        let key = format!("frozen-{round}");
        let bytes = random(2 * MIB + 17 * round);
        let t = Instant::now();
        assert_eq!(c.try_put(via, &key, &bytes, 20), 200, "PUT {key} via {via}");
        let put = t.elapsed();
        let (old, old_bytes) = &objects[round % objects.len()];
        let t = Instant::now();
        c.assert_object(others[(round + 1) % others.len()], old, old_bytes);
        let get = t.elapsed();
        for (what, took) in [(format!("PUT {key}"), put), (format!("GET {old}"), get)] {
            worst = worst.max(took);
            if took > Duration::from_secs(2) {
                slow.push(format!("{what}: {took:?}"));
            }
        }
        objects.push((key, bytes));
        round += 1;
    }
    println!("{round} rounds with n6 frozen; slowest request {worst:?}");
    assert!(round >= 4, "only {round} rounds in 9 s");
    // A request that meets the frozen peer first pays one deadline (2 s for
    // a write); every later one skips it.
    assert!(
        slow.len() <= 1,
        "requests over 2 s with n6 frozen: {slow:?}"
    );
    assert!(worst < Duration::from_secs(3), "slowest request {worst:?}");
    let hedged: u64 = others.iter().map(|id| c.metric(id, "hedged_reads")).sum();
    assert!(hedged > 0, "no read was hedged around the frozen node");

    signal(&c, "n6", "CONT");
    for (key, bytes) in &objects {
        c.assert_object("n6", key, bytes);
    }
}

/// With 2+1 blocks over six nodes and two nodes gone, some blocks of a
/// large object are lost and others not: a GET answers 503 before its
/// status line, never a 200 whose body then stops.
#[test]
fn a_partly_lost_object_is_503_not_a_cut_200() {
    let mut c = TestCluster::start(6, &["--erasure", "2+1"]);
    c.create_bucket("n1");
    let bytes = random(24 * MIB + 5);
    c.put_object("n1", "big", &bytes);
    c.kill("n5");
    c.kill("n6");
    wait_for("n1 sees n5 and n6 gone", Duration::from_secs(30), || {
        let st = c.status("n1");
        if st["live_nodes"] == 4 {
            Ok(())
        } else {
            Err(format!("{st}"))
        }
    });
    for _ in 0..3 {
        let (status, body) = c.s3_within(30, &[&c.url("n1", "big")]);
        match status {
            503 => {}
            200 => assert!(
                body == bytes,
                "a 200 with {} of {} bytes",
                body.len(),
                bytes.len()
            ),
            other => panic!("GET answered {other}"),
        }
    }
    assert_eq!(c.metric("n1", "streams_cut"), 0);
}

#[test]
fn bitrot_and_deleted_shards_on_two_nodes_are_repaired() {
    let c = TestCluster::start(6, &[]);
    c.create_bucket("n1");
    let object = random(10 * MIB + 200_000);
    c.put_object("n1", "rot.bin", &object);
    let file = random(3 * MIB + 300_000);
    let hash = c.node("n4").put(&file, "rot-file.bin");
    // Tails over 128 KiB: every block is coded 4+2, one shard on each node.
    let (blocks, coded, _) = layout_all(&[object.len(), file.len()], 4, 2);
    assert_eq!(blocks, coded);
    all_healthy(&c.census("n1"), &[]).expect("healthy after upload");

    // n2: flip bytes in the middle of every shard; n3: delete every shard.
    let rotten = shard_files(&c.data("n2"));
    assert_eq!(rotten.len() as u64, blocks, "one shard per block on n2");
    for path in &rotten {
        let mut bytes = std::fs::read(path).expect("reading a shard");
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 16] {
            *b ^= 0x5a;
        }
        std::fs::write(path, &bytes).expect("rotting a shard");
    }
    let deleted = shard_files(&c.data("n3"));
    assert_eq!(deleted.len() as u64, blocks, "one shard per block on n3");
    for path in &deleted {
        std::fs::remove_file(path).expect("deleting a shard");
    }
    let census = c.census("n1");
    assert_eq!(
        census["healthy"], 0,
        "every block lost two shards: {census}"
    );
    assert_eq!(census["degraded"], blocks, "{census}");
    assert_eq!(census["lost"], 0, "{census}");

    // Reads decode around the damage and repair what they touched.
    c.assert_object("n1", "rot.bin", &object);
    c.assert_file("n1", &hash, &file);
    assert!(
        c.metric("n1", "degraded_reads") > 0,
        "no degraded read on n1 although every block has 2 bad shards"
    );
    wait_for(
        "n1 repairs shards its reads found bad",
        Duration::from_secs(15),
        || match c.metric("n1", "shards_repaired") {
            0 => Err("shards_repaired 0".to_owned()),
            n => Ok(n),
        },
    );

    // Scrubbing on every node (each scrubs the blocks it maintains) repairs the rest.
    let reports = c.scrub_all();
    let unrecoverable: u64 = reports
        .iter()
        .map(|r| r["unrecoverable"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(unrecoverable, 0, "scrub: {reports:?}");
    let checked: u64 = reports
        .iter()
        .map(|r| r["blocks_checked"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        checked, blocks,
        "each block scrubbed by one node: {reports:?}"
    );
    let census = c.census("n1");
    all_healthy(&census, &[]).unwrap_or_else(|e| panic!("after scrub: {e}; {reports:?}"));
    assert_disks_match(&c, &census);
    // The shards are back on their own disks.
    assert_eq!(
        shard_files(&c.data("n3")).len() as u64,
        blocks,
        "n3 refilled"
    );
    for id in ["n2", "n3", "n6"] {
        c.assert_object(id, "rot.bin", &object);
        c.assert_file(id, &hash, &file);
    }
}

#[test]
fn etcd_stopped_gives_503_then_recovers() {
    // A 3 s membership lease, so freezing etcd past it takes seconds, not 13.
    let mut c = TestCluster::start(3, &["--lease-ttl-secs", "3"]);
    assert_eq!(c.status("n1")["erasure"], "2+1", "3 disks");
    c.create_bucket("n1");
    let mut objects = vec![("kept".to_owned(), random(5 * MIB + 17))];
    c.put_object("n1", "kept", &objects[0].1);
    let file = random(2 * MIB + 1);
    let hash = c.node("n2").put(&file, "kept.bin");
    let extra = random(2 * MIB);

    // Frozen etcd (nothing answers, connections stay open): 503, not a hang.
    c.etcd.freeze();
    let started = Instant::now();
    let (get, put) = std::thread::scope(|s| {
        let get = s.spawn(|| c.s3_within(30, &[&c.url("n1", "kept")]).0);
        let put = s.spawn(|| c.try_put("n2", "frozen", &extra, 30));
        (
            get.join().expect("GET thread"),
            put.join().expect("PUT thread"),
        )
    });
    let took = started.elapsed();
    // Frozen past the membership lease TTL (3 s): on thaw etcd expires every
    // node's lease and the nodes must register again.
    std::thread::sleep(Duration::from_secs(6).saturating_sub(started.elapsed()));
    c.etcd.thaw();
    assert_eq!(get, 503, "S3 GET with etcd frozen (0 = no answer in 30 s)");
    assert_eq!(put, 503, "S3 PUT with etcd frozen (0 = no answer in 30 s)");
    assert!(took < Duration::from_secs(20), "503s took {took:?}");
    println!("frozen etcd: 503s after {took:.1?}");
    wait_for(
        "S3 PUT works again after etcd thaws",
        Duration::from_secs(30),
        || match c.try_put("n3", "after-thaw", &extra, 15) {
            200 => Ok(()),
            s => Err(format!("status {s}")),
        },
    );
    objects.push(("after-thaw".to_owned(), extra.clone()));
    c.wait_live(3);
    all_healthy(&c.census("n2"), &[]).expect("healthy after the freeze");

    // Killed etcd (connections refused): 503 fast; restarted: works again.
    c.etcd.kill();
    let started = Instant::now();
    let (status, _) = c.s3_within(30, &[&c.url("n3", "kept")]);
    assert_eq!(status, 503, "S3 GET with etcd killed");
    assert_eq!(
        c.try_put("n1", "killed", &extra, 30),
        503,
        "S3 PUT with etcd killed"
    );
    for id in c.ids() {
        let ready = http_get(&c.node(&id).node.admin, "/ready").0;
        assert_eq!(ready, 503, "{id} /ready with etcd killed");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "503s took {took:?}");
    c.etcd.restart();
    wait_for(
        "S3 PUT works again after etcd restarts",
        Duration::from_secs(30),
        || match c.try_put("n2", "after-restart", &extra, 15) {
            200 => Ok(()),
            s => Err(format!("status {s}")),
        },
    );
    objects.push(("after-restart".to_owned(), extra.clone()));
    for id in c.ids() {
        for (key, bytes) in &objects {
            c.assert_object(&id, key, bytes);
        }
        c.assert_file(&id, &hash, &file);
    }
    c.wait_live(3);
    all_healthy(&c.census("n1"), &[]).expect("healthy after the outages");
}
