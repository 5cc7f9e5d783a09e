//! # liuma-http — HTTP front ends other than S3 (layer 6)
//!
//! The admin API (health, readiness, Prometheus metrics) and the native
//! token API of liuma 1.0 (plus tus). Handlers see only [`liuma_engine::Engine`].
//!
//! # Layout
//! - [`admin`]: `/health`, `/ready`, `/metrics`
//! - `lifecycle`: `POST /admin/lifecycle` (a lifecycle pass now, or as of a test time)
//! - [`metrics`]: the registry, the per-request middleware, engine counters
//! - [`native`]: the native token API (upload/download tokens, chunks, tus)

pub mod admin;
pub mod cluster;
mod lifecycle;
pub mod metrics;
pub mod native;
