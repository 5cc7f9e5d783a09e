//! Tagging: object tags (Put/Get/DeleteObjectTagging per version, the
//! `x-amz-tagging` header of PutObject, CreateMultipartUpload and
//! CopyObject) and bucket tags (Put/Get/DeleteBucketTagging).
//!
//! AWS's limits are checked here, before anything is stored, so a refused
//! request changes nothing: at most 10 tags per object (50 per bucket), keys
//! of 1..=128 and values of 0..=256 Unicode characters made of letters,
//! digits, spaces and `+ - = . _ : / @`, no key twice, no `aws:` prefix.
//! Object tags are stored with the version record by the engine; bucket
//! tags are a bucket attribute, like CORS rules. A delete marker has no
//! tags: 404 when it is the current version, 405 by version id (as reads).

use liuma_engine::Tags;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::bucket::existing;
use crate::conv::version_header;
use crate::error::s3_err;
use crate::marker::read_error;
use crate::service::LiumaS3;

/// Bucket attribute holding the bucket's tags (JSON list of pairs).
pub(crate) const TAGGING_ATTR: &str = "tagging";

/// Most tags on one object (AWS).
pub(crate) const MAX_OBJECT_TAGS: usize = 10;
/// Most tags on one bucket (AWS).
pub(crate) const MAX_BUCKET_TAGS: usize = 50;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

/// Why a tag set is refused (the message a client sees with `InvalidTag`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TagProblem {
    #[error("Object tags cannot be greater than {0}")]
    TooManyObjectTags(usize),
    #[error("Bucket tag count cannot be greater than {0}")]
    TooManyBucketTags(usize),
    #[error("The TagKey you have provided is too long, max {MAX_KEY_CHARS}")]
    KeyTooLong,
    #[error("The TagValue you have provided is too long, max {MAX_VALUE_CHARS}")]
    ValueTooLong,
    #[error("The TagKey you have provided is invalid")]
    KeyInvalid,
    #[error("The TagValue you have provided is invalid")]
    ValueInvalid,
    #[error("Your TagKey cannot be prefixed with aws:")]
    ReservedPrefix,
    #[error("Cannot provide multiple Tags with the same key")]
    DuplicateKey,
}

impl TagProblem {
    fn to_s3(&self) -> S3Error {
        S3Error::with_message(S3ErrorCode::InvalidTag, self.to_string())
    }
}

/// Letters and digits of any script, space, and `+ - = . _ : / @`.
fn allowed(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || "+-=._:/@".contains(c)
}

