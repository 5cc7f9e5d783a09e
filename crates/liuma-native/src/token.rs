//! Temporary tokens and the system token.
//!
//! # Token format (version 1)
//!
//! A token is the unpadded base64url encoding of 130 bytes (version 2;
//! version 1 tokens, 106 bytes without the minter fields, are still read):
//!
//! ```text
//! offset size  field
//!      0    1  format version = 1
//!      1    1  operation: 1 = upload, 2 = download
//!      2   32  SHA-256 of the file the token is bound to
//!     34    8  issued at, seconds since the Unix epoch, big endian
//!     42    8  expires at, seconds since the Unix epoch, big endian
//!     50    8  maximum file size in bytes, big endian; u64::MAX = no limit
//!     58   16  random unique id
//!     74   20  id of the backend credential that minted it; zeros = systemToken
//!     94    4  that credential's generation (bumped by rotation), big endian
//!     98   32  HMAC-SHA256 of bytes 0..98 under the signing key
//! ```
//!
//! A download token bound to one version of the file (version 3, 143
//! bytes) has 13 more bytes before the MAC, which then covers 0..111:
//!
//! ```text
//!     98    1  1 = a version id follows, 2 = the "null" version
//!     99   12  the version id (24 hex digits) as bytes; zeros for "null"
//!    111   32  HMAC-SHA256 of bytes 0..111
//! ```
//!
//! The MAC is compared in constant time. The signing key (32 random bytes)
//! and the SHA-256 of the system token live together in one metadata
//! setting ([`AUTH_SETTING`]), so every node of a cluster agrees on them;
//! rotating the system token also replaces the signing key, which
//! invalidates every token issued before.

use hmac::{Hmac, Mac};
use liuma_engine::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::now_ms;
use crate::error::{ApiError, Result};

/// Name of the metadata setting holding [`AuthState`].
pub const AUTH_SETTING: &str = "native/auth";
/// Format version written into every token.
pub const TOKEN_VERSION: u8 = 2;
const V1_BODY_LEN: usize = 74;
const BODY_LEN: usize = V1_BODY_LEN + crate::backend::ID_LEN + 4;
const TOKEN_LEN: usize = BODY_LEN + 32;
/// Format version of tokens bound to a version of the file.
pub const VERSIONED_TOKEN_VERSION: u8 = 3;
const V3_BODY_LEN: usize = BODY_LEN + 13;
/// Shortest and longest accepted system token.
pub const SYSTEM_TOKEN_LEN: std::ops::RangeInclusive<usize> = 16..=256;

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Upload the content with the token's hash (single, chunks, finish, tus).
    Upload,
    /// Download the content with the token's hash.
    Download,
}

impl Operation {
    fn byte(self) -> u8 {
        match self {
            Operation::Upload => 1,
            Operation::Download => 2,
        }
    }

    /// Lower-case name, as in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Upload => "upload",
            Operation::Download => "download",
        }
    }
}

/// The signed content of a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// What it allows.
    pub op: Operation,
    /// The file it is bound to.
    pub sha256: [u8; 32],
    /// Issue time, s since the epoch.
    pub issued: u64,
    /// Expiry, s since the epoch.
    pub expires: u64,
    /// Largest file the token may upload.
    pub max_size: Option<u64>,
    /// Random id (tokens issued in the same second differ).
    pub id: [u8; 16],
    /// The backend credential that minted it and its generation; None = systemToken.
    pub minter: Option<(String, u32)>,
    /// The version of the file a download token is bound to (None: the
    /// current one, or any named by `?version=`).
    pub version: Option<String>,
}

/// A version id as the 13 bytes of a version 3 token.
fn encode_version(v: &str) -> Result<[u8; 13]> {
    let mut out = [0u8; 13];
    if v == "null" {
        out[0] = 2;
        return Ok(out);
    }
    let raw = hex::decode(v).map_err(|_| ApiError::InvalidArgument {
        what: "version must be a version id of the file",
    })?;
    if raw.len() != 12 {
        return Err(ApiError::InvalidArgument {
            what: "version must be a version id of the file",
        });
    }
    out[0] = 1;
    out[1..].copy_from_slice(&raw);
    Ok(out)
}

