//! The server configuration: defaults, then the optional TOML file, then
//! `LIUMA_*` env and flags. Unknown keys in the file are errors (a typo must
//! not be silently ignored).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use liuma_engine::{EngineConfig, WorkerConfig};
use serde::Deserialize;

use crate::cli::ServerArgs;

/// Everything `liuma server` can be told, as in the TOML file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Data directory (metadata, secrets, default disk). Default "./liuma-data".
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// etcd endpoints (URLs) for the metadata; empty = the embedded redb file. Default [].
    #[serde(default)]
    pub etcd: Vec<String>,
    /// Prefix of every liuma key in etcd. Default "/liuma/".
    #[serde(default = "default_etcd_prefix")]
    pub etcd_prefix: String,
    /// TLS and authentication of the etcd client.
    #[serde(default)]
    pub etcd_client: EtcdClientSection,
    /// Shard directories. Default: [<data_dir>/disk0].
    #[serde(default)]
    pub disks: Vec<PathBuf>,
    /// Bytes kept free on every disk; writes beyond fail cleanly. Default 0.
    #[serde(default)]
    pub disk_reserve_bytes: u64,
    /// Admin listener. Default 127.0.0.1:9002.
    #[serde(default = "default_admin_listen")]
    pub admin_listen: SocketAddr,
    /// Native token API listener. Default 127.0.0.1:9001.
    #[serde(default = "default_native_listen")]
    pub native_listen: SocketAddr,
    /// Native token API settings.
    #[serde(default)]
    pub native: NativeSection,
    /// S3 API listener. Default 127.0.0.1:9000.
    #[serde(default = "default_s3_listen")]
    pub s3_listen: SocketAddr,
    /// S3 API settings.
    #[serde(default)]
    pub s3: S3Config,
    /// Web console listener. Default 127.0.0.1:9004.
    #[serde(default = "default_console_listen")]
    pub console_listen: SocketAddr,
    /// Block and erasure settings.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Background work.
    #[serde(default)]
    pub maintenance: MaintenanceConfig,
    /// Cluster membership (used with etcd).
    #[serde(default)]
    pub cluster: ClusterSection,
    /// Connection, time and memory limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// TLS on the public listeners.
    #[serde(default)]
    pub tls: TlsSection,
    /// Server-side encryption at rest.
    #[serde(default)]
    pub sse: SseSection,
}

/// `[sse]` section: server-side encryption at rest (see `crate::sse_keys`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SseSection {
    /// The SSE-S3 master key ring from this file (an external secret
    /// manager or KMS writes it: 32 raw bytes, 64 hex digits, or
    /// `v<N> <hex>` lines) instead of `secrets/sse.key`. Default: none.
    pub master_key_file: Option<PathBuf>,
    /// New buckets get SSE-S3 as their default encryption. Default false.
    pub default_encryption: bool,
    /// Accept SSE-C keys over plain HTTP (behind a TLS proxy; tests and
    /// benchmarks). Default false: refused as AWS does.
    pub sse_c_plain_http: bool,
    /// Seconds between re-reads of the cluster's key ring, so a rotation
    /// on any node reaches this one. Default 2.
    pub refresh_secs: Option<u64>,
}

impl SseSection {
    /// How often a cluster node re-reads the key ring.
    pub fn refresh(&self) -> Duration {
        Duration::from_secs(self.refresh_secs.unwrap_or(2).max(1))
    }
}

/// `[etcd_client]` section: how the node connects to etcd (with `etcd` endpoints).
/// `https://` endpoints need `ca`; `cert` and `key` go together (etcd's
/// `--client-cert-auth`), so do `user` and `password_file` (etcd's `auth enable`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EtcdClientSection {
    /// PEM CA bundle etcd's server certificate must chain to.
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain presented to etcd.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// etcd user name.
    pub user: Option<String>,
    /// File holding the etcd user's password (one line; never logged).
    pub password_file: Option<PathBuf>,
}

impl EtcdClientSection {
    /// True when the client speaks TLS to etcd.
    pub fn tls(&self) -> bool {
        self.ca.is_some() || self.cert.is_some()
    }

