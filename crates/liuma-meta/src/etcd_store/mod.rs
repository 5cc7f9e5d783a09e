//! The etcd backend (feature `etcd`), for clusters: [`EtcdStore`] maps the [`MetaStore`] model
//! one to one onto etcd v3, which it was modelled on.
//!
//! - **Namespace.** Every key lives under [`EtcdConfig::prefix`] (default `/liuma/`), so
//!   several clusters or test runs can share one etcd; the prefix is added on the way in and
//!   stripped on the way out, and liuma's unbounded range end `[0]` becomes the end of the
//!   namespace, never the end of etcd's whole key space.
//! - **Revisions** are etcd's own (store-wide, one per write transaction), so they mean the
//!   same as in the redb backend; they are only shared with other users of the same etcd.
//! - **Transactions** are sent as one etcd `Txn`, so they are atomic; compares map as
//!   `Absent` → `version == 0`, `Exists` → `version > 0`, `ModRevision(k, r)` →
//!   `mod_revision == r` (never true for `r == 0`), `Value` → `value ==`. Op lists that etcd
//!   would refuse as "duplicate key" are normalised first (see [`convert`](self::convert)).
//! - **Ranges** are read in pages of [`EtcdConfig::range_page_size`] keys, all pages at the
//!   revision of the first, so a large scan is one consistent snapshot without one huge
//!   response; each page asks for a bounded window of keys, not the rest of the range
//!   (see [`window`](self::window): etcd 3.4 walks the whole range asked to count it).
//! - **Watches**: see [`watch`](self::watch). **Leases** are etcd leases; TTLs are rounded up
//!   to whole seconds and etcd raises them to its minimum (about 2 s with default election
//!   settings).
//! - **Failures**: every request has a deadline and transient failures are retried with
//!   backoff for a bounded time (see [`retry`](self::retry)), then reported as
//!   [`Error::Unavailable`]. The client reconnects by itself once etcd is back.
//! - **TLS and authentication**: see [`security`](self::security) ([`EtcdSecurity`]); a
//!   refusal at connect becomes [`Error::Access`] saying what is wrong.
//! - **New credentials without a restart**: etcd-client fixes a channel's TLS identity when
//!   it is built, so [`EtcdStore::reconnect`] builds a whole new client with the new
//!   [`EtcdSecurity`] (connect, authenticate, probe), and only once it answers swaps it in:
//!   requests (and retries) take the connection current when they start, every watch moves
//!   over at once (re-created after its last delivered revision: nothing lost or repeated),
//!   and the old connection closes when its last request ends. Leases live in etcd, not in a
//!   connection, so they carry on; keep-alives are one request each. A new client that fails
//!   leaves the old one in place.

mod auth_setup;
mod convert;
mod retry;
mod security;
mod watch;
mod window;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, GetOptions, KvClient, LeaseClient};

pub use self::auth_setup::{AuthSetup, AuthUser, ensure_auth};
use self::convert::{Namespace, revision};
use self::retry::{Failed, Retry};
pub use self::security::EtcdSecurity;
use self::security::Reauth;
use crate::error::{Error, Fault, Health, Result};
use crate::store::{
    KeyValue, LeaseId, MAX_TXN_OPS, MAX_VALUE_SIZE, MetaStore, Txn, TxnResponse, Watch,
    is_unbounded_end, key_after,
};

/// [`MetaStore::backend_name`] of [`EtcdStore`].
const BACKEND: &str = "etcd";

/// How long transient etcd failures are retried before giving up.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Total time spent retrying one request before it fails with [`Error::Unavailable`].
    /// Default 600 ms.
    pub max_elapsed: Duration,
    /// Pause before the first retry; doubles on each further one. Default 25 ms.
    pub initial_backoff: Duration,
    /// Longest pause between two retries. Default 200 ms.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_elapsed: Duration::from_millis(600),
            initial_backoff: Duration::from_millis(25),
            max_backoff: Duration::from_millis(200),
        }
    }
}

