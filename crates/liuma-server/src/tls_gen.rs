//! `liuma tls self-signed`: a development CA and a server certificate
//! signed by it (rcgen, ECDSA P-256), for a quick start with TLS.
//!
//! The CA is made once per output directory and reused: running the command
//! again issues a new server certificate (new serial) from the same CA, so
//! clients that trust `ca.pem` keep working across a rotation. The CA's
//! subject and key identifier are fixed by its key, so the CA is rebuilt
//! from `ca-key.pem` alone (no certificate parsing needed). Key files are
//! written 0600, every file atomically (temporary file + rename), so a
//! node watching them never reads half a file.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};

/// The files written, and the server certificate's serial (hex).
#[derive(Debug)]
pub struct Generated {
    /// The CA certificate clients trust (`--ca-bundle`).
    pub ca: PathBuf,
    /// The CA's private key (0600).
    pub ca_key: PathBuf,
    /// The server certificate (`--tls-cert`).
    pub cert: PathBuf,
    /// The server's private key (`--tls-key`, 0600).
    pub key: PathBuf,
    /// Serial number of the server certificate, lowercase hex.
    pub serial: String,
    /// Whether the CA was made now (false: an existing one was reused).
    pub new_ca: bool,
}

/// The CA's parameters; the same every time so an existing key rebuilds it.
fn ca_params(days: u32) -> anyhow::Result<CertificateParams> {
    let mut p = ca_params_named("liuma development CA")?;
    validity(&mut p, days.saturating_mul(10));
    Ok(p)
}

/// A CA named `common_name` (organisation liuma) that signs leaf
/// certificates only: the development CA here, the cluster CA in
/// `cluster_tls`.
pub(crate) fn ca_params_named(common_name: &str) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, common_name);
    p.distinguished_name.push(DnType::OrganizationName, "liuma");
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(p)
}

/// Valid from an hour ago (clock skew) for `days` days.
fn validity(p: &mut CertificateParams, days: u32) {
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(i64::from(days.max(1)));
}

/// A random positive 16-byte serial (first byte 0x10..=0x7f: no sign bit,
/// no leading zero, so every tool prints it the same way).
fn serial() -> (SerialNumber, String) {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[0] = 0x10 + (b[0] % 0x70);
    (SerialNumber::from_slice(&b), hex::encode(b))
}

/// Write `dir/name` atomically with `mode`.
fn write_file(dir: &Path, name: &str, data: &str, mode: u32) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(data.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(path)
}

/// Make (or reuse) the CA in `dir` and issue a server certificate for
/// `hosts` (DNS names or IP addresses) valid `days` days.
pub fn self_signed(dir: &Path, hosts: &[String], days: u32) -> anyhow::Result<Generated> {
    anyhow::ensure!(!hosts.is_empty(), "give at least one --host");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca_key_path = dir.join("ca-key.pem");
    let ca_path = dir.join("ca.pem");
    let (ca_key, new_ca) = if ca_key_path.exists() && ca_path.exists() {
        let pem = std::fs::read_to_string(&ca_key_path)
            .with_context(|| format!("reading {}", ca_key_path.display()))?;
        let key = KeyPair::from_pem(&pem)
            .with_context(|| format!("{}: not a PEM private key", ca_key_path.display()))?;
        (key, false)
    } else {
        (KeyPair::generate()?, true)
    };
    let ca_p = ca_params(days)?;
    if new_ca {
        let ca_cert = ca_p.self_signed(&ca_key)?;
        write_file(dir, "ca-key.pem", &ca_key.serialize_pem(), 0o600)?;
        write_file(dir, "ca.pem", &ca_cert.pem(), 0o644)?;
    }
    let issuer = Issuer::new(ca_p, ca_key);

    let mut p = CertificateParams::new(hosts.to_vec())
        .context("a --host is neither a DNS name nor an IP address")?;
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::CommonName, hosts[0].clone());
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    // Python 3.13+ verifies strictly (X509_STRICT): it wants the AKI.
    p.use_authority_key_identifier_extension = true;
    let (sn, serial) = serial();
    p.serial_number = Some(sn);
    validity(&mut p, days);
    let key = KeyPair::generate()?;
    let cert = p.signed_by(&key, &issuer)?;
    // The key first: a watcher that sees the new certificate with the old
    // key rejects the pair and picks both up at its next poll.
    let key_path = write_file(dir, "server-key.pem", &key.serialize_pem(), 0o600)?;
    let cert_path = write_file(dir, "server.pem", &cert.pem(), 0o644)?;
    Ok(Generated {
        ca: ca_path,
        ca_key: ca_key_path,
        cert: cert_path,
        key: key_path,
        serial,
        new_ca,
    })
}

/// `liuma tls self-signed`: write the files and say how to use them.
pub fn run(hosts: &[String], out: &Path, days: u32) -> anyhow::Result<()> {
    let g = self_signed(out, hosts, days)?;
    if g.new_ca {
        println!("made a development CA:   {}", g.ca.display());
        println!("CA key (0600):           {}", g.ca_key.display());
    } else {
        println!("reused the CA in:        {}", g.ca.display());
    }
    println!("server certificate:      {}", g.cert.display());
    println!("server key (0600):       {}", g.key.display());
    println!("serial:                  {}", g.serial);
    println!("hosts:                   {}", hosts.join(", "));
    println!();
    println!(
        "start:  liuma server --tls-cert {} --tls-key {}",
        g.cert.display(),
        g.key.display()
    );
    println!(
        "trust:  aws --ca-bundle {0} ...   rclone --ca-cert {0} ...   boto3 verify={0:?}",
        g.ca.display()
    );
    println!("This CA is for development only: keep ca-key.pem private.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keys_are_private_and_the_ca_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let a = self_signed(dir.path(), &hosts, 30).unwrap();
        assert!(a.new_ca);
        for p in [&a.key, &a.ca_key] {
            let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
        let ca = std::fs::read(&a.ca).unwrap();
        let b = self_signed(dir.path(), &hosts, 30).unwrap();
        assert!(!b.new_ca);
        assert_eq!(std::fs::read(&b.ca).unwrap(), ca, "the CA is kept");
        assert_ne!(a.serial, b.serial);
        assert!(self_signed(dir.path(), &[], 30).is_err());
    }
}
