//! The metadata disk fills up and is freed again, on a real process: the node
//! must refuse writes with a clear 503, say so on `/ready`, write no shard it
//! cannot commit, keep serving reads, and take writes again once space is
//! back, without a restart and without losing an acknowledged object.
//!
//! `<data>/meta` is a tiny tmpfs mounted by the test (it runs as root). A
//! failed mount FAILS the test: skipping would hide the scenario.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{TestNode, http_get, s3_curl};

/// A tmpfs mounted for one test, unmounted when dropped (also when the test fails).
struct TmpfsMount {
    dir: PathBuf,
}

impl TmpfsMount {
    fn mount(dir: &Path, size: &str) -> TmpfsMount {
        std::fs::create_dir_all(dir).expect("creating the mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs on {} failed (this test needs root and must not be skipped): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        TmpfsMount {
            dir: dir.to_owned(),
        }
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a process that did not exit yet): detach it anyway.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// Writes `path` until the file system says ENOSPC; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).expect("creating the filler");
    let chunk = vec![0xa5u8; 16 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // Whatever is left is smaller than a page; the flush may fail for the same reason.
    let _ = f.sync_all();
    written
}

/// Every shard file name under the node's default disk.
fn shard_files(data: &Path) -> BTreeSet<String> {
    fn walk(p: &Path, out: &mut BTreeSet<String>) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, out);
            } else if let Some(name) = path.file_name().and_then(|n| n.to_str())
                && !name.starts_with('.')
                && !name.ends_with(".tmp")
            {
                out.insert(name.to_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&data.join("disk0").join("shards"), &mut out);
    out
}

/// 16 KiB (above the inline threshold, so every object has a shard) unique to `seed`.
fn payload(seed: u32) -> Vec<u8> {
    let mut p: Vec<u8> = (0..16 * 1024u32).map(|i| (i * 31 % 251) as u8).collect();
    p[..4].copy_from_slice(&seed.to_le_bytes()); // no two objects share a block (no dedup)
    p
}

struct Objects<'a> {
    data: &'a Path,
    base: String,
    files: PathBuf,
}

