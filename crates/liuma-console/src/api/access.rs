//! The access pages' admin routes: users, their keys and identity
//! policies, and the native API's backend credentials. The handlers are
//! the admin API's (reached through the passthrough in `cluster`); this
//! module only says which of its routes an admin session may call.

use http::Method;

/// The user and backend routes passed through (segments after `/admin/`).
pub(super) fn allowed(m: &Method, p: &[&str]) -> bool {
    matches!(
        (m.as_str(), p),
        ("GET" | "POST", ["users"])
            | ("GET" | "DELETE", ["users", _])
            | ("GET" | "POST", ["users", _, "keys"])
            | ("DELETE", ["users", _, "keys", _])
            | ("POST", ["users", _, "keys", _, "disable" | "enable"])
            | ("GET", ["users", _, "policies"])
            | ("GET" | "PUT" | "DELETE", ["users", _, "policies", _])
            | ("GET" | "POST", ["backends"])
            | ("DELETE", ["backends", _])
            | ("POST", ["backends", _, "rotate"])
    )
}
