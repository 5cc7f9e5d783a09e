//! Bucket lifecycle configuration: Put/Get/DeleteBucketLifecycleConfiguration.
//!
//! The XML arrives parsed by s3s; here it is validated the way AWS does
//! (error codes and messages below; nothing is stored when any rule is
//! refused) and converted to the engine's [`LifecycleRule`]s, which keep how
//! the filter was written so a GET returns what was PUT. The engine's
//! lifecycle pass applies the rules (`liuma-engine/src/lifecycle.rs`).
//!
//! Refusals, as AWS answers them:
//! - MalformedXML: no rules; a rule without `Filter` and `Prefix`, or with
//!   both; a filter with more than one predicate outside `And`, or an `And`
//!   of fewer than two; `Status` not Enabled/Disabled; an `Expiration`
//!   with none or several of Days/Date/ExpiredObjectDeleteMarker; a missing
//!   `NoncurrentDays` or `DaysAfterInitiation`; a tag without a key.
//! - InvalidArgument: a rule ID over 255 characters or used twice; Days,
//!   NoncurrentDays or DaysAfterInitiation not positive; a Date that is not
//!   midnight UTC; NewerNoncurrentVersions outside 1..=100; negative sizes or
//!   ObjectSizeGreaterThan ≥ ObjectSizeLessThan.
//! - InvalidRequest: more than 1000 rules; a prefix over 1024 bytes; a tag
//!   key over 128 or value over 256 characters; a tag key twice; a rule with
//!   no action; AbortIncompleteMultipartUpload or ExpiredObjectDeleteMarker
//!   with a tag filter.
//! - NotImplemented (501): transitions (liuma has a single storage class).

use liuma_engine::{
    DAY_MS, Expiration, FilterForm, LifecycleRule, MAX_LIFECYCLE_RULES, NoncurrentExpiration,
    RuleFilter,
};
use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use crate::bucket::existing;
use crate::conv::ts;
use crate::error::s3_err;
use crate::service::LiumaS3;

/// Longest rule ID.
const MAX_ID: usize = 255;
/// Longest prefix in a filter, in bytes.
const MAX_PREFIX: usize = 1024;
/// Longest tag key and value, in characters.
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;
/// Most noncurrent versions a rule may keep.
const MAX_NEWER_VERSIONS: i32 = 100;

pub(crate) async fn put_bucket_lifecycle_configuration(
    s: &LiumaS3,
    req: S3Request<PutBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
    existing(&req, &req.input.bucket)?;
    let input = req.input;
    let Some(config) = input.lifecycle_configuration else {
        return Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        ));
    };
    let rules = validate(config.rules)?;
    s.engine
        .set_lifecycle(&input.bucket, rules)
        .await
        .map_err(s3_err)?;
    Ok(S3Response::new(
        PutBucketLifecycleConfigurationOutput::default(),
    ))
}

pub(crate) async fn get_bucket_lifecycle_configuration(
    _s: &LiumaS3,
    req: S3Request<GetBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    if b.lifecycle.is_empty() {
        return Err(s3_error!(
            NoSuchLifecycleConfiguration,
            "The lifecycle configuration does not exist"
        ));
    }
    Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
        rules: Some(b.lifecycle.iter().map(to_dto).collect()),
        transition_default_minimum_object_size: None,
    }))
}

pub(crate) async fn delete_bucket_lifecycle(
    s: &LiumaS3,
    req: S3Request<DeleteBucketLifecycleInput>,
) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
    s.engine
        .set_lifecycle(&req.input.bucket, Vec::new())
        .await
        .map_err(s3_err)?;
    Ok(S3Response::new(DeleteBucketLifecycleOutput {}))
}

fn malformed(why: &str) -> S3Error {
    s3_error!(
        MalformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema: {why}"
    )
}

/// Check every rule as AWS does and convert them; any refusal refuses all.
pub(crate) fn validate(rules: Vec<LifecycleRule_>) -> S3Result<Vec<LifecycleRule>> {
    if rules.is_empty() {
        return Err(malformed(
            "a lifecycle configuration needs at least one rule",
        ));
    }
    if rules.len() > MAX_LIFECYCLE_RULES {
        return Err(s3_error!(
            InvalidRequest,
            "Lifecycle configuration allows a maximum of {MAX_LIFECYCLE_RULES} rules"
        ));
    }
    let mut out: Vec<LifecycleRule> = Vec::with_capacity(rules.len());
    for r in rules {
        let rule = rule(r)?;
        if out.iter().any(|o| o.id == rule.id) {
            return Err(s3_error!(
                InvalidArgument,
                "Rule ID must be unique. Found same ID for more than one rule"
            ));
        }
        out.push(rule);
    }
    Ok(out)
}

