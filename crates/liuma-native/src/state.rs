//! What every native handler shares ([`NativeState`]) and the request
//! parts they extract: who made a backend call ([`Caller`], authenticated
//! by SigV4 with a backend credential or by the legacy system token), the
//! temporary token of a browser call, and the query parameters.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, Method, Uri, header};
use liuma_engine::Engine;

use crate::backend::{self, Credential, Guard, Scope};
use crate::clock::{now_ms, now_secs};
use crate::config::NativeConfig;
use crate::error::{ApiError, Result};
use crate::token::{self, AuthState, Claims, Operation};

/// What the native handlers share.
#[derive(Clone)]
pub struct NativeState {
    /// The engine.
    pub engine: Engine,
    /// Settings.
    pub cfg: Arc<NativeConfig>,
    /// This node's native API address (reported by `/server/active`).
    pub addr: SocketAddr,
    /// Replay cache and rate limiters of backend credentials (per node).
    pub guard: Arc<Guard>,
}

/// Who made a backend call.
#[derive(Clone, Debug)]
pub enum Caller {
    /// The legacy shared system token: every scope.
    System,
    /// A backend credential (verified, active, holding the scope).
    Credential(Box<Credential>),
}

impl Caller {
    /// Credential id, or "system".
    pub fn id(&self) -> &str {
        match self {
            Caller::System => "system",
            Caller::Credential(c) => &c.id,
        }
    }

    /// What goes into the tokens it mints.
    pub(crate) fn minter(&self) -> Option<(String, u32)> {
        match self {
            Caller::System => None,
            Caller::Credential(c) => Some((c.id.clone(), c.generation)),
        }
    }

    /// Its upload size limit.
    pub(crate) fn max_size(&self) -> Option<u64> {
        match self {
            Caller::System => None,
            Caller::Credential(c) => c.max_size,
        }
    }
}

/// The request parts backend authentication reads (method, URI, headers).
pub struct BackendReq {
    method: Method,
    uri: Uri,
    pub(crate) headers: HeaderMap,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for BackendReq {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self> {
        Ok(BackendReq::of(parts))
    }
}

impl BackendReq {
    pub(crate) fn of(parts: &axum::http::request::Parts) -> BackendReq {
        BackendReq {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        }
    }

    /// The `hash` query parameter as sent (for the audit log).
    fn hash(&self) -> String {
        self.uri
            .query()
            .unwrap_or("")
            .split('&')
            .find_map(|p| p.strip_prefix("hash="))
            .unwrap_or("-")
            .chars()
            .take(64)
            .collect()
    }
}

impl NativeState {
    /// Authenticate a backend call (SigV4 with a backend credential, or the
    /// legacy `systemToken`) that needs `scope`; audit and count it.
    /// Returns the caller, the auth state and its revision.
    pub(crate) async fn backend(
        &self,
        req: &BackendReq,
        body: &[u8],
        scope: Scope,
    ) -> Result<(Caller, AuthState, u64)> {
        let claimed = if req.headers.contains_key("systemToken") {
            "system".to_owned()
        } else {
            req.headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| backend::parse_authorization(v).ok())
                .map_or_else(|| "anonymous".to_owned(), |a| a.id)
        };
        let r = self.backend_auth(req, body, scope).await;
        let result = match &r {
            Ok(_) => "ok",
            Err(e) => e.status_and_code().1,
        };
        tracing::info!(
            target: "audit",
            credential = %claimed,
            operation = scope.name(),
            method = %req.method,
            path = req.uri.path(),
            hash = %req.hash(),
            result,
            "backend call"
        );
        // An id no credential has is client input: not a metrics label.
        let label = match &r {
            Err(ApiError::UnknownCredential | ApiError::MalformedAuthorization { .. }) => "unknown",
            _ => claimed.as_str(),
        };
        self.guard.count(label, "backend", result);
        r
    }

    async fn backend_auth(
        &self,
        req: &BackendReq,
        body: &[u8],
        scope: Scope,
    ) -> Result<(Caller, AuthState, u64)> {
        if req.headers.contains_key("systemToken") || !backend::is_sigv4(&req.headers) {
            let (auth, rev) = self.system(&req.headers).await?;
            return Ok((Caller::System, auth, rev));
        }
        let header = req
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let authz = backend::parse_authorization(header)?;
        let cred = backend::get(&self.engine, &authz.id)
            .await?
            .ok_or(ApiError::UnknownCredential)?;
        cred.check_active(now_ms())?;
        let signed = backend::SignedRequest {
            method: req.method.as_str(),
            path: req.uri.path(),
            query: req.uri.query(),
            headers: &req.headers,
            body,
        };
        let now = now_secs();
        let at = backend::verify(&signed, &authz, &cred, &self.cfg.region, now)?;
        self.guard.check_replay(&authz.signature, at, now)?;
        cred.check_allowed(scope, self.bucket())?;
        self.guard.check_rate(&cred.id, cred.rate_limit)?;
        let (auth, rev) = token::load(&self.engine).await?;
        Ok((Caller::Credential(Box::new(cred)), auth, rev))
    }

