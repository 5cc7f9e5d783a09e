//! Request parts of conditional writes and part reads: `If-None-Match` /
//! `If-Match` on PutObject and CompleteMultipartUpload (the engine checks
//! them atomically with the write) and `partNumber` on GetObject/HeadObject.

use liuma_engine::WriteCondition;
use s3s::dto::ETagCondition;
use s3s::{S3Result, s3_error};

/// The write condition of a PutObject / CompleteMultipartUpload. AWS takes
/// only `*` in `If-None-Match` on writes.
pub(crate) fn write_condition(
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
) -> S3Result<WriteCondition> {
    let if_none_match = match if_none_match {
        None => false,
        Some(ETagCondition::Any) => true,
        Some(ETagCondition::ETag(_)) => {
            return Err(s3_error!(
                NotImplemented,
                "If-None-Match on a write only supports '*'"
            ));
        }
    };
    let if_match = if_match.map(|c| match c {
        ETagCondition::Any => "*".to_owned(),
        ETagCondition::ETag(e) => e.value().to_owned(),
    });
    Ok(WriteCondition {
        if_none_match,
        if_match,
    })
}

/// `partNumber` of a GetObject/HeadObject: 1..=10000, and not with a Range.
pub(crate) fn read_part_number(n: Option<i32>, has_range: bool) -> S3Result<Option<u32>> {
    let Some(n) = n else { return Ok(None) };
    if has_range {
        return Err(s3_error!(
            InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter"
        ));
    }
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=liuma_engine::MAX_PART_NUMBER).contains(n))
        .map(Some)
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::dto::ETag;

    #[test]
    fn write_conditions() {
        let c = write_condition(None, Some(ETagCondition::Any)).unwrap();
        assert!(c.if_none_match && c.if_match.is_none());
        let c =
            write_condition(Some(ETagCondition::ETag(ETag::Strong("ab".into()))), None).unwrap();
        assert_eq!(c.if_match.as_deref(), Some("ab"));
        let e = write_condition(None, Some(ETagCondition::ETag(ETag::Strong("ab".into()))))
            .unwrap_err();
        assert_eq!(e.code().as_str(), "NotImplemented");
        assert!(write_condition(None, None).unwrap().is_empty());
    }

    #[test]
    fn part_numbers_of_reads() {
        assert_eq!(read_part_number(None, true).unwrap(), None);
        assert_eq!(read_part_number(Some(3), false).unwrap(), Some(3));
        for bad in [0, -1, 10_001] {
            let e = read_part_number(Some(bad), false).unwrap_err();
            assert_eq!(e.code().as_str(), "InvalidArgument");
        }
        let e = read_part_number(Some(1), true).unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidRequest");
    }
}