/// Check a tag set against AWS's rules; `max` is the per-object or per-bucket cap.
pub(crate) fn validate(tags: &Tags, max: usize) -> Result<(), TagProblem> {
    if tags.len() > max {
        return Err(if max == MAX_BUCKET_TAGS {
            TagProblem::TooManyBucketTags(max)
        } else {
            TagProblem::TooManyObjectTags(max)
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for (k, v) in tags {
        if k.chars().count() > MAX_KEY_CHARS {
            return Err(TagProblem::KeyTooLong);
        }
        if v.chars().count() > MAX_VALUE_CHARS {
            return Err(TagProblem::ValueTooLong);
        }
        if k.is_empty() || !k.chars().all(allowed) {
            return Err(TagProblem::KeyInvalid);
        }
        if !v.chars().all(allowed) {
            return Err(TagProblem::ValueInvalid);
        }
        if k.starts_with("aws:") {
            return Err(TagProblem::ReservedPrefix);
        }
        if !seen.insert(k.as_str()) {
            return Err(TagProblem::DuplicateKey);
        }
    }
    Ok(())
}

fn pct_decode(s: &str) -> S3Result<String> {
    let bad = || {
        s3_error!(
            InvalidArgument,
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."
        )
    };
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or_else(bad)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// The tags of an `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded),
/// checked; none when the header is absent or empty.
pub(crate) fn from_header(h: Option<&str>) -> S3Result<Tags> {
    let Some(h) = h.filter(|h| !h.is_empty()) else {
        return Ok(Tags::new());
    };
    let mut tags = Tags::new();
    for pair in h.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        tags.push((pct_decode(k)?, pct_decode(v)?));
    }
    validate(&tags, MAX_OBJECT_TAGS).map_err(|p| p.to_s3())?;
    Ok(sorted(tags))
}

/// Tags are kept in key order (keys are unique once validated): the order
/// GetObjectTagging answers in, whatever order they were sent in (as
/// Ceph RGW and the s3-tests conformance suite expect).
fn sorted(mut tags: Tags) -> Tags {
    tags.sort();
    tags
}

fn tags_of(set: TagSet) -> Tags {
    set.into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
        .collect()
}

fn tag_set(tags: Tags) -> TagSet {
    tags.into_iter()
        .map(|(k, v)| Tag {
            key: Some(k),
            value: Some(v),
        })
        .collect()
}

/// The `x-amz-tagging-count` value: only when the object has tags (as AWS).
pub(crate) fn count(n: usize) -> Option<i32> {
    (n > 0).then(|| i32::try_from(n).unwrap_or(i32::MAX))
}

pub(crate) async fn get_object_tagging(
    s: &LiumaS3,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let input = req.input;
    let v = input.version_id.as_deref();
    let (vid, tags) = match s.engine.object_tags(&input.bucket, &input.key, v).await {
        Ok(t) => t,
        Err(e) => return Err(read_error(s, &input.bucket, &input.key, v, e).await),
    };
    Ok(S3Response::new(GetObjectTaggingOutput {
        tag_set: tag_set(tags),
        version_id: version_header(Some(&b), &vid),
    }))
}

pub(crate) async fn put_object_tagging(
    s: &LiumaS3,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let input = req.input;
    let tags = tags_of(input.tagging.tag_set);
    validate(&tags, MAX_OBJECT_TAGS).map_err(|p| p.to_s3())?;
    let tags = sorted(tags);
    let v = input.version_id.as_deref();
    let vid = match s
        .engine
        .set_object_tags(&input.bucket, &input.key, v, tags)
        .await
    {
        Ok(vid) => vid,
        Err(e) => return Err(read_error(s, &input.bucket, &input.key, v, e).await),
    };
    Ok(S3Response::new(PutObjectTaggingOutput {
        version_id: version_header(Some(&b), &vid),
    }))
}

pub(crate) async fn delete_object_tagging(
    s: &LiumaS3,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let input = req.input;
    let v = input.version_id.as_deref();
    let vid = match s
        .engine
        .set_object_tags(&input.bucket, &input.key, v, Tags::new())
        .await
    {
        Ok(vid) => vid,
        Err(e) => return Err(read_error(s, &input.bucket, &input.key, v, e).await),
    };
    Ok(S3Response::new(DeleteObjectTaggingOutput {
        version_id: version_header(Some(&b), &vid),
    }))
}

/// The bucket's tags as stored in its attributes.
fn bucket_tags(b: &liuma_engine::BucketInfo) -> Tags {
    b.attrs
        .get(TAGGING_ATTR)
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default()
}

pub(crate) async fn get_bucket_tagging(
    _s: &LiumaS3,
    req: S3Request<GetBucketTaggingInput>,
) -> S3Result<S3Response<GetBucketTaggingOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let tags = bucket_tags(&b);
    if tags.is_empty() {
        return Err(s3_error!(NoSuchTagSet, "The TagSet does not exist"));
    }
    Ok(S3Response::new(GetBucketTaggingOutput {
        tag_set: tag_set(tags),
    }))
}

pub(crate) async fn put_bucket_tagging(
    s: &LiumaS3,
    req: S3Request<PutBucketTaggingInput>,
) -> S3Result<S3Response<PutBucketTaggingOutput>> {
    existing(&req, &req.input.bucket)?;
    let input = req.input;
    let tags = tags_of(input.tagging.tag_set);
    validate(&tags, MAX_BUCKET_TAGS).map_err(|p| p.to_s3())?;
    let tags = sorted(tags);
    let value = serde_json::to_string(&tags).map_err(S3Error::internal_error)?;
    s.engine
        .update_bucket(&input.bucket, |b| {
            if tags.is_empty() {
                b.attrs.remove(TAGGING_ATTR);
            } else {
                b.attrs.insert(TAGGING_ATTR.to_owned(), value.clone());
            }
            Ok(())
        })
        .await
        .map_err(s3_err)?;
    Ok(S3Response::new(PutBucketTaggingOutput {}))
}

pub(crate) async fn delete_bucket_tagging(
    s: &LiumaS3,
    req: S3Request<DeleteBucketTaggingInput>,
) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
    existing(&req, &req.input.bucket)?;
    s.engine
        .update_bucket(&req.input.bucket, |b| {
            b.attrs.remove(TAGGING_ATTR);
            Ok(())
        })
        .await
        .map_err(s3_err)?;
    Ok(S3Response::new(DeleteBucketTaggingOutput {}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn limits_as_aws() {
        assert_eq!(validate(&t(&[("k", "v"), ("a b", "")]), 10), Ok(()));
        assert_eq!(validate(&t(&[("ключ", "значение+-=._:/@")]), 10), Ok(()));
        let eleven: Tags = (0..11).map(|i| (format!("k{i}"), String::new())).collect();
        assert_eq!(
            validate(&eleven, MAX_OBJECT_TAGS),
            Err(TagProblem::TooManyObjectTags(10))
        );
        assert_eq!(validate(&eleven, MAX_BUCKET_TAGS), Ok(()));
        let k128 = "k".repeat(128);
        let v256 = "v".repeat(256);
        assert_eq!(validate(&t(&[(&k128, &v256)]), 10), Ok(()));
        let k129 = "k".repeat(129);
        assert_eq!(
            validate(&t(&[(&k129, "")]), 10),
            Err(TagProblem::KeyTooLong)
        );
        let v257 = "é".repeat(257);
        assert_eq!(
            validate(&t(&[("k", &v257)]), 10),
            Err(TagProblem::ValueTooLong)
        );
        // 128 two-byte characters is still 128 characters
        let wide = "é".repeat(128);
        assert_eq!(validate(&t(&[(&wide, "")]), 10), Ok(()));
        assert_eq!(validate(&t(&[("", "v")]), 10), Err(TagProblem::KeyInvalid));
        assert_eq!(
            validate(&t(&[("a*b", "v")]), 10),
            Err(TagProblem::KeyInvalid)
        );
        assert_eq!(
            validate(&t(&[("k", "a\u{0}")]), 10),
            Err(TagProblem::ValueInvalid)
        );
        assert_eq!(
            validate(&t(&[("aws:x", "v")]), 10),
            Err(TagProblem::ReservedPrefix)
        );
        assert_eq!(
            validate(&t(&[("k", "1"), ("k", "2")]), 10),
            Err(TagProblem::DuplicateKey)
        );
    }

    #[test]
    fn header_is_url_encoded_query() {
        assert_eq!(from_header(None).unwrap(), Tags::new());
        assert_eq!(from_header(Some("")).unwrap(), Tags::new());
        assert_eq!(
            from_header(Some("a=1&b%20c=d+e&empty=&bare")).unwrap(),
            t(&[("a", "1"), ("b c", "d e"), ("bare", ""), ("empty", "")]),
            "kept in key order"
        );
        assert_eq!(
            from_header(Some("k=%C3%A9t%C3%A9")).unwrap(),
            t(&[("k", "été")])
        );
        // a symbol is not a letter: refused as AWS does
        let e = from_header(Some("k=%E2%82%AC")).unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidTag");
        let e = from_header(Some("k=1&k=2")).unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidTag");
        assert!(e.message().unwrap_or_default().contains("same key"));
        assert_eq!(
            from_header(Some("k=%zz")).unwrap_err().code().as_str(),
            "InvalidArgument"
        );
    }
}
