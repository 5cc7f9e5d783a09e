//! Flags of `liuma bench` and the entry point.

use std::io::Write;

use clap::{Args, ValueEnum};

use crate::data::DataMode;
use crate::error::{Error, Result};
use crate::s3::Target;
use crate::size::{SizeDist, parse_duration, parse_mix, parse_size};
use crate::stats::Report;
use crate::workload::{Plan, Workload};

/// `liuma bench`: S3 load against any endpoint.
#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// S3 endpoint, http://HOST[:PORT].
    #[arg(
        long,
        env = "LIUMA_BENCH_ENDPOINT",
        default_value = "http://127.0.0.1:9000"
    )]
    pub endpoint: String,
    /// Access key id.
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key: String,
    /// Secret access key (prefer the env var: argv shows up in `ps`).
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_key: String,
    /// Region to sign for.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Path-style requests (/bucket/key). Always used when the endpoint host
    /// is an IP address or localhost.
    #[arg(long)]
    pub path_style: bool,
    /// Bucket (created if missing).
    #[arg(long, default_value = "liuma-bench")]
    pub bucket: String,
    /// Key prefix of this run's objects. Default liuma-bench/<random>/.
    #[arg(long)]
    pub prefix: Option<String>,
    /// What to do.
    #[arg(long, short, value_enum, default_value = "put")]
    pub workload: Workload,
    /// Object size: 4KiB, 1MB, or a uniform range 1MiB..64MiB.
    #[arg(long, default_value = "1MiB")]
    pub size: String,
    /// Part size of the multipart workload (≥ 5MiB except the last part).
    #[arg(long, default_value = "8MiB")]
    pub part_size: String,
    /// Concurrent workers (each one request at a time).
    #[arg(long, short, default_value_t = 8)]
    pub concurrency: usize,
    /// Measure for this long (30s, 2m). Default 10s unless --ops is given.
    #[arg(long)]
    pub duration: Option<String>,
    /// Measure exactly this many operations.
    #[arg(long, conflicts_with = "duration")]
    pub ops: Option<u64>,
    /// Run the workload this long before measuring (not counted).
    #[arg(long)]
    pub warmup: Option<String>,
    /// Objects written before get/mixed/list/delete start (untimed). Default:
    /// get/mixed the concurrency, list 1000, delete --ops.
    #[arg(long)]
    pub objects: Option<u64>,
    /// Weights of the mixed workload: get=60,put=30,delete=10.
    #[arg(long, default_value = "get=60,put=30,delete=10")]
    pub mix: String,
    /// Object contents.
    #[arg(long, value_enum, default_value = "random")]
    pub data: DataMode,
    /// Check every GET byte against the generated data (errors on mismatch).
    #[arg(long)]
    pub verify: bool,
    /// Seed of data and sizes. Default random (printed in the report).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the report as JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Server-side encryption: none (the bucket's default), s3 (SSE-S3 on
    /// writes), c (SSE-C with a fixed key on writes and reads).
    #[arg(long, value_enum, default_value_t = crate::s3::Sse::None)]
    pub sse: crate::s3::Sse,
}

impl BenchArgs {
    /// Check and resolve the flags.
    pub fn plan(&self) -> Result<Plan> {
        let authority = Target::authority_of(&self.endpoint)?;
        let host = authority
            .rsplit_once(':')
            .map_or(authority.as_str(), |(h, _)| h);
        let ip_host = host.parse::<std::net::IpAddr>().is_ok()
            || host.starts_with('[')
            || host == "localhost";
        if self.concurrency == 0 {
            return Err(Error::Plan("--concurrency must be at least 1"));
        }
        let size = SizeDist::parse(&self.size)?;
        let part_size = parse_size(&self.part_size)?;
        if part_size == 0 {
            return Err(Error::Plan("--part-size must be positive"));
        }
        let duration = match (&self.duration, self.ops) {
            (Some(d), _) => Some(parse_duration(d)?),
            (None, None) => Some(std::time::Duration::from_secs(10)),
            (None, Some(_)) => None,
        };
        let warmup = self.warmup.as_deref().map(parse_duration).transpose()?;
        let objects = match self.workload {
            Workload::Get | Workload::Mixed => {
                self.objects.unwrap_or(self.concurrency as u64).max(1)
            }
            Workload::List => self.objects.unwrap_or(1000),
            Workload::Delete => match (self.objects, self.ops) {
                (Some(n), _) | (None, Some(n)) => n,
                (None, None) => return Err(Error::Plan("delete needs --ops or --objects")),
            },
            Workload::Put | Workload::Multipart => 0,
        };
        if self.workload == Workload::Delete && warmup.is_some() {
            return Err(Error::Plan(
                "delete has no warm-up (it would delete the objects)",
            ));
        }
        let seed = self.seed.unwrap_or_else(rand::random);
        let prefix = self
            .prefix
            .clone()
            .unwrap_or_else(|| format!("liuma-bench/{:08x}/", rand::random::<u32>()));
        Ok(Plan {
            target: Target {
                authority,
                bucket: self.bucket.clone(),
                path_style: self.path_style || ip_host,
                region: self.region.clone(),
                access_key: self.access_key.clone(),
                secret_key: self.secret_key.clone(),
                sse: self.sse,
            },
            endpoint: self.endpoint.clone(),
            workload: self.workload,
            size,
            part_size,
            concurrency: self.concurrency,
            duration,
            ops: self.ops,
            warmup,
            objects,
            mix: parse_mix(&self.mix)?,
            data: self.data,
            verify: self.verify,
            seed,
            prefix,
            progress: !self.quiet && !self.json,
        })
    }
}

/// Run `liuma bench`: print the table (or JSON) on stdout and return the
/// report; the caller decides the exit status from `report.total.errors`.
pub fn run(args: &BenchArgs) -> Result<Report> {
    let plan = args.plan()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let report = runtime.block_on(crate::workload::execute(plan));
    let mut out = std::io::stdout().lock();
    let text = if args.json {
        serde_json::to_string_pretty(&report).expect("the report serializes") + "\n"
    } else {
        report.table()
    };
    out.write_all(text.as_bytes()).map_err(Error::Output)?;
    Ok(report)
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.to_possible_value().expect("no variant is skipped");
        f.write_str(v.get_name())
    }
}
