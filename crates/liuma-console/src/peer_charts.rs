//! Whole-cluster charts: the serving node asks every other live node for
//! its chart points through that node's admin API (`GET /admin/charts`,
//! `endpoints["admin"]` of its membership record — `https://` and a
//! certificate checked against the node's trust when the peer's admin
//! listener speaks TLS — the admin token every node of a cluster shares:
//! the same route the cluster-wide heal and scrub already take), each
//! with a short deadline, so a hung or killed
//! node is shown as "no data" and never waited on. Points already fetched
//! are kept per node and only newer ones asked for (`since_ms`): a poll
//! every 2 s moves a few hundred bytes per node, not the whole ring.
//!
//! The cluster view sums the nodes' rates and byte counters and takes the
//! largest p99 (a p99 of p99s cannot be computed from the points; the
//! largest is the honest upper bound), slot by slot of [`SAMPLE_EVERY`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::join_all;
use liuma_admin::client::{AdminClient, AdminEndpoint, AdminTrust};

use crate::charts::{POINTS, Point, SAMPLE_EVERY};

/// How long one node may take to answer before it is "no data".
pub const PEER_DEADLINE: Duration = Duration::from_millis(1200);

/// A node whose points are wanted.
#[derive(Clone, Debug)]
pub struct Peer {
    /// Node id.
    pub id: String,
    /// Live (under a lease): a down node is not asked.
    pub live: bool,
    /// Its admin API as published (`https://host:port`, or a bare
    /// `host:port` for plain HTTP), if it published one.
    pub admin: Option<String>,
}

/// Points fetched from other nodes, per node id.
#[derive(Debug, Default)]
pub struct PeerCharts {
    cache: Mutex<HashMap<String, VecDeque<Point>>>,
}

/// Why a node has no data (in words), or its points.
pub type Fetched = Result<Vec<Point>, String>;

