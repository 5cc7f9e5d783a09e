//! `liuma`: the single binary. `liuma server` runs a node; `liuma version`
//! prints build information.

mod backend;
mod cli;
mod cluster_certs;
mod cluster_tls;
mod config;
mod etcd_security;
mod keys;
mod logging;
mod node;
mod read_ahead;
mod run;
mod secrets;
mod serve;
mod sse_cmd;
mod sse_keys;
mod tls;
mod tls_gen;
mod users;

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;

use crate::cli::{Cli, Command, ServerArgs};
use crate::config::Config;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("liuma {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Server(args) => {
            bound_malloc_arenas();
            server(&args)
        }
        Command::Key(args) => keys::run(&args),
        Command::User(args) => users::run(&args),
        Command::Backend(args) => backend::run(&args),
        Command::Node(args) => node::run(&args),
        Command::Sse(args) => sse_cmd::run(&args),
        Command::Bench(args) => bench(&args),
        Command::Cluster(args) => match &args.action {
            cli::ClusterAction::Cert {
                secrets,
                hosts,
                out,
                node_id,
            } => cluster_tls::offline_cert(secrets, hosts, out, node_id.as_deref()),
            cli::ClusterAction::Revoke {
                id,
                cert,
                fingerprint,
                admin,
            } => cluster_certs::revoke_cmd(
                id.as_deref(),
                cert.as_deref(),
                fingerprint.as_deref(),
                admin,
            ),
        },
        Command::Etcd(args) => match &args.action {
            cli::EtcdAction::InitAuth {
                etcd,
                etcd_prefix,
                root_password_file,
                client,
            } => etcd_security::init_auth(etcd, etcd_prefix, root_password_file, client),
        },
        Command::Tls(args) => match &args.action {
            cli::TlsAction::SelfSigned { hosts, out, days } => tls_gen::run(hosts, out, *days),
        },
    }
}

/// `liuma bench`: exit status 1 when any operation failed (the report is
/// printed either way).
fn bench(args: &liuma_bench::BenchArgs) -> anyhow::Result<()> {
    let report = liuma_bench::run(args)?;
    if report.total.errors > 0 {
        eprintln!(
            "liuma bench: {} of {} operations failed",
            report.total.errors, report.total.ops
        );
        std::process::exit(1);
    }
    Ok(())
}

/// glibc's malloc gives each thread that allocates its own arena (up to 8
/// per core), and an arena keeps the 4 MiB block buffers freed into it.
/// With the I/O threads of a busy node that kept peak RSS at 351–462 MiB
/// on a flood whose live memory is ~207 MiB; with two arenas the same flood
/// peaked at 249 MiB at the same throughput (BENCHMARKS.md). The setting is
/// read only at process start, so the server re-executes itself once with
/// `MALLOC_ARENA_MAX=2` unless the operator set it. Other C libraries
/// ignore the variable; if the re-exec fails the node runs as it is.
///
/// `MALLOC_MMAP_THRESHOLD_=1048576` (every block buffer its own mapping,
/// returned when freed) would bound the flood of issue #11 better (peak
/// RSS 184–204 MiB against 258–317 MiB) but is not set: the page faults of
/// every new 4 MiB buffer cut 64 MiB GETs by ~45 % and doubled the server's
/// CPU per GB read (BENCHMARKS.md, 2026-12-02). Operators short of memory
/// can set it themselves.
fn bound_malloc_arenas() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("MALLOC_ARENA_MAX", "2")
        .exec();
    eprintln!("liuma: running without MALLOC_ARENA_MAX (re-exec failed: {err})");
}

fn server(args: &ServerArgs) -> anyhow::Result<()> {
    logging::init(args.log_format.as_deref());
    let cfg = Config::load(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let admin = TcpListener::bind(cfg.admin_listen)
            .await
            .with_context(|| format!("binding the admin listener {}", cfg.admin_listen))?;
        let native = TcpListener::bind(cfg.native_listen)
            .await
            .with_context(|| format!("binding the native API listener {}", cfg.native_listen))?;
        let s3 = TcpListener::bind(cfg.s3_listen)
            .await
            .with_context(|| format!("binding the S3 listener {}", cfg.s3_listen))?;
        let console = TcpListener::bind(cfg.console_listen)
            .await
            .with_context(|| format!("binding the console listener {}", cfg.console_listen))?;
        // The shard API listens only when there is a cluster to serve.
        let cluster = if cfg.etcd.is_empty() {
            None
        } else {
            Some(
                TcpListener::bind(cfg.cluster.listen)
                    .await
                    .with_context(|| {
                        format!("binding the shard API listener {}", cfg.cluster.listen)
                    })?,
            )
        };
        run::run(
            cfg,
            run::Listeners {
                admin,
                s3,
                native,
                cluster,
                console,
            },
            args.ready_file.as_deref(),
            shutdown_signal(),
        )
        .await
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
