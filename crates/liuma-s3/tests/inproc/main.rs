//! The S3 API in process: a real engine on a temp dir, served by
//! `liuma_s3::build` on a loopback port of the test's runtime, driven by a
//! SigV4-signing client over real HTTP. Runs in seconds, needs no Python
//! and no binary; the real-client suites (boto3, aws cli, rclone, s3cmd)
//! in `tests/s3/` stay the reference for client compatibility.
//!
//! # Layout
//! - `harness`: `Node::start()`, `Client` (one-liners + raw signed `send`)
//! - `buckets`, `objects`, `listing`, `multipart`, `versioning`, `errors`,
//!   `lifecycle` (rules applied by a pass run at a chosen time, never a sleep):
//!   the semantics checks, one `#[tokio::test]` per behaviour
//! - `semantics`: error bodies, delete markers, tagging, listing details
//! - `access`: users, policies and ACLs decided for requests signed by
//!   rusty-s3 (the boto3 matrix is `tests/s3/test_access_matrix.py`)

mod access;
mod buckets;
mod errors;
mod harness;
mod lifecycle;
mod listing;
mod multipart;
mod objects;
mod semantics;
mod versioning;
