//! Membership records: what a node publishes about itself, and the key
//! layout under `cl/` in the metadata store.

use serde::{Deserialize, Serialize};

/// Live nodes, one key per node under its lease: gone when the lease ends.
pub(crate) const LIVE: &str = "cl/n/";
/// Every node that ever joined, with its last heartbeat (no lease): lets a
/// node that restarts tell "down for a while" from "never existed".
pub(crate) const KNOWN: &str = "cl/k/";
/// Drain marks: a node here takes no new shards and is emptied.
pub(crate) const DRAIN: &str = "cl/d/";
/// Fingerprint of the cluster secret (see [`crate::Signer::fingerprint`]).
pub(crate) const SECRET_CHECK: &str = "cl/secret";
/// Everything of the cluster layer.
pub(crate) const ALL: &str = "cl/";

pub(crate) fn key(prefix: &str, node: &str) -> Vec<u8> {
    format!("{prefix}{node}").into_bytes()
}

/// One disk of a node, as published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskInfo {
    /// Stable disk id (random, stored on the disk).
    pub id: String,
    /// Size of its file system, bytes.
    pub total_bytes: u64,
    /// Free bytes.
    pub free_bytes: u64,
}

/// What a node publishes about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Node id (unique in the cluster).
    pub id: String,
    /// host:port of its internal shard API.
    pub addr: String,
    /// Failure domain (rack, room, AZ).
    pub zone: String,
    /// Its disks.
    pub disks: Vec<DiskInfo>,
    /// When this process started, ms since the epoch.
    pub started_ms: u64,
    /// Last heartbeat written, ms since the epoch.
    pub heartbeat_ms: u64,
    /// liuma version.
    pub version: String,
    /// Its public endpoints by API name ("s3", "native", "admin"): host:port.
    #[serde(default)]
    pub endpoints: std::collections::BTreeMap<String, String>,
}

/// A drain request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct DrainMark {
    pub since_ms: u64,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Node ids become metadata keys and URL parts: keep them plain.
pub(crate) fn validate_node_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}