    /// Settings that go together, and endpoint schemes that match them.
    pub fn validate(&self, endpoints: &[String]) -> anyhow::Result<()> {
        if self.cert.is_some() != self.key.is_some() {
            bail!("etcd_client.cert and etcd_client.key (--etcd-cert, --etcd-key) go together");
        }
        if self.user.is_some() != self.password_file.is_some() {
            bail!(
                "etcd_client.user and etcd_client.password_file (--etcd-user, \
                 --etcd-password-file) go together"
            );
        }
        if self.user.as_deref() == Some("") {
            bail!("etcd_client.user (--etcd-user) must not be empty");
        }
        if endpoints.is_empty() {
            return Ok(());
        }
        for url in endpoints {
            if let Some(rest) = url.strip_prefix("https://") {
                if self.ca.is_none() {
                    bail!(
                        "etcd endpoint {url:?} is https:// but no CA is given: set --etcd-ca \
                         FILE (etcd_client.ca) to the PEM CA that signed etcd's server \
                         certificate (liuma does not use the system trust store for etcd)"
                    );
                }
                if rest.is_empty() {
                    bail!("etcd endpoint {url:?} has no host");
                }
            } else if let Some(rest) = url.strip_prefix("http://") {
                if self.tls() {
                    bail!(
                        "etcd endpoint {url:?} is plain http:// but etcd TLS settings are \
                         given (--etcd-ca/--etcd-cert): use https://{rest}"
                    );
                }
            } else {
                bail!("etcd endpoint {url:?} must be an http:// or https:// URL");
            }
        }
        Ok(())
    }
}

/// `[tls]` section: a certificate for every public listener (S3, native,
/// admin, console), and per-listener overrides `[tls.s3]`, `[tls.native]`,
/// `[tls.admin]`, `[tls.console]`. A listener with neither speaks plain HTTP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// PEM certificate chain (leaf first) for every public listener.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// Seconds between checks of the files for a new certificate (also
    /// of the `[etcd_client]` files, reloaded without a restart). Default 5.
    pub reload_interval_secs: u64,
    /// PEM CA certificate(s) that issued the other nodes' admin listener
    /// certificates: trusted, besides the OS's trust store, when this node
    /// calls its peers' admin APIs over https (cluster-wide passes, the
    /// console's whole-cluster charts). Default none (the OS's store only).
    pub ca: Option<PathBuf>,
    /// The S3 listener's own certificate.
    pub s3: TlsPair,
    /// The native API listener's own certificate.
    pub native: TlsPair,
    /// The admin listener's own certificate.
    pub admin: TlsPair,
    /// The web console listener's own certificate.
    pub console: TlsPair,
}

impl Default for TlsSection {
    fn default() -> Self {
        TlsSection {
            cert: None,
            key: None,
            reload_interval_secs: 5,
            ca: None,
            s3: TlsPair::default(),
            native: TlsPair::default(),
            admin: TlsPair::default(),
            console: TlsPair::default(),
        }
    }
}

/// A listener's own certificate and key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsPair {
    /// PEM certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
}

impl TlsSection {
    /// The files a listener ("s3", "native", "admin", "console") serves TLS with:
    /// its own pair, else the shared one, else none (plain HTTP).
    pub fn files_for(&self, listener: &str) -> anyhow::Result<Option<crate::tls::TlsFiles>> {
        let own = match listener {
            "s3" => &self.s3,
            "native" => &self.native,
            "admin" => &self.admin,
            "console" => &self.console,
            other => bail!("no TLS settings for listener {other:?}"),
        };
        let pair = |cert: &Option<PathBuf>, key: &Option<PathBuf>, what: &str| match (cert, key) {
            (Some(c), Some(k)) => Ok(Some(crate::tls::TlsFiles {
                cert: c.clone(),
                key: k.clone(),
            })),
            (None, None) => Ok(None),
            _ => Err(anyhow::anyhow!(
                "{what}: give both a certificate and a key, or neither"
            )),
        };
        match pair(&own.cert, &own.key, &format!("tls.{listener}"))? {
            Some(f) => Ok(Some(f)),
            None => pair(&self.cert, &self.key, "tls"),
        }
    }
}