/// The DTO's rule type, renamed so the engine's keeps its name here.
pub(crate) type LifecycleRule_ = s3s::dto::LifecycleRule;

fn rule(r: LifecycleRule_) -> S3Result<LifecycleRule> {
    let enabled = match r.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        _ => return Err(malformed("Status must be Enabled or Disabled")),
    };
    let id = match r.id {
        Some(id) if id.chars().count() > MAX_ID => {
            return Err(s3_error!(
                InvalidArgument,
                "ID length should not exceed allowed limit of {MAX_ID}"
            ));
        }
        Some(id) if !id.is_empty() => id,
        // AWS names a rule sent without an ID.
        _ => random_rule_id(),
    };
    if r.transitions.is_some() || r.noncurrent_version_transitions.is_some() {
        return Err(s3_error!(
            NotImplemented,
            "Transitions are not supported: liuma has a single storage class"
        ));
    }
    let filter = match (r.filter, r.prefix) {
        (Some(_), Some(_)) => {
            return Err(malformed("a rule has either Filter or Prefix, not both"));
        }
        (None, None) => return Err(malformed("a rule needs a Filter (or a Prefix)")),
        (None, Some(prefix)) => {
            check_prefix(&prefix)?;
            RuleFilter {
                form: FilterForm::RulePrefix,
                prefix,
                ..RuleFilter::all()
            }
        }
        (Some(f), None) => filter(f)?,
    };
    let expiration = match r.expiration {
        Some(e) => expiration(e)?,
        None => None,
    };
    let noncurrent = match r.noncurrent_version_expiration {
        Some(n) => Some(noncurrent(n)?),
        None => None,
    };
    let abort_upload_days = match r.abort_incomplete_multipart_upload {
        Some(a) => {
            let Some(d) = a.days_after_initiation else {
                return Err(malformed(
                    "AbortIncompleteMultipartUpload needs DaysAfterInitiation",
                ));
            };
            Some(positive(
                d,
                "'DaysAfterInitiation' for AbortIncompleteMultipartUpload",
            )?)
        }
        None => None,
    };
    let has_tags = !filter.tags.is_empty();
    if has_tags && abort_upload_days.is_some() {
        return Err(s3_error!(
            InvalidRequest,
            "AbortIncompleteMultipartUpload cannot be specified with Tags."
        ));
    }
    if has_tags && expiration == Some(Expiration::ExpiredDeleteMarker) {
        return Err(s3_error!(
            InvalidRequest,
            "ExpiredObjectDeleteMarker cannot be specified with Tags."
        ));
    }
    if expiration.is_none() && noncurrent.is_none() && abort_upload_days.is_none() {
        return Err(s3_error!(
            InvalidRequest,
            "At least one action needs to be specified in a rule."
        ));
    }
    Ok(LifecycleRule {
        id,
        enabled,
        filter,
        expiration,
        noncurrent,
        abort_upload_days,
    })
}

fn random_rule_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

fn positive(v: i32, what: &str) -> S3Result<u32> {
    u32::try_from(v)
        .ok()
        .filter(|&d| d > 0)
        .ok_or_else(|| s3_error!(InvalidArgument, "{what} action must be a positive integer"))
}

fn check_prefix(p: &str) -> S3Result<()> {
    if p.len() > MAX_PREFIX {
        return Err(s3_error!(
            InvalidRequest,
            "The maximum size of a prefix is {MAX_PREFIX}"
        ));
    }
    Ok(())
}

fn tag(t: Tag) -> S3Result<(String, String)> {
    let Some(key) = t.key else {
        return Err(malformed("a Tag needs a Key"));
    };
    let value = t.value.unwrap_or_default();
    if key.is_empty() || key.chars().count() > MAX_TAG_KEY {
        return Err(s3_error!(
            InvalidRequest,
            "A tag key must be 1 to {MAX_TAG_KEY} characters"
        ));
    }
    if value.chars().count() > MAX_TAG_VALUE {
        return Err(s3_error!(
            InvalidRequest,
            "A tag value must be at most {MAX_TAG_VALUE} characters"
        ));
    }
    Ok((key, value))
}

