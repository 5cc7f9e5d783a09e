//! Engine errors → S3 errors, in exactly one place. The match is
//! exhaustive (no `_` arm): a new engine error does not compile until it
//! is mapped here. The engine error stays attached as the source; server
//! errors are logged once, here, with the caller's location.

use liuma_engine::{Error as E, KeyProblem};
use s3s::{S3Error, S3ErrorCode, s3_error};

use crate::body::BodyError;

/// Convert an engine error into the S3 error a client sees.
#[track_caller]
pub(crate) fn s3_err(e: E) -> S3Error {
    if e.is_server_error() {
        let at = std::panic::Location::caller();
        tracing::warn!(error = %e, source = ?std::error::Error::source(&e), %at, "S3 request failed");
    }
    match e {
        E::NoSuchBucket { .. } => s3_error!(e, NoSuchBucket),
        E::NoSuchKey { .. } => s3_error!(e, NoSuchKey),
        E::NoSuchVersion { .. } => s3_error!(e, NoSuchVersion),
        E::NoSuchUpload { .. } => s3_error!(e, NoSuchUpload),
        E::InvalidBucketName { .. } => s3_error!(e, InvalidBucketName),
        E::InvalidKey {
            reason: KeyProblem::TooLong,
        } => s3_error!(e, KeyTooLongError),
        E::InvalidKey {
            reason: KeyProblem::Empty | KeyProblem::Nul,
        } => s3_error!(e, InvalidArgument),
        E::BucketAlreadyOwnedByYou { .. } => s3_error!(e, BucketAlreadyOwnedByYou),
        E::BucketAlreadyExists { .. } => s3_error!(e, BucketAlreadyExists),
        E::BucketNotEmpty { .. } => s3_error!(e, BucketNotEmpty),
        E::InvalidPart { .. } => s3_error!(e, InvalidPart),
        E::InvalidPartOrder => s3_error!(e, InvalidPartOrder),
        E::InvalidPartNumber { .. } => s3_error!(e, InvalidArgument),
        E::EntityTooSmall { .. } => s3_error!(e, EntityTooSmall),
        E::EntityTooLarge { .. } => s3_error!(e, EntityTooLarge),
        E::MetadataTooLarge { .. } => s3_error!(e, MetadataTooLarge),
        E::InvalidRange { .. } => s3_error!(e, InvalidRange),
        E::BadDigest { .. } => s3_error!(e, BadDigest),
        E::IncompleteBody { .. } => s3_error!(e, IncompleteBody),
        E::Body(io) => body_error(io),
        E::PreconditionFailed => s3_error!(e, PreconditionFailed),
        E::BlockUnavailable { .. } => s3_error!(e, ServiceUnavailable),
        E::StorageFull(_) => s3_error!(e, ServiceUnavailable, "no disk has room for the data"),
        E::ShardWriteFailed(_) | E::DiskFailed(_) => {
            s3_error!(
                e,
                ServiceUnavailable,
                "the data could not be stored now; retry"
            )
        }
        E::TooFewFailureDomains { .. } => {
            // The reason (how many nodes are up, how many are needed) is what
            // lets an operator act on the 503.
            let msg = e.to_string();
            s3_error!(e, ServiceUnavailable, "{msg}")
        }
        E::MetaUnavailable(_) => {
            // The reason ("metadata disk full: ...") is what lets an operator act on a 503.
            let msg = e.to_string();
            s3_error!(e, ServiceUnavailable, "{msg}")
        }
        E::MetaRejected(_) | E::MetaFailed(_) => S3Error::internal_error(e),
        E::Overloaded { .. } => s3_error!(e, SlowDown),
        E::Conflict { .. } => s3_error!(e, OperationAborted),
        E::InvalidConfig(_) => S3Error::internal_error(e),
        E::NoSuchAccessKey { .. } => s3_error!(e, InvalidAccessKeyId),
        E::KeyExists { .. } => s3_error!(e, InvalidArgument),
        // Users are managed through the admin API only; S3 never names one.
        E::NoSuchUser { .. } => s3_error!(e, AccessDenied),
        E::UserExists { .. } | E::UserOwnsBuckets { .. } => s3_error!(e, InvalidArgument),
        E::NoSuchUserPolicy { .. } => s3_error!(e, AccessDenied),
        E::MalformedPolicy { .. } => {
            let msg = e.to_string();
            s3_error!(e, MalformedPolicy, "{msg}")
        }
        E::InvalidChecksum { reason } => s3_error!(e, InvalidRequest, "{reason}"),
        E::InvalidArgument { .. } => s3_error!(e, InvalidArgument),
        E::ConditionalConflict { .. } => s3_error!(e, ConditionalRequestConflict),
        E::PartNotSatisfiable { .. } => {
            // Not in s3s's code list; AWS answers it with 416.
            let msg = e.to_string();
            let mut err =
                S3Error::with_message(S3ErrorCode::Custom("InvalidPartNumber".into()), msg);
            err.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
            err.set_source(Box::new(e));
            err
        }
        // Admin operations only (cluster membership): no S3 request makes them.
        E::NoSuchNode { .. } | E::MembershipRefused { .. } => S3Error::internal_error(e),
        // AWS's messages for SSE-C requests without / with the wrong key.
        E::SseCustomerKeyRequired => s3_error!(
            e,
            InvalidRequest,
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
        ),
        E::SseCustomerKeyMismatch => s3_error!(e, AccessDenied, "Access Denied"),
        E::SseNotApplicable => s3_error!(
            e,
            InvalidRequest,
            "The encryption parameters are not applicable to this object."
        ),
        E::SseUnavailable => s3_error!(e, NotImplemented),
        E::SseKeyRetired { .. } => s3_error!(e, ServiceUnavailable),
        E::Crypt(_) => S3Error::internal_error(e),
        E::Internal(_) => S3Error::internal_error(e),
    }
}

