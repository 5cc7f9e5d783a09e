//! `liuma backend create|list|revoke|rotate`: native API backend
//! credentials, managed through the admin API of a running node (with the
//! client of [`keys`](crate::keys)).

use crate::cli::{BackendAction, BackendArgs};
use crate::keys::Admin;

/// Run one backend command and print its result.
pub fn run(args: &BackendArgs) -> anyhow::Result<()> {
    let client = Admin::connect(&args.admin)?;
    match &args.action {
        BackendAction::Create {
            name,
            scopes,
            bucket,
            max_size,
            expires,
            rate_limit,
            max_sessions,
            max_parked_bytes,
        } => {
            let body = serde_json::json!({
                "name": name,
                "scopes": scopes,
                "bucket": bucket,
                "max_size": max_size,
                "expires": expires,
                "rate_limit": rate_limit,
                "max_sessions": max_sessions,
                "max_parked_bytes": max_parked_bytes,
            });
            let c = client.call("POST", "/admin/backends", Some(body))?;
            print_secret(&c);
        }
        BackendAction::List => {
            let list = client.call("GET", "/admin/backends", None)?;
            println!(
                "{:<22} {:<16} {:<10} {:<12} scopes",
                "id", "name", "state", "bucket"
            );
            for c in list.as_array().into_iter().flatten() {
                let scopes: Vec<&str> = c["scopes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str())
                    .collect();
                let state = if c["revoked_ms"].is_u64() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:<22} {:<16} {:<10} {:<12} {}",
                    c["id"].as_str().unwrap_or_default(),
                    c["name"].as_str().unwrap_or_default(),
                    state,
                    c["bucket"].as_str().unwrap_or("*"),
                    scopes.join(",")
                );
            }
        }
        BackendAction::Revoke { id } => {
            client.call("DELETE", &format!("/admin/backends/{id}"), None)?;
            println!("revoked {id}; its requests and tokens fail from now on");
        }
        BackendAction::Rotate { id } => {
            let c = client.call("POST", &format!("/admin/backends/{id}/rotate"), None)?;
            print_secret(&c);
        }
    }
    Ok(())
}

fn print_secret(c: &serde_json::Value) {
    println!("credential id: {}", c["id"].as_str().unwrap_or_default());
    println!(
        "secret:        {}",
        c["secret"].as_str().unwrap_or_default()
    );
    println!("(the secret is shown only now; sign with SigV4, service \"liuma\")");
}
