//! A fault-injecting HTTP/1.1 proxy between a browser and liuma's native
//! API, for the upload page test: it forwards every request, except chunk
//! uploads (`POST /upload/chunk?…&chunk=N&hash=H`) that match a rule, which
//! it cuts mid-body (a killed connection), answers itself without storing
//! (a lost chunk), holds forever (a stalled connection), or precedes with
//! a foreign client's chunk sent straight to liuma (a poisoned session).
//!
//! The browser test (Node) sets rules at the moment it needs them through
//! the proxy's own endpoints, which are never forwarded:
//! `GET /__proxy/rule?hash=H&chunk=N&action=kill|swallow|stall|inject&times=T`
//! (`kill`: `&after=BYTES` of the body pass first; `inject`: `&query=Q&len=L`,
//! the foreign chunk's query string and length; `&attempt=A`: only requests
//! with that `attempt=`),  `GET /__proxy/clear?hash=H`,
//! `GET /__proxy/seen?hash=H` (the chunk uploads seen, in order).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use crate::http::request;
use crate::native::data;

#[derive(Clone, Debug)]
enum Action {
    /// Forward the head and this many body bytes, then close both sides.
    Kill { after: usize },
    /// Read the body, answer success with the chunk's own `sha256=`, store nothing.
    Swallow,
    /// Read the body, never answer (until the browser closes the connection).
    Stall,
    /// First POST a foreign chunk (`/upload/chunk?{query}`, `len` bytes)
    /// with the request's token, then forward the request.
    Inject { query: String, len: usize },
}

struct Rule {
    hash: String,
    chunk: u32,
    /// Only the page's attempt with this `attempt=` (the browser's own
    /// resends of one attempt carry the same URL).
    attempt: Option<String>,
    action: Action,
    times: u32,
}

/// A chunk upload the proxy saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub hash: String,
    pub chunk: u32,
    /// `forward`, `kill`, `swallow`, `stall`, or `inject:<liuma's status>`.
    pub action: String,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    seen: Vec<Seen>,
}

pub struct FaultProxy {
    /// `127.0.0.1:port` to give browsers instead of liuma's address.
    pub addr: String,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    /// Listen on a free loopback port and forward to `upstream`. The accept
    /// thread lives as long as the test process.
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        let addr = listener.local_addr().expect("proxy address").to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let (st, up) = (state.clone(), upstream.to_owned());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (st, up) = (st.clone(), up.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, &up, &st);
                });
            }
        });
        FaultProxy { addr, state }
    }

    /// The chunk uploads seen for `hash`, in order.
    pub fn seen(&self, hash: &str) -> Vec<Seen> {
        let st = self.state.lock().expect("proxy state");
        st.seen.iter().filter(|s| s.hash == hash).cloned().collect()
    }
}

/// One client connection: requests one after another (keep-alive).
fn serve(client: TcpStream, upstream: &str, state: &Mutex<State>) -> std::io::Result<()> {
    let mut up = TcpStream::connect(upstream)?;
    let (mut up_read, mut client_write) = (up.try_clone()?, client.try_clone()?);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_read, &mut client_write);
        let _ = client_write.shutdown(Shutdown::Both);
    });
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client_write = client.try_clone()?;
    loop {
        let Some(head) = read_head(&mut reader)? else {
            let _ = up.shutdown(Shutdown::Both);
            return Ok(());
        };
        let mut lines = head.lines();
        let mut first = lines.next().unwrap_or_default().split_whitespace();
        let (method, target) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let q = parse_query(query);
        if let Some(cmd) = path.strip_prefix("/__proxy/") {
            let body = control(cmd, &q, state);
            write!(
                client_write,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            let _ = client.shutdown(Shutdown::Both);
            let _ = up.shutdown(Shutdown::Both);
            return Ok(());
        }
        let is_chunk = method == "POST" && path == "/upload/chunk";
        let action = if is_chunk {
            take_action(state, &q)
        } else {
            None
        };
        match action {
            None => {
                up.write_all(head.as_bytes())?;
                copy_exact(&mut reader, &mut up, len)?;
            }
            Some(Action::Kill { after }) => {
                up.write_all(head.as_bytes())?;
                copy_exact(&mut reader, &mut up, after.min(len))?;
                up.flush()?;
                let _ = up.shutdown(Shutdown::Both);
                let _ = client.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Action::Swallow) => {
                copy_exact(&mut reader, &mut std::io::sink(), len)?;
                let body = format!(
                    r#"{{"status":"success","chunk":{},"size":{len},"sha256":"{}"}}"#,
                    q.get("chunk").map_or("0", String::as_str),
                    q.get("sha256").map_or("", String::as_str),
                );
                write!(
                    client_write,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nAccess-Control-Allow-Origin: *\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )?;
            }
            Some(Action::Stall) => {
                copy_exact(&mut reader, &mut std::io::sink(), len)?;
                // Until the browser gives up on the connection (a reload).
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
                let _ = up.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Action::Inject {
                query,
                len: foreign,
            }) => {
                let token = headers.get("token").cloned().unwrap_or_default();
                let r = request(
                    upstream,
                    "POST",
                    &format!("/upload/chunk?{query}"),
                    &[
                        ("token", token.as_str()),
                        ("Content-Type", "application/octet-stream"),
                    ],
                    &data(foreign, 4242),
                );
                if let Some(last) = state.lock().expect("proxy state").seen.last_mut() {
                    last.action = format!("inject:{}", r.status);
                }
                up.write_all(head.as_bytes())?;
                copy_exact(&mut reader, &mut up, len)?;
            }
        }
    }
}

