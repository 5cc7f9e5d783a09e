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
    /// Print the version and build information.
    Version,
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
    /// A disk (directory) for shards; repeat for several. Default <data>/disk0.
    #[arg(long = "disk", env = "LIUMA_DISKS", value_delimiter = ',')]
    pub disks: Vec<PathBuf>,
    /// Admin API address (health, readiness, metrics). Default 127.0.0.1:9002.
    #[arg(long, env = "LIUMA_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
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
    /// Write the bound addresses as JSON to this file once serving (for tests and supervisors).
    #[arg(long, env = "LIUMA_READY_FILE")]
    pub ready_file: Option<PathBuf>,
    /// Log format: "text" or "json". Default text.
    #[arg(long, env = "LIUMA_LOG_FORMAT")]
    pub log_format: Option<String>,
}
