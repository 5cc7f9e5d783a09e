//! liuma block codec: turns a block of bytes into self-describing shards and back.
//!
//! Layer 1 of liuma (see `docs/design.md`): pure and synchronous, no I/O, no tokio.
//! Async callers run it under `spawn_blocking`. It depends on nothing else in liuma;
//! the shard store (`liuma-disk`) uses its [`BlockId`] and [`Shard`] types.
//!
//! A block is identified by the BLAKE3 of its plain bytes ([`BlockId`]). Encoding
//! compresses it with zstd when that saves at least `min_saving_percent`, then either
//! stores m + 1 whole replicas (small blocks, or k = 1) or stripes it into k data +
//! m parity Reed-Solomon shards. Every shard is framed with a checksummed header
//! ([`mod@format`]) so that it can be verified and re-indexed on its own. Decoding takes any
//! k good frames, ignores corrupt or foreign ones, reports which indices need repair and
//! verifies the result against the block id.
//!
//! # Layout
//!
//! - [`id`]: [`BlockId`], BLAKE3 of the plain block, hex form.
//! - [`compress`]: zstd with a sampled "is it worth it" probe.
//! - [`erasure`]: systematic Reed-Solomon striping (`reed-solomon-simd`).
//! - [`mod@format`]: the shard frame, byte by byte; [`parse_shard`].
//! - `block`: [`CodecParams`], [`encode_block`], [`decode_block`], [`rebuild_shards`].
//! - [`error`]: [`Error`] and [`Result`].
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use liuma_codec::{BlockId, CodecParams, decode_block_report, encode_block, rebuild_shards};
//!
//! let params = CodecParams {
//!     data_shards: 4,
//!     parity_shards: 2,
//!     replicate_below: 0, // stripe even this small block
//!     ..CodecParams::default()
//! };
//! let plain = Bytes::from("hello liuma! ".repeat(1000));
//! let block = encode_block(&params, plain.clone())?;
//! assert_eq!(block.id, BlockId::of(&plain));
//! assert_eq!(block.shards.len(), 6);
//!
//! // Frames as they would come back from disks: lose two, corrupt none.
//! let mut frames: Vec<Option<Bytes>> =
//!     block.shards.iter().map(|s| Some(Bytes::from(s.to_frame()))).collect();
//! frames[1] = None;
//! frames[4] = None;
//! let (decoded, bad) = decode_block_report(&frames)?;
//! assert_eq!(decoded, plain);
//! assert_eq!(bad, vec![1, 4]);
//!
//! // Repair: rebuild the missing shards byte for byte.
//! let rebuilt = rebuild_shards(&frames, &bad)?;
//! assert_eq!(rebuilt[0].to_frame(), block.shards[1].to_frame());
//! # Ok::<(), liuma_codec::Error>(())
//! ```

mod block;
pub mod compress;
pub mod erasure;
pub mod error;
pub mod format;
pub mod id;

pub use block::{
    CodecParams, EncodedBlock, decode_block, decode_block_expect, decode_block_expect_as,
    decode_block_fast, decode_block_fast_as, decode_block_report, decode_block_unverified,
    encode_block, encode_block_with_id, is_opaque, rebuild_shards,
};
pub use error::{Error, Result};
pub use format::{
    FORMAT_VERSION, MAGIC, MAX_BLOCK_LEN, SHARD_HEADER_LEN, Shard, ShardHeader, parse_shard,
    rs_shard_len,
};
pub use id::BlockId;