/// `[limits]` section: what one client can hold, and for how long.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Open connections per listener; beyond, 503 and close. Default 4096.
    pub max_connections: usize,
    /// Seconds to deliver a request head. Default 10.
    pub header_timeout_secs: u64,
    /// Seconds a keep-alive connection may stay without a request. Default 60.
    pub idle_timeout_secs: u64,
    /// Seconds without a byte of a request body before it is cut. Default 30.
    pub body_timeout_secs: u64,
    /// Seconds a client may take no byte of a response before it is cut. Default 30.
    pub write_timeout_secs: u64,
    /// Block buffers in memory at once across all requests (the memory
    /// budget, in blocks). Default 14.
    pub inflight_blocks: usize,
    /// Requests that may wait for memory at once; beyond, 503 SlowDown. Default 256.
    pub max_waiting: usize,
    /// Milliseconds a request may wait for memory before 503 SlowDown. Default 10000.
    pub max_wait_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let e = EngineConfig::default();
        LimitsConfig {
            max_connections: 4096,
            header_timeout_secs: 10,
            idle_timeout_secs: 60,
            body_timeout_secs: 30,
            write_timeout_secs: 30,
            inflight_blocks: e.inflight_blocks,
            max_waiting: e.max_waiting,
            max_wait_ms: u64::try_from(e.max_wait.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// `[cluster]` section: only used when metadata is in etcd.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// Node id, unique in the cluster. Default: a random id kept in <data>/node.id.
    pub node_id: Option<String>,
    /// Failure domain (rack, room, AZ). Default "default".
    pub zone: String,
    /// Listener of the internal shard API. Default 127.0.0.1:9003.
    pub listen: SocketAddr,
    /// host:port peers use to reach the shard API. Default: the listen address.
    pub advertise: Option<String>,
    /// A node down this long has its shards rebuilt elsewhere, seconds. Default 300.
    pub heal_grace_secs: u64,
    /// Seconds between heal passes (also run after membership changes). Default 60.
    pub heal_interval_secs: u64,
    /// TTL of the membership lease, seconds (at least 2): a node that stops
    /// heartbeating (every TTL/3) drops out of the live set this long after.
    /// Shorter detects dead nodes sooner, at more etcd traffic. Default 10.
    pub lease_ttl_secs: u64,
    /// Writes are refused (503, with the reason) while fewer failure
    /// domains than this are up: live nodes, or zones when the nodes are in
    /// more than one zone. Default: m+1 for the code of the write.
    pub min_failure_domains: Option<usize>,
    /// Allow more than m shards of a block on one node, and codes wider
    /// than the nodes can hold that way (two nodes with several disks
    /// each). Default false.
    pub allow_shard_doubling: bool,
    /// Mutual TLS on the shard API (cluster CA in secrets/, shared through
    /// the metadata store). Default true; false only for benchmarks.
    pub tls: bool,
    /// Lifetime of a node's shard API certificate, seconds; renewed in
    /// place at 2/3 of it. Default 2592000 (30 days).
    pub cert_lifetime_secs: u64,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            node_id: None,
            zone: "default".to_owned(),
            listen: "127.0.0.1:9003".parse().expect("valid literal address"),
            advertise: None,
            heal_grace_secs: EngineConfig::default().heal_grace.as_secs(),
            heal_interval_secs: WorkerConfig::default().heal_interval.as_secs(),
            lease_ttl_secs: 10,
            min_failure_domains: None,
            allow_shard_doubling: false,
            tls: true,
            cert_lifetime_secs: 30 * 86_400,
        }
    }
}

/// `[storage]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Block size in bytes. Default 4 MiB.
    pub block_size: usize,
    /// zstd level. Default 3.
    pub zstd_level: i32,
    /// Compress blocks when it saves at least 5 %. Default true.
    pub compress: bool,
    /// Objects up to this size (bytes) are stored inside their metadata record. Default 4096.
    pub inline_threshold: usize,
    /// Erasure code "K+M"; default by disk count (1 → 1+0, 2 → 1+1, 3 → 2+1, 4–5 → 2+2, 6–11 → 4+2, 12+ → 8+4).
    pub erasure: Option<String>,
    /// Seconds before GC may delete an unreferenced block. Default 86400.
    pub gc_grace_secs: u64,
    /// Page cache of the embedded metadata store (redb), bytes. Default 64 MiB:
    /// hot metadata stays cached; the OS page cache holds the rest.
    pub meta_cache_bytes: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        let e = EngineConfig::default();
        StorageConfig {
            block_size: e.block_size,
            zstd_level: e.zstd_level,
            compress: e.compress,
            inline_threshold: e.inline_threshold,
            erasure: None,
            gc_grace_secs: e.gc_grace.as_secs(),
            meta_cache_bytes: 64 << 20,
        }
    }
}

