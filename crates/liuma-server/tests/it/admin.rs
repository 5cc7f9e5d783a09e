//! The admin API's errors on the real binary: one JSON shape
//! (`{"status": "error", "code", "message"}`) for every handler — keys,
//! cluster membership, lifecycle, the token check — and the engine's one
//! status table (a missing bucket is 404, a refused membership change 409).
//! The metadata store failing (503 `ServiceUnavailable`) is checked in
//! `meta_full.rs`, where the store really fails.

use crate::harness::TestNode;
use crate::http::{Resp, request};

fn admin(node: &TestNode, method: &str, path: &str, body: &str) -> Resp {
    let auth = format!("Bearer {}", TestNode::admin_token(&node.data));
    request(
        &node.admin,
        method,
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
}

/// The one error shape; returns the code.
fn error_code(r: &Resp, status: u16) -> String {
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, status, "{text}");
    let v = r.json();
    assert_eq!(v["status"], "error", "{text}");
    assert!(
        v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{text}"
    );
    v["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code: {text}"))
        .to_owned()
}

#[test]
fn admin_errors_have_one_shape_and_the_engine_status() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path(), &[]);

    let r = admin(&node, "POST", "/admin/keys", r#"{"name":"a"}"#);
    assert_eq!(r.status, 200);
    let id = r.json()["id"].as_str().unwrap().to_owned();

    // A grant on a bucket that does not exist: 404 NoSuchBucket (was 400),
    // and the key is unchanged.
    let body = r#"{"bucket":"no-such-bucket","permission":"read"}"#;
    let r = admin(&node, "POST", &format!("/admin/keys/{id}/allow"), body);
    assert_eq!(error_code(&r, 404), "NoSuchBucket");
    let keys = admin(&node, "GET", "/admin/keys", "").json();
    let k = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str());
    assert_eq!(
        k.unwrap()["buckets"],
        serde_json::json!({}),
        "nothing granted"
    );

    // An unknown key: 404 in an admin lookup.
    let r = admin(&node, "DELETE", "/admin/keys/LMNOSUCHKEY", "");
    assert_eq!(error_code(&r, 404), "InvalidAccessKeyId");

    // Membership on a node on its own: refused, 409, in the same shape
    // (these handlers answered {"error": "..."} before).
    let r = admin(&node, "POST", "/admin/nodes/other/drain", "");
    assert_eq!(error_code(&r, 409), "Conflict");
    let r = admin(&node, "DELETE", "/admin/nodes/other", "");
    assert_eq!(error_code(&r, 409), "Conflict");

    // Lifecycle's own refusals and the token check: the same shape.
    let r = admin(&node, "POST", "/admin/lifecycle?as_of=1", "");
    assert_eq!(error_code(&r, 403), "Forbidden");
    let r = request(&node.admin, "GET", "/admin/keys", &[], b"");
    assert_eq!(error_code(&r, 401), "Unauthorized");
}
