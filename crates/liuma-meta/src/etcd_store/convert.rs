//! Translation between liuma's [`MetaStore`](crate::MetaStore) model and etcd requests:
//! key namespacing, compares, and the normalisation of transaction op lists that etcd would
//! otherwise refuse.
//!
//! # Why ops are normalised
//!
//! liuma's [`Txn`] applies its ops in order, so a later op on a key overrides an earlier one
//! (`put k; put k`, `delete_range a..z; put m`). etcd refuses such lists outright ("duplicate
//! key given in txn request"): within one branch it allows no two puts of the same key and no
//! put inside a deleted range. [`normalize`] rewrites each branch into an equivalent list that
//! etcd accepts, with the same final state:
//!
//! - a put that a later op of the branch overwrites or deletes is dropped;
//! - a delete (point or range) has every key that a *later* surviving put writes carved out of
//!   it (`[a, z)` with a later `put m` becomes `[a, m)` and `[m\0, z)`).
//!
//! Two consequences differ from the redb backend, both only for such self-overlapping
//! branches: a watch sees one event per key (the final one) instead of one per op, and a key
//! deleted and re-put in the same branch keeps its `create_revision`. Carving can turn one
//! range into several; a branch that ends up with more than [`MAX_TXN_OPS`] ops is refused
//! with [`Error::TooManyOps`] before anything is sent.

use etcd_client::{
    Compare as EtcdCompare, CompareOp, DeleteOptions, PutOptions, Txn as EtcdTxn, TxnOp,
};

use crate::error::{Error, Result};
use crate::store::{
    Compare, KeyValue, LeaseId, MAX_TXN_OPS, Op, Revision, Txn, is_unbounded_end, key_after,
    prefix_end,
};

/// The key prefix every liuma key lives under in etcd, so that several clusters (or test runs)
/// can share one etcd. Keys are `prefix ++ key`; the prefix is stripped on the way out.
#[derive(Clone, Debug)]
pub(super) struct Namespace {
    prefix: Vec<u8>,
    /// `prefix_end(prefix)`: the etcd range end standing for liuma's unbounded end `[0]`.
    end: Vec<u8>,
}

impl Namespace {
    pub(super) fn new(prefix: &[u8]) -> Namespace {
        Namespace {
            prefix: prefix.to_vec(),
            end: prefix_end(prefix),
        }
    }

    /// The etcd key of a liuma key.
    pub(super) fn key(&self, key: &[u8]) -> Vec<u8> {
        [self.prefix.as_slice(), key].concat()
    }

    /// The etcd range end of a liuma range end (`[0]` = the end of the namespace).
    pub(super) fn end(&self, end: &[u8]) -> Vec<u8> {
        if is_unbounded_end(end) {
            self.end.clone()
        } else {
            self.key(end)
        }
    }

    /// The etcd range covering every liuma key that starts with `prefix`.
    pub(super) fn prefix_range(&self, prefix: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let key = self.key(prefix);
        let end = prefix_end(&key);
        (key, end)
    }

    /// The liuma key of an etcd key, or `None` for a key outside the namespace (which etcd
    /// never returns for our requests; checked anyway rather than trusted).
    pub(super) fn strip(&self, key: &[u8]) -> Option<Vec<u8>> {
        key.strip_prefix(self.prefix.as_slice()).map(<[u8]>::to_vec)
    }

    /// Converts a key-value returned by etcd; `None` when it lies outside the namespace.
    pub(super) fn key_value(&self, kv: &etcd_client::KeyValue) -> Option<KeyValue> {
        Some(KeyValue {
            key: self.strip(kv.key())?,
            value: kv.value().to_vec(),
            create_revision: revision(kv.create_revision()),
            mod_revision: revision(kv.mod_revision()),
            lease: (kv.lease() != 0).then_some(LeaseId(kv.lease())),
        })
    }
}

/// etcd revisions are `i64`s that are never negative.
pub(super) fn revision(rev: i64) -> Revision {
    Revision::try_from(rev).unwrap_or(0)
}