fn size(v: i64, what: &str) -> S3Result<u64> {
    u64::try_from(v).map_err(|_| s3_error!(InvalidArgument, "{what} must be non-negative"))
}

fn filter(f: LifecycleRuleFilter) -> S3Result<RuleFilter> {
    let set = [
        f.prefix.is_some(),
        f.tag.is_some(),
        f.object_size_greater_than.is_some(),
        f.object_size_less_than.is_some(),
        f.and.is_some(),
    ]
    .into_iter()
    .filter(|&b| b)
    .count();
    if set > 1 {
        return Err(malformed(
            "a Filter holds one of Prefix, Tag, ObjectSizeGreaterThan, ObjectSizeLessThan or And",
        ));
    }
    let mut out = RuleFilter::all();
    if let Some(p) = f.prefix {
        check_prefix(&p)?;
        out.form = FilterForm::Prefix;
        out.prefix = p;
    } else if let Some(t) = f.tag {
        out.form = FilterForm::Tag;
        out.tags = vec![tag(t)?];
    } else if let Some(g) = f.object_size_greater_than {
        out.form = FilterForm::SizeGreaterThan;
        out.size_greater_than = Some(size(g, "ObjectSizeGreaterThan")?);
    } else if let Some(l) = f.object_size_less_than {
        out.form = FilterForm::SizeLessThan;
        out.size_less_than = Some(size(l, "ObjectSizeLessThan")?);
    } else if let Some(a) = f.and {
        out = and(a)?;
    }
    Ok(out)
}

fn and(a: LifecycleRuleAndOperator) -> S3Result<RuleFilter> {
    let tags = a.tags.unwrap_or_default();
    let predicates = usize::from(a.prefix.is_some())
        + tags.len()
        + usize::from(a.object_size_greater_than.is_some())
        + usize::from(a.object_size_less_than.is_some());
    if predicates < 2 {
        return Err(malformed("And needs at least two predicates"));
    }
    let mut out = RuleFilter {
        form: FilterForm::And,
        ..RuleFilter::all()
    };
    if let Some(p) = a.prefix {
        check_prefix(&p)?;
        out.prefix = p;
    }
    for t in tags {
        let t = tag(t)?;
        if out.tags.iter().any(|(k, _)| *k == t.0) {
            return Err(s3_error!(
                InvalidRequest,
                "Duplicate Tag Keys are not allowed."
            ));
        }
        out.tags.push(t);
    }
    if let Some(g) = a.object_size_greater_than {
        out.size_greater_than = Some(size(g, "ObjectSizeGreaterThan")?);
    }
    if let Some(l) = a.object_size_less_than {
        out.size_less_than = Some(size(l, "ObjectSizeLessThan")?);
    }
    if let (Some(g), Some(l)) = (out.size_greater_than, out.size_less_than)
        && g >= l
    {
        return Err(s3_error!(
            InvalidArgument,
            "ObjectSizeGreaterThan must be less than ObjectSizeLessThan"
        ));
    }
    Ok(out)
}

fn expiration(e: LifecycleExpiration) -> S3Result<Option<Expiration>> {
    let given = [
        e.days.is_some(),
        e.date.is_some(),
        e.expired_object_delete_marker.is_some(),
    ]
    .into_iter()
    .filter(|&b| b)
    .count();
    if given != 1 {
        return Err(malformed(
            "Expiration holds exactly one of Days, Date or ExpiredObjectDeleteMarker",
        ));
    }
    if let Some(d) = e.days {
        return Ok(Some(Expiration::Days(positive(
            d,
            "'Days' for Expiration",
        )?)));
    }
    if let Some(t) = e.date {
        return Ok(Some(Expiration::Date(midnight_ms(&t)?)));
    }
    // `false` asks for nothing (AWS: "the policy takes no action").
    Ok(e.expired_object_delete_marker
        .filter(|&b| b)
        .map(|_| Expiration::ExpiredDeleteMarker))
}

