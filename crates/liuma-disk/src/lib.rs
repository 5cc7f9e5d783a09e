//! liuma shard store: shard files on the local disks of one node.
//!
//! Layer 2 of liuma (see `docs/design.md`). Synchronous: async callers use
//! `spawn_blocking`. Depends only on `liuma-codec` (for [`BlockId`](liuma_codec::BlockId),
//! [`Shard`](liuma_codec::Shard) and frame verification), not on metadata or cluster code.
//!
//! - Paths derive only from a block id and a shard index ([`layout`]), never user input.
//! - Writes are crash safe: temp file in the target directory, fsync, rename, fsync the
//!   directory. A killed write leaves at most a temp file, ignored by reads and listings
//!   and removed by the next [`ShardStore::open`].
//! - Reads verify the frame checksum: corrupt data is reported as
//!   [`Error::Bitrot`], never returned.
//! - Each disk carries a persistent [`DiskId`] and may keep a free-space reserve; a
//!   full disk gives [`Error::DiskFull`].
//!
//! # Layout
//!
//! - [`store`]: [`ShardStore`], [`DiskConfig`], [`DiskId`], [`DiskUsage`], [`Fault`], [`ShardIter`].
//! - [`layout`]: path derivation and file naming on a disk.
//! - [`error`]: [`Error`] and [`Result`].
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use liuma_codec::{CodecParams, encode_block};
//! use liuma_disk::{DiskConfig, ShardStore};
//!
//! let dir = tempfile::tempdir()?;
//! let store = ShardStore::open(&[DiskConfig::new(dir.path().join("disk0"))])?;
//! let block = encode_block(&CodecParams::default(), Bytes::from_static(b"hello"))?;
//! store.write_shard(0, &block.shards[0])?;
//! let shard = store.read_shard(0, &block.id, 0)?;
//! assert_eq!(shard.payload, &b"hello"[..]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod error;
pub mod layout;
pub mod store;

pub use error::{Error, Result};
pub use store::{DiskConfig, DiskId, DiskUsage, Fault, ShardIter, ShardStore};
