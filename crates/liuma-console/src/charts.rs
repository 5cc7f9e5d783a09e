//! The live charts' data: the node's own metrics (its Prometheus text,
//! rendered in-process — no Prometheus server), sampled every few seconds
//! into a small ring buffer of points: request rate, throughput, errors,
//! p99 latency, and object bytes received vs shard bytes stored (the
//! dedup + compression + erasure-coding ratio).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Gives the node's metrics as Prometheus text.
pub type MetricsText = Arc<dyn Fn() -> String + Send + Sync>;

/// How often the metrics are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// Points kept: 30 minutes at one every 2 s.
pub const POINTS: usize = 900;
/// The APIs whose requests are charted (the console's own and the admin
/// API's are the operator's, not the clients').
const APIS: [&str; 2] = ["s3", "native"];

/// The counters one sample reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Raw {
    /// Requests of the charted APIs.
    pub requests: f64,
    /// Of those, answered 4xx.
    pub client_errors: f64,
    /// Of those, answered 5xx.
    pub server_errors: f64,
    /// Latency histogram (upper bound in seconds → cumulative count).
    pub buckets: Vec<(f64, f64)>,
    /// Object bytes received.
    pub bytes_in: f64,
    /// Object bytes sent.
    pub bytes_out: f64,
    /// Shard bytes written for new blocks.
    pub stored: f64,
}

/// One point of the charts (rates over the interval before `t_ms`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Point {
    /// When sampled, ms since the epoch.
    pub t_ms: u64,
    /// Requests per second.
    pub rps: f64,
    /// Object bytes received per second.
    pub in_bps: f64,
    /// Object bytes sent per second.
    pub out_bps: f64,
    /// 4xx answers per second.
    pub client_errors_ps: f64,
    /// 5xx answers per second.
    pub server_errors_ps: f64,
    /// 99th percentile latency of the interval's requests (bucket upper
    /// bound), ms; None without requests.
    pub p99_ms: Option<f64>,
    /// Object bytes received since the node started.
    pub logical_bytes: f64,
    /// Shard bytes stored for them (new blocks only: dedup saves the rest).
    pub stored_bytes: f64,
}

/// Parse the labels of `name{a="b",c="d"}`.
fn labels(s: &str) -> BTreeMap<&str, &str> {
    let mut out = BTreeMap::new();
    for part in s.split(',') {
        if let Some((k, v)) = part.split_once('=') {
            out.insert(k.trim(), v.trim().trim_matches('"'));
        }
    }
    out
}

