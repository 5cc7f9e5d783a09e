//! Checks on how a request is signed, made before s3s verifies the
//! signature (s3s accepts what AWS refuses here):
//!
//! - a presigned SigV4 URL may live at most 7 days: `X-Amz-Expires` above
//!   604800 is refused with 403 `AuthorizationQueryParametersError`, as AWS
//!   does (s3s only checks that it parses as a u32); a negative one gets
//!   the same code, "X-Amz-Expires must be non-negative" (AWS), and zero
//!   is a URL that has expired: 403 `AccessDenied` "Request has expired";
//! - SigV2 (the `Authorization: AWS id:sig` header and `?Signature=`
//!   presigned URLs) is refused unless enabled (`allow_sigv2`): HMAC-SHA1
//!   over a short string-to-sign that leaves most headers unsigned. AWS
//!   answers 400 `InvalidRequest` where SigV2 is not supported; so do we.
//!   When enabled, a SigV2 presigned URL's `Expires` (absolute Unix time)
//!   must also be at most 7 days ahead.

use s3s::{S3Error, S3ErrorCode};

/// The longest a presigned URL may be valid, in seconds (7 days, as AWS).
pub const MAX_PRESIGNED_SECS: u64 = 604_800;

/// Why a request's signing is refused before verification.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SigRefusal {
    /// `X-Amz-Expires` is not a number or above the maximum.
    #[error("X-Amz-Expires must be less than a week (in seconds) that is; 604800")]
    ExpiresTooLong,
    /// A SigV2 presigned URL valid for more than the maximum.
    #[error("Expires must be less than a week (in seconds) from now that is; 604800")]
    V2ExpiresTooLong,
    /// A presigned URL valid for zero seconds: expired when it arrives
    /// (s3s accepts it within the second it was signed).
    #[error("Request has expired")]
    Expired,
    /// A negative `X-Amz-Expires` (s3s would refuse it as unparsable, 400).
    #[error("X-Amz-Expires must be non-negative")]
    ExpiresNegative,
    /// SigV2 while it is disabled.
    #[error(
        "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
    )]
    SigV2Disabled,
}

impl SigRefusal {
    /// The S3 error a client sees.
    pub(crate) fn to_s3(&self) -> S3Error {
        let (code, status) = match self {
            SigRefusal::ExpiresTooLong
            | SigRefusal::V2ExpiresTooLong
            | SigRefusal::ExpiresNegative => (
                S3ErrorCode::Custom("AuthorizationQueryParametersError".into()),
                http::StatusCode::FORBIDDEN,
            ),
            SigRefusal::SigV2Disabled => {
                (S3ErrorCode::InvalidRequest, http::StatusCode::BAD_REQUEST)
            }
            SigRefusal::Expired => (S3ErrorCode::AccessDenied, http::StatusCode::FORBIDDEN),
        };
        let mut e = S3Error::with_message(code, self.to_string());
        e.set_status_code(status);
        e
    }
}

/// The value of query parameter `name` (names compared exactly, as S3 does).
fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

