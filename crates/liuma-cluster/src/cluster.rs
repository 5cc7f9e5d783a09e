//! [`Cluster`]: this node's disks plus the view of its peers; reads,
//! writes and deletes shards by disk id wherever they are.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use liuma_codec::{BlockId, Shard};
use liuma_disk::ShardStore;
use liuma_meta::{DynMetaStore, LeaseId};
use tokio::sync::watch;

use crate::auth::Signer;
use crate::health::{Op, PeerHealth};
use crate::node::{DiskInfo, NodeInfo, now_ms, validate_node_id};
use crate::placement::Candidate;
use crate::rpc::PeerClient;
use crate::view::{NodeState, View};
use crate::{Error, Result};

/// How a node joins a cluster.
#[derive(Clone)]
pub struct ClusterConfig {
    /// Unique node id: letters, digits, `-`, `_`, `.`; at most 64.
    pub node_id: String,
    /// Failure domain.
    pub zone: String,
    /// host:port where peers reach this node's shard API.
    pub advertise: String,
    /// The cluster secret shared by every node.
    pub secret: Vec<u8>,
    /// TTL of the membership lease. Default 10 s.
    pub lease_ttl: Duration,
    /// Heartbeat (lease keep-alive and free-space update) period. Default 3 s.
    pub heartbeat: Duration,
    /// Public endpoints to publish ("s3", "native", "admin" → host:port).
    pub endpoints: BTreeMap<String, String>,
    /// Mutual TLS to peers (cluster CA roots, this node's client
    /// certificate); `None` = plain HTTP (`--cluster-tls off`).
    pub tls: Option<PeerTls>,
}

/// Mutual TLS of the shard API, both sides.
#[derive(Clone)]
pub struct PeerTls {
    /// For calls to peers: the cluster CA as the only root, this node's
    /// certificate for client auth.
    pub client: Arc<rustls::ClientConfig>,
    /// Revocation and expiry, asked on every request by the server and
    /// the client (connections outlive the handshake's verdict).
    pub check: Arc<dyn crate::PeerCheck>,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("node_id", &self.node_id)
            .field("zone", &self.zone)
            .field("advertise", &self.advertise)
            .finish_non_exhaustive()
    }
}

/// Membership, placement inputs and shard I/O for one node. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub node_id: String,
    pub zone: String,
    pub advertise: String,
    pub started_ms: u64,
    pub endpoints: BTreeMap<String, String>,
    pub local: Arc<ShardStore>,
    pub local_disks: HashMap<String, usize>,
    pub view: RwLock<Arc<View>>,
    /// Bumped whenever the view changes (maintenance wakes up on joins).
    pub changed: watch::Sender<u64>,
    pub net: Option<Net>,
    pub lease: Mutex<Option<LeaseId>>,
    /// When this process first saw each absent node absent (ms). The heal
    /// grace counts from here, never from a node's last heartbeat: after an
    /// etcd outage or a restart of this node, every absence starts fresh.
    pub down_since: Mutex<HashMap<String, u64>>,
    /// When this process saw each live node become live (ms): rebalancing
    /// waits until every live node has been up for the heal grace, so a
    /// node that was frozen or restarted does not set off a wave of moves
    /// the moment it is back.
    pub up_since: Mutex<HashMap<String, u64>>,
    /// Peer latencies and the peers to avoid for a while (hung, not dead).
    pub health: PeerHealth,
}

/// What only a clustered node has.
pub(crate) struct Net {
    pub meta: DynMetaStore,
    pub signer: Arc<Signer>,
    pub peers: PeerClient,
    pub cfg: ClusterConfig,
}

impl Cluster {
    /// A node on its own: only local disks, no membership, no network.
    pub fn single(local: Arc<ShardStore>) -> Cluster {
        Self::build(
            local,
            "local".into(),
            "default".into(),
            String::new(),
            BTreeMap::new(),
            None,
        )
    }

    /// Join the cluster whose membership lives in `meta`: register this
    /// node and load the view. Call [`Cluster::spawn`] to keep it current.
    pub async fn join(
        meta: DynMetaStore,
        local: Arc<ShardStore>,
        cfg: ClusterConfig,
    ) -> Result<Cluster> {
        if !validate_node_id(&cfg.node_id) {
            return Err(Error::Config(format!(
                "node id {:?}: use 1-64 letters, digits, '-', '_' or '.'",
                cfg.node_id
            )));
        }
        if cfg.secret.len() < 16 {
            return Err(Error::Config(
                "the cluster secret needs at least 16 bytes".into(),
            ));
        }
        let signer = Arc::new(Signer::new(&cfg.secret));
        let net = Net {
            meta,
            peers: PeerClient::with_tls(signer.clone(), cfg.tls.clone()),
            signer,
            cfg: cfg.clone(),
        };
        let (id, zone, advertise, endpoints) =
            (cfg.node_id, cfg.zone, cfg.advertise, cfg.endpoints);
        let c = Self::build(local, id, zone, advertise, endpoints, Some(net));
        c.check_secret().await?;
        c.check_not_running_elsewhere().await?;
        c.register().await?;
        c.refresh().await?;
        Ok(c)
    }

