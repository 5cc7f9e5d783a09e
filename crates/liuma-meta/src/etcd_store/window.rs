//! Range windows: how a paged range asks etcd for bounded key ranges.
//!
//! etcd 3.4 answers a range with a limit after walking its in-memory
//! index over the *whole* range asked (to fill the answer's `count`), so
//! paging through `n` keys as "[last key, end of the range) limit 500"
//! costs O(n²): on 200 000 keys, a page at the start of a bucket took
//! 51 ms and one at its end 13 ms (BENCHMARKS.md, "Metadata bytes in
//! etcd"). Instead each page is asked over a *window*: the keys from the
//! cursor that share its first `depth` bytes, clipped to the range end.
//! The answer's `count` (keys in the window) steers the depth: a window
//! holding far more keys than a page narrows (one byte deeper), one that
//! runs out before a page is full widens. Each request then walks about
//! a page's worth of keys whatever the size of the bucket.

use crate::store::prefix_end;

/// A window holding more than this many pages' worth of keys is narrowed.
const NARROW_ABOVE_PAGES: i64 = 8;

/// The depth (bytes of the cursor kept as the window's prefix) of the next
/// window, never less than the bytes every key of the range shares (a
/// shallower window is the whole rest of the range anyway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Depth {
    depth: usize,
    floor: usize,
}

impl Depth {
    /// The first window of a range from `start` to `end`. Listings resume
    /// from just after a marker (`marker\0`) and each call starts afresh,
    /// so the first window is narrow (the keys that extend the marker) and
    /// widens until it holds a page: a few cheap requests instead of one
    /// that walks the rest of the bucket.
    pub(super) fn first(start: &[u8], end: &[u8]) -> Depth {
        let floor = start.iter().zip(end).take_while(|(a, b)| a == b).count();
        Depth {
            depth: start.len().saturating_sub(1).max(floor),
            floor,
        }
    }

    /// The depth a window from `from` can have: at most all of its bytes.
    pub(super) fn clamp(self, from: &[u8]) -> Depth {
        Depth {
            depth: self.depth.min(from.len()).max(self.floor.min(from.len())),
            ..self
        }
    }

    /// The end of the window that starts at `from`: the end of the keys
    /// sharing `from`'s first `depth` bytes, or `end` when that is nearer
    /// (or the prefix is all of `from`'s bytes up to a 0xff run).
    pub(super) fn window_end(self, from: &[u8], end: &[u8]) -> Vec<u8> {
        let prefix = &from[..self.depth.min(from.len())];
        let window = prefix_end(prefix);
        if window == [0] || (!is_open(end) && window.as_slice() >= end) {
            end.to_vec()
        } else {
            window
        }
    }

    /// The depth after a window that held `count` keys, of which a page
    /// of `want` was asked; `exhausted` when the window had no more keys.
    /// An empty window widens by two bytes at once (it says nothing about
    /// how far the next keys are).
    pub(super) fn adapt(self, count: i64, want: usize, exhausted: bool) -> Depth {
        let want = i64::try_from(want).unwrap_or(i64::MAX).max(1);
        let depth = if count > want.saturating_mul(NARROW_ABOVE_PAGES) {
            self.depth + 1
        } else if exhausted && count < want {
            let step = if count == 0 { 2 } else { 1 };
            self.depth.saturating_sub(step).max(self.floor)
        } else {
            self.depth
        };
        Depth { depth, ..self }
    }
}

/// `[0]` as a range end means "no end".
fn is_open(end: &[u8]) -> bool {
    end == [0]
}

/// True when a window ending at `window_end` reached the range's `end`.
pub(super) fn reaches(window_end: &[u8], end: &[u8]) -> bool {
    window_end == end || (!is_open(end) && window_end >= end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(depth: usize, floor: usize) -> Depth {
        Depth { depth, floor }
    }

    #[test]
    fn a_scan_from_the_start_of_a_range_asks_the_whole_range() {
        let d = Depth::first(b"ob/b\0", b"ob/b\x01");
        assert_eq!(d, at(4, 4));
        assert_eq!(d.window_end(b"ob/b\0", b"ob/b\x01"), b"ob/b\x01");
    }

    #[test]
    fn a_listing_after_a_marker_starts_narrow() {
        let d = Depth::first(b"ob/b\0k042\0", b"ob/b\x01");
        assert_eq!(d, at(9, 4));
        assert_eq!(d.window_end(b"ob/b\0k042\0", b"ob/b\x01"), b"ob/b\0k043");
    }

    #[test]
    fn windows_are_clipped_to_the_range() {
        let end = b"ob/b\x01";
        assert_eq!(at(7, 4).window_end(b"ob/b\0k042", end), b"ob/b\0k1");
        assert_eq!(at(2, 0).window_end(b"ob/b\0k042", end), end);
        // A prefix of 0xff bytes has no end of its own.
        assert_eq!(at(2, 0).window_end(b"\xff\xffa", b"\x00"), b"\x00");
        // Deeper than the cursor: the keys that extend it.
        assert_eq!(at(20, 4).clamp(b"ob/b\0k"), at(6, 4));
        assert_eq!(at(20, 4).window_end(b"ob/b\0k", end), b"ob/b\0l");
    }

    #[test]
    fn depth_follows_the_counts() {
        let d = at(6, 4);
        assert_eq!(
            d.adapt(100_000, 500, false),
            at(7, 4),
            "far too many keys: narrow"
        );
        assert_eq!(d.adapt(3_000, 500, false), d, "a few pages: keep");
        assert_eq!(d.adapt(10, 500, true), at(5, 4), "ran out early: widen");
        assert_eq!(d.adapt(0, 500, true), at(4, 4), "empty: widen faster");
        assert_eq!(
            at(4, 4).adapt(0, 500, true),
            at(4, 4),
            "never below the floor"
        );
    }

    #[test]
    fn reaching_the_end() {
        assert!(reaches(b"b", b"b"));
        assert!(reaches(b"c", b"b"));
        assert!(!reaches(b"a", b"b"));
        assert!(!reaches(b"zzz", b"\x00"));
    }
}