/// Record a chunk upload and take the first matching rule's action.
fn take_action(state: &Mutex<State>, q: &HashMap<String, String>) -> Option<Action> {
    let hash = q.get("hash").cloned().unwrap_or_default();
    let chunk: u32 = q
        .get("chunk")
        .and_then(|c| c.parse().ok())
        .unwrap_or(u32::MAX);
    let mut st = state.lock().expect("proxy state");
    let action = st
        .rules
        .iter_mut()
        .find(|r| {
            r.hash == hash
                && r.chunk == chunk
                && r.times > 0
                && r.attempt
                    .as_ref()
                    .is_none_or(|a| q.get("attempt") == Some(a))
        })
        .map(|r| {
            r.times -= 1;
            r.action.clone()
        });
    let name = match &action {
        None => "forward",
        Some(Action::Kill { .. }) => "kill",
        Some(Action::Swallow) => "swallow",
        Some(Action::Stall) => "stall",
        Some(Action::Inject { .. }) => "inject",
    };
    st.seen.push(Seen {
        hash,
        chunk,
        action: name.to_owned(),
    });
    action
}

/// The proxy's own endpoints; the answer is JSON.
fn control(cmd: &str, q: &HashMap<String, String>, state: &Mutex<State>) -> String {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let num = |k: &str| get(k).parse::<usize>().unwrap_or(0);
    let mut st = state.lock().expect("proxy state");
    match cmd {
        "rule" => {
            let action = match get("action").as_str() {
                "kill" => Action::Kill {
                    after: num("after"),
                },
                "swallow" => Action::Swallow,
                "stall" => Action::Stall,
                "inject" => Action::Inject {
                    query: get("query"),
                    len: num("len"),
                },
                other => return format!(r#"{{"error":"unknown action {other}"}}"#),
            };
            st.rules.push(Rule {
                hash: get("hash"),
                chunk: u32::try_from(num("chunk")).unwrap_or(u32::MAX),
                attempt: q.get("attempt").cloned(),
                action,
                times: u32::try_from(num("times")).unwrap_or(1),
            });
            r#"{"ok":true}"#.to_owned()
        }
        "clear" => {
            let hash = get("hash");
            st.rules.retain(|r| r.hash != hash);
            r#"{"ok":true}"#.to_owned()
        }
        "seen" => {
            let hash = get("hash");
            let list: Vec<serde_json::Value> = st
                .seen
                .iter()
                .filter(|s| s.hash == hash)
                .map(|s| serde_json::json!({"chunk": s.chunk, "action": s.action}))
                .collect();
            serde_json::json!({ "seen": list }).to_string()
        }
        other => format!(r#"{{"error":"unknown command {other}"}}"#),
    }
}

/// A request head up to and including the blank line; None at a clean EOF.
fn read_head(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<String>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        head.push_str(&line);
        if line == "\r\n" || line == "\n" {
            return Ok(Some(head));
        }
        if head.len() > 64 * 1024 {
            return Err(std::io::Error::other("request head over 64 KiB"));
        }
    }
}

fn copy_exact(r: &mut impl Read, w: &mut impl Write, n: usize) -> std::io::Result<()> {
    let copied = std::io::copy(&mut r.take(n as u64), w)?;
    if copied < n as u64 {
        return Err(std::io::Error::other("the client closed mid-body"));
    }
    Ok(())
}

/// `a=1&b=2` (percent-decoding `%XX`, which the proxy's control queries use).
fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
