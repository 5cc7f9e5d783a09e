//! Conversions between s3s DTOs and engine types: metadata and standard
//! headers, timestamps, ETags (quoted on the wire, unquoted in the
//! engine), version ids, URL encoding of listings, continuation tokens.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use liuma_engine::{BucketInfo, ObjectMeta, Versioning};
use s3s::dto::{ETag, Metadata, Timestamp, TimestampFormat};
use s3s::{S3Result, s3_error};

/// Standard headers kept with an object (besides Content-Type).
#[derive(Default)]
pub(crate) struct StdHeaders {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub expires: Option<Timestamp>,
    pub website_redirect_location: Option<String>,
}

/// The standard headers of a request DTO that has them all as fields
/// (PutObject, CreateMultipartUpload, CopyObject), moved out of it.
macro_rules! std_headers_of {
    ($input:expr) => {
        $crate::conv::StdHeaders {
            content_type: $input.content_type,
            cache_control: $input.cache_control,
            content_disposition: $input.content_disposition,
            content_encoding: $input.content_encoding,
            content_language: $input.content_language,
            expires: $input.expires,
            website_redirect_location: $input.website_redirect_location,
        }
    };
}
pub(crate) use std_headers_of;

/// Build the engine's metadata from request fields.
pub(crate) fn object_meta(h: StdHeaders, user: Option<Metadata>) -> S3Result<ObjectMeta> {
    let mut headers = BTreeMap::new();
    let mut put = |name: &str, v: Option<String>| {
        if let Some(v) = v {
            headers.insert(name.to_owned(), v);
        }
    };
    put("cache-control", h.cache_control);
    put("content-disposition", h.content_disposition);
    put(
        "content-encoding",
        h.content_encoding.as_deref().and_then(without_aws_chunked),
    );
    put("content-language", h.content_language);
    put(
        "x-amz-website-redirect-location",
        h.website_redirect_location,
    );
    if let Some(ts) = h.expires {
        put("expires", Some(http_date(&ts)?));
    }
    let user = user
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    Ok(ObjectMeta {
        content_type: h.content_type,
        headers,
        user,
    })
}

/// `Content-Encoding` without `aws-chunked`, which only frames the request
/// body (AWS stores `gzip, aws-chunked` as `gzip`, and `aws-chunked` alone
/// as no encoding).
pub(crate) fn without_aws_chunked(v: &str) -> Option<String> {
    let kept: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(", "))
}

/// Standard headers back from stored metadata.
pub(crate) fn std_headers(meta: &ObjectMeta) -> StdHeaders {
    let get = |name: &str| meta.headers.get(name).cloned();
    StdHeaders {
        content_type: meta.content_type.clone(),
        cache_control: get("cache-control"),
        content_disposition: get("content-disposition"),
        content_encoding: get("content-encoding"),
        content_language: get("content-language"),
        expires: get("expires").and_then(|v| Timestamp::parse(TimestampFormat::HttpDate, &v).ok()),
        website_redirect_location: get("x-amz-website-redirect-location"),
    }
}

