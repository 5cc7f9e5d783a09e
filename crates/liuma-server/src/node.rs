//! `liuma node status|drain|undrain|forget`: cluster membership through the
//! admin API of any node.

use std::time::{Duration, Instant};

use crate::cli::{NodeAction, NodeArgs};
use crate::keys::Admin;

/// Run one node command and print its result.
pub fn run(args: &NodeArgs) -> anyhow::Result<()> {
    let client = Admin::connect(&args.admin.admin_url, &args.admin.admin_token_file)?;
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
    println!(
        "cluster seen by {}: {} live node(s), erasure {}; blocks {} (healthy {}, degraded {}, lost {})",
        c["node_id"].as_str().unwrap_or("?"),
        c["live_nodes"],
        c["erasure"].as_str().unwrap_or("?"),
        census["blocks"],
        census["healthy"],
        census["degraded"],
        census["lost"],
    );
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
    Ok(())
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
