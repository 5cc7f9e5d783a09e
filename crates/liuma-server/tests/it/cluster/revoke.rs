//! Revocation reaches connections already open (issue #19): a peer holding
//! a busy keep-alive connection with a revoked certificate is refused on
//! that very connection within seconds (403, then closed), by node id and
//! by fingerprint for certificates that name no node; new handshakes are
//! refused too, and the other nodes' data stays intact.
//!
//! The revoked peer here is this test process with a certificate from the
//! cluster CA (`liuma cluster cert`), speaking the shard API over ONE TLS
//! connection (hyper's client connection, no pool): every request after
//! the revocation provably travels on the connection opened before it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::common::*;

/// One mutual-TLS connection to a node's shard API.
struct ShardConn {
    rt: tokio::runtime::Runtime,
    send: SendRequest<Full<Bytes>>,
}

impl ShardConn {
    /// Handshake with `addr` presenting `dir`'s node.pem / node-key.pem,
    /// trusting its cluster-ca.pem; Err when TLS (or TCP) refuses.
    fn open(addr: &str, dir: &Path) -> Result<ShardConn, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let send = rt.block_on(async {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(dir.join("cluster-ca.pem")).unwrap() {
                roots.add(c.unwrap()).unwrap();
            }
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(dir.join("node.pem"))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
            let key = PrivateKeyDer::from_pem_file(dir.join("node-key.pem")).unwrap();
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let cfg = rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13])
                .unwrap()
                .with_root_certificates(roots)
                .with_client_auth_cert(chain, key)
                .unwrap();
            let tcp = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_owned();
            let name = ServerName::try_from(host).unwrap();
            let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
                .connect(name, tcp)
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| format!("http: {e}"))?;
            tokio::spawn(conn);
            Ok::<_, String>(send)
        })?;
        Ok(ShardConn { rt, send })
    }

    /// One signed request on this connection: (status, body), or Err when
    /// the connection is gone (with TLS 1.3 the server checks the client
    /// certificate after the client finished its handshake, so a refusal
    /// at the handshake shows here, on the first request).
    fn call(
        &mut self,
        signer: &Signer,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), String> {
        let sig = signer.sign(method, path, body);
        let req = sig
            .apply(http::Request::builder().method(method).uri(path))
            .header("host", "liuma")
            .body(Full::new(Bytes::copy_from_slice(body)))
            .unwrap();
        let send = &mut self.send;
        self.rt.block_on(async {
            let work = async {
                send.ready().await.map_err(|e| format!("not ready: {e}"))?;
                let resp = send
                    .send_request(req)
                    .await
                    .map_err(|e| format!("send: {e}"))?;
                let status = resp.status().as_u16();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| format!("body: {e}"))?
                    .to_bytes()
                    .to_vec();
                Ok((status, body))
            };
            tokio::time::timeout(Duration::from_secs(20), work)
                .await
                .map_err(|_| "timed out".to_owned())?
        })
    }
}

/// `liuma cluster cert` from n1's CA into `out`, naming `node_id` or none.
pub(super) fn issue_cert(c: &TestCluster, node_id: Option<&str>, out: &Path) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_liuma"));
    cmd.args(["cluster", "cert", "--host", "127.0.0.1", "--secrets"])
        .arg(c.data("n1").join("secrets"))
        .arg("--out")
        .arg(out);
    if let Some(id) = node_id {
        cmd.args(["--node-id", id]);
    }
    let st = cmd.output().expect("liuma cluster cert");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
}