impl Objects<'_> {
    fn put(&self, seed: u32) -> (u16, String) {
        let file = self.files.join(format!("{seed}.bin"));
        std::fs::write(&file, payload(seed)).expect("writing a payload file");
        let file = file.to_str().expect("utf-8 path").to_owned();
        let url = format!("{}/o{seed}", self.base);
        let (status, body) = s3_curl(self.data, &["-T", &file, &url]);
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn get(&self, seed: u32) -> (u16, Vec<u8>) {
        s3_curl(self.data, &[&format!("{}/o{seed}", self.base)])
    }

    fn delete(&self, seed: u32) -> (u16, String) {
        let (status, body) = s3_curl(
            self.data,
            &["-X", "DELETE", &format!("{}/o{seed}", self.base)],
        );
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

/// Polls `f` every 100 ms until it returns true or `secs` pass.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn metadata_disk_full_refuses_writes_then_heals_without_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("node");
    let files = dir.path().join("payloads");
    std::fs::create_dir_all(&files).expect("payload dir");
    // Declared before the node, so the node is dropped (killed) first.
    let mount = TmpfsMount::mount(&data.join("meta"), "4m");
    // GC every second with a 3 s grace: orphan shards of the commit that failed are swept.
    let node = TestNode::start(&data, &["--gc-grace-secs", "3", "--gc-interval-secs", "1"]);
    let logs = format!("logs in {}", data.display());
    let objects = Objects {
        data: &data,
        base: format!("http://{}/fills", node.s3),
        files,
    };
    assert_eq!(
        s3_curl(&data, &["-X", "PUT", &objects.base]).0,
        200,
        "{logs}"
    );

    let mut acked: Vec<u32> = Vec::new();
    for seed in 0..5 {
        assert_eq!(objects.put(seed).0, 200, "{logs}");
        acked.push(seed);
    }

    // Fill the metadata file system, then write until the store runs out of room.
    let filler = mount.dir.join("filler");
    assert!(fill(&filler) > 0, "the tmpfs had room before the filler");
    let mut seed = 100;
    let refusal = loop {
        let (status, body) = objects.put(seed);
        match status {
            200 => acked.push(seed),
            503 => break body,
            other => panic!("PUT o{seed}: unexpected {other}: {body}\n{logs}"),
        }
        seed += 1;
        assert!(seed < 2100, "2000 PUTs fit on a full 4 MiB tmpfs?\n{logs}");
    };
    assert!(
        refusal.contains("metadata disk full") && refusal.contains("No space left on device"),
        "the 503 says why: {refusal}"
    );

    // Reopening may free the pages of the commit that failed, and the store
    // then finds room again (correctly writable): top the file system up
    // until a write fails and the store stays failed.
    let topup = mount.dir.join("topup");
    let mut tries = 0;
    let (status, ready) = loop {
        fill(&topup);
        let (status, ready) = http_get(&node.admin, "/ready");
        if status == 503 {
            break (status, ready);
        }
        if objects.put(seed).0 == 200 {
            acked.push(seed);
        }
        seed += 1;
        tries += 1;
        assert!(tries < 50, "the store never stayed failed: {ready}\n{logs}");
    };
    // Not ready, with the reason; the gauge agrees.
    assert_eq!(status, 503, "{ready}");
    assert!(ready.contains("metadata disk full"), "{ready}");
    assert!(ready.contains(r#""meta":"failed""#), "{ready}");
    let metrics = node.admin_req("GET", "/metrics");
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(metrics.contains("liuma_meta_writable 0"), "{metrics}");

    // While failed: PUTs and DELETEs are refused with the reason, and no shard is written.
    let before = shard_files(&data);
    for s in seed + 1..seed + 4 {
        let (status, body) = objects.put(s);
        assert_eq!(status, 503, "PUT o{s} while the store is failed: {body}");
        assert!(body.contains("metadata disk full"), "{body}");
    }
    let (status, body) = objects.delete(acked[0]);
    assert_eq!(status, 503, "DELETE while the store is failed: {body}");
    assert!(body.contains("metadata disk full"), "{body}");
    let after = shard_files(&data);
    let new: Vec<_> = after.difference(&before).collect();
    assert!(new.is_empty(), "refused PUTs wrote shards: {new:?}");
    // The admin API says the same: 503 ServiceUnavailable with the reason,
    // in its one error shape, with Retry-After.
    let auth = format!("Bearer {}", TestNode::admin_token(&data));
    let r = crate::http::request(
        &node.admin,
        "POST",
        "/admin/keys",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        br#"{"name":"while-full"}"#,
    );
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(
        r.status, 503,
        "admin write while the store is failed: {text}"
    );
    let v = r.json();
    assert_eq!(v["status"], "error", "{text}");
    assert_eq!(v["code"], "ServiceUnavailable", "{text}");
    assert!(text.contains("metadata disk full"), "{text}");
    assert_eq!(r.header("retry-after"), Some("1"), "{text}");

    // Reads keep working (the store reopened its file for them).
    let first = acked[0];
    assert!(
        eventually(10, || objects.get(first) == (200, payload(first))),
        "acknowledged objects stay readable while writes are refused\n{logs}"
    );

    // Free the space: writes come back by themselves.
    std::fs::remove_file(&filler).expect("removing the filler");
    std::fs::remove_file(&topup).expect("removing the top-up filler");
    let mut next = seed + 10;
    assert!(
        eventually(20, || {
            next += 1;
            let (status, _) = objects.put(next);
            if status == 200 {
                acked.push(next);
            }
            status == 200
        }),
        "PUTs did not resume after space was freed\n{logs}"
    );
    let (status, ready) = http_get(&node.admin, "/ready");
    assert_eq!(status, 200, "{ready}");
    assert!(ready.contains(r#""meta":"writable""#), "{ready}");
    let metrics = node.admin_req("GET", "/metrics");
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(metrics.contains("liuma_meta_writable 1"), "{metrics}");
    let deleted = acked.remove(0);
    assert_eq!(objects.delete(deleted).0, 204, "DELETE works again");
    assert_eq!(objects.get(deleted).0, 404);
    assert_eq!(objects.put(9999).0, 200);
    acked.push(9999);

    // Nothing acknowledged was lost.
    for &s in &acked {
        let (status, body) = objects.get(s);
        assert_eq!(status, 200, "o{s} lost\n{logs}");
        assert!(body == payload(s), "o{s} corrupted");
    }
    // Each live object is one block of one shard (a single disk: 1+0). Shards of the
    // commit that failed and of the deleted object are swept by GC after its grace.
    let live = acked.len();
    let mut seen = 0;
    assert!(
        eventually(30, || {
            seen = shard_files(&data).len();
            seen == live
        }),
        "{seen} shard files for {live} live objects: GC did not sweep\n{logs}\n{}",
        node.log()
            .lines()
            .filter(|l| l.contains("gc") || l.contains("WARN") || l.contains("ERROR"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    drop(node);
    drop(mount);
}
