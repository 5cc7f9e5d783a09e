//! Where a block's shards go: weighted rendezvous hashing of the block id
//! over the node's disks. Deterministic, so two uploads of the same block
//! pick the same disks, and adding a disk moves only a fair share.

use liuma_codec::BlockId;

/// A disk that can take shards, with its weight (capacity in bytes: stable,
/// unlike free space, so placement does not drift as disks fill).
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub index: usize,
    pub id: String,
    pub weight: u64,
}

/// Order `candidates` by preference for `block`. The first k+m get the
/// shards; the rest are fallbacks when a write fails.
pub(crate) fn rank(block: &BlockId, candidates: &[Candidate]) -> Vec<usize> {
    let mut scored: Vec<(f64, usize)> = candidates
        .iter()
        .map(|c| {
            let mut h = blake3::Hasher::new();
            h.update(&block.0);
            h.update(c.id.as_bytes());
            let bytes = h.finalize();
            let raw = u64::from_le_bytes(bytes.as_bytes()[..8].try_into().expect("8 bytes"));
            // u in (0, 1]; score = -w / ln(u) is the classic weighted HRW.
            let u = ((raw >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
            let w = c.weight.max(1) as f64;
            (-w / u.ln().min(-f64::MIN_POSITIVE), c.index)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, i)| i).collect()
}

/// Assign `shards` shard indices to disks: distinct disks while there are
/// enough, else round-robin over the ranking (as even as possible).
pub(crate) fn assign(ranked: &[usize], shards: usize) -> Vec<usize> {
    (0..shards).map(|i| ranked[i % ranked.len()]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disks(n: usize) -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate {
                index: i,
                id: format!("disk{i}"),
                weight: 1 << 30,
            })
            .collect()
    }

    #[test]
    fn shards_land_on_distinct_disks_and_spread_evenly() {
        let d = disks(6);
        let mut load = [0usize; 6];
        for n in 0u32..3000 {
            let id = BlockId::of(&n.to_le_bytes());
            let a = assign(&rank(&id, &d), 4);
            let mut s = a.clone();
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), 4, "distinct disks");
            for i in a {
                load[i] += 1;
            }
        }
        // 3000*4/6 = 2000 each; allow 10 %.
        for l in load {
            assert!((1800..=2200).contains(&l), "uneven load {load:?}");
        }
    }

    #[test]
    fn adding_a_disk_moves_only_a_fair_share() {
        let before = disks(4);
        let after = disks(5);
        let mut moved = 0;
        for n in 0u32..2000 {
            let id = BlockId::of(&n.to_le_bytes());
            if rank(&id, &before)[0] != rank(&id, &after)[0] {
                moved += 1;
            }
        }
        // ideal is 1/5 of 2000 = 400
        assert!((300..=500).contains(&moved), "moved {moved}");
    }
}
