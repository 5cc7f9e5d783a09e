//! etcd over TLS with client certificates and authentication: a real etcd
//! started with `--client-cert-auth` and a test CA, auth enabled with a
//! `liuma` user whose role covers only the cluster's key prefix, and auth
//! tokens that expire after one second (`--auth-token-ttl=1`).
//!
//! Two nodes form a cluster over it; an object written on one is read on the
//! other. etcd is then restarted, which forgets every token: the nodes
//! re-authenticate, their membership watch resumes, and a node leaving and
//! coming back is seen. Start-up refusals (no client certificate, one from
//! another CA, a wrong password, plain HTTP to the TLS port, an untrusted
//! server certificate, https without a CA) are each a clear error.
//!
//! A rotated client certificate is used without a restart: the nodes swap
//! to a certificate of a second CA, etcd then restarts trusting only that
//! CA, and the cluster keeps writing and watching membership.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use liuma_meta::EtcdSecurity;
use liuma_meta::testing::{TestEtcdOptions, TestEtcdTls};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::common::*;

const PASSWORD: &str = "liuma-etcd-pw-7f3e";

/// A CA that signs a server certificate for 127.0.0.1 and client certificates.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let pem = p.self_signed(&key).expect("self-signing the CA").pem();
        Ca {
            issuer: Issuer::new(p, key),
            pem,
        }
    }

    /// (certificate PEM, key PEM) for `cn`, a server (127.0.0.1) or a client.
    fn issue(&self, cn: &str, server: bool) -> (String, String) {
        let hosts = if server {
            vec!["127.0.0.1".to_owned(), "localhost".to_owned()]
        } else {
            Vec::new()
        };
        let mut p = CertificateParams::new(hosts).expect("leaf params");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = KeyPair::generate().expect("leaf key");
        let cert = p.signed_by(&key, &self.issuer).expect("signing");
        (cert.pem(), key.serialize_pem())
    }
}

