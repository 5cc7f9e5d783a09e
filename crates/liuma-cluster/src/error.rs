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
    /// The peer did not answer within the deadline its recent latency
    /// allows (hung or overloaded); it is avoided for a while.
    #[error("node {node} did not answer within {deadline:?}")]
    TooSlow {
        /// Node id.
        node: String,
        /// The deadline it missed.
        deadline: std::time::Duration,
    },
    /// The peer has no disk with this id (it was removed, or the view is stale).
    #[error("node {node} has no disk {disk}")]
    PeerNoSuchDisk {
        /// Node id.
        node: String,
        /// Disk id asked for.
        disk: String,
    },
    /// The peer's shard file is rotten: rebuild it from the other shards.
    #[error("node {node}: shard corrupt: {message}")]
    PeerCorrupt {
        /// Node id.
        node: String,
        /// The peer's details.
        message: String,
    },
    /// The peer's disk is full (HTTP 507): try another disk.
    #[error("node {node}: disk full")]
    PeerFull {
        /// Node id.
        node: String,
    },
    /// The peer's disk failed (I/O error, gone): try another disk.
    #[error("node {node}: disk failed: {message}")]
    PeerDiskFailed {
        /// Node id.
        node: String,
        /// The peer's details.
        message: String,
    },
    /// The peer refused our signature (another cluster secret, clock skew, replay).
    #[error("node {node} refused the request: {message}")]
    PeerUnauthorized {
        /// Node id.
        node: String,
        /// Why, as the peer said.
        message: String,
    },
    /// The certificate of the connection no longer counts (revoked or
    /// expired since the handshake): refused by the peer (403), or the
    /// peer's own, refused here.
    #[error("node {node}: certificate refused: {message}")]
    PeerCertRefused {
        /// Node id.
        node: String,
        /// Why.
        message: String,
    },
    /// The peer found the request malformed (a bug on one side or a version mismatch).
    #[error("node {node}: bad request: {message}")]
    PeerBadRequest {
        /// Node id.
        node: String,
        /// What, as the peer said.
        message: String,
    },
    /// The peer failed internally.
    #[error("node {node}: internal error: {message}")]
    PeerInternal {
        /// Node id.
        node: String,
        /// The peer's details.
        message: String,
    },
    /// The peer answered with an error that is not a shard API error body (an older
    /// version, or something else listening on that address).
    #[error("node {node} answered {status}: {body}")]
    PeerUnexpected {
        /// Node id.
        node: String,
        /// HTTP status.
        status: u16,
        /// Start of the answer's body.
        body: String,
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
            Error::NotFound
                | Error::PeerNoSuchDisk { .. }
                | Error::Disk(liuma_disk::Error::NotFound { .. })
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
