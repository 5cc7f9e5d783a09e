//! How fast peers answer, and which ones to avoid for a while: a hung peer
//! (frozen, not dead: its lease still runs) is treated like a slow one,
//! never waited on for the full RPC timeout.
//!
//! - Every shard call to a peer has a deadline derived from the latencies
//!   seen recently: 3 × the 99th percentile of that kind of call, at least
//!   1 s, at most the RPC timeout. A write that misses it is replaced by a
//!   write to the next disk of the ranking, like a failed one (the late
//!   shard, if it lands, is an orphan the sweep removes).
//! - A peer that misses a deadline is *suspect* for [`SUSPECT_FOR`]:
//!   writes place no new shard on it, reads ask its shards last. One
//!   answer in time clears the mark.
//! - Reads are hedged: when the data shards have not all arrived after
//!   [`PeerHealth::hedge_delay`], parity shards are asked too and the first
//!   k good shards win.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// How long a peer that missed a deadline is avoided.
pub const SUSPECT_FOR: Duration = Duration::from_secs(10);

/// Latency samples kept (per operation kind, across peers).
const WINDOW: usize = 256;

/// Kind of shard call, for deadlines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Read a shard.
    Read,
    /// Write a shard (fsync included).
    Write,
    /// Delete a shard.
    Delete,
}

impl Op {
    fn floor(self) -> Duration {
        match self {
            Op::Read | Op::Delete | Op::Write => Duration::from_secs(1),
        }
    }
}

/// Recent latencies and suspect marks of this node's peers.
#[derive(Debug)]
pub struct PeerHealth {
    ceiling: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    samples: HashMap<Op, Samples>,
    suspect_until: HashMap<String, Instant>,
}

/// The recent latencies of one kind of call, with the percentiles that
/// deadlines use. They are asked for on every shard call, so they are
/// computed when samples arrive (every [`RECOMPUTE`] samples), not by
/// sorting the window on every call.
#[derive(Debug, Default)]
struct Samples {
    window: VecDeque<Duration>,
    added: u64,
    p90: Duration,
    p99: Duration,
}

/// Samples between two computations of the percentiles.
const RECOMPUTE: u64 = 16;

impl Samples {
    fn push(&mut self, took: Duration) {
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(took);
        self.added += 1;
        if self.added.is_multiple_of(RECOMPUTE) || self.added < RECOMPUTE {
            let mut v: Vec<Duration> = self.window.iter().copied().collect();
            v.sort_unstable();
            let at = |p: usize| v[(v.len() * p / 100).min(v.len() - 1)];
            self.p90 = at(90);
            self.p99 = at(99);
        }
    }
}

impl PeerHealth {
    /// Deadlines never exceed `ceiling` (the RPC timeout).
    pub fn new(ceiling: Duration) -> PeerHealth {
        PeerHealth {
            ceiling,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The deadline of one call of kind `op` now.
    pub fn deadline(&self, op: Op) -> Duration {
        let (_, p99) = self.percentiles(op);
        (p99 * 3).max(op.floor()).min(self.ceiling)
    }

    /// How long to wait for data shards before asking parity shards too:
    /// twice the 90th percentile of reads, between 20 ms and 500 ms.
    pub fn hedge_delay(&self) -> Duration {
        (self.percentiles(Op::Read).0 * 2)
            .max(Duration::from_millis(20))
            .min(Duration::from_millis(500))
    }

    /// (p90, p99) of the recent calls of kind `op`; zero before any.
    fn percentiles(&self, op: Op) -> (Duration, Duration) {
        self.lock()
            .samples
            .get(&op)
            .map_or((Duration::ZERO, Duration::ZERO), |q| (q.p90, q.p99))
    }

    /// A call to `node` answered (success or a definite error) after `took`.
    pub fn answered(&self, node: &str, op: Op, took: Duration) {
        let mut s = self.lock();
        s.samples.entry(op).or_default().push(took);
        s.suspect_until.remove(node);
    }

    /// A call to `node` missed its deadline: avoid it for a while.
    pub fn missed(&self, node: &str) {
        let until = Instant::now() + SUSPECT_FOR;
        self.lock().suspect_until.insert(node.to_owned(), until);
    }

    /// True while `node` is avoided.
    pub fn is_suspect(&self, node: &str) -> bool {
        let mut s = self.lock();
        match s.suspect_until.get(node) {
            Some(&until) if Instant::now() < until => true,
            Some(_) => {
                s.suspect_until.remove(node);
                false
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_follow_latency_within_floor_and_ceiling() {
        let h = PeerHealth::new(Duration::from_secs(30));
        assert_eq!(h.deadline(Op::Read), Duration::from_secs(1));
        assert_eq!(h.deadline(Op::Write), Duration::from_secs(1));
        for _ in 0..100 {
            h.answered("a", Op::Read, Duration::from_millis(5));
        }
        assert_eq!(h.deadline(Op::Read), Duration::from_secs(1), "floor");
        assert_eq!(h.hedge_delay(), Duration::from_millis(20), "floor");
        for _ in 0..WINDOW {
            h.answered("a", Op::Read, Duration::from_secs(2));
        }
        assert_eq!(h.deadline(Op::Read), Duration::from_secs(6));
        assert_eq!(h.hedge_delay(), Duration::from_millis(500), "ceiling");
        for _ in 0..WINDOW {
            h.answered("a", Op::Read, Duration::from_secs(20));
        }
        assert_eq!(h.deadline(Op::Read), Duration::from_secs(30), "ceiling");
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_missed_a_deadline_is_suspect_until_it_answers_or_time_passes() {
        let h = PeerHealth::new(Duration::from_secs(30));
        h.missed("b");
        assert!(h.is_suspect("b"));
        assert!(!h.is_suspect("a"));
        tokio::time::advance(SUSPECT_FOR).await;
        assert!(!h.is_suspect("b"));
        h.missed("b");
        h.answered("b", Op::Read, Duration::from_millis(1));
        assert!(!h.is_suspect("b"));
    }
}