/// Settings of an [`EtcdStore`].
#[derive(Clone, Debug)]
pub struct EtcdConfig {
    /// Prefix of every key in etcd. Default `/liuma/`. Clusters sharing an etcd must use
    /// different prefixes, and none may be a prefix of another.
    pub prefix: String,
    /// Longest wait for a TCP connection to an endpoint. Default 3 s.
    pub connect_timeout: Duration,
    /// Deadline of one attempt of one request. Default 5 s.
    pub request_timeout: Duration,
    /// Interval of HTTP/2 pings that detect a dead connection (also while idle, so that
    /// watches notice a vanished etcd). Default 5 s; a ping unanswered for as long again
    /// drops the connection.
    pub keep_alive_interval: Duration,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// Events buffered per watch before a lagging watcher is dropped (see [`Watch`]).
    /// Default 16384.
    pub watch_buffer: usize,
    /// How long a watch whose connection broke tries to resume before it ends lagged.
    /// Default 10 s.
    pub watch_resume: Duration,
    /// Keys fetched per request by a range scan. Default 500.
    pub range_page_size: usize,
    /// Largest value accepted, in bytes. Default [`MAX_VALUE_SIZE`] (1 MiB); etcd refuses
    /// requests above 1.5 MiB in its default configuration.
    pub max_value_size: usize,
    /// TLS and authentication. Default: plain HTTP, no user.
    pub security: EtcdSecurity,
}

impl Default for EtcdConfig {
    fn default() -> Self {
        EtcdConfig {
            prefix: "/liuma/".to_string(),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(5),
            keep_alive_interval: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            watch_buffer: 16384,
            watch_resume: Duration::from_secs(10),
            range_page_size: 500,
            max_value_size: MAX_VALUE_SIZE,
            security: EtcdSecurity::default(),
        }
    }
}

/// Largest response accepted from etcd (a page of a range scan, a batch of watch events), in
/// bytes. tonic's default of 4 MiB is too small for pages of values up to 1 MiB.
const MAX_RESPONSE_BYTES: usize = 512 * 1024 * 1024;

/// One client of etcd with its credentials, replaced whole by [`EtcdStore::reconnect`].
pub(crate) struct Conn {
    client: Client,
    kv: KvClient,
    lease: LeaseClient,
    /// Fetches a new auth token when etcd calls ours stale.
    reauth: Reauth,
}

/// The current [`Conn`], shared with the watch pumps.
type Current = Arc<RwLock<Arc<Conn>>>;

