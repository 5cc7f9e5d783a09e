//! A snapshot of the cluster as one node sees it: nodes (live, draining,
//! gone since when), which node holds which disk, where new shards may go,
//! and which node maintains which block.

use std::collections::{BTreeMap, HashMap};

use liuma_codec::BlockId;

use crate::node::NodeInfo;
use crate::placement::Candidate;

/// One node in the view.
#[derive(Clone, Debug)]
pub struct NodeState {
    /// What it published (its last registration or heartbeat).
    pub info: NodeInfo,
    /// Registered under a live lease (or this node itself).
    pub live: bool,
    /// Marked for draining: takes no new shards, is being emptied.
    pub draining: bool,
    /// Live: now. Absent: when this process first saw it absent (ms since
    /// the epoch); the heal grace counts from there.
    pub last_seen_ms: u64,
}

/// How usable a disk is for reading and keeping shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskHealth {
    /// On a live node.
    Up,
    /// On a live node that is being drained: readable, should be emptied.
    Draining,
    /// Its node has not been seen for this many ms.
    Down {
        /// ms since last seen.
        for_ms: u64,
    },
    /// No node ever published this disk.
    Unknown,
}

/// The cluster as this node sees it. Cheap to share (`Arc<View>`).
#[derive(Clone, Debug)]
pub struct View {
    /// This node's id.
    pub local: String,
    /// Every known node by id.
    pub nodes: BTreeMap<String, NodeState>,
    disk_node: HashMap<String, String>,
}

impl View {
    /// Build a view from node states.
    pub fn new(local: String, nodes: BTreeMap<String, NodeState>) -> View {
        let disk_node = nodes
            .values()
            .flat_map(|n| {
                n.info
                    .disks
                    .iter()
                    .map(|d| (d.id.clone(), n.info.id.clone()))
            })
            .collect();
        View {
            local,
            nodes,
            disk_node,
        }
    }

    /// The node holding `disk`, if any node ever published it.
    pub fn node_of(&self, disk: &str) -> Option<&NodeState> {
        self.disk_node.get(disk).and_then(|n| self.nodes.get(n))
    }

    /// Health of a disk at time `now_ms`.
    pub fn disk_health(&self, disk: &str, now_ms: u64) -> DiskHealth {
        match self.node_of(disk) {
            None => DiskHealth::Unknown,
            Some(n) if !n.live => DiskHealth::Down {
                for_ms: now_ms.saturating_sub(n.last_seen_ms),
            },
            Some(n) if n.draining => DiskHealth::Draining,
            Some(_) => DiskHealth::Up,
        }
    }

    /// Live nodes, in id order.
    pub fn live_nodes(&self) -> impl Iterator<Item = &NodeState> {
        self.nodes.values().filter(|n| n.live)
    }

    /// Disks that take new shards: on live nodes that are not draining.
    pub fn candidates(&self) -> Vec<Candidate> {
        self.live_nodes()
            .filter(|n| !n.draining)
            .flat_map(|n| {
                n.info.disks.iter().map(|d| Candidate {
                    disk: d.id.clone(),
                    node: n.info.id.clone(),
                    zone: n.info.zone.clone(),
                    weight: d.total_bytes,
                })
            })
            .collect()
    }

    /// Disks counted for the default erasure code: live nodes that are not
    /// draining, plus nodes down for less than `grace_ms` (a restart or a
    /// short outage must not change the code of new blocks).
    pub fn disks_for_erasure(&self, now_ms: u64, grace_ms: u64) -> usize {
        self.nodes
            .values()
            .filter(|n| !n.draining && (n.live || now_ms.saturating_sub(n.last_seen_ms) < grace_ms))
            .map(|n| n.info.disks.len())
            .sum()
    }

    /// Failure domains that take new shards now: live, non-draining nodes,
    /// or their zones when zones are configured (more than one zone among
    /// them). The placement floor (`min_failure_domains`) counts these.
    pub fn live_failure_domains(&self) -> usize {
        domains(self.live_nodes().filter(|n| !n.draining))
    }

    /// Failure domains counted for the default erasure code: like
    /// [`View::disks_for_erasure`], nodes down for less than `grace_ms`
    /// still count, so a restart does not change the code of new blocks.
    pub fn domains_for_erasure(&self, now_ms: u64, grace_ms: u64) -> usize {
        domains(self.nodes.values().filter(|n| {
            !n.draining && (n.live || now_ms.saturating_sub(n.last_seen_ms) < grace_ms)
        }))
    }

    /// The live node that maintains `block` (heals, rebalances, scrubs and
    /// collects it): rendezvous hashing over live node ids, so exactly one
    /// node acts and the work moves when nodes come and go.
    pub fn maintainer(&self, block: &BlockId) -> Option<&str> {
        self.live_nodes()
            .map(|n| {
                let mut h = blake3::Hasher::new();
                h.update(b"maintainer");
                h.update(&block.0);
                h.update(n.info.id.as_bytes());
                (*h.finalize().as_bytes(), n.info.id.as_str())
            })
            .max()
            .map(|(_, id)| id)
    }

