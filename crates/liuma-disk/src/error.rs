//! Error type of the shard store.

use std::path::PathBuf;

use liuma_codec::BlockId;

/// Everything that can go wrong storing or reading shards.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The shard is not on this disk.
    #[error("shard {index} of block {block} not found on disk {disk}")]
    NotFound {
        /// Disk index in the store.
        disk: usize,
        /// Block id.
        block: BlockId,
        /// Shard index.
        index: u16,
    },

    /// The shard file exists but its contents are corrupt (or belong to another shard).
    /// The data is never returned.
    #[error("bitrot in shard {index} of block {block} on disk {disk}")]
    Bitrot {
        /// Disk index in the store.
        disk: usize,
        /// Block id.
        block: BlockId,
        /// Shard index.
        index: u16,
        /// What the codec found wrong.
        #[source]
        source: liuma_codec::Error,
    },

    /// Writing would take the disk below its reserve, or the OS said ENOSPC / EDQUOT.
    #[error("disk {disk} is full")]
    DiskFull {
        /// Disk index in the store.
        disk: usize,
    },

    /// Any other I/O failure on a disk.
    #[error("I/O error on disk {disk}")]
    Io {
        /// Disk index in the store.
        disk: usize,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A configured disk path is not a usable liuma disk (not a directory, bad id file,
    /// or the same disk configured twice).
    #[error("invalid disk at {path}")]
    InvalidDisk {
        /// The configured path.
        path: PathBuf,
    },

    /// The disk index is out of range.
    #[error("no disk with index {0}")]
    NoSuchDisk(usize),
}

/// Result with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
