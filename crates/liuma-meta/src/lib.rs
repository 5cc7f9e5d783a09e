//! liuma's metadata store: a small etcd-like key-value interface ([`MetaStore`]) with
//! ordered range scans, multi-key compare-and-swap transactions, prefix watches and leases,
//! plus its embedded backend on [redb](https://docs.rs/redb) ([`RedbStore`]) and, with the
//! `etcd` feature, a backend on etcd v3 for clusters (`EtcdStore`).
//!
//! This is layer 3 of liuma (see `DESIGN.md`): the object engine and the cluster layer keep
//! all their records here, and this crate is the only place that knows which backend is in
//! use. It depends on no other liuma crate. Both backends pass the same `conformance` suite.
//!
//! Portable limits every caller must respect, whatever the backend: at most [`MAX_TXN_OPS`]
//! entries per transaction list, values up to [`MAX_VALUE_SIZE`], keys up to
//! [`MAX_KEY_SIZE`].
//!
//! # Layout
//!
//! - `store`: the [`MetaStore`] trait and its types ([`Txn`], [`Compare`], [`Op`], [`Watch`],
//!   [`KeyValue`], ...), and the range helpers [`prefix_end`] and [`key_after`].
//! - `redb_store`: [`RedbStore`], the embedded backend: group-commit writer thread, MVCC reads
//!   on the blocking pool, in-memory lease timers; its on-disk format is documented in
//!   `redb_store/format.rs`.
//! - `etcd_store` (feature `etcd`): `EtcdStore`, the cluster backend: key namespace, op
//!   normalisation for etcd's txn rules, retries with backoff, resumable watches.
//! - `conformance` (feature `testing`): the behaviour every backend must show, as public
//!   async checks.
//! - `testing` (feature `testing`): `TestEtcd`, a throwaway etcd process for tests.
//!
//! The feature `testing` keeps test support out of the release binary; the crates whose
//! tests use it enable it in their dev-dependencies.
//! - `error`: [`Error`] and [`Result`].
//!
//! # Example
//!
//! ```
//! use liuma_meta::{Compare, DynMetaStore, MetaStore, Op, RedbStore, Txn};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store: DynMetaStore = RedbStore::open(&dir.path().join("meta.redb"))?;
//!
//! let rev = store.put(b"buckets/photos", b"{}").await?;
//! let kv = store.get(b"buckets/photos").await?.expect("just written");
//! assert_eq!(kv.value, b"{}");
//! assert_eq!(kv.mod_revision, rev);
//!
//! // Compare-and-swap: create only if absent.
//! let txn = Txn::new()
//!     .when(Compare::Absent(b"buckets/photos".to_vec()))
//!     .and_then(Op::put("buckets/photos", "{\"v\":2}"));
//! assert!(!store.txn(txn).await?.succeeded);
//! # Ok(())
//! # }
//! ```

mod cached;
#[cfg(feature = "testing")]
pub mod conformance;
mod error;
#[cfg(feature = "etcd")]
mod etcd_store;
mod packed;
mod redb_store;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use cached::CachedStore;
pub use error::{AccessProblem, Error, Fault, Health, Result};
#[cfg(feature = "etcd")]
pub use etcd_store::{
    AuthSetup, AuthUser, EtcdConfig, EtcdSecurity, EtcdStore, RetryPolicy, ensure_auth,
};
pub use packed::PackedRows;
pub use redb_store::{RedbConfig, RedbStore, WriterStats};
pub use store::{
    Compare, DynMetaStore, EventKind, KeyValue, LeaseId, MAX_KEY_SIZE, MAX_TXN_OPS, MAX_VALUE_SIZE,
    MetaStore, Op, Revision, Txn, TxnResponse, Watch, WatchEvent, key_after, prefix_end,
};
