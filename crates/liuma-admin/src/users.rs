//! `/admin/users...`: users, their access keys and their identity policies
//! (JSON; the CLI's `liuma user ...` speaks to these).
//!
//! - `POST /admin/users` `{"name": N}` → the user; `GET /admin/users` → every user
//! - `GET /admin/users/{user}` → the user with its policy names;
//!   `DELETE /admin/users/{user}` → gone with its keys (not root, not while it owns buckets)
//! - `POST /admin/users/{user}/keys` `{"name": N}` → a new key with its secret (shown once);
//!   `GET /admin/users/{user}/keys` → its keys without secrets
//! - `DELETE /admin/users/{user}/keys/{id}`;
//!   `POST /admin/users/{user}/keys/{id}/disable` (`/enable`)
//! - `GET /admin/users/{user}/policies` → policy names;
//!   `GET|DELETE /admin/users/{user}/policies/{policy}`;
//!   `PUT /admin/users/{user}/policies/{policy}` `{"policy": "<policy JSON text>"}`
//!   (the text is kept as given)

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use liuma_engine::{AccessKey, User};
use serde::Deserialize;

use crate::error::AdminResult;
use crate::state::AdminState;

/// The routes of this module (behind the admin token, like every other).
pub(crate) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/admin/users", post(create_user).get(list_users))
        .route("/admin/users/{user}", get(get_user).delete(delete_user))
        .route("/admin/users/{user}/keys", post(create_key).get(list_keys))
        .route(
            "/admin/users/{user}/keys/{id}",
            axum::routing::delete(delete_key),
        )
        .route("/admin/users/{user}/keys/{id}/disable", post(disable_key))
        .route("/admin/users/{user}/keys/{id}/enable", post(enable_key))
        .route("/admin/users/{user}/policies", get(list_policies))
        .route(
            "/admin/users/{user}/policies/{policy}",
            get(get_policy).put(put_policy).delete(delete_policy),
        )
}

/// A user as the admin API shows it (policy names, not texts).
fn user_json(u: &User) -> serde_json::Value {
    serde_json::json!({
        "name": u.name, "canonical_id": u.canonical_id, "root": u.root,
        "created_ms": u.created_ms, "policies": u.policies.keys().collect::<Vec<_>>(),
    })
}

/// A key of a user; the secret only when just created.
fn key_json(k: &AccessKey, with_secret: bool) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": k.id, "name": k.name, "user": k.user, "disabled": k.disabled,
        "created_ms": k.created_ms,
    });
    if with_secret {
        v["secret"] = k.secret.clone().into();
    }
    v
}

/// Body of `POST /admin/users` and `POST /admin/users/{user}/keys`.
#[derive(Debug, Deserialize)]
struct Named {
    #[serde(default)]
    name: String,
}

async fn create_user(
    State(s): State<AdminState>,
    axum::Json(req): axum::Json<Named>,
) -> AdminResult<Response> {
    let u = s.engine.create_user(&req.name).await?;
    Ok(axum::Json(user_json(&u)).into_response())
}

async fn list_users(State(s): State<AdminState>) -> AdminResult<Response> {
    let users = s.engine.list_users().await?;
    let list: Vec<_> = users.iter().map(user_json).collect();
    Ok(axum::Json(serde_json::Value::Array(list)).into_response())
}

async fn user(s: &AdminState, name: &str) -> AdminResult<User> {
    Ok(s.engine
        .get_user(name)
        .await?
        .ok_or_else(|| liuma_engine::Error::NoSuchUser {
            name: name.to_owned(),
        })?)
}

async fn get_user(State(s): State<AdminState>, Path(name): Path<String>) -> AdminResult<Response> {
    Ok(axum::Json(user_json(&user(&s, &name).await?)).into_response())
}

async fn delete_user(
    State(s): State<AdminState>,
    Path(name): Path<String>,
) -> AdminResult<Response> {
    s.engine.delete_user(&name).await?;
    Ok(axum::Json(serde_json::json!({"status": "deleted", "user": name})).into_response())
}

async fn create_key(
    State(s): State<AdminState>,
    Path(name): Path<String>,
    axum::Json(req): axum::Json<Named>,
) -> AdminResult<Response> {
    let k = s.engine.create_key_for(&name, &req.name).await?;
    Ok(axum::Json(key_json(&k, true)).into_response())
}

async fn list_keys(State(s): State<AdminState>, Path(name): Path<String>) -> AdminResult<Response> {
    let keys = s.engine.list_keys_of(&name).await?;
    let list: Vec<_> = keys.iter().map(|k| key_json(k, false)).collect();
    Ok(axum::Json(serde_json::Value::Array(list)).into_response())
}

/// The key `id` of user `name`; another user's key is no key of this one.
async fn key_of(s: &AdminState, name: &str, id: &str) -> AdminResult<AccessKey> {
    user(s, name).await?;
    match s.engine.get_key(id).await? {
        Some(k) if k.user == name => Ok(k),
        _ => Err(liuma_engine::Error::NoSuchAccessKey { id: id.to_owned() }.into()),
    }
}

async fn delete_key(
    State(s): State<AdminState>,
    Path((name, id)): Path<(String, String)>,
) -> AdminResult<Response> {
    key_of(&s, &name, &id).await?;
    s.engine.delete_key(&id).await?;
    Ok(axum::Json(serde_json::json!({"status": "deleted", "id": id})).into_response())
}

async fn set_disabled(
    s: &AdminState,
    name: &str,
    id: &str,
    disabled: bool,
) -> AdminResult<Response> {
    key_of(s, name, id).await?;
    let k = s.engine.set_key_disabled(id, disabled).await?;
    Ok(axum::Json(key_json(&k, false)).into_response())
}

async fn disable_key(
    State(s): State<AdminState>,
    Path((name, id)): Path<(String, String)>,
) -> AdminResult<Response> {
    set_disabled(&s, &name, &id, true).await
}

async fn enable_key(
    State(s): State<AdminState>,
    Path((name, id)): Path<(String, String)>,
) -> AdminResult<Response> {
    set_disabled(&s, &name, &id, false).await
}

async fn list_policies(
    State(s): State<AdminState>,
    Path(name): Path<String>,
) -> AdminResult<Response> {
    let u = user(&s, &name).await?;
    Ok(axum::Json(serde_json::json!(u.policies.keys().collect::<Vec<_>>())).into_response())
}

async fn get_policy(
    State(s): State<AdminState>,
    Path((name, policy)): Path<(String, String)>,
) -> AdminResult<Response> {
    let u = user(&s, &name).await?;
    let Some(text) = u.policies.get(&policy) else {
        return Err(liuma_engine::Error::NoSuchUserPolicy { user: name, policy }.into());
    };
    Ok(
        axum::Json(serde_json::json!({"user": name, "name": policy, "policy": text}))
            .into_response(),
    )
}

/// Body of `PUT /admin/users/{user}/policies/{policy}`.
#[derive(Debug, Deserialize)]
struct PutPolicy {
    policy: String,
}

async fn put_policy(
    State(s): State<AdminState>,
    Path((name, policy)): Path<(String, String)>,
    axum::Json(req): axum::Json<PutPolicy>,
) -> AdminResult<Response> {
    let u = s
        .engine
        .put_user_policy(&name, &policy, &req.policy)
        .await?;
    Ok(axum::Json(user_json(&u)).into_response())
}

async fn delete_policy(
    State(s): State<AdminState>,
    Path((name, policy)): Path<(String, String)>,
) -> AdminResult<Response> {
    let u = s.engine.delete_user_policy(&name, &policy).await?;
    Ok(axum::Json(user_json(&u)).into_response())
}
