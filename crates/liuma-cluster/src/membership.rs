//! Membership on the metadata store: register under a lease, heartbeat,
//! watch the `cl/` prefix and rebuild the view on every change; drain
//! marks; leaving on shutdown.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use liuma_meta::{Op, Txn, prefix_end};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cluster::{Cluster, Net};
use crate::node::{self, DrainMark, NodeInfo, now_ms};
use crate::view::{NodeState, View};
use crate::{Error, Result};

impl Cluster {
    fn net(&self) -> &Net {
        self.inner.net.as_ref().expect("clustered node")
    }

    /// Refuse to start when a live node already uses this id with other disks
    /// (two processes, one id). The same disks mean this node restarted
    /// before its old lease ran out: that is fine.
    pub(crate) async fn check_not_running_elsewhere(&self) -> Result<()> {
        let key = node::key(node::LIVE, &self.inner.node_id);
        let Some(kv) = self.net().meta.get(&key).await? else {
            return Ok(());
        };
        let Ok(other) = serde_json::from_slice::<NodeInfo>(&kv.value) else {
            return Ok(());
        };
        let mine: HashSet<&str> = self.inner.local_disks.keys().map(String::as_str).collect();
        let theirs: HashSet<&str> = other.disks.iter().map(|d| d.id.as_str()).collect();
        if mine == theirs {
            return Ok(());
        }
        Err(Error::Config(format!(
            "node id {} is registered by a live node at {} with other disks; pick another --node-id",
            self.inner.node_id, other.addr
        )))
    }

    /// The first node stores the secret's fingerprint; every later node must
    /// match it, so a node with another secret never joins.
    pub(crate) async fn check_secret(&self) -> Result<()> {
        let net = self.net();
        let mine = net.signer.fingerprint();
        let key = node::SECRET_CHECK.as_bytes().to_vec();
        let txn = Txn::new()
            .when(liuma_meta::Compare::Absent(key.clone()))
            .and_then(Op::put(key.clone(), mine.clone()));
        if net.meta.txn(txn).await?.succeeded {
            return Ok(());
        }
        match net.meta.get(&key).await? {
            Some(kv) if kv.value == mine.as_bytes() => Ok(()),
            _ => Err(Error::Config(
                "this node's cluster secret differs from the cluster's: copy secrets/cluster.secret from a node of the cluster"
                    .into(),
            )),
        }
    }

    /// Publish this node under a (new, if needed) lease.
    pub(crate) async fn register(&self) -> Result<()> {
        let net = self.net();
        let existing = *self.inner.lease.lock().expect("lease lock");
        let lease = match existing {
            Some(l) => l,
            None => {
                let l = net.meta.grant_lease(net.cfg.lease_ttl).await?;
                *self.inner.lease.lock().expect("lease lock") = Some(l);
                l
            }
        };
        self.publish(lease).await
    }

    async fn publish(&self, lease: liuma_meta::LeaseId) -> Result<()> {
        let net = self.net();
        let info = serde_json::to_vec(&self.local_info()).expect("node info serializes");
        let txn = Txn::new()
            .and_then(Op::put_with_lease(
                node::key(node::LIVE, &self.inner.node_id),
                info.clone(),
                lease,
            ))
            .and_then(Op::put(node::key(node::KNOWN, &self.inner.node_id), info));
        net.meta.txn(txn).await?;
        Ok(())
    }

