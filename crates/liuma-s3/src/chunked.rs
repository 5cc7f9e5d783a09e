//! PUTs without a length: `Transfer-Encoding: chunked` and no
//! `Content-Length` (plain HTTP chunking, e.g. `curl -T -`), which AWS,
//! Ceph RGW and MinIO accept for a PutObject/UploadPart whose payload is
//! unsigned (`UNSIGNED-PAYLOAD` or a presigned URL).
//!
//! s3s 0.14 refuses an `UNSIGNED-PAYLOAD` request whose length it cannot
//! tell (411 `MissingContentLength`, `ops/signature.rs`), though nothing
//! downstream needs it: the body is streamed into blocks and bounded by
//! the front end's size limit as it arrives. [`UnknownLength`] gives
//! such a body a size hint of that limit, which is all s3s checks; the
//! operation still sees no `Content-Length` (s3s reads the header), so
//! the engine takes the body for what it is: any length up to the limit,
//! `EntityTooLarge` beyond it with nothing stored.
//!
//! A body whose SHA-256 is signed (`x-amz-content-sha256: <hex>`) still
//! needs its length: s3s verifies the hash against exactly that many bytes.

use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, Method, header};
use http_body::{Body, Frame, SizeHint};

/// True for a PUT sent with chunked transfer coding, no `Content-Length`
/// and a payload that is not signed byte for byte.
pub(crate) fn needs_hint(method: &Method, headers: &HeaderMap) -> bool {
    let chunked = headers.get_all(header::TRANSFER_ENCODING).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("chunked"))
    });
    let unsigned = headers
        .get("x-amz-content-sha256")
        .is_none_or(|v| v.as_bytes() == b"UNSIGNED-PAYLOAD");
    method == Method::PUT && chunked && !headers.contains_key(header::CONTENT_LENGTH) && unsigned
}

/// A request body of unknown length that reports `limit` as its size.
pub(crate) struct UnknownLength<B> {
    inner: Pin<Box<B>>,
    limit: u64,
}

impl<B> UnknownLength<B> {
    pub(crate) fn new(inner: B, limit: u64) -> Self {
        UnknownLength {
            inner: Box::pin(inner),
            limit,
        }
    }
}

impl<B: Body> Body for UnknownLength<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.get_mut().inner.as_mut().poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_unsigned_chunked_puts_without_length() {
        let te = ("transfer-encoding", "chunked");
        let unsigned = ("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
        assert!(needs_hint(&Method::PUT, &headers(&[te, unsigned])));
        assert!(needs_hint(&Method::PUT, &headers(&[te])), "presigned");
        assert!(!needs_hint(&Method::POST, &headers(&[te, unsigned])));
        assert!(!needs_hint(&Method::PUT, &headers(&[unsigned])));
        assert!(!needs_hint(
            &Method::PUT,
            &headers(&[te, unsigned, ("content-length", "5")])
        ));
        let signed = ("x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb924");
        assert!(!needs_hint(&Method::PUT, &headers(&[te, signed])));
    }
}
