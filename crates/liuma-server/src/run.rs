//! Start a node: open metadata and disks, build the engine, serve every
//! listener until the shutdown future resolves, then stop cleanly. Takes
//! already-bound listeners so tests can bind port 0.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use liuma_admin::AdminState;
use liuma_cluster::{Cluster, ClusterConfig};
use liuma_disk::{DiskConfig, ShardStore};
use liuma_engine::Engine;
use liuma_meta::{DynMetaStore, EtcdStore, RedbStore};
use liuma_metrics::Metrics;
use liuma_native::NativeState;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::secrets;
use crate::serve::{Limits, serve};
use crate::tls::ReloadingCert;
use liuma_metrics::ConnStats;
use tokio_rustls::TlsAcceptor;

/// The listeners a node serves on.
pub struct Listeners {
    /// Admin API (health, readiness, metrics).
    pub admin: TcpListener,
    /// S3 API.
    pub s3: TcpListener,
    /// Native token API.
    pub native: TcpListener,
    /// Internal shard API (cluster nodes only).
    pub cluster: Option<TcpListener>,
    /// Web console.
    pub console: TcpListener,
}

/// Open everything and serve until `shutdown` resolves.
pub async fn run(
    cfg: Config,
    listeners: Listeners,
    ready_file: Option<&Path>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Certificates first: a bad file stops the start before anything opens.
    let tls = PublicTls::load(&cfg)?;
    let (secrets, cluster, engine, shard_tls) = open_node(&cfg, &listeners).await?;
    let metrics = Metrics::new(engine.clone());
    let limits = cfg.serve_limits();
    // Four listeners' connections plus disks, etcd and peers.
    crate::serve::raise_fd_limit(4 * limits.max_connections as u64 + 1024);

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut workers = liuma_engine::spawn_workers(&engine, cfg.worker_config(), stop_rx.clone());
    workers.extend(cluster.spawn(stop_rx.clone()));
    workers.extend(tls.spawn_watchers(&cfg, &stop_rx));
    // A cluster's ring changes on other nodes too (`liuma sse rotate`).
    if !cfg.etcd.is_empty() && engine.sse_ring_managed() {
        workers.push(tokio::spawn(crate::sse_keys::follow(
            engine.clone(),
            cfg.sse.refresh(),
            stop_rx.clone(),
        )));
    }
    let cluster_addr = match listeners.cluster {
        Some(l) => serve_shard_api(
            l,
            &cluster,
            (limits, shard_tls),
            &metrics,
            &stop_rx,
            &mut workers,
        )?,
        None => None,
    };

    let admin_addr = listeners.admin.local_addr()?;
    tls.check_own_admin_cert(&cfg, &cluster);
    let peer_trust = tls.peer_trust.clone();
    // The console's chart ring: sampled by the console, also served by the
    // admin API (`/admin/charts`) to other nodes' consoles.
    let chart_series = Arc::new(liuma_console::charts::Series::default());
    let admin_app = liuma_admin::router(AdminState {
        engine: engine.clone(),
        metrics: metrics.clone(),
        admin_token: Arc::new(secrets.admin_token.clone()),
        charts: Some({
            let series = chart_series.clone();
            Arc::new(move |since_ms| serde_json::json!({"points": series.points_since(since_ms)}))
        }),
        peer_trust: peer_trust.clone(),
    });
    let admin_task = tokio::spawn(serve(
        "admin",
        listeners.admin,
        admin_app.clone(),
        limits,
        metrics.listener("admin"),
        tls.acceptor("admin")?,
        wait_stop(stop_rx.clone()),
    ));

    let s3_addr = listeners.s3.local_addr()?;
    let s3_front = liuma_s3::build(engine.clone(), cfg.s3_settings());
    let console_addr = listeners.console.local_addr()?;
    let mut console_cfg = liuma_console::ConsoleConfig::new(s3_addr, &cfg.s3.region);
    // Browsers then send the session cookie over https only.
    console_cfg.secure_cookies = tls.scheme("console") == "https";
    // Share links point at the S3 listener as it speaks.
    console_cfg.s3_scheme = tls.scheme("s3");
    let console = liuma_console::Console::new(s3_front.clone(), console_cfg)
        // The cluster and access pages act through this node's admin API
        // in-process; the charts read its metrics.
        .with_admin(
            admin_app.clone(),
            chart_series,
            {
                let m = metrics.clone();
                Arc::new(move || m.render())
            },
            peer_trust,
        );
    // The same hardened loop as the other listeners (connection cap,
    // head/idle/body/write deadlines, graceful stop); it also hands each
    // request its client address, which the sign-in rate limit keys on.
    let console_task = tokio::spawn(serve(
        "console",
        listeners.console,
        console.router(),
        limits,
        metrics.listener("console"),
        tls.acceptor("console")?,
        wait_stop(stop_rx.clone()),
    ));
    let s3_task = tokio::spawn(serve_s3(
        listeners.s3,
        s3_front,
        metrics.clone(),
        (limits, metrics.listener("s3")),
        tls.acceptor("s3")?,
        wait_stop(stop_rx.clone()),
    ));

    let native_addr = listeners.native.local_addr()?;
    let native_task = spawn_native(
        &cfg,
        &secrets,
        &engine,
        listeners.native,
        metrics.clone(),
        (limits, metrics.listener("native"), tls.acceptor("native")?),
        wait_stop(stop_rx.clone()),
    )
    .await?;

    let addrs = Addrs {
        admin: admin_addr,
        s3: s3_addr,
        native: native_addr,
        cluster: cluster_addr,
        admin_scheme: tls.scheme("admin"),
        s3_scheme: tls.scheme("s3"),
        native_scheme: tls.scheme("native"),
        console: console_addr,
        console_scheme: tls.scheme("console"),
    };
    announce(&cfg, &secrets, &engine, &cluster, &addrs, ready_file)?;

    shutdown.await;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop_tx.send(true);
    admin_task.await?.context("admin server")?;
    s3_task.await?.context("S3 server")?;
    native_task.await?.context("native API server")?;
    console_task.await?.context("console server")?;
    for w in workers {
        let _ = w.await;
    }
    cluster.leave().await;
    drop(engine);
    tracing::info!("stopped");
    Ok(())
}