/// The files of one test: the etcd CA and server certificate, a client
/// certificate of that CA, one of another CA, and the password file.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn write(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).expect("pki dir");
        let w = |name: &str, text: &str, mode: u32| {
            let p = dir.join(name);
            std::fs::write(&p, text).expect("writing a pki file");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        let ca = Ca::new("etcd test CA");
        w("ca.pem", &ca.pem, 0o644);
        let (cert, key) = ca.issue("etcd", true);
        w("server.pem", &cert, 0o644);
        w("server-key.pem", &key, 0o600);
        let (cert, key) = ca.issue("liuma", false);
        w("client.pem", &cert, 0o644);
        w("client-key.pem", &key, 0o600);
        let other = Ca::new("another CA");
        w("other-ca.pem", &other.pem, 0o644);
        let (cert, key) = other.issue("liuma", false);
        w("other.pem", &cert, 0o644);
        w("other-key.pem", &key, 0o600);
        let next = Ca::new("rotated CA");
        w("next-ca.pem", &next.pem, 0o644);
        let (cert, key) = next.issue("liuma", false);
        w("next.pem", &cert, 0o644);
        w("next-key.pem", &key, 0o600);
        // what etcd trusts for client certificates (rewritten by the rotation test)
        w("trusted.pem", &format!("{}{}", ca.pem, next.pem), 0o644);
        w("password", &format!("{PASSWORD}\n"), 0o600);
        w("wrong-password", "not-the-password\n", 0o600);
        Pki {
            dir: dir.to_owned(),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).expect("reading a pki file")
    }

    /// etcd serving TLS, checking client certificates against the CA.
    fn etcd(&self, extra: &[&str]) -> TestEtcd {
        TestEtcd::start_with(TestEtcdOptions {
            tls: Some(TestEtcdTls {
                cert: self.dir.join("server.pem"),
                key: self.dir.join("server-key.pem"),
                client_ca: Some(self.dir.join("ca.pem")),
            }),
            extra_args: extra.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    /// Turn on auth: root, and `liuma` limited to `prefix`.
    fn enable_auth(&self, etcd: &TestEtcd, prefix: &str) {
        let admin = EtcdSecurity {
            ca_pem: Some(self.read("ca.pem")),
            identity: Some((self.read("client.pem"), self.read("client-key.pem"))),
            user: None,
        };
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(etcd.enable_auth(&admin, "root-pw", &[("liuma", PASSWORD, prefix)]));
    }

    /// Every etcd flag a node needs.
    fn node_flags(&self) -> Vec<String> {
        [
            ("--etcd-ca", "ca.pem"),
            ("--etcd-cert", "client.pem"),
            ("--etcd-key", "client-key.pem"),
            ("--etcd-password-file", "password"),
        ]
        .into_iter()
        .flat_map(|(flag, file)| [flag.to_owned(), self.path(file)])
        .chain(["--etcd-user".to_owned(), "liuma".to_owned()])
        .collect()
    }
}

#[test]
fn cluster_over_etcd_with_tls_client_certs_and_expiring_auth_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::write(&dir.path().join("pki"));
    let etcd = pki.etcd(&["--auth-token-ttl=1"]);
    let prefix = format!("/t-{:016x}/", rand::random::<u64>());
    pki.enable_auth(&etcd, &prefix);
    let mut common = pki.node_flags();
    common.extend(["--erasure".to_owned(), "1+1".to_owned()]);
    let common: Vec<&str> = common.iter().map(String::as_str).collect();

    let mut c = TestCluster::on(etcd, &prefix, 2, &common);
    let banner = std::fs::read_to_string(&c.node("n1").node.stdout).expect("stdout");
    assert!(
        banner.contains(&format!("metadata: etcd https://{}", c.etcd.client_addr())),
        "{banner}"
    );
    assert!(
        banner.contains("TLS, client certificate, user liuma"),
        "{banner}"
    );
    c.create_bucket("n1");
    let first = random(2 * MIB + 3);
    c.put_object("n1", "first", &first);
    c.assert_object("n2", "first", &first);

    // etcd restarts and forgets every token: requests, the membership watch
    // and the lease keep-alives must all re-authenticate.
    c.etcd.restart();
    writes_and_membership_go_on(&mut c, &first);
    for id in ["n1", "n2"] {
        let log = std::fs::read_to_string(c.data(id).join("stderr.log")).expect("log");
        let out = std::fs::read_to_string(c.data(id).join("stdout.log")).expect("stdout");
        assert!(
            !log.contains(PASSWORD) && !out.contains(PASSWORD),
            "{id} printed the etcd password"
        );
    }
}

/// Run `liuma server` on `etcd` with `flags`, expecting it to exit at start;
/// its stderr.
fn start_fails(dir: &Path, endpoint: &str, prefix: &str, flags: &[String]) -> String {
    let mut child = crate::harness::server_command(dir, "127.0.0.1:0")
        .args(["--etcd", endpoint, "--etcd-prefix", prefix])
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning liuma");
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the node started with {flags:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("reading stderr");
    assert!(!status.success(), "{err}");
    err
}

#[test]
fn etcd_tls_and_auth_refusals_are_clear_start_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::write(&dir.path().join("pki"));
    let etcd = pki.etcd(&[]);
    let prefix = "/refusals/";
    pki.enable_auth(&etcd, prefix);
    let https = etcd.endpoint();
    let http = https.replacen("https://", "http://", 1);
    let good = pki.node_flags();
    // `good` with some flags' files replaced (file "" drops the flag)
    let with = |changes: &[(&str, &str)]| -> Vec<String> {
        let mut out = Vec::new();
        for pair in good.chunks(2) {
            let (flag, value) = (&pair[0], &pair[1]);
            match changes.iter().find(|(f, _)| f == flag) {
                Some((_, "")) => {}
                Some((_, file)) => out.extend([flag.clone(), pki.path(file)]),
                None => out.extend([flag.clone(), value.clone()]),
            }
        }
        out
    };
    let no_tls = [("--etcd-ca", ""), ("--etcd-cert", ""), ("--etcd-key", "")];
    let node = dir.path().join("node");
    let cases = [
        (
            "no client certificate",
            &https,
            with(&[("--etcd-cert", ""), ("--etcd-key", "")]),
            "refused the client certificate",
        ),
        (
            "a client certificate of another CA",
            &https,
            with(&[
                ("--etcd-cert", "other.pem"),
                ("--etcd-key", "other-key.pem"),
            ]),
            "refused the client certificate",
        ),
        (
            "a wrong password",
            &https,
            with(&[("--etcd-password-file", "wrong-password")]),
            "authentication failed",
        ),
        (
            "a CA that did not sign etcd's certificate",
            &https,
            with(&[("--etcd-ca", "other-ca.pem")]),
            "certificate was not trusted",
        ),
        (
            "plain HTTP to the TLS port",
            &http,
            with(&no_tls),
            "plain HTTP was spoken to a port that serves TLS",
        ),
        ("https without a CA", &https, with(&no_tls), "--etcd-ca"),
    ];
    for (what, endpoint, flags, says) in cases {
        let err = start_fails(&node, endpoint, prefix, &flags);
        println!("{what}:\n{err}");
        assert!(err.contains(says), "{what}: expected {says:?} in:\n{err}");
        assert!(!err.contains(PASSWORD), "{what}: the password was printed");
    }
    // and the good flags start a node
    let mut args = vec!["--etcd".to_owned(), https.clone()];
    args.extend(["--etcd-prefix".to_owned(), prefix.to_owned()]);
    args.extend(good);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ok = TestNode::start(&dir.path().join("good"), &args);
    assert!(ok.stop().success());
}

#[test]
fn a_rotated_etcd_client_certificate_is_used_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::write(&dir.path().join("pki"));
    // etcd trusts both CAs' client certificates for now
    let etcd = TestEtcd::start_with(TestEtcdOptions {
        tls: Some(TestEtcdTls {
            cert: pki.dir.join("server.pem"),
            key: pki.dir.join("server-key.pem"),
            client_ca: Some(pki.dir.join("trusted.pem")),
        }),
        extra_args: Vec::new(),
    });
    // the files the nodes read, rotated in place below
    let live = dir.path().join("live");
    std::fs::create_dir_all(&live).expect("live dir");
    let put = |from: &str, to: &str| {
        let tmp = live.join(format!("{to}.tmp"));
        std::fs::copy(pki.dir.join(from), &tmp).expect("copying a pki file");
        std::fs::rename(&tmp, live.join(to)).expect("renaming into place");
    };
    put("client.pem", "client.pem");
    put("client-key.pem", "client-key.pem");
    let flags = [
        "--etcd-ca".to_owned(),
        pki.path("ca.pem"),
        "--etcd-cert".to_owned(),
        live.join("client.pem").display().to_string(),
        "--etcd-key".to_owned(),
        live.join("client-key.pem").display().to_string(),
        "--tls-reload-secs".to_owned(),
        "1".to_owned(),
        "--erasure".to_owned(),
        "1+1".to_owned(),
    ];
    let common: Vec<&str> = flags.iter().map(String::as_str).collect();
    let prefix = format!("/t-{:016x}/", rand::random::<u64>());
    let mut c = TestCluster::on(etcd, &prefix, 2, &common);
    c.create_bucket("n1");
    let first = random(MIB + 7);
    c.put_object("n1", "first", &first);

    // Rotate: key, then certificate (a reload in between sees a mismatch
    // and keeps the old connection).
    put("next-key.pem", "client-key.pem");
    put("next.pem", "client.pem");
    for id in ["n1", "n2"] {
        wait_for(&format!("{id} reloads"), Duration::from_secs(30), || {
            let log = std::fs::read_to_string(c.data(id).join("stderr.log")).unwrap_or_default();
            if log.contains("reloaded the etcd client credentials") {
                Ok(())
            } else {
                Err("not yet".to_owned())
            }
        });
    }
    // etcd now trusts only the new CA, and restarts: every connection
    // is new, so a node still holding the old certificate would be refused
    std::fs::copy(pki.dir.join("next-ca.pem"), pki.dir.join("trusted.pem")).expect("new trust");
    c.etcd.restart();
    let err = start_fails(
        &dir.path().join("old-cert"),
        &c.etcd.endpoint(),
        &prefix,
        &[
            "--etcd-ca".to_owned(),
            pki.path("ca.pem"),
            "--etcd-cert".to_owned(),
            pki.path("client.pem"),
            "--etcd-key".to_owned(),
            pki.path("client-key.pem"),
        ],
    );
    assert!(
        err.contains("refused the client certificate"),
        "the old certificate is refused now: {err}"
    );
    writes_and_membership_go_on(&mut c, &first);
}

/// After a change on etcd's side: an object written through n2 is read
/// through n1, and the membership watch works (n1 sees n2 leave and come
/// back, which then reads both objects).
fn writes_and_membership_go_on(c: &mut TestCluster, first: &[u8]) {
    let second = random(MIB + 5);
    c.put_object("n2", "second", &second);
    c.assert_object("n1", "second", &second);
    c.stop("n2");
    c.wait_live(1);
    c.add("n2");
    c.wait_live(2);
    c.assert_object("n2", "first", first);
    c.assert_object("n2", "second", &second);
}
