//! # liuma-engine — the object engine (layer 5)
//!
//! Buckets, objects, versions, multipart uploads, block deduplication and
//! garbage collection, repair on read and scrubbing, over a
//! [`liuma_meta::MetaStore`] (records) and a [`liuma_cluster::Cluster`]
//! (shards, encoded by [`liuma_codec`], on the node's
//! [`liuma_disk::ShardStore`] or a peer's). Depends on codec, disk, meta and
//! cluster. Front ends (S3, native API, admin) see only [`Engine`] and the
//! types it returns — the cluster's state too, as [`ClusterStatus`] — and
//! its [`Error`] is the system's error vocabulary (one status table,
//! [`Error::http_status`]).
//!
//! Data path of a put: the body is cut into blocks; MD5 and SHA-256 are
//! computed over the stream on a hashing thread while each block gets its
//! BLAKE3 id, is deduplicated against the block records, compressed,
//! erasure coded and written to its disks. References from the object to
//! its blocks are written before the version record, which is committed
//! last: an object is visible only when every block is durable.
//!
//! # Layout
//! - [`engine`](Engine): the facade and its shared state
//! - `bucket`, `object`, `list`, `multipart`, `tagging`: the S3-shaped operations
//! - `access`, `seal`: access keys with bucket grants (secrets sealed at
//!   rest), named settings
//! - `users`: users (owners of keys and buckets) and their identity
//!   policies; `users_migrate`: the move of a store from before users
//! - `object_acl`: an object version's ACL, rewritten in place
//! - `session`: caller-named uploads with a fixed part layout and byte
//!   accounting (the native API's chunk sessions)
//! - `conditional`: conditional writes, retried completes; `part_read`:
//!   GET/HEAD of one part of an object
//! - `ingest`, `read`: the streaming put pipeline and ranged reads
//! - `blocks`: block store across the cluster's disks, dedup, repair
//! - `heal`: healer, drain and rebalance (shards off lost or leaving nodes)
//! - `gc`, `scrub`, `worker`: background maintenance
//! - `crypt`, `crypt_ops`: server-side encryption (envelopes, key ring,
//!   which key a write uses); `sse_admin`: master key rotation,
//!   re-encryption and retirement; `sse_fence`: the retirement fence every
//!   encrypted commit checks
//! - `checksum`: S3 additional checksums, stored and combined for multipart
//! - `lifecycle`: bucket lifecycle rules and the pass applying them
//! - `keys`, `model`: metadata key layout and records; `layout`: the
//!   layout version and the upgrade of older stores
//! - `status`: the cluster's and the disks' status, drain and forget (admin)
//! - `error`, `metrics`, `config`
//! - `testing` (feature `testing`): what the crate's own integration tests
//!   reach below the facade (the node's disks)

mod access;
mod blocks;
mod bucket;
mod budget;
mod checksum;
mod clock;
mod conditional;
mod config;
mod crypt;
mod crypt_ops;
mod engine;
mod error;
mod gc;
mod gc_queue;
mod heal;
mod heal_queue;
mod ingest;
mod keys;
mod layout;
mod lifecycle;
mod list;
mod listed;
mod metrics;
mod model;
mod msgpack_scan;
mod multipart;
mod object;
mod object_acl;
mod part_read;
mod read;
mod reencode;
mod scan;
mod scrub;
mod seal;
mod session;
mod sse_admin;
mod sse_fence;
mod status;
mod tagging;
mod usage;
mod users;
mod users_migrate;
mod worker;

pub use access::{AccessKey, Permission};
pub use bucket::validate_bucket_name;
pub use budget::BudgetStats;
pub use checksum::{
    Checksum, ChecksumAlgorithm, ChecksumType, CompleteChecksum, LateChecksum, PartChecksum,
    UploadChecksum,
};
pub use conditional::{COMPLETED_TTL_MS, WriteCondition};
pub use config::{EngineConfig, default_erasure, fits_domains, target_erasure};
pub use crypt::{
    BucketEncryption, CryptError, CustomerKey, KeyRing, MasterKey, SSE_KEY_LEN, Sse, SseRequest,
};
pub use crypt_ops::CopySse;
pub use engine::Engine;
pub use error::{Error, KeyProblem, Result};
pub use gc::GcReport;
pub use heal::{BlockCensus, BucketCensus, HealOptions, HealReport, PassInfo, PassStatus};
pub use ingest::{ByteStream, ContentSha256};
pub use layout::{CURRENT_LAYOUT, LayoutUpgrade};
pub use lifecycle::{
    DAY_MS, Expiration, FilterForm, LifecycleOptions, LifecycleReport, LifecycleRule,
    MAX_LIFECYCLE_RULES, NoncurrentExpiration, RuleFilter, ceil_midnight, due_after,
};
pub use list::{ListParams, ListResult, ListVersionsParams, ListVersionsResult};
pub use metrics::Stats;
pub use model::{BucketInfo, ObjectMeta, Tags, Versioning};
pub use multipart::{
    CompleteOptions, CopySource, MAX_PART_NUMBER, PartInfo, PartOptions, UploadInfo, UploadList,
};
pub use object::{
    CopyTarget, DeleteResult, GetObject, GetOptions, MAX_USER_METADATA, ObjectInfo, PutOptions,
    validate_key,
};
pub use read::{ByteRange, ObjectStream};
pub use scrub::ScrubReport;
pub use seal::{SEAL_VERSION, SealError, SealKey};
pub use session::UploadSession;
pub use sse_admin::{KeyAdminError, ReencryptStatus, RingStore, SseKeyStatus, SseUsage};
pub use status::{ClusterStatus, DiskStatus, NodeStatus};
pub use usage::BucketUsage;
pub use users::{
    LEGACY_POLICY, ROOT_USER, User, legacy_grants_policy, legacy_user_name, validate_policy_name,
    validate_user_name,
};
pub use users_migrate::UserMigration;
pub use worker::{WorkerConfig, spawn_workers};

/// What the engine's own integration tests reach below the facade (the
/// node's disks, to inject faults); no front end uses it.
#[cfg(feature = "testing")]
pub mod testing {
    use std::sync::Arc;

    use liuma_disk::ShardStore;

    /// The node's own disks.
    pub fn disks(engine: &crate::Engine) -> &Arc<ShardStore> {
        engine.disks()
    }

    /// Move the engine's record clock forward (see the `clock` module): the
    /// times GC compares with (grace, upload expiry) pass at once.
    pub fn advance_clock(engine: &crate::Engine, by: std::time::Duration) {
        engine.inner.clock.advance(by);
    }

    /// Seal new encrypted blocks in the first envelope format (block id =
    /// hash of the envelope), as stores written before format 2 hold them.
    /// Process-wide: for tests that run in their own process (nextest).
    pub fn seal_format_1(on: bool) {
        crate::crypt::SEAL_FORMAT_1.store(on, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A body from an in-memory buffer (tests, small internal writes).
pub fn body_from_bytes(data: impl Into<bytes::Bytes>) -> ByteStream {
    let data = data.into();
    Box::pin(futures_util::stream::once(async move { Ok(data) }))
}
