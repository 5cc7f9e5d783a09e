//! Streaming adapters between s3s bodies and the engine, so no object is
//! ever held whole in memory.
//!
//! - [`request_body`]: an s3s request body as an engine [`ByteStream`],
//!   counting bytes against a limit and computing one `x-amz-checksum-*`
//!   algorithm (see [`crate::checksum::plan`]) compared with the header or
//!   aws-chunked trailer the client sent; a mismatch fails the stream
//!   *before* its end, so the engine never commits the object.
//! - [`ObjectBody`]: an engine [`ObjectStream`] as an s3s response body
//!   with its exact length.

use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use liuma_engine::{
    ByteStream, Checksum as EngineChecksum, ChecksumAlgorithm as Alg, LateChecksum, ObjectStream,
};
use s3s::StdError;
use s3s::checksum::ChecksumHasher;
use s3s::dto::{Checksum, StreamingBlob};
use s3s::stream::{ByteStream as S3ByteStream, RemainingLength};

use crate::checksum::{Expected, Plan};

/// Why a request body was cut off by this layer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// An `x-amz-checksum-*` value does not match the data.
    #[error("The {algorithm} you specified did not match the calculated checksum.")]
    ChecksumMismatch {
        /// Algorithm name, as AWS spells it in this message.
        algorithm: &'static str,
    },
    /// An aws-chunked trailer checksum that is not base64 of the right length.
    #[error("Value for x-amz-checksum-{algorithm} trailing header is invalid.")]
    BadTrailer {
        /// Algorithm header name.
        algorithm: &'static str,
    },
    /// More bytes than allowed for one request.
    #[error("Your proposed upload exceeds the maximum allowed size of {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// Fewer bytes than a POST policy's `content-length-range` asks for.
    #[error("Your proposed upload is smaller than the minimum allowed size of {min} bytes")]
    TooSmall {
        /// The minimum.
        min: u64,
    },
    /// `x-amz-content-sha256` does not match the body (found by s3s).
    #[error("the x-amz-content-sha256 you specified did not match what we received")]
    PayloadHashMismatch,
    /// The body itself failed (connection, aws-chunked framing or signature).
    #[error("reading the request body failed: {0}")]
    Stream(#[source] StdError),
}

/// s3s's hasher (crc-fast CRCs, SHA-1, SHA-256) for one algorithm.
fn enable(h: &mut ChecksumHasher, alg: Alg) {
    match alg {
        Alg::Crc32 => h.crc32 = Some(Default::default()),
        Alg::Crc32c => h.crc32c = Some(Default::default()),
        Alg::Crc64Nvme => h.crc64nvme = Some(Default::default()),
        Alg::Sha1 => h.sha1 = Some(Default::default()),
        Alg::Sha256 => h.sha256 = Some(Default::default()),
    }
}

/// The base64 value of `alg` in an s3s `Checksum`.
fn value_of(c: Checksum, alg: Alg) -> Option<String> {
    match alg {
        Alg::Crc32 => c.checksum_crc32,
        Alg::Crc32c => c.checksum_crc32c,
        Alg::Crc64Nvme => c.checksum_crc64nvme,
        Alg::Sha1 => c.checksum_sha1,
        Alg::Sha256 => c.checksum_sha256,
    }
}

/// Wrap a request body for the engine: at most `max` bytes, checksummed
/// with the plan's one algorithm as the chunks pass (no copy). The
/// returned [`LateChecksum`] holds the verified checksum once the body
/// ended; the engine stores it with the version or part.
pub(crate) fn request_body(
    blob: StreamingBlob,
    plan: Plan,
    max: u64,
) -> (ByteStream, LateChecksum) {
    let late = LateChecksum::default();
    let mut hasher = ChecksumHasher::default();
    enable(&mut hasher, plan.algorithm);
    if plan.also_default {
        enable(&mut hasher, Alg::Crc64Nvme);
    }
    let body = CheckedBody {
        inner: blob,
        hasher: Some(hasher),
        algorithm: plan.algorithm,
        also_default: plan.also_default,
        expected: plan.expected,
        received: 0,
        max,
        done: false,
        late: late.clone(),
    };
    (Box::pin(body), late)
}

struct CheckedBody {
    inner: StreamingBlob,
    hasher: Option<ChecksumHasher>,
    algorithm: Alg,
    also_default: bool,
    expected: Expected,
    received: u64,
    max: u64,
    done: bool,
    late: LateChecksum,
}

impl CheckedBody {
    /// Compare the computed checksum with the expected one (header or
    /// trailer) at the end of the body, and hand it over.
    fn verify(&mut self) -> Result<(), BodyError> {
        let Some(hasher) = self.hasher.take() else {
            return Ok(());
        };
        let alg = self.algorithm;
        let sums = hasher.finalize();
        let of = |a: Alg| {
            value_of(sums.clone(), a)
                .and_then(|v| EngineChecksum::from_base64(a, &v))
                .ok_or_else(|| BodyError::Stream("checksum not computed".into()))
        };
        let got = of(alg)?;
        let want = match std::mem::replace(&mut self.expected, Expected::Nothing) {
            Expected::Nothing => None,
            Expected::Value(v) => Some(v),
            Expected::Trailer(t) => {
                let name = format!("x-amz-checksum-{}", alg.header_name());
                let sent = t.take().and_then(|h| {
                    h.get(name.as_str())
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                });
                match sent {
                    Some(v) => Some(EngineChecksum::from_base64(alg, &v).ok_or(
                        BodyError::BadTrailer {
                            algorithm: alg.header_name(),
                        },
                    )?),
                    None => None,
                }
            }
        };
        if want.is_some_and(|w| w.value != got.value) {
            return Err(BodyError::ChecksumMismatch {
                algorithm: alg.name(),
            });
        }
        let mut all = vec![got];
        if self.also_default {
            all.push(of(Alg::Crc64Nvme)?);
        }
        self.late.set(all);
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
    // a body of ours under this one (the POST Object file stream) already
    // says why it stopped
    let e = match e.downcast::<BodyError>() {
        Ok(ours) => return *ours,
        Err(e) => e,
    };
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
