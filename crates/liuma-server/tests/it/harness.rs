//! Start and stop real `liuma server` processes. No fixed ports: the node
//! binds port 0 and reports its addresses in a ready file.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::{Resp, request};

pub struct TestNode {
    pub child: Child,
    pub admin: String,
    /// Native token API address (empty if the node did not report one).
    pub native: String,
    /// S3 API address (empty if the node did not report one).
    pub s3: String,
    /// Internal shard API address (empty unless the node is in a cluster).
    pub cluster: String,
    /// Web console address.
    pub console: String,
    /// Node id ("local" outside a cluster).
    pub node_id: String,
    /// The data directory it was started on.
    pub data: PathBuf,
    pub stdout: PathBuf,
    /// The CA of its admin listener's certificate when that speaks TLS
    /// ([`TestNode::admin_req`] then goes over https).
    pub admin_ca: Option<PathBuf>,
}

/// `liuma server --data <data>` with every public listener on a free
/// loopback port and the shard API on `cluster_listen`: what every test
/// that starts a node (or expects one to refuse to start) runs.
pub fn server_command(data: &Path, cluster_listen: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_liuma"));
    cmd.args(["server", "--data"]).arg(data);
    for listener in [
        "--admin-listen",
        "--native-listen",
        "--s3-listen",
        "--console-listen",
    ] {
        cmd.args([listener, "127.0.0.1:0"]);
    }
    cmd.args(["--cluster-listen", cluster_listen]);
    cmd
}

impl TestNode {
    /// Start a node on `data` (kept across restarts by the caller).
    pub fn start(data: &Path, extra: &[&str]) -> TestNode {
        TestNode::start_env(data, extra, &[])
    }

    /// Start a node with extra environment variables (e.g. `RUST_LOG`).
    pub fn start_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> TestNode {
        std::fs::create_dir_all(data).unwrap();
        let ready = data.join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let stdout = data.join("stdout.log");
        let stderr = data.join("stderr.log");
        let child = server_command(data, "127.0.0.1:0")
            .arg("--ready-file")
            .arg(&ready)
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .spawn()
            .expect("spawning liuma");
        let deadline = Instant::now() + Duration::from_secs(30);
        let ready = loop {
            if let Ok(text) = std::fs::read_to_string(&ready)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                break v;
            }
            assert!(
                Instant::now() < deadline,
                "node did not become ready; logs in {}",
                stderr.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let field = |k: &str| ready[k].as_str().unwrap_or_default().to_owned();
        TestNode {
            child,
            admin: ready["admin"].as_str().expect("admin address").to_owned(),
            native: field("native"),
            s3: field("s3"),
            cluster: field("cluster"),
            console: field("console"),
            node_id: field("node_id"),
            data: data.to_owned(),
            stdout,
            admin_ca: None,
        }
    }

    /// SIGKILL (no clean shutdown: the membership lease is left to expire).
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaping the node");
    }

    /// The node's log (stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("stderr.log")).unwrap_or_default()
    }

    /// A request to the admin API with the node's admin token (over
    /// https trusting [`TestNode::admin_ca`] when set).
    pub fn admin_req(&self, method: &str, path: &str) -> Resp {
        let auth = format!("Bearer {}", TestNode::admin_token(&self.data));
        let headers = [("Authorization", auth.as_str())];
        match &self.admin_ca {
            Some(ca) => crate::http::request_tls(&self.admin, ca, method, path, &headers, b""),
            None => request(&self.admin, method, path, &headers, b""),
        }
    }

    /// Its admin API as a URL (`https://` when it speaks TLS).
    pub fn admin_url(&self) -> String {
        let scheme = if self.admin_ca.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.admin)
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "node did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl TestNode {
    /// The admin bearer token from the node's secrets.
    pub fn admin_token(data: &Path) -> String {
        std::fs::read_to_string(data.join("secrets/admin.token"))
            .unwrap()
            .trim()
            .to_owned()
    }
}

/// Give `to` the secrets of `from` (root key, tokens, cluster secret), as
/// every node of one cluster has them; modes stay 0600.
pub fn copy_secrets(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let dst = to.join("secrets");
    std::fs::create_dir_all(&dst).expect("creating the secrets dir");
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    for f in std::fs::read_dir(from.join("secrets")).expect("reading the secrets dir") {
        let f = f.expect("secrets dir entry");
        let target = dst.join(f.file_name());
        std::fs::copy(f.path(), &target).expect("copying a secret");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

/// Root access key id and secret of the node on `data`.
pub fn root_key(data: &Path) -> (String, String) {
    let text = std::fs::read_to_string(data.join("secrets/root.key")).expect("root key file");
    let mut lines = text.lines();
    let id = lines.next().expect("key id line").to_owned();
    let secret = lines.next().expect("secret line").to_owned();
    (id, secret)
}

/// `curl` with SigV4 signing as the root key of `data`; returns (HTTP status, body).
/// Status 0 means curl got no response (e.g. its `-m` timeout expired).
pub fn s3_curl(data: &Path, args: &[&str]) -> (u16, Vec<u8>) {
    let (id, secret) = root_key(data);
    let out = Command::new("curl")
        .args([
            "-s",
            "-w",
            "\n%{http_code}",
            "--aws-sigv4",
            "aws:amz:us-east-1:s3",
        ])
        .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
        .args(["--user", &format!("{id}:{secret}")])
        .args(args)
        .output()
        .expect("running curl (is it installed?)");
    let mut body = out.stdout;
    let split = body
        .iter()
        .rposition(|&b| b == b'\n')
        .expect("curl prints the status last");
    let status = String::from_utf8_lossy(&body[split + 1..])
        .trim()
        .parse()
        .expect("numeric status");
    body.truncate(split);
    (status, body)
}

impl Drop for TestNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal HTTP/1.1 GET: (status, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    http_get_with(addr, path, &[])
}

/// GET with extra headers.
pub fn http_get_with(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