    /// True when this node maintains `block`.
    pub fn maintains(&self, block: &BlockId) -> bool {
        self.maintainer(block) == Some(self.local.as_str())
    }

    /// The live node responsible for `item` of a kind of background work
    /// other than blocks (`domain`, e.g. "lifecycle" for a bucket name):
    /// the same rendezvous hashing, under the domain's own tag so the
    /// choices are independent of the blocks'.
    pub fn maintainer_of(&self, domain: &str, item: &[u8]) -> Option<&str> {
        self.live_nodes()
            .map(|n| {
                let mut h = blake3::Hasher::new();
                h.update(domain.as_bytes());
                h.update(&(item.len() as u64).to_le_bytes());
                h.update(item);
                h.update(n.info.id.as_bytes());
                (*h.finalize().as_bytes(), n.info.id.as_str())
            })
            .max()
            .map(|(_, id)| id)
    }

    /// True when this node is responsible for `item` of `domain`.
    pub fn maintains_item(&self, domain: &str, item: &[u8]) -> bool {
        self.maintainer_of(domain, item) == Some(self.local.as_str())
    }
}

/// Distinct zones of `nodes` when there are several, else distinct nodes
/// (one zone, or none configured: every node is its own failure domain).
fn domains<'a>(nodes: impl Iterator<Item = &'a NodeState>) -> usize {
    let mut ids = std::collections::HashSet::new();
    let mut zones = std::collections::HashSet::new();
    for n in nodes {
        ids.insert(n.info.id.as_str());
        zones.insert(n.info.zone.as_str());
    }
    if zones.len() > 1 {
        zones.len()
    } else {
        ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::DiskInfo;

    fn node(id: &str, live: bool, draining: bool, seen: u64) -> NodeState {
        NodeState {
            info: NodeInfo {
                id: id.into(),
                addr: "127.0.0.1:1".into(),
                zone: "z".into(),
                disks: vec![DiskInfo {
                    id: format!("d-{id}"),
                    total_bytes: 100,
                    free_bytes: 50,
                }],
                started_ms: 0,
                heartbeat_ms: seen,
                version: "t".into(),
                endpoints: Default::default(),
            },
            live,
            draining,
            last_seen_ms: seen,
        }
    }

    #[test]
    fn health_candidates_and_maintainers() {
        let nodes = [
            node("a", true, false, 1000),
            node("b", true, true, 1000),
            node("c", false, false, 400),
        ];
        let v = View::new(
            "a".into(),
            nodes.into_iter().map(|n| (n.info.id.clone(), n)).collect(),
        );
        assert_eq!(v.disk_health("d-a", 1000), DiskHealth::Up);
        assert_eq!(v.disk_health("d-b", 1000), DiskHealth::Draining);
        assert_eq!(v.disk_health("d-c", 1000), DiskHealth::Down { for_ms: 600 });
        assert_eq!(v.disk_health("d-x", 1000), DiskHealth::Unknown);
        let c: Vec<_> = v.candidates().into_iter().map(|c| c.disk).collect();
        assert_eq!(c, vec!["d-a".to_owned()]);
        assert_eq!(v.disks_for_erasure(1000, 1000), 2, "a, and c within grace");
        assert_eq!(v.disks_for_erasure(1000, 100), 1);
        // Only live nodes maintain blocks, and each block has exactly one.
        let mut seen = std::collections::HashSet::new();
        for n in 0u32..64 {
            let m = v.maintainer(&BlockId::of(&n.to_le_bytes())).unwrap();
            assert!(m == "a" || m == "b");
            seen.insert(m.to_owned());
        }
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn every_item_has_one_live_maintainer_whoever_asks() {
        let all = || {
            [
                node("a", true, false, 1000),
                node("b", true, false, 1000),
                node("c", false, false, 400),
            ]
            .into_iter()
            .map(|n| (n.info.id.clone(), n))
            .collect::<BTreeMap<_, _>>()
        };
        let views = [View::new("a".into(), all()), View::new("b".into(), all())];
        let mut per_node = [0, 0];
        for i in 0u32..64 {
            let bucket = format!("bucket-{i}");
            let who: Vec<bool> = views
                .iter()
                .map(|v| v.maintains_item("lifecycle", bucket.as_bytes()))
                .collect();
            assert_eq!(who.iter().filter(|&&w| w).count(), 1, "{bucket}");
            per_node[usize::from(who[1])] += 1;
        }
        assert!(per_node[0] > 0 && per_node[1] > 0, "{per_node:?}");
    }
}