/// One compare in etcd terms.
fn compare(ns: &Namespace, c: &Compare) -> EtcdCompare {
    match c {
        // A missing key has version 0; every live key has version >= 1.
        Compare::Absent(k) => EtcdCompare::version(ns.key(k), CompareOp::Equal, 0),
        Compare::Exists(k) => EtcdCompare::version(ns.key(k), CompareOp::Greater, 0),
        Compare::ModRevision(k, rev) => match i64::try_from(*rev) {
            Ok(rev) if rev > 0 => EtcdCompare::mod_revision(ns.key(k), CompareOp::Equal, rev),
            // etcd's `mod_revision == 0` holds for a missing key, but liuma's
            // `ModRevision(k, 0)` never holds. `mod_revision < 0` never holds in etcd either.
            _ => EtcdCompare::mod_revision(ns.key(k), CompareOp::Less, 0),
        },
        // etcd fails a value compare on a missing key, as liuma requires.
        Compare::Value(k, v) => EtcdCompare::value(ns.key(k), CompareOp::Equal, v.clone()),
    }
}

/// A write after normalisation: no two puts of one key, no put inside a delete.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Write {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    },
    /// Delete `[start, end)`; `end == None` means no upper bound.
    Delete {
        start: Vec<u8>,
        end: Option<Vec<u8>>,
    },
}

/// `[start, end)` of a delete op, or `None` for an empty range.
fn delete_bounds(op: &Op) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    match op {
        Op::Put { .. } => None,
        Op::Delete { key } => Some((key.clone(), Some(key_after(key)))),
        Op::DeleteRange { start, end } if is_unbounded_end(end) => Some((start.clone(), None)),
        Op::DeleteRange { start, end } if end > start => Some((start.clone(), Some(end.clone()))),
        Op::DeleteRange { .. } => None,
    }
}

fn covers(start: &[u8], end: Option<&[u8]>, key: &[u8]) -> bool {
    key >= start && end.is_none_or(|e| key < e)
}

/// Rewrites one branch so that etcd accepts it, keeping its final effect (see the module docs).
fn normalize(ops: &[Op]) -> Vec<Write> {
    let bounds: Vec<_> = ops.iter().map(delete_bounds).collect();
    let put_survives = |i: usize, key: &[u8]| {
        ops[i + 1..].iter().zip(&bounds[i + 1..]).all(|(op, b)| {
            let overwritten = matches!(op, Op::Put { key: k, .. } if k.as_slice() == key);
            let deleted = b
                .as_ref()
                .is_some_and(|(s, e)| covers(s, e.as_deref(), key));
            !overwritten && !deleted
        })
    };
    let surviving: Vec<bool> = ops
        .iter()
        .enumerate()
        .map(|(i, op)| match op {
            Op::Put { key, .. } => put_survives(i, key),
            _ => bounds[i].is_some(),
        })
        .collect();

    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        if !surviving[i] {
            continue;
        }
        if let Op::Put { key, value, lease } = op {
            out.push(Write::Put {
                key: key.clone(),
                value: value.clone(),
                lease: *lease,
            });
            continue;
        }
        let Some((start, end)) = &bounds[i] else {
            continue;
        };
        // Keys written by later surviving puts inside this range, in order.
        let mut holes: Vec<&[u8]> = ops[i + 1..]
            .iter()
            .zip(&surviving[i + 1..])
            .filter_map(|(op, &alive)| match op {
                Op::Put { key, .. } if alive && covers(start, end.as_deref(), key) => {
                    Some(key.as_slice())
                }
                _ => None,
            })
            .collect();
        holes.sort_unstable();
        holes.dedup();
        let mut from = start.clone();
        for hole in holes {
            if from.as_slice() < hole {
                out.push(Write::Delete {
                    start: from,
                    end: Some(hole.to_vec()),
                });
            }
            from = key_after(hole);
        }
        if end.as_ref().is_none_or(|e| &from < e) {
            out.push(Write::Delete {
                start: from,
                end: end.clone(),
            });
        }
    }
    out
}

/// One normalised write as an etcd txn op.
fn txn_op(ns: &Namespace, w: Write) -> TxnOp {
    match w {
        Write::Put { key, value, lease } => {
            let opts = lease.map(|l| PutOptions::new().with_lease(l.0));
            TxnOp::put(ns.key(&key), value, opts)
        }
        Write::Delete { start, end } => {
            let range_end = match end {
                // A point delete is sent as one (etcd's cheapest form).
                Some(e) if e == key_after(&start) => None,
                Some(e) => Some(ns.key(&e)),
                None => Some(ns.end(&[0])),
            };
            let opts = range_end.map(|e| DeleteOptions::new().with_range(e));
            TxnOp::delete(ns.key(&start), opts)
        }
    }
}

fn branch(ns: &Namespace, ops: &[Op]) -> Result<Vec<TxnOp>> {
    let writes = normalize(ops);
    if writes.len() > MAX_TXN_OPS {
        return Err(Error::TooManyOps {
            ops: writes.len(),
            max: MAX_TXN_OPS,
        });
    }
    Ok(writes.into_iter().map(|w| txn_op(ns, w)).collect())
}

