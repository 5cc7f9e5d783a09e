//! Engine tests against the real redb store and real shard files in temp dirs,
//! one module per scenario (one test binary: each extra binary is another link).

mod common;
mod gc;
mod multipart;
mod objects;
mod repair;
mod sse;
mod usage;
mod versions;
