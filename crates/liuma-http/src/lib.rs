//! # liuma-http — HTTP front ends other than S3 (layer 6)
//!
//! The admin API (health, readiness, Prometheus metrics) and the native
//! token API of liuma 1.0 (plus tus). Handlers see only [`liuma_engine::Engine`].
//!
//! # Layout
//! - [`admin`]: `/health`, `/ready`, `/metrics`
//! - [`metrics`]: the registry, the per-request middleware, engine counters
//! - [`native`]: the native token API (upload/download tokens, chunks, tus)

pub mod admin;
pub mod cluster;
pub mod metrics;
pub mod native;
