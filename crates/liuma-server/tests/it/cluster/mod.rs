//! Cluster mode with real processes: one real etcd (a [`TestEtcd`] per test,
//! a fresh prefix) and several `liuma server` nodes sharing their secrets.
//! Objects go in through one node and come out of every other one; nodes are
//! SIGKILLed, shards rotted or deleted, nodes join and drain, etcd stops, and
//! a node with the wrong cluster secret joins — data stays intact and the
//! healer and scrubber bring every block back to full health.
//!
//! Blocks are 1 MiB so that a few MiB of random data make many blocks.
//!
//! One module per kind of scenario; `common` holds the cluster harness.

mod admin_tls;
mod certs;
pub(crate) mod common;
mod etcd_tls;
mod failures;
mod membership;
mod mtls;
mod revoke;
mod secret;
mod spread;
mod sse;
pub(crate) mod sse_keys;
