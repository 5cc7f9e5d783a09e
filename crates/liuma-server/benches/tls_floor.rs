//! The floor under the cost of TLS on a large GET or PUT: CPU seconds per
//! GiB, on one core, of what TLS must do whatever the serving code around
//! it (issue #19). No sockets: each row runs on this thread alone and is
//! timed with the thread's own CPU clock (`/proc/thread-self/schedstat`),
//! so other processes on the machine do not inflate it.
//!
//! - `AES-256-GCM seal (ring)`: the cipher alone, in place, on 16 KiB
//!   records — the floor of a TLS 1.3 send (the suite OpenSSL clients
//!   prefer; ring picks VAES/AVX2 code at run time).
//! - `AES-256-GCM open (ring)`: the same for a receive.
//! - `copy 16 KiB into a fresh record`: what rustls's buffered API adds
//!   per record before sealing (allocation + memcpy).
//! - `rustls send`: a server connection's `writer().write` +
//!   `write_tls` into a sink, i.e. rustls's whole send path minus the
//!   socket.
//! - `rustls receive`: `read_tls` + `process_new_packets` +
//!   `reader().read` of records a client sealed, the receive path minus
//!   the socket (the client's sealing is done before the clock starts).
//!
//! `cargo bench -p liuma-server --bench tls_floor` (or run the built
//! `target/release/deps/tls_floor-* --bench`). `bench/tls.py` prints these
//! rows next to the served figures when the binary is built.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

const GIB: f64 = (1u64 << 30) as f64;
const RECORD: usize = 16 << 10;
/// Bytes per measurement; the median of `ROUNDS` is printed.
const VOLUME: usize = 256 << 20;
const ROUNDS: usize = 5;

/// This thread's CPU time so far, in seconds.
fn thread_cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let ns: u64 = s
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("schedstat field");
    ns as f64 / 1e9
}

/// Median CPU-s per GiB of `ROUNDS` runs of `f`, which processes `VOLUME`
/// bytes and returns the CPU seconds of the part that counts.
fn per_gib_of(mut f: impl FnMut() -> f64) -> f64 {
    f(); // warm up: allocator, page faults, CPU feature detection
    let mut v: Vec<f64> = (0..ROUNDS).map(|_| f() * GIB / VOLUME as f64).collect();
    v.sort_by(f64::total_cmp);
    v[ROUNDS / 2]
}

/// [`per_gib_of`] a closure timed whole.
fn per_gib(mut f: impl FnMut()) -> f64 {
    per_gib_of(|| {
        let t = thread_cpu();
        f();
        thread_cpu() - t
    })
}

fn row(name: &str, cpu_per_gib: f64) {
    println!(
        "| {name} | {cpu_per_gib:.3} | {:.0} |",
        GIB / cpu_per_gib / 1e6
    );
}

/// A server and a client connection that finished a handshake in memory.
fn connected() -> (ServerConnection, ClientConnection) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = CertificateDer::from(ck.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut s = ServerConnection::new(Arc::new(server)).unwrap();
    let mut c = ClientConnection::new(Arc::new(client), ServerName::try_from("localhost").unwrap())
        .unwrap();
    while s.is_handshaking() || c.is_handshaking() {
        shuttle(&mut c, &mut s);
        shuttle(&mut s, &mut c);
    }
    // the session tickets the server sends after the handshake
    shuttle(&mut s, &mut c);
    (s, c)
}

/// Move what `from` has to send into `to`.
fn shuttle(from: &mut dyn TlsIo, to: &mut dyn TlsIo) {
    let mut buf = Vec::new();
    while from.wants_write_() {
        from.write_tls_(&mut buf);
    }
    let mut rd = &buf[..];
    while !rd.is_empty() {
        to.read_tls_(&mut rd);
        to.process_();
    }
}

/// What `shuttle` needs of either side (`ConnectionCommon` is generic).
trait TlsIo {
    fn wants_write_(&self) -> bool;
    fn write_tls_(&mut self, out: &mut Vec<u8>);
    fn read_tls_(&mut self, rd: &mut &[u8]);
    fn process_(&mut self);
}

macro_rules! tls_io {
    ($t:ty) => {
        impl TlsIo for $t {
            fn wants_write_(&self) -> bool {
                self.wants_write()
            }
            fn write_tls_(&mut self, out: &mut Vec<u8>) {
                self.write_tls(out).unwrap();
            }
            fn read_tls_(&mut self, rd: &mut &[u8]) {
                self.read_tls(rd).unwrap();
            }
            fn process_(&mut self) {
                self.process_new_packets().unwrap();
            }
        }
    };
}
tls_io!(ServerConnection);
tls_io!(ClientConnection);

