//! Authentication of the internal shard API with the cluster secret.
//!
//! Every request carries a timestamp, a random nonce, the BLAKE3 of its
//! body and an HMAC-SHA256 over method, path, those three values; the key
//! is derived from the secret, which never travels. The receiver accepts a
//! timestamp within [`WINDOW_SECS`] of its clock and each nonce once within
//! the window, so a captured request cannot be replayed or its body swapped.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header: Unix seconds when the request was signed.
pub const DATE_HEADER: &str = "x-liuma-date";
/// Header: random hex, unique per request.
pub const NONCE_HEADER: &str = "x-liuma-nonce";
/// Header: BLAKE3 hex of the body (of an empty body for GET/DELETE).
pub const BODY_HEADER: &str = "x-liuma-content-blake3";
/// Header: HMAC-SHA256 hex of the canonical request.
pub const SIGNATURE_HEADER: &str = "x-liuma-signature";
/// Accepted clock skew and replay memory, seconds.
pub const WINDOW_SECS: u64 = 60;

/// Why a request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// A header is missing or malformed.
    #[error("missing or malformed {0}")]
    Malformed(&'static str),
    /// The timestamp is outside the window.
    #[error("request time outside the {WINDOW_SECS} s window")]
    Expired,
    /// The signature does not match (wrong secret or altered request).
    #[error("bad signature")]
    BadSignature,
    /// The body does not match the signed hash.
    #[error("body does not match its signed hash")]
    BodyMismatch,
    /// The nonce was already used.
    #[error("replayed request")]
    Replayed,
}

/// Signs and verifies shard API requests with a key derived from the cluster secret.
pub struct Signer {
    key: [u8; 32],
    seen: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

/// The signed headers of one request.
#[derive(Clone, Debug)]
pub struct Signature {
    /// Unix seconds.
    pub date: u64,
    /// Random hex.
    pub nonce: String,
    /// BLAKE3 hex of the body.
    pub body_hash: String,
    /// HMAC hex.
    pub mac: String,
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Signer {
    /// A signer for `secret` (any length; shared by every node).
    pub fn new(secret: &[u8]) -> Signer {
        Signer {
            key: blake3::derive_key("liuma 2026 cluster shard api v1", secret),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// A public fingerprint of the secret, stored in the metadata store so a
    /// node started with another secret is refused at join instead of
    /// taking shards nobody can read. Reveals nothing usable about the key.
    pub fn fingerprint(&self) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(b"liuma cluster secret fingerprint");
        hex::encode(mac.finalize().into_bytes())
    }

    fn mac(
        &self,
        method: &str,
        path: &str,
        date: u64,
        nonce: &str,
        body_hash: &str,
    ) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        for part in [method, path, &date.to_string(), nonce, body_hash] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    /// Sign a request now.
    pub fn sign(&self, method: &str, path: &str, body: &[u8]) -> Signature {
        let date = unix_secs();
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let body_hash = blake3::hash(body).to_hex().to_string();
        let mac = hex::encode(
            self.mac(method, path, date, &nonce, &body_hash)
                .finalize()
                .into_bytes(),
        );
        Signature {
            date,
            nonce,
            body_hash,
            mac,
        }
    }

    /// Check a request's signature, freshness, nonce and body hash.
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        sig: &Signature,
        body: &[u8],
    ) -> Result<(), AuthError> {
        let now = unix_secs();
        if sig.date.abs_diff(now) > WINDOW_SECS {
            return Err(AuthError::Expired);
        }
        let mac_bytes =
            hex::decode(&sig.mac).map_err(|_| AuthError::Malformed(SIGNATURE_HEADER))?;
        self.mac(method, path, sig.date, &sig.nonce, &sig.body_hash)
            .verify_slice(&mac_bytes)
            .map_err(|_| AuthError::BadSignature)?;
        // Only after the MAC: a forged request must not fill the nonce memory.
        if blake3::hash(body).to_hex().as_str() != sig.body_hash {
            return Err(AuthError::BodyMismatch);
        }
        let mut seen = self.seen.lock().expect("nonce memory poisoned");
        if seen.len() > 100_000 {
            seen.retain(|_, &mut t| t + 2 * WINDOW_SECS >= now);
        }
        if seen.insert(sig.nonce.clone(), sig.date).is_some() {
            return Err(AuthError::Replayed);
        }
        Ok(())
    }
}

impl Signature {
    /// Read the signature headers of a request.
    pub fn from_headers(h: &http::HeaderMap) -> Result<Signature, AuthError> {
        let get = |name: &'static str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty() && v.len() <= 128)
                .ok_or(AuthError::Malformed(name))
        };
        Ok(Signature {
            date: get(DATE_HEADER)?
                .parse()
                .map_err(|_| AuthError::Malformed(DATE_HEADER))?,
            nonce: get(NONCE_HEADER)?.to_owned(),
            body_hash: get(BODY_HEADER)?.to_owned(),
            mac: get(SIGNATURE_HEADER)?.to_owned(),
        })
    }

    /// Add the signature headers to a request.
    pub fn apply(&self, b: http::request::Builder) -> http::request::Builder {
        b.header(DATE_HEADER, self.date)
            .header(NONCE_HEADER, &self.nonce)
            .header(BODY_HEADER, &self.body_hash)
            .header(SIGNATURE_HEADER, &self.mac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_request_passes_once() {
        let s = Signer::new(b"secret");
        let sig = s.sign("PUT", "/v1/shard/a/b/0", b"body");
        assert_eq!(s.verify("PUT", "/v1/shard/a/b/0", &sig, b"body"), Ok(()));
        assert_eq!(
            s.verify("PUT", "/v1/shard/a/b/0", &sig, b"body"),
            Err(AuthError::Replayed)
        );
    }

    #[test]
    fn wrong_secret_path_body_or_time_fail() {
        let a = Signer::new(b"secret");
        let b = Signer::new(b"other");
        let sig = a.sign("GET", "/v1/shard/a/b/0", b"");
        assert_eq!(
            b.verify("GET", "/v1/shard/a/b/0", &sig, b""),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            a.verify("GET", "/v1/shard/a/b/1", &sig, b""),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            a.verify("DELETE", "/v1/shard/a/b/0", &sig, b""),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            a.verify("GET", "/v1/shard/a/b/0", &sig, b"x"),
            Err(AuthError::BodyMismatch)
        );
        let mut old = a.sign("GET", "/p", b"");
        old.date -= WINDOW_SECS + 5;
        assert_eq!(a.verify("GET", "/p", &old, b""), Err(AuthError::Expired));
    }
}
