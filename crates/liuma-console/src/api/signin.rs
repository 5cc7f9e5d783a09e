//! Sign-in, sign-out and the session of a request (cookie, CSRF).

use super::*;

pub(super) fn cookie_id(h: &HeaderMap) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (n, v) = c.trim().split_once('=')?;
            (n == COOKIE).then(|| v.to_owned())
        })
}

/// The caller's S3 user session; a change (`write`) also needs the CSRF
/// token. An admin session has no S3 key: refused here (403).
pub(super) fn session(c: &Console, h: &HeaderMap, write: bool) -> ApiResult<Session> {
    let s = any_session(c, h, write)?;
    if s.kind != Kind::S3 {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "AdminSession",
            "You are signed in with the admin token: the bucket pages need an access key. Sign out and sign in with a key.",
        ));
    }
    Ok(s)
}

/// The caller's session of either kind (CSRF checked on a change).
pub(super) fn any_session(c: &Console, h: &HeaderMap, write: bool) -> ApiResult<Session> {
    let s = cookie_id(h)
        .and_then(|id| c.sessions.get(&id))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "NoSession",
                "You are signed out (or your session timed out). Sign in again.",
            )
        })?;
    if write {
        let sent = h.get(CSRF_HEADER).map_or(&b""[..], HeaderValue::as_bytes);
        if !bool::from(sent.ct_eq(s.csrf.as_bytes())) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "BadCsrfToken",
                "This change was refused: the page's security token is missing or stale. Reload the page.",
            ));
        }
    }
    Ok(s)
}

pub(super) fn creds(s: &Session) -> Creds<'_> {
    Creds {
        key: &s.access_key,
        secret: &s.secret,
    }
}

pub(super) fn is_tls(c: &Console, h: &HeaderMap) -> bool {
    // Hook for TLS: the TLS listener sets `secure_cookies`; a TLS proxy in
    // front says so in X-Forwarded-Proto.
    c.cfg.secure_cookies
        || h.get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

pub(super) fn cookie(value: &str, secure: bool, clear: bool) -> HeaderValue {
    let mut s = format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/");
    if clear {
        s.push_str("; Max-Age=0");
    }
    if secure {
        s.push_str("; Secure");
    }
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

#[derive(Deserialize)]
pub(super) struct Login {
    access_key: String,
    secret: String,
}

pub(super) fn plausible_key(k: &str) -> bool {
    (1..=128).contains(&k.len())
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Count a sign-in attempt (key or admin token) against the client
/// address's budget: 429 over it. Whether the client came over TLS.
pub(super) fn sign_in_attempt(c: &Console, req: &Request) -> ApiResult<bool> {
    // The listener puts the client's connection on every request.
    let conn = req.extensions().get::<liuma_s3::ClientConn>().copied();
    let addr = conn.map_or_else(|| "unknown".to_owned(), |c| c.addr.ip().to_string());
    if !c.logins.allow(&addr) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyAttempts",
            "Too many sign-in attempts from your address. Wait a minute and try again.",
        ));
    }
    Ok(conn.is_some_and(|c| c.tls) || is_tls(c, req.headers()))
}

pub(super) async fn login(State(c): State<Console>, req: Request) -> ApiResult {
    let tls = sign_in_attempt(&c, &req)?;
    let body = axum::body::to_bytes(req.into_body(), 64 << 10)
        .await
        .map_err(|_| ApiError::bad("The sign-in request is too large."))?;
    let l: Login = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad("Send {\"access_key\": ..., \"secret\": ...}."))?;
    let refused = || ApiError::new(StatusCode::UNAUTHORIZED, "BadCredentials", BAD_CREDENTIALS);
    if !plausible_key(&l.access_key) || l.secret.is_empty() || l.secret.len() > 256 {
        return Err(refused());
    }
    // The check is the S3 API's: a ListBuckets signed with these credentials.
    // A signature S3 accepts proves the secret (s3s compares it); a policy
    // that forbids listing still proves it (AccessDenied comes after the
    // signature check).
    let creds = Creds {
        key: &l.access_key,
        secret: &l.secret,
    };
    let a = Answer::read(c.s3.call(&creds, call(Method::GET, "", "")).await, MAX_XML).await;
    let valid = a.status.is_success()
        || (a.status == StatusCode::FORBIDDEN
            && a.xml().is_some_and(|e| e.text_of("Code") == "AccessDenied"));
    if !valid {
        if a.status.is_server_error() {
            return Err(ApiError::from_s3(&a));
        }
        return Err(refused());
    }
    let (id, csrf) = c.sessions.create(&l.access_key, &l.secret);
    let mut r = ok_json(json!({"access_key": l.access_key, "csrf": csrf}));
    r.headers_mut()
        .insert(header::SET_COOKIE, cookie(&id, tls, false));
    Ok(r)
}

pub(super) async fn logout(State(c): State<Console>, h: HeaderMap) -> ApiResult {
    any_session(&c, &h, true)?;
    if let Some(id) = cookie_id(&h) {
        c.sessions.remove(&id);
    }
    let mut r = ok_json(json!({}));
    r.headers_mut()
        .insert(header::SET_COOKIE, cookie("", is_tls(&c, &h), true));
    Ok(r)
}

/// Who is signed in, and the CSRF token (a reloaded page gets it here;
/// other origins cannot read it).
pub(super) async fn session_info(State(c): State<Console>, h: HeaderMap) -> ApiResult {
    let s = any_session(&c, &h, false)?;
    let kind = match s.kind {
        Kind::S3 => "s3",
        Kind::Admin => "admin",
    };
    let who = if s.kind == Kind::Admin {
        "admin"
    } else {
        s.access_key.as_str()
    };
    Ok(ok_json(
        json!({"access_key": who, "kind": kind, "csrf": s.csrf}),
    ))
}