/// A request body that failed while the engine read it: our own checks
/// (checksum, size) ride inside the `io::Error`; anything else is the
/// client's connection or framing.
fn body_error(io: std::io::Error) -> S3Error {
    let ours = io.get_ref().and_then(|s| s.downcast_ref::<BodyError>());
    let code = match ours {
        Some(BodyError::ChecksumMismatch { .. }) => S3ErrorCode::BadDigest,
        Some(BodyError::BadTrailer { .. }) => S3ErrorCode::InvalidRequest,
        // Not in s3s's code list; AWS answers it with 400.
        Some(BodyError::PayloadHashMismatch) => {
            S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into())
        }
        Some(BodyError::TooLarge { .. }) => S3ErrorCode::EntityTooLarge,
        Some(BodyError::TooSmall { .. }) => S3ErrorCode::EntityTooSmall,
        Some(BodyError::Stream(_)) | None => S3ErrorCode::IncompleteBody,
    };
    let msg = io.to_string();
    let mut err = S3Error::with_message(code, msg);
    if err.status_code().is_none() {
        err.set_status_code(http::StatusCode::BAD_REQUEST);
    }
    err.set_source(Box::new(io));
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        let cases: Vec<(E, &str, u16)> = vec![
            (E::NoSuchBucket { bucket: "b".into() }, "NoSuchBucket", 404),
            (
                E::NoSuchKey {
                    bucket: "b".into(),
                    key: "k".into(),
                },
                "NoSuchKey",
                404,
            ),
            (
                E::NoSuchUpload {
                    upload_id: "u".into(),
                },
                "NoSuchUpload",
                404,
            ),
            (
                E::BucketNotEmpty { bucket: "b".into() },
                "BucketNotEmpty",
                409,
            ),
            (E::InvalidPartOrder, "InvalidPartOrder", 400),
            (E::PreconditionFailed, "PreconditionFailed", 412),
            (
                E::ConditionalConflict { what: "b/k".into() },
                "ConditionalRequestConflict",
                409,
            ),
            (
                E::PartNotSatisfiable {
                    part_number: 3,
                    parts: 2,
                },
                "InvalidPartNumber",
                416,
            ),
            (
                E::InvalidRange {
                    start: 5,
                    end: 6,
                    size: 1,
                },
                "InvalidRange",
                416,
            ),
            (E::BadDigest { algorithm: "md5" }, "BadDigest", 400),
            (
                E::MetadataTooLarge {
                    size: 3000,
                    max: 2048,
                },
                "MetadataTooLarge",
                400,
            ),
            (
                E::MetaUnavailable(liuma_meta::Error::Closed),
                "ServiceUnavailable",
                503,
            ),
            (
                E::Internal(Box::new(std::io::Error::other("x"))),
                "InternalError",
                500,
            ),
        ];
        for (e, code, status) in cases {
            let s = s3_err(e);
            assert_eq!(s.code().as_str(), code);
            assert_eq!(s.status_code().map(|c| c.as_u16()), Some(status), "{code}");
            assert!(
                s.source().is_some() || code == "InternalError",
                "{code} keeps its source"
            );
        }
    }

    #[test]
    fn metadata_faults_reach_the_client_with_their_reason() {
        let full = std::io::Error::from_raw_os_error(28); // ENOSPC
        let fault = liuma_meta::Fault::DiskFull(std::sync::Arc::new(full));
        let s = s3_err(E::MetaUnavailable(liuma_meta::Error::Fault(fault)));
        assert_eq!(s.code().as_str(), "ServiceUnavailable");
        assert_eq!(s.status_code().map(|c| c.as_u16()), Some(503));
        let msg = s.message().unwrap_or_default();
        assert!(msg.contains("metadata disk full"), "{msg}");
        assert!(msg.contains("No space left on device"), "{msg}");
    }

    #[test]
    fn body_errors_keep_their_meaning() {
        let bad = std::io::Error::other(BodyError::ChecksumMismatch { algorithm: "CRC32" });
        assert_eq!(s3_err(E::Body(bad)).code().as_str(), "BadDigest");
        let big = std::io::Error::other(BodyError::TooLarge { max: 1 });
        assert_eq!(s3_err(E::Body(big)).code().as_str(), "EntityTooLarge");
        let sha = std::io::Error::other(BodyError::PayloadHashMismatch);
        let e = s3_err(E::Body(sha));
        assert_eq!(e.code().as_str(), "XAmzContentSHA256Mismatch");
        assert_eq!(e.status_code().map(|c| c.as_u16()), Some(400));
        for (problem, code) in [
            (KeyProblem::Empty, "InvalidArgument"),
            (KeyProblem::Nul, "InvalidArgument"),
            (KeyProblem::TooLong, "KeyTooLongError"),
        ] {
            let e = s3_err(E::InvalidKey { reason: problem });
            assert_eq!(e.code().as_str(), code);
            assert_eq!(e.status_code().map(|c| c.as_u16()), Some(400));
        }
        let gone = std::io::Error::other("connection reset");
        assert_eq!(s3_err(E::Body(gone)).code().as_str(), "IncompleteBody");
    }
}
