//! The policy document of a POST Object upload, checked as AWS does
//! ("Creating a POST policy"): expiration, then every condition (`eq`,
//! `starts-with`, object form `{"field": "value"}`), then that every form
//! field except the exempt ones is named by a condition. Failures are 403
//! `AccessDenied` "Invalid according to Policy: ..." with the reason.
//!
//! Parsing is s3s's ([`s3s::post_policy::PostPolicy`]); its checks are not
//! used: s3s answers failed conditions with 400 `InvalidPolicyDocument`,
//! checks the key before `${filename}` is substituted, and exempts fields
//! AWS does not (`submit`, `x-amz-server-side-encryption*`).
//! `content-length-range` is enforced while the file streams
//! ([`crate::form::FileStream`]); [`size_range`] gives its bounds.

use s3s::post_policy::{PostPolicy, PostPolicyCondition};
use s3s::{S3Error, S3ErrorCode};

use crate::form::Form;

/// Why a policy refuses an upload.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum PolicyRefusal {
    /// The policy cannot be decoded or parsed.
    #[error("Invalid Policy: {0}")]
    Invalid(String),
    /// `expiration` has passed.
    #[error("Invalid according to Policy: Policy expired.")]
    Expired,
    /// A condition does not hold; carries the condition as AWS prints it.
    #[error("Invalid according to Policy: Policy Condition failed: {0}")]
    ConditionFailed(String),
    /// Form fields that no condition names.
    #[error("Invalid according to Policy: Extra input fields: {}", .0.join(", "))]
    ExtraFields(Vec<String>),
}

impl PolicyRefusal {
    /// The S3 error a client sees.
    pub(crate) fn to_s3(&self) -> S3Error {
        let (code, status) = match self {
            PolicyRefusal::Invalid(_) => (
                S3ErrorCode::InvalidPolicyDocument,
                http::StatusCode::BAD_REQUEST,
            ),
            PolicyRefusal::Expired
            | PolicyRefusal::ConditionFailed(_)
            | PolicyRefusal::ExtraFields(_) => {
                (S3ErrorCode::AccessDenied, http::StatusCode::FORBIDDEN)
            }
        };
        let mut e = S3Error::with_message(code, self.to_string());
        e.set_status_code(status);
        e
    }
}

/// Decode and parse the base64 `policy` field.
pub(crate) fn parse(b64: &str) -> Result<PostPolicy, PolicyRefusal> {
    PostPolicy::from_base64(b64.trim()).map_err(|e| PolicyRefusal::Invalid(e.to_string()))
}

/// How the form was signed, which decides the fields exempt from conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signing {
    V4,
    V2,
}

/// Fields that need no condition (AWS: `x-amz-signature`, `file`,
/// `policy`, `x-ignore-*`; for SigV2 `awsaccesskeyid` and `signature`).
fn exempt(name: &str, signing: Signing) -> bool {
    matches!(name, "file" | "policy")
        || name.starts_with("x-ignore-")
        || match signing {
            Signing::V4 => name == "x-amz-signature",
            Signing::V2 => matches!(name, "awsaccesskeyid" | "signature"),
        }
}

/// Check `policy` against the form. `bucket` is the addressed bucket (the
/// `bucket` condition's value); `key` the key after `${filename}`
/// substitution; `now_secs` the current Unix time.
pub(crate) fn check(
    policy: &PostPolicy,
    form: &Form,
    bucket: &str,
    key: &str,
    signing: Signing,
    now_secs: i64,
) -> Result<(), PolicyRefusal> {
    let expires = time::OffsetDateTime::from(policy.expiration.clone()).unix_timestamp();
    if now_secs >= expires {
        return Err(PolicyRefusal::Expired);
    }
    let value = |field: &str| -> String {
        match field {
            "bucket" => bucket.to_owned(),
            "key" => key.to_owned(),
            f => form.get(f).unwrap_or_default().to_owned(),
        }
    };
    for c in &policy.conditions {
        match c {
            PostPolicyCondition::Eq { field, value: want } => {
                if value(field) != *want {
                    return Err(PolicyRefusal::ConditionFailed(format!(
                        "[\"eq\", \"${field}\", \"{want}\"]"
                    )));
                }
            }
            PostPolicyCondition::StartsWith { field, prefix } => {
                let got = value(field);
                // Content-Type may list several types: each must match (AWS).
                let ok = if field == "content-type" {
                    got.split(',').all(|t| t.trim_start().starts_with(prefix))
                } else {
                    got.starts_with(prefix.as_str())
                };
                if !ok {
                    return Err(PolicyRefusal::ConditionFailed(format!(
                        "[\"starts-with\", \"${field}\", \"{prefix}\"]"
                    )));
                }
            }
            PostPolicyCondition::ContentLengthRange { .. } => {}
        }
    }
    let named = |name: &str| {
        policy.conditions.iter().any(|c| match c {
            PostPolicyCondition::Eq { field, .. }
            | PostPolicyCondition::StartsWith { field, .. } => field == name,
            PostPolicyCondition::ContentLengthRange { .. } => false,
        })
    };
    let mut extra: Vec<String> = Vec::new();
    for (name, _) in &form.fields {
        if !exempt(name, signing) && !named(name) && !extra.contains(name) {
            extra.push(name.clone());
        }
    }
    if !extra.is_empty() {
        return Err(PolicyRefusal::ExtraFields(extra));
    }
    Ok(())
}

