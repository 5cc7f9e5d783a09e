//! Sealing of the S3 secret keys kept in the metadata store.
//!
//! SigV4 verifies a signature by recomputing it, so the server needs the
//! secret itself: a one-way hash cannot be stored. What a leaked metadata
//! store (a copied redb file, an etcd backup or snapshot) must not give away
//! is therefore protected with an AEAD under a key that lives outside the
//! store (the server derives it from the cluster secret in `secrets/`, so
//! every node of a cluster opens what any node sealed).
//!
//! # Format of a sealed secret (the `sealed` field of an `ak/<id>` record)
//!
//! | bytes | content |
//! |---|---|
//! | 1 | format version, [`SEAL_VERSION`] = 1 |
//! | 12 | random nonce |
//! | n + 16 | ChaCha20-Poly1305 ciphertext of the secret's UTF-8 bytes, then the tag |
//!
//! The associated data is `"liuma ak v1\0"` followed by the access key id:
//! a sealed secret copied into another key's record does not open.
//! Random 96-bit nonces are safe here: a store holds far fewer than the
//! 2^32 sealings after which a nonce collision becomes plausible.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// Format version byte of a sealed secret.
pub const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const AAD_PREFIX: &[u8] = b"liuma ak v1\0";

/// A 256-bit key sealing secrets at rest. `Debug` never shows it.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl SealKey {
    /// A key from 32 bytes (the server derives them from the cluster secret).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SealKey(bytes)
    }
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

/// Why a stored secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Written by a newer liuma.
    #[error("the sealed secret of access key {id} has unknown format version {version}")]
    UnknownVersion {
        /// Access key id.
        id: String,
        /// The version byte found.
        version: u8,
    },
    /// Shorter than version, nonce and tag.
    #[error("the sealed secret of access key {id} is truncated")]
    Truncated {
        /// Access key id.
        id: String,
    },
    /// Authentication failed: another sealing key, or altered bytes.
    #[error(
        "the sealed secret of access key {id} does not open with this node's key \
         (is secrets/cluster.secret the same on every node?)"
    )]
    WrongKey {
        /// Access key id.
        id: String,
    },
    /// The record is sealed but this engine has no sealing key.
    #[error("access key {id} has a sealed secret but no sealing key is configured")]
    NoKey {
        /// Access key id.
        id: String,
    },
    /// The record has neither a plain nor a sealed secret.
    #[error("the record of access key {id} holds no secret")]
    Missing {
        /// Access key id.
        id: String,
    },
    /// Opened, but not text (never written by liuma).
    #[error("the opened secret of access key {id} is not UTF-8")]
    NotUtf8 {
        /// Access key id.
        id: String,
    },
}

fn aad(id: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(AAD_PREFIX.len() + id.len());
    v.extend_from_slice(AAD_PREFIX);
    v.extend_from_slice(id.as_bytes());
    v
}

/// Seal the secret of access key `id`.
pub(crate) fn seal(key: &SealKey, id: &str, secret: &str) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&key.0));
    let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
    let aad = aad(id);
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: secret.as_bytes(),
                aad: &aad,
            },
        )
        .expect("ChaCha20-Poly1305 encrypts any message shorter than 256 GiB");
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(SEAL_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Open the sealed secret of access key `id`.
pub(crate) fn open(key: &SealKey, id: &str, sealed: &[u8]) -> Result<String, SealError> {
    let Some((&version, rest)) = sealed.split_first() else {
        return Err(SealError::Truncated { id: id.to_owned() });
    };
    if version != SEAL_VERSION {
        return Err(SealError::UnknownVersion {
            id: id.to_owned(),
            version,
        });
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(SealError::Truncated { id: id.to_owned() });
    }
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&key.0));
    let aad = aad(id);
    let plain = cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
        .map_err(|_| SealError::WrongKey { id: id.to_owned() })?;
    String::from_utf8(plain).map_err(|_| SealError::NotUtf8 { id: id.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let k = SealKey::from_bytes([7; 32]);
        let s = seal(&k, "LMAAA", "wJalrXUtnFEMI/K7MDENG");
        assert_eq!(s[0], SEAL_VERSION);
        assert!(
            !s.windows(5).any(|w| w == b"wJalr"),
            "ciphertext must not contain the plain text"
        );
        assert_eq!(open(&k, "LMAAA", &s).unwrap(), "wJalrXUtnFEMI/K7MDENG");
        // Another id (record swapped), another key, altered bytes: refused.
        assert!(matches!(
            open(&k, "LMBBB", &s),
            Err(SealError::WrongKey { .. })
        ));
        let other = SealKey::from_bytes([8; 32]);
        assert!(matches!(
            open(&other, "LMAAA", &s),
            Err(SealError::WrongKey { .. })
        ));
        let mut bad = s.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(
            open(&k, "LMAAA", &bad),
            Err(SealError::WrongKey { .. })
        ));
        assert!(matches!(
            open(&k, "LMAAA", &s[..10]),
            Err(SealError::Truncated { .. })
        ));
        let mut v2 = s;
        v2[0] = 2;
        assert!(matches!(
            open(&k, "LMAAA", &v2),
            Err(SealError::UnknownVersion { version: 2, .. })
        ));
        assert_eq!(format!("{k:?}"), "SealKey(..)");
    }
}