/// Secrets, metadata, disks, cluster membership and the engine, with the
/// access keys ready (plain-text secrets sealed, the root key registered).
async fn open_node(
    cfg: &Config,
    listeners: &Listeners,
) -> anyhow::Result<(secrets::Secrets, Cluster, Engine, Option<TlsAcceptor>)> {
    secrets::protect_data_dir(&cfg.data_dir)?;
    let secrets = secrets::load_or_create(&cfg.secrets_dir())?;
    let meta = open_meta(cfg).await?;
    let disk_cfgs: Vec<DiskConfig> = cfg
        .disks
        .iter()
        .map(|p| DiskConfig {
            path: p.clone(),
            reserve_bytes: cfg.disk_reserve_bytes,
        })
        .collect();
    let disks = Arc::new(ShardStore::open(&disk_cfgs).context("opening disks")?);
    let (cluster, shard_tls) = match &listeners.cluster {
        Some(l) if !cfg.etcd.is_empty() => {
            join_cluster(cfg, &secrets, listeners, l, meta.clone(), disks).await?
        }
        _ => (Cluster::single(disks), None),
    };
    let mut engine_cfg = cfg.engine_config()?;
    engine_cfg.secret_seal = Some(secrets.seal_key());
    let external_key = crate::sse_keys::External::from_config(cfg.sse.master_key_file.as_deref())?;
    engine_cfg.sse_keys = Some(
        crate::sse_keys::load(
            external_key.as_ref(),
            &cfg.secrets_dir(),
            &meta,
            &secrets.cluster_secret,
            !cfg.etcd.is_empty(),
        )
        .await
        .context("loading the SSE master key")?,
    );
    let engine = Engine::open_in(engine_cfg, meta.clone(), cluster.clone())?;
    if let Some(store) = crate::sse_keys::store(
        external_key.as_ref(),
        &cfg.secrets_dir(),
        &meta,
        &secrets.cluster_secret,
        !cfg.etcd.is_empty(),
    ) {
        engine.set_ring_store(store);
    }
    if external_key.is_some() {
        let retired = engine
            .sse_retired_versions_in_ring()
            .await
            .context("reading the SSE key fences")?;
        anyhow::ensure!(
            retired.is_empty(),
            "the SSE master key ring given from outside liuma holds version(s) {retired:?}, which \
             this store retired (writes under them are refused): number the keys above them, \
             e.g. `v<N> <hex>` lines"
        );
    }
    // Stores written before secrets were sealed are rewritten now.
    engine
        .seal_plain_keys()
        .await
        .context("sealing access key secrets stored in plain text")?;
    engine
        .import_key(
            &secrets.root.access_key_id,
            &secrets.root.secret_access_key,
            "root",
            true,
        )
        .await
        .context("registering the root access key")?;
    // Stores written before users existed: keys and bucket owners move to users.
    engine
        .migrate_users()
        .await
        .context("moving access keys and bucket owners to users")?;
    Ok((secrets, cluster, engine, shard_tls))
}