fn current(c: &Current) -> Arc<Conn> {
    c.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// The [`MetaStore`] backend on etcd v3. Cheap to share as `Arc<EtcdStore>`; dropping the last
/// handle ends all watches (leases are left to expire in etcd).
pub struct EtcdStore {
    conn: Current,
    endpoints: Vec<String>,
    ns: Namespace,
    config: EtcdConfig,
    /// Dropped with the store; its receivers (the watch pumps) then stop.
    closed: tokio::sync::watch::Sender<()>,
    /// Bumped by [`EtcdStore::reconnect`]: the watch pumps move to the new client.
    swapped: tokio::sync::watch::Sender<u64>,
    /// When the last transaction failed for want of etcd (cleared by the next success).
    /// See [`MetaStore::health`] below for why it counts only for [`UNREACHABLE_HOLD`].
    unreachable_since: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long a failed write makes [`EtcdStore`] report itself unwritable. Only real writes
/// tell whether etcd takes writes, and the engine does not write while the store says it
/// cannot: holding the failure forever would never let a write through to find etcd back.
const UNREACHABLE_HOLD: Duration = Duration::from_secs(2);

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("prefix", &self.config.prefix)
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Records the outcome of a write for [`MetaStore::health`]: only "etcd unreachable"
    /// counts; a definite answer (even a refusal) proves etcd is there.
    fn note_write<T>(&self, result: &Result<T, Failed>) {
        let mut since = self
            .unreachable_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Err(Failed::Unavailable(_)) => *since = Some(std::time::Instant::now()),
            Ok(_) | Err(Failed::Etcd(_)) => *since = None,
        }
    }

    /// Connects to the etcd cluster at `endpoints` (URLs such as `http://127.0.0.1:2379`, or
    /// `https://` with [`EtcdConfig::security`]; the client balances over them), authenticates
    /// when a user is configured, and checks that etcd answers, within the connect timeout
    /// plus the retry budget. [`Error::Access`] when etcd is reached but TLS or
    /// authentication fails; [`Error::Unavailable`] if it is not reached; [`Error::Rejected`]
    /// for an unusable endpoint list.
    pub async fn connect(endpoints: &[String], config: EtcdConfig) -> Result<Arc<EtcdStore>> {
        let tls = config.security.tls();
        Self::connect_inner(endpoints, config)
            .await
            .map_err(|e| security::explain(e, tls))
    }

    async fn connect_inner(endpoints: &[String], config: EtcdConfig) -> Result<Arc<EtcdStore>> {
        let conn = Self::new_conn(endpoints, &config).await?;
        let store = EtcdStore {
            conn: Arc::new(RwLock::new(Arc::new(conn))),
            endpoints: endpoints.to_vec(),
            ns: Namespace::new(config.prefix.as_bytes()),
            config,
            closed: tokio::sync::watch::channel(()).0,
            swapped: tokio::sync::watch::channel(0).0,
            unreachable_since: std::sync::Mutex::new(None),
        };
        store.probe(&store.current()).await?;
        tracing::debug!(?endpoints, prefix = %store.config.prefix, "connected to etcd");
        Ok(Arc::new(store))
    }

    /// Connects again with `security` (a rotated client certificate, say) and, once the new
    /// client answers, makes it the one every request and watch uses (see the module
    /// header). On failure the current client stays and the error says why
    /// ([`Error::Access`] for a refused certificate).
    pub async fn reconnect(&self, security: EtcdSecurity) -> Result<()> {
        let tls = security.tls();
        let config = EtcdConfig {
            security,
            ..self.config.clone()
        };
        let conn = Arc::new(
            Self::new_conn(&self.endpoints, &config)
                .await
                .map_err(|e| security::explain(e, tls))?,
        );
        self.probe(&conn)
            .await
            .map_err(|e| security::explain(e, tls))?;
        *self
            .conn
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = conn;
        self.swapped.send_modify(|n| *n += 1);
        tracing::debug!(endpoints = ?self.endpoints, "swapped in a new etcd client");
        Ok(())
    }

    /// The client requests start on now.
    fn current(&self) -> Arc<Conn> {
        current(&self.conn)
    }

    /// A client of etcd (authenticated when a user is configured), not yet probed.
    async fn new_conn(endpoints: &[String], config: &EtcdConfig) -> Result<Conn> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(config.connect_timeout)
            .with_keep_alive(config.keep_alive_interval, config.keep_alive_interval)
            .with_keep_alive_while_idle(true);
        if let Some(tls) = config.security.tls_options() {
            options = options.with_tls(tls);
        }
        if let Some((user, password)) = &config.security.user {
            // etcd-client re-authenticates when a unary call meets an expired token.
            options = options
                .with_user(user.clone(), password.clone())
                .with_auto_token_refresh(true);
        }
        // With a user, connecting authenticates at once: retried like any request, so a
        // node started while etcd is briefly away still comes up.
        let client = retry::call(
            &config.retry,
            config.connect_timeout + config.request_timeout,
            Retry::Always,
            "connect",
            || Client::connect(endpoints, Some(options.clone())),
        )
        .await
        .map_err(|f| f.map(security::connect_error))?;
        Ok(Conn {
            kv: client
                .kv_client()
                .max_decoding_message_size(MAX_RESPONSE_BYTES),
            lease: client.lease_client(),
            reauth: Reauth::new(client.clone(), &config.security, config.request_timeout),
            client,
        })
    }

    /// The key prefix this store uses in etcd.
    pub fn prefix(&self) -> &str {
        &self.config.prefix
    }

    /// One cheap linearizable read through `conn`, to see that etcd answers and has a leader.
    async fn probe(&self, conn: &Conn) -> Result<()> {
        let key = self.ns.key(b"");
        let opts = GetOptions::new().with_count_only();
        retry::call_with_reauth(
            &self.config.retry,
            self.config.request_timeout,
            Retry::Always,
            "probe",
            &conn.reauth,
            || {
                let mut kv = conn.kv.clone();
                let (key, opts) = (key.clone(), opts.clone());
                async move { kv.get(key, Some(opts)).await }
            },
        )
        .await
        .map_err(Failed::into_error)?;
        Ok(())
    }

    /// `f` with retries and re-authentication; `f` takes the client current at each
    /// attempt (a retry after [`EtcdStore::reconnect`] uses the new one).
    async fn call<T, F, Fut>(&self, retry: Retry, what: &'static str, f: F) -> Result<T, Failed>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let reauth = self.current().reauth.clone();
        retry::call_with_reauth(
            &self.config.retry,
            self.config.request_timeout,
            retry,
            what,
            &reauth,
            f,
        )
        .await
    }

    fn kv(&self) -> KvClient {
        self.current().kv.clone()
    }

    fn lease(&self) -> LeaseClient {
        self.current().lease.clone()
    }

    /// Which lease of `txn` etcd found missing: the only one named, or the first that etcd
    /// reports as unknown.
    async fn missing_lease(&self, txn: &Txn) -> LeaseId {
        let leases = convert::leases_of(txn);
        if let [only] = leases.as_slice() {
            return *only;
        }
        for &lease in &leases {
            let mut client = self.lease();
            let probe = client.time_to_live(lease.0, None);
            match tokio::time::timeout(self.config.request_timeout, probe).await {
                Ok(Ok(r)) if r.ttl() < 0 => return lease,
                Ok(Err(e)) if retry::is_lease_not_found(&e) => return lease,
                _ => {}
            }
        }
        leases.first().copied().unwrap_or(LeaseId(0))
    }

    /// Maps a definite etcd error of a transaction.
    fn txn_error(e: etcd_client::Error, txn: &Txn) -> Error {
        if retry::is_too_many_ops(&e) {
            let ops = txn
                .compares
                .len()
                .max(txn.success.len())
                .max(txn.failure.len());
            Error::TooManyOps {
                ops,
                max: MAX_TXN_OPS,
            }
        } else {
            retry::map_final(e)
        }
    }
}

