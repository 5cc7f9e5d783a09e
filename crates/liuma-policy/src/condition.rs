//! Policy Condition blocks: parsing (operators, qualifiers, values checked
//! up front so a bad CIDR or date is a MalformedPolicy, not a silent
//! mismatch) and evaluation against a request's context, with IAM's rules
//! for missing keys, `...IfExists`, `ForAnyValue:` / `ForAllValues:`.

use std::net::IpAddr;

use serde_json::Value;

use crate::error::PolicyError;
use crate::policy::{Principal, Request};
use crate::wildcard;

/// The comparison family of an operator (negation is separate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    IpAddress,
    ArnEquals,
    ArnLike,
    Null,
}

/// How a multi-valued request key is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Qualifier {
    None,
    ForAnyValue,
    ForAllValues,
}

/// One `"Operator": {"key": values}` entry, for one key.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub(crate) base: Base,
    pub(crate) negated: bool,
    pub(crate) if_exists: bool,
    pub(crate) qualifier: Qualifier,
    /// Lowercase (condition keys are case-insensitive).
    pub(crate) key: String,
    pub(crate) values: Vec<String>,
}

fn operator(name: &str) -> Option<(Base, bool)> {
    use Base::*;
    Some(match name {
        "StringEquals" => (StringEquals, false),
        "StringNotEquals" => (StringEquals, true),
        "StringEqualsIgnoreCase" => (StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (StringEqualsIgnoreCase, true),
        "StringLike" => (StringLike, false),
        "StringNotLike" => (StringLike, true),
        "NumericEquals" => (NumericEquals, false),
        "NumericNotEquals" => (NumericEquals, true),
        "NumericLessThan" => (NumericLessThan, false),
        "NumericLessThanEquals" => (NumericLessThanEquals, false),
        "NumericGreaterThan" => (NumericGreaterThan, false),
        "NumericGreaterThanEquals" => (NumericGreaterThanEquals, false),
        "DateEquals" => (DateEquals, false),
        "DateNotEquals" => (DateEquals, true),
        "DateLessThan" => (DateLessThan, false),
        "DateLessThanEquals" => (DateLessThanEquals, false),
        "DateGreaterThan" => (DateGreaterThan, false),
        "DateGreaterThanEquals" => (DateGreaterThanEquals, false),
        "Bool" => (Bool, false),
        "IpAddress" => (IpAddress, false),
        "NotIpAddress" => (IpAddress, true),
        "ArnEquals" => (ArnEquals, false),
        "ArnNotEquals" => (ArnEquals, true),
        "ArnLike" => (ArnLike, false),
        "ArnNotLike" => (ArnLike, true),
        "Null" => (Null, false),
        _ => return None,
    })
}

/// Parse a statement's `Condition` object.
pub(crate) fn parse(v: &Value) -> Result<Vec<Condition>, PolicyError> {
    let obj = v.as_object().ok_or(PolicyError::InvalidJson)?;
    let mut out = Vec::new();
    for (op_name, block) in obj {
        let bad_type = || PolicyError::InvalidConditionType(op_name.clone());
        let (qualifier, rest) = if let Some(r) = op_name.strip_prefix("ForAnyValue:") {
            (Qualifier::ForAnyValue, r)
        } else if let Some(r) = op_name.strip_prefix("ForAllValues:") {
            (Qualifier::ForAllValues, r)
        } else {
            (Qualifier::None, op_name.as_str())
        };
        let (if_exists, rest) = match rest.strip_suffix("IfExists") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (base, negated) = operator(rest).ok_or_else(bad_type)?;
        if base == Base::Null && (if_exists || qualifier != Qualifier::None) {
            return Err(bad_type());
        }
        let block = block.as_object().ok_or_else(bad_type)?;
        if block.is_empty() {
            return Err(bad_type());
        }
        for (key, vals) in block {
            let key_l = key.to_ascii_lowercase();
            if !(key_l.starts_with("aws:") || key_l.starts_with("s3:")) || key_l.len() < 5 {
                return Err(PolicyError::InvalidConditionKey(key.clone()));
            }
            let values = scalar_list(vals).ok_or_else(|| PolicyError::InvalidConditionValue {
                operator: op_name.clone(),
                value: vals.to_string(),
            })?;
            for value in &values {
                if !value_ok(base, value) {
                    return Err(PolicyError::InvalidConditionValue {
                        operator: op_name.clone(),
                        value: value.clone(),
                    });
                }
            }
            out.push(Condition {
                base,
                negated,
                if_exists,
                qualifier,
                key: key_l,
                values,
            });
        }
    }
    Ok(out)
}

/// A condition value: a scalar or a non-empty array of scalars; numbers and
/// booleans are read as their JSON text, as IAM does.
fn scalar_list(v: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match v {
        Value::Array(a) if !a.is_empty() => a.iter().map(one).collect(),
        Value::Array(_) => None,
        v => one(v).map(|s| vec![s]),
    }
}

fn value_ok(base: Base, v: &str) -> bool {
    use Base::*;
    match base {
        NumericEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => number(v).is_some(),
        DateEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => date_ms(v).is_some(),
        Bool | Null => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
        IpAddress => Cidr::parse(v).is_some(),
        StringEquals | StringEqualsIgnoreCase | StringLike | ArnEquals | ArnLike => true,
    }
}

fn number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

/// An IPv4 or IPv6 network (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    pub(crate) prefix: u8,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Cidr { addr, prefix })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4-mapped IPv6 client address is compared as IPv4.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let (net, ip, bits) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(i)), 32u32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128u32),
            _ => return false,
        };
        let host_bits = bits - u32::from(self.prefix);
        let mask = if host_bits >= 128 {
            0
        } else {
            u128::MAX << host_bits
        };
        (net & mask) == (ip & mask)
    }
}

