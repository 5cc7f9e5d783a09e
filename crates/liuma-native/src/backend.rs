//! Backend credentials: named, scoped, revocable identities of business
//! backends, and the AWS SigV4 signatures they sign native API calls with.
//!
//! # Storage
//!
//! Every credential lives in one metadata setting ([`BACKENDS_SETTING`],
//! JSON, updated by compare-and-swap), so every node of a cluster reads
//! the same list on every request: a revocation takes effect at once.
//!
//! # The secret at rest
//!
//! SigV4 is an HMAC, so a verifier needs key material equivalent to the
//! secret; a plain password hash cannot verify it. liuma uses a property of
//! HMAC instead: a key longer than the hash's 64-byte block is replaced by
//! its SHA-256 before use, so `HMAC("AWS4" + secret, m)` equals
//! `HMAC(SHA-256("AWS4" + secret), m)`. Secrets are 64 random characters
//! (~380 bits), so `"AWS4" + secret` is 68 bytes, and the server stores
//! only `SHA-256("AWS4" + secret)` ([`Credential::key_sha256`]). The secret
//! itself is never stored, logged or shown twice; being high-entropy, it
//! cannot be recovered from the hash by guessing, so a plain SHA-256 (no
//! slow password hash) is enough. The stored hash does let its holder sign
//! requests, exactly as AWS's own stored secrets do: treat the metadata
//! store as secret, and revoke or rotate a credential if it leaks.
//!
//! # Signatures
//!
//! `Authorization: AWS4-HMAC-SHA256 Credential=ID/DATE/REGION/liuma/aws4_request,
//! SignedHeaders=...;host;...;x-amz-date, Signature=HEX`, with `x-amz-date`
//! within ±15 minutes of the server clock; the payload hash is the SHA-256
//! of the body (the server computes it). A signature is accepted once: each
//! node remembers the signatures it saw within the time window.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::http::HeaderMap;
use liuma_engine::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::now_ms;
use crate::error::{ApiError, Result};
use liuma_metrics::Metrics;

/// Name of the metadata setting holding every backend credential.
pub const BACKENDS_SETTING: &str = "native/backends";
/// SigV4 service name of the native API.
pub const SERVICE: &str = "liuma";
/// Allowed clock difference of a signed request, in seconds.
pub const MAX_SKEW_SECS: u64 = 15 * 60;
/// Length of a credential id ("LB" + 18 characters).
pub const ID_LEN: usize = 20;
/// Open chunk sessions a backend credential may hold when it sets no limit
/// (the `quota` module enforces it).
pub const DEFAULT_MAX_SESSIONS: u32 = 1000;
const SECRET_LEN: usize = 64;

/// What a backend credential may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Mint upload tokens (`GET /upload/token`).
    Upload,
    /// Mint download tokens (`GET /download/token`).
    Download,
    /// Finish chunked uploads (`GET /upload/finish`).
    Finish,
    /// File info and node status (`GET /file`, `GET /server/active`).
    Info,
    /// Delete files (`DELETE /file`).
    Delete,
    /// Rotate the legacy system token (`PUT /server/token`).
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 6] = [
        Scope::Upload,
        Scope::Download,
        Scope::Finish,
        Scope::Info,
        Scope::Delete,
        Scope::Admin,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Upload => "upload",
            Scope::Download => "download",
            Scope::Finish => "finish",
            Scope::Info => "info",
            Scope::Delete => "delete",
            Scope::Admin => "admin",
        }
    }

    /// Parse a name.
    pub fn parse(s: &str) -> Result<Scope> {
        Scope::ALL
            .into_iter()
            .find(|x| x.name() == s.trim())
            .ok_or(ApiError::InvalidArgument {
                what: "scopes are upload, download, finish, info, delete and admin",
            })
    }
}