/// User metadata for a response (None when empty).
pub(crate) fn user_meta(meta: &ObjectMeta) -> Option<Metadata> {
    (!meta.user.is_empty()).then(|| {
        meta.user
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

fn http_date(ts: &Timestamp) -> S3Result<String> {
    let mut buf = Vec::new();
    ts.format(TimestampFormat::HttpDate, &mut buf)
        .map_err(|e| s3_error!(e, InvalidArgument, "bad date"))?;
    String::from_utf8(buf).map_err(|e| s3_error!(e, InvalidArgument, "bad date"))
}

/// A timestamp from milliseconds since the epoch.
pub(crate) fn ts(ms: u64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(ms))
}

/// Seconds since the epoch of a timestamp (HTTP dates have second precision).
pub(crate) fn secs(t: &Timestamp) -> i64 {
    let mut buf = Vec::new();
    if t.format(TimestampFormat::EpochSeconds, &mut buf).is_err() {
        return 0;
    }
    let s = String::from_utf8_lossy(&buf);
    let whole = s.split('.').next().unwrap_or("0");
    whole.parse().unwrap_or(0)
}

/// The engine's unquoted ETag as a DTO (serialized with quotes).
pub(crate) fn etag(e: &str) -> ETag {
    ETag::Strong(e.to_owned())
}

/// The version id to show: none when the bucket never had versioning.
pub(crate) fn version_header(bucket: Option<&BucketInfo>, version_id: &str) -> Option<String> {
    match bucket.map(|b| b.versioning) {
        Some(Versioning::Off) | None => None,
        Some(_) => Some(version_id.to_owned()),
    }
}

/// Percent-encode for `encoding-type=url` listings: everything but
/// unreserved characters and '/' (decoded correctly by both `unquote` and
/// `unquote_plus` style clients, since '+' is encoded).
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Opaque ListObjectsV2 continuation token for a resume key.
pub(crate) fn token_for(key: &str) -> String {
    base64_simd::URL_SAFE_NO_PAD.encode_to_string(key.as_bytes())
}

/// The resume key of a continuation token.
pub(crate) fn key_of_token(token: &str) -> S3Result<String> {
    base64_simd::URL_SAFE_NO_PAD
        .decode_to_vec(token.as_bytes())
        .ok()
        .and_then(|v| String::from_utf8(v).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })
}

/// Decode a base64 Content-MD5 header.
pub(crate) fn content_md5(v: Option<&str>) -> S3Result<Option<[u8; 16]>> {
    let Some(v) = v else { return Ok(None) };
    let bytes = base64_simd::STANDARD
        .decode_to_vec(v.trim().as_bytes())
        .map_err(|e| s3_error!(e, InvalidDigest, "Content-MD5 is not valid base64"))?;
    let arr: [u8; 16] = bytes
        .try_into()
        .map_err(|_| s3_error!(InvalidDigest, "Content-MD5 must be 16 bytes"))?;
    Ok(Some(arr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_is_reversible_by_clients() {
        assert_eq!(url_encode("a b+c/ü"), "a%20b%2Bc/%C3%BC");
        assert_eq!(url_encode("plain-key_1.txt~"), "plain-key_1.txt~");
    }

    #[test]
    fn aws_chunked_is_not_stored() {
        assert_eq!(without_aws_chunked("aws-chunked"), None);
        assert_eq!(
            without_aws_chunked("gzip, aws-chunked").as_deref(),
            Some("gzip")
        );
        assert_eq!(
            without_aws_chunked("aws-chunked,gzip").as_deref(),
            Some("gzip")
        );
        assert_eq!(without_aws_chunked("gzip, br").as_deref(), Some("gzip, br"));
    }

    #[test]
    fn tokens_round_trip() {
        for k in ["", "a/b c", "ünï/☃"] {
            assert_eq!(key_of_token(&token_for(k)).unwrap(), k);
        }
        assert!(key_of_token("!!!").is_err());
    }

    #[test]
    fn content_md5_parsing() {
        assert_eq!(content_md5(None).unwrap(), None);
        let md5 = content_md5(Some("1B2M2Y8AsgTpgAmY7PhCfg=="))
            .unwrap()
            .unwrap();
        assert_eq!(hex::encode(md5), "d41d8cd98f00b204e9800998ecf8427e");
        assert!(content_md5(Some("nope")).is_err());
        assert!(content_md5(Some("AAAA")).is_err());
    }

    #[test]
    fn metadata_round_trip() {
        let mut user = Metadata::new();
        user.insert("Color".into(), "blue".into());
        let h = StdHeaders {
            content_type: Some("text/plain".into()),
            cache_control: Some("no-cache".into()),
            expires: Some(ts(1_700_000_000_000)),
            ..Default::default()
        };
        let meta = object_meta(h, Some(user)).unwrap();
        assert_eq!(meta.user.get("color").map(String::as_str), Some("blue"));
        let back = std_headers(&meta);
        assert_eq!(back.cache_control.as_deref(), Some("no-cache"));
        assert_eq!(back.expires.map(|t| secs(&t)), Some(1_700_000_000));
    }
}
