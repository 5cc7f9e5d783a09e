//! Server-side encryption headers: `x-amz-server-side-encryption` (SSE-S3)
//! and `x-amz-server-side-encryption-customer-*` (SSE-C), parsed and
//! checked the way AWS does (codes and messages), and the response headers
//! that tell a client how an object is stored. Bucket default encryption
//! (Put/Get/DeleteBucketEncryption) is here too.

use liuma_engine::{BucketEncryption, CustomerKey, Sse, SseRequest};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::bucket::existing;
use crate::error::s3_err;
use crate::service::LiumaS3;

/// The SSE-C headers of a request (or of its copy source).
#[derive(Clone, Copy, Default)]
pub(crate) struct CustomerHeaders<'a> {
    pub algorithm: Option<&'a str>,
    pub key: Option<&'a str>,
    pub key_md5: Option<&'a str>,
}

/// `CustomerHeaders` from an input's `sse_customer_*` fields.
macro_rules! customer_headers {
    ($input:expr) => {
        $crate::sse::CustomerHeaders {
            algorithm: $input.sse_customer_algorithm.as_deref(),
            key: $input.sse_customer_key.as_deref(),
            key_md5: $input.sse_customer_key_md5.as_deref(),
        }
    };
}
pub(crate) use customer_headers;

/// Set an output's SSE fields from a version's encryption.
macro_rules! set_sse {
    ($out:expr, $sse:expr) => {{
        let (sse, algorithm, md5) = $crate::sse::answer($sse);
        $out.server_side_encryption = sse;
        $out.sse_customer_algorithm = algorithm;
        $out.sse_customer_key_md5 = md5;
    }};
}
pub(crate) use set_sse;

fn invalid(msg: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, msg.to_owned())
}

/// Whether SSE-C keys may travel on this request: over TLS, or anywhere
/// when the node allows it (`--sse-c-plain-http`, for a TLS proxy in front).
pub(crate) fn secure<T>(s: &LiumaS3, req: &S3Request<T>) -> bool {
    s.settings.ssec_plain_http
        || req
            .extensions
            .get::<crate::ClientConn>()
            .is_some_and(|c| c.tls)
}

/// The customer key a request carries, checked as AWS checks it.
pub(crate) fn customer_key(h: CustomerHeaders<'_>, secure: bool) -> S3Result<Option<CustomerKey>> {
    if h.algorithm.is_none() && h.key.is_none() && h.key_md5.is_none() {
        return Ok(None);
    }
    if !secure {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.",
        ));
    }
    match h.algorithm {
        None => {
            return Err(invalid(
                "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
            ));
        }
        Some("AES256") => {}
        Some(_) => {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidEncryptionAlgorithmError,
                "The encryption request you specified is not valid. The valid value is AES256.",
            ));
        }
    }
    let Some(key) = h.key else {
        return Err(invalid(
            "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.",
        ));
    };
    let bytes = base64_simd::STANDARD
        .decode_to_vec(key.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| invalid("The secret key was invalid for the specified algorithm."))?;
    let key = CustomerKey::from_bytes(bytes);
    let Some(md5) = h.key_md5 else {
        return Err(invalid(
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.",
        ));
    };
    if md5.trim() != key.md5_base64() {
        return Err(invalid(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
        ));
    }
    Ok(Some(key))
}

/// What a write asks for: SSE-S3, SSE-C, or nothing (the bucket default).
pub(crate) fn write_request(
    sse: Option<&ServerSideEncryption>,
    customer: CustomerHeaders<'_>,
    secure: bool,
) -> S3Result<Option<SseRequest>> {
    let key = customer_key(customer, secure)?;
    match (sse, key) {
        (Some(_), Some(_)) => Err(invalid(
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
        )),
        (None, Some(k)) => Ok(Some(SseRequest::Customer(k))),
        (Some(v), None) => match v.as_str() {
            ServerSideEncryption::AES256 => Ok(Some(SseRequest::S3)),
            // Valid AWS values this server cannot honour: there is no KMS.
            ServerSideEncryption::AWS_KMS | ServerSideEncryption::AWS_KMS_DSSE => {
                Err(S3Error::with_message(
                    S3ErrorCode::NotImplemented,
                    "SSE-KMS is not supported: this server has no key management service (use AES256)",
                ))
            }
            _ => Err(invalid("The encryption method specified is not supported")),
        },
        (None, None) => Ok(None),
    }
}

/// The response headers of a version's encryption: (SSE, SSE-C algorithm, key MD5).
pub(crate) fn answer(
    sse: Option<&Sse>,
) -> (Option<ServerSideEncryption>, Option<String>, Option<String>) {
    match sse {
        Some(Sse::S3) => (
            Some(ServerSideEncryption::from_static(
                ServerSideEncryption::AES256,
            )),
            None,
            None,
        ),
        Some(Sse::Customer { key_md5, .. }) => {
            (None, Some("AES256".to_owned()), Some(key_md5.clone()))
        }
        None => (None, None, None),
    }
}

/// The response headers of a write that asked for `req` into a bucket
/// with (`default`) or without a default encryption.
pub(crate) fn answer_request(
    req: Option<&SseRequest>,
    default: bool,
) -> (Option<ServerSideEncryption>, Option<String>, Option<String>) {
    match req {
        Some(SseRequest::S3) => answer(Some(&Sse::S3)),
        Some(SseRequest::Customer(k)) => (None, Some("AES256".to_owned()), Some(k.md5_base64())),
        None if default => answer(Some(&Sse::S3)),
        None => (None, None, None),
    }
}

