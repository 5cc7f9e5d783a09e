//! Command line (clap derive). Every server flag also reads a `LIUMA_*`
//! environment variable; flags win over env, env over the config file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// liuma — a distributed object store in one binary.
///
/// `liuma server` starts a node on ./liuma-data with no other setup:
/// embedded metadata, one disk, admin API on 127.0.0.1:9002.
#[derive(Debug, Parser)]
#[command(name = "liuma", version, about, long_about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a storage node.
    Server(Box<ServerArgs>),
    /// Manage S3 access keys through the admin API of a running node (the
    /// interface from before users: each key gets a user of its own; see `user`).
    Key(KeyArgs),
    /// Manage users, their access keys and identity policies through the
    /// admin API of a running node.
    User(UserArgs),
    /// Manage native API backend credentials through the admin API of a running node.
    Backend(BackendArgs),
    /// Cluster nodes: status, drain (with progress), undrain, forget.
    Node(NodeArgs),
    /// SSE-S3 master keys through the admin API of a running node: status,
    /// rotate, reencrypt, retire.
    Sse(SseArgs),
    /// Load-test an S3 endpoint (this one or any other): put, get, mixed, list,
    /// delete, multipart; prints a summary table or JSON.
    Bench(Box<liuma_bench::BenchArgs>),
    /// TLS certificates: `liuma tls self-signed --host NAME... --out DIR`.
    Tls(TlsCmdArgs),
    /// Cluster certificates: `liuma cluster cert` issues a node certificate offline.
    Cluster(ClusterCmdArgs),
    /// etcd set-up: `liuma etcd init-auth` turns on etcd's authentication for liuma.
    Etcd(EtcdCmdArgs),
    /// Print the version and build information.
    Version,
}

/// How the management commands reach a node's admin API.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Admin API of a node: http://HOST:PORT, or https://HOST:PORT when its
    /// admin listener speaks TLS (HOST must be named in its certificate).
    #[arg(
        long,
        global = true,
        env = "LIUMA_ADMIN_URL",
        default_value = "http://127.0.0.1:9002"
    )]
    pub admin_url: String,
    /// File holding the admin token (env LIUMA_ADMIN_TOKEN takes precedence).
    #[arg(
        long,
        global = true,
        env = "LIUMA_ADMIN_TOKEN_FILE",
        default_value = "./liuma-data/secrets/admin.token"
    )]
    pub admin_token_file: PathBuf,
    /// PEM CA certificate(s) trusted for an https:// --admin-url, besides
    /// the OS's trust store (e.g. `ca.pem` of `liuma tls self-signed`).
    #[arg(long, global = true, env = "LIUMA_ADMIN_CA")]
    pub admin_ca: Option<PathBuf>,
}

/// `liuma key ...`: talks to the admin API (`--admin-url`) with the admin token.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Which node to talk to, and how.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// What to do.
    #[command(subcommand)]
    pub action: KeyAction,
}

/// `liuma user ...`: talks to the admin API (`--admin-url`) with the admin token.
#[derive(Debug, Args)]
pub struct UserArgs {
    /// Which node to talk to, and how.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// What to do.
    #[command(subcommand)]
    pub action: UserAction,
}

/// User actions.
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create a user (1-64 of A-Z a-z 0-9 _ . @ -); prints its canonical id.
    Create {
        /// User name.
        name: String,
    },
    /// List users.
    List,
    /// Delete a user and its keys (not root; not while it owns buckets).
    Delete {
        /// User name.
        name: String,
    },
    /// A user's access keys.
    Key {
        /// What to do.
        #[command(subcommand)]
        action: UserKeyAction,
    },
    /// A user's identity policies (AWS IAM JSON).
    Policy {
        /// What to do.
        #[command(subcommand)]
        action: UserPolicyAction,
    },
}

