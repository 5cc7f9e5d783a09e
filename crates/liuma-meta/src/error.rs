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
    #[error("redb storage error")]
    Storage(#[source] Arc<redb::Error>),

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
        matches!(self, Error::Unavailable { .. })
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