/// `[s3]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Region clients sign for. Default "us-east-1".
    pub region: String,
    /// Base domain for virtual-hosted-style requests (`bucket.<domain>`). Default: none (path-style).
    pub domain: Option<String>,
    /// Largest request header section, in bytes. Default 16384.
    pub max_header_bytes: usize,
    /// Largest single PutObject / UploadPart body, in bytes. Default 5 GiB.
    pub max_put_bytes: u64,
    /// Accept SigV2-signed requests (header and presigned URLs; presigned
    /// ones valid 7 days at most). Default false: old, weaker signing.
    pub allow_sigv2: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        let d = liuma_s3::S3Settings::default();
        S3Config {
            region: d.region,
            domain: d.domain,
            max_header_bytes: d.max_header_bytes,
            max_put_bytes: d.max_put_bytes,
            allow_sigv2: d.allow_sigv2,
        }
    }
}

/// `[native]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NativeSection {
    /// Bucket of the native API's files, created at start. Default "liuma".
    pub bucket: String,
    /// Lifetime of upload/download tokens, in seconds. Default 3600.
    pub token_ttl_secs: u64,
    /// Largest chunk (or tus PATCH body), in bytes. Default 1 GiB.
    pub max_chunk_bytes: u64,
    /// `Access-Control-Allow-Origin` for browser frontends. Default "*".
    pub cors_origin: String,
    /// Number of the first chunk: 0, or 1 for liuma 1.0 clients that
    /// numbered chunks from 1. Default 0.
    pub chunk_base: u32,
    /// Response shape: "native" (default) or "v1" (liuma 1.0's
    /// `{status, code, msg, data}` envelope).
    pub envelope: String,
    /// `GET /server/active` shape: "native" (default) or "v1" (liuma 1.0:
    /// `{"status": [addresses]}`).
    pub active_shape: String,
    /// Largest request head (request line + headers) in bytes; larger is a
    /// JSON 431. Default 16384.
    pub max_header_bytes: usize,
    /// Longest request target (path + query) in bytes; longer is a JSON
    /// 414. Default 8192.
    pub max_uri_bytes: usize,
}

impl Default for NativeSection {
    fn default() -> Self {
        let d = liuma_native::NativeConfig::default();
        NativeSection {
            bucket: d.bucket,
            token_ttl_secs: d.token_ttl.as_secs(),
            max_chunk_bytes: d.max_chunk_size,
            cors_origin: d.cors_origin,
            chunk_base: d.chunk_base,
            envelope: "native".to_owned(),
            active_shape: "native".to_owned(),
            max_header_bytes: d.max_header_bytes,
            max_uri_bytes: d.max_uri_bytes,
        }
    }
}

/// `[maintenance]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaintenanceConfig {
    /// Seconds between GC passes. Default 3600. Most are incremental: only
    /// what was written or removed since is looked at.
    pub gc_interval_secs: u64,
    /// Seconds between full GC passes (every block record and shard file;
    /// the first pass after start is one). Default 86400.
    pub gc_full_interval_secs: u64,
    /// Seconds between scrub passes. Default 86400.
    pub scrub_interval_secs: u64,
    /// Scrub read rate in bytes/s (0 = unlimited). Default 64 MiB/s.
    pub scrub_rate: u64,
    /// Multipart uploads older than this many seconds are aborted. Default 604800 (7 days).
    pub upload_expiry_secs: u64,
    /// Seconds between lifecycle passes (bucket expiration rules). Default 3600.
    pub lifecycle_interval_secs: u64,
    /// Most changes per second a lifecycle pass makes (0 = unlimited). Default 100.
    pub lifecycle_rate: u32,
    /// Tests only: let `POST /admin/lifecycle?as_of=MS` evaluate the rules
    /// as of another time. Default false (a future time expires objects early).
    pub lifecycle_test_clock: bool,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        let w = WorkerConfig::default();
        MaintenanceConfig {
            gc_interval_secs: w.gc_interval.as_secs(),
            gc_full_interval_secs: w.gc_full_interval.as_secs(),
            scrub_interval_secs: w.scrub_interval.as_secs(),
            scrub_rate: w.scrub_rate,
            upload_expiry_secs: w.upload_expiry.as_secs(),
            lifecycle_interval_secs: w.lifecycle_interval.as_secs(),
            lifecycle_rate: w.lifecycle_rate,
            lifecycle_test_clock: false,
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./liuma-data")
}

fn default_etcd_prefix() -> String {
    "/liuma/".to_owned()
}

fn default_s3_listen() -> SocketAddr {
    "127.0.0.1:9000".parse().expect("valid literal address")
}

fn default_console_listen() -> SocketAddr {
    "127.0.0.1:9004".parse().expect("valid literal address")
}

fn default_native_listen() -> SocketAddr {
    "127.0.0.1:9001".parse().expect("valid literal address")
}

