//! SSE-S3 master key rotation, re-encryption and retirement in a cluster
//! (issue #19): `liuma sse rotate` on one node reaches the other within
//! seconds, old objects keep reading, `reencrypt` moves them to the new
//! version without losing a concurrent overwrite, and `retire` refuses while
//! a version is in use and then removes it everywhere. A node whose ring
//! re-read never comes keeps sealing under the old version: what it wrote
//! before the retirement is counted and re-encrypted, what it writes after
//! is refused (503) by the retirement fence in etcd, never stored unreadable.

use super::common::*;

/// `liuma sse <args>` against `id`'s admin API: (success, stdout, stderr).
pub fn sse_cli(data: &Path, admin: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_liuma"))
        .arg("sse")
        .args(args)
        .args(["--admin-url", &format!("http://{admin}")])
        .arg("--admin-token-file")
        .arg(data.join("secrets/admin.token"))
        .env_remove("LIUMA_ADMIN_TOKEN")
        .output()
        .expect("running liuma sse");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cli(c: &TestCluster, id: &str, args: &[&str]) -> String {
    let (ok, out, err) = sse_cli(&c.data(id), &c.node(id).node.admin, args);
    assert!(ok, "liuma sse {args:?} on {id}: {err}");
    out
}

fn put_sse(c: &TestCluster, id: &str, key: &str, bytes: &[u8]) {
    let (status, body) = try_put_sse(c, id, key, bytes);
    assert_eq!(status, 200, "PUT {key}: {}", String::from_utf8_lossy(&body));
}

/// An SSE-S3 PUT on `id`: the status and the answer's body.
fn try_put_sse(c: &TestCluster, id: &str, key: &str, bytes: &[u8]) -> (u16, Vec<u8>) {
    let file = c
        .dir
        .path()
        .join(format!("sse-{key}-{}", rand::random::<u32>()));
    std::fs::write(&file, bytes).expect("writing the upload");
    let path = file.to_str().expect("utf-8 path");
    let (status, body) = c.s3_within(
        60,
        &[
            "-H",
            "x-amz-server-side-encryption: AES256",
            "-T",
            path,
            &c.url(id, key),
        ],
    );
    let _ = std::fs::remove_file(&file);
    (status, body)
}

fn usage(c: &TestCluster, id: &str, version: u32) -> u64 {
    c.admin(id, "GET", &format!("/admin/sse/usage?version={version}"))
        .json()["object_versions"]
        .as_u64()
        .expect("object_versions")
}

fn etag(c: &TestCluster, id: &str, key: &str) -> String {
    let (status, head) = c.s3_within(60, &["-I", &c.url(id, key)]);
    assert_eq!(status, 200);
    String::from_utf8_lossy(&head)
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("etag:"))
        .expect("ETag header")
        .to_owned()
}

