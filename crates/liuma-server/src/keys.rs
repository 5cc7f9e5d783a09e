//! `liuma key create|list|delete|allow`: access key management through
//! the admin API of a running node, with a minimal HTTP/1.1 client over
//! a plain TCP stream (the admin API listens on loopback by default).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, bail};
use liuma_http::cluster::dechunk;

use crate::cli::{KeyAction, KeyArgs};

/// Run one key command and print its result.
pub fn run(args: &KeyArgs) -> anyhow::Result<()> {
    let client = Admin::connect(&args.admin.admin_url, &args.admin.admin_token_file)?;
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
            println!("{:<22} {:<16} buckets", "id", "name");
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
                println!(
                    "{:<22} {:<16} {}",
                    k["id"].as_str().unwrap_or_default(),
                    k["name"].as_str().unwrap_or_default(),
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

/// "http://host:port[/]" → "host:port".
fn host_port(url: &str) -> anyhow::Result<String> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("--admin-url must start with http:// (got {url})");
    };
    let hp = rest.trim_end_matches('/');
    if hp.is_empty() || hp.contains('/') {
        bail!("--admin-url must be http://HOST:PORT (got {url})");
    }
    Ok(if hp.contains(':') {
        hp.to_owned()
    } else {
        format!("{hp}:80")
    })
}

/// A client of the admin API of one node.
pub(crate) struct Admin {
    addr: String,
    token: String,
}

impl Admin {
    /// A client for `admin_url`, with the admin token from env
    /// `LIUMA_ADMIN_TOKEN` or else `token_file`.
    pub(crate) fn connect(admin_url: &str, token_file: &std::path::Path) -> anyhow::Result<Admin> {
        let token = match std::env::var("LIUMA_ADMIN_TOKEN") {
            Ok(t) if !t.trim().is_empty() => t.trim().to_owned(),
            _ => std::fs::read_to_string(token_file)
                .with_context(|| {
                    format!(
                        "reading the admin token from {} (set --admin-token-file or LIUMA_ADMIN_TOKEN)",
                        token_file.display()
                    )
                })?
                .trim()
                .to_owned(),
        };
        Ok(Admin {
            addr: host_port(admin_url)?,
            token,
        })
    }

    /// One request; the JSON body of a 2xx answer, else an error with the server's message.
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        let mut s = TcpStream::connect(&self.addr)
            .with_context(|| format!("connecting to the admin API at {}", self.addr))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            self.token,
            body.len()
        )?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("malformed HTTP answer from the admin API")?;
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        let json: serde_json::Value =
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
        if !(200..300).contains(&status) {
            let msg = json["message"].as_str().unwrap_or(body.trim());
            bail!("admin API answered {status}: {msg}");
        }
        Ok(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_chunks() {
        assert_eq!(
            host_port("http://127.0.0.1:9002").unwrap(),
            "127.0.0.1:9002"
        );
        assert_eq!(host_port("http://localhost/").unwrap(), "localhost:80");
        assert!(host_port("https://x").is_err());
        assert_eq!(dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
    }
}
