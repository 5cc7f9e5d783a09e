//! Errors of the cluster layer.

/// What can go wrong moving a shard or talking to the membership records.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A local disk failed (full, gone, I/O).
    #[error(transparent)]
    Disk(#[from] liuma_disk::Error),
    /// The metadata store failed (membership records).
    #[error(transparent)]
    Meta(#[from] liuma_meta::Error),
    /// The shard is not there (missing file, unknown disk on that node).
    #[error("shard not found")]
    NotFound,
    /// No live node holds this disk.
    #[error("disk {disk} is not on any live node")]
    DiskUnavailable {
        /// Disk id.
        disk: String,
    },
    /// The peer could not be reached or did not answer in time.
    #[error("node {node} unreachable: {reason}")]
    Unreachable {
        /// Node id.
        node: String,
        /// What failed (connect, timeout, body).
        reason: String,
    },
    /// The peer answered with an error status.
    #[error("node {node} answered {status}: {message}")]
    Peer {
        /// Node id.
        node: String,
        /// HTTP status.
        status: u16,
        /// Error text from the peer.
        message: String,
    },
    /// The peer's disk is full (HTTP 507): try another disk.
    #[error("node {node}: disk full")]
    PeerFull {
        /// Node id.
        node: String,
    },
    /// No live disk in the cluster takes new shards.
    #[error("no live disk can take shards")]
    NoDisks,
    /// The node's configuration is unusable.
    #[error("invalid cluster configuration: {0}")]
    Config(String),
}

/// Result with the cluster [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when the shard simply is not there (as opposed to a failure to ask).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::NotFound | Error::Disk(liuma_disk::Error::NotFound { .. })
        )
    }

    /// True when the target disk cannot take the shard for lack of space.
    pub fn is_full(&self) -> bool {
        matches!(
            self,
            Error::PeerFull { .. } | Error::Disk(liuma_disk::Error::DiskFull { .. })
        )
    }
}
