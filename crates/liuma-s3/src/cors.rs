//! Bucket CORS rules: stored as JSON in the bucket's `attrs["cors"]`,
//! converted from/to the s3s DTOs, and matched against a browser's
//! request (origin, method, requested headers) the way S3 does: the
//! first rule that matches wins; `*` wildcards are allowed once in an
//! origin and as a whole header name pattern.

use s3s::dto::CORSRule;
use serde::{Deserialize, Serialize};

/// Bucket attribute holding the rules.
pub(crate) const CORS_ATTR: &str = "cors";

/// One CORS rule as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Rule {
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<i32>,
}

impl From<CORSRule> for Rule {
    fn from(r: CORSRule) -> Self {
        Rule {
            id: r.id,
            allowed_origins: r.allowed_origins,
            allowed_methods: r.allowed_methods,
            allowed_headers: r.allowed_headers.unwrap_or_default(),
            expose_headers: r.expose_headers.unwrap_or_default(),
            max_age_seconds: r.max_age_seconds,
        }
    }
}

impl From<Rule> for CORSRule {
    fn from(r: Rule) -> Self {
        let opt = |v: Vec<String>| (!v.is_empty()).then_some(v);
        CORSRule {
            id: r.id,
            allowed_origins: r.allowed_origins,
            allowed_methods: r.allowed_methods,
            allowed_headers: opt(r.allowed_headers),
            expose_headers: opt(r.expose_headers),
            max_age_seconds: r.max_age_seconds,
        }
    }
}

/// Parse the stored rules (none when absent or unreadable).
pub(crate) fn rules(attrs: &std::collections::BTreeMap<String, String>) -> Vec<Rule> {
    attrs
        .get(CORS_ATTR)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

/// Serialize rules for storage.
pub(crate) fn store(rules: &[Rule]) -> String {
    serde_json::to_string(rules).expect("CORS rules always serialize")
}

fn wildcard_match(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(value),
        Some((pre, post)) => {
            value.len() >= pre.len() + post.len()
                && value[..pre.len()].eq_ignore_ascii_case(pre)
                && value[value.len() - post.len()..].eq_ignore_ascii_case(post)
        }
    }
}

/// The first rule allowing `origin` to use `method` with `headers`.
pub(crate) fn find<'a>(
    rules: &'a [Rule],
    origin: &str,
    method: &str,
    headers: &[&str],
) -> Option<&'a Rule> {
    rules.iter().find(|r| {
        r.allowed_origins.iter().any(|o| wildcard_match(o, origin))
            && r.allowed_methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(method))
            && headers
                .iter()
                .all(|h| r.allowed_headers.iter().any(|a| wildcard_match(a, h)))
    })
}

/// Validate rules before storing them (S3's own checks).
pub(crate) fn validate(rules: &[Rule]) -> Result<(), &'static str> {
    if rules.is_empty() || rules.len() > 100 {
        return Err("a CORS configuration holds 1 to 100 rules");
    }
    for r in rules {
        if r.allowed_origins.is_empty() || r.allowed_methods.is_empty() {
            return Err("each CORS rule needs an AllowedOrigin and an AllowedMethod");
        }
        if !r
            .allowed_methods
            .iter()
            .all(|m| matches!(m.as_str(), "GET" | "PUT" | "POST" | "DELETE" | "HEAD"))
        {
            return Err("AllowedMethod must be GET, PUT, POST, DELETE or HEAD");
        }
        if r.allowed_origins.iter().any(|o| o.matches('*').count() > 1) {
            return Err("an AllowedOrigin may hold at most one wildcard");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> Rule {
        let v = |x: &[&str]| x.iter().map(|s| (*s).to_owned()).collect();
        Rule {
            allowed_origins: v(origins),
            allowed_methods: v(methods),
            allowed_headers: v(headers),
            ..Default::default()
        }
    }

    #[test]
    fn matching() {
        let rules = vec![
            rule(&["https://*.example.com"], &["GET"], &[]),
            rule(&["*"], &["PUT"], &["*"]),
        ];
        assert!(find(&rules, "https://app.example.com", "GET", &[]).is_some());
        assert!(find(&rules, "https://evil.com", "GET", &[]).is_none());
        assert!(find(&rules, "https://app.example.com", "GET", &["x-custom"]).is_none());
        assert_eq!(
            find(&rules, "https://evil.com", "PUT", &["content-type"]),
            Some(&rules[1])
        );
        assert!(find(&rules, "https://x", "DELETE", &[]).is_none());
    }

    #[test]
    fn validation_and_storage() {
        let rules = vec![rule(&["*"], &["GET", "HEAD"], &[])];
        assert!(validate(&rules).is_ok());
        assert!(validate(&[]).is_err());
        assert!(validate(&[rule(&["*"], &["PATCH"], &[])]).is_err());
        let mut attrs = std::collections::BTreeMap::new();
        attrs.insert(CORS_ATTR.to_owned(), store(&rules));
        assert_eq!(super::rules(&attrs), rules);
    }
}
