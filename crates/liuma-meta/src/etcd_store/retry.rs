//! Timeouts, retries with backoff, and the mapping of etcd client errors into [`Error`].
//!
//! Every request gets its own deadline ([`EtcdConfig::request_timeout`]), and a failed attempt
//! is retried with exponential backoff while the retry budget ([`RetryPolicy::max_elapsed`])
//! lasts; then the caller gets [`Error::Unavailable`] (which the engine turns into a 503). So a
//! request never hangs longer than about `max_elapsed + request_timeout`, however etcd fails.
//!
//! What is retried depends on whether a repeat could apply the request twice:
//!
//! - [`Retry::Always`] for reads and requests whose repetition is harmless (get, range, watch
//!   creation, lease grant and keep-alive): any transient failure, timeouts included.
//! - [`Retry::IfNotSent`] for writes (txn, revoke): only failures that prove the request
//!   never reached etcd's log (no connection, no leader, overload). A timeout or a connection
//!   lost mid-request may hide an applied write, so it is returned at once as
//!   [`Error::Unavailable`]: retrying a CAS transaction blindly could report a failed compare
//!   for a write that actually succeeded. This is the rule of etcd's own Go client
//!   (`isSafeRetryMutableRPC`).
//!
//! [`EtcdConfig::request_timeout`]: super::EtcdConfig::request_timeout

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tonic::Code;

use super::security::Reauth;
use super::{BACKEND, RetryPolicy};
use crate::error::Error;

/// Which failures a request may be retried after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Retry {
    /// Repeating the request is harmless: retry every transient failure.
    Always,
    /// A write: retry only when the request surely was not applied.
    IfNotSent,
}

/// No answer within the request timeout.
#[derive(Debug, thiserror::Error)]
#[error("no answer from etcd within {0:?}")]
pub(super) struct TimedOut(pub(super) Duration);

/// How an etcd client error is to be handled.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Class {
    /// etcd could not be reached, or refused before doing anything: safe to repeat any request.
    NotSent,
    /// The request may or may not have been applied (timeout, connection lost mid-way).
    Unknown,
    /// A definite answer (bad argument, missing lease, ...): never retried.
    Final,
}

/// Classifies an etcd client error.
pub(super) fn classify(e: &etcd_client::Error) -> Class {
    match e {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => Class::NotSent,
        etcd_client::Error::GRpcStatus(s) => classify_status(s.code(), s.message()),
        // The watch / keep-alive request channel closed: the stream broke underneath.
        etcd_client::Error::WatchError(_) => Class::Unknown,
        etcd_client::Error::LeaseKeepAliveError(m) if m.contains("failed") => Class::Unknown,
        _ => Class::Final,
    }
}

fn classify_status(code: Code, message: &str) -> Class {
    let m = message.to_ascii_lowercase();
    let not_sent = [
        "connect",
        "connection refused",
        "dns error",
        "no leader",
        "too many requests",
        "not capable",
        "server is not ready",
    ];
    match code {
        Code::Unavailable | Code::ResourceExhausted if not_sent.iter().any(|p| m.contains(p)) => {
            Class::NotSent
        }
        Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted => Class::Unknown,
        // We never cancel a call ourselves (a timeout drops it): `Cancelled` is the
        // connection closing under the request.
        Code::Cancelled => Class::Unknown,
        // tonic reports a broken HTTP/2 connection as `Unknown` with a transport message.
        Code::Unknown
            if m.contains("transport")
                || m.contains("h2 protocol")
                || m.contains("broken pipe") =>
        {
            Class::Unknown
        }
        _ => Class::Final,
    }
}

/// True for etcd's "requested lease not found".
pub(super) fn is_lease_not_found(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::GRpcStatus(s) => {
            s.code() == Code::NotFound && s.message().contains("lease not found")
        }
        etcd_client::Error::LeaseKeepAliveError(m) => m.contains("not found"),
        _ => false,
    }
}

/// True for etcd's "too many operations in txn request".
pub(super) fn is_too_many_ops(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s)
        if s.code() == Code::InvalidArgument && s.message().contains("too many operations"))
}

/// True for etcd's "key is not provided" (the empty key).
pub(super) fn is_empty_key(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s) if s.message().contains("key is not provided"))
}

