//! `liuma node status|drain|undrain|forget`: cluster membership through the
//! admin API of any node.

use std::time::{Duration, Instant};

use crate::cli::{NodeAction, NodeArgs};
use crate::keys::Admin;

/// Run one node command and print its result.
pub fn run(args: &NodeArgs) -> anyhow::Result<()> {
    let client = Admin::connect(&args.admin)?;
    match &args.action {
        NodeAction::Status => status(&client),
        NodeAction::Drain { id, no_wait } => {
            client.call("POST", &format!("/admin/nodes/{id}/drain"), None)?;
            println!("{id}: draining (takes no new shards; its shards move to other nodes)");
            if !no_wait {
                wait_drained(&client, id)?;
            }
            Ok(())
        }
        NodeAction::Undrain { id } => {
            client.call("DELETE", &format!("/admin/nodes/{id}/drain"), None)?;
            println!("{id}: drain cancelled");
            Ok(())
        }
        NodeAction::Forget { id } => {
            client.call("DELETE", &format!("/admin/nodes/{id}"), None)?;
            println!("{id}: forgotten");
            Ok(())
        }
    }
}

fn status(client: &Admin) -> anyhow::Result<()> {
    let c = client.call("GET", "/admin/cluster", None)?;
    let census = client.call("GET", "/admin/blocks", None)?;
    // Older nodes do not know /admin/passes: the table goes without it.
    let passes = client
        .call("GET", "/admin/passes?scope=cluster", None)
        .unwrap_or_default();
    println!(
        "cluster seen by {}: {} live node(s) in {} failure domain(s) (writes need {}), erasure {}",
        c["node_id"].as_str().unwrap_or("?"),
        c["live_nodes"],
        c["live_failure_domains"],
        c["min_failure_domains"],
        c["erasure"].as_str().unwrap_or("?"),
    );
    println!(
        "blocks {} (healthy {}, below target {}, degraded {}, lost {})",
        census["blocks"],
        census["healthy"],
        census["below_target"],
        census["degraded"],
        census["lost"],
    );
    for (bucket, b) in census["buckets"].as_object().into_iter().flatten() {
        let name = if bucket.is_empty() {
            "(uploads)"
        } else {
            bucket
        };
        println!(
            "  bucket {name}: below target {}, degraded {}, lost {}",
            b["below_target"], b["degraded"], b["lost"]
        );
    }
    println!(
        "{:<16} {:<10} {:<9} {:<22} {:>5} {:>12} {:>10}",
        "node", "zone", "state", "shard api", "disks", "free GiB", "shards"
    );
    for n in c["nodes"].as_array().into_iter().flatten() {
        let id = n["id"].as_str().unwrap_or("?");
        let state = match (n["live"].as_bool(), n["draining"].as_bool()) {
            (Some(true), Some(true)) => "draining",
            (Some(true), _) => "live",
            _ => "down",
        };
        println!(
            "{:<16} {:<10} {:<9} {:<22} {:>5} {:>12.1} {:>10}",
            id,
            n["zone"].as_str().unwrap_or("?"),
            state,
            n["shard_api"].as_str().unwrap_or("?"),
            n["disks"].as_array().map_or(0, Vec::len),
            n["free_bytes"].as_u64().unwrap_or(0) as f64 / f64::from(1 << 30),
            census["shards_per_node"][id].as_u64().unwrap_or(0),
        );
    }
    // Heal and scrub per node (a separate table: the one above keeps its
    // columns for scripts).
    if let Some(nodes) = passes["nodes"].as_object() {
        println!("{:<16} {:<44} scrub", "node", "heal");
        for (id, n) in nodes {
            let p = &n["result"];
            let (heal, scrub) = match n["error"].as_str() {
                Some(e) => (format!("unreachable: {e}"), String::new()),
                None => (
                    pass_summary(
                        &p["heal"],
                        &["reencoded", "rebuilt", "below_target", "failed"],
                    ),
                    pass_summary(&p["scrub"], &["bad_shards", "repaired", "failed"]),
                ),
            };
            println!("{id:<16} {heal:<44} {scrub}");
        }
    }
    Ok(())
}

/// One node's heal or scrub pass in a few words: "running 12 s" or the age
/// of the last one and its non-zero counters.
fn pass_summary(p: &serde_json::Value, fields: &[&str]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let ago = |ms: u64| now.saturating_sub(ms) / 1000;
    if let Some(since) = p["running_since_ms"].as_u64() {
        return format!("running {} s", ago(since));
    }
    let Some(done) = p["last_done_ms"].as_u64() else {
        return "-".to_owned();
    };
    if let Some(e) = p["last_error"].as_str() {
        return format!("{} s ago: failed: {e}", ago(done));
    }
    let counts: Vec<String> = fields
        .iter()
        .filter_map(|f| {
            let n = p["last"][f].as_u64().filter(|&n| n > 0)?;
            Some(format!("{f} {n}"))
        })
        .collect();
    let counts = if counts.is_empty() {
        "clean".to_owned()
    } else {
        counts.join(", ")
    };
    format!("{} s ago: {counts}", ago(done))
}

/// Poll the shard census until the node holds no shards.
fn wait_drained(client: &Admin, id: &str) -> anyhow::Result<()> {
    let began = Instant::now();
    let mut first = None;
    loop {
        let census = client.call("GET", "/admin/blocks", None)?;
        let left = census["shards_per_node"][id].as_u64().unwrap_or(0);
        let start = *first.get_or_insert(left);
        let done = start.saturating_sub(left);
        println!(
            "  {id}: {left} shard(s) left, {done} moved ({:.0} s)",
            began.elapsed().as_secs_f64()
        );
        if left == 0 {
            println!("{id}: drained; stop it, then `liuma node forget {id}`");
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}