/// Actions on a user's keys.
#[derive(Debug, Subcommand)]
pub enum UserKeyAction {
    /// Create a key; prints its id and secret (the secret is shown only now).
    Create {
        /// User name.
        user: String,
        /// A name for the key, for humans.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List the user's keys (no secrets).
    List {
        /// User name.
        user: String,
    },
    /// Delete a key; its requests fail from now on.
    Delete {
        /// User name.
        user: String,
        /// Access key id.
        id: String,
    },
    /// Disable a key: kept, but its requests fail until it is enabled.
    Disable {
        /// User name.
        user: String,
        /// Access key id.
        id: String,
    },
    /// Enable a disabled key again.
    Enable {
        /// User name.
        user: String,
        /// Access key id.
        id: String,
    },
}

/// Actions on a user's identity policies.
#[derive(Debug, Subcommand)]
pub enum UserPolicyAction {
    /// Attach (or replace) a policy, read from `--file` (`-` or absent: stdin).
    Put {
        /// User name.
        user: String,
        /// Policy name.
        policy: String,
        /// File holding the policy JSON.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Print a policy.
    Get {
        /// User name.
        user: String,
        /// Policy name.
        policy: String,
    },
    /// Remove a policy.
    Delete {
        /// User name.
        user: String,
        /// Policy name.
        policy: String,
    },
    /// List the user's policy names.
    List {
        /// User name.
        user: String,
    },
}

/// `liuma node ...`: talks to the admin API (`--admin-url`) of any node.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Which node to talk to, and how.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// What to do.
    #[command(subcommand)]
    pub action: NodeAction,
}

/// Node actions.
#[derive(Debug, Subcommand)]
pub enum NodeAction {
    /// List the nodes: live, draining, zone, disks, free space, shards held.
    Status,
    /// Stop placing shards on a node and move its shards off; waits and
    /// shows progress until the node holds none (then it can be stopped).
    Drain {
        /// Node id.
        id: String,
        /// Return at once instead of waiting for the drain to finish.
        #[arg(long)]
        no_wait: bool,
    },
    /// Cancel a drain: the node takes shards again.
    Undrain {
        /// Node id.
        id: String,
    },
    /// Forget a node that is not live (after a drain, or a machine that is
    /// gone for good): any shard still recorded there is rebuilt elsewhere.
    Forget {
        /// Node id.
        id: String,
    },
}

/// `liuma sse ...`: talks to the admin API (`--admin-url`) with the admin token.
#[derive(Debug, Args)]
pub struct SseArgs {
    /// Which node to talk to, and how.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// What to do.
    #[command(subcommand)]
    pub action: SseAction,
}

/// SSE-S3 master key actions.
#[derive(Debug, Subcommand)]
pub enum SseAction {
    /// Show the key versions (never a key), the current one and the last
    /// re-encryption job.
    Status,
    /// Add a master key version; new writes use it (every node of a
    /// cluster within seconds). Older versions keep decrypting.
    Rotate,
    /// Rewrite every SSE-S3 object version with blocks sealed under an old
    /// version with the current one; waits and shows progress.
    Reencrypt {
        /// The old version.
        #[arg(long)]
        from_version: u32,
        /// Return at once instead of waiting for the job to finish.
        #[arg(long)]
        no_wait: bool,
    },
    /// Count what still needs a version (objects, SSE-C checks, uploads).
    Usage {
        /// The version.
        version: u32,
    },
    /// Remove an old version from the ring: refused while anything uses it.
    Retire {
        /// The version.
        version: u32,
    },
}

/// Key management actions.
#[derive(Debug, Subcommand)]
pub enum KeyAction {
    /// Create a key; prints its id and secret (the secret is shown only now).
    Create {
        /// A name for humans.
        name: String,
    },
    /// List keys and their bucket grants (no secrets).
    List,
    /// Delete a key; its requests fail from now on.
    Delete {
        /// Access key id.
        id: String,
    },
    /// Grant a key read, write or owner on a bucket ("none" revokes).
    Allow {
        /// Access key id.
        id: String,
        /// Bucket name.
        bucket: String,
        /// read | write | owner | none
        permission: String,
    },
}

/// `liuma backend ...`: talks to the admin API (`--admin-url`) with the admin token.
#[derive(Debug, Args)]
pub struct BackendArgs {
    /// Which node to talk to, and how.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// What to do.
    #[command(subcommand)]
    pub action: BackendAction,
}

/// Backend credential actions.
#[derive(Debug, Subcommand)]
pub enum BackendAction {
    /// Create a credential; prints its id and secret (the secret is shown only now).
    Create {
        /// A name for humans.
        name: String,
        /// Scopes, comma separated or repeated: upload, download, finish, info,
        /// delete, admin. Default upload,download,finish,info.
        #[arg(long = "scope", value_delimiter = ',')]
        scopes: Vec<String>,
        /// The only bucket it may act on.
        #[arg(long)]
        bucket: Option<String>,
        /// Largest file (bytes) it may mint upload tokens for.
        #[arg(long)]
        max_size: Option<u64>,
        /// Expiry: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC) or Unix seconds.
        #[arg(long)]
        expires: Option<String>,
        /// Requests per second allowed (per node).
        #[arg(long)]
        rate_limit: Option<u32>,
        /// Open chunk sessions its tokens may hold at once. Default 1000.
        #[arg(long)]
        max_sessions: Option<u32>,
        /// Bytes its open chunk sessions may hold together. Default unlimited.
        #[arg(long)]
        max_parked_bytes: Option<u64>,
    },
    /// List credentials (no secrets).
    List,
    /// Revoke a credential: its requests and the tokens it minted fail from now on.
    Revoke {
        /// Credential id.
        id: String,
    },
    /// Give a credential a new secret (shown only now); tokens it minted stop working.
    Rotate {
        /// Credential id.
        id: String,
    },
}

/// Flags of `liuma server`.
#[derive(Debug, Args, Default)]
pub struct ServerArgs {
    /// Optional TOML config file (see docs/configuration.md).
    #[arg(long, env = "LIUMA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory: metadata, secrets, and the default disk. Default ./liuma-data.
    #[arg(long, env = "LIUMA_DATA")]
    pub data: Option<PathBuf>,
    /// Keep metadata in etcd at these endpoints (URL[,URL], e.g. http://127.0.0.1:2379)
    /// instead of the embedded redb file. Default: embedded.
    #[arg(long, env = "LIUMA_ETCD", value_delimiter = ',')]
    pub etcd: Vec<String>,
    /// Prefix of every liuma key in etcd (clusters sharing an etcd need distinct ones).
    /// Default /liuma/.
    #[arg(long, env = "LIUMA_ETCD_PREFIX")]
    pub etcd_prefix: Option<String>,
    /// TLS and authentication towards etcd.
    #[command(flatten)]
    pub etcd_client: EtcdClientArgs,
    /// A disk (directory) for shards; repeat for several. Default <data>/disk0.
    #[arg(long = "disk", env = "LIUMA_DISKS", value_delimiter = ',')]
    pub disks: Vec<PathBuf>,
    /// S3 API address. Default 127.0.0.1:9000.
    #[arg(long, env = "LIUMA_S3_LISTEN")]
    pub s3_listen: Option<SocketAddr>,
    /// S3 region clients sign for. Default us-east-1.
    #[arg(long, env = "LIUMA_S3_REGION")]
    pub s3_region: Option<String>,
    /// Base domain for virtual-hosted-style S3 requests (bucket.DOMAIN). Default: path-style only.
    #[arg(long, env = "LIUMA_S3_DOMAIN")]
    pub s3_domain: Option<String>,
    /// Accept SigV2-signed S3 requests (legacy clients). Default: refused
    /// (400 InvalidRequest); presigned SigV2 URLs are then capped at 7 days.
    #[arg(long, env = "LIUMA_S3_ALLOW_SIGV2")]
    pub s3_allow_sigv2: bool,
    /// SSE-S3 master key ring from FILE (32 raw bytes, 64 hex digits, or
    /// `v<N> <hex>` lines), e.g. written by an external secret manager.
    /// The same text may instead be given in the variable
    /// LIUMA_SSE_MASTER_KEY (never on the command line). Default:
    /// `secrets/sse.key`, generated at first start (shared through etcd in
    /// a cluster).
    #[arg(long, env = "LIUMA_SSE_MASTER_KEY_FILE")]
    pub sse_master_key_file: Option<PathBuf>,
    /// New buckets get SSE-S3 default encryption (AES256).
    #[arg(long, env = "LIUMA_SSE_DEFAULT_ENCRYPTION")]
    pub sse_default_encryption: bool,
    /// Accept SSE-C customer keys over plain HTTP (a TLS proxy in front;
    /// tests, benchmarks). Default: refused with 400, as AWS does.
    #[arg(long, env = "LIUMA_SSE_C_PLAIN_HTTP")]
    pub sse_c_plain_http: bool,
    /// Web console address (sign in with an access key). Default 127.0.0.1:9004.
    #[arg(long, env = "LIUMA_CONSOLE_LISTEN")]
    pub console_listen: Option<SocketAddr>,
    /// Admin API address (health, readiness, metrics). Default 127.0.0.1:9002.
    #[arg(long, env = "LIUMA_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Native token API address (liuma 1.0 endpoints, tus). Default 127.0.0.1:9001.
    #[arg(long, env = "LIUMA_NATIVE_LISTEN")]
    pub native_listen: Option<SocketAddr>,
    /// Bucket holding the native API's files (created at start). Default liuma.
    #[arg(long, env = "LIUMA_NATIVE_BUCKET")]
    pub native_bucket: Option<String>,
    /// Lifetime of native upload/download tokens, in seconds. Default 3600.
    #[arg(long, env = "LIUMA_NATIVE_TOKEN_TTL_SECS")]
    pub native_token_ttl_secs: Option<u64>,
    /// Number of the first native chunk: 0, or 1 for liuma 1.0 clients. Default 0.
    #[arg(long, env = "LIUMA_NATIVE_CHUNK_BASE")]
    pub native_chunk_base: Option<u32>,
    /// Native answers' shape: native, or v1 (liuma 1.0's {status, code, msg, data}).
    #[arg(long, env = "LIUMA_NATIVE_ENVELOPE")]
    pub native_envelope: Option<String>,
    /// `/server/active` shape: native, or v1 ({"status": [addresses]}).
    #[arg(long, env = "LIUMA_NATIVE_ACTIVE_SHAPE")]
    pub native_active_shape: Option<String>,
    /// Largest native request head in bytes (JSON 431 beyond). Default 16384.
    #[arg(long, env = "LIUMA_NATIVE_MAX_HEADER_BYTES")]
    pub native_max_header_bytes: Option<usize>,
    /// Block size in bytes. Default 4194304 (4 MiB).
    #[arg(long, env = "LIUMA_BLOCK_SIZE")]
    pub block_size: Option<usize>,
    /// Erasure code as K+M (e.g. 4+2). Default: chosen by the number of disks.
    #[arg(long, env = "LIUMA_ERASURE")]
    pub erasure: Option<String>,
    /// Seconds an unreferenced block is kept before GC deletes it. Default 86400.
    #[arg(long, env = "LIUMA_GC_GRACE_SECS")]
    pub gc_grace_secs: Option<u64>,
    /// Seconds between GC passes. Default 3600.
    #[arg(long, env = "LIUMA_GC_INTERVAL_SECS")]
    pub gc_interval_secs: Option<u64>,
    /// Seconds between scrub passes. Default 86400.
    #[arg(long, env = "LIUMA_SCRUB_INTERVAL_SECS")]
    pub scrub_interval_secs: Option<u64>,
    /// Tests only: `POST /admin/lifecycle?as_of=MS` may evaluate lifecycle
    /// rules as of another time (a future one expires objects early).
    #[arg(long, hide = true)]
    pub lifecycle_test_clock: bool,
    /// Node id in a cluster (with --etcd). Default: a random id kept in <data>/node.id.
    #[arg(long, env = "LIUMA_NODE_ID")]
    pub node_id: Option<String>,
    /// Failure domain of this node (rack, room, AZ). Default "default".
    #[arg(long, env = "LIUMA_ZONE")]
    pub zone: Option<String>,
    /// Listener of the internal shard API (with --etcd). Default 127.0.0.1:9003.
    #[arg(long, env = "LIUMA_CLUSTER_LISTEN")]
    pub cluster_listen: Option<SocketAddr>,
    /// host:port other nodes use to reach this node's shard API. Default: the listen address.
    #[arg(long, env = "LIUMA_ADVERTISE")]
    pub advertise: Option<String>,
    /// Seconds a node may be down before its shards are rebuilt elsewhere. Default 300.
    #[arg(long, env = "LIUMA_HEAL_GRACE_SECS")]
    pub heal_grace_secs: Option<u64>,
    /// Seconds between heal passes (they also run after membership changes). Default 60.
    #[arg(long, env = "LIUMA_HEAL_INTERVAL_SECS")]
    pub heal_interval_secs: Option<u64>,
    /// Membership lease TTL in seconds (at least 2): a node that stops
    /// heartbeating drops out of the live set this long after. Default 10.
    #[arg(long, env = "LIUMA_LEASE_TTL_SECS")]
    pub lease_ttl_secs: Option<u64>,
    /// Refuse writes (503) while fewer failure domains (live nodes, or zones
    /// when zones are configured) than this are up. Default m+1 for the code in use.
    #[arg(long, env = "LIUMA_MIN_FAILURE_DOMAINS")]
    pub min_failure_domains: Option<usize>,
    /// Allow more than m shards of a block on one node (e.g. two nodes with
    /// several disks each). Default off: losing a node never loses a block.
    #[arg(long, env = "LIUMA_ALLOW_SHARD_DOUBLING")]
    pub allow_shard_doubling: bool,
    /// Write the bound addresses as JSON to this file once serving (for tests and supervisors).
    #[arg(long, env = "LIUMA_READY_FILE")]
    pub ready_file: Option<PathBuf>,
    /// Log format: "text" or "json". Default text.
    #[arg(long, env = "LIUMA_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// TLS on the public listeners.
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Mutual TLS on the shard API between cluster nodes: on (default) or
    /// off (benchmarks only: shard bytes then cross the network in clear).
    #[arg(long, env = "LIUMA_CLUSTER_TLS")]
    pub cluster_tls: Option<String>,
    /// Lifetime of this node's shard API certificate in seconds (renewed in
    /// place at 2/3 of it). Default 30 days; seconds only for tests.
    #[arg(long, env = "LIUMA_CLUSTER_CERT_LIFETIME_SECS")]
    pub cluster_cert_lifetime_secs: Option<u64>,
}

/// How the node connects to etcd: TLS (`https://` endpoints) and a user.
#[derive(Debug, Args, Default)]
pub struct EtcdClientArgs {
    /// PEM CA that signed etcd's server certificate (needed for https:// endpoints).
    #[arg(long, env = "LIUMA_ETCD_CA")]
    pub etcd_ca: Option<PathBuf>,
    /// PEM client certificate for etcd's --client-cert-auth.
    #[arg(long, env = "LIUMA_ETCD_CERT")]
    pub etcd_cert: Option<PathBuf>,
    /// PEM private key of --etcd-cert.
    #[arg(long, env = "LIUMA_ETCD_KEY")]
    pub etcd_key: Option<PathBuf>,
    /// etcd user (etcd with `auth enable`); needs --etcd-password-file.
    #[arg(long, env = "LIUMA_ETCD_USER")]
    pub etcd_user: Option<String>,
    /// File holding the etcd user's password (first line; keep it 0600).
    #[arg(long, env = "LIUMA_ETCD_PASSWORD_FILE")]
    pub etcd_password_file: Option<PathBuf>,
}

impl EtcdClientArgs {
    /// Flags win over the config file, one setting at a time.
    pub fn apply(&self, e: &mut crate::config::EtcdClientSection) {
        let set = |dst: &mut Option<PathBuf>, src: &Option<PathBuf>| {
            if let Some(p) = src {
                *dst = Some(p.clone());
            }
        };
        set(&mut e.ca, &self.etcd_ca);
        set(&mut e.cert, &self.etcd_cert);
        set(&mut e.key, &self.etcd_key);
        set(&mut e.password_file, &self.etcd_password_file);
        if let Some(u) = &self.etcd_user {
            e.user = Some(u.clone());
        }
    }
}

/// TLS flags: `--tls-cert/--tls-key` for every public listener, and
/// `--<listener>-tls-cert/--<listener>-tls-key` for one (S3, native,
/// admin, console). The files are PEM; they are re-read when they change.
#[derive(Debug, Args, Default)]
pub struct TlsArgs {
    /// PEM certificate chain (leaf first) for the S3, native, admin and console listeners.
    #[arg(long, env = "LIUMA_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "LIUMA_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// The S3 listener's own certificate (overrides --tls-cert).
    #[arg(long, env = "LIUMA_S3_TLS_CERT")]
    pub s3_tls_cert: Option<PathBuf>,
    /// The S3 listener's own key.
    #[arg(long, env = "LIUMA_S3_TLS_KEY")]
    pub s3_tls_key: Option<PathBuf>,
    /// The native API listener's own certificate (overrides --tls-cert).
    #[arg(long, env = "LIUMA_NATIVE_TLS_CERT")]
    pub native_tls_cert: Option<PathBuf>,
    /// The native API listener's own key.
    #[arg(long, env = "LIUMA_NATIVE_TLS_KEY")]
    pub native_tls_key: Option<PathBuf>,
    /// The admin listener's own certificate (overrides --tls-cert).
    #[arg(long, env = "LIUMA_ADMIN_TLS_CERT")]
    pub admin_tls_cert: Option<PathBuf>,
    /// The admin listener's own key.
    #[arg(long, env = "LIUMA_ADMIN_TLS_KEY")]
    pub admin_tls_key: Option<PathBuf>,
    /// The web console listener's own certificate (overrides --tls-cert).
    #[arg(long, env = "LIUMA_CONSOLE_TLS_CERT")]
    pub console_tls_cert: Option<PathBuf>,
    /// The web console listener's own key.
    #[arg(long, env = "LIUMA_CONSOLE_TLS_KEY")]
    pub console_tls_key: Option<PathBuf>,
    /// Seconds between checks of the certificate files for changes (the
    /// listeners' and the etcd client's, `--etcd-ca/--etcd-cert/--etcd-key`
    /// and the password file). Default 5.
    #[arg(long, env = "LIUMA_TLS_RELOAD_SECS")]
    pub tls_reload_secs: Option<u64>,
    /// PEM CA that issued the other nodes' admin certificates: trusted (with
    /// the OS's store) when this node calls peers' admin APIs over https.
    #[arg(long, env = "LIUMA_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
}

impl TlsArgs {
    /// Flags win over the config file, one setting at a time.
    pub fn apply(&self, t: &mut crate::config::TlsSection) {
        let set = |dst: &mut Option<PathBuf>, src: &Option<PathBuf>| {
            if let Some(p) = src {
                *dst = Some(p.clone());
            }
        };
        set(&mut t.cert, &self.tls_cert);
        set(&mut t.key, &self.tls_key);
        set(&mut t.s3.cert, &self.s3_tls_cert);
        set(&mut t.s3.key, &self.s3_tls_key);
        set(&mut t.native.cert, &self.native_tls_cert);
        set(&mut t.native.key, &self.native_tls_key);
        set(&mut t.admin.cert, &self.admin_tls_cert);
        set(&mut t.admin.key, &self.admin_tls_key);
        set(&mut t.console.cert, &self.console_tls_cert);
        set(&mut t.console.key, &self.console_tls_key);
        set(&mut t.ca, &self.tls_ca);
        if let Some(s) = self.tls_reload_secs {
            t.reload_interval_secs = s;
        }
    }
}

/// `liuma tls ...`: certificates for a quick start.
#[derive(Debug, Args)]
pub struct TlsCmdArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: TlsAction,
}

