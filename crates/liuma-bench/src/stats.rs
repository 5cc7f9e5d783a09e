//! Per-operation recording, latency percentiles and the report (table or JSON).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::size::OpKind;

/// What one worker saw for one kind of operation.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    /// Latency of every successful operation, in microseconds.
    pub latencies_us: Vec<u64>,
    /// Failed operations.
    pub errors: u64,
    /// Payload bytes moved by successful operations.
    pub bytes: u64,
    /// Bytes of GET bodies compared with the generated data.
    pub verified_bytes: u64,
    /// Keys seen by list operations.
    pub keys_listed: u64,
    /// The first failure, for the report.
    pub first_error: Option<String>,
}

impl Samples {
    /// Fold another worker's samples in.
    pub fn merge(&mut self, other: Samples) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
        self.bytes += other.bytes;
        self.verified_bytes += other.verified_bytes;
        self.keys_listed += other.keys_listed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Everything a phase recorded, by operation kind.
pub type Recorded = BTreeMap<OpKind, Samples>;

/// The `p`-th percentile (0 < p ≤ 100) of sorted values, nearest-rank; 0 if empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// Results for one kind of operation (or all of them).
#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    /// Operations attempted (successes + errors).
    pub ops: u64,
    /// Failed operations.
    pub errors: u64,
    /// Payload bytes of successful operations.
    pub bytes: u64,
    /// Bytes of GET bodies verified against the generated data.
    pub verified_bytes: u64,
    /// Keys seen by list operations.
    pub keys_listed: u64,
    /// Successful operations per second.
    pub ops_per_sec: f64,
    /// Payload throughput in MB/s (10^6 bytes).
    pub mb_per_sec: f64,
    /// Latency of successful operations, in milliseconds.
    pub latency_ms: Latency,
    /// The first failure seen, if any.
    pub first_error: Option<String>,
}

impl OpReport {
    fn new(mut s: Samples, secs: f64) -> OpReport {
        s.latencies_us.sort_unstable();
        let ms = |p: f64| percentile(&s.latencies_us, p) as f64 / 1000.0;
        let ok = s.latencies_us.len() as u64;
        let secs = secs.max(1e-9);
        OpReport {
            ops: ok + s.errors,
            errors: s.errors,
            bytes: s.bytes,
            verified_bytes: s.verified_bytes,
            keys_listed: s.keys_listed,
            ops_per_sec: ok as f64 / secs,
            mb_per_sec: s.bytes as f64 / 1e6 / secs,
            latency_ms: Latency {
                p50: ms(50.0),
                p90: ms(90.0),
                p99: ms(99.0),
                max: ms(100.0),
            },
            first_error: s.first_error,
        }
    }
}

/// The outcome of `liuma bench`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Workload name.
    pub workload: String,
    /// Endpoint benchmarked.
    pub endpoint: String,
    /// Bucket used.
    pub bucket: String,
    /// Key prefix of the objects of this run.
    pub prefix: String,
    /// Seed of the data and sizes (pass `--seed` to repeat).
    pub seed: u64,
    /// Object size or distribution.
    pub size: String,
    /// Data mode.
    pub data: String,
    /// Concurrent workers.
    pub concurrency: usize,
    /// Measured wall time in seconds (warm-up excluded).
    pub duration_secs: f64,
    /// All operations together.
    pub total: OpReport,
    /// By operation kind.
    pub by_op: BTreeMap<String, OpReport>,
}

/// Header fields of a [`Report`].
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// See [`Report::workload`].
    pub workload: String,
    /// See [`Report::endpoint`].
    pub endpoint: String,
    /// See [`Report::bucket`].
    pub bucket: String,
    /// See [`Report::prefix`].
    pub prefix: String,
    /// See [`Report::seed`].
    pub seed: u64,
    /// See [`Report::size`].
    pub size: String,
    /// See [`Report::data`].
    pub data: String,
    /// See [`Report::concurrency`].
    pub concurrency: usize,
}

