//! The `liuma` CLI against an admin listener that speaks TLS, with the real
//! binary: `liuma tls self-signed` makes a CA and a certificate, a node
//! serves its admin API (only) over https, and `liuma key list
//! --admin-url https://...` works with `--admin-ca` (or env
//! `LIUMA_ADMIN_CA`) and fails at once without it, naming the untrusted
//! certificate and the flag. A plain `http://` URL to the TLS port and an
//! `https://` URL to a plain port fail at once too, each saying which.
//! The admin token is in no error.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::harness::{TestNode, root_key};
use crate::tls::{self_signed, self_signed_for};

/// How long a refused call may take: a certificate or protocol error is
/// known after one round trip, far below the client's 30 s deadline.
const FAST: Duration = Duration::from_secs(5);

/// `liuma key list` against `url` with `node`'s token: its output and how
/// long it took. `ca` goes as `--admin-ca`; `env` is set on the process.
fn key_list(
    node: &TestNode,
    url: &str,
    ca: Option<&Path>,
    env: &[(&str, &Path)],
) -> (Output, Duration) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_liuma"));
    cmd.args(["key", "list", "--admin-url", url])
        .arg("--admin-token-file")
        .arg(node.data.join("secrets/admin.token"))
        .env_remove("LIUMA_ADMIN_CA")
        .env_remove("LIUMA_ADMIN_TOKEN")
        .env_remove("LIUMA_ADMIN_URL");
    if let Some(ca) = ca {
        cmd.arg("--admin-ca").arg(ca);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let began = Instant::now();
    let out = cmd.output().expect("running liuma key list");
    (out, began.elapsed())
}

/// The call failed fast with a non-zero exit; its stderr, which must not
/// hold the admin token.
fn refused(node: &TestNode, what: &str, (out, took): (Output, Duration)) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{what}: succeeded?\n{err}");
    assert!(took < FAST, "{what}: took {took:?}\n{err}");
    assert!(
        !err.contains(&TestNode::admin_token(&node.data)),
        "{what}: the admin token is in the error:\n{err}"
    );
    println!("{what} ({took:?}): {}", err.trim());
    err
}

#[test]
fn admin_tls_cli_trusts_admin_ca_and_refuses_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    // named "localhost" only: 127.0.0.1 is a name it does not carry
    self_signed_for(&tls, &["localhost"]);
    let cert = tls.join("server.pem").display().to_string();
    let key = tls.join("server-key.pem").display().to_string();
    let ca = tls.join("ca.pem");
    let data = dir.path().join("node");
    let node = TestNode::start(&data, &["--admin-tls-cert", &cert, "--admin-tls-key", &key]);
    let port = node.admin.rsplit_once(':').unwrap().1;
    let https = format!("https://localhost:{port}");
    let (root_id, _) = root_key(&data);

    // with the CA: the keys, root's among them
    let (out, _) = key_list(&node, &https, Some(&ca), &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&root_id), "{text}");
    // the same CA from the environment
    let (out, _) = key_list(&node, &https, None, &[("LIUMA_ADMIN_CA", &ca)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other = dir.path().join("other");
    self_signed(&other);
    let (other_ca, key_file) = (other.join("ca.pem"), tls.join("server-key.pem"));
    let by_ip = format!("https://{}", node.admin);
    let plain = format!("http://{}", node.admin);
    let to_plain = format!("https://{}", node.s3); // a port that speaks plain HTTP
    // (what, URL, --admin-ca, what the error must say)
    let refusals: [(&str, &str, Option<&Path>, &[&str]); 7] = [
        // trusted, but reached by an address the certificate does not name
        (
            "name not in the certificate",
            &by_ip,
            Some(&ca),
            &["does not name 127.0.0.1"],
        ),
        // without the CA: not trusted, and the flag is named
        (
            "no --admin-ca",
            &https,
            None,
            &["is not trusted", "UnknownIssuer", "--admin-ca"],
        ),
        ("another CA", &https, Some(&other_ca), &["is not trusted"]),
        // plain HTTP to the TLS port: the listener's own answer
        ("http:// to TLS", &plain, Some(&ca), &["use https://"]),
        (
            "https:// to plain",
            &to_plain,
            Some(&ca),
            &["does not speak TLS"],
        ),
        // a CA file that is not one is named before anything is sent
        (
            "bad CA file",
            &https,
            Some(&key_file),
            &["server-key.pem", "--admin-ca"],
        ),
        ("bad scheme", "ftp://x:1", None, &["http:// or https://"]),
    ];
    for (what, url, ca, says) in refusals {
        let err = refused(&node, what, key_list(&node, url, ca, &[]));
        for s in says {
            assert!(err.contains(s), "{what}: {s:?} not in {err}");
        }
    }
    assert!(node.stop().success());
}
