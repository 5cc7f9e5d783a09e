//! The node's etcd client credentials: reads the `[etcd_client]` files (CA, client
//! certificate and key, password) into [`EtcdSecurity`], warns about private files others
//! can read, turns a refused connection into a start-up error that names the flag to fix,
//! and reloads the files when they change ([`reload_credentials`]: a rotated client
//! certificate is used without a restart).
//!
//! The password is read from a file (never a flag: argv is visible to every local user) and
//! never logged; [`EtcdSecurity`]'s `Debug` hides it. Files given by the operator are not
//! chmod-ed (they may be read-only mounts of a Kubernetes Secret): a group- or
//! world-readable key or password file is only warned about.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use liuma_meta::{AccessProblem, EtcdSecurity};

use crate::config::EtcdClientSection;

/// Loads the files of `section`; an unreadable or malformed file is an error naming it.
pub fn load(section: &EtcdClientSection) -> anyhow::Result<EtcdSecurity> {
    let ca_pem = match &section.ca {
        Some(p) => Some(read_pem(p, "etcd CA (--etcd-ca)", "CERTIFICATE")?),
        None => None,
    };
    let identity = match (&section.cert, &section.key) {
        (Some(cert), Some(key)) => {
            let cert = read_pem(cert, "etcd client certificate (--etcd-cert)", "CERTIFICATE")?;
            warn_if_shared(key, "etcd client key (--etcd-key)");
            let key = read_pem(key, "etcd client key (--etcd-key)", "PRIVATE KEY")?;
            Some((cert, key))
        }
        _ => None,
    };
    let user = match (&section.user, &section.password_file) {
        (Some(user), Some(file)) => Some((user.clone(), read_password(file)?)),
        _ => None,
    };
    Ok(EtcdSecurity {
        ca_pem,
        identity,
        user,
    })
}

/// A PEM file that holds at least one block whose label ends with `label`.
fn read_pem(path: &Path, what: &str, label: &str) -> anyhow::Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading the {what} {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let found = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN "))
        .any(|l| l.trim_end_matches('-').ends_with(label));
    if !found {
        bail!("the {what} {} holds no PEM {label} block", path.display());
    }
    Ok(bytes)
}

/// The first line of the password file (its line break is not part of the password).
fn read_password(path: &Path) -> anyhow::Result<String> {
    warn_if_shared(path, "etcd password file (--etcd-password-file)");
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the etcd password file {}", path.display()))?;
    let password = text.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        bail!("the etcd password file {} is empty", path.display());
    }
    Ok(password)
}

/// Warns when a private file can be read by the group or others.
fn warn_if_shared(path: &Path, what: &str) {
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "the {what} is readable by other users; make it 0600 (or 0400)"
            );
        }
    }
}

/// A failed connection to etcd as the error the node stops with: what is wrong and which
/// setting to look at.
pub fn explain(err: liuma_meta::Error, endpoints: &[String]) -> anyhow::Error {
    let at = endpoints.join(",");
    let hint = match &err {
        liuma_meta::Error::Access { problem, .. } => match problem {
            AccessProblem::UntrustedServer => {
                "check that --etcd-ca is the CA that signed etcd's server certificate and \
                 that the certificate names the endpoint's host"
            }
            AccessProblem::ClientCertRefused => {
                "etcd runs with --client-cert-auth: give --etcd-cert/--etcd-key signed by a \
                 CA in etcd's --trusted-ca-file"
            }
            AccessProblem::AuthFailed => {
                "check --etcd-user and the password in --etcd-password-file"
            }
            AccessProblem::UserRequired => {
                "etcd has authentication enabled: give --etcd-user and --etcd-password-file"
            }
            AccessProblem::PermissionDenied => {
                "grant the etcd user's role readwrite on the key prefix (--etcd-prefix), \
                 e.g. `etcdctl role grant-permission ROLE --prefix=true readwrite /liuma/`"
            }
            AccessProblem::TlsToPlain => {
                "this etcd serves plain HTTP: use an http:// endpoint without --etcd-ca"
            }
            AccessProblem::PlainToTls => {
                "this etcd serves TLS: use an https:// endpoint and --etcd-ca (and \
                 --etcd-cert/--etcd-key if it checks client certificates)"
            }
        },
        _ => "",
    };
    let err = anyhow::Error::new(err);
    if hint.is_empty() {
        err.context(format!("connecting to etcd at {at}"))
    } else {
        err.context(format!("connecting to etcd at {at}: {hint}"))
    }
}

