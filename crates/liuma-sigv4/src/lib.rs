//! # liuma-sigv4 — AWS Signature Version 4, once (a leaf)
//!
//! The one SigV4 implementation of liuma's production code: `liuma-bench`
//! signs its S3 requests with it, the native API (`liuma-native`,
//! `backend.rs`) verifies backend requests with it. It depends on no
//! liuma crate and does no I/O: it builds the canonical request, the
//! string to sign, the signing key and the signature, and formats and
//! parses `x-amz-date`. Which headers are signed, how a secret is stored
//! and what a mismatch means stay with the caller. (The S3 front end's
//! checks are s3s's; the process tests' signer in `tests/it/backend.rs`
//! stays independent on purpose, so a bug here cannot hide itself.)
//!
//! # Layout
//! - [`canonical_request`], [`canonical_query`], [`encode_path`]: the
//!   canonical form (AWS's escaping: unreserved characters only)
//! - [`scope`], [`string_to_sign`], [`signing_key`], [`signature`]: the
//!   derivation chain; [`sign`] runs it all
//! - [`amz_date`], [`parse_amz_date`]: `YYYYMMDDTHHMMSSZ`
//!
//! # Example
//!
//! ```
//! let creq = liuma_sigv4::canonical_request(
//!     "GET", "/test.txt", "",
//!     &[("host", "examplebucket.s3.amazonaws.com"),
//!       ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
//!       ("x-amz-date", "20130524T000000Z")],
//!     "UNSIGNED-PAYLOAD",
//! );
//! let sig = liuma_sigv4::sign(
//!     b"AWS4wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
//!     "20130524T000000Z", "us-east-1", "s3", &creq,
//! );
//! assert_eq!(sig, "5c0d4ff29e72b8f94c5b6720369921e587e39bf7a64e456887dec4b43a2d1b77");
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name of `Authorization` headers and strings to sign.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// What AWS leaves unescaped in canonical URIs and queries: A-Z a-z 0-9 - _ . ~
pub const AWS_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// [`AWS_ENCODE`] that also keeps `/` (a path's separators).
pub const AWS_PATH_ENCODE: &percent_encoding::AsciiSet = &AWS_ENCODE.remove(b'/');

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lower-case hex SHA-256 of `data` (payload hashes, canonical requests).
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A decoded path, escaped as a canonical URI (S3 style: escaped once).
pub fn encode_path(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, AWS_PATH_ENCODE).to_string()
}

/// A raw query string (`a=1&b=%20`) in canonical form: each name and
/// value decoded then escaped AWS's way, pairs sorted, joined by `&`.
pub fn canonical_query(query: &str) -> String {
    let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_encoding::percent_encode(&decode(k), AWS_ENCODE).to_string(),
                percent_encoding::percent_encode(&decode(v), AWS_ENCODE).to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical request: method, canonical URI and query (already in
/// canonical form), the signed headers as (lower-case name, trimmed value)
/// in the order they are signed, and the payload hash (hex SHA-256 or
/// `UNSIGNED-PAYLOAD`).
pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    headers: &[(&str, &str)],
    payload_hash: &str,
) -> String {
    let mut out = format!("{method}\n{canonical_uri}\n{canonical_query}\n");
    for (name, value) in headers {
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers(headers));
    out.push('\n');
    out.push_str(payload_hash);
    out
}

/// `host;x-amz-date;...`: the names of `headers`, joined by `;`.
pub fn signed_headers(headers: &[(&str, &str)]) -> String {
    headers
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(";")
}

/// The credential scope `DATE/REGION/SERVICE/aws4_request`.
pub fn scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

/// The string to sign of a canonical request.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The signing key: HMAC chain over date, region, service and
/// `aws4_request`, starting from `secret_key` = `"AWS4" + secret` (or any
/// key HMAC treats the same, e.g. its SHA-256 when it is longer than 64
/// bytes).
pub fn signing_key(secret_key: &[u8], date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac_sha256(secret_key, date.as_bytes());
    let k = hmac_sha256(&k, region.as_bytes());
    let k = hmac_sha256(&k, service.as_bytes());
    hmac_sha256(&k, b"aws4_request")
}

/// The hex signature of a string to sign.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

/// The whole chain: the hex signature of `canonical_request` sent at
/// `amz_date` (`YYYYMMDDTHHMMSSZ`, whose day is the scope's date).
pub fn sign(
    secret_key: &[u8],
    amz_date: &str,
    region: &str,
    service: &str,
    canonical_request: &str,
) -> String {
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let scope = scope(date, region, service);
    let key = signing_key(secret_key, date, region, service);
    signature(&key, &string_to_sign(amz_date, &scope, canonical_request))
}

/// `YYYYMMDDTHHMMSSZ` of a time (UTC).
pub fn amz_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(i64::MAX));
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Seconds since the epoch of `YYYYMMDDTHHMMSSZ`; None when malformed.
pub fn parse_amz_date(v: &str) -> Option<u64> {
    let b = v.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| v.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(n(0..4)?, n(4..6)?, n(6..8)?);
    u64::try_from(days * 86_400 + n(9..11)? * 3600 + n(11..13)? * 60 + n(13..15)?).ok()
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day count since 1970-01-01
/// (H. Hinnant's algorithm); the inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dates_round_trip() {
        let t = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        assert_eq!(amz_date(t), "20150830T123600Z");
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(amz_date(UNIX_EPOCH), "19700101T000000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(amz_date(leap), "20000229T000000Z");
        assert_eq!(parse_amz_date("20000229T000000Z"), Some(951_782_400));
        assert_eq!(parse_amz_date("2000-02-29"), None);
    }

    /// The "GET Object" example of the AWS SigV4 documentation, with its
    /// real payload hash (the empty body's): AWS's published signature.
    #[test]
    fn aws_documentation_example() {
        let empty = sha256_hex(b"");
        let creq = canonical_request(
            "GET",
            "/test.txt",
            "",
            &[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("range", "bytes=0-9"),
                ("x-amz-content-sha256", &empty),
                ("x-amz-date", "20130524T000000Z"),
            ],
            &empty,
        );
        let sig = sign(
            b"AWS4wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524T000000Z",
            "us-east-1",
            "s3",
            &creq,
        );
        assert_eq!(
            sig,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn queries_are_sorted_and_escaped_once() {
        assert_eq!(canonical_query("b=2&a=x%20y&c"), "a=x%20y&b=2&c=");
        assert_eq!(canonical_query("k=a+b"), "k=a%2Bb");
        assert_eq!(encode_path("/a b/ü"), "/a%20b/%C3%BC");
    }

    /// A key longer than HMAC's block is hashed first: its SHA-256 signs
    /// the same (what the native API stores instead of the secret).
    #[test]
    fn long_keys_sign_like_their_hash() {
        let long = [b'k'; 68];
        let hashed: [u8; 32] = Sha256::digest(long).into();
        assert_eq!(
            signing_key(&long, "20240101", "r", "s"),
            signing_key(&hashed, "20240101", "r", "s")
        );
    }
}
