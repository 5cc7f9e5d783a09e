//! Where a block's shards go: weighted rendezvous hashing (HRW) of the block
//! id over every writable disk of the cluster, then a spread over distinct
//! nodes and zones. Deterministic, so every node computes the same answer
//! and two uploads of the same block pick the same disks; adding a disk
//! moves only its fair share of shards.

use std::collections::{HashMap, HashSet};

use liuma_codec::BlockId;

/// A disk that can take shards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Disk id.
    pub disk: String,
    /// Node holding it.
    pub node: String,
    /// The node's zone.
    pub zone: String,
    /// Weight: capacity in bytes (stable, unlike free space, so placement
    /// does not drift as disks fill).
    pub weight: u64,
}

/// Order `candidates` by preference for `block` (indices into it).
pub fn rank(block: &BlockId, candidates: &[Candidate]) -> Vec<usize> {
    let mut scored: Vec<(f64, usize)> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut h = blake3::Hasher::new();
            h.update(&block.0);
            h.update(c.disk.as_bytes());
            let bytes = h.finalize();
            let raw = u64::from_le_bytes(bytes.as_bytes()[..8].try_into().expect("8 bytes"));
            // u in (0, 1]; score = -w / ln(u) is the classic weighted HRW.
            let u = ((raw >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
            let w = c.weight.max(1) as f64;
            (-w / u.ln().min(-f64::MIN_POSITIVE), i)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, i)| i).collect()
}

/// Pick `n` disks from a ranking: first disks on new nodes in new zones,
/// then on new nodes, then any unused disk, and only then (fewer disks than
/// shards) the ranking again, round robin.
pub fn spread(candidates: &[Candidate], ranked: &[usize], n: usize) -> Vec<usize> {
    spread_from(candidates, ranked, n, &[])
}

/// Like [`spread`], with some disks already holding shards of the block
/// (`taken`): picks `n` more, avoiding their nodes and zones first.
pub fn spread_from(
    candidates: &[Candidate],
    ranked: &[usize],
    n: usize,
    taken: &[usize],
) -> Vec<usize> {
    spread_capped(candidates, ranked, n, taken, usize::MAX)
}