    fn build(
        local: Arc<ShardStore>,
        node_id: String,
        zone: String,
        advertise: String,
        endpoints: BTreeMap<String, String>,
        net: Option<Net>,
    ) -> Cluster {
        let local_disks = (0..local.disk_count())
            .map(|i| (local.disk_id(i).0.clone(), i))
            .collect();
        let inner = Arc::new(Inner {
            node_id,
            zone,
            advertise,
            started_ms: now_ms(),
            endpoints,
            local,
            local_disks,
            view: RwLock::new(Arc::new(View::new(String::new(), BTreeMap::new()))),
            changed: watch::channel(0).0,
            net,
            lease: Mutex::new(None),
            down_since: Mutex::new(HashMap::new()),
            up_since: Mutex::new(HashMap::new()),
            health: PeerHealth::new(crate::rpc::CALL_TIMEOUT),
        });
        let c = Cluster { inner };
        let me = c.local_info();
        c.set_view(View::new(
            c.inner.node_id.clone(),
            BTreeMap::from([(
                me.id.clone(),
                NodeState {
                    info: me,
                    live: true,
                    draining: false,
                    last_seen_ms: now_ms(),
                },
            )]),
        ));
        c
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// This node's disks.
    pub fn local(&self) -> &Arc<ShardStore> {
        &self.inner.local
    }

    /// True when part of a cluster (membership in the metadata store).
    pub fn is_clustered(&self) -> bool {
        self.inner.net.is_some()
    }

    /// The current view of the cluster.
    pub fn view(&self) -> Arc<View> {
        self.inner.view.read().expect("view lock").clone()
    }

    /// A receiver that changes whenever the view does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    pub(crate) fn set_view(&self, v: View) {
        *self.inner.view.write().expect("view lock") = Arc::new(v);
        self.inner.changed.send_modify(|n| *n += 1);
    }

