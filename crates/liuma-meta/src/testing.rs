//! Test helpers (feature `testing`): [`TestEtcd`], a real etcd server in a temporary
//! directory on free loopback ports, killed when dropped.
//!
//! It runs the `etcd` binary from `PATH` (Debian: `apt-get install etcd-server`), or the one
//! named by `LIUMA_ETCD_BIN`. When there is none, [`TestEtcd::start`] **panics** with a message
//! saying how to install it: a test that needs etcd must fail, never pass without it.
//!
//! [`TestEtcd::start_with`] serves clients over TLS (optionally checking client certificates)
//! and passes extra flags; with the `etcd` feature, [`TestEtcd::enable_auth`] turns on etcd's
//! authentication with a root user and users limited to a key prefix. Health is then checked
//! on a plain metrics port, so the harness itself needs no TLS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long etcd may take to answer `/health` after it was spawned.
const START_PATIENCE: Duration = Duration::from_secs(30);

/// How a [`TestEtcd`] serves its clients.
#[derive(Debug, Clone, Default)]
pub struct TestEtcdOptions {
    /// Serve clients over TLS with this certificate (else plain HTTP).
    pub tls: Option<TestEtcdTls>,
    /// More flags, e.g. `--auth-token-ttl=1`.
    pub extra_args: Vec<String>,
}

/// The TLS files of a [`TestEtcd`] (PEM).
#[derive(Debug, Clone)]
pub struct TestEtcdTls {
    /// Server certificate (must name 127.0.0.1).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// CA that client certificates must chain to (`--client-cert-auth`); `None` asks for
    /// no client certificate.
    pub client_ca: Option<PathBuf>,
}

/// A single-member etcd cluster for one test; the process is killed on drop.
#[derive(Debug)]
pub struct TestEtcd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    client: SocketAddr,
    peer: SocketAddr,
    /// Plain HTTP `/health` (and `/metrics`), whatever the client port speaks.
    metrics: SocketAddr,
    options: TestEtcdOptions,
}

impl TestEtcd {
    /// Starts etcd on free loopback ports with a fresh data directory and waits until it
    /// is healthy (has a leader). Panics when etcd is missing or does not come up.
    pub fn start() -> TestEtcd {
        TestEtcd::start_with(TestEtcdOptions::default())
    }

    /// [`TestEtcd::start`] with TLS and extra flags.
    pub fn start_with(options: TestEtcdOptions) -> TestEtcd {
        let dir = tempfile::Builder::new()
            .prefix("liuma-test-etcd-")
            .tempdir()
            .expect("creating a temp dir for etcd");
        let (client, peer, metrics) = free_ports();
        let mut etcd = TestEtcd {
            child: None,
            dir,
            client,
            peer,
            metrics,
            options,
        };
        // A port found free can be taken by someone else before etcd binds it (tests run
        // in parallel): then start over on other ports.
        for _ in 0..5 {
            if etcd.spawn() == Started::Yes {
                return etcd;
            }
            let _ = std::fs::remove_dir_all(etcd.data_dir());
            let _ = std::fs::remove_file(etcd.log_path());
            (etcd.client, etcd.peer, etcd.metrics) = free_ports();
        }
        panic!(
            "etcd found its ports taken 5 times; log: {}",
            etcd.log_path().display()
        );
    }