fn default_admin_listen() -> SocketAddr {
    "127.0.0.1:9002".parse().expect("valid literal address")
}

impl Config {
    /// Build from the config file (if any) and the flags/env.
    pub fn load(args: &ServerArgs) -> anyhow::Result<Config> {
        let mut cfg: Config = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => toml::from_str("").expect("an empty config is valid"),
        };
        if let Some(d) = &args.data {
            cfg.data_dir.clone_from(d);
        }
        if !args.etcd.is_empty() {
            cfg.etcd.clone_from(&args.etcd);
        }
        if let Some(p) = &args.etcd_prefix {
            cfg.etcd_prefix.clone_from(p);
        }
        args.etcd_client.apply(&mut cfg.etcd_client);
        if !args.disks.is_empty() {
            cfg.disks.clone_from(&args.disks);
        }
        if cfg.disks.is_empty() {
            cfg.disks.push(cfg.data_dir.join("disk0"));
        }
        if let Some(a) = args.admin_listen {
            cfg.admin_listen = a;
        }
        if let Some(a) = args.native_listen {
            cfg.native_listen = a;
        }
        if let Some(b) = &args.native_bucket {
            cfg.native.bucket.clone_from(b);
        }
        if let Some(t) = args.native_token_ttl_secs {
            cfg.native.token_ttl_secs = t;
        }
        if let Some(b) = args.native_chunk_base {
            cfg.native.chunk_base = b;
        }
        if let Some(e) = &args.native_envelope {
            cfg.native.envelope.clone_from(e);
        }
        if let Some(a) = &args.native_active_shape {
            cfg.native.active_shape.clone_from(a);
        }
        if let Some(m) = args.native_max_header_bytes {
            cfg.native.max_header_bytes = m;
        }
        if let Some(a) = args.s3_listen {
            cfg.s3_listen = a;
        }
        if let Some(a) = args.console_listen {
            cfg.console_listen = a;
        }
        if let Some(r) = &args.s3_region {
            cfg.s3.region.clone_from(r);
        }
        if let Some(d) = &args.s3_domain {
            cfg.s3.domain = Some(d.clone()).filter(|d| !d.is_empty());
        }
        if args.s3_allow_sigv2 {
            cfg.s3.allow_sigv2 = true;
        }
        if let Some(f) = &args.sse_master_key_file {
            cfg.sse.master_key_file = Some(f.clone());
        }
        if args.sse_default_encryption {
            cfg.sse.default_encryption = true;
        }
        if args.sse_c_plain_http {
            cfg.sse.sse_c_plain_http = true;
        }
        if let Some(b) = args.block_size {
            cfg.storage.block_size = b;
        }
        if let Some(e) = &args.erasure {
            cfg.storage.erasure = Some(e.clone());
        }
        if let Some(g) = args.gc_grace_secs {
            cfg.storage.gc_grace_secs = g;
        }
        if let Some(g) = args.gc_interval_secs {
            cfg.maintenance.gc_interval_secs = g;
        }
        if let Some(s) = args.scrub_interval_secs {
            cfg.maintenance.scrub_interval_secs = s;
        }
        if args.lifecycle_test_clock {
            cfg.maintenance.lifecycle_test_clock = true;
        }
        if let Some(n) = &args.node_id {
            cfg.cluster.node_id = Some(n.clone());
        }
        if let Some(z) = &args.zone {
            cfg.cluster.zone.clone_from(z);
        }
        if let Some(a) = args.cluster_listen {
            cfg.cluster.listen = a;
        }
        if let Some(a) = &args.advertise {
            cfg.cluster.advertise = Some(a.clone());
        }
        if let Some(g) = args.heal_grace_secs {
            cfg.cluster.heal_grace_secs = g;
        }
        if let Some(i) = args.heal_interval_secs {
            cfg.cluster.heal_interval_secs = i;
        }
        if let Some(t) = args.lease_ttl_secs {
            cfg.cluster.lease_ttl_secs = t;
        }
        if let Some(n) = args.min_failure_domains {
            cfg.cluster.min_failure_domains = Some(n);
        }
        if args.allow_shard_doubling {
            cfg.cluster.allow_shard_doubling = true;
        }
        args.tls.apply(&mut cfg.tls);
        if let Some(secs) = args.cluster_cert_lifetime_secs {
            cfg.cluster.cert_lifetime_secs = secs;
        }
        if let Some(t) = &args.cluster_tls {
            cfg.cluster.tls = match t.as_str() {
                "on" => true,
                "off" => false,
                other => bail!("--cluster-tls must be on or off, not {other:?}"),
            };
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reject inconsistent settings before anything is opened.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.engine_config()?
            .validate()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        self.etcd_client.validate(&self.etcd)?;
        if !self.etcd.is_empty() && self.etcd_prefix.is_empty() {
            bail!("etcd_prefix must not be empty");
        }
        let mut seen = std::collections::HashSet::new();
        for d in &self.disks {
            if !seen.insert(d) {
                bail!("disk {} is listed twice", d.display());
            }
        }
        if self.s3.region.is_empty()
            || !self
                .s3
                .region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            bail!("s3.region must be letters, digits and '-' (e.g. us-east-1)");
        }
        liuma_engine::validate_bucket_name(&self.native.bucket)
            .map_err(|e| anyhow::anyhow!("native.bucket: {e}"))?;
        if self.native.token_ttl_secs == 0 || self.native.max_chunk_bytes == 0 {
            bail!("native.token_ttl_secs and native.max_chunk_bytes must be at least 1");
        }
        if self.native.chunk_base > 1 {
            bail!("native.chunk_base must be 0 or 1");
        }
        for (name, v) in [
            ("native.envelope", &self.native.envelope),
            ("native.active_shape", &self.native.active_shape),
        ] {
            if v != "native" && v != "v1" {
                bail!("{name} must be \"native\" or \"v1\"");
            }
        }
        if self.native.max_header_bytes < 1024 || self.native.max_uri_bytes < 256 {
            bail!(
                "native.max_header_bytes must be at least 1024 and native.max_uri_bytes at least 256"
            );
        }
        if self.cluster.zone.is_empty() || self.cluster.zone.len() > 64 {
            bail!("cluster.zone must be 1-64 characters");
        }
        let l = &self.limits;
        if l.max_connections == 0
            || l.header_timeout_secs == 0
            || l.idle_timeout_secs == 0
            || l.body_timeout_secs == 0
            || l.write_timeout_secs == 0
        {
            bail!("limits: max_connections and every timeout must be at least 1");
        }
        if self.maintenance.gc_interval_secs == 0
            || self.maintenance.gc_full_interval_secs == 0
            || self.maintenance.scrub_interval_secs == 0
            || self.cluster.heal_interval_secs == 0
            || self.maintenance.lifecycle_interval_secs == 0
        {
            bail!("maintenance intervals must be at least 1 second");
        }
        for l in crate::tls::LISTENERS {
            self.tls.files_for(l)?;
        }
        if self.tls.reload_interval_secs == 0 {
            bail!("tls.reload_interval_secs must be at least 1");
        }
        if self.cluster.lease_ttl_secs < 2 {
            bail!("cluster.lease_ttl_secs must be at least 2 (etcd's shortest lease)");
        }
        Ok(())
    }

    /// The engine's part of the configuration.
    pub fn engine_config(&self) -> anyhow::Result<EngineConfig> {
        let erasure = match &self.storage.erasure {
            Some(s) => Some(parse_erasure(s)?),
            None => None,
        };
        Ok(EngineConfig {
            block_size: self.storage.block_size,
            zstd_level: self.storage.zstd_level,
            compress: self.storage.compress,
            inline_threshold: self.storage.inline_threshold,
            erasure,
            gc_grace: Duration::from_secs(self.storage.gc_grace_secs),
            heal_grace: Duration::from_secs(self.cluster.heal_grace_secs),
            min_failure_domains: self.cluster.min_failure_domains,
            allow_shard_doubling: self.cluster.allow_shard_doubling,
            inflight_blocks: self.limits.inflight_blocks,
            max_waiting: self.limits.max_waiting,
            max_wait: Duration::from_millis(self.limits.max_wait_ms),
            lifecycle_test_clock: self.maintenance.lifecycle_test_clock,
            sse_by_default: self.sse.default_encryption,
            ..EngineConfig::default()
        })
    }

    /// The limits every listener serves with.
    pub fn serve_limits(&self) -> crate::serve::Limits {
        let l = &self.limits;
        crate::serve::Limits {
            max_connections: l.max_connections,
            header_timeout: Duration::from_secs(l.header_timeout_secs),
            idle_timeout: Duration::from_secs(l.idle_timeout_secs),
            body_timeout: Duration::from_secs(l.body_timeout_secs),
            write_timeout: Duration::from_secs(l.write_timeout_secs),
            shutdown_grace: Duration::from_secs(30),
            max_headers: None,
        }
    }

    /// The S3 front end's settings.
    pub fn s3_settings(&self) -> liuma_s3::S3Settings {
        liuma_s3::S3Settings {
            region: self.s3.region.clone(),
            domain: self.s3.domain.clone(),
            max_header_bytes: self.s3.max_header_bytes,
            max_put_bytes: self.s3.max_put_bytes,
            allow_sigv2: self.s3.allow_sigv2,
            ssec_plain_http: self.sse.sse_c_plain_http,
            ..liuma_s3::S3Settings::default()
        }
    }

    /// The native token API's settings.
    pub fn native_config(&self) -> liuma_native::NativeConfig {
        liuma_native::NativeConfig {
            bucket: self.native.bucket.clone(),
            token_ttl: Duration::from_secs(self.native.token_ttl_secs),
            max_chunk_size: self.native.max_chunk_bytes,
            upload_expiry: Duration::from_secs(self.maintenance.upload_expiry_secs),
            cors_origin: self.native.cors_origin.clone(),
            region: self.s3.region.clone(),
            chunk_base: self.native.chunk_base,
            envelope_v1: self.native.envelope == "v1",
            active_v1: self.native.active_shape == "v1",
            max_header_bytes: self.native.max_header_bytes,
            max_uri_bytes: self.native.max_uri_bytes,
        }
    }

    /// The background workers' schedule.
    pub fn worker_config(&self) -> WorkerConfig {
        WorkerConfig {
            gc_interval: Duration::from_secs(self.maintenance.gc_interval_secs),
            gc_full_interval: Duration::from_secs(self.maintenance.gc_full_interval_secs),
            scrub_interval: Duration::from_secs(self.maintenance.scrub_interval_secs),
            scrub_rate: self.maintenance.scrub_rate,
            upload_expiry: Duration::from_secs(self.maintenance.upload_expiry_secs),
            heal_interval: Duration::from_secs(self.cluster.heal_interval_secs),
            lifecycle_interval: Duration::from_secs(self.maintenance.lifecycle_interval_secs),
            lifecycle_rate: self.maintenance.lifecycle_rate,
            ..WorkerConfig::default()
        }
    }

    /// The etcd backend's settings (used when `etcd` lists endpoints), with
    /// `security` loaded from the `[etcd_client]` files.
    pub fn etcd_config(&self, security: liuma_meta::EtcdSecurity) -> liuma_meta::EtcdConfig {
        liuma_meta::EtcdConfig {
            prefix: self.etcd_prefix.clone(),
            security,
            ..liuma_meta::EtcdConfig::default()
        }
    }

    /// Where the embedded metadata database lives.
    pub fn meta_path(&self) -> PathBuf {
        self.data_dir.join("meta").join("liuma.redb")
    }

    /// Where generated secrets live (0700 directory, 0600 files).
    pub fn secrets_dir(&self) -> PathBuf {
        self.data_dir.join("secrets")
    }
}

