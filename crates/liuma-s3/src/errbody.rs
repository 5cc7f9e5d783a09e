//! Complete S3 error answers, whichever layer produced them (an operation,
//! s3s's own parsing and signature checks, or the front layer).
//!
//! AWS sends `x-amz-request-id` on every answer, and every error body holds
//! `Code`, a human `Message`, the `Resource` and the same `RequestId`. s3s
//! fills in only what the error was built with (often no message: clients
//! then print "Unknown"), never a resource nor a request id. So the front
//! layer finishes each answer here: it sets the header and, for an error
//! body, adds what is missing. Error bodies are small and already buffered.

use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderValue, Response, header};
use s3s::Body;

/// A fresh request id: 16 upper-case hex digits, as AWS's. Unique per
/// process (a counter) and unlikely to repeat across restarts (the start
/// time seeds it).
pub(crate) fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| {
                u64::try_from(d.as_nanos() & u128::from(u64::MAX)).unwrap_or(0)
            })
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // A bijective mix (odd multiplier) so ids do not look sequential.
    let id = seed.wrapping_add(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{id:016X}")
}

/// Add the request id header, and complete an error body.
pub(crate) fn finish(mut resp: Response<Body>, request_id: &str, resource: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amz-request-id", v);
    }
    if resp.status().as_u16() < 400 {
        return resp;
    }
    let Some(bytes) = resp.body().bytes() else {
        return resp;
    };
    let Some(fixed) = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|xml| complete(xml, resource, request_id))
    else {
        return resp;
    };
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(fixed.len()));
    if !resp.headers().contains_key(header::CONTENT_TYPE) {
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
    }
    *resp.body_mut() = Body::from(fixed);
    resp
}

/// The error document with `Message`, `Resource` and `RequestId` added
/// where missing; None when `xml` is not an S3 error document.
fn complete(xml: &str, resource: &str, request_id: &str) -> Option<String> {
    let end = xml.rfind("</Error>")?;
    let code_at = xml.find("<Code>")? + "<Code>".len();
    let code_end = code_at + xml[code_at..].find("</Code>")?;
    let code = &xml[code_at..code_end];
    let mut out = String::with_capacity(xml.len() + 200);
    let after_code = code_end + "</Code>".len();
    out.push_str(&xml[..after_code]);
    if !xml.contains("<Message>") {
        push_elem(&mut out, "Message", &default_message(code));
    }
    out.push_str(&xml[after_code..end]);
    if !xml.contains("<Resource>") {
        push_elem(&mut out, "Resource", resource);
    }
    if !xml.contains("<RequestId>") {
        push_elem(&mut out, "RequestId", request_id);
    }
    out.push_str(&xml[end..]);
    Some(out)
}

fn push_elem(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// AWS's message for a code; for codes not listed, the code in words
/// ("InvalidBucketState" → "Invalid bucket state.").
fn default_message(code: &str) -> String {
    let known = match code {
        "AccessDenied" => "Access Denied",
        "BadDigest" => {
            "The Content-MD5 or checksum value that you specified did not match what the server received."
        }
        "BucketAlreadyExists" => {
            "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
        }
        "BucketAlreadyOwnedByYou" => {
            "Your previous request to create the named bucket succeeded and you already own it."
        }
        "BucketNotEmpty" => "The bucket you tried to delete is not empty",
        "EntityTooLarge" => "Your proposed upload exceeds the maximum allowed size",
        "EntityTooSmall" => "Your proposed upload is smaller than the minimum allowed size",
        "IncompleteBody" => {
            "You did not provide the number of bytes specified by the Content-Length HTTP header."
        }
        "InternalError" => "We encountered an internal error. Please try again.",
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "InvalidArgument" => "Invalid Argument",
        "InvalidBucketName" => "The specified bucket is not valid.",
        "InvalidDigest" => "The Content-MD5 you specified is not valid.",
        "InvalidPart" => {
            "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
        }
        "InvalidPartOrder" => {
            "The list of parts was not in ascending order. The parts list must be specified in order by part number."
        }
        "InvalidRange" => "The requested range is not satisfiable",
        "InvalidRequest" => "Invalid Request",
        "InvalidTag" => "The tag provided was not a valid tag.",
        "KeyTooLongError" => "Your key is too long",
        "MalformedXML" => {
            "The XML you provided was not well-formed or did not validate against our published schema"
        }
        "MetadataTooLarge" => "Your metadata headers exceed the maximum allowed metadata size.",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "NoSuchBucket" => "The specified bucket does not exist",
        "NoSuchCORSConfiguration" => "The CORS configuration does not exist",
        "NoSuchKey" => "The specified key does not exist.",
        "NoSuchTagSet" => "The TagSet does not exist",
        "NoSuchUpload" => {
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
        }
        "NoSuchVersion" => "The specified version does not exist.",
        "NotImplemented" => "A header you provided implies functionality that is not implemented",
        "NotModified" => "Not Modified",
        "OperationAborted" => {
            "A conflicting conditional operation is currently in progress against this resource. Please try again."
        }
        "PreconditionFailed" => "At least one of the pre-conditions you specified did not hold",
        "RequestTimeTooSkewed" => {
            "The difference between the request time and the current time is too large."
        }
        "ServiceUnavailable" => "Please reduce your request rate.",
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        }
        "SlowDown" => "Please reduce your request rate.",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    let mut words = String::new();
    for (i, c) in code.chars().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            words.push(' ');
            words.push(c.to_ascii_lowercase());
        } else {
            words.push(c);
        }
    }
    words.push('.');
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_hex() {
        let a = request_id();
        let b = request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn completes_what_is_missing() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code></Error>"#;
        let got = complete(xml, "/b/a&b", "ID1").unwrap();
        assert_eq!(
            got,
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Resource>/b/a&amp;b</Resource><RequestId>ID1</RequestId></Error>"#
        );
        let xml = "<Error><Code>X</Code><Message>m</Message></Error>";
        assert_eq!(
            complete(xml, "/", "I").unwrap(),
            "<Error><Code>X</Code><Message>m</Message><Resource>/</Resource><RequestId>I</RequestId></Error>"
        );
        assert_eq!(complete("<ListBucketResult/>", "/", "I"), None);
        assert_eq!(
            default_message("InvalidBucketState"),
            "Invalid bucket state."
        );
    }
}