/// Read the counters the charts need out of Prometheus text.
pub fn parse(text: &str) -> Raw {
    let mut r = Raw::default();
    let mut buckets: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((head, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(v) = value.parse::<f64>() else {
            continue;
        };
        let (name, lab) = match head.split_once('{') {
            Some((n, l)) => (n, labels(l.trim_end_matches('}'))),
            None => (head, BTreeMap::new()),
        };
        let charted = lab.get("api").is_some_and(|a| APIS.contains(a));
        match name {
            "liuma_http_requests_total" if charted => {
                r.requests += v;
                match lab.get("status").and_then(|s| s.parse::<u16>().ok()) {
                    Some(400..=499) => r.client_errors += v,
                    Some(500..=599) => r.server_errors += v,
                    _ => {}
                }
            }
            "liuma_http_request_duration_seconds_bucket" if charted => {
                let le = match lab.get("le") {
                    Some(&"+Inf") => f64::INFINITY,
                    Some(x) => x.parse().unwrap_or(f64::INFINITY),
                    None => continue,
                };
                buckets.entry(le.to_bits()).or_insert((le, 0.0)).1 += v;
            }
            "liuma_bytes_in_total" => r.bytes_in = v,
            "liuma_bytes_out_total" => r.bytes_out = v,
            "liuma_stored_bytes_written_total" => r.stored = v,
            _ => {}
        }
    }
    r.buckets = buckets.into_values().collect();
    r.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    r
}

/// The 99th percentile (a bucket's upper bound, in ms) of the requests
/// between two cumulative histograms; None when there were none.
pub fn p99_ms(before: &[(f64, f64)], after: &[(f64, f64)]) -> Option<f64> {
    let at = |h: &[(f64, f64)], le: f64| h.iter().find(|b| b.0 == le).map_or(0.0, |b| b.1);
    let deltas: Vec<(f64, f64)> = after
        .iter()
        .map(|&(le, n)| (le, (n - at(before, le)).max(0.0)))
        .collect();
    let total = deltas.last().map_or(0.0, |b| b.1);
    if total <= 0.0 {
        return None;
    }
    let want = total * 0.99;
    let largest = deltas
        .iter()
        .rev()
        .find(|b| b.0.is_finite())
        .map_or(0.0, |b| b.0);
    deltas
        .iter()
        .find(|b| b.1 >= want)
        .map(|b| if b.0.is_finite() { b.0 } else { largest } * 1000.0)
}

/// A point from two samples `secs` apart.
pub fn point(t_ms: u64, secs: f64, a: &Raw, b: &Raw) -> Point {
    let rate = |x: f64, y: f64| ((y - x).max(0.0)) / secs.max(0.001);
    Point {
        t_ms,
        rps: rate(a.requests, b.requests),
        in_bps: rate(a.bytes_in, b.bytes_in),
        out_bps: rate(a.bytes_out, b.bytes_out),
        client_errors_ps: rate(a.client_errors, b.client_errors),
        server_errors_ps: rate(a.server_errors, b.server_errors),
        p99_ms: p99_ms(&a.buckets, &b.buckets),
        logical_bytes: b.bytes_in,
        stored_bytes: b.stored,
    }
}

#[derive(Default)]
struct Ring {
    last: Option<(u64, Raw)>,
    points: VecDeque<Point>,
}

/// The ring buffer of points.
#[derive(Default)]
pub struct Series {
    ring: Mutex<Ring>,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Series")
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Series {
    /// Take a sample of `text` at `t_ms`: a point from the one before.
    pub fn sample(&self, t_ms: u64, text: &str) {
        let raw = parse(text);
        let mut ring = self
            .ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((t0, prev)) = &ring.last {
            let secs = t_ms.saturating_sub(*t0) as f64 / 1000.0;
            if secs > 0.0 {
                let p = point(t_ms, secs, prev, &raw);
                if ring.points.len() >= POINTS {
                    ring.points.pop_front();
                }
                ring.points.push_back(p);
            }
        }
        ring.last = Some((t_ms, raw));
    }

    /// The points held, oldest first.
    pub fn points(&self) -> Vec<Point> {
        self.ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .points
            .iter()
            .cloned()
            .collect()
    }

    /// The points held newer than `since_ms`, oldest first.
    pub fn points_since(&self, since_ms: u64) -> Vec<Point> {
        self.ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .points
            .iter()
            .filter(|p| p.t_ms > since_ms)
            .cloned()
            .collect()
    }

    /// Sample `metrics` every [`SAMPLE_EVERY`] until the series is dropped.
    pub fn spawn_sampler(self: &Arc<Self>, metrics: MetricsText) {
        let weak: Weak<Series> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(series) = weak.upgrade() else { break };
                series.sample(now_ms(), &metrics());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"# HELP liuma_http_requests HTTP requests served
# TYPE liuma_http_requests counter
liuma_http_requests_total{api="s3",method="GET",status="200"} 10
liuma_http_requests_total{api="s3",method="GET",status="404"} 2
liuma_http_requests_total{api="admin",method="GET",status="500"} 7
liuma_http_request_duration_seconds_bucket{le="0.001",api="s3"} 10
liuma_http_request_duration_seconds_bucket{le="0.002",api="s3"} 12
liuma_http_request_duration_seconds_bucket{le="+Inf",api="s3"} 12
liuma_bytes_in_total 1000
liuma_stored_bytes_written_total 750
"#;
    const B: &str = r#"liuma_http_requests_total{api="s3",method="GET",status="200"} 110
liuma_http_requests_total{api="s3",method="GET",status="404"} 2
liuma_http_requests_total{api="native",method="POST",status="503"} 4
liuma_http_requests_total{api="admin",method="GET",status="500"} 70
liuma_http_request_duration_seconds_bucket{le="0.001",api="s3"} 50
liuma_http_request_duration_seconds_bucket{le="0.002",api="s3"} 112
liuma_http_request_duration_seconds_bucket{le="+Inf",api="s3"} 112
liuma_http_request_duration_seconds_bucket{le="0.001",api="native"} 0
liuma_http_request_duration_seconds_bucket{le="0.002",api="native"} 0
liuma_http_request_duration_seconds_bucket{le="+Inf",api="native"} 4
liuma_bytes_in_total 3000
liuma_bytes_out_total 500
liuma_stored_bytes_written_total 2250
"#;

    #[test]
    fn parse_reads_the_charted_apis_only() {
        let r = parse(A);
        assert_eq!(r.requests, 12.0, "the admin API's requests are not charted");
        assert_eq!(r.client_errors, 2.0);
        assert_eq!(r.server_errors, 0.0);
        assert_eq!(
            r.buckets,
            vec![(0.001, 10.0), (0.002, 12.0), (f64::INFINITY, 12.0)]
        );
        assert_eq!((r.bytes_in, r.stored), (1000.0, 750.0));
    }

    #[test]
    fn point_has_rates_and_the_interval_p99() {
        let p = point(5, 2.0, &parse(A), &parse(B));
        assert_eq!(p.rps, 52.0); // (114 - 12) / 2 s
        assert_eq!(p.server_errors_ps, 2.0);
        assert_eq!(p.client_errors_ps, 0.0);
        assert_eq!(p.in_bps, 1000.0);
        // 104 requests in the interval: 40 ≤ 1 ms, 60 ≤ 2 ms, 4 slower
        // than the largest bound: the 99th is past 2 ms, shown as 2 ms.
        assert_eq!(p.p99_ms, Some(2.0));
        assert_eq!((p.logical_bytes, p.stored_bytes), (3000.0, 2250.0));
    }

    #[test]
    fn p99_of_no_requests_is_none_and_of_fast_ones_the_first_bucket() {
        let h = [(0.001, 5.0), (0.002, 5.0), (f64::INFINITY, 5.0)];
        assert_eq!(p99_ms(&h, &h), None);
        let later = [(0.001, 105.0), (0.002, 105.0), (f64::INFINITY, 105.0)];
        assert_eq!(p99_ms(&h, &later), Some(1.0));
    }

    #[test]
    fn the_ring_is_bounded_and_starts_at_the_second_sample() {
        let s = Series::default();
        s.sample(0, A);
        assert!(s.points().is_empty());
        for i in 1..=(POINTS as u64 + 5) {
            s.sample(i * 2000, B);
        }
        let pts = s.points();
        assert_eq!(pts.len(), POINTS);
        assert_eq!(pts.last().map(|p| p.t_ms), Some((POINTS as u64 + 5) * 2000));
    }
}
