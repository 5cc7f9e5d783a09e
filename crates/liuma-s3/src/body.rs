//! Streaming adapters between s3s bodies and the engine, so no object is
//! ever held whole in memory.
//!
//! - [`request_body`]: an s3s request body as an engine [`ByteStream`],
//!   counting bytes against a limit and computing the `x-amz-checksum-*`
//!   digests the client announced (in headers or in aws-chunked trailers);
//!   a mismatch fails the stream *before* its end, so the engine never
//!   commits the object.
//! - [`ObjectBody`]: an engine [`ObjectStream`] as an s3s response body
//!   with its exact length.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use liuma_engine::{ByteStream, ObjectStream};
use s3s::checksum::ChecksumHasher;
use s3s::dto::{Checksum, ChecksumAlgorithm, StreamingBlob};
use s3s::stream::{ByteStream as S3ByteStream, RemainingLength};
use s3s::{StdError, TrailingHeaders};

/// Why a request body was cut off by this layer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// An `x-amz-checksum-*` value does not match the data.
    #[error("the {algorithm} checksum of the data does not match the one sent")]
    ChecksumMismatch {
        /// Algorithm name.
        algorithm: &'static str,
    },
    /// More bytes than allowed for one request.
    #[error("the body exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// `x-amz-content-sha256` does not match the body (found by s3s).
    #[error("the x-amz-content-sha256 you specified did not match what we received")]
    PayloadHashMismatch,
    /// The body itself failed (connection, aws-chunked framing or signature).
    #[error("reading the request body failed: {0}")]
    Stream(#[source] StdError),
}

/// Which checksums to verify: expected values from headers, algorithms
/// announced for trailers.
#[derive(Default)]
pub(crate) struct ChecksumSpec {
    pub expected: Checksum,
    pub algorithm: Option<ChecksumAlgorithm>,
    pub trailers: Option<TrailingHeaders>,
}

/// The checksums computed over a body, filled in once it ended.
pub(crate) type Computed = Arc<Mutex<Option<Checksum>>>;

const ALGS: [&str; 5] = ["crc32", "crc32c", "sha1", "sha256", "crc64nvme"];

fn field<'a>(c: &'a mut Checksum, alg: &str) -> &'a mut Option<String> {
    match alg {
        "crc32" => &mut c.checksum_crc32,
        "crc32c" => &mut c.checksum_crc32c,
        "sha1" => &mut c.checksum_sha1,
        "sha256" => &mut c.checksum_sha256,
        _ => &mut c.checksum_crc64nvme,
    }
}

fn enable(h: &mut ChecksumHasher, alg: &str) {
    match alg {
        "crc32" => h.crc32 = Some(Default::default()),
        "crc32c" => h.crc32c = Some(Default::default()),
        "sha1" => h.sha1 = Some(Default::default()),
        "sha256" => h.sha256 = Some(Default::default()),
        "crc64nvme" => h.crc64nvme = Some(Default::default()),
        _ => {}
    }
}

/// Wrap a request body for the engine.
pub(crate) fn request_body(
    blob: StreamingBlob,
    mut spec: ChecksumSpec,
    max: u64,
) -> (ByteStream, Computed) {
    let mut hasher = ChecksumHasher::default();
    let mut any = false;
    for alg in ALGS {
        if field(&mut spec.expected, alg).is_some() {
            enable(&mut hasher, alg);
            any = true;
        }
    }
    if let Some(a) = &spec.algorithm {
        enable(&mut hasher, &a.as_str().to_ascii_lowercase());
        any = true;
    }
    if spec.trailers.is_some() {
        // Trailer names are only known at the end: compute every algorithm
        // a client may send (cheap next to the engine's own hashing).
        for alg in ALGS {
            enable(&mut hasher, alg);
        }
        any = true;
    }
    let computed: Computed = Arc::default();
    let body = CheckedBody {
        inner: blob,
        hasher: any.then_some(hasher),
        spec,
        received: 0,
        max,
        done: false,
        computed: computed.clone(),
    };
    (Box::pin(body), computed)
}

