//! Error type of the block codec.

use crate::id::BlockId;

/// Everything that can go wrong while encoding, parsing or decoding blocks and shards.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A block id string is not 64 hex characters.
    #[error("invalid block id {input:?}: expected 64 hex characters")]
    InvalidBlockId {
        /// The rejected input (cut to at most 80 characters).
        input: String,
    },

    /// The codec parameters are out of range (`k >= 1`, `k + m <= 255`, valid zstd level).
    #[error("invalid codec parameters: {data_shards}+{parity_shards}, zstd level {zstd_level}")]
    InvalidParams {
        /// Requested data shards (k).
        data_shards: u16,
        /// Requested parity shards (m).
        parity_shards: u16,
        /// Requested zstd level.
        zstd_level: i32,
    },

    /// The block is larger than [`crate::MAX_BLOCK_LEN`].
    #[error("block of {len} bytes exceeds the maximum of {max} bytes")]
    BlockTooLarge {
        /// Length of the rejected block.
        len: u64,
        /// The maximum, [`crate::MAX_BLOCK_LEN`].
        max: u64,
    },

    /// The frame does not start with the shard magic `LMSH`.
    #[error("bad shard magic {found:02x?}")]
    BadMagic {
        /// The first four bytes found.
        found: [u8; 4],
    },

    /// The frame has a format version this build does not know.
    #[error("unsupported shard format version {version}")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },

    /// The frame is shorter than its header says.
    #[error("truncated shard frame: expected {expected} bytes, got {got}")]
    Truncated {
        /// Bytes the frame should have.
        expected: usize,
        /// Bytes it has.
        got: usize,
    },

    /// The frame is longer than its header says.
    #[error("shard frame has trailing bytes: expected {expected} bytes, got {got}")]
    TrailingBytes {
        /// Bytes the frame should have.
        expected: usize,
        /// Bytes it has.
        got: usize,
    },

    /// The frame's BLAKE3 checksum does not match its contents.
    #[error("checksum mismatch in shard {index} of block {block}")]
    ChecksumMismatch {
        /// Block id claimed by the (unverified) header.
        block: BlockId,
        /// Shard index claimed by the (unverified) header.
        index: u16,
    },

    /// A checksummed header field holds an impossible value (written by a buggy or foreign encoder).
    #[error("invalid shard header field `{field}` in shard {index} of block {block}")]
    InvalidHeader {
        /// Block id from the header.
        block: BlockId,
        /// Shard index from the header.
        index: u16,
        /// Name of the offending field.
        field: &'static str,
    },

    /// A shard is valid but is not the one that was asked for.
    #[error(
        "expected shard {expected_index} of block {expected}, found shard {found_index} of block {found}"
    )]
    WrongShard {
        /// Block id that was asked for.
        expected: BlockId,
        /// Shard index that was asked for.
        expected_index: u16,
        /// Block id found in the header.
        found: BlockId,
        /// Shard index found in the header.
        found_index: u16,
    },

    /// The decoded block does not hash to its block id.
    #[error("decoded block hashes to {actual}, expected {expected}")]
    BlockIdMismatch {
        /// Block id recorded in the shards.
        expected: BlockId,
        /// BLAKE3 of the decoded bytes.
        actual: BlockId,
    },

    /// Fewer than k good shards are available.
    #[error(
        "not enough good shards for block {}: have {have}, need {need}",
        DisplayBlock(block)
    )]
    NotEnoughShards {
        /// The block, if at least one valid shard told us which one.
        block: Option<BlockId>,
        /// Good shards found.
        have: usize,
        /// Shards needed (k; 1 when no shard could be parsed at all).
        need: usize,
    },

    /// The caller passed a slice whose length is not the block's k + m.
    #[error("block {block} has {expected} shards, but {got} slots were given")]
    ShardCountMismatch {
        /// The block.
        block: BlockId,
        /// k + m from the shard headers.
        expected: usize,
        /// Length of the given slice.
        got: usize,
    },

    /// A requested shard index is not below k + m.
    #[error("shard index {index} out of range for block {block} with {total} shards")]
    InvalidShardIndex {
        /// The block.
        block: BlockId,
        /// The requested index.
        index: u16,
        /// k + m.
        total: usize,
    },

    /// zstd failed to compress a block.
    #[error("zstd compression failed")]
    Compress(#[source] std::io::Error),

    /// zstd failed to decompress a block, or produced the wrong length.
    #[error("zstd decompression of block {block} failed")]
    Decompress {
        /// The block.
        block: BlockId,
        /// The zstd error.
        #[source]
        source: std::io::Error,
    },

    /// The Reed-Solomon library rejected an operation.
    #[error("reed-solomon failure on block {block}")]
    ErasureCoding {
        /// The block.
        block: BlockId,
        /// The library's error.
        #[source]
        source: reed_solomon_simd::Error,
    },
}

/// Result with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

struct DisplayBlock<'a>(&'a Option<BlockId>);

impl std::fmt::Display for DisplayBlock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(id) => write!(f, "{id}"),
            None => f.write_str("<unknown>"),
        }
    }
}
