//! Prefix watches on etcd: one gRPC watch stream per [`Watch`], pumped by a task into the
//! watch's bounded buffer.
//!
//! - The watch is created at etcd's current revision and [`MetaStore::watch_prefix`] returns
//!   only after etcd confirmed it, so every write committed after the call is delivered.
//! - Events are forwarded in etcd's order (revision order, ops order within a revision).
//! - A consumer that lets the buffer fill is dropped (lag policy of [`Watch`]): the etcd watch
//!   is cancelled and the stream ends with `is_lagged() == true`.
//! - A broken connection is survived: the task re-creates the watch from the revision after the
//!   last one delivered, for up to [`EtcdConfig::watch_resume`], so no event is lost or
//!   repeated. If etcd stays away longer, or the revision was compacted meanwhile, the stream
//!   ends lagged and the caller re-lists.
//! - Dropping the [`EtcdStore`](super::EtcdStore) ends every watch (not lagged).
//! - When [`EtcdStore::reconnect`](super::EtcdStore::reconnect) swaps in a new client, the
//!   watch is re-created on it the same way (after the last delivered revision), so the old
//!   connection is left to close.
//! - With authentication, a watch created (or resumed) with a stale token is refused by
//!   etcd as "permission denied": the token is refreshed and the creation tried once more
//!   (see [`security`](super::security)).
//!
//! [`MetaStore::watch_prefix`]: crate::MetaStore::watch_prefix
//! [`EtcdConfig::watch_resume`]: super::EtcdConfig::watch_resume

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use etcd_client::{EventType, WatchClient, WatchOptions, WatchStream};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::time::Instant;

use super::convert::{Namespace, revision};
use super::retry::{self, Failed, Retry};
use super::security::Reauth;
use super::{Conn, Current, EtcdConfig, EtcdStore, current};
use crate::error::Result;
use crate::store::{EventKind, Watch, WatchEvent, watch_channel};

/// Why etcd refused to create a watch.
#[derive(Debug, thiserror::Error)]
#[error("etcd cancelled the watch: {reason} (compacted at revision {compact_revision})")]
struct Cancelled {
    reason: String,
    compact_revision: i64,
}

/// Everything the pump task needs, detached from the store.
struct Pump {
    /// The store's current client (replaced by a reconnect).
    conn: Current,
    /// Changes when the store swapped in a new client.
    swapped: tokio::sync::watch::Receiver<u64>,
    config: EtcdConfig,
    ns: Namespace,
    key: Vec<u8>,
    end: Vec<u8>,
    tx: mpsc::Sender<WatchEvent>,
    lagged: Arc<AtomicBool>,
    closed: tokio::sync::watch::Receiver<()>,
    /// The last revision whose events were all delivered.
    delivered: i64,
    /// Resumes in a row that delivered nothing before breaking again.
    fruitless_resumes: u32,
}

/// Resumes in a row without progress after which a watch gives up (ends lagged): a stream
/// that breaks on the same response every time would otherwise be resumed forever.
const MAX_FRUITLESS_RESUMES: u32 = 3;

/// A stream that lasted this long before breaking counts as progress.
const HEALTHY_STREAM: Duration = Duration::from_secs(30);

/// How the pump ended.
enum End {
    /// The store or the consumer went away: end quietly.
    Closed,
    /// Events may have been missed: end with `is_lagged()`.
    Lagged,
    /// The store swapped in a new client: resume on it.
    Moved,
}

/// The watch API of `conn`.
fn watch_client(conn: &Conn) -> WatchClient {
    conn.client
        .watch_client()
        .max_decoding_message_size(super::MAX_RESPONSE_BYTES)
}

/// What a watch is created on: the connection, credentials, settings and key range.
struct Target<'a> {
    client: &'a WatchClient,
    reauth: &'a Reauth,
    config: &'a EtcdConfig,
    key: &'a [u8],
    end: &'a [u8],
}