/// [`Error::Unavailable`] with `source`.
pub(super) fn unavailable(source: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Unavailable {
        backend: BACKEND,
        source: Box::new(source),
    }
}

/// [`Error::Rejected`] with `source`.
pub(super) fn rejected(source: etcd_client::Error) -> Error {
    Error::Rejected {
        backend: BACKEND,
        source: Box::new(source),
    }
}

/// The default mapping of a final (non-transient) etcd error.
pub(super) fn map_final(e: etcd_client::Error) -> Error {
    if is_empty_key(&e) {
        Error::EmptyKey
    } else {
        rejected(e)
    }
}

/// The outcome of [`call`] when it did not succeed.
#[derive(Debug)]
pub(super) enum Failed {
    /// Transient failure that outlasted the retry budget (or may hide an applied write).
    Unavailable(Error),
    /// A definite error from etcd, for the caller to map with its own context.
    Etcd(etcd_client::Error),
}

impl Failed {
    /// Maps the failure with [`map_final`].
    pub(super) fn into_error(self) -> Error {
        self.map(map_final)
    }

    /// Maps the failure, using `f` for a definite etcd error.
    pub(super) fn map(self, f: impl FnOnce(etcd_client::Error) -> Error) -> Error {
        match self {
            Failed::Unavailable(e) => e,
            Failed::Etcd(e) => f(e),
        }
    }
}

/// Runs `attempt` with a per-attempt `timeout`, retrying transient failures as `retry` allows
/// while `policy` lasts.
pub(super) async fn call<T, F, Fut>(
    policy: &RetryPolicy,
    timeout: Duration,
    retry: Retry,
    what: &'static str,
    mut attempt: F,
) -> Result<T, Failed>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, etcd_client::Error>>,
{
    let started = Instant::now();
    let mut backoff = policy.initial_backoff;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let (err, may_retry) = match tokio::time::timeout(timeout, attempt()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => match classify(&e) {
                Class::Final => return Err(Failed::Etcd(e)),
                Class::NotSent => (unavailable(e), true),
                Class::Unknown => (unavailable(e), retry == Retry::Always),
            },
            Err(_) => (unavailable(TimedOut(timeout)), retry == Retry::Always),
        };
        let elapsed = started.elapsed();
        if !may_retry || elapsed + backoff > policy.max_elapsed {
            tracing::debug!(what, attempts, ?elapsed, error = %err, "etcd request failed");
            return Err(Failed::Unavailable(err));
        }
        tracing::trace!(what, attempts, error = %err, "etcd request failed; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(policy.max_backoff);
    }
}

/// [`call`], and once more after a fresh auth token when etcd refused the one sent as stale
/// (see [`Reauth`]). A refusal of the new token is reported as it is.
pub(super) async fn call_with_reauth<T, F, Fut>(
    policy: &RetryPolicy,
    timeout: Duration,
    retry: Retry,
    what: &'static str,
    reauth: &Reauth,
    mut attempt: F,
) -> Result<T, Failed>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, etcd_client::Error>>,
{
    match call(policy, timeout, retry, what, &mut attempt).await {
        Err(Failed::Etcd(e)) if reauth.applies(&e) => {
            tracing::debug!(what, error = %e, "etcd refused the auth token; re-authenticating");
            if !reauth.refresh().await {
                return Err(Failed::Etcd(e));
            }
            call(policy, timeout, retry, what, attempt).await
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(
            classify_status(
                Code::Unavailable,
                "tcp connect error: Connection refused (os error 111)"
            ),
            Class::NotSent
        );
        assert_eq!(
            classify_status(Code::Unavailable, "etcdserver: no leader"),
            Class::NotSent
        );
        assert_eq!(
            classify_status(Code::Unavailable, "etcdserver: request timed out"),
            Class::Unknown
        );
        assert_eq!(
            classify_status(Code::DeadlineExceeded, "Timeout expired"),
            Class::Unknown
        );
        assert_eq!(
            classify_status(Code::Cancelled, "operation was canceled"),
            Class::Unknown
        );
        assert_eq!(
            classify_status(
                Code::InvalidArgument,
                "etcdserver: too many operations in txn request"
            ),
            Class::Final
        );
        assert_eq!(
            classify_status(Code::NotFound, "etcdserver: requested lease not found"),
            Class::Final
        );
    }
}