/// `liuma etcd init-auth`: turns on etcd's authentication with a root user and the
/// `--etcd-user`, whose role covers only `prefix` (see [`liuma_meta::ensure_auth`]).
pub fn init_auth(
    endpoints: &[String],
    prefix: &str,
    root_password_file: &Path,
    args: &crate::cli::EtcdClientArgs,
) -> anyhow::Result<()> {
    crate::logging::init(None);
    let mut section = EtcdClientSection::default();
    args.apply(&mut section);
    section.validate(endpoints)?;
    let (Some(user), Some(_)) = (&section.user, &section.password_file) else {
        bail!("give the user to create with --etcd-user and --etcd-password-file");
    };
    if prefix.is_empty() {
        bail!("--etcd-prefix must not be empty");
    }
    let security = load(&section)?;
    let password = security
        .user
        .as_ref()
        .map(|(_, p)| p.clone())
        .unwrap_or_default();
    let root_password = read_password(root_password_file)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let user = liuma_meta::AuthUser {
        name: user,
        password: &password,
        prefix,
    };
    let done = runtime
        .block_on(liuma_meta::ensure_auth(
            endpoints,
            &security,
            &root_password,
            user,
        ))
        .map_err(|e| explain(e, endpoints))?;
    match done {
        liuma_meta::AuthSetup::Enabled => println!(
            "etcd authentication enabled: root, and {} with readwrite on {prefix}",
            user.name
        ),
        liuma_meta::AuthSetup::AlreadyEnabled => println!(
            "etcd authentication was already on; {} has readwrite on {prefix}",
            user.name
        ),
    }
    Ok(())
}

/// Follow the `[etcd_client]` files (CA, client certificate and key,
/// password) while `store` lives: when their bytes change, connect to etcd
/// again with them and swap the new client in
/// ([`liuma_meta::EtcdStore::reconnect`]: requests and watches move over,
/// leases carry on). A change that cannot be used (a key that does not
/// match yet while a rotation is half written, a certificate etcd
/// refuses) keeps the current connection; it is logged once per distinct
/// error and tried again every `every` until it works or the files change.
pub async fn reload_credentials(
    section: EtcdClientSection,
    every: std::time::Duration,
    store: std::sync::Weak<liuma_meta::EtcdStore>,
) {
    let files: Vec<std::path::PathBuf> = [
        section.ca.clone(),
        section.cert.clone(),
        section.key.clone(),
        section.password_file.clone(),
    ]
    .into_iter()
    .flatten()
    .collect();
    if files.is_empty() {
        return;
    }
    // The bytes, not the mtime: a Secret mount swaps a symlink, an editor
    // may keep the time.
    let contents =
        || -> Vec<Option<Vec<u8>>> { files.iter().map(|f| std::fs::read(f).ok()).collect() };
    let mut applied = contents();
    let mut last_error: Option<String> = None;
    loop {
        tokio::time::sleep(every).await;
        let Some(store) = store.upgrade() else { return };
        let now = contents();
        if now == applied {
            continue;
        }
        let attempt = async {
            let security = load(&section)?;
            store.reconnect(security).await.map_err(anyhow::Error::from)
        };
        match attempt.await {
            Ok(()) => {
                applied = now;
                last_error = None;
                tracing::info!(files = ?files,
                    "reloaded the etcd client credentials: new connection to etcd, the old one closes");
            }
            Err(e) => {
                let text = format!("{e:#}");
                if last_error.as_deref() != Some(text.as_str()) {
                    tracing::warn!(error = %text,
                        "the etcd client credentials changed on disk but cannot be used yet; \
                         keeping the current connection");
                    last_error = Some(text);
                }
            }
        }
    }
}

/// How the banner describes the connection: "TLS, client certificate, user NAME".
pub fn describe(section: &EtcdClientSection) -> String {
    let mut parts = Vec::new();
    if section.tls() {
        parts.push("TLS".to_owned());
    }
    if section.cert.is_some() {
        parts.push("client certificate".to_owned());
    }
    if let Some(u) = &section.user {
        parts.push(format!("user {u}"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        std::fs::write(
            p("ca.pem"),
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        std::fs::write(
            p("key.pem"),
            "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        std::fs::write(p("pw"), "s3cret\n").unwrap();
        std::fs::write(p("empty"), "\n").unwrap();
        let section = EtcdClientSection {
            ca: Some(p("ca.pem")),
            cert: Some(p("ca.pem")),
            key: Some(p("key.pem")),
            user: Some("liuma".into()),
            password_file: Some(p("pw")),
        };
        let s = load(&section).unwrap();
        assert_eq!(s.user, Some(("liuma".into(), "s3cret".into())));
        assert!(s.tls());
        assert_eq!(describe(&section), "TLS, client certificate, user liuma");
        // a key where the CA belongs, an empty password, a missing file: errors naming them
        let err = load(&EtcdClientSection {
            ca: Some(p("key.pem")),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("--etcd-ca"), "{err}");
        let err = load(&EtcdClientSection {
            user: Some("liuma".into()),
            password_file: Some(p("empty")),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("is empty"), "{err}");
        let err = load(&EtcdClientSection {
            user: Some("liuma".into()),
            password_file: Some(p("missing")),
            ..Default::default()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("missing"), "{err:#}");
    }

    #[test]
    fn refusals_name_the_flag_to_fix() {
        let err = liuma_meta::Error::Access {
            backend: "etcd",
            problem: AccessProblem::AuthFailed,
            detail: "etcdserver: authentication failed".into(),
        };
        let text = format!("{:#}", explain(err, &["https://e:2379".into()]));
        assert!(text.contains("authentication failed"), "{text}");
        assert!(text.contains("--etcd-password-file"), "{text}");
    }
}