/// TLS helper actions.
#[derive(Debug, Subcommand)]
pub enum TlsAction {
    /// Write a development CA (ca.pem, ca-key.pem) and a server certificate
    /// signed by it (server.pem, server-key.pem; keys 0600) into --out. An
    /// existing CA there is reused, so running it again rotates the server
    /// certificate only.
    SelfSigned {
        /// DNS name or IP address the certificate is valid for; repeat for several.
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// Output directory.
        #[arg(long, default_value = "./liuma-tls")]
        out: PathBuf,
        /// Days the server certificate is valid (the CA: ten times that).
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
}

/// `liuma etcd ...`.
#[derive(Debug, Args)]
pub struct EtcdCmdArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: EtcdAction,
}

/// etcd actions.
#[derive(Debug, Subcommand)]
pub enum EtcdAction {
    /// Turn on etcd's authentication for liuma, idempotently: a root user,
    /// and the --etcd-user (password from --etcd-password-file) with a role
    /// that may read and write only --etcd-prefix. Run again, it only sets
    /// the user's password. Connects like `liuma server` (same --etcd-* flags).
    InitAuth {
        /// etcd endpoints (URL[,URL]).
        #[arg(long, env = "LIUMA_ETCD", value_delimiter = ',', required = true)]
        etcd: Vec<String>,
        /// The key prefix the user may use (as the server's --etcd-prefix).
        #[arg(long, env = "LIUMA_ETCD_PREFIX", default_value = "/liuma/")]
        etcd_prefix: String,
        /// File holding the password of etcd's root user (first line).
        #[arg(long)]
        root_password_file: PathBuf,
        /// TLS and the user to create.
        #[command(flatten)]
        client: EtcdClientArgs,
    },
}