/// One backend credential as stored (never with its secret).
#[derive(Clone, Serialize, Deserialize)]
pub struct Credential {
    /// Public id ("LB" + 18 characters), the SigV4 access key id.
    pub id: String,
    /// Name for humans.
    pub name: String,
    /// What it may do.
    pub scopes: BTreeSet<Scope>,
    /// The only bucket it may act on; None = any.
    pub bucket: Option<String>,
    /// Largest file it may mint an upload token for.
    pub max_size: Option<u64>,
    /// Expiry, ms since the epoch.
    pub expires_ms: Option<u64>,
    /// Requests per second allowed (per node); None = unlimited.
    pub rate_limit: Option<u32>,
    /// Creation, ms since the epoch.
    pub created_ms: u64,
    /// Revocation, ms since the epoch.
    pub revoked_ms: Option<u64>,
    /// Bumped by each rotation; tokens minted before carry an older one.
    pub generation: u32,
    /// Hex `SHA-256("AWS4" + secret)`: the SigV4 HMAC key (see module docs).
    pub key_sha256: String,
    /// Open chunk sessions its tokens may hold at once; None = the default
    /// ([`DEFAULT_MAX_SESSIONS`], 1000).
    #[serde(default)]
    pub max_sessions: Option<u32>,
    /// Bytes its open chunk sessions may hold together; None = unlimited.
    #[serde(default)]
    pub max_parked_bytes: Option<u64>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("bucket", &self.bucket)
            .field("revoked_ms", &self.revoked_ms)
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// The credential as the admin API shows it (no key material).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "scopes": self.scopes.iter().map(|s| s.name()).collect::<Vec<_>>(),
            "bucket": self.bucket,
            "max_size": self.max_size,
            "expires_ms": self.expires_ms,
            "rate_limit": self.rate_limit,
            "created_ms": self.created_ms,
            "revoked_ms": self.revoked_ms,
            "generation": self.generation,
            "max_sessions": self.max_sessions.unwrap_or(DEFAULT_MAX_SESSIONS),
            "max_parked_bytes": self.max_parked_bytes,
        })
    }

    /// Usable now (not revoked, not expired)?
    pub fn check_active(&self, now_ms: u64) -> Result<()> {
        if self.revoked_ms.is_some() {
            return Err(ApiError::CredentialRevoked);
        }
        if self.expires_ms.is_some_and(|e| now_ms >= e) {
            return Err(ApiError::CredentialExpired);
        }
        Ok(())
    }

    /// Does it hold `scope`, and may it act on `bucket`?
    pub fn check_allowed(&self, scope: Scope, bucket: &str) -> Result<()> {
        if !self.scopes.contains(&scope) {
            return Err(ApiError::MissingScope {
                scope: scope.name(),
            });
        }
        if self.bucket.as_deref().is_some_and(|b| b != bucket) {
            return Err(ApiError::BucketNotAllowed {
                bucket: bucket.to_owned(),
            });
        }
        Ok(())
    }
}

/// Every credential, by id, as stored in [`BACKENDS_SETTING`].
#[derive(Default, Serialize, Deserialize)]
struct Store {
    creds: BTreeMap<String, Credential>,
}

async fn load_store(engine: &Engine) -> Result<(Store, Option<u64>)> {
    match engine.get_setting(BACKENDS_SETTING).await? {
        None => Ok((Store::default(), None)),
        Some((raw, rev)) => {
            let store = serde_json::from_slice(&raw).map_err(|_| {
                ApiError::Engine(liuma_engine::Error::InvalidConfig(
                    "the backend credentials setting is corrupt",
                ))
            })?;
            Ok((store, Some(rev)))
        }
    }
}

