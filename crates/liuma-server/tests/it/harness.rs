//! Start and stop real `liuma server` processes. No fixed ports: the node
//! binds port 0 and reports its addresses in a ready file.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestNode {
    pub child: Child,
    pub admin: String,
    /// Native token API address (empty if the node did not report one).
    pub native: String,
    /// S3 API address (empty if the node did not report one).
    pub s3: String,
    pub stdout: PathBuf,
}

impl TestNode {
    /// Start a node on `data` (kept across restarts by the caller).
    pub fn start(data: &Path, extra: &[&str]) -> TestNode {
        std::fs::create_dir_all(data).unwrap();
        let ready = data.join("ready.json");
        let _ = std::fs::remove_file(&ready);
        let stdout = data.join("stdout.log");
        let stderr = data.join("stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_liuma"))
            .args(["server", "--data"])
            .arg(data)
            .args([
                "--admin-listen",
                "127.0.0.1:0",
                "--native-listen",
                "127.0.0.1:0",
            ])
            .args(["--s3-listen", "127.0.0.1:0"])
            .arg("--ready-file")
            .arg(&ready)
            .args(extra)
            .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .spawn()
            .expect("spawning liuma");
        let deadline = Instant::now() + Duration::from_secs(30);
        let (admin, native, s3) = loop {
            if let Ok(text) = std::fs::read_to_string(&ready)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                let native = v["native"].as_str().unwrap_or_default().to_owned();
                let s3 = v["s3"].as_str().unwrap_or_default().to_owned();
                break (v["admin"].as_str().unwrap().to_owned(), native, s3);
            }
            assert!(
                Instant::now() < deadline,
                "node did not become ready; logs in {}",
                stderr.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        TestNode {
            child,
            admin,
            native,
            s3,
            stdout,
        }
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
