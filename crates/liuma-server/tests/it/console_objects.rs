//! The console's JSON API for bucket usage, bucket settings documents,
//! the versions of a key (restore, delete) and tags, on the real binary.
//! The browser side of the same is `console_objects_browser.rs`.

use crate::console::{Client, enc};
use crate::harness::{TestNode, s3_curl};
use crate::http::request;

fn put(c: &Client, bucket: &str, key: &str, body: &[u8]) {
    let r = request(
        &c.addr,
        "PUT",
        &format!("/api/buckets/{bucket}/object?key={}", enc(key)),
        &[
            ("Cookie", &c.cookie),
            ("x-csrf-token", &c.csrf),
            ("Content-Type", "text/plain"),
        ],
        body,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

fn usage(c: &Client, bucket: &str) -> (u64, u64) {
    let r = c.req("GET", &format!("/api/buckets/{bucket}/usage"), b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    // every version here was written with its bytes on disks counted
    assert_eq!(v["stored_estimated"], 0, "{v}");
    assert_eq!(v["stored"], v["stored_counted"], "{v}");
    (v["objects"].as_u64().unwrap(), v["bytes"].as_u64().unwrap())
}

/// Bytes on disks reported for a bucket: incompressible data costs its size
/// × (k+m)/k of the bucket's code, compressible data far less (compressed
/// first); the same bytes under a second key are counted again.
#[test]
fn console_bucket_stored_bytes_follow_compression_and_erasure_coding() {
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(&dir.path().join("n"), &[]);
    let c = Client::root(&n);
    assert_eq!(
        c.json("POST", "/api/buckets", serde_json::json!({"name": "st1"}))
            .status,
        200
    );
    let stored = |c: &Client| {
        let v = c.req("GET", "/api/buckets/st1/usage", b"").json();
        let (k, m) = (
            v["erasure"][0].as_u64().unwrap(),
            v["erasure"][1].as_u64().unwrap(),
        );
        (v["stored"].as_u64().unwrap(), (k + m) as f64 / k as f64)
    };
    let rnd = crate::cluster::common::random(3 << 20);
    put(&c, "st1", "random.bin", &rnd);
    let (s1, overhead) = stored(&c);
    let want = rnd.len() as f64 * overhead;
    assert!(
        (s1 as f64 - want).abs() / want < 0.02,
        "incompressible: {s1} vs {want} (size × {overhead})"
    );
    let text: Vec<u8> = (0..)
        .flat_map(|i| format!("{i:08} a line of a log that compresses well\n").into_bytes())
        .take(3 << 20)
        .collect();
    put(&c, "st1", "log.txt", &text);
    let (s2, _) = stored(&c);
    let text_disk = s2 - s1;
    assert!(
        (text_disk as f64) < text.len() as f64 * overhead / 3.0,
        "compressible: {text_disk} on disks for {} bytes",
        text.len()
    );
    // dedup across objects: counted by each object
    put(&c, "st1", "random-again.bin", &rnd);
    let (s3, _) = stored(&c);
    assert!(
        ((s3 - s2) as f64 - s1 as f64).abs() / (s1 as f64) < 0.02,
        "{s3} {s2} {s1}"
    );
    println!("stored: random 3 MiB {s1}, log 3 MiB {text_disk}, overhead {overhead}");
}

#[test]
fn console_usage_settings_versions_and_tags_through_s3() {
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(&dir.path().join("n"), &[]);
    let c = Client::root(&n);
    assert_eq!(
        c.json("POST", "/api/buckets", serde_json::json!({"name": "use1"}))
            .status,
        200
    );
    assert_eq!(usage(&c, "use1"), (0, 0));
    put(&c, "use1", "a", b"12345");
    put(&c, "use1", "b/c", b"xy");
    assert_eq!(usage(&c, "use1"), (2, 7));
    put(&c, "use1", "a", b"1");
    assert_eq!(usage(&c, "use1"), (2, 3), "an overwrite replaces");
    let r = c.json(
        "POST",
        "/api/buckets/use1/delete",
        serde_json::json!({"keys": ["a"]}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(usage(&c, "use1"), (1, 2));
    assert_eq!(c.req("GET", "/api/buckets/nope/usage", b"").status, 404);

    // settings: an invalid document is refused in words, nothing stored
    for (kind, doc) in [
        (
            "lifecycle",
            "<LifecycleConfiguration><Rule><Status>Sometimes</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>",
        ),
        (
            "cors",
            "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
        ),
        (
            "policy",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Maybe"}]}"#,
        ),
    ] {
        let path = format!("/api/buckets/use1/config/{kind}");
        let r = c.json("PUT", &path, serde_json::json!({"document": doc}));
        assert_eq!(
            r.status,
            400,
            "{kind}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let words = r.json()["error"].as_str().unwrap().to_owned();
        assert!(words.len() > 10, "{kind}: {words}");
        let g = c.req("GET", &path, b"").json();
        assert_eq!(g["supported"], true, "{kind}");
        assert_eq!(g["exists"], false, "{kind}: nothing stored");
        let (st, _) = s3_curl(&n.data, &[&format!("http://{}/use1?{kind}=", n.s3)]);
        assert_eq!(st, 404, "{kind} absent in S3");
    }
    let cors = "<CORSConfiguration><CORSRule><AllowedOrigin>https://x.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>";
    let r = c.json(
        "PUT",
        "/api/buckets/use1/config/cors",
        serde_json::json!({"document": cors}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let g = c.req("GET", "/api/buckets/use1/config/cors", b"").json();
    assert_eq!(g["exists"], true);
    assert!(
        g["document"]
            .as_str()
            .unwrap()
            .contains("https://x.example")
    );
    assert_eq!(
        c.req("DELETE", "/api/buckets/use1/config/cors", b"").status,
        200
    );
    assert_eq!(
        c.req("GET", "/api/buckets/use1/config/cors", b"").json()["exists"],
        false
    );
    assert_eq!(
        c.req("GET", "/api/buckets/use1/config/acl", b"").status,
        404
    );

    // versions: two of a key, restore the old one, delete one for good
    c.json(
        "PUT",
        "/api/buckets/use1/versioning",
        serde_json::json!({"enabled": true}),
    );
    put(&c, "use1", "v.txt", b"one");
    put(&c, "use1", "v.txt", b"two");
    put(&c, "use1", "v.txt.other", b"not this key");
    let vs = c
        .req("GET", "/api/buckets/use1/versions?key=v.txt", b"")
        .json();
    let list = vs["versions"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{vs}");
    assert_eq!(list[0]["latest"], true);
    let old = list[1]["version_id"].as_str().unwrap().to_owned();
    let r = c.req(
        "POST",
        &format!("/api/buckets/use1/restore?key=v.txt&version={}", enc(&old)),
        b"",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let (st, body) = s3_curl(&n.data, &[&format!("http://{}/use1/v.txt", n.s3)]);
    assert_eq!((st, body.as_slice()), (200, &b"one"[..]));
    let r = request(
        &c.addr,
        "GET",
        &format!("/api/buckets/use1/object?key=v.txt&version={}", enc(&old)),
        &[("Cookie", &c.cookie)],
        b"",
    );
    assert_eq!(r.body, b"one");
    let r = c.req(
        "DELETE",
        &format!("/api/buckets/use1/version?key=v.txt&version={}", enc(&old)),
        b"",
    );
    assert_eq!(r.status, 200);
    let vs = c
        .req("GET", "/api/buckets/use1/versions?key=v.txt", b"")
        .json();
    assert_eq!(vs["versions"].as_array().unwrap().len(), 2);
    // usage: b/c, v.txt x2 (restored copy + "two"), v.txt.other
    assert_eq!(usage(&c, "use1"), (4, 2 + 3 + 3 + 12));

    // tags: replace, read back, and S3's limit refused in words
    let r = c.json(
        "PUT",
        "/api/buckets/use1/tags?key=v.txt",
        serde_json::json!({"tags": [{"key": "team", "value": "a+b"}]}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let t = c.req("GET", "/api/buckets/use1/tags?key=v.txt", b"").json();
    assert_eq!(
        t["tags"],
        serde_json::json!([{"key": "team", "value": "a+b"}])
    );
    let many: Vec<_> = (0..11)
        .map(|i| serde_json::json!({"key": format!("k{i}"), "value": "v"}))
        .collect();
    let r = c.json(
        "PUT",
        "/api/buckets/use1/tags?key=v.txt",
        serde_json::json!({"tags": many}),
    );
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let t = c.req("GET", "/api/buckets/use1/tags?key=v.txt", b"").json();
    assert_eq!(t["tags"].as_array().unwrap().len(), 1, "unchanged");
}