#[async_trait::async_trait]
impl MetaStore for EtcdStore {
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        if key.is_empty() {
            return Ok(None);
        }
        let key = self.ns.key(key);
        let resp = self
            .call(Retry::Always, "get", || {
                let mut kv = self.kv();
                let key = key.clone();
                async move { kv.get(key, None).await }
            })
            .await
            .map_err(Failed::into_error)?;
        Ok(resp.kvs().first().and_then(|kv| self.ns.key_value(kv)))
    }

    async fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>> {
        if !is_unbounded_end(end) && end <= start {
            return Ok(Vec::new());
        }
        let etcd_end = self.ns.end(end);
        let mut from = self.ns.key(start);
        let mut out = Vec::new();
        let page = self.config.range_page_size.max(1);
        // Each request covers a bounded window of the range (see `window`).
        let mut depth = window::Depth::first(&from, &etcd_end);
        // 0 = the latest revision; later pages read at the first page's revision.
        let mut at = 0;
        loop {
            let want = if limit == 0 {
                page
            } else {
                page.min(limit - out.len())
            };
            depth = depth.clamp(&from);
            let window_end = depth.window_end(&from, &etcd_end);
            let opts = GetOptions::new()
                .with_range(window_end.clone())
                .with_limit(i64::try_from(want).unwrap_or(i64::MAX))
                .with_revision(at);
            let resp = self
                .call(Retry::Always, "range", || {
                    let mut kv = self.kv();
                    let (from, opts) = (from.clone(), opts.clone());
                    async move { kv.get(from, Some(opts)).await }
                })
                .await
                .map_err(Failed::into_error)?;
            if at == 0 {
                at = resp.header().map_or(0, |h| h.revision());
            }
            let kvs = resp.kvs();
            out.extend(kvs.iter().filter_map(|kv| self.ns.key_value(kv)));
            if limit != 0 && out.len() >= limit {
                break;
            }
            let exhausted = !resp.more();
            depth = depth.adapt(resp.count(), want, exhausted);
            if exhausted {
                if window::reaches(&window_end, &etcd_end) {
                    break;
                }
                from = window_end;
            } else {
                let Some(last) = kvs.last() else { break };
                from = key_after(last.key());
            }
        }
        Ok(out)
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        txn.validate(self.config.max_value_size)?;
        let request = convert::txn(&self.ns, &txn)?;
        let result = self
            .call(Retry::IfNotSent, "txn", || {
                let mut kv = self.kv();
                let request = request.clone();
                async move { kv.txn(request).await }
            })
            .await;
        self.note_write(&result);
        match result {
            Ok(resp) => Ok(TxnResponse {
                succeeded: resp.succeeded(),
                revision: revision(resp.header().map_or(0, |h| h.revision())),
            }),
            Err(Failed::Etcd(e)) if retry::is_lease_not_found(&e) => {
                Err(Error::LeaseNotFound(self.missing_lease(&txn).await))
            }
            Err(f) => Err(f.map(|e| EtcdStore::txn_error(e, &txn))),
        }
    }

    async fn watch_prefix(&self, prefix: &[u8]) -> Result<Watch> {
        self.open_watch(prefix).await
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId> {
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        let secs = i64::try_from(secs.max(1)).unwrap_or(i64::MAX);
        // A repeated grant only leaves an unused lease behind, which expires: retry freely.
        let resp = self
            .call(Retry::Always, "lease grant", || {
                let mut lease = self.lease();
                async move { lease.grant(secs, None).await }
            })
            .await
            .map_err(Failed::into_error)?;
        if !resp.error().is_empty() || resp.id() <= 0 {
            return Err(retry::rejected(etcd_client::Error::Internal(format!(
                "lease grant failed: {}",
                resp.error()
            ))));
        }
        Ok(LeaseId(resp.id()))
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<()> {
        if lease.0 <= 0 {
            return Err(Error::LeaseNotFound(lease));
        }
        // One request on a short-lived keep-alive stream: the client sends the first
        // keep-alive and waits for its answer (TTL 0 = the lease is gone).
        self.call(Retry::Always, "lease keep-alive", || {
            let mut client = self.lease();
            async move { client.keep_alive(lease.0).await.map(drop) }
        })
        .await
        .map_err(|f| f.map(|e| lease_error(lease, e)))
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<()> {
        if lease.0 <= 0 {
            return Err(Error::LeaseNotFound(lease));
        }
        self.call(Retry::IfNotSent, "lease revoke", || {
            let mut client = self.lease();
            async move { client.revoke(lease.0).await.map(drop) }
        })
        .await
        .map_err(|f| f.map(|e| lease_error(lease, e)))
    }

    fn backend_name(&self) -> &'static str {
        BACKEND
    }

    fn health(&self) -> Health {
        let since = *self
            .unreachable_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match since {
            Some(t) if t.elapsed() < UNREACHABLE_HOLD => {
                Health::Failed(Fault::Unreachable { backend: BACKEND })
            }
            Some(_) | None => Health::Writable,
        }
    }
}

/// A lease call's final etcd error: "lease not found" is `LeaseNotFound`.
fn lease_error(lease: LeaseId, e: etcd_client::Error) -> Error {
    if retry::is_lease_not_found(&e) {
        Error::LeaseNotFound(lease)
    } else {
        retry::map_final(e)
    }
}