fn decode_version(b: &[u8]) -> Result<String> {
    match b.first() {
        Some(1) => Ok(hex::encode(&b[1..])),
        Some(2) => Ok("null".to_owned()),
        _ => Err(ApiError::InvalidToken),
    }
}

/// The native API's shared secrets, as stored in the metadata setting.
#[derive(Clone, Serialize, Deserialize)]
pub struct AuthState {
    /// Hex SHA-256 of the current system token.
    pub system_token_sha256: String,
    /// Hex HMAC key that signs temporary tokens.
    pub signing_key: String,
    /// Last rotation, ms since the epoch (0 = seeded at first start).
    pub rotated_ms: u64,
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthState")
            .field("rotated_ms", &self.rotated_ms)
            .finish_non_exhaustive()
    }
}

impl AuthState {
    fn new(system_token: &str, rotated_ms: u64) -> AuthState {
        AuthState {
            system_token_sha256: hex::encode(Sha256::digest(system_token.as_bytes())),
            signing_key: hex::encode(rand::random::<[u8; 32]>()),
            rotated_ms,
        }
    }

    fn key(&self) -> Result<Vec<u8>> {
        hex::decode(&self.signing_key).map_err(|_| corrupt())
    }

    /// Constant-time check of a system token.
    pub fn check_system_token(&self, sent: &str) -> Result<()> {
        let sent = Sha256::digest(sent.as_bytes());
        let stored = hex::decode(&self.system_token_sha256).map_err(|_| corrupt())?;
        if bool::from(sent.as_slice().ct_eq(&stored)) {
            Ok(())
        } else {
            Err(ApiError::InvalidSystemToken)
        }
    }

    /// Sign `claims` into a token string.
    pub fn issue(&self, claims: &Claims) -> Result<String> {
        let mut buf = Vec::with_capacity(TOKEN_LEN);
        buf.push(TOKEN_VERSION);
        buf.push(claims.op.byte());
        buf.extend_from_slice(&claims.sha256);
        buf.extend_from_slice(&claims.issued.to_be_bytes());
        buf.extend_from_slice(&claims.expires.to_be_bytes());
        buf.extend_from_slice(&claims.max_size.unwrap_or(u64::MAX).to_be_bytes());
        buf.extend_from_slice(&claims.id);
        let mut minter = [0u8; crate::backend::ID_LEN];
        let mut generation = 0u32;
        if let Some((id, g)) = &claims.minter {
            if id.len() != minter.len() {
                return Err(ApiError::UnknownCredential);
            }
            minter.copy_from_slice(id.as_bytes());
            generation = *g;
        }
        buf.extend_from_slice(&minter);
        buf.extend_from_slice(&generation.to_be_bytes());
        if let Some(v) = &claims.version {
            buf[0] = VERSIONED_TOKEN_VERSION;
            buf.extend_from_slice(&encode_version(v)?);
        }
        let mac = self.mac(&buf)?;
        buf.extend_from_slice(&mac);
        Ok(base64_simd::URL_SAFE_NO_PAD.encode_to_string(&buf))
    }