/// Parse "K+M".
pub fn parse_erasure(s: &str) -> anyhow::Result<(u16, u16)> {
    let (k, m) = s
        .split_once('+')
        .with_context(|| format!("erasure {s:?} is not K+M"))?;
    let k: u16 = k
        .trim()
        .parse()
        .with_context(|| format!("erasure {s:?}: bad K"))?;
    let m: u16 = m
        .trim()
        .parse()
        .with_context(|| format!("erasure {s:?}: bad M"))?;
    Ok((k, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected() {
        let err = toml::from_str::<Config>("data_dirr = \"x\"").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "data_dir = \"/tmp/x\"\n[storage]\nblock_size = 1048576\nerasure = \"2+1\"\n",
        )
        .unwrap();
        let args = ServerArgs {
            config: Some(file),
            block_size: Some(2 << 20),
            ..Default::default()
        };
        let cfg = Config::load(&args).unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(cfg.disks, vec![PathBuf::from("/tmp/x/disk0")]);
        assert_eq!(cfg.storage.block_size, 2 << 20);
        assert_eq!(cfg.engine_config().unwrap().erasure, Some((2, 1)));
    }

    #[test]
    fn bad_values_are_clear_errors() {
        assert!(parse_erasure("4-2").is_err());
        let args = ServerArgs {
            block_size: Some(10),
            ..Default::default()
        };
        let err = Config::load(&args).unwrap_err();
        assert!(err.to_string().contains("block_size"), "{err}");
    }

    #[test]
    fn tls_files_per_listener_override_the_shared_pair() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[tls]\ncert = \"/a.pem\"\nkey = \"/a.key\"\n[tls.admin]\ncert = \"/b.pem\"\nkey = \"/b.key\"\n",
        )
        .unwrap();
        let args = ServerArgs {
            config: Some(file.clone()),
            tls: crate::cli::TlsArgs {
                s3_tls_cert: Some("/c.pem".into()),
                s3_tls_key: Some("/c.key".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let cfg = Config::load(&args).unwrap();
        let f = |l| cfg.tls.files_for(l).unwrap().unwrap().cert;
        assert_eq!(f("s3"), PathBuf::from("/c.pem"));
        assert_eq!(f("native"), PathBuf::from("/a.pem"));
        assert_eq!(f("admin"), PathBuf::from("/b.pem"));
        // no TLS unless asked
        let cfg = Config::load(&ServerArgs::default()).unwrap();
        assert!(cfg.tls.files_for("s3").unwrap().is_none());
        // a certificate without its key is an error naming the setting
        let err = Config::load(&ServerArgs {
            tls: crate::cli::TlsArgs {
                native_tls_cert: Some("/c.pem".into()),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("tls.native"), "{err}");
    }

    /// `Config::load` of `text` as the config file (in `dir`) with `args`.
    fn load_file(dir: &std::path::Path, text: &str, args: ServerArgs) -> anyhow::Result<Config> {
        let file = dir.join("c.toml");
        std::fs::write(&file, text).unwrap();
        Config::load(&ServerArgs {
            config: Some(file),
            ..args
        })
    }

    #[test]
    fn etcd_client_settings_go_together_and_match_the_scheme() {
        let dir = tempfile::tempdir().unwrap();
        let load = |text: &str, args: ServerArgs| load_file(dir.path(), text, args);
        let cfg = load(
            "etcd = [\"https://e:2379\"]\n[etcd_client]\nca = \"/ca.pem\"\ncert = \"/c.pem\"\nkey = \"/c.key\"\nuser = \"liuma\"\npassword_file = \"/pw\"\n",
            ServerArgs::default(),
        )
        .unwrap();
        assert_eq!(cfg.etcd_client.user.as_deref(), Some("liuma"));
        assert!(cfg.etcd_client.tls());
        // flags win over the file
        let cfg = load(
            "etcd = [\"https://e:2379\"]\n[etcd_client]\nca = \"/ca.pem\"\n",
            ServerArgs {
                etcd_client: crate::cli::EtcdClientArgs {
                    etcd_ca: Some("/other.pem".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(cfg.etcd_client.ca, Some(PathBuf::from("/other.pem")));
        for (bad, says) in [
            ("etcd = [\"https://e:2379\"]\n", "--etcd-ca"),
            (
                "etcd = [\"http://e:2379\"]\n[etcd_client]\nca = \"/ca.pem\"\n",
                "use https://e:2379",
            ),
            (
                "etcd = [\"https://e:2379\"]\n[etcd_client]\nca = \"/a\"\ncert = \"/c\"\n",
                "--etcd-key",
            ),
            (
                "etcd = [\"http://e:2379\"]\n[etcd_client]\nuser = \"liuma\"\n",
                "--etcd-password-file",
            ),
            ("etcd = [\"e:2379\"]\n", "http:// or https://"),
        ] {
            let err = load(bad, ServerArgs::default()).unwrap_err();
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn native_compatibility_settings() {
        let dir = tempfile::tempdir().unwrap();
        let load = |text: &str, args: ServerArgs| load_file(dir.path(), text, args);
        let cfg = load(
            "[native]\nchunk_base = 1\nenvelope = \"v1\"\nactive_shape = \"v1\"\nmax_header_bytes = 8192\n",
            ServerArgs::default(),
        )
        .unwrap();
        let n = cfg.native_config();
        assert_eq!(n.chunk_base, 1);
        assert!(n.envelope_v1 && n.active_v1);
        assert_eq!((n.max_header_bytes, n.max_uri_bytes), (8192, 8192));
        // the flag wins over the file
        let cfg = load(
            "[native]\nchunk_base = 1\n",
            ServerArgs {
                native_chunk_base: Some(0),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(cfg.native_config().chunk_base, 0);
        for bad in [
            "[native]\nchunk_base = 2\n",
            "[native]\nenvelope = \"v2\"\n",
            "[native]\nactive_shape = \"x\"\n",
            "[native]\nmax_header_bytes = 10\n",
        ] {
            let err = load(bad, ServerArgs::default()).unwrap_err();
            assert!(err.to_string().contains("native."), "{bad}: {err}");
        }
    }
}