/// Milliseconds since the epoch of an ISO 8601 date (`2026-12-01`,
/// `2026-12-01T10:00:00Z`, with fraction or `+hh:mm` offset) or of an
/// epoch-seconds number, the two forms IAM's Date operators take.
pub(crate) fn date_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok()?.checked_mul(1000);
    }
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let days = liuma_sigv4::days_from_civil(y, mo, d);
    let mut ms = days * 86_400_000;
    if b.len() == 10 {
        return Some(ms);
    }
    if !matches!(b[10], b'T' | b't') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    ms += (h * 3600 + mi * 60 + sec) * 1000;
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i.min(start + 3)];
        let scale = 10i64.pow(3 - frac.len() as u32);
        ms += frac.parse::<i64>().ok()? * scale;
    }
    match &s[i..] {
        "" | "Z" | "z" => Some(ms),
        off => {
            let sign = match off.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let o = off[1..].replace(':', "");
            if o.len() != 4 || !o.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let oh: i64 = o[..2].parse().ok()?;
            let om: i64 = o[2..].parse().ok()?;
            Some(ms - sign * (oh * 3600 + om * 60) * 1000)
        }
    }
}

/// The request's values for a (lowercase) condition key; empty: absent.
fn lookup(key: &str, req: &Request<'_>) -> Vec<String> {
    let cx = req.context;
    match key {
        "aws:sourceip" => cx.source_ip.map(|ip| ip.to_string()).into_iter().collect(),
        "aws:securetransport" => vec![cx.secure_transport.to_string()],
        "aws:currenttime" => vec![format!("{}", cx.current_time_ms / 1000)],
        "aws:epochtime" => vec![format!("{}", cx.current_time_ms / 1000)],
        "aws:username" => match req.principal {
            Principal::User { name, .. } => vec![name.to_owned()],
            Principal::Anonymous => Vec::new(),
        },
        "aws:userid" => match req.principal {
            Principal::User { canonical_id, .. } => vec![canonical_id.to_owned()],
            Principal::Anonymous => Vec::new(),
        },
        "aws:principaltype" => vec![
            match req.principal {
                Principal::User { .. } => "User",
                Principal::Anonymous => "Anonymous",
            }
            .to_owned(),
        ],
        other => cx.values.get(other).cloned().unwrap_or_default(),
    }
}

