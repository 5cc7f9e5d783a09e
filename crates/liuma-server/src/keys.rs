//! `liuma key create|list|delete|allow`: access key management through
//! the admin API of a running node, with the admin client the cluster-wide
//! passes use too ([`liuma_admin::client`]).

use anyhow::{Context, bail};
use liuma_admin::client::{AdminClient, AdminEndpoint, AdminTrust};

use crate::cli::{AdminArgs, KeyAction, KeyArgs};

/// Run one key command and print its result.
pub fn run(args: &KeyArgs) -> anyhow::Result<()> {
    let client = Admin::connect(&args.admin)?;
    match &args.action {
        KeyAction::Create { name } => {
            let k = client.call(
                "POST",
                "/admin/keys",
                Some(serde_json::json!({ "name": name })),
            )?;
            println!(
                "access key id:     {}",
                k["id"].as_str().unwrap_or_default()
            );
            println!(
                "secret access key: {}",
                k["secret"].as_str().unwrap_or_default()
            );
            println!("(the secret is shown only now)");
        }
        KeyAction::List => {
            let keys = client.call("GET", "/admin/keys", None)?;
            println!("{:<22} {:<16} {:<26} buckets", "id", "name", "user");
            for k in keys.as_array().into_iter().flatten() {
                let grants: Vec<String> = if k["root"].as_bool() == Some(true) {
                    vec!["* (root)".to_owned()]
                } else {
                    k["buckets"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(b, p)| format!("{b}:{}", p.as_str().unwrap_or("?")))
                        .collect()
                };
                let mut user = k["user"].as_str().unwrap_or_default().to_owned();
                if k["disabled"].as_bool() == Some(true) {
                    user.push_str(" (disabled)");
                }
                println!(
                    "{:<22} {:<16} {:<26} {}",
                    k["id"].as_str().unwrap_or_default(),
                    k["name"].as_str().unwrap_or_default(),
                    user,
                    grants.join(" ")
                );
            }
        }
        KeyAction::Delete { id } => {
            client.call("DELETE", &format!("/admin/keys/{id}"), None)?;
            println!("deleted {id}");
        }
        KeyAction::Allow {
            id,
            bucket,
            permission,
        } => {
            let body = serde_json::json!({ "bucket": bucket, "permission": permission });
            client.call("POST", &format!("/admin/keys/{id}/allow"), Some(body))?;
            println!("{id}: {permission} on {bucket}");
        }
    }
    Ok(())
}

/// A client of the admin API of one node, for the CLI's synchronous
/// commands: the shared async client on a runtime of its own.
pub(crate) struct Admin {
    client: AdminClient,
    rt: tokio::runtime::Runtime,
}

impl Admin {
    /// A client for `--admin-url` (`http://` or `https://`; over https the
    /// OS's trust store plus `--admin-ca` are trusted), with the admin
    /// token from env `LIUMA_ADMIN_TOKEN` or else `--admin-token-file`.
    pub(crate) fn connect(args: &AdminArgs) -> anyhow::Result<Admin> {
        // Before the token: a mistyped URL is named first.
        let endpoint = AdminEndpoint::parse(&args.admin_url)
            .with_context(|| format!("--admin-url {}", args.admin_url))?;
        if args.admin_url.split_once("://").is_none() {
            bail!(
                "--admin-url must start with http:// or https:// (got {})",
                args.admin_url
            );
        }
        let trust = AdminTrust::load(
            args.admin_ca.as_deref(),
            "give the CA that issued it with --admin-ca FILE (env LIUMA_ADMIN_CA)",
        )
        .context("loading --admin-ca")?;
        let token = match std::env::var("LIUMA_ADMIN_TOKEN") {
            Ok(t) if !t.trim().is_empty() => t.trim().to_owned(),
            _ => std::fs::read_to_string(&args.admin_token_file)
                .with_context(|| {
                    format!(
                        "reading the admin token from {} (set --admin-token-file or LIUMA_ADMIN_TOKEN)",
                        args.admin_token_file.display()
                    )
                })?
                .trim()
                .to_owned(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the CLI's runtime")?;
        Ok(Admin {
            client: AdminClient::new(endpoint, token, &trust),
            rt,
        })
    }

    /// One request; the JSON body of a 2xx answer, else an error with the server's message.
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        Ok(self
            .rt
            .block_on(self.client.call(method, path, body.as_ref()))?)
    }
}