    /// Check a token's MAC, version, operation and expiry; return its claims.
    pub fn verify(&self, token: &str, op: Operation, now: u64) -> Result<Claims> {
        let raw = base64_simd::URL_SAFE_NO_PAD
            .decode_to_vec(token.trim().as_bytes())
            .map_err(|_| ApiError::InvalidToken)?;
        let body_len = match raw.len() {
            TOKEN_LEN => BODY_LEN,
            l if l == V3_BODY_LEN + 32 => V3_BODY_LEN,
            l if l == V1_BODY_LEN + 32 => V1_BODY_LEN,
            _ => return Err(ApiError::InvalidToken),
        };
        let (body, mac) = raw.split_at(body_len);
        if !bool::from(self.mac(body)?.as_slice().ct_eq(mac)) {
            return Err(ApiError::InvalidToken);
        }
        let u64_at =
            |at: usize| u64::from_be_bytes(body[at..at + 8].try_into().expect("8 bytes in range"));
        let claims = Claims {
            op: match body[1] {
                1 => Operation::Upload,
                2 => Operation::Download,
                _ => return Err(ApiError::InvalidToken),
            },
            sha256: body[2..34].try_into().expect("32 bytes in range"),
            issued: u64_at(34),
            expires: u64_at(42),
            max_size: Some(u64_at(50)).filter(|&m| m != u64::MAX),
            id: body[58..74].try_into().expect("16 bytes in range"),
            minter: match body.get(V1_BODY_LEN..BODY_LEN - 4) {
                Some(m) if m.iter().any(|&b| b != 0) => Some((
                    String::from_utf8(m.to_vec()).map_err(|_| ApiError::InvalidToken)?,
                    u32::from_be_bytes(
                        body[BODY_LEN - 4..BODY_LEN]
                            .try_into()
                            .expect("4 bytes in range"),
                    ),
                )),
                _ => None,
            },
            version: match body.get(BODY_LEN..V3_BODY_LEN) {
                Some(v) => Some(decode_version(v)?),
                None => None,
            },
        };
        let version_ok = match body_len {
            BODY_LEN => body[0] == TOKEN_VERSION,
            V3_BODY_LEN => body[0] == VERSIONED_TOKEN_VERSION,
            _ => body[0] == 1,
        };
        if !version_ok {
            return Err(ApiError::InvalidToken);
        }
        if claims.op != op {
            return Err(ApiError::WrongTokenOperation {
                expected: op.name(),
            });
        }
        if now >= claims.expires {
            return Err(ApiError::ExpiredToken {
                ago_secs: now - claims.expires,
            });
        }
        Ok(claims)
    }

    fn mac(&self, data: &[u8]) -> Result<[u8; 32]> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key()?).expect("HMAC accepts keys of any length");
        mac.update(data);
        Ok(mac.finalize().into_bytes().into())
    }
}

fn corrupt() -> ApiError {
    ApiError::Engine(liuma_engine::Error::InvalidConfig(
        "the native auth setting is corrupt",
    ))
}

/// Read the shared auth state from the metadata store.
pub async fn load(engine: &Engine) -> Result<(AuthState, u64)> {
    let Some((raw, rev)) = engine.get_setting(AUTH_SETTING).await? else {
        return Err(corrupt());
    };
    let state: AuthState = serde_json::from_slice(&raw).map_err(|_| corrupt())?;
    Ok((state, rev))
}

/// Seed the auth state from the system token generated at first start,
/// unless it exists already (another node or an earlier start did it).
pub async fn seed(engine: &Engine, initial_system_token: &str) -> Result<()> {
    if engine.get_setting(AUTH_SETTING).await?.is_some() {
        return Ok(());
    }
    let state = AuthState::new(initial_system_token, 0);
    let value = serde_json::to_vec(&state).expect("AuthState serializes");
    // False: another node seeded it first, which is as good.
    engine.put_setting(AUTH_SETTING, &value, None).await?;
    Ok(())
}

/// Replace the system token and the signing key (compare-and-swap on the
/// revision the caller authenticated against, so two racing rotations
/// cannot both think they won).
pub async fn rotate(engine: &Engine, expected_rev: u64, new_system_token: &str) -> Result<()> {
    let state = AuthState::new(new_system_token, now_ms());
    let value = serde_json::to_vec(&state).expect("AuthState serializes");
    if engine
        .put_setting(AUTH_SETTING, &value, Some(expected_rev))
        .await?
    {
        Ok(())
    } else {
        Err(ApiError::Engine(liuma_engine::Error::Conflict {
            what: "the system token (rotated concurrently)".to_owned(),
        }))
    }
}

/// Check a proposed system token: printable ASCII, no spaces, 16-256 bytes.
pub fn validate_system_token(t: &str) -> Result<()> {
    // Quotes, braces and backslashes are refused: a token holding them is
    // almost surely a JSON or quoted body taken for the token itself.
    let allowed = |b: u8| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'{' | b'}' | b'\\');
    if !SYSTEM_TOKEN_LEN.contains(&t.len()) || !t.bytes().all(allowed) {
        return Err(ApiError::InvalidArgument {
            what: "the new system token must be 16-256 printable ASCII characters without spaces, quotes, braces or backslashes",
        });
    }
    Ok(())
}