/// Apply `f` to the stored credentials (compare-and-swap, retried).
async fn update<T>(engine: &Engine, mut f: impl FnMut(&mut Store) -> Result<T>) -> Result<T> {
    for _ in 0..16 {
        let (mut store, rev) = load_store(engine).await?;
        let out = f(&mut store)?;
        let value = serde_json::to_vec(&store).expect("credentials serialize");
        if engine.put_setting(BACKENDS_SETTING, &value, rev).await? {
            return Ok(out);
        }
    }
    Err(ApiError::Engine(liuma_engine::Error::Conflict {
        what: "the backend credentials (changed concurrently)".to_owned(),
    }))
}

/// A credential by id (None when unknown).
pub async fn get(engine: &Engine, id: &str) -> Result<Option<Credential>> {
    Ok(load_store(engine).await?.0.creds.remove(id))
}

/// Every credential, revoked ones included.
pub async fn list(engine: &Engine) -> Result<Vec<Credential>> {
    Ok(load_store(engine).await?.0.creds.into_values().collect())
}

/// What `create` needs.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NewCredential {
    /// Name for humans.
    pub name: String,
    /// Scopes; empty = upload, download, finish and info.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The only bucket it may act on.
    #[serde(default)]
    pub bucket: Option<String>,
    /// Largest file it may mint upload tokens for.
    #[serde(default)]
    pub max_size: Option<u64>,
    /// Expiry: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ` (UTC) or Unix seconds.
    #[serde(default)]
    pub expires: Option<String>,
    /// Requests per second (per node).
    #[serde(default)]
    pub rate_limit: Option<u32>,
    /// Open chunk sessions at once (default 1000).
    #[serde(default)]
    pub max_sessions: Option<u32>,
    /// Bytes held by its open chunk sessions together (default unlimited).
    #[serde(default)]
    pub max_parked_bytes: Option<u64>,
}

fn random_chars(len: usize, alphabet: &[u8]) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

fn new_secret() -> String {
    random_chars(
        SECRET_LEN,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    )
}

/// The stored form of a secret: hex `SHA-256("AWS4" + secret)`.
pub fn key_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(format!("AWS4{secret}").as_bytes()))
}

/// Create a credential; returns it and its secret (shown only now).
pub async fn create(engine: &Engine, req: &NewCredential) -> Result<(Credential, String)> {
    let name = req.name.trim();
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(ApiError::InvalidArgument {
            what: "name must be 1-128 printable characters",
        });
    }
    let mut scopes = BTreeSet::new();
    for s in req.scopes.iter().flat_map(|s| s.split(',')) {
        if !s.trim().is_empty() {
            scopes.insert(Scope::parse(s)?);
        }
    }
    if scopes.is_empty() {
        scopes.extend([Scope::Upload, Scope::Download, Scope::Finish, Scope::Info]);
    }
    if let Some(b) = &req.bucket {
        liuma_engine::validate_bucket_name(b)?;
    }
    if req.max_size == Some(0)
        || req.rate_limit == Some(0)
        || req.max_sessions == Some(0)
        || req.max_parked_bytes == Some(0)
    {
        return Err(ApiError::InvalidArgument {
            what: "max_size, rate_limit, max_sessions and max_parked_bytes must be at least 1",
        });
    }
    let expires_ms = req.expires.as_deref().map(parse_date_ms).transpose()?;
    let secret = new_secret();
    let cred = Credential {
        id: format!(
            "LB{}",
            random_chars(ID_LEN - 2, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        ),
        name: name.to_owned(),
        scopes,
        bucket: req.bucket.clone(),
        max_size: req.max_size,
        expires_ms,
        rate_limit: req.rate_limit,
        created_ms: now_ms(),
        revoked_ms: None,
        generation: 0,
        key_sha256: key_hash(&secret),
        max_sessions: req.max_sessions,
        max_parked_bytes: req.max_parked_bytes,
    };
    let stored = cred.clone();
    update(engine, move |s| {
        s.creds.insert(stored.id.clone(), stored.clone());
        Ok(())
    })
    .await?;
    tracing::info!(target: "audit", credential = %cred.id, name = %cred.name, operation = "credential-create", result = "ok");
    Ok((cred, secret))
}