/// Check a request's signing shape; `now_secs` is the current Unix time.
pub(crate) fn check(
    query: Option<&str>,
    authorization: Option<&[u8]>,
    allow_sigv2: bool,
    now_secs: u64,
) -> Result<(), SigRefusal> {
    let query = query.unwrap_or("");
    if query_param(query, "X-Amz-Signature").is_some() {
        match query_param(query, "X-Amz-Expires").and_then(|v| v.parse::<i64>().ok()) {
            Some(0) => return Err(SigRefusal::Expired),
            Some(s) if s < 0 => return Err(SigRefusal::ExpiresNegative),
            _ => {}
        }
        let ok = query_param(query, "X-Amz-Expires")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|s| s <= MAX_PRESIGNED_SECS);
        // A missing X-Amz-Expires is left to s3s (it answers that fields are missing).
        if !ok && query_param(query, "X-Amz-Expires").is_some() {
            return Err(SigRefusal::ExpiresTooLong);
        }
        return Ok(());
    }
    let v2_query = query_param(query, "Signature").is_some();
    // "AWS id:signature" (SigV4 starts "AWS4-HMAC-SHA256 ").
    let v2_header = authorization.is_some_and(|a| a.starts_with(b"AWS "));
    if !(v2_query || v2_header) {
        return Ok(());
    }
    if !allow_sigv2 {
        return Err(SigRefusal::SigV2Disabled);
    }
    if v2_query
        && let Some(exp) = query_param(query, "Expires").and_then(|v| v.parse::<u64>().ok())
        && exp > now_secs.saturating_add(MAX_PRESIGNED_SECS)
    {
        return Err(SigRefusal::V2ExpiresTooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn presigned_v4_is_capped_at_seven_days() {
        let q = |e: &str| {
            format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires={e}&X-Amz-Signature=ab")
        };
        assert_eq!(check(Some(&q("604800")), None, false, NOW), Ok(()));
        assert_eq!(check(Some(&q("60")), None, false, NOW), Ok(()));
        assert_eq!(
            check(Some(&q("604801")), None, false, NOW),
            Err(SigRefusal::ExpiresTooLong)
        );
        assert_eq!(
            check(Some(&q("0")), None, false, NOW),
            Err(SigRefusal::Expired)
        );
        for negative in ["-1", "-1000"] {
            assert_eq!(
                check(Some(&q(negative)), None, false, NOW),
                Err(SigRefusal::ExpiresNegative)
            );
        }
        let e = SigRefusal::ExpiresNegative.to_s3();
        assert_eq!(e.code().as_str(), "AuthorizationQueryParametersError");
        assert_eq!(e.status_code().map(|s| s.as_u16()), Some(403));
        let e = SigRefusal::Expired.to_s3();
        assert_eq!(e.code().as_str(), "AccessDenied");
        assert_eq!(e.message(), Some("Request has expired"));
        assert_eq!(e.status_code().map(|s| s.as_u16()), Some(403));
        assert_eq!(
            check(Some(&q("x")), None, false, NOW),
            Err(SigRefusal::ExpiresTooLong)
        );
        let e = SigRefusal::ExpiresTooLong.to_s3();
        assert_eq!(e.code().as_str(), "AuthorizationQueryParametersError");
        assert_eq!(e.status_code().map(|s| s.as_u16()), Some(403));
    }

    #[test]
    fn sigv2_off_unless_allowed() {
        let hdr: &[u8] = b"AWS LMKEY:c2lnbmF0dXJlcw==";
        assert_eq!(
            check(None, Some(hdr), false, NOW),
            Err(SigRefusal::SigV2Disabled)
        );
        assert_eq!(check(None, Some(hdr), true, NOW), Ok(()));
        let v4: &[u8] = b"AWS4-HMAC-SHA256 Credential=LM/x, SignedHeaders=host, Signature=ab";
        assert_eq!(check(None, Some(v4), false, NOW), Ok(()));
        let q = |exp: u64| format!("AWSAccessKeyId=LM&Expires={exp}&Signature=x%2B");
        assert_eq!(
            check(Some(&q(NOW + 60)), None, false, NOW),
            Err(SigRefusal::SigV2Disabled)
        );
        assert_eq!(check(Some(&q(NOW + 60)), None, true, NOW), Ok(()));
        assert_eq!(
            check(Some(&q(NOW + MAX_PRESIGNED_SECS)), None, true, NOW),
            Ok(())
        );
        assert_eq!(
            check(Some(&q(NOW + MAX_PRESIGNED_SECS + 1)), None, true, NOW),
            Err(SigRefusal::V2ExpiresTooLong)
        );
        let e = SigRefusal::SigV2Disabled.to_s3();
        assert_eq!(e.code().as_str(), "InvalidRequest");
        assert_eq!(e.status_code().map(|s| s.as_u16()), Some(400));
        // Anonymous: nothing to check.
        assert_eq!(check(Some("list-type=2"), None, false, NOW), Ok(()));
    }
}
