//! `liuma bench`: an S3 load generator for any endpoint (liuma, Garage,
//! MinIO, AWS). Workloads put, get, mixed, list, delete and multipart, with
//! fixed or uniformly distributed object sizes, random / text / duplicate
//! data, a warm-up, a progress bar, and a summary table or JSON report.
//!
//! Object contents are generated from a seed per object (see [`data`]), so
//! `--verify` checks every byte a GET returns without storing anything.
//!
//! A leaf crate: it talks to the server only over HTTP and depends on no
//! other liuma crate but the leaf `liuma-sigv4` (the one SigV4
//! implementation: signing with `UNSIGNED-PAYLOAD`), on hyper 1's pooled
//! HTTP/1.1 client.
//!
//! # Layout
//! - [`args`]: the clap flags and [`run`].
//! - [`size`]: sizes, size distributions, durations, mixes.
//! - [`data`]: deterministic object data, streaming bodies, GET verification.
//! - [`s3`]: the signing client.
//! - [`workload`]: the operations, workers and phases.
//! - [`stats`]: percentiles and the report.
//! - [`error`]: why a benchmark could not start.

pub mod args;
pub mod data;
pub mod error;
pub mod s3;
pub mod size;
pub mod stats;
pub mod workload;

pub use args::{BenchArgs, run};
pub use error::{Error, Result};
pub use stats::Report;
