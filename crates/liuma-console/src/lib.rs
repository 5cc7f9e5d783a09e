//! # liuma-console — the web console
//!
//! Served by `liuma server` on its own listener (`--console-listen`,
//! default `127.0.0.1:9004`). Two halves:
//!
//! - **Assets** ([`assets`]): hand-written HTML, CSS and JS modules,
//!   embedded in the binary (`include_str!`), served with a strict CSP (no
//!   inline script), `nosniff` and cache headers. No build step.
//! - **JSON API** ([`api`], under `/api/`): sign-in creates a server-side
//!   session ([`session`]); every action is then a real S3 request signed
//!   with the session's key and dispatched in-process to the S3 service
//!   ([`s3call`]), so the S3 API's access check is the console's, unchanged.
//!   S3's XML answers become JSON ([`xml`]); S3 errors become words.
//!
//! - **Admin side** (`/admin`, [`Console::with_admin`]): a session of the
//!   admin kind (signed in with the admin token) acts through the node's
//!   admin router in-process ([`admincall`]), so the admin API's token
//!   check and handlers are the console's; the cluster pages' live charts
//!   come from the node's own metrics, sampled into a ring ([`charts`]);
//!   the whole cluster's from every node's ring, asked through the peers'
//!   admin API with a short deadline each ([`peer_charts`]).
//!   An S3 session cannot reach the admin routes, nor an admin session
//!   the S3 ones.

pub mod admincall;
pub mod api;
pub mod assets;
pub mod charts;
pub mod peer_charts;
pub mod s3call;
pub mod session;
pub mod xml;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use session::{Clock, RateLimit, Sessions, SystemClock};

/// Console settings.
#[derive(Clone, Debug)]
pub struct ConsoleConfig {
    /// Address of the S3 listener (`Host` of in-process requests; share
    /// links use it too unless `s3_public_url` is set).
    pub s3_addr: SocketAddr,
    /// Base URL of the S3 endpoint as browsers reach it (share links), e.g.
    /// `https://s3.example.com`. None: `s3_scheme` + the S3 listener's
    /// address (its host taken from the console request when the listener
    /// is bound to all interfaces).
    pub s3_public_url: Option<String>,
    /// `http` or `https`: how the S3 listener speaks (share links).
    pub s3_scheme: &'static str,
    /// Region S3 requests are signed for.
    pub region: String,
    /// Mark the session cookie `Secure`. The TLS listener sets it; requests
    /// that arrive with `X-Forwarded-Proto: https` get it regardless.
    pub secure_cookies: bool,
    /// A session ends after this long without a request. Default 30 min.
    pub idle_timeout: Duration,
    /// Sessions held at most. Default 10 000.
    pub max_sessions: usize,
    /// Sign-in attempts per client address per minute. Default 10.
    pub logins_per_minute: u32,
}

impl ConsoleConfig {
    /// Defaults for a node whose S3 listener is `s3_addr`.
    pub fn new(s3_addr: SocketAddr, region: &str) -> Self {
        ConsoleConfig {
            s3_addr,
            s3_public_url: None,
            s3_scheme: "http",
            region: region.to_owned(),
            secure_cookies: false,
            idle_timeout: Duration::from_secs(30 * 60),
            max_sessions: 10_000,
            logins_per_minute: 10,
        }
    }
}

/// Shared state of the console's handlers.
#[derive(Clone, Debug)]
pub struct Console {
    pub(crate) s3: s3call::S3Client,
    pub(crate) cfg: Arc<ConsoleConfig>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) logins: Arc<RateLimit>,
    /// The admin API in-process (cluster and access pages); None: no admin sign-in.
    pub(crate) admin: Option<admincall::AdminClient>,
    /// The live charts' points of this node.
    pub(crate) series: Arc<charts::Series>,
    /// Other nodes' chart points (the whole-cluster view).
    pub(crate) peers: Arc<peer_charts::PeerCharts>,
    /// Whom to trust when asking other nodes' admin APIs over https
    /// (set with the admin side, [`Console::with_admin`]).
    pub(crate) peer_trust: Option<liuma_admin::client::AdminTrust>,
    /// Folders listed whole and sorted, kept per session for the next pages.
    pub(crate) sorted: Arc<api::sorted::SortCache>,
}

impl Console {
    /// The console over `front` (the S3 service of this node), on the real clock.
    pub fn new(front: liuma_s3::S3Front, cfg: ConsoleConfig) -> Self {
        Console::with_clock(front, cfg, Arc::new(SystemClock::default()))
    }

    /// The console with an injected clock (tests).
    pub fn with_clock(front: liuma_s3::S3Front, cfg: ConsoleConfig, clock: Arc<dyn Clock>) -> Self {
        let s3 = s3call::S3Client {
            front,
            host: cfg.s3_addr.to_string(),
            region: cfg.region.clone(),
        };
        Console {
            s3,
            sessions: Arc::new(Sessions::new(
                clock.clone(),
                cfg.idle_timeout,
                cfg.max_sessions,
            )),
            logins: Arc::new(RateLimit::new(
                clock,
                Duration::from_secs(60),
                cfg.logins_per_minute,
            )),
            cfg: Arc::new(cfg),
            admin: None,
            series: Arc::default(),
            peers: Arc::default(),
            peer_trust: None,
            sorted: Arc::default(),
        }
    }

    /// Serve the cluster and access pages too: admin sessions act through
    /// `admin_router` (the node's admin API) in-process; the charts sample
    /// `metrics` (the node's Prometheus text) every few seconds into
    /// `series` (which the admin API also serves to other nodes' consoles,
    /// `GET /admin/charts`; other nodes' points are asked for over https
    /// trusting `peer_trust` where their admin listener speaks TLS). Needs
    /// a tokio runtime (the sampler is a task; it ends with the console).
    pub fn with_admin(
        mut self,
        admin_router: axum::Router,
        series: Arc<charts::Series>,
        metrics: charts::MetricsText,
        peer_trust: liuma_admin::client::AdminTrust,
    ) -> Self {
        self.admin = Some(admincall::AdminClient::new(admin_router));
        self.peer_trust = Some(peer_trust);
        self.series = series;
        self.series.spawn_sampler(metrics);
        self
    }

    /// The HTTP app: assets and `/api/`.
    pub fn router(self) -> axum::Router {
        assets::routes().merge(api::routes(self))
    }
}