impl Report {
    /// Summarize what the measured phase recorded over `elapsed`.
    pub fn new(info: RunInfo, recorded: Recorded, elapsed: Duration) -> Report {
        let secs = elapsed.as_secs_f64();
        let mut all = Samples::default();
        let mut by_op = BTreeMap::new();
        for (kind, s) in recorded {
            all.merge(s.clone());
            by_op.insert(kind.name().to_owned(), OpReport::new(s, secs));
        }
        Report {
            workload: info.workload,
            endpoint: info.endpoint,
            bucket: info.bucket,
            prefix: info.prefix,
            seed: info.seed,
            size: info.size,
            data: info.data,
            concurrency: info.concurrency,
            duration_secs: secs,
            total: OpReport::new(all, secs),
            by_op,
        }
    }

    /// The human-readable summary table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "liuma bench: {} on {} (bucket {}, prefix {}), size {}, data {}, {} workers, {:.2} s, seed {}\n",
            self.workload,
            self.endpoint,
            self.bucket,
            self.prefix,
            self.size,
            self.data,
            self.concurrency,
            self.duration_secs,
            self.seed
        );
        out.push_str(&format!(
            "{:<10} {:>9} {:>7} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
            "op", "ops", "errors", "ops/s", "MB/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
        ));
        let rows = self.by_op.iter().map(|(k, r)| (k.as_str(), r));
        let total = (self.by_op.len() > 1).then_some(("total", &self.total));
        for (name, r) in rows.chain(total) {
            out.push_str(&format!(
                "{:<10} {:>9} {:>7} {:>10.1} {:>9.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2}\n",
                name,
                r.ops,
                r.errors,
                r.ops_per_sec,
                r.mb_per_sec,
                r.latency_ms.p50,
                r.latency_ms.p90,
                r.latency_ms.p99,
                r.latency_ms.max
            ));
        }
        if self.total.verified_bytes > 0 {
            out.push_str(&format!(
                "verified {} bytes of GET data\n",
                self.total.verified_bytes
            ));
        }
        if self.total.keys_listed > 0 {
            out.push_str(&format!("listed {} keys\n", self.total.keys_listed));
        }
        if let Some(e) = &self.total.first_error {
            out.push_str(&format!("first error: {e}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 90.0), 90);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.1), 1);
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(percentile(&[7], 99.0), 7);
        let v = [10, 20, 30, 40];
        assert_eq!(percentile(&v, 50.0), 20);
        assert_eq!(percentile(&v, 51.0), 30);
        assert_eq!(percentile(&v, 99.0), 40);
    }

    #[test]
    fn report_sums_kinds() {
        let mut rec = Recorded::new();
        rec.insert(
            OpKind::Put,
            Samples {
                latencies_us: vec![1000, 3000],
                bytes: 2_000_000,
                ..Samples::default()
            },
        );
        rec.insert(
            OpKind::Get,
            Samples {
                latencies_us: vec![2000],
                errors: 1,
                bytes: 1_000_000,
                verified_bytes: 1_000_000,
                first_error: Some("boom".into()),
                ..Samples::default()
            },
        );
        let info = RunInfo {
            workload: "mixed".into(),
            endpoint: "http://x".into(),
            bucket: "b".into(),
            prefix: "p/".into(),
            seed: 1,
            size: "1MB".into(),
            data: "random".into(),
            concurrency: 2,
        };
        let r = Report::new(info, rec, Duration::from_secs(2));
        assert_eq!(r.total.ops, 4);
        assert_eq!(r.total.errors, 1);
        assert_eq!(r.total.ops_per_sec, 1.5);
        assert_eq!(r.total.mb_per_sec, 1.5);
        assert_eq!(r.total.latency_ms.p50, 2.0);
        assert_eq!(r.total.latency_ms.max, 3.0);
        assert_eq!(r.by_op["put"].ops, 2);
        assert_eq!(r.total.first_error.as_deref(), Some("boom"));
        let t = r.table();
        assert!(
            t.contains("total") && t.contains("first error: boom"),
            "{t}"
        );
    }
}