/// The etcd transaction for a (validated) liuma [`Txn`].
pub(super) fn txn(ns: &Namespace, txn: &Txn) -> Result<EtcdTxn> {
    let compares: Vec<EtcdCompare> = txn.compares.iter().map(|c| compare(ns, c)).collect();
    Ok(EtcdTxn::new()
        .when(compares)
        .and_then(branch(ns, &txn.success)?)
        .or_else(branch(ns, &txn.failure)?))
}

/// Every distinct lease a transaction's puts name, in order of first use.
pub(super) fn leases_of(txn: &Txn) -> Vec<LeaseId> {
    let mut leases = Vec::new();
    for op in txn.success.iter().chain(&txn.failure) {
        if let Op::Put { lease: Some(l), .. } = op
            && !leases.contains(l)
        {
            leases.push(*l);
        }
    }
    leases
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str) -> Op {
        Op::put(k, "v")
    }

    fn w_put(k: &str) -> Write {
        Write::Put {
            key: k.into(),
            value: b"v".to_vec(),
            lease: None,
        }
    }

    fn w_del(s: &[u8], e: Option<&[u8]>) -> Write {
        Write::Delete {
            start: s.to_vec(),
            end: e.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn distinct_keys_are_kept_in_order() {
        let ops = [put("b"), put("a"), Op::delete("c")];
        assert_eq!(
            normalize(&ops),
            [w_put("b"), w_put("a"), w_del(b"c", Some(b"c\0"))]
        );
    }

    #[test]
    fn a_later_put_wins() {
        let ops = [Op::put("x", "first"), Op::put("x", "second")];
        assert_eq!(
            normalize(&ops),
            [Write::Put {
                key: b"x".to_vec(),
                value: b"second".to_vec(),
                lease: None
            }]
        );
    }

    #[test]
    fn a_later_delete_drops_the_put() {
        let ops = [put("a"), put("m"), Op::delete_range("a", "c")];
        assert_eq!(normalize(&ops), [w_put("m"), w_del(b"a", Some(b"c"))]);
    }

    #[test]
    fn later_puts_are_carved_out_of_earlier_deletes() {
        let ops = [
            Op::delete_range("a", [0]),
            put("m"),
            put("c"),
            Op::delete("q"),
            put("q"),
        ];
        assert_eq!(
            normalize(&ops),
            [
                w_del(b"a", Some(b"c")),
                w_del(b"c\0", Some(b"m")),
                w_del(b"m\0", Some(b"q")),
                w_del(b"q\0", None),
                w_put("m"),
                w_put("c"),
                w_put("q"),
            ]
        );
        // Put at the range start and at the last key of a bounded range.
        let ops = [Op::delete_range("a", "b"), put("a"), put("a\0")];
        assert_eq!(
            normalize(&ops),
            [w_del(b"a\0\0", Some(b"b")), w_put("a"), w_put("a\0")]
        );
    }

    #[test]
    fn empty_ranges_disappear() {
        let ops = [
            Op::delete_range("b", "a"),
            Op::delete_range("b", "b"),
            Op::delete("k"),
        ];
        let mut with_put = ops.to_vec();
        with_put.push(put("k"));
        assert_eq!(normalize(&ops), [w_del(b"k", Some(b"k\0"))]);
        assert_eq!(normalize(&with_put), [w_put("k")]);
    }

    #[test]
    fn namespace_maps_unbounded_end_to_the_namespace_end() {
        let ns = Namespace::new(b"/liuma/");
        assert_eq!(ns.key(b"k"), b"/liuma/k");
        assert_eq!(ns.end(&[0]), b"/liuma0");
        assert_eq!(ns.end(b"z"), b"/liuma/z");
        assert_eq!(ns.strip(b"/liuma/k"), Some(b"k".to_vec()));
        assert_eq!(ns.strip(b"/other/k"), None);
        let (start, end) = ns.prefix_range(b"");
        assert_eq!(
            (start.as_slice(), end.as_slice()),
            (&b"/liuma/"[..], &b"/liuma0"[..])
        );
    }

    #[test]
    fn leases_are_listed_once() {
        let t = Txn::new()
            .and_then(Op::put_with_lease("a", "v", LeaseId(7)))
            .and_then(Op::put_with_lease("b", "v", LeaseId(7)))
            .or_else(Op::put_with_lease("c", "v", LeaseId(9)));
        assert_eq!(leases_of(&t), [LeaseId(7), LeaseId(9)]);
    }
}