/// `liuma cluster ...`.
#[derive(Debug, Args)]
pub struct ClusterCmdArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ClusterAction,
}

/// Cluster actions.
#[derive(Debug, Subcommand)]
pub enum ClusterAction {
    /// Issue a shard API certificate for a node from the cluster CA in
    /// --secrets (a cluster node's secrets/ directory, which holds
    /// cluster-ca.pem and cluster-ca-key.pem). Writes node.pem,
    /// node-key.pem and cluster-ca.pem into --out: copy them into the new
    /// node's secrets/ directory; it then needs no CA key.
    Cert {
        /// The secrets/ directory holding the cluster CA.
        #[arg(long, default_value = "./liuma-data/secrets")]
        secrets: PathBuf,
        /// Host the node is reached at (its --advertise host); repeat for several.
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// The node's id, named in the certificate so that `liuma cluster
        /// revoke` can match it. Without it the certificate cannot be revoked.
        #[arg(long)]
        node_id: Option<String>,
    },
    /// Revoke a node's shard API certificate through the admin API of any
    /// node: every peer refuses its certificates issued until now within
    /// seconds, on new and already open connections (a restart of the node
    /// with the cluster secret issues a new one). A certificate that names
    /// no node (`cluster cert` without --node-id) is revoked with --cert or
    /// --fingerprint instead.
    Revoke {
        /// Node id.
        #[arg(required_unless_present_any = ["cert", "fingerprint"], conflicts_with_all = ["cert", "fingerprint"])]
        id: Option<String>,
        /// Revoke this one certificate (PEM file, e.g. a node.pem).
        #[arg(long, conflicts_with = "fingerprint")]
        cert: Option<PathBuf>,
        /// Revoke the certificate with this SHA-256 fingerprint (hex, as
        /// `openssl x509 -noout -fingerprint -sha256` prints it).
        #[arg(long)]
        fingerprint: Option<String>,
        /// Which node to talk to, and how.
        #[command(flatten)]
        admin: AdminArgs,
    },
}
