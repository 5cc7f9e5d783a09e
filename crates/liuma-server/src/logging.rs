//! Structured logs with `tracing`: `RUST_LOG` filters (default
//! `info,s3s=off`), text or JSON lines on stderr.
//!
//! # No credentials in logs, at any level
//!
//! Requests carry credentials in places that libraries log at debug and
//! trace level: s3s logs every request (`debug!(?req)`: URI with presigned
//! query, every header) and, on a signature mismatch, the signature it
//! computed. Two defences:
//!
//! 1. whatever `RUST_LOG` says (the default turns s3s off entirely), the s3s modules that dump requests and
//!    signatures are capped at `info` (nothing of theirs above that level
//!    carries a request);
//! 2. every formatted line goes through [`redact`] before it is written, so
//!    a credential logged by any crate, at any level, in text or JSON, is
//!    replaced by `[REDACTED]`: values of query parameters and fields named
//!    `*signature`, `*token` (`X-Amz-Signature`, `Signature`, `token`,
//!    `X-Amz-Security-Token`, `systemToken`), of `authorization` headers,
//!    and `Bearer` tokens. `X-Amz-Credential` (the access key id and scope)
//!    is kept: it is not secret and says who called.

use std::io::Write;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Appended to every filter: s3s's request and signature dumps stay off
/// even under `RUST_LOG=trace` (the redactor is the second line of defence).
const CAPS: [&str; 3] = [
    "s3s::service=info",
    "s3s::ops=info",
    "s3s::ops::signature=info",
];

/// What replaces a credential.
pub const REDACTED: &str = "[REDACTED]";

/// Install the global subscriber.
pub fn init(format: Option<&str>) {
    // s3s logs every client error (a 404, a bad signature) at ERROR; the S3
    // layer logs the failures that are ours (5xx) itself.
    let filter = match EnvFilter::try_from_default_env() {
        Ok(mut f) => {
            for cap in CAPS {
                f = f.add_directive(cap.parse().expect("valid literal directive"));
            }
            f
        }
        Err(_) => EnvFilter::new("info,s3s=off"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr);
    if format == Some("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Stderr, one redacted write per event.
struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = LineBuffer;
    fn make_writer(&'a self) -> LineBuffer {
        LineBuffer(Vec::with_capacity(256))
    }
}

/// Collects one formatted event (the fmt layer makes a writer per event)
/// and writes it redacted when dropped.
struct LineBuffer(Vec<u8>);

impl Write for LineBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        // A failed write to stderr has nowhere to be reported.
        let _ = std::io::stderr().write_all(redact(&text).as_bytes());
    }
}

/// Names whose values are credentials; matched case-insensitively as the
/// end of a name, so `signature` covers `X-Amz-Signature` and `token`
/// covers `X-Amz-Security-Token` and `systemToken`.
const SECRET_NAMES: [&str; 3] = ["signature", "token", "authorization"];

/// Replace every credential in `line` by [`REDACTED`].
pub fn redact(line: &str) -> String {
    let lower = line.to_ascii_lowercase();
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut copied = 0; // bytes of `line` already in `out`
    let mut i = 0;
    while i < bytes.len() {
        let Some((name_end, is_auth)) = name_at(&lower, i) else {
            i += 1;
            continue;
        };
        let Some(value_start) = separator(bytes, name_end) else {
            i = name_end;
            continue;
        };
        let value_end = value_end(bytes, value_start, is_auth);
        if value_end > value_start {
            out.push_str(&line[copied..value_start]);
            out.push_str(REDACTED);
            copied = value_end;
        }
        i = value_end.max(name_end);
    }
    out.push_str(&line[copied..]);
    redact_bearer(&out)
}

/// A secret name ending at or after `i`: (end of the name, is it `authorization`).
fn name_at(lower: &str, i: usize) -> Option<(usize, bool)> {
    let rest = lower.get(i..)?;
    SECRET_NAMES
        .iter()
        .find(|n| rest.starts_with(*n))
        .map(|n| (i + n.len(), *n == "authorization"))
}

/// After a name: an optional closing quote (`"` or `\"`), then `=` or `:`,
/// then spaces. The index of the value, or None when this is not a name=value.
fn separator(b: &[u8], mut j: usize) -> Option<usize> {
    if b.get(j) == Some(&b'\\') && b.get(j + 1) == Some(&b'"') {
        j += 2;
    } else if b.get(j) == Some(&b'"') {
        j += 1;
    }
    match b.get(j) {
        Some(b'=' | b':') => j += 1,
        _ => return None,
    }
    while b.get(j) == Some(&b' ') {
        j += 1;
    }
    Some(j)
}