    /// Check the `systemToken` header; returns the auth state and its revision.
    async fn system(&self, headers: &HeaderMap) -> Result<(AuthState, u64)> {
        let sent = headers
            .get("systemToken")
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::InvalidSystemToken)?;
        let (auth, rev) = token::load(&self.engine).await?;
        auth.check_system_token(sent)?;
        Ok((auth, rev))
    }

    /// Check the temporary token (header `token`, else `query_token`) for `op`.
    pub(crate) async fn token(
        &self,
        headers: &HeaderMap,
        query_token: Option<&str>,
        op: Operation,
    ) -> Result<Claims> {
        let sent = headers
            .get("token")
            .and_then(|v| v.to_str().ok())
            .or(query_token)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::MissingToken)?;
        let r = self.verify_token(sent, op).await;
        let minter = match &r {
            Ok(c) => c.minter.as_ref().map_or("system", |m| m.0.as_str()),
            Err(_) => "unknown",
        };
        let result = match &r {
            Ok(_) => "ok",
            Err(e) => e.status_and_code().1,
        };
        tracing::info!(
            target: "audit",
            credential = minter,
            operation = op.name(),
            hash = %r.as_ref().map(|c| hex::encode(c.sha256)).unwrap_or_else(|_| "-".to_owned()),
            result,
            "token use"
        );
        self.guard.count(minter, "token", result);
        r
    }

    /// Verify a token; one minted by a backend credential needs that
    /// credential active and not rotated since.
    async fn verify_token(&self, sent: &str, op: Operation) -> Result<Claims> {
        let (auth, _) = token::load(&self.engine).await?;
        let claims = auth.verify(sent, op, now_secs())?;
        if let Some((id, generation)) = &claims.minter {
            let cred = backend::get(&self.engine, id)
                .await?
                .ok_or(ApiError::CredentialRevoked)?;
            cred.check_active(now_ms())?;
            if cred.generation != *generation {
                return Err(ApiError::InvalidToken);
            }
        }
        Ok(claims)
    }

    pub(crate) fn bucket(&self) -> &str {
        &self.cfg.bucket
    }
}

/// Query parameters, with a malformed query string as a native error.
pub struct Params(pub std::collections::HashMap<String, String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self> {
        parse_query(parts.uri.query().unwrap_or("")).map(Params)
    }
}

/// Decode a query string (`+` is a space, `%XX` a byte) strictly: a value
/// whose bytes are not UTF-8 is refused, never replaced by U+FFFD (a file
/// name stored lossily cannot be asked for again). The last of repeated
/// names wins.
fn parse_query(query: &str) -> Result<std::collections::HashMap<String, String>> {
    let decode = |s: &str| {
        let plus = s.replace('+', " ");
        percent_encoding::percent_decode_str(&plus)
            .decode_utf8()
            .map(std::borrow::Cow::into_owned)
    };
    let mut map = std::collections::HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name).map_err(|_| ApiError::InvalidArgument {
            what: "a query parameter name is not UTF-8",
        })?;
        let value = decode(value).map_err(|_| match name.as_str() {
            "file_name" => ApiError::InvalidFileName {
                reason: "the file name is not UTF-8",
            },
            _ => ApiError::InvalidArgument {
                what: "a query parameter value is not UTF-8",
            },
        })?;
        map.insert(name, value);
    }
    Ok(map)
}

impl Params {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The `hash` parameter, required, as lower-case hex and bytes.
    pub(crate) fn hash(&self) -> Result<(String, [u8; 32])> {
        let h = self.get("hash").ok_or(ApiError::InvalidHash)?;
        let bytes = token::parse_hash(h)?;
        Ok((hex::encode(bytes), bytes))
    }
}

/// Check that an optional `hash` parameter names the token's file.
pub(crate) fn check_hash_param(claims: &Claims, hash: Option<&str>) -> Result<()> {
    if let Some(h) = hash
        && token::parse_hash(h)? != claims.sha256
    {
        return Err(ApiError::TokenHashMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_strictly() {
        let m = parse_query("file_name=a+b%20c%C3%A9&hash=AB&empty=&flag").expect("valid");
        assert_eq!(m["file_name"], "a b c\u{e9}");
        assert_eq!(m["hash"], "AB");
        assert_eq!(m["empty"], "");
        assert_eq!(m["flag"], "");
        assert!(matches!(
            parse_query("file_name=%FF.txt"),
            Err(ApiError::InvalidFileName { .. })
        ));
        assert!(matches!(
            parse_query("hash=%C3"),
            Err(ApiError::InvalidArgument { .. })
        ));
        assert!(parse_query("").expect("empty").is_empty());
    }
}
