//! Turning on etcd's authentication for liuma, idempotently ([`ensure_auth`]): a `root`
//! user, and a user whose role of the same name may read and write only liuma's key prefix.
//! Used by `liuma etcd init-auth` (the Helm chart runs it before the nodes start) and by the
//! tests' [`TestEtcd`](crate::testing::TestEtcd).
//!
//! Run again it changes nothing but the user's password (set to the one given, so that the
//! Secret holding it stays the truth). Several runs at once are safe: one that finds auth
//! switched on under it fails with a clear error and succeeds when run again.

use etcd_client::{Client, ConnectOptions, Permission};

use super::EtcdSecurity;
use super::security;
use crate::error::Result;

/// What [`ensure_auth`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthSetup {
    /// Authentication was off; it is now on with the users set up.
    Enabled,
    /// Authentication was already on; the users and role were checked and completed.
    AlreadyEnabled,
}

/// The user and its key prefix to set up.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser<'a> {
    /// User (and role) name.
    pub name: &'a str,
    /// Its password.
    pub password: &'a str,
    /// The only keys it may read and write: those starting with this.
    pub prefix: &'a str,
}

/// Makes sure etcd at `endpoints` has authentication on, with `root` (password
/// `root_password`) and `user` limited to its prefix. `tls` holds the CA and client
/// certificate (its `user` is ignored).
pub async fn ensure_auth(
    endpoints: &[String],
    tls: &EtcdSecurity,
    root_password: &str,
    user: AuthUser<'_>,
) -> Result<AuthSetup> {
    let use_tls = tls.tls();
    let explain = |e: etcd_client::Error| security::explain(security::connect_error(e), use_tls);
    let mut options = ConnectOptions::new();
    if let Some(t) = tls.tls_options() {
        options = options.with_tls(t);
    }
    let as_root = options.clone().with_user("root", root_password);
    let (mut client, setup) = match Client::connect(endpoints, Some(as_root)).await {
        Ok(c) => (c, AuthSetup::AlreadyEnabled),
        Err(e) if e.to_string().contains("authentication is not enabled") => (
            Client::connect(endpoints, Some(options))
                .await
                .map_err(explain)?,
            AuthSetup::Enabled,
        ),
        Err(e) => return Err(explain(e)),
    };
    let fail = |e: etcd_client::Error| security::explain(security::connect_error(e), use_tls);
    // "already exists" / "already has the role": the step was done by an earlier run.
    let done = |r: std::result::Result<(), etcd_client::Error>| match r {
        Err(e) if e.to_string().contains("already") => Ok(()),
        other => other.map_err(fail),
    };
    done(client.user_add("root", root_password, None).await.map(drop))?;
    // etcd 3.4 knows the root role without it being added; 3.5 wants it added.
    done(client.role_add("root").await.map(drop))?;
    done(client.user_grant_role("root", "root").await.map(drop))?;
    done(client.role_add(user.name).await.map(drop))?;
    client
        .role_grant_permission(user.name, Permission::read_write(user.prefix).with_prefix())
        .await
        .map_err(fail)?;
    match client.user_add(user.name, user.password, None).await {
        Ok(_) => {}
        Err(e) if e.to_string().contains("already") => {
            client
                .user_change_password(user.name, user.password)
                .await
                .map_err(fail)?;
        }
        Err(e) => return Err(fail(e)),
    }
    done(client.user_grant_role(user.name, user.name).await.map(drop))?;
    if setup == AuthSetup::Enabled {
        done(client.auth_enable().await.map(drop))?;
    }
    Ok(setup)
}