impl Target<'_> {
    /// Creates the etcd watch (retrying transient failures) and waits for its confirmation;
    /// once more with a fresh auth token if etcd refused a stale one. Returns the stream and
    /// the revision the watch starts after.
    async fn open(
        &self,
        start_revision: i64,
        budget: Duration,
    ) -> std::result::Result<(WatchStream, i64), Failed> {
        match self.open_once(start_revision, budget).await? {
            Ok(v) => return Ok(v),
            Err(c) if self.reauth.applies_to_watch(&c.reason) => {
                tracing::debug!(reason = %c.reason, "etcd refused a watch; re-authenticating");
                if !self.reauth.refresh().await {
                    return Err(Failed::Unavailable(retry::unavailable(c)));
                }
            }
            Err(c) => return Err(Failed::Unavailable(retry::unavailable(c))),
        }
        self.open_once(start_revision, budget)
            .await?
            .map_err(|c| Failed::Unavailable(retry::unavailable(c)))
    }

    /// One creation of the etcd watch: the stream, or etcd's refusal.
    async fn open_once(
        &self,
        start_revision: i64,
        budget: Duration,
    ) -> std::result::Result<std::result::Result<(WatchStream, i64), Cancelled>, Failed> {
        let policy = super::RetryPolicy {
            max_elapsed: budget,
            ..self.config.retry.clone()
        };
        retry::call_with_reauth(
            &policy,
            self.config.request_timeout,
            Retry::Always,
            "watch",
            self.reauth,
            || {
                let mut client = self.client.clone();
                let opts = WatchOptions::new()
                    .with_range(self.end.to_vec())
                    .with_start_revision(start_revision);
                let key = self.key.to_vec();
                async move {
                    let mut stream = client.watch(key, Some(opts)).await?;
                    let created = stream.message().await?.ok_or_else(|| {
                        etcd_client::Error::WatchError("watch stream closed before creation".into())
                    })?;
                    if created.canceled() || !created.created() {
                        return Ok(Err(Cancelled {
                            reason: created.cancel_reason().to_string(),
                            compact_revision: created.compact_revision(),
                        }));
                    }
                    let rev = created.header().map_or(0, |h| h.revision());
                    Ok(Ok((stream, rev)))
                }
            },
        )
        .await
    }
}

impl EtcdStore {
    /// [`MetaStore::watch_prefix`](crate::MetaStore::watch_prefix) for etcd.
    pub(super) async fn open_watch(&self, prefix: &[u8]) -> Result<Watch> {
        let (key, end) = self.ns.prefix_range(prefix);
        // Subscribed before the client is taken: a swap from now on moves this watch.
        let swapped = self.swapped.subscribe();
        let conn = current(&self.conn);
        let client = watch_client(&conn);
        let target = Target {
            client: &client,
            reauth: &conn.reauth,
            config: &self.config,
            key: &key,
            end: &end,
        };
        let (stream, created_at) = target
            .open(0, self.config.retry.max_elapsed)
            .await
            .map_err(Failed::into_error)?;
        let (tx, lagged, watch) = watch_channel(self.config.watch_buffer);
        let pump = Pump {
            conn: self.conn.clone(),
            swapped,
            config: self.config.clone(),
            ns: self.ns.clone(),
            key,
            end,
            tx,
            lagged,
            closed: self.closed.subscribe(),
            delivered: created_at,
            fruitless_resumes: 0,
        };
        tokio::spawn(pump.run(stream));
        Ok(watch)
    }
}