    /// The client URL, e.g. `http://127.0.0.1:40123` (`https://` with TLS).
    pub fn endpoint(&self) -> String {
        let scheme = if self.options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.client)
    }

    /// The client address.
    pub fn client_addr(&self) -> SocketAddr {
        self.client
    }

    /// etcd's data directory (kept across [`TestEtcd::kill`] and [`TestEtcd::restart`]).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// etcd's combined stdout/stderr, for failure messages.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    /// Kills etcd with SIGKILL (no clean shutdown) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes etcd with SIGSTOP: its connections stay open but nothing answers, like a
    /// partitioned or overloaded server. [`TestEtcd::thaw`] resumes it.
    pub fn freeze(&self) {
        self.signal("STOP");
        // kill(2) returns once the signal is queued; the process stops when
        // each of its threads next runs. Wait until every thread is stopped,
        // so that no request sent after freeze() can still be answered.
        let pid = self.child.as_ref().expect("etcd is running").id();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !all_threads_stopped(pid) {
            assert!(
                Instant::now() < deadline,
                "etcd (pid {pid}) did not stop within 5 s of SIGSTOP"
            );
            std::thread::yield_now();
        }
    }

    /// Resumes etcd after [`TestEtcd::freeze`] (SIGCONT).
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let child = self.child.as_ref().expect("etcd is running");
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(child.id().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Starts etcd again on the same data directory and ports (after [`TestEtcd::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.spawn() == Started::Yes,
            "etcd's ports were taken while it was down; log: {}",
            self.log_path().display()
        );
    }

    /// Spawns etcd and waits until it is healthy; `Started::PortTaken` when it could not bind.
    fn spawn(&mut self) -> Started {
        let bin = std::env::var_os("LIUMA_ETCD_BIN").unwrap_or_else(|| "etcd".into());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("creating the etcd log file");
        let log_err = log.try_clone().expect("cloning the etcd log handle");
        let client = self.endpoint();
        let peer = format!("http://{}", self.peer);
        let mut cmd = Command::new(&bin);
        if let Some(tls) = &self.options.tls {
            cmd.arg(format!("--cert-file={}", tls.cert.display()))
                .arg(format!("--key-file={}", tls.key.display()));
            if let Some(ca) = &tls.client_ca {
                cmd.arg("--client-cert-auth")
                    .arg(format!("--trusted-ca-file={}", ca.display()));
            }
        }
        let child = cmd
            .arg("--name=liuma-test")
            .arg(format!("--data-dir={}", self.data_dir().display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=liuma-test={peer}"))
            .arg("--initial-cluster-state=new")
            .arg(format!("--listen-metrics-urls=http://{}", self.metrics))
            // cheap password hashing: tests authenticate often on a loaded machine
            .arg("--bcrypt-cost=4")
            .args(&self.options.extra_args)
            .env_remove("ETCDCTL_API")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "the etcd tests need the `etcd` binary ({} not found: {e}). Install it with \
                 `apt-get install -y etcd-server` (scripts/test does this), or point \
                 LIUMA_ETCD_BIN at one.",
                Path::new(&bin).display()
            ),
            Err(e) => panic!("cannot start etcd ({}): {e}", Path::new(&bin).display()),
        };
        self.child = Some(child);
        self.wait_healthy()
    }

    fn wait_healthy(&mut self) -> Started {
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                if self.log_tail().contains("address already in use") {
                    return Started::PortTaken;
                }
                panic!(
                    "etcd exited during start ({status}); log: {}\n{}",
                    self.log_path().display(),
                    self.log_tail()
                );
            }
            if healthy(self.metrics) {
                return Started::Yes;
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not become healthy within {START_PATIENCE:?}; log: {}\n{}",
                self.log_path().display(),
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

#[cfg(feature = "etcd")]
impl TestEtcd {
    /// Turns on etcd's authentication: a `root` user with `root_password`, and for each
    /// `(user, password, prefix)` a user whose role of the same name may read and write
    /// only keys under `prefix`. Connects with `admin` (the CA and a client certificate
    /// when the server wants them). Panics on failure.
    pub async fn enable_auth(
        &self,
        admin: &crate::EtcdSecurity,
        root_password: &str,
        users: &[(&str, &str, &str)],
    ) {
        for &(name, password, prefix) in users {
            let user = crate::AuthUser {
                name,
                password,
                prefix,
            };
            crate::ensure_auth(&[self.endpoint()], admin, root_password, user)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "enabling etcd auth: {e}; log: {}",
                        self.log_path().display()
                    )
                });
        }
    }
}

impl Drop for TestEtcd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Outcome of one attempt to start etcd.
#[derive(Debug, PartialEq, Eq)]
enum Started {
    Yes,
    PortTaken,
}

/// Three distinct loopback ports nobody listens on right now.
fn free_ports() -> (SocketAddr, SocketAddr, SocketAddr) {
    let bind = || TcpListener::bind("127.0.0.1:0").expect("binding a free loopback port");
    // All are held open until all are known, so no two can be the same port.
    let (a, b, c) = (bind(), bind(), bind());
    let addr = |l: &TcpListener| l.local_addr().expect("bound listener has an address");
    (addr(&a), addr(&b), addr(&c))
}

/// True when etcd's `/health` endpoint reports a healthy member (one with a leader).
fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.contains("\"health\":\"true\"")
}

/// Whether every thread of `pid` is stopped (state `T` in /proc): Linux only,
/// like the rest of this harness.
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|t| {
        std::fs::read_to_string(t.path().join("stat")).is_ok_and(|stat| {
            // the state follows the parenthesised command name
            stat.rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next())
                .is_some_and(|state| state == 'T' || state == 't')
        })
    })
}