/// Where a value starting at `j` ends. A quoted value (`"..."` or, inside
/// JSON, `\"...\"`) keeps its quotes and loses its content; a bare value
/// ends at a delimiter (for `authorization`, which contains spaces, at the
/// end of the line or a quote).
fn value_end(b: &[u8], j: usize, is_auth: bool) -> usize {
    if b.get(j) == Some(&b'\\') && b.get(j + 1) == Some(&b'"') {
        let start = j + 2;
        let mut k = start;
        while k < b.len() && !(b[k] == b'\\' && b.get(k + 1) == Some(&b'"')) {
            k += 1;
        }
        return k;
    }
    if b.get(j) == Some(&b'"') {
        let start = j + 1;
        let mut k = start;
        while k < b.len() && b[k] != b'"' {
            k += if b[k] == b'\\' { 2 } else { 1 };
        }
        return k.min(b.len()).max(start);
    }
    let mut k = j;
    while k < b.len() {
        let c = b[k];
        let stop = if is_auth {
            matches!(c, b'\n' | b'"' | b'\\')
        } else {
            matches!(
                c,
                b'&' | b','
                    | b';'
                    | b' '
                    | b'\t'
                    | b'\n'
                    | b'"'
                    | b'\''
                    | b')'
                    | b']'
                    | b'}'
                    | b'\\'
            )
        };
        if stop {
            break;
        }
        k += 1;
    }
    k
}

/// `Bearer <token>` anywhere (a raw `Authorization` value in a message).
fn redact_bearer(s: &str) -> String {
    const BEARER: &str = "bearer ";
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(pos) = lower[from..].find(BEARER) {
        let start = from + pos + BEARER.len();
        let end = s[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\\' | ',' | '\''))
            .map_or(s.len(), |e| start + e);
        if end > start && &s[start..end] != REDACTED {
            out.push_str(&s[copied..start]);
            out.push_str(REDACTED);
            copied = end;
        }
        from = end.max(start);
    }
    out.push_str(&s[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted() {
        let cases = [
            (
                "uri: /b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=LMX%2F2024&X-Amz-Signature=abcdef0123&x=1",
                "abcdef0123",
            ),
            (
                "/b/k?AWSAccessKeyId=LM1&Expires=1&Signature=s3cr%2Bet%3D",
                "s3cr%2Bet%3D",
            ),
            ("GET /native/download?token=tok123 200", "tok123"),
            (
                r#"headers: {"host": "h", "authorization": "AWS4-HMAC-SHA256 Credential=LM/x, SignedHeaders=host, Signature=deadbeef", "x-amz-date": "d"}"#,
                "deadbeef",
            ),
            (r#"{"authorization": "AWS LM1:v2sig="}"#, "v2sig="),
            (r#"{"x-amz-security-token": "sesstok"}"#, "sesstok"),
            (r#"{"systemtoken": "sys999", "token": "t888"}"#, "sys999"),
            (r#"{"systemtoken": "sys999", "token": "t888"}"#, "t888"),
            (r#"signature="c0ffee" expected="x""#, "c0ffee"),
            (
                r#"{"fields":{"message":"req","req":"Request { uri: /?X-Amz-Signature=feed, headers: {\"authorization\": \"AWS LM:sig2\"} }"}}"#,
                "sig2",
            ),
            (
                r#"{"message":"{\"authorization\": \"AWS LM:sig2\"}"}"#,
                "sig2",
            ),
            ("Authorization: Bearer admintok", "admintok"),
            ("authorization=Bearer abc.def", "abc.def"),
        ];
        for (line, secret) in cases {
            let r = redact(line);
            assert!(!r.contains(secret), "{secret} left in {r}");
            assert!(r.contains(REDACTED), "{r}");
        }
        // Not secret: kept.
        let r = redact("X-Amz-Credential=LMKEY%2F20240101 signature mismatch tokens=3");
        assert!(r.contains("LMKEY%2F20240101"));
        assert!(r.contains("signature mismatch"));
        assert_eq!(redact("plain line\n"), "plain line\n");
    }
}