/// Serve the shard API between nodes (a cluster node only); its address.
fn serve_shard_api(
    listener: TcpListener,
    cluster: &Cluster,
    (limits, tls): (Limits, Option<TlsAcceptor>),
    metrics: &Metrics,
    stop_rx: &watch::Receiver<bool>,
    workers: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<Option<std::net::SocketAddr>> {
    let Some(app) = cluster.router() else {
        return Ok(None);
    };
    let addr = listener.local_addr()?;
    let server = serve(
        "shard",
        listener,
        app,
        limits,
        metrics.listener("shard"),
        tls,
        wait_stop(stop_rx.clone()),
    );
    workers.push(tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "shard API server failed");
        }
    }));
    Ok(Some(addr))
}

/// The addresses a node ended up serving on.
struct Addrs {
    admin: std::net::SocketAddr,
    s3: std::net::SocketAddr,
    native: std::net::SocketAddr,
    cluster: Option<std::net::SocketAddr>,
    /// "https" or "http" per listener.
    admin_scheme: &'static str,
    s3_scheme: &'static str,
    native_scheme: &'static str,
    console: std::net::SocketAddr,
    console_scheme: &'static str,
}

/// Print the start banner and write the ready file (tests, scripts).
fn announce(
    cfg: &Config,
    secrets: &secrets::Secrets,
    engine: &Engine,
    cluster: &Cluster,
    addrs: &Addrs,
    ready_file: Option<&Path>,
) -> anyhow::Result<()> {
    print_banner(cfg, secrets, addrs, engine);
    println!(
        "  native:   {}://{}  (liuma 1.0 token API; tus at /tus/)",
        addrs.native_scheme, addrs.native
    );
    print_s3_banner(cfg, secrets, addrs);
    println!(
        "  console:  {}://{}  (sign in with an access key)",
        addrs.console_scheme, addrs.console
    );
    if let Some(addr) = addrs.cluster {
        let view = cluster.view();
        let live: Vec<&str> = view.live_nodes().map(|n| n.info.id.as_str()).collect();
        println!(
            "  cluster:  node {} (zone {}), shard API {}; live nodes: {}",
            cluster.node_id(),
            cfg.cluster.zone,
            if cfg.cluster.tls {
                format!("https://{addr} (mutual TLS)")
            } else {
                format!("http://{addr} (--cluster-tls off)")
            },
            live.join(", ")
        );
    }
    if let Some(path) = ready_file {
        let ready = serde_json::json!({
            "admin": addrs.admin.to_string(),
            "s3": addrs.s3.to_string(),
            "native": addrs.native.to_string(),
            "cluster": addrs.cluster.map(|a| a.to_string()),
            "console": addrs.console.to_string(),
            "node_id": cluster.node_id(),
            "pid": std::process::id(),
        });
        std::fs::write(path, ready.to_string()).context("writing the ready file")?;
    }
    tracing::info!(admin_addr = %addrs.admin, data = %cfg.data_dir.display(), "liuma node serving");
    Ok(())
}

