//! Parsing of the human-friendly flag values: sizes (`4KiB`), size
//! distributions (`1MiB..64MiB`), durations (`30s`) and mixes (`get=60,put=40`).

use std::time::Duration;

use crate::error::{Error, Result};

/// Object sizes: one size, or uniform between two sizes (both included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeDist {
    /// Every object has this many bytes.
    Fixed(u64),
    /// Sizes drawn uniformly from `lo..=hi`.
    Uniform {
        /// Smallest size in bytes.
        lo: u64,
        /// Largest size in bytes.
        hi: u64,
    },
}

impl SizeDist {
    /// Parse `4KiB`, `1000000`, `1MB..64MiB`.
    pub fn parse(s: &str) -> Result<SizeDist> {
        match s.split_once("..") {
            None => Ok(SizeDist::Fixed(parse_size(s)?)),
            Some((a, b)) => {
                let (lo, hi) = (parse_size(a)?, parse_size(b)?);
                if lo > hi {
                    return Err(invalid("--size", s, "the lower bound exceeds the upper"));
                }
                Ok(SizeDist::Uniform { lo, hi })
            }
        }
    }

    /// The size for a random value `r` (deterministic: same `r`, same size).
    pub fn sample(&self, r: u64) -> u64 {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform { lo, hi } => lo + r % (hi - lo + 1),
        }
    }

    /// Largest possible size.
    pub fn max(&self) -> u64 {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform { hi, .. } => hi,
        }
    }
}

impl std::fmt::Display for SizeDist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            SizeDist::Fixed(n) => f.write_str(&human_size(n)),
            SizeDist::Uniform { lo, hi } => write!(f, "{}..{}", human_size(lo), human_size(hi)),
        }
    }
}

/// Bytes as the largest binary unit that divides them (`4KiB`, `1536B`).
pub fn human_size(n: u64) -> String {
    for (unit, mult) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n >= mult && n.is_multiple_of(mult) {
            return format!("{}{unit}", n / mult);
        }
    }
    format!("{n}B")
}

/// A size: a number with an optional unit. `KiB`/`MiB`/`GiB` and the bare
/// `K`/`M`/`G` are powers of 1024; `KB`/`MB`/`GB` are powers of 1000.
/// Units are case-insensitive.
pub fn parse_size(s: &str) -> Result<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| invalid("--size", s, "expected a number with an optional unit"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => {
            return Err(invalid(
                "--size",
                s,
                "unknown unit (B, KiB, MiB, GiB, KB, MB, GB)",
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| invalid("--size", s, "too large"))
}

/// A duration: `500ms`, `30s`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| invalid("--duration", s, "expected e.g. 30s, 500ms, 5m"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(invalid("--duration", s, "unknown unit (ms, s, m, h)")),
    })
}

/// Operation kinds a mixed workload can draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    /// PutObject.
    Put,
    /// GetObject.
    Get,
    /// DeleteObject.
    Delete,
    /// ListObjectsV2 over the whole prefix (all pages).
    List,
    /// Create + upload parts + complete.
    Multipart,
}

impl OpKind {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Put => "put",
            OpKind::Get => "get",
            OpKind::Delete => "delete",
            OpKind::List => "list",
            OpKind::Multipart => "multipart",
        }
    }
}

/// Weights of a mixed workload: `get=60,put=30,delete=10` (any positive integers).
pub fn parse_mix(s: &str) -> Result<Vec<(OpKind, u32)>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, w) = part
            .split_once('=')
            .ok_or_else(|| invalid("--mix", s, "expected op=weight[,op=weight]"))?;
        let kind = match name.trim() {
            "put" => OpKind::Put,
            "get" => OpKind::Get,
            "delete" => OpKind::Delete,
            _ => return Err(invalid("--mix", s, "ops are put, get, delete")),
        };
        let w: u32 = w
            .trim()
            .parse()
            .map_err(|_| invalid("--mix", s, "weights are integers"))?;
        if w > 0 {
            out.push((kind, w));
        }
    }
    if out.is_empty() {
        return Err(invalid("--mix", s, "no operation has a positive weight"));
    }
    Ok(out)
}

fn invalid(flag: &'static str, value: &str, reason: &'static str) -> Error {
    Error::InvalidArg {
        flag,
        value: value.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert_eq!(parse_size("1MB").unwrap(), 1_000_000);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1gib").unwrap(), 1 << 30);
        assert_eq!(parse_size("123").unwrap(), 123);
        assert_eq!(parse_size("0B").unwrap(), 0);
        for bad in ["", "KiB", "4XB", "-1", "1.5MiB", "99999999999999999999GiB"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn distributions() {
        assert_eq!(SizeDist::parse("4KiB").unwrap(), SizeDist::Fixed(4096));
        let d = SizeDist::parse("1MiB..64MiB").unwrap();
        assert_eq!(
            d,
            SizeDist::Uniform {
                lo: 1 << 20,
                hi: 64 << 20
            }
        );
        assert_eq!(d.max(), 64 << 20);
        for r in [0u64, 1, 12345, u64::MAX, 1 << 40] {
            let s = d.sample(r);
            assert!((1 << 20..=64 << 20).contains(&s));
            assert_eq!(s, d.sample(r), "deterministic");
        }
        assert_eq!(d.sample(0), 1 << 20);
        assert_eq!(SizeDist::parse("5..5").unwrap().sample(77), 5);
        assert!(SizeDist::parse("64MiB..1MiB").is_err());
        assert!(SizeDist::parse("1MiB..").is_err());
        assert_eq!(d.to_string(), "1MiB..64MiB");
        assert_eq!(SizeDist::Fixed(1000).to_string(), "1000B");
    }

    #[test]
    fn durations_and_mixes() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("7d").is_err());
        let m = parse_mix("get=60, put=30,delete=0").unwrap();
        assert_eq!(m, vec![(OpKind::Get, 60), (OpKind::Put, 30)]);
        assert!(parse_mix("get=0").is_err());
        assert!(parse_mix("list=1").is_err());
    }
}