/// Milliseconds since the epoch of a date that must be midnight UTC.
fn midnight_ms(t: &Timestamp) -> S3Result<u64> {
    let mut buf = Vec::new();
    let s = t
        .format(TimestampFormat::EpochSeconds, &mut buf)
        .ok()
        .and_then(|()| String::from_utf8(buf).ok())
        .unwrap_or_default();
    let (whole, frac) = s.split_once('.').unwrap_or((&s, ""));
    let secs = whole.parse::<u64>().ok();
    match secs {
        Some(secs) if frac.trim_end_matches('0').is_empty() && (secs * 1000) % DAY_MS == 0 => {
            Ok(secs * 1000)
        }
        _ => Err(s3_error!(InvalidArgument, "'Date' must be at midnight GMT")),
    }
}

fn noncurrent(n: NoncurrentVersionExpiration) -> S3Result<NoncurrentExpiration> {
    let Some(days) = n.noncurrent_days else {
        return Err(malformed(
            "NoncurrentVersionExpiration needs NoncurrentDays",
        ));
    };
    let days = positive(days, "'NoncurrentDays' for NoncurrentVersionExpiration")?;
    let newer_versions = match n.newer_noncurrent_versions {
        Some(v) if (1..=MAX_NEWER_VERSIONS).contains(&v) => u32::try_from(v).ok(),
        Some(_) => {
            return Err(s3_error!(
                InvalidArgument,
                "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be between 1 and {MAX_NEWER_VERSIONS}"
            ));
        }
        None => None,
    };
    Ok(NoncurrentExpiration {
        days,
        newer_versions,
    })
}

