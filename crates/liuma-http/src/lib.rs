//! # liuma-http — HTTP front ends other than S3 (layer 6)
//!
//! The admin API (health, readiness, Prometheus metrics) and, later, the
//! native token API of liuma 1.0. Handlers see only [`liuma_engine::Engine`].
//!
//! # Layout
//! - [`admin`]: `/health`, `/ready`, `/metrics`
//! - [`metrics`]: the registry, the per-request middleware, engine counters

pub mod admin;
pub mod metrics;
