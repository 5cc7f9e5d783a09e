//! The admin side of the API: admin sign-in (the admin token, checked by
//! the admin API itself), the one passthrough `/api/admin/...` →
//! `/admin/...` for admin sessions (the routes allowed are listed here for
//! the cluster and in `access` for users and backend credentials), and the
//! live charts' points (`/api/charts`: this node's, another node's or the
//! whole cluster's, see [`crate::peer_charts`]).

use super::*;
use crate::peer_charts::{PEER_DEADLINE, Peer, merge};
use crate::session::Kind;

/// The one answer to a wrong admin token.
pub const BAD_ADMIN_TOKEN: &str = "Wrong admin token.";
/// Largest JSON body passed to the admin API.
const MAX_BODY: usize = 1 << 20;

pub(super) fn routes() -> axum::Router<Console> {
    axum::Router::new()
        .route("/api/admin/login", post(admin_login))
        .route("/api/admin/{*rest}", axum::routing::any(admin_pass))
        .route("/api/charts", get(charts))
}

fn no_admin() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NoAdmin",
        "This console does not serve the cluster pages.",
    )
}

#[derive(Deserialize)]
struct AdminLogin {
    token: String,
}

/// `POST /api/admin/login {"token"}`: the same rate limit as a key's
/// sign-in; the token is proven by an admin API call made with it.
async fn admin_login(State(c): State<Console>, req: Request) -> ApiResult {
    let tls = sign_in_attempt(&c, &req)?;
    let admin = c.admin.as_ref().ok_or_else(no_admin)?;
    let body = axum::body::to_bytes(req.into_body(), 64 << 10)
        .await
        .map_err(|_| ApiError::bad("The sign-in request is too large."))?;
    let l: AdminLogin =
        serde_json::from_slice(&body).map_err(|_| ApiError::bad("Send {\"token\": ...}."))?;
    let refused = || ApiError::new(StatusCode::UNAUTHORIZED, "BadCredentials", BAD_ADMIN_TOKEN);
    if l.token.is_empty() || l.token.len() > 512 {
        return Err(refused());
    }
    // The admin API's own (constant-time) token check decides.
    let a = admin
        .call(&l.token, Method::GET, "/admin/cluster", None)
        .await;
    if !a.status.is_success() {
        if a.status == StatusCode::UNAUTHORIZED {
            return Err(refused());
        }
        return Err(admin_error(&a));
    }
    let (id, csrf) = c.sessions.create_kind(Kind::Admin, "admin", &l.token);
    let mut r = ok_json(json!({"access_key": "admin", "kind": "admin", "csrf": csrf}));
    r.headers_mut()
        .insert(header::SET_COOKIE, cookie(&id, tls, false));
    Ok(r)
}

/// The caller's admin session (CSRF checked on a change); an S3 user's
/// session is refused (403): its key's rights do not reach the admin API.
pub(super) fn admin_session(c: &Console, h: &HeaderMap, write: bool) -> ApiResult<Session> {
    let s = any_session(c, h, write)?;
    if s.kind != Kind::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "NotAdmin",
            "The cluster and access pages need the admin token: sign in with it.",
        ));
    }
    Ok(s)
}

/// An admin API error answer (`{"status":"error","code","message"}`) in words.
fn admin_error(a: &Answer) -> ApiError {
    let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
    let code = v["code"].as_str().unwrap_or("").to_owned();
    let msg = v["message"].as_str().unwrap_or("").to_owned();
    let (status, words) = match (a.status, code.as_str()) {
        // The token changed since sign-in: the session is worth nothing now.
        (StatusCode::UNAUTHORIZED, _) => (
            StatusCode::UNAUTHORIZED,
            "The admin token was refused (was it changed?). Sign in again.".to_owned(),
        ),
        (s, _) if !msg.is_empty() => (s, msg),
        (StatusCode::NOT_FOUND, _) => (StatusCode::NOT_FOUND, "Not found.".to_owned()),
        (s, _) if s.is_success() => (
            StatusCode::BAD_GATEWAY,
            "The admin API answered something unreadable.".to_owned(),
        ),
        (s, _) => (s, "The admin API refused the request.".to_owned()),
    };
    let code = if code.is_empty() {
        status.as_str().to_owned()
    } else {
        code
    };
    ApiError::new(status, &code, &words)
}

/// A path segment the passthrough accepts: non-empty, not `.`/`..`, and
/// made of URL-safe characters (escapes allowed: the admin router decodes).
fn segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b))
}

/// The cluster routes an admin session may reach (path segments after `/admin/`).
fn cluster_allowed(m: &Method, p: &[&str]) -> bool {
    matches!(
        (m.as_str(), p),
        ("GET", ["cluster" | "blocks" | "passes"])
            | ("POST", ["heal" | "scrub"])
            | ("POST" | "DELETE", ["nodes", _, "drain"])
            | ("DELETE", ["nodes", _])
    )
}

/// Whether `/admin/<path>` with `m` is passed through.
pub(super) fn allowed(m: &Method, path: &str) -> bool {
    let segs: Vec<&str> = path.split('/').collect();
    segs.iter().all(|s| segment_ok(s))
        && (cluster_allowed(m, &segs) || super::access::allowed(m, &segs))
}