/// Revoke a credential: its requests and every token it minted fail from now on.
pub async fn revoke(engine: &Engine, id: &str) -> Result<Credential> {
    let now = now_ms();
    let cred = update(engine, |s| {
        let c = s
            .creds
            .get_mut(id)
            .ok_or_else(|| ApiError::NoSuchCredential { id: id.to_owned() })?;
        c.revoked_ms.get_or_insert(now);
        Ok(c.clone())
    })
    .await?;
    tracing::info!(target: "audit", credential = %id, operation = "credential-revoke", result = "ok");
    Ok(cred)
}

/// Replace a credential's secret; tokens it minted before stop working.
pub async fn rotate(engine: &Engine, id: &str) -> Result<(Credential, String)> {
    let secret = new_secret();
    let hash = key_hash(&secret);
    let cred = update(engine, |s| {
        let c = s
            .creds
            .get_mut(id)
            .ok_or_else(|| ApiError::NoSuchCredential { id: id.to_owned() })?;
        if c.revoked_ms.is_some() {
            return Err(ApiError::CredentialRevoked);
        }
        c.key_sha256.clone_from(&hash);
        c.generation = c.generation.wrapping_add(1);
        Ok(c.clone())
    })
    .await?;
    tracing::info!(target: "audit", credential = %id, operation = "credential-rotate", result = "ok");
    Ok((cred, secret))
}

/// Parse `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ` (UTC) or Unix seconds into ms.
pub fn parse_date_ms(s: &str) -> Result<u64> {
    let bad = || ApiError::InvalidArgument {
        what: "expires must be YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or Unix seconds",
    };
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .ok()
            .and_then(|x| x.checked_mul(1000))
            .ok_or_else(bad);
    }
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z').ok_or_else(bad)?)),
        None => (s, None),
    };
    let num = |x: &str| x.parse::<i64>().map_err(|_| bad());
    let d: Vec<&str> = date.split('-').collect();
    let [y, m, dd] = d.as_slice() else {
        return Err(bad());
    };
    let (y, m, dd) = (num(y)?, num(m)?, num(dd)?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&dd) {
        return Err(bad());
    }
    let mut secs = liuma_sigv4::days_from_civil(y, m, dd) * 86_400;
    if let Some(t) = time {
        let p: Vec<&str> = t.split(':').collect();
        let [h, mi, se] = p.as_slice() else {
            return Err(bad());
        };
        let (h, mi, se) = (num(h)?, num(mi)?, num(se)?);
        if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..61).contains(&se) {
            return Err(bad());
        }
        secs += h * 3600 + mi * 60 + se;
    }
    u64::try_from(secs * 1000).map_err(|_| bad())
}

/// The parts of a request a signature covers.
pub struct SignedRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path as sent (still percent-encoded).
    pub path: &'a str,
    /// Query string as sent, if any.
    pub query: Option<&'a str>,
    /// Headers.
    pub headers: &'a HeaderMap,
    /// The body (empty for GET and DELETE).
    pub body: &'a [u8],
}

/// The parsed `Authorization` header of a SigV4 request.
#[derive(Debug, PartialEq, Eq)]
pub struct Authorization {
    /// Access key id.
    pub id: String,
    /// `YYYYMMDD` of the credential scope.
    pub date: String,
    /// Region of the credential scope.
    pub region: String,
    /// Service of the credential scope.
    pub service: String,
    /// Lower-case signed header names.
    pub signed_headers: Vec<String>,
    /// Hex signature.
    pub signature: String,
}

/// Is this a SigV4 request?
pub fn is_sigv4(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 "))
}

