//! What the S3 front tells the engine about a body's SHA-256.
//!
//! s3s checks a SigV4 signed payload hash (`x-amz-content-sha256` of 64
//! hex digits, with header or presigned-URL authentication) while the body
//! streams, and fails the body before its end when the bytes do not match
//! (`XAmzContentSHA256Mismatch`), so the engine never commits them. The
//! engine then stores that digest instead of hashing the same bytes a
//! second time. Any other body (`UNSIGNED-PAYLOAD`, aws-chunked, SigV2,
//! anonymous) is not hashed with SHA-256 at all: nothing on the S3 side
//! reads it (the native API, whose content identity it is, computes it).

use http::{HeaderMap, Uri};
use liuma_engine::ContentSha256;

/// SigV4 by header or by presigned URL: the two ways s3s verifies a hex
/// `x-amz-content-sha256`.
fn is_sigv4(headers: &HeaderMap, uri: &Uri) -> bool {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 "));
    let query = uri.query().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv.eq_ignore_ascii_case("X-Amz-Algorithm=AWS4-HMAC-SHA256"))
    });
    header || query
}

/// The engine's [`ContentSha256`] for a PUT or part upload: `Verified`
/// for a signed payload hash of an authenticated SigV4 request, else
/// `Skip`.
pub(crate) fn content_sha256(headers: &HeaderMap, uri: &Uri, authenticated: bool) -> ContentSha256 {
    if !authenticated || !is_sigv4(headers, uri) {
        return ContentSha256::Skip;
    }
    let digest = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() == 64)
        .and_then(|v| hex::decode(v).ok())
        .and_then(|d| <[u8; 32]>::try_from(d).ok());
    digest.map_or(ContentSha256::Skip, ContentSha256::Verified)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn headers(auth: Option<&str>, sha: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(http::header::AUTHORIZATION, a.parse().unwrap());
        }
        h.insert("x-amz-content-sha256", sha.parse().unwrap());
        h
    }

    #[test]
    fn signed_payload_hashes_are_reused_and_nothing_else() {
        let uri: Uri = "/b/k".parse().unwrap();
        let v4 = Some(
            "AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        );
        let want = ContentSha256::Verified(hex::decode(HASH).unwrap().try_into().unwrap());
        assert_eq!(content_sha256(&headers(v4, HASH), &uri, true), want);
        assert_eq!(
            content_sha256(&headers(v4, "UNSIGNED-PAYLOAD"), &uri, true),
            ContentSha256::Skip
        );
        assert_eq!(
            content_sha256(
                &headers(v4, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
                &uri,
                true
            ),
            ContentSha256::Skip
        );
        // s3s does not check the header for SigV2 or anonymous requests
        assert_eq!(
            content_sha256(&headers(Some("AWS key:sig"), HASH), &uri, true),
            ContentSha256::Skip
        );
        assert_eq!(
            content_sha256(&headers(None, HASH), &uri, false),
            ContentSha256::Skip
        );
        assert_eq!(
            content_sha256(&headers(v4, HASH), &uri, false),
            ContentSha256::Skip
        );
        let presigned: Uri = "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00"
            .parse()
            .unwrap();
        assert_eq!(content_sha256(&headers(None, HASH), &presigned, true), want);
        assert_eq!(
            content_sha256(&headers(v4, &HASH[..63]), &uri, true),
            ContentSha256::Skip,
            "not a digest"
        );
    }
}