/// `/api/admin/<path>?<query>` → the admin API's `/admin/<path>?<query>`,
/// as the session's admin token; its JSON answer as is, errors in words.
async fn admin_pass(State(c): State<Console>, req: Request) -> ApiResult {
    let write = req.method() != Method::GET;
    let s = admin_session(&c, req.headers(), write)?;
    let admin = c.admin.as_ref().ok_or_else(no_admin)?;
    let method = req.method().clone();
    let path = req
        .uri()
        .path()
        .strip_prefix("/api/admin/")
        .unwrap_or("")
        .to_owned();
    if !allowed(&method, &path) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "No such admin page.",
        ));
    }
    let target = match req.uri().query() {
        Some(q) => format!("/admin/{path}?{q}"),
        None => format!("/admin/{path}"),
    };
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|_| ApiError::bad("The request is too large."))?;
    let body = (!body.is_empty()).then_some(body);
    let a = admin.call(&s.secret, method, &target, body).await;
    if !a.status.is_success() {
        return Err(admin_error(&a));
    }
    let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
    Ok(ok_json(v))
}

#[derive(Deserialize)]
struct ChartsQuery {
    /// Empty: this node; `all`: the whole cluster; else a node id.
    #[serde(default)]
    node: String,
}

/// `GET /api/charts[?node=all|<id>]`: chart points, oldest first — this
/// node's own (default), another node's, or the whole cluster's (summed
/// rates, the largest p99). `nodes` says per node whether it gave data;
/// a node that is down or slower than [`PEER_DEADLINE`] is "no data".
async fn charts(
    State(c): State<Console>,
    h: HeaderMap,
    Query(cq): Query<ChartsQuery>,
) -> ApiResult {
    let s = admin_session(&c, &h, false)?;
    let every_ms = crate::charts::SAMPLE_EVERY.as_millis() as u64;
    if cq.node.is_empty() {
        return Ok(ok_json(json!({
            "every_ms": every_ms,
            "node": "",
            "points": c.series.points(),
        })));
    }
    let admin = c.admin.as_ref().ok_or_else(no_admin)?;
    let a = admin
        .call(&s.secret, Method::GET, "/admin/cluster", None)
        .await;
    if !a.status.is_success() {
        return Err(admin_error(&a));
    }
    let st: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
    let local = st["node_id"].as_str().unwrap_or("").to_owned();
    let mut peers: Vec<Peer> = st["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| {
            let id = n["id"].as_str()?;
            (id != local).then(|| Peer {
                id: id.to_owned(),
                live: n["live"].as_bool().unwrap_or(false),
                admin: n["endpoints"]["admin"].as_str().map(str::to_owned),
            })
        })
        .collect();
    let all = cq.node == "all";
    if !all {
        peers.retain(|p| p.id == cq.node);
        if peers.is_empty() && cq.node != local {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NoSuchNode",
                "No such node in the cluster.",
            ));
        }
    }
    let trust = c.peer_trust.as_ref().ok_or_else(no_admin)?;
    let fetched = c
        .peers
        .fetch(&peers, (&s.secret, trust), PEER_DEADLINE)
        .await;
    let mine = c.series.points();
    let mut nodes = Vec::new();
    let mut with_data: Vec<&[crate::charts::Point]> = Vec::new();
    if all || cq.node == local {
        nodes.push(json!({"id": local, "ok": true, "local": true}));
        with_data.push(&mine);
    }
    for (id, r) in &fetched {
        match r {
            Ok(p) => {
                nodes.push(json!({"id": id, "ok": true}));
                with_data.push(p);
            }
            Err(e) => nodes.push(json!({"id": id, "ok": false, "error": e})),
        }
    }
    let points = if all {
        merge(&with_data)
    } else {
        with_data.first().map(|p| p.to_vec()).unwrap_or_default()
    };
    Ok(ok_json(json!({
        "every_ms": every_ms,
        "node": cq.node,
        "nodes": nodes,
        "points": points,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_listed_admin_routes_pass() {
        let get = Method::GET;
        let post = Method::POST;
        let del = Method::DELETE;
        assert!(allowed(&get, "cluster"));
        assert!(allowed(&get, "blocks"));
        assert!(allowed(&post, "heal"));
        assert!(allowed(&post, "nodes/n1/drain"));
        assert!(allowed(&del, "nodes/n1/drain"));
        assert!(allowed(&del, "nodes/n1"));
        assert!(allowed(&get, "users"));
        assert!(allowed(&post, "users/alice/keys/AK1/disable"));
        assert!(allowed(&Method::PUT, "users/alice/policies/p1"));
        assert!(allowed(&post, "backends/b1/rotate"));
        // not passed: the legacy keys API, lifecycle, metrics, odd paths
        assert!(!allowed(&get, "keys"));
        assert!(!allowed(&post, "lifecycle"));
        assert!(!allowed(&get, "metrics"));
        assert!(!allowed(&post, "cluster"));
        assert!(!allowed(&get, "nodes/../metrics"));
        assert!(!allowed(&get, "users//keys"));
        assert!(!allowed(&get, "users/a b"));
        assert!(!allowed(&Method::PATCH, "users"));
    }
}