/// The file sizes the policy allows, within `[0, max]` (the node's limit);
/// several `content-length-range` conditions all apply.
pub(crate) fn size_range(policy: Option<&PostPolicy>, max: u64) -> (u64, u64) {
    let mut range = (0, max);
    for c in policy.map(|p| p.conditions.as_slice()).unwrap_or_default() {
        if let PostPolicyCondition::ContentLengthRange { min, max } = c {
            range = (range.0.max(*min), range.1.min(*max));
        }
    }
    range
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(conditions: &str) -> PostPolicy {
        PostPolicy::from_json(&format!(
            r#"{{"expiration": "2030-01-01T00:00:00Z", "conditions": [{conditions}]}}"#
        ))
        .unwrap()
    }

    fn form(fields: &[(&str, &str)]) -> Form {
        Form {
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            filename: "f.txt".to_owned(),
        }
    }

    const NOW: i64 = 1_800_000_000; // 2027-01-15

    #[test]
    fn conditions_hold_or_name_the_failure() {
        let p = policy(
            r#"{"bucket": "b"}, ["starts-with", "$key", "up/"], ["eq", "$Content-Type", "text/plain"],
               ["starts-with", "$x-amz-meta-tag", ""], ["content-length-range", 1, 10]"#,
        );
        let f = form(&[
            ("key", "up/${filename}"),
            ("content-type", "text/plain"),
            ("x-amz-meta-tag", "anything"),
            ("x-amz-signature", "s"),
            ("policy", "p"),
            ("x-ignore-me", "1"),
        ]);
        assert_eq!(check(&p, &f, "b", "up/f.txt", Signing::V4, NOW), Ok(()));
        assert_eq!(
            check(&p, &f, "other", "up/f.txt", Signing::V4, NOW),
            Err(PolicyRefusal::ConditionFailed(
                "[\"eq\", \"$bucket\", \"b\"]".into()
            ))
        );
        assert_eq!(
            check(&p, &f, "b", "down/f.txt", Signing::V4, NOW),
            Err(PolicyRefusal::ConditionFailed(
                "[\"starts-with\", \"$key\", \"up/\"]".into()
            ))
        );
        let mut g = form(&[("content-type", "text/html"), ("key", "up/x")]);
        assert!(matches!(
            check(&p, &g, "b", "up/x", Signing::V4, NOW),
            Err(PolicyRefusal::ConditionFailed(_))
        ));
        g.fields[0].1 = "text/plain".into();
        g.fields.push(("x-amz-meta-other".into(), "1".into()));
        g.fields.push(("signature".into(), "1".into()));
        assert_eq!(
            check(&p, &g, "b", "up/x", Signing::V4, NOW)
                .unwrap_err()
                .to_string(),
            "Invalid according to Policy: Extra input fields: x-amz-meta-other, signature"
        );
        assert_eq!(size_range(Some(&p), 5), (1, 5));
        assert_eq!(size_range(None, 5), (0, 5));
    }

    #[test]
    fn expiry_and_multi_content_types() {
        let p = policy(r#"["starts-with", "$content-type", "image/"]"#);
        let f = form(&[("content-type", "image/png, image/jpeg")]);
        assert_eq!(check(&p, &f, "b", "k", Signing::V2, NOW), Ok(()));
        let f = form(&[("content-type", "image/png, text/html")]);
        assert!(check(&p, &f, "b", "k", Signing::V2, NOW).is_err());
        let late = 1_893_456_000; // 2030-01-01T00:00:00Z
        let e = check(&p, &form(&[]), "b", "k", Signing::V4, late).unwrap_err();
        assert_eq!(e, PolicyRefusal::Expired);
        assert_eq!(e.to_s3().status_code(), Some(http::StatusCode::FORBIDDEN));
        let e = parse("not base64!").unwrap_err();
        assert_eq!(e.to_s3().status_code(), Some(http::StatusCode::BAD_REQUEST));
    }
}
