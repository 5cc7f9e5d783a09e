//! # liuma-http — HTTP front ends other than S3 (layer 6)
//!
//! The admin API (health, readiness, Prometheus metrics, keys, backend
//! credentials, cluster) and the native token API of liuma 1.0 (plus tus).
//! Depends on liuma-engine and the leaf liuma-sigv4 only: handlers see
//! [`liuma_engine::Engine`] and the types it returns, never the cluster or
//! disk layers.
//!
//! # Layout
//! - [`admin`]: the router, `/health`, `/ready`, `/metrics`, keys, backends
//! - [`admin_error`]: the admin API's one error type and JSON shape;
//!   `admin_state`: what every admin handler gets
//!   (the router depends on the handler modules, never the reverse)
//! - `cluster`: `/admin/cluster`, drain, forget, heal, scrub, census, and
//!   the cluster-wide fan-out
//! - [`admin_client`]: the one admin API client (fan-out and the CLI)
//! - `lifecycle`: `POST /admin/lifecycle` (a lifecycle pass now, or as of a test time)
//! - [`metrics`]: the registry, the per-request middleware, engine counters
//! - [`native`]: the native token API (upload/download tokens, chunks, tus)

pub mod admin;
pub mod admin_client;
pub mod admin_error;
mod admin_state;
mod cluster;
mod lifecycle;
pub mod metrics;
pub mod native;