    /// What this node publishes about itself right now.
    pub fn local_info(&self) -> NodeInfo {
        let local = &self.inner.local;
        let disks = (0..local.disk_count())
            .map(|i| {
                let u = local.usage(i).ok();
                DiskInfo {
                    id: local.disk_id(i).0.clone(),
                    total_bytes: u.as_ref().map_or(0, |u| u.total_bytes),
                    free_bytes: u.as_ref().map_or(0, |u| u.free_bytes),
                }
            })
            .collect();
        NodeInfo {
            id: self.inner.node_id.clone(),
            addr: self.inner.advertise.clone(),
            zone: self.inner.zone.clone(),
            disks,
            started_ms: self.inner.started_ms,
            heartbeat_ms: now_ms(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            endpoints: self.inner.endpoints.clone(),
        }
    }

    /// The router of the internal shard API (clustered nodes only).
    pub fn router(&self) -> Option<axum::Router> {
        let net = self.inner.net.as_ref()?;
        Some(crate::rpc::router(
            self.inner.local.clone(),
            net.signer.clone(),
            net.cfg.tls.as_ref().map(|t| t.check.clone()),
        ))
    }

    /// Whether `disk` is on this node.
    pub fn is_local_disk(&self, disk: &str) -> bool {
        self.local_disk(disk).is_some()
    }

    fn local_disk(&self, disk: &str) -> Option<usize> {
        self.inner.local_disks.get(disk).copied()
    }

    /// The peer holding `disk`: (node id, address).
    fn remote(&self, disk: &str) -> Result<(&Net, String, String)> {
        let unavailable = || Error::DiskUnavailable {
            disk: disk.to_owned(),
        };
        let net = self.inner.net.as_ref().ok_or_else(unavailable)?;
        let view = self.view();
        let node = view
            .node_of(disk)
            .filter(|n| n.live)
            .ok_or_else(unavailable)?;
        Ok((net, node.info.id.clone(), node.info.addr.clone()))
    }

    /// Write a shard to `disk`, local or on its node.
    pub async fn write_shard(&self, disk: &str, shard: &Shard) -> Result<()> {
        if let Some(i) = self.local_disk(disk) {
            let store = self.inner.local.clone();
            let shard = shard.clone();
            return Ok(blocking(move || store.write_shard(i, &shard)).await?);
        }
        let (net, node, addr) = self.remote(disk)?;
        self.timed(&node, Op::Write, net.peers.put(&node, &addr, disk, shard))
            .await
    }

    /// Read a shard's frame from `disk` (not verified: the decoder does).
    pub async fn read_shard(&self, disk: &str, id: &BlockId, index: u16) -> Result<Bytes> {
        if let Some(i) = self.local_disk(disk) {
            let store = self.inner.local.clone();
            let id = *id;
            return Ok(blocking(move || store.read_shard_frame(i, &id, index)).await?);
        }
        let (net, node, addr) = self.remote(disk)?;
        self.timed(
            &node,
            Op::Read,
            net.peers.get(&node, &addr, disk, id, index),
        )
        .await
    }

    /// Read a shard's frame from a *local* `disk` into `buf` (see
    /// [`liuma_disk::ShardStore::read_shard_frame_into`]). `None` when the
    /// disk is not on this node; else the buffer comes back with the result,
    /// whatever it is, so the caller can reuse it.
    pub async fn read_local_shard_into(
        &self,
        disk: &str,
        id: &BlockId,
        index: u16,
        mut buf: Vec<u8>,
    ) -> Option<(Vec<u8>, Result<()>)> {
        let i = self.local_disk(disk)?;
        let store = self.inner.local.clone();
        let id = *id;
        let joined = tokio::task::spawn_blocking(move || {
            let r = store.read_shard_frame_into(i, &id, index, &mut buf);
            (buf, r)
        })
        .await;
        Some(match joined {
            Ok((buf, r)) => (buf, r.map_err(Error::from)),
            Err(e) => (
                Vec::new(),
                Err(Error::from(liuma_disk::Error::Io {
                    disk: 0,
                    source: std::io::Error::other(e.to_string()),
                })),
            ),
        })
    }

    /// Delete a shard from `disk` (absent counts as done).
    pub async fn delete_shard(&self, disk: &str, id: &BlockId, index: u16) -> Result<()> {
        if let Some(i) = self.local_disk(disk) {
            let store = self.inner.local.clone();
            let id = *id;
            return Ok(blocking(move || store.delete_shard(i, &id, index).map(|_| ())).await?);
        }
        let (net, node, addr) = self.remote(disk)?;
        self.timed(
            &node,
            Op::Delete,
            net.peers.delete(&node, &addr, disk, id, index),
        )
        .await
    }

    /// A call to a peer within the deadline its recent latency allows. A
    /// peer that misses it, or cannot be reached, is avoided for a while.
    async fn timed<T>(
        &self,
        node: &str,
        op: Op,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let health = &self.inner.health;
        let deadline = health.deadline(op);
        let started = tokio::time::Instant::now();
        match tokio::time::timeout(deadline, call).await {
            Ok(Err(e @ Error::Unreachable { .. })) => {
                health.missed(node);
                Err(e)
            }
            Ok(r) => {
                health.answered(node, op, started.elapsed());
                r
            }
            Err(_) => {
                health.missed(node);
                Err(Error::TooSlow {
                    node: node.to_owned(),
                    deadline,
                })
            }
        }
    }

    /// True while the node holding `disk` is avoided (it missed a deadline
    /// recently). Local disks are never suspect.
    pub fn is_suspect_disk(&self, disk: &str) -> bool {
        if self.local_disk(disk).is_some() {
            return false;
        }
        let view = self.view();
        view.node_of(disk)
            .is_some_and(|n| self.inner.health.is_suspect(&n.info.id))
    }

    /// True when every live node has been live (as this process saw it)
    /// for at least `grace_ms`: only then does the healer rebalance.
    pub fn settled(&self, grace_ms: u64) -> bool {
        let now = now_ms();
        let up = self
            .inner
            .up_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.view()
            .live_nodes()
            .filter(|n| n.info.id != self.inner.node_id)
            .all(|n| {
                up.get(&n.info.id)
                    .is_some_and(|&t| now.saturating_sub(t) >= grace_ms)
            })
    }

    /// How long a read waits for its data shards before asking parity too.
    pub fn hedge_delay(&self) -> Duration {
        self.inner.health.hedge_delay()
    }

    /// Disks a new shard may go to: those of live, non-draining nodes,
    /// without the nodes that missed a deadline recently (a hung peer is
    /// skipped like a failed one), unless that leaves none.
    /// Also says whether a suspect node was left out (then placement over
    /// these differs from placement over every live disk, which the healer
    /// restores).
    pub fn write_candidates(&self) -> (Vec<Candidate>, bool) {
        let all = self.view().candidates();
        let health = &self.inner.health;
        let fresh: Vec<Candidate> = all
            .iter()
            .filter(|c| c.node == self.inner.node_id || !health.is_suspect(&c.node))
            .cloned()
            .collect();
        if fresh.is_empty() || fresh.len() == all.len() {
            (all, false)
        } else {
            (fresh, true)
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> liuma_disk::Result<T> + Send + 'static,
) -> liuma_disk::Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(liuma_disk::Error::Io {
            disk: 0,
            source: std::io::Error::other(e.to_string()),
        }),
    }
}