impl PeerCharts {
    fn last_t(&self, id: &str) -> u64 {
        self.lock()
            .get(id)
            .and_then(|q| q.back())
            .map_or(0, |p| p.t_ms)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Point>>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keep `new` (newer than what is held) for `id`; its points after.
    fn keep(&self, id: &str, new: Vec<Point>) -> Vec<Point> {
        let mut cache = self.lock();
        let q = cache.entry(id.to_owned()).or_default();
        let last = q.back().map_or(0, |p| p.t_ms);
        for p in new.into_iter().filter(|p| p.t_ms > last) {
            if q.len() >= POINTS {
                q.pop_front();
            }
            q.push_back(p);
        }
        q.iter().cloned().collect()
    }

    /// Forget the nodes not in `ids` (forgotten by the cluster).
    fn retain(&self, ids: &[&str]) {
        self.lock().retain(|k, _| ids.contains(&k.as_str()));
    }

    /// The points of node `id` at `addr` newer than those held.
    async fn ask(
        &self,
        id: &str,
        addr: &str,
        (token, trust): (&str, &AdminTrust),
        deadline: Duration,
    ) -> Fetched {
        let at = AdminEndpoint::parse(addr).map_err(|e| e.to_string())?;
        let path = format!("/admin/charts?since_ms={}", self.last_t(id));
        let v = AdminClient::new(at, token, trust)
            .with_deadline(deadline)
            .call("GET", &path, None)
            .await
            .map_err(|e| e.to_string())?;
        serde_json::from_value::<Vec<Point>>(v["points"].clone())
            .map(|new| self.keep(id, new))
            .map_err(|e| format!("unreadable chart points: {e}"))
    }

    /// Every peer's points at once, each within `deadline`, asked with
    /// `token` (the admin token), trusting `trust` over https. A node that
    /// is down, published no admin endpoint, fails (an untrusted
    /// certificate included) or is slow has no data, with the reason.
    pub async fn fetch(
        &self,
        peers: &[Peer],
        (token, trust): (&str, &AdminTrust),
        deadline: Duration,
    ) -> BTreeMap<String, Fetched> {
        self.retain(&peers.iter().map(|p| p.id.as_str()).collect::<Vec<_>>());
        let asks = peers.iter().map(|p| async move {
            let r = match (&p.admin, p.live) {
                (_, false) => Err("the node is down".to_owned()),
                (None, _) => Err("the node published no admin endpoint".to_owned()),
                (Some(addr), true) => self.ask(&p.id, addr, (token, trust), deadline).await,
            };
            (p.id.clone(), r)
        });
        join_all(asks).await.into_iter().collect()
    }
}

/// The slot of the cluster view a point falls in.
fn slot(t_ms: u64) -> u64 {
    t_ms / (SAMPLE_EVERY.as_millis() as u64).max(1)
}

/// The cluster view of several nodes' points: per slot of
/// [`SAMPLE_EVERY`], rates and byte counters summed (a node without a
/// point in a slot adds its last byte counters before it, so the totals do
/// not dip because of sampling phase), the largest p99; the newest
/// [`POINTS`] slots.
pub fn merge(nodes: &[&[Point]]) -> Vec<Point> {
    let mut slots: BTreeMap<u64, Vec<(usize, &Point)>> = BTreeMap::new();
    for (i, pts) in nodes.iter().enumerate() {
        for p in pts.iter() {
            let s = slots.entry(slot(p.t_ms)).or_default();
            // two points of one node in a slot: the later one stands
            s.retain(|(j, _)| *j != i);
            s.push((i, p));
        }
    }
    let mut last_bytes = vec![(0.0, 0.0); nodes.len()];
    let mut out: VecDeque<Point> = VecDeque::new();
    for (_, here) in slots {
        for (i, p) in &here {
            last_bytes[*i] = (p.logical_bytes, p.stored_bytes);
        }
        let sum = |f: fn(&Point) -> f64| here.iter().map(|(_, p)| f(p)).sum::<f64>();
        let p99 = here
            .iter()
            .filter_map(|(_, p)| p.p99_ms)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        let merged = Point {
            t_ms: here.iter().map(|(_, p)| p.t_ms).max().unwrap_or(0),
            rps: sum(|p| p.rps),
            in_bps: sum(|p| p.in_bps),
            out_bps: sum(|p| p.out_bps),
            client_errors_ps: sum(|p| p.client_errors_ps),
            server_errors_ps: sum(|p| p.server_errors_ps),
            p99_ms: p99,
            logical_bytes: last_bytes.iter().map(|b| b.0).sum(),
            stored_bytes: last_bytes.iter().map(|b| b.1).sum(),
        };
        if out.len() >= POINTS {
            out.pop_front();
        }
        out.push_back(merged);
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(t_ms: u64, rps: f64, p99: Option<f64>, logical: f64) -> Point {
        Point {
            t_ms,
            rps,
            in_bps: rps * 10.0,
            out_bps: 0.0,
            client_errors_ps: 0.0,
            server_errors_ps: 0.0,
            p99_ms: p99,
            logical_bytes: logical,
            stored_bytes: logical / 2.0,
        }
    }

    #[test]
    fn merge_sums_rates_and_takes_the_largest_p99_per_slot() {
        let a = [
            pt(2_000, 5.0, Some(3.0), 100.0),
            pt(4_100, 1.0, None, 150.0),
        ];
        let b = [
            pt(2_500, 7.0, Some(9.0), 10.0),
            pt(4_900, 2.0, Some(1.0), 20.0),
        ];
        let m = merge(&[&a, &b]);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].t_ms, m[0].rps, m[0].p99_ms), (2_500, 12.0, Some(9.0)));
        assert_eq!(m[0].in_bps, 120.0);
        assert_eq!((m[1].rps, m[1].p99_ms), (3.0, Some(1.0)));
        assert_eq!((m[1].logical_bytes, m[1].stored_bytes), (170.0, 85.0));
    }

    #[test]
    fn a_node_missing_a_slot_keeps_its_byte_counters_but_adds_no_rate() {
        let a = [pt(2_000, 5.0, None, 100.0), pt(4_000, 5.0, None, 100.0)];
        let b = [pt(2_000, 1.0, None, 50.0)];
        let m = merge(&[&a, &b]);
        assert_eq!(m[1].rps, 5.0);
        assert_eq!(m[1].logical_bytes, 150.0);
    }

    #[test]
    fn merge_keeps_the_newest_slots() {
        let a: Vec<Point> = (0..(POINTS as u64 + 10))
            .map(|i| pt(i * 2_000, 1.0, None, 0.0))
            .collect();
        let m = merge(&[&a]);
        assert_eq!(m.len(), POINTS);
        assert_eq!(m.last().map(|p| p.t_ms), a.last().map(|p| p.t_ms));
    }

    #[test]
    fn kept_points_are_only_newer_ones_and_bounded() {
        let c = PeerCharts::default();
        let got = c.keep("n2", vec![pt(1, 1.0, None, 0.0), pt(2, 1.0, None, 0.0)]);
        assert_eq!(got.len(), 2);
        // a second, concurrent fetch since 0 adds nothing twice
        let got = c.keep("n2", vec![pt(2, 1.0, None, 0.0), pt(3, 1.0, None, 0.0)]);
        assert_eq!(got.iter().map(|p| p.t_ms).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(c.last_t("n2"), 3);
        c.retain(&["n3"]);
        assert_eq!(c.last_t("n2"), 0);
    }

    #[tokio::test]
    async fn down_or_unpublished_or_hung_nodes_have_no_data_within_the_deadline() {
        // a listener that accepts and never answers: a hung node
        let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = hung.local_addr().unwrap().to_string();
        let peers = [
            Peer {
                id: "down".into(),
                live: false,
                admin: Some(addr.clone()),
            },
            Peer {
                id: "mute".into(),
                live: true,
                admin: None,
            },
            Peer {
                id: "hung".into(),
                live: true,
                admin: Some(addr.clone()),
            },
            // over TLS, the handshake is never answered: the same deadline
            Peer {
                id: "hung-tls".into(),
                live: true,
                admin: Some(format!("https://{addr}")),
            },
            Peer {
                id: "garbled".into(),
                live: true,
                admin: Some("ftp://x:1".into()),
            },
        ];
        let c = PeerCharts::default();
        let trust = AdminTrust::load(None, "").unwrap();
        let began = std::time::Instant::now();
        let r = c
            .fetch(&peers, ("t", &trust), Duration::from_millis(200))
            .await;
        assert!(began.elapsed() < Duration::from_secs(2));
        assert!(r.values().all(Result::is_err), "{r:?}");
        assert!(r["hung"].as_ref().unwrap_err().contains("within"), "{r:?}");
        assert!(
            r["hung-tls"].as_ref().unwrap_err().contains("within"),
            "{r:?}"
        );
        assert!(
            r["garbled"].as_ref().unwrap_err().contains("scheme"),
            "{r:?}"
        );
        drop(hung);
    }
}