/// Like [`spread_from`], but never more than `per_node` shards of the block
/// on one node (counting `taken`): a node that goes takes at most what the
/// code can lose. Returns fewer than `n` disks when the nodes cannot hold
/// them under the cap; the caller refuses the write rather than double up.
pub fn spread_capped(
    candidates: &[Candidate],
    ranked: &[usize],
    n: usize,
    taken: &[usize],
    per_node: usize,
) -> Vec<usize> {
    if ranked.is_empty() {
        return Vec::new();
    }
    let mut disks: HashSet<usize> = taken.iter().copied().collect();
    let mut nodes: HashMap<&str, usize> = HashMap::new();
    for &i in taken {
        *nodes.entry(candidates[i].node.as_str()).or_default() += 1;
    }
    let mut zones: HashSet<&str> = taken.iter().map(|&i| candidates[i].zone.as_str()).collect();
    let mut chosen = Vec::with_capacity(n);
    for pass in 0..3 {
        for &i in ranked {
            if chosen.len() == n {
                return chosen;
            }
            let c = &candidates[i];
            let on_node = nodes.get(c.node.as_str()).copied().unwrap_or(0);
            let fits = !disks.contains(&i)
                && on_node < per_node
                && match pass {
                    0 => on_node == 0 && !zones.contains(c.zone.as_str()),
                    1 => on_node == 0,
                    _ => true,
                };
            if fits {
                disks.insert(i);
                *nodes.entry(&c.node).or_default() += 1;
                zones.insert(&c.zone);
                chosen.push(i);
            }
        }
    }
    // Fewer disks than shards: the ranking again, round robin, within the cap.
    let mut next = 0;
    while chosen.len() < n && next < ranked.len() * n {
        let i = ranked[next % ranked.len()];
        next += 1;
        let on_node = nodes.entry(&candidates[i].node).or_default();
        if *on_node < per_node {
            *on_node += 1;
            chosen.push(i);
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disks(nodes: usize, per_node: usize, zones: usize) -> Vec<Candidate> {
        let mut v = Vec::new();
        for n in 0..nodes {
            for d in 0..per_node {
                v.push(Candidate {
                    disk: format!("disk-{n}-{d}"),
                    node: format!("node{n}"),
                    zone: format!("z{}", n % zones),
                    weight: 1 << 30,
                });
            }
        }
        v
    }

    #[test]
    fn shards_land_on_distinct_nodes_and_spread_evenly() {
        let d = disks(6, 2, 1);
        let mut load = vec![0usize; d.len()];
        for n in 0u32..3000 {
            let id = BlockId::of(&n.to_le_bytes());
            let a = spread(&d, &rank(&id, &d), 6);
            let nodes: HashSet<&str> = a.iter().map(|&i| d[i].node.as_str()).collect();
            assert_eq!(nodes.len(), 6, "one shard per node");
            for i in a {
                load[i] += 1;
            }
        }
        // 3000*6/12 = 1500 per disk; allow 10 %.
        for l in &load {
            assert!((1350..=1650).contains(l), "uneven load {load:?}");
        }
    }

    #[test]
    fn zones_are_spread_before_nodes_repeat() {
        let d = disks(6, 1, 3);
        for n in 0u32..200 {
            let id = BlockId::of(&n.to_le_bytes());
            let a = spread(&d, &rank(&id, &d), 3);
            let zones: HashSet<&str> = a.iter().map(|&i| d[i].zone.as_str()).collect();
            assert_eq!(zones.len(), 3, "three shards, three zones");
        }
    }

    #[test]
    fn fewer_nodes_than_shards_still_uses_every_disk_once() {
        let d = disks(2, 2, 1);
        let id = BlockId::of(b"x");
        let a = spread(&d, &rank(&id, &d), 4);
        let set: HashSet<usize> = a.iter().copied().collect();
        assert_eq!(set.len(), 4);
        // 6 shards on 4 disks: every disk used, two twice.
        assert_eq!(spread(&d, &rank(&id, &d), 6).len(), 6);
    }

    #[test]
    fn spread_from_avoids_taken_nodes() {
        let d = disks(4, 1, 1);
        let id = BlockId::of(b"y");
        let r = rank(&id, &d);
        let more = spread_from(&d, &r, 2, &[r[0], r[1]]);
        assert_eq!(more, vec![r[2], r[3]]);
    }

    #[test]
    fn the_cap_keeps_a_node_to_m_shards_or_gives_fewer() {
        // Node 0 has four disks, nodes 1 and 2 one each: uncapped, 4+2 puts
        // four shards on node 0; capped at 2, every node holds at most 2.
        let mut d = disks(1, 4, 1);
        d.extend(disks(3, 1, 1).into_iter().skip(1));
        for n in 0u32..100 {
            let id = BlockId::of(&n.to_le_bytes());
            let r = rank(&id, &d);
            let a = spread_capped(&d, &r, 6, &[], 2);
            assert_eq!(a.len(), 6);
            for node in ["node0", "node1", "node2"] {
                let on = a.iter().filter(|&&i| d[i].node == node).count();
                assert!(on <= 2, "{on} shards on {node}");
            }
            // Two nodes cannot hold 6 shards at 2 each: fewer, not doubled.
            let two = disks(2, 3, 1);
            assert_eq!(spread_capped(&two, &rank(&id, &two), 6, &[], 2).len(), 4);
        }
    }

    #[test]
    fn adding_a_node_moves_only_a_fair_share() {
        let before = disks(5, 1, 1);
        let after = disks(6, 1, 1);
        let mut moved = 0;
        for n in 0u32..3000 {
            let id = BlockId::of(&n.to_le_bytes());
            let b: HashSet<String> = spread(&before, &rank(&id, &before), 3)
                .into_iter()
                .map(|i| before[i].disk.clone())
                .collect();
            let a: HashSet<String> = spread(&after, &rank(&id, &after), 3)
                .into_iter()
                .map(|i| after[i].disk.clone())
                .collect();
            moved += a.difference(&b).count();
        }
        // ideal: the new disk takes 3/6 of 3000 blocks' shards = 1500 moves.
        assert!((1300..=1700).contains(&moved), "moved {moved}");
    }
}
