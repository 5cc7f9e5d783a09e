//! What the browser tests share (`browser`, `console_browser`,
//! `console_objects_browser`, `cluster_browser`, `post_object`): Debian's
//! Chromium, the npm directory with puppeteer-core (`tests/browser`, whose
//! scripts share `lib.mjs`), the console screenshots' directory, a tiny
//! PNG, and the one preflight check: a missing tool fails the test (CI
//! installs them: ./scripts/test).

use std::path::{Path, PathBuf};

/// Debian's chromium: the only browser used (puppeteer downloads none).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A 1x1 PNG.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xfc, 0xcf, 0xc0, 0x50,
    0x0f, 0x00, 0x04, 0x85, 0x01, 0x80, 0x84, 0xa9, 0x8c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// `tests/browser`: the scripts and their node_modules.
pub fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `<target>/console-screenshots/`, made (not emptied: the console's
/// browser tests write beside each other).
pub fn console_shots() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../console-screenshots");
    std::fs::create_dir_all(&d).expect("making the screenshots directory");
    d
}

/// Chromium and puppeteer-core are there, or the test fails saying how to
/// get them.
pub fn preflight() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium (./scripts/test does)"
    );
    assert!(
        browser_dir().join("node_modules/puppeteer-core").exists(),
        "puppeteer-core is not installed: run ./scripts/test (it runs npm ci in {})",
        browser_dir().display()
    );
}