    /// One heartbeat: keep the lease alive and refresh what we publish;
    /// re-register if the lease was lost (etcd was away too long).
    async fn heartbeat(&self) -> Result<()> {
        let net = self.net();
        let lease = *self.inner.lease.lock().expect("lease lock");
        if let Some(l) = lease {
            match net.meta.keep_alive(l).await {
                Ok(()) => return self.publish(l).await,
                Err(liuma_meta::Error::LeaseNotFound(_)) => {
                    tracing::warn!(node = %self.inner.node_id, "membership lease lost; registering again");
                    *self.inner.lease.lock().expect("lease lock") = None;
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.register().await
    }

    /// Reload the view from the metadata store.
    pub async fn refresh(&self) -> Result<()> {
        let Some(net) = self.inner.net.as_ref() else {
            return Ok(());
        };
        let start = node::ALL.as_bytes();
        let kvs = net.meta.range(start, &prefix_end(start), 0).await?;
        let mut known: BTreeMap<String, NodeInfo> = BTreeMap::new();
        let mut live: BTreeMap<String, NodeInfo> = BTreeMap::new();
        let mut draining = HashSet::new();
        for kv in kvs {
            let key = String::from_utf8_lossy(&kv.key).into_owned();
            if let Some(id) = key.strip_prefix(node::DRAIN) {
                draining.insert(id.to_owned());
            } else if let Ok(info) = serde_json::from_slice::<NodeInfo>(&kv.value) {
                if key.starts_with(node::LIVE) {
                    live.insert(info.id.clone(), info);
                } else if key.starts_with(node::KNOWN) {
                    known.insert(info.id.clone(), info);
                }
            }
        }
        let now = now_ms();
        let mut down_since = self.inner.down_since.lock().expect("down lock").clone();
        down_since.retain(|id, _| !live.contains_key(id) && known.contains_key(id));
        let mut nodes = BTreeMap::new();
        for (id, info) in known.into_iter().chain(live.clone()) {
            let is_live = live.contains_key(&id) || id == self.inner.node_id;
            let info = if id == self.inner.node_id {
                self.local_info()
            } else {
                info
            };
            let last_seen_ms = if is_live {
                now
            } else {
                *down_since.entry(id.clone()).or_insert(now)
            };
            nodes.insert(
                id.clone(),
                NodeState {
                    draining: draining.contains(&id),
                    info,
                    live: is_live,
                    last_seen_ms,
                },
            );
        }
        if !nodes.contains_key(&self.inner.node_id) {
            nodes.insert(
                self.inner.node_id.clone(),
                NodeState {
                    info: self.local_info(),
                    live: true,
                    draining: draining.contains(&self.inner.node_id),
                    last_seen_ms: now,
                },
            );
        }
        *self.inner.down_since.lock().expect("down lock") = down_since;
        {
            let mut up = self.inner.up_since.lock().expect("up lock");
            up.retain(|id, _| nodes.get(id).is_some_and(|n| n.live));
            for (id, n) in &nodes {
                if n.live {
                    up.entry(id.clone()).or_insert(now);
                }
            }
        }
        let old = self.view();
        let changed = old.nodes.len() != nodes.len()
            || old.nodes.iter().zip(nodes.iter()).any(|((a, x), (b, y))| {
                a != b || x.live != y.live || x.draining != y.draining || x.info.addr != y.info.addr
            });
        let new = View::new(self.inner.node_id.clone(), nodes);
        if changed {
            let live: Vec<&str> = new.live_nodes().map(|n| n.info.id.as_str()).collect();
            tracing::info!(live = ?live, "cluster membership changed");
            self.set_view(new);
        } else {
            // Same membership: swap in fresh free-space numbers quietly.
            *self.inner.view.write().expect("view lock") = std::sync::Arc::new(new);
        }
        Ok(())
    }

    /// Keep membership current until `stop`: heartbeats, and a watch on the
    /// cluster prefix that refreshes the view on every change.
    pub fn spawn(&self, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        if self.inner.net.is_none() {
            return Vec::new();
        }
        let beat = {
            let c = self.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let period = c.net().cfg.heartbeat;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(period) => {}
                        _ = stop.changed() => return,
                    }
                    if let Err(e) = c.heartbeat().await {
                        tracing::warn!(error = %e, "membership heartbeat failed");
                    }
                    if let Err(e) = c.refresh().await {
                        tracing::debug!(error = %e, "membership refresh failed");
                    }
                }
            })
        };
        let watcher = {
            let c = self.clone();
            let mut stop = stop;
            tokio::spawn(async move {
                loop {
                    let w = c.net().meta.watch_prefix(node::ALL.as_bytes()).await;
                    match w {
                        Ok(mut w) => loop {
                            tokio::select! {
                                ev = w.next() => match ev {
                                    Some(_) => { let _ = c.refresh().await; }
                                    None => break,
                                },
                                _ = stop.changed() => return,
                            }
                        },
                        Err(e) => tracing::debug!(error = %e, "membership watch failed"),
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => return,
                    }
                }
            })
        };
        vec![beat, watcher]
    }

    /// Leave cleanly: revoke the lease so peers see this node go at once.
    pub async fn leave(&self) {
        let Some(net) = self.inner.net.as_ref() else {
            return;
        };
        let lease = self.inner.lease.lock().expect("lease lock").take();
        if let Some(l) = lease
            && let Err(e) = net.meta.revoke_lease(l).await
        {
            tracing::warn!(error = %e, "could not revoke the membership lease");
        }
    }

    /// Mark `node` for draining (or clear the mark). Returns false for an unknown node.
    pub async fn set_draining(&self, node_id: &str, on: bool) -> Result<bool> {
        let Some(net) = self.inner.net.as_ref() else {
            return Err(Error::Config("draining needs a cluster (--etcd)".into()));
        };
        if !self.view().nodes.contains_key(node_id) {
            return Ok(false);
        }
        let key = node::key(node::DRAIN, node_id);
        if on {
            let mark = serde_json::to_vec(&DrainMark { since_ms: now_ms() }).expect("serializes");
            net.meta.put(&key, &mark).await?;
        } else {
            net.meta.delete(&key).await?;
        }
        self.refresh().await?;
        Ok(true)
    }

    /// Forget a node that is not live (after a drain, or a machine that
    /// will never return): its records and drain mark go. Its disks become
    /// unknown, so any shard still recorded there is healed at once.
    pub async fn forget(&self, node_id: &str) -> Result<bool> {
        let Some(net) = self.inner.net.as_ref() else {
            return Err(Error::Config(
                "forgetting a node needs a cluster (--etcd)".into(),
            ));
        };
        match self.view().nodes.get(node_id) {
            None => return Ok(false),
            Some(n) if n.live => {
                return Err(Error::Config(format!(
                    "node {node_id} is live: stop it first"
                )));
            }
            Some(_) => {}
        }
        let txn = Txn::new()
            .and_then(Op::delete(node::key(node::KNOWN, node_id)))
            .and_then(Op::delete(node::key(node::DRAIN, node_id)));
        net.meta.txn(txn).await?;
        self.refresh().await?;
        Ok(true)
    }
}