impl Pump {
    async fn run(mut self, mut stream: WatchStream) {
        loop {
            let (before, since) = (self.delivered, Instant::now());
            match self.forward(&mut stream).await {
                Some(End::Closed) => return,
                Some(End::Lagged) => break,
                Some(End::Moved) => {
                    tracing::debug!("etcd client swapped; moving the watch to it");
                    match self.resume().await {
                        Some(s) => stream = s,
                        None => break,
                    }
                }
                // The stream broke: resume after the last delivered revision.
                None => {
                    // A stream that lived a while was healthy, even on a quiet prefix.
                    if self.delivered == before && since.elapsed() < HEALTHY_STREAM {
                        self.fruitless_resumes += 1;
                    } else {
                        self.fruitless_resumes = 0;
                    }
                    if self.fruitless_resumes > MAX_FRUITLESS_RESUMES {
                        tracing::warn!(
                            "etcd watch keeps breaking without progress; its consumer must re-list"
                        );
                        break;
                    }
                    match self.resume().await {
                        Some(s) => stream = s,
                        None => break,
                    }
                }
            }
        }
        self.lagged.store(true, Ordering::Release);
        // Dropping `self.tx` (and the stream, which cancels the etcd watch) ends the Watch.
    }

    /// Forwards events until the watch must end (`Some`) or the stream broke (`None`).
    async fn forward(&mut self, stream: &mut WatchStream) -> Option<End> {
        loop {
            let msg = tokio::select! {
                biased;
                _ = self.closed.changed() => return Some(End::Closed),
                () = self.tx.closed() => return Some(End::Closed),
                r = self.swapped.changed() => {
                    // An error means the store is gone: `closed` ends the pump.
                    if r.is_ok() { return Some(End::Moved) }
                    continue;
                }
                msg = stream.message() => msg,
            };
            let resp = match msg {
                Ok(Some(resp)) => resp,
                Ok(None) => {
                    tracing::debug!("etcd watch stream ended; resuming");
                    return None;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "etcd watch stream failed; resuming");
                    return None;
                }
            };
            if resp.canceled() || resp.compact_revision() > 0 {
                tracing::warn!(
                    reason = resp.cancel_reason(),
                    compact_revision = resp.compact_revision(),
                    "etcd cancelled a metadata watch; its consumer must re-list"
                );
                return Some(End::Lagged);
            }
            for ev in resp.events() {
                let Some(kv) = ev.kv() else { continue };
                let Some(key) = self.ns.strip(kv.key()) else {
                    continue;
                };
                let kind = match ev.event_type() {
                    EventType::Put => EventKind::Put,
                    EventType::Delete => EventKind::Delete,
                };
                let event = WatchEvent {
                    kind,
                    key,
                    value: kv.value().to_vec(),
                    mod_revision: revision(kv.mod_revision()),
                };
                match self.tx.try_send(event) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        tracing::warn!(
                            capacity = self.config.watch_buffer,
                            "metadata watcher fell behind; ending its watch so it re-lists"
                        );
                        return Some(End::Lagged);
                    }
                    Err(TrySendError::Closed(_)) => return Some(End::Closed),
                }
            }
            // etcd never splits one revision's events over two responses (no fragmenting).
            if let Some(last) = resp.events().last().and_then(|e| e.kv()) {
                self.delivered = self.delivered.max(last.mod_revision());
            }
        }
    }

    /// Re-creates the watch after the last delivered revision, for up to `watch_resume`.
    async fn resume(&mut self) -> Option<WatchStream> {
        let started = Instant::now();
        let conn = current(&self.conn);
        let client = watch_client(&conn);
        let target = Target {
            client: &client,
            reauth: &conn.reauth,
            config: &self.config,
            key: &self.key,
            end: &self.end,
        };
        let opened = target
            .open(self.delivered + 1, self.config.watch_resume)
            .await;
        match opened {
            Ok((stream, _)) => {
                tracing::info!(
                    after = ?started.elapsed(),
                    from_revision = self.delivered + 1,
                    "etcd watch resumed"
                );
                Some(stream)
            }
            Err(e) => {
                let e = e.into_error();
                tracing::warn!(
                    error = %e,
                    "etcd watch could not be resumed; its consumer must re-list"
                );
                None
            }
        }
    }
}