pub(crate) async fn put_bucket_encryption(
    s: &LiumaS3,
    req: S3Request<PutBucketEncryptionInput>,
) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
    let bucket = existing(&req, &req.input.bucket)?;
    let conf = &req.input.server_side_encryption_configuration;
    // One rule, as AWS accepts; its algorithm must be one AWS knows.
    let [rule] = conf.rules.as_slice() else {
        return Err(S3Error::with_message(
            S3ErrorCode::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema",
        ));
    };
    let Some(by_default) = &rule.apply_server_side_encryption_by_default else {
        return Err(S3Error::with_message(
            S3ErrorCode::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema",
        ));
    };
    match by_default.sse_algorithm.as_str() {
        ServerSideEncryption::AES256 => {
            if by_default.kms_master_key_id.is_some() {
                return Err(invalid(
                    "a KMSMasterKeyID is allowed only if SSEAlgorithm is aws:kms or aws:kms:dsse",
                ));
            }
        }
        ServerSideEncryption::AWS_KMS | ServerSideEncryption::AWS_KMS_DSSE => {
            return Err(S3Error::with_message(
                S3ErrorCode::NotImplemented,
                "SSE-KMS is not supported: this server has no key management service (use AES256)",
            ));
        }
        _ => {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
    }
    let enc = BucketEncryption {
        bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false),
    };
    s.engine
        .set_bucket_encryption(&bucket.name, Some(enc))
        .await
        .map_err(s3_err)?;
    Ok(S3Response::new(PutBucketEncryptionOutput::default()))
}

pub(crate) async fn get_bucket_encryption(
    s: &LiumaS3,
    req: S3Request<GetBucketEncryptionInput>,
) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
    let bucket = existing(&req, &req.input.bucket)?;
    // liuma does not encrypt buckets without a default (AWS reports SSE-S3
    // for every bucket since 2023, because AWS encrypts them all): saying
    // so would be false, so no default is AWS's older 404.
    let Some(enc) = s
        .engine
        .bucket_encryption(&bucket.name)
        .await
        .map_err(s3_err)?
    else {
        // AWS answers 404 (s3s's code table says 400).
        let mut e = s3_error!(
            ServerSideEncryptionConfigurationNotFoundError,
            "The server side encryption configuration was not found"
        );
        e.set_status_code(http::StatusCode::NOT_FOUND);
        return Err(e);
    };
    let rule = ServerSideEncryptionRule {
        apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
            kms_master_key_id: None,
            sse_algorithm: ServerSideEncryption::from_static(ServerSideEncryption::AES256),
        }),
        bucket_key_enabled: Some(enc.bucket_key_enabled),
    };
    Ok(S3Response::new(GetBucketEncryptionOutput {
        server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration {
            rules: vec![rule],
        }),
    }))
}

pub(crate) async fn delete_bucket_encryption(
    s: &LiumaS3,
    req: S3Request<DeleteBucketEncryptionInput>,
) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
    let bucket = existing(&req, &req.input.bucket)?;
    s.engine
        .set_bucket_encryption(&bucket.name, None)
        .await
        .map_err(s3_err)?;
    Ok(S3Response::new(DeleteBucketEncryptionOutput::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(key: &'a str, md5: &'a str) -> CustomerHeaders<'a> {
        CustomerHeaders {
            algorithm: Some("AES256"),
            key: Some(key),
            key_md5: Some(md5),
        }
    }

    #[test]
    fn customer_keys_are_checked_like_aws() {
        let raw = [7u8; 32];
        let key = base64_simd::STANDARD.encode_to_string(raw);
        let md5 = CustomerKey::from_bytes(raw).md5_base64();
        assert!(customer_key(headers(&key, &md5), true).unwrap().is_some());
        let code = |r: S3Result<Option<CustomerKey>>| r.err().map(|e| e.code().clone());
        assert_eq!(
            code(customer_key(headers(&key, &md5), false)),
            Some(S3ErrorCode::InvalidRequest),
            "never over plain HTTP"
        );
        assert_eq!(
            code(customer_key(headers(&key, "AAAA"), true)),
            Some(S3ErrorCode::InvalidArgument)
        );
        let short = base64_simd::STANDARD.encode_to_string([1u8; 16]);
        assert_eq!(
            code(customer_key(headers(&short, &md5), true)),
            Some(S3ErrorCode::InvalidArgument)
        );
        let mut h = headers(&key, &md5);
        h.algorithm = Some("AES128");
        assert_eq!(
            code(customer_key(h, true)),
            Some(S3ErrorCode::InvalidEncryptionAlgorithmError)
        );
        assert!(
            customer_key(CustomerHeaders::default(), false)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn sse_values() {
        let v = |s: &str| ServerSideEncryption::from(s.to_owned());
        let none = CustomerHeaders::default();
        assert_eq!(
            write_request(Some(&v("AES256")), none, false).unwrap(),
            Some(SseRequest::S3)
        );
        let code = |r: S3Result<Option<SseRequest>>| r.err().map(|e| e.code().clone());
        assert_eq!(
            code(write_request(Some(&v("aws:kms")), none, false)),
            Some(S3ErrorCode::NotImplemented)
        );
        assert_eq!(
            code(write_request(Some(&v("AES128")), none, false)),
            Some(S3ErrorCode::InvalidArgument)
        );
    }
}
