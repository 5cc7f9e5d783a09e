//! `liuma user create|list|delete`, `liuma user key ...` and `liuma user
//! policy ...`: users, their keys and identity policies through the admin
//! API of a running node (`/admin/users...`).

use std::io::Read;

use anyhow::Context;

use crate::cli::{UserAction, UserArgs, UserKeyAction, UserPolicyAction};
use crate::keys::Admin;

/// Run one user command and print its result.
pub fn run(args: &UserArgs) -> anyhow::Result<()> {
    let client = Admin::connect(&args.admin)?;
    match &args.action {
        UserAction::Create { name } => {
            let u = client.call(
                "POST",
                "/admin/users",
                Some(serde_json::json!({ "name": name })),
            )?;
            println!("user:         {}", str_of(&u["name"]));
            println!("canonical id: {}", str_of(&u["canonical_id"]));
        }
        UserAction::List => {
            let users = client.call("GET", "/admin/users", None)?;
            println!("{:<24} {:<64} policies", "name", "canonical id");
            for u in users.as_array().into_iter().flatten() {
                let mut name = str_of(&u["name"]).to_owned();
                if u["root"].as_bool() == Some(true) {
                    name.push_str(" (root)");
                }
                println!(
                    "{:<24} {:<64} {}",
                    name,
                    str_of(&u["canonical_id"]),
                    names(&u["policies"])
                );
            }
        }
        UserAction::Delete { name } => {
            client.call("DELETE", &format!("/admin/users/{name}"), None)?;
            println!("deleted user {name}");
        }
        UserAction::Key { action } => key(&client, action)?,
        UserAction::Policy { action } => policy(&client, action)?,
    }
    Ok(())
}

fn key(client: &Admin, action: &UserKeyAction) -> anyhow::Result<()> {
    match action {
        UserKeyAction::Create { user, name } => {
            let k = client.call(
                "POST",
                &format!("/admin/users/{user}/keys"),
                Some(serde_json::json!({ "name": name })),
            )?;
            println!("access key id:     {}", str_of(&k["id"]));
            println!("secret access key: {}", str_of(&k["secret"]));
            println!("(the secret is shown only now)");
        }
        UserKeyAction::List { user } => {
            let keys = client.call("GET", &format!("/admin/users/{user}/keys"), None)?;
            println!("{:<22} {:<9} name", "id", "state");
            for k in keys.as_array().into_iter().flatten() {
                let state = if k["disabled"].as_bool() == Some(true) {
                    "disabled"
                } else {
                    "active"
                };
                println!(
                    "{:<22} {:<9} {}",
                    str_of(&k["id"]),
                    state,
                    str_of(&k["name"])
                );
            }
        }
        UserKeyAction::Delete { user, id } => {
            client.call("DELETE", &format!("/admin/users/{user}/keys/{id}"), None)?;
            println!("deleted key {id}");
        }
        UserKeyAction::Disable { user, id } => {
            client.call(
                "POST",
                &format!("/admin/users/{user}/keys/{id}/disable"),
                None,
            )?;
            println!("disabled key {id}");
        }
        UserKeyAction::Enable { user, id } => {
            client.call(
                "POST",
                &format!("/admin/users/{user}/keys/{id}/enable"),
                None,
            )?;
            println!("enabled key {id}");
        }
    }
    Ok(())
}

fn policy(client: &Admin, action: &UserPolicyAction) -> anyhow::Result<()> {
    match action {
        UserPolicyAction::Put { user, policy, file } => {
            let text = match file {
                Some(f) if f.as_os_str() != "-" => std::fs::read_to_string(f)
                    .with_context(|| format!("reading the policy from {}", f.display()))?,
                _ => {
                    let mut s = String::new();
                    std::io::stdin()
                        .read_to_string(&mut s)
                        .context("reading the policy from stdin")?;
                    s
                }
            };
            client.call(
                "PUT",
                &format!("/admin/users/{user}/policies/{policy}"),
                Some(serde_json::json!({ "policy": text })),
            )?;
            println!("policy {policy} of {user} stored");
        }
        UserPolicyAction::Get { user, policy } => {
            let p = client.call(
                "GET",
                &format!("/admin/users/{user}/policies/{policy}"),
                None,
            )?;
            println!("{}", str_of(&p["policy"]));
        }
        UserPolicyAction::Delete { user, policy } => {
            client.call(
                "DELETE",
                &format!("/admin/users/{user}/policies/{policy}"),
                None,
            )?;
            println!("policy {policy} of {user} deleted");
        }
        UserPolicyAction::List { user } => {
            let list = client.call("GET", &format!("/admin/users/{user}/policies"), None)?;
            for name in list.as_array().into_iter().flatten() {
                println!("{}", str_of(name));
            }
        }
    }
    Ok(())
}

fn str_of(v: &serde_json::Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// A JSON array of strings, space-separated ("-" when empty).
fn names(v: &serde_json::Value) -> String {
    let all: Vec<&str> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .collect();
    if all.is_empty() {
        "-".to_owned()
    } else {
        all.join(" ")
    }
}
