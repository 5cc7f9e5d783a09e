//! The system's error vocabulary. Front ends map these to S3 / native API
//! codes in exactly one place each; [`Error::code`] gives the shared string.

use liuma_codec::BlockId;

/// Result alias for engine operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything an engine operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bucket does not exist.
    #[error("bucket {bucket:?} does not exist")]
    NoSuchBucket {
        /// Bucket name as requested.
        bucket: String,
    },
    /// The key has no current version (or does not exist at all).
    #[error("key {key:?} does not exist in bucket {bucket:?}")]
    NoSuchKey {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
    },
    /// The version id does not exist for this key.
    #[error("version {version_id:?} of key {key:?} does not exist")]
    NoSuchVersion {
        /// Object key.
        key: String,
        /// Version id as requested.
        version_id: String,
    },
    /// The multipart upload id is unknown (never existed, completed or aborted).
    #[error("multipart upload {upload_id:?} does not exist")]
    NoSuchUpload {
        /// Upload id as requested.
        upload_id: String,
    },
    /// The bucket name breaks the naming rules.
    #[error("invalid bucket name {bucket:?}: {reason}")]
    InvalidBucketName {
        /// Name as requested.
        bucket: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The object key is empty, too long or holds a forbidden character.
    #[error("invalid object key: {reason}")]
    InvalidKey {
        /// Which rule it breaks.
        reason: KeyProblem,
    },
    /// The bucket exists already (and belongs to the caller).
    #[error("bucket {bucket:?} already exists and is owned by you")]
    BucketAlreadyOwnedByYou {
        /// Bucket name.
        bucket: String,
    },
    /// The bucket exists already and belongs to someone else.
    #[error("bucket {bucket:?} already exists")]
    BucketAlreadyExists {
        /// Bucket name.
        bucket: String,
    },
    /// Only empty buckets (no versions, no uploads) can be deleted.
    #[error("bucket {bucket:?} is not empty")]
    BucketNotEmpty {
        /// Bucket name.
        bucket: String,
    },
    /// A part listed in CompleteMultipartUpload is missing or its ETag differs.
    #[error("part {part_number} is missing or its ETag does not match")]
    InvalidPart {
        /// Part number as listed.
        part_number: u32,
    },
    /// Parts in CompleteMultipartUpload are not in strictly ascending order.
    #[error("parts must be listed in ascending order without duplicates")]
    InvalidPartOrder,
    /// The part number is outside 1..=10000.
    #[error("part number {part_number} is outside 1..=10000")]
    InvalidPartNumber {
        /// Part number as requested.
        part_number: u32,
    },
    /// A part other than the last is smaller than the minimum part size.
    #[error("part {part_number} has {size} bytes, below the minimum of {min}")]
    EntityTooSmall {
        /// Part number.
        part_number: u32,
        /// Its size.
        size: u64,
        /// The minimum for non-final parts.
        min: u64,
    },
    /// User metadata is larger than allowed.
    #[error("user metadata of {size} bytes exceeds the maximum of {max}")]
    MetadataTooLarge {
        /// Size sent.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The object (or part) is larger than allowed.
    #[error("entity of {size} bytes exceeds the maximum of {max}")]
    EntityTooLarge {
        /// Size received so far.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The requested byte range lies outside the object.
    #[error("range {start}..{end} is not satisfiable for an object of {size} bytes")]
    InvalidRange {
        /// First requested byte.
        start: u64,
        /// One past the last requested byte.
        end: u64,
        /// Object size.
        size: u64,
    },
    /// A digest the client sent does not match the data received.
    #[error("the {algorithm} digest of the data does not match the one sent")]
    BadDigest {
        /// Which digest: "md5", "sha256", ...
        algorithm: &'static str,
    },
    /// The body ended before the announced length.
    #[error("the request body ended after {received} of {expected} bytes")]
    IncompleteBody {
        /// Bytes received.
        received: u64,
        /// Bytes announced.
        expected: u64,
    },
    /// Reading the request body failed (client went away, bad framing...).
    #[error("reading the request body failed")]
    Body(#[source] std::io::Error),
    /// A conditional request's precondition failed.
    #[error("precondition failed")]
    PreconditionFailed,
    /// A block cannot be read: more shards are lost than the code tolerates.
    #[error("block {block} is unreadable: {have} good shards of {need} needed")]
    BlockUnavailable {
        /// The block.
        block: BlockId,
        /// Good shards found.
        have: usize,
        /// Shards needed to decode.
        need: usize,
    },
    /// No disk can take the data: every candidate is full, or no live
    /// disk takes shards at all; nothing was stored. (Cluster errors are
    /// boxed: three variants carry one, which would make every `Result` of
    /// the engine 8 bytes larger.)
    #[error("no disk has room for the data: {0}")]
    StorageFull(#[source] Box<liuma_cluster::Error>),
    /// Shards could not be written for another reason than space (a peer
    /// unreachable or too slow, a disk that failed); nothing was stored.
    #[error("storing the shards failed: {0}")]
    ShardWriteFailed(#[source] Box<liuma_cluster::Error>),
    /// A disk of this node is missing or fails (readiness).
    #[error("a disk of this node failed: {0}")]
    DiskFailed(#[source] Box<liuma_cluster::Error>),
    /// No node with this id is known to the cluster (admin).
    #[error("no node {id} in the cluster")]
    NoSuchNode {
        /// Node id as requested.
        id: String,
    },
    /// The membership change is refused in this state (the node is live, or
    /// this node is not in a cluster).
    #[error("{reason}")]
    MembershipRefused {
        /// Why, for the operator.
        reason: String,
    },
    /// Too few failure domains are up to place a block without putting more
    /// of its shards on one of them than the code can lose (or fewer than
    /// `min_failure_domains`); nothing was stored. Clears when nodes return.
    #[error(
        "writes refused: {live} live {domain}(s) but {k}+{m} blocks need {needed} \
         (at most {m} shard(s) of a block per node, min_failure_domains); \
         retry when more nodes are up"
    )]
    TooFewFailureDomains {
        /// What is counted: "node" or "zone".
        domain: &'static str,
        /// Domains up now (live, not draining).
        live: usize,
        /// Domains the write needs.
        needed: usize,
        /// Data shards of the code.
        k: u16,
        /// Parity shards of the code.
        m: u16,
    },
    /// The metadata store is unreachable, overloaded or cannot write (its disk is full);
    /// nothing half-written. The message carries the store's reason, for the client.
    #[error("metadata store unavailable: {0}")]
    MetaUnavailable(#[source] liuma_meta::Error),
    /// The metadata store refused a request it will always refuse (too
    /// many operations in a transaction, a value or key over its limit, a
    /// request etcd rejects): a bug of the engine's batching or a missing
    /// check, not a passing outage.
    #[error("metadata store refused the request: {0}")]
    MetaRejected(#[source] liuma_meta::Error),
    /// The metadata store failed (storage error, incompatible file, lost
    /// lease): retrying does not help.
    #[error("metadata store failed: {0}")]
    MetaFailed(#[source] liuma_meta::Error),
    /// The node is at its limit (memory budget, waiting requests); the
    /// caller should retry after a short pause. Nothing was stored.
    #[error("the node is overloaded ({what}); retry shortly")]
    Overloaded {
        /// Which limit was hit.
        what: &'static str,
    },
    /// Too much contention on one key; the caller may retry.
    #[error("too many concurrent updates of {what}; retry")]
    Conflict {
        /// What was contended.
        what: String,
    },
    /// The engine's configuration is invalid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// The access key id does not exist.
    #[error("access key {id:?} does not exist")]
    NoSuchAccessKey {
        /// Key id as requested.
        id: String,
    },
    /// An access key with this id exists already (with another secret).
    #[error("access key {id:?} exists already")]
    KeyExists {
        /// Key id.
        id: String,
    },
    /// No user by this name.
    #[error("user {name:?} does not exist")]
    NoSuchUser {
        /// User name as requested.
        name: String,
    },
    /// A user by this name exists already.
    #[error("user {name:?} exists already")]
    UserExists {
        /// User name.
        name: String,
    },
    /// A user that owns buckets cannot be deleted (its buckets would have no owner).
    #[error("user {name:?} owns buckets {buckets:?}: delete them (or give them away) first")]
    UserOwnsBuckets {
        /// User name.
        name: String,
        /// The buckets it owns (the first few).
        buckets: Vec<String>,
    },
    /// A policy that is not valid policy grammar (the reason names the problem).
    #[error("{reason}")]
    MalformedPolicy {
        /// What is wrong, as `liuma_policy` says it.
        reason: String,
    },
    /// The user has no identity policy by this name.
    #[error("user {user:?} has no policy {policy:?}")]
    NoSuchUserPolicy {
        /// User name.
        user: String,
        /// Policy name.
        policy: String,
    },
    /// A checksum request S3 refuses (type or algorithm not the upload's,
    /// a composite CRC64NVME, a full-object SHA).
    #[error("{reason}")]
    InvalidChecksum {
        /// What is wrong.
        reason: &'static str,
    },
    /// A request argument is invalid.
    #[error("invalid argument: {what}")]
    InvalidArgument {
        /// What is wrong.
        what: &'static str,
    },
    /// A conditional write lost to a conflicting operation that ran while it
    /// was in flight (e.g. the object it had to match was deleted): retry.
    #[error("a conflicting operation on {what} ran during this conditional write; retry")]
    ConditionalConflict {
        /// bucket/key.
        what: String,
    },
    /// `partNumber` beyond the parts of the object (GetObject/HeadObject).
    #[error("part {part_number} is not satisfiable: the object has {parts} part(s)")]
    PartNotSatisfiable {
        /// The part asked for.
        part_number: u32,
        /// How many parts the object has.
        parts: u32,
    },
    /// An SSE-C object was read (or an SSE-C upload written) without its
    /// customer key.
    #[error("the object is stored with a customer-provided key (SSE-C); the key must be given")]
    SseCustomerKeyRequired,
    /// The customer key given is not the one the object was stored with.
    #[error("the customer-provided key does not match the object's")]
    SseCustomerKeyMismatch,
    /// SSE-C headers on an object that is not stored with SSE-C.
    #[error("the encryption parameters are not applicable to this object")]
    SseNotApplicable,
    /// Server-side encryption asked of an engine without a master key ring.
    #[error("server-side encryption is not configured on this node")]
    SseUnavailable,
    /// A write sealed under an SSE-S3 key version that was retired while it
    /// ran: nothing is committed (the object could never be read); retry.
    #[error("SSE key version {version} was retired while this write ran; retry it")]
    SseKeyRetired { version: u32 },
    /// An encrypted block could not be opened (tampered or corrupt data,
    /// a key version this node lacks).
    #[error(transparent)]
    Crypt(#[from] crate::crypt::CryptError),
    /// A bug or an unexpected failure below; details in the source.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Stable, S3-style error code of the native and admin APIs. The S3
    /// front end (`liuma-s3/src/error.rs`) answers with AWS's code list,
    /// which differs in two places, both because S3 has no such code:
    /// `KeyExists` is `InvalidArgument` there, and `StorageFull` is
    /// `ServiceUnavailable` (AWS's `SlowDown` means "request rate", which a
    /// full disk is not).
    pub fn code(&self) -> &'static str {
        match self {
            Error::NoSuchBucket { .. } => "NoSuchBucket",
            Error::NoSuchKey { .. } => "NoSuchKey",
            Error::NoSuchVersion { .. } => "NoSuchVersion",
            Error::NoSuchUpload { .. } => "NoSuchUpload",
            Error::InvalidBucketName { .. } => "InvalidBucketName",
            Error::InvalidKey {
                reason: KeyProblem::TooLong,
            } => "KeyTooLongError",
            Error::InvalidKey {
                reason: KeyProblem::Empty | KeyProblem::Nul,
            } => "InvalidArgument",
            Error::BucketAlreadyOwnedByYou { .. } => "BucketAlreadyOwnedByYou",
            Error::BucketAlreadyExists { .. } => "BucketAlreadyExists",
            Error::BucketNotEmpty { .. } => "BucketNotEmpty",
            Error::InvalidPart { .. } => "InvalidPart",
            Error::InvalidPartOrder => "InvalidPartOrder",
            Error::InvalidPartNumber { .. } => "InvalidArgument",
            Error::EntityTooSmall { .. } => "EntityTooSmall",
            Error::EntityTooLarge { .. } => "EntityTooLarge",
            Error::MetadataTooLarge { .. } => "MetadataTooLarge",
            Error::InvalidRange { .. } => "InvalidRange",
            Error::BadDigest { .. } => "BadDigest",
            Error::IncompleteBody { .. } => "IncompleteBody",
            Error::Body(_) => "IncompleteBody",
            Error::PreconditionFailed => "PreconditionFailed",
            Error::BlockUnavailable { .. } => "ServiceUnavailable",
            Error::StorageFull(_) => "SlowDown",
            Error::ShardWriteFailed(_) | Error::DiskFailed(_) => "ServiceUnavailable",
            Error::NoSuchNode { .. } => "NoSuchNode",
            Error::MembershipRefused { .. } => "Conflict",
            Error::TooFewFailureDomains { .. } => "ServiceUnavailable",
            Error::MetaUnavailable(_) => "ServiceUnavailable",
            Error::SseKeyRetired { .. } => "ServiceUnavailable",
            Error::MetaRejected(_) | Error::MetaFailed(_) => "InternalError",
            Error::Overloaded { .. } => "SlowDown",
            Error::Conflict { .. } => "OperationAborted",
            Error::InvalidConfig(_) => "InternalError",
            Error::NoSuchAccessKey { .. } => "InvalidAccessKeyId",
            Error::KeyExists { .. } => "KeyAlreadyExists",
            Error::NoSuchUser { .. } => "NoSuchUser",
            Error::UserExists { .. } => "UserAlreadyExists",
            Error::UserOwnsBuckets { .. } => "UserOwnsBuckets",
            Error::NoSuchUserPolicy { .. } => "NoSuchUserPolicy",
            Error::MalformedPolicy { .. } => "MalformedPolicy",
            Error::InvalidChecksum { .. } => "InvalidRequest",
            Error::InvalidArgument { .. } => "InvalidArgument",
            Error::ConditionalConflict { .. } => "ConditionalRequestConflict",
            Error::PartNotSatisfiable { .. } => "InvalidPartNumber",
            Error::SseCustomerKeyRequired | Error::SseNotApplicable => "InvalidRequest",
            Error::SseCustomerKeyMismatch => "AccessDenied",
            Error::SseUnavailable => "NotImplemented",
            Error::Crypt(_) => "InternalError",
            Error::Internal(_) => "InternalError",
        }
    }

    /// The HTTP status of this error, for every front end. The match is
    /// exhaustive: a new variant does not compile until it has a status.
    /// S3 answers with the status of its error code (`liuma-s3/src/error.rs`),
    /// which differs in one place: an unknown access key is 403
    /// `InvalidAccessKeyId` there (authentication), 404 in the admin API
    /// (a lookup of a key by id).
    pub fn http_status(&self) -> u16 {
        match self {
            Error::NoSuchBucket { .. }
            | Error::NoSuchKey { .. }
            | Error::NoSuchVersion { .. }
            | Error::NoSuchUpload { .. }
            | Error::NoSuchAccessKey { .. }
            | Error::NoSuchUser { .. }
            | Error::NoSuchUserPolicy { .. }
            | Error::NoSuchNode { .. } => 404,
            Error::InvalidBucketName { .. }
            | Error::InvalidKey { .. }
            | Error::InvalidPart { .. }
            | Error::InvalidPartOrder
            | Error::InvalidPartNumber { .. }
            | Error::EntityTooSmall { .. }
            | Error::EntityTooLarge { .. }
            | Error::MetadataTooLarge { .. }
            | Error::BadDigest { .. }
            | Error::IncompleteBody { .. }
            | Error::Body(_)
            | Error::InvalidChecksum { .. }
            | Error::MalformedPolicy { .. }
            | Error::InvalidArgument { .. }
            | Error::SseCustomerKeyRequired
            | Error::SseNotApplicable => 400,
            Error::SseCustomerKeyMismatch => 403,
            Error::SseUnavailable => 501,
            Error::BucketAlreadyOwnedByYou { .. }
            | Error::BucketAlreadyExists { .. }
            | Error::BucketNotEmpty { .. }
            | Error::Conflict { .. }
            | Error::KeyExists { .. }
            | Error::UserExists { .. }
            | Error::UserOwnsBuckets { .. }
            | Error::ConditionalConflict { .. }
            | Error::MembershipRefused { .. } => 409,
            Error::PreconditionFailed => 412,
            Error::InvalidRange { .. } | Error::PartNotSatisfiable { .. } => 416,
            Error::InvalidConfig(_)
            | Error::Crypt(_)
            | Error::Internal(_)
            | Error::MetaRejected(_)
            | Error::MetaFailed(_) => 500,
            Error::BlockUnavailable { .. }
            | Error::StorageFull(_)
            | Error::ShardWriteFailed(_)
            | Error::DiskFailed(_)
            | Error::TooFewFailureDomains { .. }
            | Error::MetaUnavailable(_)
            | Error::SseKeyRetired { .. }
            | Error::Overloaded { .. } => 503,
        }
    }

    /// True for failures of the service (5xx), false for the caller's (4xx).
    pub fn is_server_error(&self) -> bool {
        self.http_status() >= 500
    }

    pub(crate) fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Internal(Box::new(e))
    }

    /// A cluster failure as the engine reports it, by cause: no room is
    /// `StorageFull`, a metadata failure keeps its own variant, a refused
    /// membership change is a conflict, anything else about reaching disks
    /// or peers is `ShardWriteFailed`. Exhaustive, like the tables above.
    pub(crate) fn from_cluster(e: liuma_cluster::Error) -> Self {
        use liuma_cluster::Error as C;
        match e {
            C::Meta(m) => m.into(),
            C::Config(reason) => Error::MembershipRefused { reason },
            C::PeerFull { .. } | C::NoDisks => Error::StorageFull(Box::new(e)),
            C::Disk(_) if e.is_full() => Error::StorageFull(Box::new(e)),
            C::Disk(_)
            | C::NotFound
            | C::DiskUnavailable { .. }
            | C::Unreachable { .. }
            | C::TooSlow { .. }
            | C::PeerNoSuchDisk { .. }
            | C::PeerCorrupt { .. }
            | C::PeerDiskFailed { .. }
            | C::PeerUnauthorized { .. }
            | C::PeerCertRefused { .. }
            | C::PeerBadRequest { .. }
            | C::PeerInternal { .. }
            | C::PeerUnexpected { .. } => Error::ShardWriteFailed(Box::new(e)),
        }
    }

    /// A request body error as the engine reports it: an engine error
    /// carried inside the `io::Error` (UploadPartCopy reads its source
    /// through a body stream) comes back out with its own type and status;
    /// anything else is the client's body.
    pub(crate) fn from_body(e: std::io::Error) -> Self {
        if !e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            return Error::Body(e);
        }
        let kind = e.kind();
        match e.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(engine)) => *engine,
            Some(Err(other)) => Error::Body(std::io::Error::new(kind, other)),
            None => Error::Body(std::io::Error::from(kind)),
        }
    }
}

impl From<liuma_meta::Error> for Error {
    /// Each cause keeps its status: an outage is 503 (retry), a request
    /// the store will always refuse or a broken store is 500.
    fn from(e: liuma_meta::Error) -> Self {
        use liuma_meta::Error as M;
        match e {
            // A refused token or certificate at run time (e.g. the password was changed
            // in etcd) is an outage for clients: 503 until the operator fixes it.
            M::Unavailable { .. } | M::Fault(_) | M::Closed | M::Access { .. } => {
                Error::MetaUnavailable(e)
            }
            M::TooManyOps { .. }
            | M::ValueTooLarge { .. }
            | M::KeyTooLarge { .. }
            | M::EmptyKey
            | M::Rejected { .. } => Error::MetaRejected(e),
            M::Storage(_) | M::LeaseNotFound(_) | M::NoRuntime | M::IncompatibleFormat { .. } => {
                Error::MetaFailed(e)
            }
        }
    }
}

impl From<rmp_serde::decode::Error> for Error {
    fn from(e: rmp_serde::decode::Error) -> Self {
        Error::internal(e)
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::internal(e)
    }
}

/// Why an object key is refused. Only length has an S3 error of its own
/// (`KeyTooLongError`); the others are `InvalidArgument`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    /// The key is empty.
    #[error("the key is empty")]
    Empty,
    /// More than 1024 bytes.
    #[error("the key is longer than 1024 bytes")]
    TooLong,
    /// Holds U+0000, which XML listings cannot carry.
    #[error("the key holds a NUL character")]
    Nul,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_cause() {
        let missing = Error::NoSuchBucket { bucket: "b".into() };
        assert_eq!(missing.http_status(), 404);
        assert!(!missing.is_server_error());
        assert_eq!(Error::PreconditionFailed.http_status(), 412);
        let busy = Error::Overloaded { what: "test" };
        // overload is the service's failure, and says "retry", not "broken"
        assert_eq!(busy.http_status(), 503);
        assert!(busy.is_server_error());
        let bug = Error::internal(std::io::Error::other("x"));
        assert_eq!(bug.http_status(), 500);
        assert!(bug.is_server_error());
    }

    #[test]
    fn metadata_errors_keep_their_cause() {
        let down = Error::from(liuma_meta::Error::Closed);
        assert!(matches!(down, Error::MetaUnavailable(_)), "{down:?}");
        assert_eq!(down.http_status(), 503);
        let big = Error::from(liuma_meta::Error::ValueTooLarge { size: 2, max: 1 });
        assert!(matches!(big, Error::MetaRejected(_)), "{big:?}");
        assert_eq!(big.http_status(), 500);
        let many = Error::from(liuma_meta::Error::TooManyOps { ops: 200, max: 128 });
        assert_eq!(many.http_status(), 500);
    }

    #[test]
    fn cluster_errors_keep_their_cause() {
        use liuma_cluster::Error as C;
        let full = Error::from_cluster(C::PeerFull { node: "n".into() });
        assert!(matches!(full, Error::StorageFull(_)), "{full:?}");
        let gone = Error::from_cluster(C::Unreachable {
            node: "n".into(),
            reason: "refused".into(),
        });
        assert!(matches!(gone, Error::ShardWriteFailed(_)), "{gone:?}");
        assert_eq!(gone.http_status(), 503);
        let live = Error::from_cluster(C::Config("node is live".into()));
        assert_eq!(live.http_status(), 409);
    }

    #[test]
    fn an_engine_error_inside_a_body_error_comes_back_typed() {
        let inner = Error::BlockUnavailable {
            block: BlockId([0; 32]),
            have: 1,
            need: 2,
        };
        let e = Error::from_body(std::io::Error::other(inner));
        assert!(matches!(e, Error::BlockUnavailable { .. }), "{e:?}");
        assert_eq!(e.http_status(), 503);
        let client = Error::from_body(std::io::Error::other("reset"));
        assert!(matches!(client, Error::Body(_)), "{client:?}");
    }
}
