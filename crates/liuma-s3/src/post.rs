//! POST Object: browser-based uploads (`multipart/form-data` to the bucket
//! URL, authorized by a signed policy document).
//!
//! Served here, in front of s3s, because s3s 0.14 reads the whole file
//! into memory before the access check (`aggregate_file_stream_limited` in
//! its `prepare`), answers failed conditions with 400 instead of 403,
//! checks the x-amz-date of a form against the clock (a page loaded
//! minutes before its upload would fail; AWS bounds a form by the policy's
//! `expiration`), ignores `${filename}`, the `acl` and `tagging` fields.
//!
//! The steps, in AWS's order: read the fields before the file
//! ([`crate::form`]), verify the signature (SigV4 over the base64 policy,
//! or SigV2 when enabled; the secret comes from [`KeyAuth`], so disabled or
//! deleted keys fail as on every other request), check the policy
//! ([`crate::postpolicy`]), decide access as every S3 request does
//! ([`KeyAccess::decide`], operation `PostObject`), then stream the file
//! into the same PutObject path ([`crate::object::put_object`]: metadata,
//! tags, checksums, Content-MD5), the policy's size range enforced while
//! it streams. The answer is 204 (default), 200, 201 with a
//! `PostResponse` document, or 303 to `success_action_redirect`.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use s3s::auth::{Credentials, S3Auth};
use s3s::dto::{
    ChecksumAlgorithm, ObjectCannedACL, PutObjectInput, StreamingBlob, Tagging, Timestamp,
    TimestampFormat,
};
use s3s::path::S3Path;
use s3s::{Body, S3Error, S3ErrorCode, S3Request, S3Result};
use subtle::ConstantTimeEq as _;

use crate::auth::{KeyAccess, KeyAuth};
use crate::form::{FormError, read_form};
use crate::postpolicy::{self, Signing};
use crate::service::LiumaS3;
use crate::sigcheck::SigRefusal;

/// The POST Object handler: the S3 implementation and the same key lookup
/// and access decision s3s uses.
pub(crate) struct PostObject {
    pub s3: LiumaS3,
    pub auth: KeyAuth,
    pub access: KeyAccess,
}

/// The bucket and form boundary of a POST Object request: a POST of
/// `multipart/form-data` to a bucket (path-style `/bucket`, or `/` on a
/// virtual host, `vhost` being the bucket its host names).
pub(crate) fn target(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    vhost: Option<&str>,
) -> Option<(String, String)> {
    if method != Method::POST {
        return None;
    }
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let boundary = crate::form::boundary(ct)?;
    let rest = path.trim_start_matches('/');
    let bucket = match vhost {
        Some(b) if rest.is_empty() => b.to_owned(),
        Some(_) => return None,
        None => {
            let b = rest.strip_suffix('/').unwrap_or(rest);
            if b.is_empty() || b.contains('/') {
                return None;
            }
            b.to_owned()
        }
    };
    Some((bucket, boundary))
}

fn err(code: S3ErrorCode, status: StatusCode, msg: impl Into<String>) -> S3Error {
    let mut e = S3Error::with_message(code, msg.into());
    e.set_status_code(status);
    e
}

fn bad(code: S3ErrorCode, msg: impl Into<String>) -> S3Error {
    err(code, StatusCode::BAD_REQUEST, msg)
}

fn form_error(e: &FormError) -> S3Error {
    let code = match e {
        FormError::Malformed | FormError::Stream(_) => S3ErrorCode::MalformedPOSTRequest,
        FormError::PreDataTooLarge => {
            S3ErrorCode::Custom("MaxPostPreDataLengthExceededError".into())
        }
        FormError::NoFile => S3ErrorCode::InvalidArgument,
    };
    bad(code, e.to_string())
}

fn missing(field: &str) -> S3Error {
    bad(
        S3ErrorCode::InvalidArgument,
        format!(
            "Bucket POST must contain a field named '{field}'.  If it is specified, please check the order of the fields."
        ),
    )
}

/// Canned ACLs AWS accepts on an object.
const CANNED_ACLS: [&str; 7] = [
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
];