/// Register this node in the cluster whose membership lives in etcd.
async fn join_cluster(
    cfg: &Config,
    secrets: &secrets::Secrets,
    listeners: &Listeners,
    cluster_listener: &TcpListener,
    meta: DynMetaStore,
    disks: Arc<ShardStore>,
) -> anyhow::Result<(Cluster, Option<TlsAcceptor>)> {
    let bound = cluster_listener.local_addr()?;
    if cfg.cluster.advertise.is_none() && bound.ip().is_unspecified() {
        anyhow::bail!(
            "the shard API listens on {bound}: set --advertise HOST:PORT so other nodes can reach it"
        );
    }
    let advertise = cfg
        .cluster
        .advertise
        .clone()
        .unwrap_or_else(|| bound.to_string());
    // Public endpoints: the advertised host with each API's port, unless the
    // API is bound to a specific address.
    let host = advertise
        .rsplit_once(':')
        .map_or(advertise.as_str(), |(h, _)| h)
        .to_owned();
    // `https://host:port` for a listener with TLS, a bare `host:port` (plain
    // HTTP) otherwise, which older nodes read as they always did.
    let public = |listener: &str, a: std::net::SocketAddr| -> anyhow::Result<String> {
        let hp = if a.ip().is_unspecified() {
            format!("{host}:{}", a.port())
        } else {
            a.to_string()
        };
        let tls = cfg.tls.files_for(listener)?.is_some();
        Ok(liuma_admin::client::AdminEndpoint::published(tls, hp))
    };
    let endpoints = [
        ("s3", public("s3", listeners.s3.local_addr()?)?),
        ("native", public("native", listeners.native.local_addr()?)?),
        // peers' cluster-wide passes and charts ask it (`liuma_admin::client`)
        ("admin", public("admin", listeners.admin.local_addr()?)?),
        // each node's console shows its own charts: the cluster page links it
        (
            "console",
            public("console", listeners.console.local_addr()?)?,
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let tls = if cfg.cluster.tls {
        Some(
            crate::cluster_tls::setup(
                &cfg.secrets_dir(),
                &meta,
                &secrets.cluster_secret,
                &advertise,
                (
                    &secrets::node_id(&cfg.data_dir, cfg.cluster.node_id.as_deref())?,
                    std::time::Duration::from_secs(cfg.cluster.cert_lifetime_secs.max(3)),
                ),
            )
            .await
            .context("setting up mutual TLS for the shard API")?,
        )
    } else {
        tracing::warn!(
            "--cluster-tls off: the shard API between nodes is plain HTTP (shard bytes in clear, \
             only the HMAC signature authenticates peers); use this for benchmarks only"
        );
        None
    };
    let (acceptor, client) = match tls {
        Some(t) => {
            // Renewal and revocation for as long as the node runs.
            tokio::spawn(crate::cluster_certs::maintain(
                meta.clone(),
                t.cert,
                t.revoked.clone(),
                t.renewal,
            ));
            let peer = liuma_cluster::PeerTls {
                client: t.client,
                // Asked per request too: connections outlive revocations.
                check: t.revoked,
            };
            (Some(t.acceptor), Some(peer))
        }
        None => (None, None),
    };
    let ccfg = ClusterConfig {
        node_id: secrets::node_id(&cfg.data_dir, cfg.cluster.node_id.as_deref())?,
        zone: cfg.cluster.zone.clone(),
        advertise,
        secret: secrets.cluster_secret.as_bytes().to_vec(),
        lease_ttl: std::time::Duration::from_secs(cfg.cluster.lease_ttl_secs),
        // three heartbeats per lease: one lost heartbeat does not expire it
        heartbeat: std::time::Duration::from_millis(cfg.cluster.lease_ttl_secs * 1000 / 3),
        endpoints,
        tls: client,
    };
    let id = ccfg.node_id.clone();
    let cluster = Cluster::join(meta, disks, ccfg)
        .await
        .with_context(|| format!("joining the cluster as node {id}"))?;
    Ok((cluster, acceptor))
}

/// The metadata store: etcd when endpoints are configured, else the embedded redb file.
async fn open_meta(cfg: &Config) -> anyhow::Result<DynMetaStore> {
    if cfg.etcd.is_empty() {
        let meta_path = cfg.meta_path();
        std::fs::create_dir_all(meta_path.parent().expect("meta path has a parent"))?;
        let redb_cfg = liuma_meta::RedbConfig {
            cache_size_bytes: cfg.storage.meta_cache_bytes,
            ..liuma_meta::RedbConfig::default()
        };
        let store = RedbStore::open_with(&meta_path, redb_cfg)
            .with_context(|| format!("opening metadata store {}", meta_path.display()))?;
        secrets::protect_meta(&meta_path)?;
        return Ok(store);
    }
    let security = crate::etcd_security::load(&cfg.etcd_client)?;
    let store = EtcdStore::connect(&cfg.etcd, cfg.etcd_config(security))
        .await
        .map_err(|e| crate::etcd_security::explain(e, &cfg.etcd))?;
    // Rotated credentials are used without a restart; ends with the store.
    tokio::spawn(crate::etcd_security::reload_credentials(
        cfg.etcd_client.clone(),
        std::time::Duration::from_secs(cfg.tls.reload_interval_secs),
        Arc::downgrade(&store),
    ));
    tracing::info!(
        endpoints = %cfg.etcd.join(","),
        prefix = %cfg.etcd_prefix,
        security = %crate::etcd_security::describe(&cfg.etcd_client),
        "metadata on etcd"
    );
    Ok(store)
}

/// Prepare the native API (bucket, token signing key) and serve it until `stop`.
async fn spawn_native(
    cfg: &Config,
    secrets: &secrets::Secrets,
    engine: &Engine,
    listener: TcpListener,
    metrics: Arc<Metrics>,
    (limits, stats, tls): (Limits, Arc<ConnStats>, Option<TlsAcceptor>),
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let native_cfg = cfg.native_config();
    liuma_native::init(
        engine,
        &native_cfg,
        liuma_engine::ROOT_USER,
        &secrets.system_token,
    )
    .await
    .context("preparing the native API (bucket, token signing key)")?;
    let state = NativeState {
        engine: engine.clone(),
        cfg: Arc::new(native_cfg),
        addr: listener.local_addr()?,
        guard: Arc::default(),
    };
    let app = liuma_native::router(state, metrics);
    // Enough header lines for any head under the byte cap of 64-byte lines
    // (hyper allocates this many slots per parse), so the router's JSON 431
    // answers nearly every head over the cap, not hyper's empty one.
    let limits = Limits {
        max_headers: Some((cfg.native.max_header_bytes / 64).max(100)),
        ..limits
    };
    Ok(tokio::spawn(serve(
        "native", listener, app, limits, stats, tls, stop,
    )))
}

/// Serve the S3 API (counted in the request metrics as api "s3") until `stop`.
async fn serve_s3(
    listener: TcpListener,
    front: liuma_s3::S3Front,
    metrics: Arc<Metrics>,
    (limits, stats): (Limits, Arc<ConnStats>),
    tls: Option<TlsAcceptor>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let layer = liuma_metrics::MetricsLayerState { metrics, api: "s3" };
    let app = axum::Router::new()
        .fallback(move |req: axum::extract::Request| {
            let front = front.clone();
            async move { front.handle(req).await }
        })
        .layer(axum::middleware::from_fn_with_state(
            layer,
            liuma_metrics::track,
        ));
    serve("s3", listener, app, limits, stats, tls, stop).await
}

/// How to reach the S3 API, printed at start.
fn print_s3_banner(cfg: &Config, s: &secrets::Secrets, addrs: &Addrs) {
    let (addr, scheme) = (addrs.s3, addrs.s3_scheme);
    println!("  s3:       {scheme}://{addr}  (region {})", cfg.s3.region);
    if let Some(d) = &cfg.s3.domain {
        println!(
            "            virtual-hosted style: {scheme}://BUCKET.{d}:{}",
            addr.port()
        );
    }
    if let Some(f) = cfg.tls.files_for("s3").ok().flatten() {
        println!(
            "  tls:      {} (reloaded when it changes; TLS 1.2+)",
            f.cert.display()
        );
    }
    println!(
        "  root key: {} (line 1: access key id, line 2: secret)",
        s.dir.join("root.key").display()
    );
    println!(
        "  try:      AWS_ACCESS_KEY_ID=$(sed -n 1p {k}) AWS_SECRET_ACCESS_KEY=$(sed -n 2p {k}) aws --endpoint-url {scheme}://{addr} --region {r} s3 ls{ca}",
        ca = if scheme == "https" {
            " --ca-bundle CA.pem"
        } else {
            ""
        },
        k = s.dir.join("root.key").display(),
        r = cfg.s3.region,
    );
}

async fn wait_stop(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Human-oriented start message on stdout. Secrets appear only on first start.
fn print_banner(cfg: &Config, s: &secrets::Secrets, addrs: &Addrs, engine: &Engine) {
    let (admin, admin_scheme) = (addrs.admin, addrs.admin_scheme);
    let (k, m) = engine.erasure();
    println!("liuma {} — node ready", env!("CARGO_PKG_VERSION"));
    println!("  data:     {}", cfg.data_dir.display());
    println!("  disks:    {} (erasure {k}+{m})", cfg.disks.len());
    if cfg.etcd.is_empty() {
        println!("  metadata: redb {}", cfg.meta_path().display());
    } else {
        let security = crate::etcd_security::describe(&cfg.etcd_client);
        println!(
            "  metadata: etcd {} (prefix {}{}{})",
            cfg.etcd.join(","),
            cfg.etcd_prefix,
            if security.is_empty() { "" } else { "; " },
            security
        );
    }
    println!(
        "  admin:    {admin_scheme}://{admin}  (/health /ready; /metrics needs the admin token)"
    );
    println!("  secrets:  {} (0600)", s.dir.display());
    if s.created {
        println!("  FIRST START — save these, they are not shown again:");
        println!("    root access key id:     {}", s.root.access_key_id);
        println!("    root secret access key: {}", s.root.secret_access_key);
        println!("    native system token:    {}", s.system_token);
        println!("    admin API token:        {}", s.admin_token);
    }
}

/// The certificates of the public listeners that serve TLS, and whom the
/// node trusts when it calls its peers' admin APIs over https.
struct PublicTls {
    certs: Vec<(&'static str, Arc<ReloadingCert>)>,
    /// The OS's trust store and `--tls-ca` (`[tls] ca`).
    peer_trust: liuma_admin::client::AdminTrust,
}

impl PublicTls {
    /// Load every configured certificate and the peers' CA; an unreadable
    /// or broken file is an error naming it.
    fn load(cfg: &Config) -> anyhow::Result<Self> {
        let mut certs = Vec::new();
        for l in crate::tls::LISTENERS {
            if let Some(files) = cfg.tls.files_for(l)? {
                let cert = ReloadingCert::open(files)
                    .with_context(|| format!("loading the {l} listener's TLS certificate"))?;
                tracing::info!(
                    listener = l,
                    cert = %cert.files().cert.display(),
                    sha256 = %crate::tls::fingerprint(&cert.current()),
                    "TLS on"
                );
                certs.push((l, cert));
            }
        }
        let peer_trust = liuma_admin::client::AdminTrust::load(
            cfg.tls.ca.as_deref(),
            "give every node the CA that issued the admin certificates with --tls-ca FILE ([tls] ca)",
        )
        .context("loading the CA of peers' admin certificates (--tls-ca)")?;
        Ok(PublicTls { certs, peer_trust })
    }

    fn get(&self, listener: &str) -> Option<&Arc<ReloadingCert>> {
        self.certs
            .iter()
            .find(|(l, _)| *l == listener)
            .map(|(_, c)| c)
    }

    fn acceptor(&self, listener: &str) -> anyhow::Result<Option<TlsAcceptor>> {
        self.get(listener)
            .map(|c| c.acceptor())
            .transpose()
            .with_context(|| format!("setting up TLS on the {listener} listener"))
    }

    /// In a cluster whose admin listeners speak TLS, check this node's own
    /// admin certificate against [`PublicTls::peer_trust`] for the name it
    /// publishes: a node configured like this one would refuse it, so say
    /// so now rather than at the first cluster-wide pass.
    fn check_own_admin_cert(&self, cfg: &Config, cluster: &Cluster) {
        let published = cluster
            .view()
            .nodes
            .get(cluster.node_id())
            .and_then(|n| n.info.endpoints.get("admin").cloned());
        let (Some(cert), Some(published)) = (self.get("admin"), published) else {
            return;
        };
        let host = liuma_admin::client::AdminEndpoint::parse(&published)
            .map(|e| e.host().to_owned())
            .unwrap_or_default();
        if let Err(e) = self.peer_trust.check(&cert.current().cert, &host) {
            tracing::warn!(
                host = %host,
                error = %e,
                ca = ?cfg.tls.ca,
                "peers configured like this node would not trust its admin certificate: \
                 cluster-wide passes and charts will fail to reach it; give every node \
                 --tls-ca with the CA that issued the admin certificates, and name the \
                 published host in them"
            );
        }
    }

    fn scheme(&self, listener: &str) -> &'static str {
        if self.get(listener).is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// One watcher per listener with TLS, re-reading its files until stop.
    fn spawn_watchers(
        &self,
        cfg: &Config,
        stop: &watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let every = std::time::Duration::from_secs(cfg.tls.reload_interval_secs);
        self.certs
            .iter()
            .map(|(l, c)| tokio::spawn(crate::tls::watch(c.clone(), l, every, stop.clone())))
            .collect()
    }
}
