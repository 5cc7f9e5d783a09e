//! A minimal MessagePack reader for the listing's hot path.
//!
//! `rmp_serde` validates every string it meets as UTF-8, field names and
//! skipped values included, and walks skipped values through serde's
//! visitor machinery: in a profile of a 1 000-key ListObjectsV2 page that
//! was 16 % of the server's CPU (BENCHMARKS.md, "Listing profile"). This
//! reader matches field names as bytes and skips values by their length
//! prefix without looking inside them. It reads what `rmp_serde`
//! writes and nothing more; callers fall back to `rmp_serde` on `None`.

/// A cursor over MessagePack bytes; every read returns `None` on input it
/// does not understand (truncated, or a type the caller did not expect).
pub(crate) struct Scan<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Scan { buf, at: 0 }
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.buf.get(self.at..end)?;
        self.at = end;
        Some(s)
    }

    fn be(&mut self, n: usize) -> Option<u64> {
        Some(
            self.take(n)?
                .iter()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
        )
    }

    fn len(&mut self, n: usize) -> Option<usize> {
        usize::try_from(self.be(n)?).ok()
    }

    /// The length of a map.
    pub(crate) fn map_len(&mut self) -> Option<usize> {
        match self.byte()? {
            m @ 0x80..=0x8f => Some(usize::from(m & 0x0f)),
            0xde => self.len(2),
            0xdf => self.len(4),
            _ => None,
        }
    }

    /// The length of an array.
    pub(crate) fn array_len(&mut self) -> Option<usize> {
        match self.byte()? {
            m @ 0x90..=0x9f => Some(usize::from(m & 0x0f)),
            0xdc => self.len(2),
            0xdd => self.len(4),
            _ => None,
        }
    }

    /// A string's bytes, not checked as UTF-8.
    pub(crate) fn str_bytes(&mut self) -> Option<&'a [u8]> {
        let n = match self.byte()? {
            m @ 0xa0..=0xbf => usize::from(m & 0x1f),
            0xd9 => self.len(1)?,
            0xda => self.len(2)?,
            0xdb => self.len(4)?,
            _ => return None,
        };
        self.take(n)
    }

    /// A string, checked as UTF-8 (only the strings a caller keeps).
    pub(crate) fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.str_bytes()?).ok()
    }

    pub(crate) fn bool(&mut self) -> Option<bool> {
        match self.byte()? {
            0xc2 => Some(false),
            0xc3 => Some(true),
            _ => None,
        }
    }

    /// A non-negative integer of any width.
    pub(crate) fn uint(&mut self) -> Option<u64> {
        match self.byte()? {
            m @ 0x00..=0x7f => Some(u64::from(m)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            // rmp_serde writes non-negative values of signed fields as
            // signed when they are; only non-negative ones are accepted.
            0xd0 => self.be(1).filter(|v| *v < 0x80),
            0xd1 => self.be(2).filter(|v| *v < 0x8000),
            0xd2 => self.be(4).filter(|v| *v < 0x8000_0000),
            0xd3 => self.be(8).filter(|v| *v < 0x8000_0000_0000_0000),
            _ => None,
        }
    }

    /// Skips one value, whatever its type (containers with their contents).
    pub(crate) fn skip(&mut self) -> Option<()> {
        // Values left to skip: containers add their elements (a loop, not
        // recursion, so nesting depth cannot overflow the stack).
        let mut pending: usize = 1;
        while pending > 0 {
            pending -= 1;
            let m = self.byte()?;
            let skip = match m {
                0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 0,
                0x80..=0x8f => {
                    pending = pending.checked_add(2 * usize::from(m & 0x0f))?;
                    0
                }
                0x90..=0x9f => {
                    pending = pending.checked_add(usize::from(m & 0x0f))?;
                    0
                }
                0xa0..=0xbf => usize::from(m & 0x1f),
                0xc4 | 0xd9 => self.len(1)?,
                0xc5 | 0xda => self.len(2)?,
                0xc6 | 0xdb => self.len(4)?,
                0xc7 => self.len(1)?.checked_add(1)?,
                0xc8 => self.len(2)?.checked_add(1)?,
                0xc9 => self.len(4)?.checked_add(1)?,
                0xca => 4,
                0xcb => 8,
                0xcc | 0xd0 => 1,
                0xcd | 0xd1 => 2,
                0xce | 0xd2 => 4,
                0xcf | 0xd3 => 8,
                0xd4 => 2,
                0xd5 => 3,
                0xd6 => 5,
                0xd7 => 9,
                0xd8 => 17,
                0xdc => {
                    pending = pending.checked_add(self.len(2)?)?;
                    0
                }
                0xdd => {
                    pending = pending.checked_add(self.len(4)?)?;
                    0
                }
                0xde => {
                    pending = pending.checked_add(self.len(2)?.checked_mul(2)?)?;
                    0
                }
                0xdf => {
                    pending = pending.checked_add(self.len(4)?.checked_mul(2)?)?;
                    0
                }
                0xc1 => return None,
            };
            self.take(skip)?;
        }
        Some(())
    }

    /// All input read?
    pub(crate) fn done(&self) -> bool {
        self.at == self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    struct Everything {
        a: u8,
        b: u64,
        c: i64,
        d: f64,
        e: Option<String>,
        f: Vec<(String, String)>,
        g: std::collections::BTreeMap<String, Vec<u32>>,
        #[serde(with = "serde_bytes_like")]
        h: Vec<u8>,
        i: bool,
        j: String,
    }

    mod serde_bytes_like {
        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    #[test]
    fn skips_every_kind_rmp_serde_writes() {
        let mut g = std::collections::BTreeMap::new();
        g.insert("x".repeat(40), (0..70).collect());
        let v = Everything {
            a: 200,
            b: u64::MAX,
            c: -5_000_000_000,
            d: 1.5,
            e: Some("y".repeat(300)),
            f: vec![("k".into(), "v".repeat(70_000))],
            g,
            h: vec![1; 70_000],
            i: true,
            j: "tail".into(),
        };
        let bytes = rmp_serde::to_vec_named(&v).unwrap();
        let mut s = Scan::new(&bytes);
        let n = s.map_len().unwrap();
        assert_eq!(n, 10);
        for _ in 0..n - 1 {
            s.str_bytes().unwrap();
            s.skip().unwrap();
        }
        assert_eq!(s.str(), Some("j"));
        assert_eq!(s.str(), Some("tail"));
        assert!(s.done());
    }

    #[test]
    fn truncated_or_unknown_input_is_none() {
        let bytes = rmp_serde::to_vec_named(&("abc".to_owned(), 7u64)).unwrap();
        for cut in 0..bytes.len() {
            let mut s = Scan::new(&bytes[..cut]);
            let whole = s.skip().is_some() && s.done();
            assert!(!whole || cut == bytes.len());
        }
        assert_eq!(Scan::new(&[0xc1]).skip(), None);
        assert_eq!(Scan::new(&[0xd0, 0xff]).uint(), None, "negative");
        assert_eq!(Scan::new(&[0xcd, 0x01, 0x00]).uint(), Some(256));
    }
}