/// The `tagging` field (a `<Tagging>` document) as an `x-amz-tagging`
/// header value, so PutObject checks the tags as for a header.
fn tagging_header(xml: &str) -> S3Result<String> {
    let malformed = || {
        bad(
            S3ErrorCode::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    };
    let mut d = s3s::xml::Deserializer::new(xml.as_bytes());
    let t = <Tagging as s3s::xml::Deserialize>::deserialize(&mut d).map_err(|_| malformed())?;
    Ok(t.tag_set
        .into_iter()
        .map(|t| {
            format!(
                "{}={}",
                crate::conv::url_encode(t.key.as_deref().unwrap_or_default()),
                crate::conv::url_encode(t.value.as_deref().unwrap_or_default())
            )
        })
        .collect::<Vec<_>>()
        .join("&"))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

impl PostObject {
    /// Serve one POST Object request; errors are rendered by the caller.
    pub(crate) async fn serve<B>(
        &self,
        req: Request<B>,
        bucket: String,
        boundary: String,
    ) -> S3Result<Response<Body>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        s3s::StdError: From<B::Error>,
    {
        let (parts, body) = req.into_parts();
        let (form, mut file) = read_form(Body::http_body_unsync(body), &boundary)
            .await
            .map_err(|e| form_error(&e))?;
        let key_field = form.get("key").ok_or_else(|| missing("key"))?;
        let key = key_field.replace("${filename}", &form.filename);
        if key.is_empty() {
            return Err(bad(
                S3ErrorCode::InvalidArgument,
                "User key must have a length greater than 0.",
            ));
        }
        let (credentials, signing) = self.verify(&form).await?;
        let policy = match signing {
            Some(signing) => {
                let policy = postpolicy::parse(form.get("policy").unwrap_or_default())
                    .map_err(|e| e.to_s3())?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                postpolicy::check(&policy, &form, &bucket, &key, signing, now)
                    .map_err(|e| e.to_s3())?;
                Some(policy)
            }
            None => None,
        };
        file.limit(postpolicy::size_range(
            policy.as_ref(),
            self.s3.settings.max_put_bytes,
        ));
        let caller = self
            .access
            .decide(
                "PostObject",
                // the object it writes: a policy decides on `bucket/key`,
                // as AWS evaluates a POST as s3:PutObject on the object
                &S3Path::object(&bucket, &key),
                credentials.as_ref(),
                &parts.uri,
                &parts.headers,
                parts.extensions.get::<crate::ClientConn>().copied(),
            )
            .await?;

        let field = |name: &str| form.get(name).map(str::to_owned);
        let mut input = PutObjectInput {
            bucket: bucket.clone(),
            key: key.clone(),
            body: Some(StreamingBlob::wrap(file)),
            content_type: field("content-type"),
            cache_control: field("cache-control"),
            content_disposition: field("content-disposition"),
            content_encoding: field("content-encoding"),
            content_language: field("content-language"),
            content_md5: field("content-md5"),
            website_redirect_location: field("x-amz-website-redirect-location"),
            checksum_crc32: field("x-amz-checksum-crc32"),
            checksum_crc32c: field("x-amz-checksum-crc32c"),
            checksum_crc64nvme: field("x-amz-checksum-crc64nvme"),
            checksum_sha1: field("x-amz-checksum-sha1"),
            checksum_sha256: field("x-amz-checksum-sha256"),
            checksum_algorithm: field("x-amz-checksum-algorithm").map(ChecksumAlgorithm::from),
            // Checked by PutObject as its headers would be.
            server_side_encryption: field("x-amz-server-side-encryption")
                .map(s3s::dto::ServerSideEncryption::from),
            sse_customer_algorithm: field("x-amz-server-side-encryption-customer-algorithm"),
            sse_customer_key: field("x-amz-server-side-encryption-customer-key"),
            sse_customer_key_md5: field("x-amz-server-side-encryption-customer-key-md5"),
            ..Default::default()
        };
        if let Some(v) = form.get("expires") {
            let t = Timestamp::parse(TimestampFormat::HttpDate, v)
                .map_err(|_| bad(S3ErrorCode::InvalidArgument, "Invalid Expires field"))?;
            input.expires = Some(t);
        }
        let meta: s3s::dto::Metadata = form
            .fields
            .iter()
            .filter_map(|(n, v)| Some((n.strip_prefix("x-amz-meta-")?.to_owned(), v.clone())))
            .collect();
        input.metadata = (!meta.is_empty()).then_some(meta);
        if let Some(xml) = form.get("tagging") {
            input.tagging = Some(tagging_header(xml)?);
        }
        if let Some(acl) = form.get("acl") {
            if !CANNED_ACLS.contains(&acl) {
                return Err(bad(
                    S3ErrorCode::InvalidArgument,
                    format!("Invalid canned ACL: {acl}"),
                ));
            }
            // Stored with the object by PutObject's ACL handling
            // (`object_acl::for_new_object`), PublicAccessBlock and
            // ownership rules included.
            input.acl = Some(ObjectCannedACL::from(acl.to_owned()));
        }
        let mut extensions = http::Extensions::new();
        extensions.insert(caller);
        // TLS or not decides whether SSE-C fields may be used.
        if let Some(conn) = parts.extensions.get::<crate::ClientConn>().copied() {
            extensions.insert(conn);
        }
        let put = S3Request {
            input,
            method: Method::PUT,
            uri: parts.uri.clone(),
            // The form's headers describe the form, not the object.
            headers: HeaderMap::new(),
            extensions,
            credentials,
            region: None,
            service: None,
            trailing_headers: None,
        };
        let out = crate::object::put_object(&self.s3, put).await?.output;
        let etag = format!(
            "\"{}\"",
            out.e_tag.as_ref().map(|e| e.value()).unwrap_or_default()
        );
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        // The scheme the client used: a POST over https gets an https Location.
        let scheme = match parts.extensions.get::<crate::ClientConn>() {
            Some(c) if c.tls => "https",
            _ => "http",
        };
        let location = format!(
            "{scheme}://{host}/{bucket}/{}",
            crate::conv::url_encode(&key)
        );
        let redirect = form
            .get("success_action_redirect")
            .or_else(|| form.get("redirect"))
            .and_then(|r| url::Url::parse(r).ok());
        let mut resp = if let Some(mut url) = redirect {
            url.query_pairs_mut()
                .append_pair("bucket", &bucket)
                .append_pair("key", &key)
                .append_pair("etag", &etag);
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::SEE_OTHER;
            if let Ok(v) = HeaderValue::from_str(url.as_str()) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        } else {
            match form.get("success_action_status") {
                Some("200") => Response::new(Body::empty()),
                Some("201") => {
                    let xml = format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></PostResponse>",
                        xml_escape(&location),
                        xml_escape(&bucket),
                        xml_escape(&key),
                        xml_escape(&etag)
                    );
                    let mut r = Response::new(Body::from(xml));
                    *r.status_mut() = StatusCode::CREATED;
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/xml"),
                    );
                    r
                }
                _ => {
                    let mut r = Response::new(Body::empty());
                    *r.status_mut() = StatusCode::NO_CONTENT;
                    r
                }
            }
        };
        let redirected = resp.status() == StatusCode::SEE_OTHER;
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        if !redirected && let Ok(v) = HeaderValue::from_str(&location) {
            h.insert(header::LOCATION, v);
        }
        if let Some(v) = out.version_id.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert("x-amz-version-id", v);
        }
        Ok(resp)
    }

    /// Verify the form's signature: the caller's credentials and how the
    /// form was signed, or neither for an unsigned (anonymous) form.
    async fn verify(
        &self,
        form: &crate::form::Form,
    ) -> S3Result<(Option<Credentials>, Option<Signing>)> {
        if let Some(sig) = form.get("x-amz-signature") {
            let policy = form.get("policy").ok_or_else(|| missing("policy"))?;
            let algorithm = form
                .get("x-amz-algorithm")
                .ok_or_else(|| missing("x-amz-algorithm"))?;
            if algorithm != liuma_sigv4::ALGORITHM {
                return Err(bad(
                    S3ErrorCode::InvalidArgument,
                    "Unsupported x-amz-algorithm; only AWS4-HMAC-SHA256 is accepted.",
                ));
            }
            form.get("x-amz-date")
                .ok_or_else(|| missing("x-amz-date"))?;
            let credential = form
                .get("x-amz-credential")
                .ok_or_else(|| missing("x-amz-credential"))?;
            let parts: Vec<&str> = credential.split('/').collect();
            let [access_key, date, region, service, "aws4_request"] = parts.as_slice() else {
                return Err(bad(
                    S3ErrorCode::InvalidArgument,
                    format!("Invalid credential in x-amz-credential: {credential}"),
                ));
            };
            let secret = self.auth.get_secret_key(access_key).await?;
            let aws4 = format!("AWS4{}", secret.expose());
            let key = liuma_sigv4::signing_key(aws4.as_bytes(), date, region, service);
            let want = liuma_sigv4::signature(&key, policy);
            if !bool::from(want.as_bytes().ct_eq(sig.to_ascii_lowercase().as_bytes())) {
                return Err(signature_mismatch());
            }
            let c = Credentials {
                access_key: (*access_key).to_owned(),
                secret_key: secret,
            };
            return Ok((Some(c), Some(Signing::V4)));
        }
        if let Some(sig) = form.get("signature") {
            if !self.s3.settings.allow_sigv2 {
                return Err(SigRefusal::SigV2Disabled.to_s3());
            }
            let policy = form.get("policy").ok_or_else(|| missing("policy"))?;
            let access_key = form
                .get("awsaccesskeyid")
                .ok_or_else(|| missing("AWSAccessKeyId"))?;
            let secret = self.auth.get_secret_key(access_key).await?;
            let want = sigv2(secret.expose(), policy);
            if !bool::from(want.as_bytes().ct_eq(sig.as_bytes())) {
                return Err(signature_mismatch());
            }
            let c = Credentials {
                access_key: access_key.to_owned(),
                secret_key: secret,
            };
            return Ok((Some(c), Some(Signing::V2)));
        }
        Ok((None, None))
    }
}