/// Parse `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
pub fn parse_authorization(v: &str) -> Result<Authorization> {
    let bad = |what| ApiError::MalformedAuthorization { what };
    let rest = v
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or(bad("the scheme must be AWS4-HMAC-SHA256"))?;
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(bad("malformed field"))?;
        match k {
            "Credential" => cred = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => sig = Some(v),
            _ => return Err(bad("unknown field")),
        }
    }
    let cred = cred.ok_or(bad("Credential is missing"))?;
    let p: Vec<&str> = cred.split('/').collect();
    let [id, date, region, service, "aws4_request"] = p.as_slice() else {
        return Err(bad(
            "Credential must be ID/DATE/REGION/SERVICE/aws4_request",
        ));
    };
    let signature = sig.ok_or(bad("Signature is missing"))?;
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("Signature must be 64 hex digits"));
    }
    Ok(Authorization {
        id: (*id).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers: signed
            .ok_or(bad("SignedHeaders is missing"))?
            .split(';')
            .map(str::to_ascii_lowercase)
            .collect(),
        signature: signature.to_ascii_lowercase(),
    })
}

/// The SigV4 canonical request ([`liuma_sigv4`]), from the headers the
/// client says it signed.
fn canonical_request(req: &SignedRequest<'_>, auth: &Authorization) -> Result<String> {
    let mut headers: Vec<(&str, String)> = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        let values: Vec<String> = req
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        if values.is_empty() {
            return Err(ApiError::MalformedAuthorization {
                what: "a signed header is missing",
            });
        }
        headers.push((name.as_str(), values.join(",")));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    Ok(liuma_sigv4::canonical_request(
        req.method,
        &liuma_sigv4::encode_path(req.path),
        &liuma_sigv4::canonical_query(req.query.unwrap_or("")),
        &headers,
        &liuma_sigv4::sha256_hex(req.body),
    ))
}

/// Verify a SigV4 signature against the stored key hash of `cred`, and
/// the date, region and service of its scope. Returns the request time.
pub fn verify(
    req: &SignedRequest<'_>,
    auth: &Authorization,
    cred: &Credential,
    region: &str,
    now_secs: u64,
) -> Result<u64> {
    let amz_date = req
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::MalformedAuthorization {
            what: "x-amz-date is required",
        })?;
    let at = liuma_sigv4::parse_amz_date(amz_date).ok_or(ApiError::MalformedAuthorization {
        what: "x-amz-date must be YYYYMMDDTHHMMSSZ",
    })?;
    if !auth.signed_headers.iter().any(|h| h == "host")
        || !auth.signed_headers.iter().any(|h| h == "x-amz-date")
    {
        return Err(ApiError::MalformedAuthorization {
            what: "host and x-amz-date must be signed",
        });
    }
    if !amz_date.starts_with(&auth.date) || auth.date.len() != 8 {
        return Err(ApiError::MalformedAuthorization {
            what: "the credential date must be the day of x-amz-date",
        });
    }
    if auth.region != region || auth.service != SERVICE {
        return Err(ApiError::MalformedAuthorization {
            what: "the credential scope must name this server's region and service `liuma`",
        });
    }
    if at.abs_diff(now_secs) > MAX_SKEW_SECS {
        return Err(ApiError::RequestTimeTooSkewed);
    }
    let key = hex::decode(&cred.key_sha256).map_err(|_| {
        ApiError::Engine(liuma_engine::Error::InvalidConfig(
            "a backend credential is corrupt",
        ))
    })?;
    let scope = liuma_sigv4::scope(&auth.date, &auth.region, &auth.service);
    let creq = canonical_request(req, auth)?;
    let to_sign = liuma_sigv4::string_to_sign(amz_date, &scope, &creq);
    // `key` is SHA-256("AWS4" + secret), which HMAC uses in place of the
    // over-long key "AWS4" + secret (see module docs).
    let k_signing = liuma_sigv4::signing_key(&key, &auth.date, &auth.region, &auth.service);
    let expected = liuma_sigv4::signature(&k_signing, &to_sign);
    if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        Ok(at)
    } else {
        Err(ApiError::SignatureDoesNotMatch)
    }
}