struct CheckedBody {
    inner: StreamingBlob,
    hasher: Option<ChecksumHasher>,
    spec: ChecksumSpec,
    received: u64,
    max: u64,
    done: bool,
    computed: Computed,
}

impl CheckedBody {
    /// Compare computed and expected checksums at the end of the body.
    fn verify(&mut self) -> Result<(), BodyError> {
        let Some(hasher) = self.hasher.take() else {
            return Ok(());
        };
        let mut got = hasher.finalize();
        let mut expected = std::mem::take(&mut self.spec.expected);
        if let Some(trailers) = self.spec.trailers.as_ref().and_then(TrailingHeaders::take) {
            for alg in ALGS {
                let name = format!("x-amz-checksum-{alg}");
                if let Some(v) = trailers.get(name.as_str()).and_then(|v| v.to_str().ok()) {
                    *field(&mut expected, alg) = Some(v.to_owned());
                }
            }
        }
        let mut kept = Checksum::default();
        for alg in ALGS {
            if let Some(want) = field(&mut expected, alg).take() {
                let have = field(&mut got, alg).take();
                if have.as_deref() != Some(want.as_str()) {
                    return Err(BodyError::ChecksumMismatch { algorithm: alg });
                }
                *field(&mut kept, alg) = have;
            }
        }
        // An algorithm named without a value (x-amz-sdk-checksum-algorithm): echo it.
        if let Some(a) = &self.spec.algorithm {
            let alg = a.as_str().to_ascii_lowercase();
            if field(&mut kept, &alg).is_none() {
                *field(&mut kept, &alg) = field(&mut got, &alg).take();
            }
        }
        *self.computed.lock().unwrap_or_else(PoisonError::into_inner) = Some(kept);
        Ok(())
    }
}

impl Stream for CheckedBody {
    type Item = std::io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match this.inner.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                this.received += chunk.len() as u64;
                if this.received > this.max {
                    this.done = true;
                    let e = BodyError::TooLarge { max: this.max };
                    return Poll::Ready(Some(Err(std::io::Error::other(e))));
                }
                if let Some(h) = &mut this.hasher {
                    h.update(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                Poll::Ready(Some(Err(std::io::Error::other(stream_error(e)))))
            }
            Poll::Ready(None) => {
                this.done = true;
                match this.verify() {
                    Ok(()) => Poll::Ready(None),
                    Err(e) => Poll::Ready(Some(Err(std::io::Error::other(e)))),
                }
            }
        }
    }
}

/// Classify a failure of the body under us. s3s verifies a single-chunk
/// `x-amz-content-sha256` while the body streams, but its error type
/// (`sig_v4::UploadStreamError`) is private in s3s 0.14, so its mismatch is
/// recognized by its message; anything else stays a stream failure.
fn stream_error(e: StdError) -> BodyError {
    if e.to_string() == "UploadStreamError: Sha256Mismatch" {
        BodyError::PayloadHashMismatch
    } else {
        BodyError::Stream(e)
    }
}

/// An engine object stream as an s3s response body of known length.
pub(crate) struct ObjectBody {
    // s3s bodies must be Sync; the engine's stream is only Send. A Mutex
    // that is never locked (only `get_mut`) makes it Sync at no cost.
    inner: Mutex<ObjectStream>,
    remaining: u64,
}

impl ObjectBody {
    /// Wrap `len` bytes of `stream`.
    pub(crate) fn blob(stream: ObjectStream, len: u64) -> StreamingBlob {
        StreamingBlob::new(ObjectBody {
            inner: Mutex::new(stream),
            remaining: len,
        })
    }
}

impl Stream for ObjectBody {
    type Item = Result<Bytes, StdError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let inner = this.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        match inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(b))) => {
                this.remaining = this.remaining.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(b)))
            }
            Poll::Ready(Some(Err(e))) => {
                tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "object read failed mid-stream");
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl S3ByteStream for ObjectBody {
    fn remaining_length(&self) -> RemainingLength {
        RemainingLength::new_exact(usize::try_from(self.remaining).unwrap_or(usize::MAX))
    }
}