fn main() {
    let data = vec![0x5au8; 1 << 20];
    println!("| path (one core, no socket) | CPU-s/GiB | MB/s per core |");
    println!("|---|---|---|");

    let key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &[7u8; 32]).unwrap(),
    );
    let mut rec = vec![0u8; RECORD];
    let seal = per_gib(|| {
        for i in 0..VOLUME / RECORD {
            let nonce = nonce(i);
            let tag = key
                .seal_in_place_separate_tag(nonce, ring::aead::Aad::empty(), &mut rec)
                .unwrap();
            std::hint::black_box(&tag);
        }
    });
    row("AES-256-GCM seal (ring), 16 KiB records", seal);

    // open what was sealed (the tag must match, so seal once per record first)
    let mut sealed: Vec<(Vec<u8>, ring::aead::Tag)> = (0..64)
        .map(|i| {
            let mut r = data[..RECORD].to_vec();
            let tag = key
                .seal_in_place_separate_tag(nonce(i), ring::aead::Aad::empty(), &mut r)
                .unwrap();
            (r, tag)
        })
        .collect();
    let open = per_gib(|| {
        let mut work = vec![0u8; RECORD];
        for i in 0..VOLUME / RECORD {
            let (r, tag) = &mut sealed[i % 64];
            work.copy_from_slice(r);
            key.open_in_place_separate_tag(
                nonce(i % 64),
                ring::aead::Aad::empty(),
                *tag,
                &mut work,
                0..,
            )
            .unwrap();
        }
    });
    row(
        "AES-256-GCM open (ring), 16 KiB records, + a 16 KiB copy",
        open,
    );

    let copy = per_gib(|| {
        for i in 0..VOLUME / RECORD {
            let off = (i * RECORD) % data.len();
            let mut v = Vec::with_capacity(RECORD + 22);
            v.extend_from_slice(&data[off..off + RECORD]);
            std::hint::black_box(&v);
        }
    });
    row("copy 16 KiB into a fresh record (alloc + memcpy)", copy);

    let (mut server, _client) = connected();
    println!(
        "<!-- negotiated: {:?} -->",
        server.negotiated_cipher_suite().map(|s| s.suite())
    );
    let send = |server: &mut ServerConnection, limit: Option<usize>| {
        server.set_buffer_limit(limit);
        per_gib(|| {
            let mut sink = std::io::sink();
            let mut sent = 0;
            while sent < VOLUME {
                let off = sent % data.len();
                let mut chunk = &data[off..];
                while !chunk.is_empty() {
                    let n = server.writer().write(chunk).unwrap();
                    chunk = &chunk[n..];
                    sent += n;
                    while server.wants_write() {
                        server.write_tls(&mut sink).unwrap();
                    }
                }
            }
        })
    };
    row(
        "rustls send (writer + write_tls), 64 KiB buffer limit (default)",
        send(&mut server, Some(64 << 10)),
    );
    row(
        "rustls send (writer + write_tls), 1 MiB buffer limit",
        send(&mut server, Some(1 << 20)),
    );

    // receive: per round a fresh session, whose client seals VOLUME bytes
    // (not counted); the server's decryption of them is what is timed
    let mut plain = vec![0u8; 64 << 10];
    let recv = per_gib_of(|| {
        let (mut s, mut c) = connected();
        c.set_buffer_limit(None);
        let mut wire = Vec::with_capacity(VOLUME + VOLUME / 64);
        let mut sent = 0;
        while sent < VOLUME {
            c.writer().write_all(&data).unwrap();
            sent += data.len();
            while c.wants_write() {
                c.write_tls(&mut wire).unwrap();
            }
        }
        let t = thread_cpu();
        let mut rd = &wire[..];
        let mut got = 0;
        while !rd.is_empty() {
            s.read_tls(&mut rd).unwrap();
            s.process_new_packets().unwrap();
            loop {
                match s.reader().read(&mut plain) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        let cpu = thread_cpu() - t;
        assert_eq!(got, VOLUME);
        cpu
    });
    row("rustls receive (read_tls + process + reader().read)", recv);
}

fn nonce(i: usize) -> ring::aead::Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&(i as u64).to_le_bytes());
    ring::aead::Nonce::assume_unique_for_key(n)
}