#[test]
fn rotate_reencrypt_retire_across_nodes() {
    let mut c = TestCluster::start(2, &["--erasure", "1+1"]);
    // n3 re-reads the ring only every 100 000 s: as a node whose re-read
    // keeps failing, it never sees the rotation below
    let stale = c.dir.path().join("stale.toml");
    std::fs::write(&stale, "[sse]\nrefresh_secs = 100000\n").expect("config");
    c.common
        .extend(["--config".to_owned(), stale.display().to_string()]);
    c.add("n3");
    c.wait_live(3);
    c.create_bucket("n1");
    let old: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| (format!("old{i}"), random(MIB + 3000 * i)))
        .collect();
    for (i, (k, d)) in old.iter().enumerate() {
        put_sse(&c, if i % 2 == 0 { "n1" } else { "n2" }, k, d);
    }
    let etags: Vec<String> = old.iter().map(|(k, _)| etag(&c, "n1", k)).collect();
    assert_eq!(usage(&c, "n2", 1), 10);

    // bad input: nothing changes
    let (ok, _, err) = sse_cli(&c.data("n1"), &c.node("n1").node.admin, &["retire", "1"]);
    assert!(!ok && err.contains("is the current one"), "{err}");
    let (ok, _, err) = sse_cli(&c.data("n1"), &c.node("n1").node.admin, &["retire", "7"]);
    assert!(!ok && err.contains("not in the key ring"), "{err}");
    let r = request(
        &c.node("n1").node.admin,
        "POST",
        "/admin/sse/rotate",
        &[],
        b"",
    );
    assert_eq!(r.status, 401);
    let bad = c.dir.path().join("bad-token");
    std::fs::create_dir_all(bad.join("secrets")).expect("dir");
    std::fs::write(bad.join("secrets/admin.token"), "wrong").expect("token");
    let (ok, _, err) = sse_cli(&bad, &c.node("n1").node.admin, &["rotate"]);
    assert!(!ok && err.contains("401"), "{err}");
    for id in ["n1", "n2", "n3"] {
        assert_eq!(
            c.admin(id, "GET", "/admin/sse").json()["versions"],
            serde_json::json!([1])
        );
    }

    // rotate on n1: n2 follows within seconds, without a restart
    let out = cli(&c, "n1", &["rotate"]);
    assert!(out.contains("version 2"), "{out}");
    wait_for("n2 takes version 2", Duration::from_secs(15), || {
        let s = c.admin("n2", "GET", "/admin/sse").json();
        if s["current"] == 2 {
            Ok(())
        } else {
            Err(s.to_string())
        }
    });
    let ring = |id: &str| std::fs::read(c.data(id).join("secrets/sse.key")).expect("sse.key");
    assert_eq!(ring("n1"), ring("n2"));
    let new1 = random(MIB + 5);
    let new2 = random(200_000);
    put_sse(&c, "n2", "new1", &new1);
    put_sse(&c, "n1", "new2", &new2);
    assert_eq!(
        usage(&c, "n1", 2),
        2,
        "new objects use version 2 on both nodes"
    );
    // the stale node still seals under version 1: stored (no fence yet),
    // and counted
    assert_eq!(c.admin("n3", "GET", "/admin/sse").json()["current"], 1);
    let stale1 = random(300_000);
    put_sse(&c, "n3", "stale1", &stale1);
    assert_eq!(usage(&c, "n1", 1), 11);
    for (k, d) in &old {
        c.assert_object("n2", k, d);
    }

    // retire before re-encrypting: refused with the count
    let (ok, _, err) = sse_cli(&c.data("n2"), &c.node("n2").node.admin, &["retire", "1"]);
    assert!(!ok && err.contains("11 object version(s)"), "{err}");
    assert_eq!(
        c.admin("n2", "GET", "/admin/sse").json()["fenced"],
        serde_json::json!([]),
        "a refused retirement lowers its fence"
    );

    // re-encrypt while old0..old2 are overwritten: the overwrites win
    cli(&c, "n1", &["reencrypt", "--from-version", "1", "--no-wait"]);
    let over: Vec<Vec<u8>> = (0..3).map(|_| random(MIB / 2 + 17)).collect();
    for (i, d) in over.iter().enumerate() {
        put_sse(&c, "n2", &format!("old{i}"), d);
    }
    wait_for("re-encryption done", Duration::from_secs(120), || {
        let s = c.admin("n1", "GET", "/admin/sse").json();
        if s["reencrypt"]["running"] == false {
            Ok(())
        } else {
            Err(s.to_string())
        }
    });
    let out = cli(&c, "n1", &["status"]);
    println!("{out}");
    assert!(out.contains("failed 0"), "{out}");
    assert_eq!(usage(&c, "n2", 1), 0);
    for (i, (k, d)) in old.iter().enumerate() {
        let want = over.get(i).unwrap_or(d);
        c.assert_object("n1", k, want);
        c.assert_object("n2", k, want);
        if i >= over.len() {
            assert_eq!(etag(&c, "n2", k), etags[i], "re-encryption keeps the ETag");
        }
    }

    // retire: gone from every node's ring; everything still reads
    let out = cli(&c, "n2", &["retire", "1"]);
    assert!(out.contains("retired version 1"), "{out}");
    wait_for("n1 drops version 1", Duration::from_secs(15), || {
        let s = c.admin("n1", "GET", "/admin/sse").json();
        if s["versions"] == serde_json::json!([2]) {
            Ok(())
        } else {
            Err(s.to_string())
        }
    });
    assert_eq!(ring("n1"), ring("n2"));
    assert_eq!(
        c.admin("n1", "GET", "/admin/sse").json()["fenced"],
        serde_json::json!([1])
    );
    // the stale node still seals under version 1: the fence in etcd
    // refuses the commit (503), nothing is stored
    assert_eq!(c.admin("n3", "GET", "/admin/sse").json()["current"], 1);
    let (status, body) = try_put_sse(&c, "n3", "stale2", &random(MIB + 1));
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("ServiceUnavailable"), "{body}");
    let (status, _) = c.s3_within(60, &["-I", &c.url("n1", "stale2")]);
    assert_eq!(status, 404, "nothing stored");
    c.assert_object("n1", "stale1", &stale1);
    for (i, (k, d)) in old.iter().enumerate() {
        c.assert_object(
            if i % 2 == 0 { "n2" } else { "n1" },
            k,
            over.get(i).unwrap_or(d),
        );
    }
    c.assert_object("n1", "new1", &new1);
    c.assert_object("n2", "new2", &new2);
}