/// Does one policy value match one request value (un-negated)?
fn matches_one(base: Base, policy: &str, actual: &str) -> bool {
    use Base::*;
    let num = || number(policy).zip(number(actual));
    let date = || date_ms(policy).zip(date_ms(actual));
    match base {
        StringEquals | ArnEquals => policy == actual,
        StringEqualsIgnoreCase => policy.to_lowercase() == actual.to_lowercase(),
        StringLike | ArnLike => wildcard::matches(policy, actual, false),
        NumericEquals => num().is_some_and(|(p, a)| a == p),
        NumericLessThan => num().is_some_and(|(p, a)| a < p),
        NumericLessThanEquals => num().is_some_and(|(p, a)| a <= p),
        NumericGreaterThan => num().is_some_and(|(p, a)| a > p),
        NumericGreaterThanEquals => num().is_some_and(|(p, a)| a >= p),
        DateEquals => date().is_some_and(|(p, a)| a == p),
        DateLessThan => date().is_some_and(|(p, a)| a < p),
        DateLessThanEquals => date().is_some_and(|(p, a)| a <= p),
        DateGreaterThan => date().is_some_and(|(p, a)| a > p),
        DateGreaterThanEquals => date().is_some_and(|(p, a)| a >= p),
        Bool => policy.eq_ignore_ascii_case(actual),
        IpAddress => Cidr::parse(policy)
            .zip(actual.parse::<IpAddr>().ok())
            .is_some_and(|(c, ip)| c.contains(ip)),
        // Handled by the caller (it is about presence, not values).
        Null => false,
    }
}

impl Condition {
    /// Evaluate against a request.
    pub(crate) fn holds(&self, req: &Request<'_>) -> bool {
        let actual = lookup(&self.key, req);
        if self.base == Base::Null {
            let want_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return actual.is_empty() == want_absent;
        }
        if actual.is_empty() {
            // IAM: an absent key satisfies IfExists, ForAllValues and the
            // negated operators, and nothing else.
            return self.if_exists || self.qualifier == Qualifier::ForAllValues || self.negated;
        }
        let pos = |a: &String| self.values.iter().any(|p| matches_one(self.base, p, a));
        match (self.qualifier, self.negated) {
            (Qualifier::None, false) | (Qualifier::ForAnyValue, false) => actual.iter().any(pos),
            (Qualifier::None, true) => !actual.iter().any(pos),
            (Qualifier::ForAnyValue, true) => actual.iter().any(|a| !pos(a)),
            (Qualifier::ForAllValues, false) => actual.iter().all(pos),
            (Qualifier::ForAllValues, true) => actual.iter().all(|a| !pos(a)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = Cidr::parse("192.168.1.0/24").expect("v4");
        assert!(c.contains("192.168.1.77".parse().expect("ip")));
        assert!(!c.contains("192.168.2.1".parse().expect("ip")));
        assert!(c.contains("::ffff:192.168.1.5".parse().expect("ip")));
        let c = Cidr::parse("2001:db8::/32").expect("v6");
        assert!(c.contains("2001:db8:1::1".parse().expect("ip")));
        assert!(!c.contains("2001:db9::1".parse().expect("ip")));
        assert!(!c.contains("10.0.0.1".parse().expect("ip")));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .expect("all")
                .contains("8.8.8.8".parse().expect("ip"))
        );
        assert!(Cidr::parse("1.2.3.4/33").is_none());
        assert!(Cidr::parse("1.2.3/8").is_none());
        assert_eq!(Cidr::parse("1.2.3.4").map(|c| c.prefix), Some(32));
    }

    #[test]
    fn dates() {
        assert_eq!(date_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(date_ms("1970-01-02"), Some(86_400_000));
        assert_eq!(date_ms("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        assert_eq!(date_ms("2000-03-01T01:00:00+01:00"), Some(951_868_800_000));
        assert_eq!(date_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(date_ms("86400"), Some(86_400_000));
        assert_eq!(date_ms("2020-13-01"), None);
        assert_eq!(date_ms("yesterday"), None);
        assert_eq!(date_ms("2020-01-01T10:00"), None);
    }
}
