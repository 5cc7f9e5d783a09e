//! Error type of the metadata store.

use std::sync::Arc;

use crate::store::LeaseId;

/// Everything a [`MetaStore`](crate::MetaStore) operation can fail with.
///
/// The same vocabulary is used by every backend, so callers handle a missing lease or an
/// oversized transaction the same way whether the store is redb or etcd.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded redb database failed (I/O, corruption, ...). When a group-commit batch
    /// fails, every request of the batch gets a clone of the same error; none of them was
    /// applied.
    #[error("redb storage error: {0}")]
    Storage(#[source] Arc<redb::Error>),

    /// The store cannot commit writes right now (see [`Fault`]); nothing was applied. The
    /// store heals on its own (the embedded backend reopens its file with backoff), so the
    /// same request may succeed later. [`MetaStore::health`](crate::MetaStore::health)
    /// reports the same fault without trying a write.
    #[error(transparent)]
    Fault(Fault),

    /// The lease does not exist: it expired, was revoked, or was never granted.
    #[error("lease {0:?} not found (expired, revoked or never granted)")]
    LeaseNotFound(LeaseId),

    /// The backend cannot be reached (etcd down, partitioned, timed out). The operation may
    /// or may not have been applied; retrying an idempotent or CAS-guarded operation is safe.
    #[error("metadata backend {backend} unavailable")]
    Unavailable {
        /// Name of the backend, as [`MetaStore::backend_name`](crate::MetaStore::backend_name).
        backend: &'static str,
        /// What the client library reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// The backend refused the request for a reason none of the other variants covers (for
    /// etcd: its request-size limit, missing permissions, an argument it rejects). Nothing was
    /// applied, and sending the same request again will fail the same way.
    #[error("metadata backend {backend} rejected the request")]
    Rejected {
        /// Name of the backend, as [`MetaStore::backend_name`](crate::MetaStore::backend_name).
        backend: &'static str,
        /// What the client library reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// The backend cannot be used with the configured security settings: its certificate is
    /// not trusted, it refused ours, the password is wrong, ... (see [`AccessProblem`]). Found
    /// when connecting; repeating will fail the same way until the settings change.
    #[error("metadata backend {backend}: {problem} ({detail})")]
    Access {
        /// Name of the backend, as [`MetaStore::backend_name`](crate::MetaStore::backend_name).
        backend: &'static str,
        /// What is wrong.
        problem: AccessProblem,
        /// The client library's own account of the failure (never holds a password).
        detail: String,
    },

    /// A transaction has more compares, success ops or failure ops than
    /// [`MAX_TXN_OPS`](crate::MAX_TXN_OPS). Nothing was applied; split the work.
    #[error("transaction has {ops} operations in one list, the maximum is {max}")]
    TooManyOps {
        /// Length of the longest of the three lists.
        ops: usize,
        /// The limit ([`MAX_TXN_OPS`](crate::MAX_TXN_OPS)).
        max: usize,
    },

    /// A value is larger than the backend accepts. Nothing was applied.
    #[error("value of {size} bytes exceeds the maximum of {max} bytes")]
    ValueTooLarge {
        /// Length of the rejected value in bytes.
        size: usize,
        /// The backend's limit in bytes.
        max: usize,
    },

    /// A key is larger than the backend accepts. Nothing was applied.
    #[error("key of {size} bytes exceeds the maximum of {max} bytes")]
    KeyTooLarge {
        /// Length of the rejected key in bytes.
        size: usize,
        /// The backend's limit in bytes ([`MAX_KEY_SIZE`](crate::MAX_KEY_SIZE)).
        max: usize,
    },

    /// An operation named the empty key, which no backend stores (etcd rejects it).
    #[error("the empty key is not a valid key")]
    EmptyKey,

    /// The store has been shut down (its writer is gone); nothing was applied.
    #[error("metadata store is closed")]
    Closed,

    /// [`RedbStore::open`](crate::RedbStore::open) was called outside a tokio runtime; the
    /// store needs one for its lease timer.
    #[error("the metadata store must be opened inside a tokio runtime")]
    NoRuntime,

    /// The database file was written by an incompatible version of liuma-meta.
    #[error("metadata format version {found} is not supported (expected {expected})")]
    IncompatibleFormat {
        /// Version found in the file.
        found: u64,
        /// Version this build reads and writes.
        expected: u64,
    },
}

impl Error {
    /// True when the failure is transient and the same request may succeed later
    /// (backend unreachable). Storage and validation errors are not retryable.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable { .. } | Error::Fault(_))
    }
}

/// Why a store cannot write at the moment. Cheap to clone: the health state and every
/// request failed by the same fault share it.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Fault {
    /// The file system holding the metadata is full (ENOSPC, EDQUOT). Writes resume once
    /// space is freed.
    #[error("metadata disk full: {0}")]
    DiskFull(#[source] Arc<std::io::Error>),
    /// Another I/O failure of the metadata file; the store is reopening it.
    #[error("metadata disk I/O error: {0}")]
    Io(#[source] Arc<redb::Error>),
    /// The backend could not be reached on the last write (etcd down or partitioned).
    #[error("metadata backend {backend} unreachable")]
    Unreachable {
        /// Name of the backend, as [`MetaStore::backend_name`](crate::MetaStore::backend_name).
        backend: &'static str,
    },
}

impl Fault {
    /// The fault behind a redb failure, if it is one that reopening the database can heal:
    /// an I/O error, or redb's latch after one (`PreviousIo`: "close and re-open").
    /// Anything else (corruption, a bug) is not a fault of the medium.
    pub(crate) fn of_redb(e: &Arc<redb::Error>) -> Option<Fault> {
        match e.as_ref() {
            redb::Error::Io(io) if is_out_of_space(io) => {
                // io::Error is not Clone; keep what matters to an operator (the OS code).
                let copy = io.raw_os_error().map_or_else(
                    || std::io::Error::from(io.kind()),
                    std::io::Error::from_raw_os_error,
                );
                Some(Fault::DiskFull(Arc::new(copy)))
            }
            redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed => {
                Some(Fault::Io(Arc::clone(e)))
            }
            _ => None,
        }
    }
}

impl Fault {
    /// The fault behind a store error, if it is one that heals (see [`Fault::of_redb`]).
    pub(crate) fn of_error(e: &Error) -> Option<Fault> {
        match e {
            Error::Storage(s) => Fault::of_redb(s),
            Error::Fault(f) => Some(f.clone()),
            Error::LeaseNotFound(_)
            | Error::Unavailable { .. }
            | Error::Rejected { .. }
            | Error::Access { .. }
            | Error::TooManyOps { .. }
            | Error::ValueTooLarge { .. }
            | Error::KeyTooLarge { .. }
            | Error::EmptyKey
            | Error::Closed
            | Error::NoRuntime
            | Error::IncompatibleFormat { .. } => None,
        }
    }
}

/// ENOSPC or EDQUOT.
fn is_out_of_space(io: &std::io::Error) -> bool {
    matches!(
        io.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// Why a backend refused a connection, as far as its answer tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessProblem {
    /// The server's TLS certificate is not signed by the configured CA (or does not name the
    /// host connected to).
    #[error(
        "its TLS certificate was not trusted: it is not signed by the configured CA, or does not name the host"
    )]
    UntrustedServer,
    /// The server refused this client's certificate: none was presented, or it is signed by
    /// a CA the server does not trust. (With TLS 1.3 this may show only as the server
    /// closing the connection right after the handshake.)
    #[error(
        "it refused the client certificate (or closed the TLS connection at once): none was given, or its CA is not one the server trusts"
    )]
    ClientCertRefused,
    /// Wrong user name or password.
    #[error("authentication failed: wrong user name or password")]
    AuthFailed,
    /// The server requires authentication and no user was given.
    #[error("it requires authentication and no user was given")]
    UserRequired,
    /// The user may not read or write the key prefix.
    #[error("permission denied: the user's role does not cover the key prefix")]
    PermissionDenied,
    /// The client speaks TLS to a port that serves plain HTTP.
    #[error("TLS was spoken to a port that serves plain HTTP")]
    TlsToPlain,
    /// The client speaks plain HTTP to a port that serves TLS.
    #[error("plain HTTP was spoken to a port that serves TLS")]
    PlainToTls,
}

/// Whether a store can commit writes, as [`MetaStore::health`](crate::MetaStore::health)
/// reports it.
#[derive(Clone, Debug)]
pub enum Health {
    /// Writes are accepted.
    Writable,
    /// Writes fail with [`Error::Fault`] until the fault clears.
    Failed(Fault),
}

impl Health {
    /// `Ok` when writable, else the fault as an [`Error`].
    pub fn check(&self) -> Result<()> {
        match self {
            Health::Writable => Ok(()),
            Health::Failed(f) => Err(Error::Fault(f.clone())),
        }
    }
}

/// Result with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! from_redb {
    ($($ty:ty),* $(,)?) => {
        $(
            impl From<$ty> for Error {
                fn from(e: $ty) -> Self {
                    Error::Storage(Arc::new(redb::Error::from(e)))
                }
            }
        )*
    };
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError,
);

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Self {
        Error::Storage(Arc::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_static() {
        fn assert_bounds<T: std::error::Error + Send + Sync + 'static>() {}
        assert_bounds::<Error>();
    }
}
