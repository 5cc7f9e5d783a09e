//! The node's etcd client credentials: reads the `[etcd_client]` files (CA, client
//! certificate and key, password) into [`EtcdSecurity`], warns about private files others
//! can read, and turns a refused connection into a start-up error that names the flag to fix.
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

/// Log, once per change, when the etcd client certificate or key file
/// changes on disk: etcd-client builds its TLS identity once (the channel
/// has no way to take a new one), so the node keeps the one it started
/// with until it restarts. Checked every `every` until `stop`.
pub async fn watch_client_cert(
    section: EtcdClientSection,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let files: Vec<std::path::PathBuf> =
        [section.cert, section.key].into_iter().flatten().collect();
    if files.is_empty() {
        return;
    }
    let stamp = |f: &std::path::PathBuf| std::fs::metadata(f).and_then(|m| m.modified()).ok();
    let mut seen: Vec<_> = files.iter().map(stamp).collect();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let now: Vec<_> = files.iter().map(stamp).collect();
        if now != seen {
            tracing::warn!(files = ?files,
                "the etcd client certificate changed on disk: liuma reads it at start only; \
                 restart this node to use the new one (the running connection keeps the old one)");
            seen = now;
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