/// Parse a hash parameter: 64 hex digits (either case).
pub fn parse_hash(h: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    if h.len() != 64 {
        return Err(ApiError::InvalidHash);
    }
    hex::decode_to_slice(h, &mut out).map_err(|_| ApiError::InvalidHash)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(op: Operation) -> Claims {
        Claims {
            op,
            sha256: [7; 32],
            issued: 1000,
            expires: 2000,
            max_size: Some(42),
            id: [1; 16],
            minter: Some(("LB000000000000000001".to_owned(), 3)),
            version: None,
        }
    }

    #[test]
    fn version_bound_tokens() {
        let auth = AuthState::new("system-token-0123456789", 0);
        for v in ["fffffe5de198f9e3644dd772", "null"] {
            let c = Claims {
                version: Some(v.to_owned()),
                ..claims(Operation::Download)
            };
            let t = auth.issue(&c).unwrap();
            assert_eq!(t.len(), 191);
            assert_eq!(auth.verify(&t, Operation::Download, 1500).unwrap(), c);
            // the version is under the MAC
            let mut raw = base64_simd::URL_SAFE_NO_PAD
                .decode_to_vec(t.as_bytes())
                .unwrap();
            raw[105] ^= 1;
            let bad = base64_simd::URL_SAFE_NO_PAD.encode_to_string(&raw);
            assert!(matches!(
                auth.verify(&bad, Operation::Download, 1500),
                Err(ApiError::InvalidToken)
            ));
        }
        let c = Claims {
            version: Some("xyz".to_owned()),
            ..claims(Operation::Download)
        };
        assert!(auth.issue(&c).is_err());
    }

    #[test]
    fn round_trip_and_rejections() {
        let auth = AuthState::new("system-token-0123456789", 0);
        let t = auth.issue(&claims(Operation::Upload)).unwrap();
        assert_eq!(
            auth.verify(&t, Operation::Upload, 1500).unwrap(),
            claims(Operation::Upload)
        );
        assert!(matches!(
            auth.verify(&t, Operation::Download, 1500),
            Err(ApiError::WrongTokenOperation { .. })
        ));
        assert!(matches!(
            auth.verify(&t, Operation::Upload, 2000),
            Err(ApiError::ExpiredToken { .. })
        ));
        // flip one bit anywhere: invalid
        let mut raw = base64_simd::URL_SAFE_NO_PAD
            .decode_to_vec(t.as_bytes())
            .unwrap();
        for i in [0, 1, 5, 40, 60, 80, 100, 129] {
            raw[i] ^= 1;
            let bad = base64_simd::URL_SAFE_NO_PAD.encode_to_string(&raw);
            assert!(
                matches!(
                    auth.verify(&bad, Operation::Upload, 1500),
                    Err(ApiError::InvalidToken)
                ),
                "byte {i}"
            );
            raw[i] ^= 1;
        }
        // another key (after rotation): invalid
        let other = AuthState::new("system-token-0123456789", 1);
        assert!(matches!(
            other.verify(&t, Operation::Upload, 1500),
            Err(ApiError::InvalidToken)
        ));
        assert!(matches!(
            auth.verify("not base64 !", Operation::Upload, 1500),
            Err(ApiError::InvalidToken)
        ));
    }

    #[test]
    fn system_token_checks() {
        let auth = AuthState::new("system-token-0123456789", 0);
        assert!(auth.check_system_token("system-token-0123456789").is_ok());
        assert!(auth.check_system_token("system-token-012345678").is_err());
        assert!(auth.check_system_token("").is_err());
        assert!(validate_system_token("short").is_err());
        assert!(validate_system_token("has a space in it, long enough").is_err());
        assert!(validate_system_token("0123456789abcdef").is_ok());
        assert!(format!("{auth:?}").find(&auth.signing_key).is_none());
    }
}