/// An engine rule as the DTO a GET returns (the filter as it was written).
fn to_dto(r: &LifecycleRule) -> LifecycleRule_ {
    let f = &r.filter;
    let dto_tag = |(k, v): &(String, String)| Tag {
        key: Some(k.clone()),
        value: Some(v.clone()),
    };
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let (filter, prefix) = match f.form {
        FilterForm::RulePrefix => (None, Some(f.prefix.clone())),
        form => {
            let mut d = LifecycleRuleFilter::default();
            match form {
                FilterForm::Prefix => d.prefix = Some(f.prefix.clone()),
                FilterForm::Tag => d.tag = f.tags.first().map(dto_tag),
                FilterForm::SizeGreaterThan => {
                    d.object_size_greater_than = f.size_greater_than.map(as_i64);
                }
                FilterForm::SizeLessThan => d.object_size_less_than = f.size_less_than.map(as_i64),
                FilterForm::And => {
                    d.and = Some(LifecycleRuleAndOperator {
                        prefix: (!f.prefix.is_empty()).then(|| f.prefix.clone()),
                        tags: (!f.tags.is_empty()).then(|| f.tags.iter().map(dto_tag).collect()),
                        object_size_greater_than: f.size_greater_than.map(as_i64),
                        object_size_less_than: f.size_less_than.map(as_i64),
                    });
                }
                FilterForm::Empty | FilterForm::RulePrefix => {}
            }
            (Some(d), None)
        }
    };
    let days = |d: u32| i32::try_from(d).unwrap_or(i32::MAX);
    LifecycleRule_ {
        abort_incomplete_multipart_upload: r.abort_upload_days.map(|d| {
            AbortIncompleteMultipartUpload {
                days_after_initiation: Some(days(d)),
            }
        }),
        expiration: r.expiration.map(|e| match e {
            Expiration::Days(d) => LifecycleExpiration {
                days: Some(days(d)),
                ..Default::default()
            },
            Expiration::Date(ms) => LifecycleExpiration {
                date: Some(ts(ms)),
                ..Default::default()
            },
            Expiration::ExpiredDeleteMarker => LifecycleExpiration {
                expired_object_delete_marker: Some(true),
                ..Default::default()
            },
        }),
        filter,
        id: Some(r.id.clone()),
        noncurrent_version_expiration: r.noncurrent.map(|n| NoncurrentVersionExpiration {
            noncurrent_days: Some(days(n.days)),
            newer_noncurrent_versions: n.newer_versions.map(days),
        }),
        noncurrent_version_transitions: None,
        prefix,
        status: ExpirationStatus::from_static(if r.enabled {
            ExpirationStatus::ENABLED
        } else {
            ExpirationStatus::DISABLED
        }),
        transitions: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> LifecycleRule_ {
        LifecycleRule_ {
            abort_incomplete_multipart_upload: None,
            expiration: Some(LifecycleExpiration {
                days: Some(1),
                ..Default::default()
            }),
            filter: Some(LifecycleRuleFilter::default()),
            id: Some("r1".into()),
            noncurrent_version_expiration: None,
            noncurrent_version_transitions: None,
            prefix: None,
            status: ExpirationStatus::from_static(ExpirationStatus::ENABLED),
            transitions: None,
        }
    }

    fn code(r: LifecycleRule_) -> String {
        match validate(vec![r]) {
            Ok(_) => "ok".into(),
            Err(e) => e.code().as_str().to_owned(),
        }
    }

    #[test]
    fn good_rules_round_trip() {
        let mut r = base();
        r.filter = Some(LifecycleRuleFilter {
            and: Some(LifecycleRuleAndOperator {
                prefix: Some("logs/".into()),
                tags: Some(vec![Tag {
                    key: Some("k".into()),
                    value: Some("v".into()),
                }]),
                object_size_greater_than: Some(10),
                object_size_less_than: None,
            }),
            ..Default::default()
        });
        r.noncurrent_version_expiration = Some(NoncurrentVersionExpiration {
            noncurrent_days: Some(3),
            newer_noncurrent_versions: Some(2),
        });
        let rules = validate(vec![r.clone()]).unwrap();
        assert_eq!(to_dto(&rules[0]), r);
        let mut legacy = base();
        legacy.filter = None;
        legacy.prefix = Some(String::new());
        let rules = validate(vec![legacy.clone()]).unwrap();
        assert_eq!(to_dto(&rules[0]), legacy);
    }

    #[test]
    fn refusals_have_aws_codes() {
        let mut r = base();
        r.status = ExpirationStatus::from("On".to_owned());
        assert_eq!(code(r), "MalformedXML");
        let mut r = base();
        r.prefix = Some("a".into());
        assert_eq!(code(r), "MalformedXML");
        let mut r = base();
        r.filter = None;
        assert_eq!(code(r), "MalformedXML");
        let mut r = base();
        r.expiration = Some(LifecycleExpiration::default());
        assert_eq!(code(r), "MalformedXML");
        let mut r = base();
        r.expiration = Some(LifecycleExpiration {
            days: Some(0),
            ..Default::default()
        });
        assert_eq!(code(r), "InvalidArgument");
        let mut r = base();
        r.id = Some("x".repeat(256));
        assert_eq!(code(r), "InvalidArgument");
        let mut r = base();
        r.expiration = Some(LifecycleExpiration {
            date: Some(ts(DAY_MS * 20_000 + 1000)),
            ..Default::default()
        });
        assert_eq!(code(r), "InvalidArgument");
        let mut r = base();
        r.expiration = Some(LifecycleExpiration {
            date: Some(ts(DAY_MS * 20_000)),
            ..Default::default()
        });
        assert_eq!(code(r), "ok");
        let mut r = base();
        r.expiration = None;
        assert_eq!(code(r), "InvalidRequest");
        let mut r = base();
        r.filter = Some(LifecycleRuleFilter {
            tag: Some(Tag {
                key: Some("k".into()),
                value: Some("v".into()),
            }),
            ..Default::default()
        });
        r.abort_incomplete_multipart_upload = Some(AbortIncompleteMultipartUpload {
            days_after_initiation: Some(1),
        });
        assert_eq!(code(r), "InvalidRequest");
        let mut r = base();
        r.transitions = Some(vec![]);
        assert_eq!(code(r), "NotImplemented");
        assert!(validate(vec![]).is_err());
        assert_eq!(
            validate(vec![base(), base()]).unwrap_err().code().as_str(),
            "InvalidArgument"
        );
        let many: Vec<_> = (0..=MAX_LIFECYCLE_RULES)
            .map(|i| LifecycleRule_ {
                id: Some(format!("r{i}")),
                ..base()
            })
            .collect();
        assert_eq!(
            validate(many).unwrap_err().code().as_str(),
            "InvalidRequest"
        );
    }

    #[test]
    fn rules_without_id_get_one() {
        let mut r = base();
        r.id = None;
        let a = validate(vec![r.clone()]).unwrap();
        let b = validate(vec![r]).unwrap();
        assert!(!a[0].id.is_empty());
        assert_ne!(a[0].id, b[0].id);
    }
}