/// Per-node state of backend authentication: signatures seen (replay
/// protection), rate limiters, and the metrics registry.
#[derive(Default)]
pub struct Guard {
    seen: Mutex<HashMap<String, u64>>,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
    metrics: OnceLock<Arc<Metrics>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Guard")
    }
}

impl Guard {
    /// Count per credential in this registry (set once by the router).
    pub fn set_metrics(&self, metrics: Arc<Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    /// Remember a signature made at `at`; refuse one seen before.
    pub fn check_replay(&self, signature: &str, at: u64, now: u64) -> Result<()> {
        let mut seen = self.seen.lock().expect("replay cache lock");
        if seen.len() >= 4096 {
            seen.retain(|_, t| t.abs_diff(now) <= MAX_SKEW_SECS);
        }
        if seen.insert(signature.to_owned(), at).is_some() {
            return Err(ApiError::ReplayedRequest);
        }
        Ok(())
    }

    /// Take one request from the credential's token bucket (`rate` per second).
    pub fn check_rate(&self, id: &str, rate: Option<u32>) -> Result<()> {
        let Some(rate) = rate else { return Ok(()) };
        let rate = f64::from(rate);
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        let now = Instant::now();
        let (tokens, last) = buckets.entry(id.to_owned()).or_insert((rate, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(ApiError::RateLimited)
        }
    }

    /// Count one backend or token request of `credential` with `result`.
    pub fn count(&self, credential: &str, kind: &str, result: &str) {
        if let Some(m) = self.metrics.get() {
            m.count_backend(credential, kind, result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_hmac_keys_are_hashed() {
        let secret = new_secret();
        let long = format!("AWS4{secret}");
        assert!(long.len() > 64);
        let short = hex::decode(key_hash(&secret)).unwrap();
        assert_eq!(
            liuma_sigv4::hmac_sha256(long.as_bytes(), b"x"),
            liuma_sigv4::hmac_sha256(&short, b"x")
        );
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date_ms("1970-01-02").unwrap(), 86_400_000);
        assert_eq!(
            parse_date_ms("2024-03-01T00:00:10Z").unwrap(),
            1_709_251_210_000
        );
        assert_eq!(parse_date_ms("1700000000").unwrap(), 1_700_000_000_000);
        for bad in [
            "",
            "2024-13-01",
            "x",
            "2024-01-01T25:00:00Z",
            "2024-01-01T00:00:00",
        ] {
            assert!(parse_date_ms(bad).is_err(), "{bad}");
        }
    }

    /// The AWS SigV4 test suite's `get-vanilla-query-order-key-case`.
    #[test]
    fn aws_test_vector() {
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let mut headers = HeaderMap::new();
        headers.insert("host", "example.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let req = SignedRequest {
            method: "GET",
            path: "/",
            query: Some("Param2=value2&Param1=value1"),
            headers: &headers,
            body: b"",
        };
        let auth = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        )
        .unwrap();
        let creq = canonical_request(&req, &auth).unwrap();
        assert!(creq.contains("\nParam1=value1&Param2=value2\n"));
        // The short test secret is not hashed by HMAC, so sign with it directly.
        let sig = liuma_sigv4::sign(
            format!("AWS4{secret}").as_bytes(),
            "20150830T123600Z",
            "us-east-1",
            "service",
            &creq,
        );
        assert_eq!(sig, auth.signature);
    }

    #[test]
    fn replay_and_rate() {
        let g = Guard::default();
        g.check_replay("a", 100, 100).unwrap();
        assert!(matches!(
            g.check_replay("a", 100, 100),
            Err(ApiError::ReplayedRequest)
        ));
        g.check_rate("c", None).unwrap();
        g.check_rate("c", Some(1)).unwrap();
        assert!(matches!(
            g.check_rate("c", Some(1)),
            Err(ApiError::RateLimited)
        ));
    }
}
