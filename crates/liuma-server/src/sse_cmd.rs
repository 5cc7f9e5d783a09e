//! `liuma sse status|rotate|reencrypt|usage|retire`: SSE-S3 master key
//! management through the admin API of a running node (see the engine's
//! `sse_admin` module for what each does).

use std::time::{Duration, Instant};

use crate::cli::{SseAction, SseArgs};
use crate::keys::Admin;

/// How long `reencrypt` waits for its job before giving up waiting (the
/// job goes on; `liuma sse status` shows it).
const WAIT: Duration = Duration::from_secs(24 * 3600);

/// Run one command and print its result.
pub fn run(args: &SseArgs) -> anyhow::Result<()> {
    let client = Admin::connect(&args.admin)?;
    match &args.action {
        SseAction::Status => {
            let s = client.call("GET", "/admin/sse", None)?;
            print_status(&s);
        }
        SseAction::Rotate => {
            let s = client.call("POST", "/admin/sse/rotate", None)?;
            println!(
                "rotated: new writes use version {} (versions {})",
                s["current"], s["versions"]
            );
        }
        SseAction::Usage { version } => {
            let u = client.call("GET", &format!("/admin/sse/usage?version={version}"), None)?;
            println!(
                "version {version}: {} object version(s), {} SSE-C object version(s), {} open upload(s) that need it",
                u["object_versions"], u["customer_versions"], u["uploads"]
            );
        }
        SseAction::Retire { version } => {
            let s = client.call("DELETE", &format!("/admin/sse/versions/{version}"), None)?;
            println!("retired version {version} (versions {})", s["versions"]);
        }
        SseAction::Reencrypt {
            from_version,
            no_wait,
        } => {
            client.call(
                "POST",
                &format!("/admin/sse/reencrypt?from={from_version}"),
                None,
            )?;
            println!("re-encrypting objects sealed under version {from_version}");
            if !no_wait {
                return wait(&client);
            }
        }
    }
    Ok(())
}

fn print_status(s: &serde_json::Value) {
    println!(
        "current version {}, versions {}{}",
        s["current"],
        s["versions"],
        if s["managed"].as_bool() == Some(false) {
            " (from --sse-master-key-file: managed outside liuma)"
        } else {
            ""
        }
    );
    // A fence on a version still in the ring: a retirement runs, or one
    // was cut short (writes sealed under it answer 503 until it is run again).
    let held: Vec<u64> = s["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    let fenced: Vec<u64> = s["fenced"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_u64)
        .filter(|v| held.contains(v))
        .collect();
    if !fenced.is_empty() {
        println!(
            "fenced, being retired (or a retirement cut short: run `liuma sse retire` again): {fenced:?}"
        );
    }
    let j = &s["reencrypt"];
    if j["from_version"].as_u64().unwrap_or(0) > 0 {
        println!(
            "re-encryption from version {}: {}, scanned {}, rewritten {}, raced {}, failed {}",
            j["from_version"],
            if j["running"].as_bool() == Some(true) {
                "running"
            } else {
                "done"
            },
            j["scanned"],
            j["rewritten"],
            j["raced"],
            j["failed"]
        );
        if let Some(e) = j["last_error"].as_str() {
            println!("  last error: {e}");
        }
    }
}

/// Poll until the job ends; an error when versions failed.
fn wait(client: &Admin) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let s = client.call("GET", "/admin/sse", None)?;
        let j = &s["reencrypt"];
        if j["running"].as_bool() != Some(true) {
            print_status(&s);
            let failed = j["failed"].as_u64().unwrap_or(0);
            anyhow::ensure!(
                failed == 0 && j["last_error"].is_null(),
                "{failed} version(s) failed: run it again"
            );
            return Ok(());
        }
        anyhow::ensure!(
            start.elapsed() < WAIT,
            "still running after {WAIT:?}: see `liuma sse status`"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
