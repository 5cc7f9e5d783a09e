//! Reads that hit a delete marker. The engine answers `NoSuchKey`; S3 also
//! tells the client *why* (AWS, GetObject/HeadObject):
//!
//! - the key's current version is a delete marker: 404 `NoSuchKey` with
//!   `x-amz-delete-marker: true` and the marker's `x-amz-version-id`;
//! - a delete marker asked for by version id: 405 `MethodNotAllowed` with
//!   the same two headers and the marker's `Last-Modified`.
//!
//! The marker is looked up only on this error path.

use http::{HeaderMap, HeaderValue};
use liuma_engine::Error as E;
use s3s::{S3Error, S3ErrorCode};

use crate::error::s3_err;
use crate::service::LiumaS3;

/// The S3 error for a failed read of `bucket/key` (at `version_id`).
pub(crate) async fn read_error(
    s: &LiumaS3,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    e: E,
) -> S3Error {
    if !matches!(e, E::NoSuchKey { .. }) {
        return s3_err(e);
    }
    let marker = match s.engine.version_info(bucket, key, version_id).await {
        Ok(info) if info.delete_marker => info,
        _ => return s3_err(e),
    };
    let b = s.engine.bucket(bucket).await.ok();
    let mut h = HeaderMap::new();
    h.insert("x-amz-delete-marker", HeaderValue::from_static("true"));
    if let Some(v) = crate::conv::version_header(b.as_ref(), &marker.version_id)
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        h.insert("x-amz-version-id", v);
    }
    let mut err = if version_id.is_some() {
        if let Ok(v) = HeaderValue::from_str(&http_date(marker.last_modified_ms)) {
            h.insert(http::header::LAST_MODIFIED, v);
        }
        S3Error::with_message(
            S3ErrorCode::MethodNotAllowed,
            "The specified method is not allowed against this resource.",
        )
    } else {
        let mut err = s3_err(e);
        err.set_message("The specified key does not exist.");
        err
    };
    err.set_headers(h);
    err
}

/// An HTTP date (IMF-fixdate) for ms since the epoch.
fn http_date(ms: u64) -> String {
    let t = crate::conv::ts(ms - ms % 1000);
    let mut buf = Vec::new();
    match t.format(s3s::dto::TimestampFormat::HttpDate, &mut buf) {
        Ok(()) => String::from_utf8(buf).unwrap_or_default(),
        Err(_) => String::new(),
    }
}