/// `liuma cluster revoke ARGS` through `via`'s admin API.
pub(super) fn revoke(c: &TestCluster, via: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_liuma"))
        .args(["cluster", "revoke"])
        .args(args)
        .arg("--admin-url")
        .arg(format!("http://{}", c.node(via).node.admin))
        .arg("--admin-token-file")
        .arg(c.data(via).join("secrets/admin.token"))
        .output()
        .expect("liuma cluster revoke");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn signer(c: &TestCluster) -> Signer {
    let secret = std::fs::read_to_string(c.data("n1").join("secrets/cluster.secret"))
        .expect("cluster secret");
    Signer::new(secret.trim().as_bytes())
}

/// A shard `id` holds: its shard API path and its bytes.
fn a_shard_of(c: &TestCluster, id: &str) -> (String, Vec<u8>) {
    let file = shard_files(&c.data(id))
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{id} holds a shard"));
    let (block, index) = shard_name(&file).expect("shard file name");
    let st = c.status(id);
    let disk = st["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["id"] == id))
        .and_then(|n| n["disks"][0]["id"].as_str())
        .expect("node's disk id")
        .to_owned();
    let bytes = std::fs::read(&file).expect("reading the shard");
    (format!("/v1/shard/{disk}/{block}/{index}"), bytes)
}

/// A GET and a PUT (of the frame it read) of `path` on `conn`: Ok while
/// both succeed, else what the first failing one gave.
fn read_and_write(
    conn: &mut ShardConn,
    s: &Signer,
    path: &str,
) -> Result<(), Result<(u16, String), String>> {
    let (status, frame) = conn.call(s, "GET", path, b"").map_err(Err)?;
    if status != 200 {
        return Err(Ok((status, String::from_utf8_lossy(&frame).into_owned())));
    }
    let (status, body) = conn.call(s, "PUT", path, &frame).map_err(Err)?;
    if status != 204 {
        return Err(Ok((status, String::from_utf8_lossy(&body).into_owned())));
    }
    Ok(())
}

/// Keep reading and writing on `conn` until it is refused; the refusal
/// must be a 403 CertRefused naming `why`, within `limit`, and the
/// connection closed after it.
fn refused_on_open_connection(
    conn: &mut ShardConn,
    s: &Signer,
    path: &str,
    why: &str,
    limit: Duration,
) {
    let started = Instant::now();
    let mut rounds = 0u32;
    let refusal = loop {
        match read_and_write(conn, s, path) {
            Ok(()) => rounds += 1,
            Err(e) => break e,
        }
        assert!(
            started.elapsed() < limit,
            "still reading and writing shards {limit:?} after the revocation ({rounds} rounds)"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    println!(
        "refused after {:.1?} and {rounds} more read+write rounds on the open connection: {refusal:?}",
        started.elapsed()
    );
    let (status, body) =
        refusal.expect("an answer on the open connection, not a dropped connection");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("CertRefused") && body.contains(why), "{body}");
    // and the server closed that connection after the answer
    let after = conn.call(s, "GET", path, b"");
    assert!(
        after.is_err(),
        "the connection must be closed after a refusal: {after:?}"
    );
}

/// A new connection with `dir`'s certificate fails: at the handshake or,
/// TLS 1.3 checking the client certificate after the client's finish, at
/// its first request.
fn new_connection_refused(addr: &str, dir: &Path, s: &Signer, path: &str) {
    if let Ok(mut again) = ShardConn::open(addr, dir) {
        let r = again.call(s, "GET", path, b"");
        assert!(
            r.is_err(),
            "a new connection with the revoked certificate must fail: {r:?}"
        );
    }
}

/// Sets the flag when dropped (also while unwinding).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_revoked_node_is_refused_on_its_open_busy_connections_within_seconds() {
    let c = TestCluster::start(3, &["--erasure", "1+1"]);
    c.create_bucket("n1");
    // Objects through n1 until n1 and n3 both hold some of their shards
    // (placement is random: each block lands on 2 of the 3 nodes): n1 then
    // holds pooled connections to n3, and has a shard to read.
    let mut objects: Vec<(String, Vec<u8>)> = Vec::new();
    let empty = |id: &str| shard_files(&c.data(id)).is_empty();
    while objects.len() < 4 || empty("n1") || empty("n3") {
        assert!(objects.len() < 30, "n1 or n3 got no shard of 30 objects");
        let (k, v) = (
            format!("before{}", objects.len()),
            random(300_000 + objects.len()),
        );
        c.put_object("n1", &k, &v);
        objects.push((k, v));
    }
    // n3's identity, as a copy of its certificate would give it
    let n3_cert = c.dir.path().join("n3-cert");
    issue_cert(&c, Some("n3"), &n3_cert);
    let s = signer(&c);
    let (path, _) = a_shard_of(&c, "n1");
    let mut conn = ShardConn::open(&c.node("n1").node.cluster, &n3_cert)
        .expect("handshake before the revocation");
    read_and_write(&mut conn, &s, &path).expect("reads and writes before the revocation");

    // Real traffic through n3 during the revocation: its PUTs need a peer.
    let stop = AtomicBool::new(false);
    let n3_puts = std::thread::scope(|scope| {
        let traffic = scope.spawn(|| {
            let mut seen = Vec::new();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let status = c.try_put("n3", &format!("during{}", i % 3), &random(200_000 + i), 30);
                seen.push((started, status));
                i += 1;
            }
            seen
        });
        // A failed assertion below must still stop the traffic thread, or
        // the scope would wait for it forever.
        let _stop_on_exit = StopOnDrop(&stop);
        // busy: the test's connection keeps working until the revocation
        for _ in 0..5 {
            read_and_write(&mut conn, &s, &path).expect("reads and writes before the revocation");
        }
        let out = revoke(&c, "n2", &["n3"]);
        assert!(out.contains("n3: certificate revoked"), "{out}");
        let revoked_at = Instant::now();
        refused_on_open_connection(
            &mut conn,
            &s,
            &path,
            "node n3 is revoked",
            Duration::from_secs(10),
        );
        // n3's own PUTs fail from within seconds of the revocation on
        wait_for("n3's PUTs refused", Duration::from_secs(20), || {
            std::thread::sleep(Duration::from_millis(500));
            let failed = c.try_put("n3", "after", &random(200_000), 30);
            if failed == 200 {
                Err("n3 still writes".to_owned())
            } else {
                Ok(())
            }
        });
        stop.store(true, Ordering::Relaxed);
        (revoked_at, traffic.join().expect("traffic thread"))
    });
    let (revoked_at, seen) = n3_puts;
    let ok_before = seen
        .iter()
        .filter(|(t, s)| *t < revoked_at && *s == 200)
        .count();
    let ok_late = seen
        .iter()
        .filter(|(t, s)| *t > revoked_at + Duration::from_secs(8) && *s == 200)
        .count();
    println!(
        "n3 PUTs: {} in all, {ok_before} ok before the revocation",
        seen.len()
    );
    assert!(ok_before > 0, "n3 wrote before the revocation: {seen:?}");
    assert_eq!(ok_late, 0, "n3 wrote more than 8 s after the revocation");
    // a new connection is refused at the handshake
    new_connection_refused(&c.node("n1").node.cluster, &n3_cert, &s, &path);
    // The client side: n1 had pooled connections to n3 (its first PUTs
    // placed shards there), but sends it nothing more: new shards go to the
    // other nodes, and the cluster keeps writing.
    let on_n3: std::collections::BTreeSet<PathBuf> =
        shard_files(&c.data("n3")).into_iter().collect();
    for i in 0..4 {
        let more = random(300_000 + i);
        c.put_object("n1", &format!("after{i}"), &more);
        c.assert_object("n2", &format!("after{i}"), &more);
    }
    let new_on_n3: Vec<PathBuf> = shard_files(&c.data("n3"))
        .into_iter()
        .filter(|f| !on_n3.contains(f))
        .collect();
    assert!(
        new_on_n3.is_empty(),
        "n1 still wrote to revoked n3: {new_on_n3:?}"
    );
    // the others' data intact, read through n1 and n2
    for (k, v) in &objects {
        c.assert_object("n1", k, v);
        c.assert_object("n2", k, v);
    }
    let log = std::fs::read_to_string(c.data("n1").join("stderr.log")).unwrap_or_default();
    assert!(
        log.contains("refused the shard API certificate of a peer"),
        "n1 logged the refusal"
    );
}

#[test]
fn a_certificate_naming_no_node_is_revoked_by_fingerprint() {
    let mut c = TestCluster::start(2, &["--erasure", "1+1"]);
    c.create_bucket("n1");
    let data = random(300_000);
    c.put_object("n1", "before", &data);
    let s = signer(&c);
    let (a, b) = (c.dir.path().join("anon-a"), c.dir.path().join("anon-b"));
    issue_cert(&c, None, &a);
    issue_cert(&c, None, &b);
    let (path1, _) = a_shard_of(&c, "n1");
    let (path2, _) = a_shard_of(&c, "n2");
    let mut on_n1 = ShardConn::open(&c.node("n1").node.cluster, &a).expect("handshake");
    let mut on_n2 = ShardConn::open(&c.node("n2").node.cluster, &b).expect("handshake");
    read_and_write(&mut on_n1, &s, &path1).expect("a certificate of the CA reads and writes");
    read_and_write(&mut on_n2, &s, &path2).expect("a certificate of the CA reads and writes");

    // a fingerprint that is not one: refused, nothing recorded
    let r = c
        .node("n1")
        .node
        .admin_req("POST", "/admin/certs/not-hex/revoke");
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));

    // by file: A
    let out = revoke(&c, "n2", &["--cert", a.join("node.pem").to_str().unwrap()]);
    assert!(out.contains("revoked"), "{out}");
    refused_on_open_connection(
        &mut on_n1,
        &s,
        &path1,
        "is revoked",
        Duration::from_secs(10),
    );
    // B is untouched by A's revocation, then revoked by fingerprint in
    // openssl's form (uppercase, colons)
    read_and_write(&mut on_n2, &s, &path2).expect("another certificate still works");
    let der = CertificateDer::from_pem_file(b.join("node.pem")).unwrap();
    let fp: Vec<String> = sha2::Sha256::digest(der.as_ref())
        .iter()
        .map(|x| format!("{x:02X}"))
        .collect();
    revoke(&c, "n1", &["--fingerprint", &fp.join(":")]);
    refused_on_open_connection(
        &mut on_n2,
        &s,
        &path2,
        "is revoked",
        Duration::from_secs(10),
    );
    new_connection_refused(&c.node("n1").node.cluster, &a, &s, &path1);
    c.assert_object("n2", "before", &data);

    // A node given a certificate naming no node, holding the CA key,
    // issues itself one that does at start (revocable by node id).
    c.stop("n2");
    for f in ["node.pem", "node-key.pem"] {
        std::fs::copy(b.join(f), c.data("n2").join("secrets").join(f)).unwrap();
    }
    c.add("n2");
    c.wait_live(2);
    let log = std::fs::read_to_string(c.data("n2").join("stderr.log")).unwrap_or_default();
    assert!(
        log.contains("names no node"),
        "n2 said why it issued its own"
    );
    c.assert_object("n2", "before", &data);
    let more = random(400_000);
    c.put_object("n2", "after", &more);
    c.assert_object("n1", "after", &more);
}

use sha2::Digest as _;
