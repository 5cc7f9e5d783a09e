//! Start a node: open metadata and disks, build the engine, serve every
//! listener until the shutdown future resolves, then stop cleanly. Takes
//! already-bound listeners so tests can bind port 0.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use liuma_disk::{DiskConfig, ShardStore};
use liuma_engine::Engine;
use liuma_http::admin::{self, AdminState};
use liuma_http::metrics::Metrics;
use liuma_meta::{DynMetaStore, RedbStore};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::secrets;

/// The listeners a node serves on.
pub struct Listeners {
    /// Admin API (health, readiness, metrics).
    pub admin: TcpListener,
}

/// Open everything and serve until `shutdown` resolves.
pub async fn run(
    cfg: Config,
    listeners: Listeners,
    ready_file: Option<&Path>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data dir {}", cfg.data_dir.display()))?;
    let secrets = secrets::load_or_create(&cfg.secrets_dir())?;
    let meta_path = cfg.meta_path();
    std::fs::create_dir_all(meta_path.parent().expect("meta path has a parent"))?;
    let meta: DynMetaStore = RedbStore::open(&meta_path)
        .with_context(|| format!("opening metadata store {}", meta_path.display()))?;
    let disk_cfgs: Vec<DiskConfig> = cfg
        .disks
        .iter()
        .map(|p| DiskConfig {
            path: p.clone(),
            reserve_bytes: cfg.disk_reserve_bytes,
        })
        .collect();
    let disks = Arc::new(ShardStore::open(&disk_cfgs).context("opening disks")?);
    let engine = Engine::open(cfg.engine_config()?, meta, disks)?;
    engine
        .import_key(
            &secrets.root.access_key_id,
            &secrets.root.secret_access_key,
            "root",
            true,
        )
        .await
        .context("registering the root access key")?;
    let metrics = Metrics::new(engine.clone());

    let (stop_tx, stop_rx) = watch::channel(false);
    let workers = liuma_engine::spawn_workers(&engine, cfg.worker_config(), stop_rx.clone());

    let admin_addr = listeners.admin.local_addr()?;
    let admin_app = admin::router(AdminState {
        engine: engine.clone(),
        metrics,
        admin_token: Arc::new(secrets.admin_token.clone()),
    });
    let admin_server =
        axum::serve(listeners.admin, admin_app).with_graceful_shutdown(wait_stop(stop_rx.clone()));
    let admin_task = tokio::spawn(async move { admin_server.await });

    print_banner(&cfg, &secrets, admin_addr, &engine);
    if let Some(path) = ready_file {
        let ready =
            serde_json::json!({ "admin": admin_addr.to_string(), "pid": std::process::id() });
        std::fs::write(path, ready.to_string()).context("writing the ready file")?;
    }
    tracing::info!(%admin_addr, data = %cfg.data_dir.display(), "liuma node serving");

    shutdown.await;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop_tx.send(true);
    admin_task.await?.context("admin server")?;
    for w in workers {
        let _ = w.await;
    }
    drop(engine);
    tracing::info!("stopped");
    Ok(())
}

async fn wait_stop(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Human-oriented start message on stdout. Secrets appear only on first start.
fn print_banner(cfg: &Config, s: &secrets::Secrets, admin: std::net::SocketAddr, engine: &Engine) {
    let (k, m) = engine.erasure();
    println!("liuma {} — node ready", env!("CARGO_PKG_VERSION"));
    println!("  data:     {}", cfg.data_dir.display());
    println!("  disks:    {} (erasure {k}+{m})", cfg.disks.len());
    println!("  admin:    http://{admin}  (/health /ready; /metrics needs the admin token)");
    println!("  secrets:  {} (0600)", s.dir.display());
    if s.created {
        println!("  FIRST START — save these, they are not shown again:");
        println!("    root access key id:     {}", s.root.access_key_id);
        println!("    root secret access key: {}", s.root.secret_access_key);
        println!("    native system token:    {}", s.system_token);
        println!("    admin API token:        {}", s.admin_token);
    }
}
