//! Status of the cluster and of this node's disks, and the membership
//! actions of the admin API (drain, forget), as engine methods returning
//! engine types: the front doors show and change the cluster without
//! holding the cluster layer (`Engine::cluster` is crate-private).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{Engine, Error, Result};

/// The cluster as this node sees it (`GET /admin/cluster`).
#[derive(Clone, Debug, Serialize)]
pub struct ClusterStatus {
    /// This node's id.
    pub node_id: String,
    /// Part of a cluster (etcd membership), not a node on its own.
    pub clustered: bool,
    /// The erasure code of new blocks, `"k+m"`.
    pub erasure: String,
    /// Nodes registered under a live lease.
    pub live_nodes: usize,
    /// Failure domains (nodes, or zones when there are several) that are live.
    pub live_failure_domains: usize,
    /// Failure domains a write needs (`min_failure_domains`, default m+1).
    pub min_failure_domains: usize,
    /// Every known node, live or not.
    pub nodes: Vec<NodeStatus>,
}

/// One node of the cluster.
#[derive(Clone, Debug, Serialize)]
pub struct NodeStatus {
    /// Node id.
    pub id: String,
    /// Failure domain (rack, room, AZ).
    pub zone: String,
    /// Registered under a live lease (or this node itself).
    pub live: bool,
    /// Marked for draining: takes no new shards, is being emptied.
    pub draining: bool,
    /// host:port of its shard API.
    pub shard_api: String,
    /// Its public endpoints by API name ("s3", "native", "admin").
    pub endpoints: BTreeMap<String, String>,
    /// When its process started, ms since the epoch.
    pub started_ms: u64,
    /// Live: now; else when this node first saw it absent (ms since the epoch).
    pub last_seen_ms: u64,
    /// Its liuma version.
    pub version: String,
    /// Its disks as it last published them.
    pub disks: Vec<DiskStatus>,
    /// Free bytes over its disks.
    pub free_bytes: u64,
    /// Capacity over its disks.
    pub total_bytes: u64,
}

/// One disk: its id, capacity and free space, in bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiskStatus {
    /// Stable disk id (random, stored on the disk).
    pub id: String,
    /// Size of its file system.
    pub total_bytes: u64,
    /// Free bytes.
    pub free_bytes: u64,
}

impl Engine {
    /// The cluster as this node sees it now (no I/O).
    pub fn cluster_status(&self) -> ClusterStatus {
        let cluster = self.cluster();
        let view = cluster.view();
        let (k, m) = self.erasure();
        let nodes = view
            .nodes
            .values()
            .map(|n| {
                let disks: Vec<DiskStatus> = n
                    .info
                    .disks
                    .iter()
                    .map(|d| DiskStatus {
                        id: d.id.clone(),
                        total_bytes: d.total_bytes,
                        free_bytes: d.free_bytes,
                    })
                    .collect();
                NodeStatus {
                    id: n.info.id.clone(),
                    zone: n.info.zone.clone(),
                    live: n.live,
                    draining: n.draining,
                    shard_api: n.info.addr.clone(),
                    endpoints: n.info.endpoints.clone(),
                    started_ms: n.info.started_ms,
                    last_seen_ms: n.last_seen_ms,
                    version: n.info.version.clone(),
                    free_bytes: disks.iter().map(|d| d.free_bytes).sum(),
                    total_bytes: disks.iter().map(|d| d.total_bytes).sum(),
                    disks,
                }
            })
            .collect();
        ClusterStatus {
            node_id: cluster.node_id().to_owned(),
            clustered: cluster.is_clustered(),
            erasure: format!("{k}+{m}"),
            live_nodes: view.live_nodes().count(),
            live_failure_domains: view.live_failure_domains(),
            min_failure_domains: self
                .config()
                .min_failure_domains
                .unwrap_or(usize::from(m) + 1),
            nodes,
        }
    }

    /// Free and total bytes of this node's own disks, measured now
    /// (`statvfs`, no shard I/O); a disk that cannot be measured is left out.
    pub fn local_disk_usage(&self) -> Vec<DiskStatus> {
        let disks = self.disks();
        (0..disks.disk_count())
            .filter_map(|i| {
                let u = disks.usage(i).ok()?;
                Some(DiskStatus {
                    id: disks.disk_id(i).0.clone(),
                    total_bytes: u.total_bytes,
                    free_bytes: u.free_bytes,
                })
            })
            .collect()
    }

    /// Mark a node for draining (`on`) or cancel the mark: it takes no new
    /// shards and the healers move its shards off.
    pub async fn set_node_draining(&self, node_id: &str, on: bool) -> Result<()> {
        match self.cluster().set_draining(node_id, on).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::NoSuchNode {
                id: node_id.to_owned(),
            }),
            Err(e) => Err(Error::from_cluster(e)),
        }
    }

    /// Forget a node that is not live: its disks become unknown, so the
    /// shards still recorded there are healed at once.
    /// Its shard API certificate is revoked too (see [`Self::revoke_node_cert`]).
    pub async fn forget_node(&self, node_id: &str) -> Result<()> {
        match self.cluster().forget(node_id).await {
            Ok(true) => self.record_revocation(node_id).await,
            Ok(false) => Err(Error::NoSuchNode {
                id: node_id.to_owned(),
            }),
            Err(e) => Err(Error::from_cluster(e)),
        }
    }

    /// Revoke a known node's shard API certificates issued until now: its
    /// id and the time go to `cl/revoked/<id>`, which every node's TLS
    /// verifiers read (the server's `cluster_certs`). The time in ms.
    pub async fn revoke_node_cert(&self, node_id: &str) -> Result<u64> {
        if !self.cluster().view().nodes.contains_key(node_id) {
            return Err(Error::NoSuchNode {
                id: node_id.to_owned(),
            });
        }
        self.record_revocation(node_id).await?;
        Ok(self.now_ms())
    }

    /// Revoke one shard API certificate by the SHA-256 fingerprint of its
    /// DER (64 hex digits; `:` separators and either case accepted): for
    /// certificates that name no node, which [`Self::revoke_node_cert`]
    /// cannot match. Recorded at `cl/revoked-cert/<hex>` = time; every
    /// node's TLS verifiers and per-request check read it. The lowercase
    /// hex and the time in ms.
    pub async fn revoke_cert_fingerprint(&self, fingerprint: &str) -> Result<(String, u64)> {
        let hex: String = fingerprint
            .trim()
            .chars()
            .filter(|&c| c != ':')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidArgument {
                what: "a certificate fingerprint is the SHA-256 of its DER: 64 hex digits",
            });
        }
        let at = crate::model::now_ms();
        let key = [b"cl/revoked-cert/".as_slice(), hex.as_bytes()].concat();
        self.inner
            .meta
            .txn(
                liuma_meta::Txn::new()
                    .and_then(liuma_meta::Op::put(key, at.to_string().into_bytes())),
            )
            .await?;
        Ok((hex, at))
    }

    async fn record_revocation(&self, node_id: &str) -> Result<()> {
        let key = [b"cl/revoked/".as_slice(), node_id.as_bytes()].concat();
        let at = crate::model::now_ms().to_string();
        self.inner
            .meta
            .txn(liuma_meta::Txn::new().and_then(liuma_meta::Op::put(key, at.into_bytes())))
            .await?;
        Ok(())
    }
}
