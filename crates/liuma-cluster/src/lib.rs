//! # liuma-cluster — where shards live (layer 4)
//!
//! A node is a set of local disks ([`liuma_disk::ShardStore`]) plus, in a
//! cluster, a view of every other node learned from the metadata store:
//! each node registers itself under a lease (`cl/n/<id>`), remembers that it
//! ever existed (`cl/k/<id>`, with a heartbeat), and may be marked for
//! draining (`cl/d/<id>`). Every node watches that prefix and rebuilds its
//! [`View`] on each change, so joins and departures apply without restarts.
//!
//! [`Cluster`] is what the object engine talks to: it places shards
//! ([`placement`]: weighted rendezvous hashing of the block id over disks,
//! spread over distinct nodes, then zones) and reads, writes and deletes
//! them by disk id, locally or through a peer's internal shard API
//! ([`rpc`], HMAC-signed with the cluster secret, with a replay window).
//!
//! A single node is a cluster of one: [`Cluster::single`] has no membership
//! and no network, and the engine runs the same code either way.
//!
//! Depends on liuma-codec (shard types), liuma-disk and liuma-meta; only
//! liuma-engine depends on it (front ends see the cluster through the
//! engine's status types and methods).
//!
//! # Layout
//! - `cluster`: [`Cluster`], the facade (local or remote shard I/O, the view)
//! - `membership`: registration under a lease, heartbeats, the watch,
//!   drain marks, forgetting nodes
//! - `node`, `view`: the published records ([`NodeInfo`], [`DiskInfo`]) and
//!   the [`View`] built from them (live, draining, disk health)
//! - [`placement`]: rendezvous ranking and spreading (pure functions)
//! - [`rpc`]: the shard API (server and client); `auth`: its HMAC signing
//!   and replay window ([`Signer`])
//! - [`peer_cert`]: the certificate the peer of a connection presented, and
//!   the per-request revocation and expiry check ([`PeerCheck`])
//! - [`health`]: per-peer latency, deadlines and suspects (hung peers)
//! - `error`: [`Error`] and [`Result`]

mod auth;
mod cluster;
mod error;
pub mod health;
mod membership;
mod node;
pub mod peer_cert;
pub mod placement;
pub mod rpc;
mod view;

pub use auth::{AuthError, Signer};
pub use cluster::{Cluster, ClusterConfig, PeerTls};
pub use error::{Error, Result};
pub use node::{DiskInfo, NodeInfo};
pub use peer_cert::{CertIdentity, PeerCert, PeerCheck, Refusal};
pub use placement::Candidate;
pub use view::{DiskHealth, NodeState, View};