fn signature_mismatch() -> S3Error {
    err(
        S3ErrorCode::SignatureDoesNotMatch,
        StatusCode::FORBIDDEN,
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    )
}

/// SigV2 of a POST form: base64 of HMAC-SHA1 over the base64 policy.
fn sigv2(secret: &str, policy: &str) -> String {
    use hmac::Mac as _;
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(policy.as_bytes());
    base64_simd::STANDARD.encode_to_string(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("multipart/form-data; boundary=abc"),
        );
        let post = Method::POST;
        assert_eq!(
            target(&post, "/b", &h, None),
            Some(("b".into(), "abc".into()))
        );
        assert_eq!(
            target(&post, "/b/", &h, None),
            Some(("b".into(), "abc".into()))
        );
        assert_eq!(target(&post, "/b/k", &h, None), None);
        assert_eq!(target(&post, "/", &h, None), None);
        assert_eq!(
            target(&post, "/", &h, Some("v")),
            Some(("v".into(), "abc".into()))
        );
        assert_eq!(target(&post, "/k", &h, Some("v")), None);
        assert_eq!(target(&Method::PUT, "/b", &h, None), None);
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        assert_eq!(target(&post, "/b", &h, None), None);
    }

    #[test]
    fn tagging_and_sigv2() {
        let xml = "<Tagging><TagSet><Tag><Key>a b</Key><Value>x&amp;y</Value></Tag><Tag><Key>c</Key><Value></Value></Tag></TagSet></Tagging>";
        assert_eq!(tagging_header(xml).unwrap(), "a%20b=x%26y&c=");
        assert!(tagging_header("<Tagging>").is_err());
        // RFC 2202 test case 2 (HMAC-SHA1, key "Jefe")
        assert_eq!(
            sigv2("Jefe", "what do ya want for nothing?"),
            base64_simd::STANDARD
                .encode_to_string(hex::decode("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79").unwrap())
        );
        assert_eq!(xml_escape("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
    }
}
