//! Object operations: put (Content-MD5 and x-amz-checksum-* verified while
//! streaming), get (range, conditionals, versions), head, delete (versions,
//! delete markers), batch delete, and server-side copy (no data copied).

use liuma_engine::{ByteRange, CopySse, CopyTarget, GetOptions, ObjectInfo, PutOptions};
use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use crate::auth::Caller;
use crate::body::{ObjectBody, request_body};
use crate::bucket::existing;
use crate::checksum::{self, sent_checksums, set_checksum};
use crate::cond::{read_part_number, write_condition};
use crate::conv::{
    content_md5, etag, object_meta, secs, std_headers, std_headers_of, ts, user_meta,
    version_header,
};
use crate::error::s3_err;
use crate::marker::read_error;
use crate::service::LiumaS3;

/// Request conditionals on an object (GetObject/HeadObject, or a copy source).
#[derive(Default)]
pub(crate) struct Conditions {
    pub if_match: Option<ETagCondition>,
    pub if_none_match: Option<ETagCondition>,
    pub if_modified_since: Option<Timestamp>,
    pub if_unmodified_since: Option<Timestamp>,
}

impl Conditions {
    fn any(&self) -> bool {
        self.if_match.is_some()
            || self.if_none_match.is_some()
            || self.if_modified_since.is_some()
            || self.if_unmodified_since.is_some()
    }

    /// RFC 7232 as S3 applies it: If-Match beats If-Unmodified-Since,
    /// If-None-Match beats If-Modified-Since. `not_modified` is the error
    /// for a failed If-None-Match / If-Modified-Since (304 for reads, 412
    /// for copy sources).
    pub(crate) fn check(&self, info: &ObjectInfo, not_modified: fn() -> S3Error) -> S3Result<()> {
        let current = etag(&info.etag);
        let modified = i64::try_from(info.last_modified_ms / 1000).unwrap_or(i64::MAX);
        let matches = |c: &ETagCondition| match c {
            ETagCondition::Any => true,
            ETagCondition::ETag(e) => e.value() == current.value(),
        };
        match &self.if_match {
            Some(c) if !matches(c) => return Err(s3_error!(PreconditionFailed)),
            Some(_) => {}
            None => {
                if let Some(t) = &self.if_unmodified_since
                    && modified > secs(t)
                {
                    return Err(s3_error!(PreconditionFailed));
                }
            }
        }
        match &self.if_none_match {
            Some(c) if matches(c) => return Err(not_modified()),
            Some(_) => {}
            None => {
                if let Some(t) = &self.if_modified_since
                    && modified <= secs(t)
                {
                    return Err(not_modified());
                }
            }
        }
        Ok(())
    }
}

fn not_modified() -> S3Error {
    s3_error!(NotModified)
}

fn byte_range(r: Range) -> ByteRange {
    match r {
        Range::Int {
            first,
            last: Some(last),
        } => ByteRange::FromTo(first, last),
        Range::Int { first, last: None } => ByteRange::From(first),
        Range::Suffix { length } => ByteRange::Suffix(length),
    }
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) async fn put_object(
    s: &LiumaS3,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let bucket = existing(&req, &req.input.bucket)?;
    let writer = Caller::of(&req).owner_name().unwrap_or_default();
    let (owner, acl) = crate::object_acl::for_new_object(
        s,
        &bucket,
        writer,
        &crate::object_acl::object_acl_request!(req.input),
    )
    .await?;
    let secure = crate::sse::secure(s, &req);
    let sha256 =
        crate::payload_hash::content_sha256(&req.headers, &req.uri, req.credentials.is_some());
    let input = req.input;
    let sse = crate::sse::write_request(
        input.server_side_encryption.as_ref(),
        crate::sse::customer_headers!(input),
        secure,
    )?;
    let plan = checksum::plan(
        sent_checksums!(input),
        input.checksum_algorithm.as_ref(),
        &req.headers,
        req.trailing_headers,
        None,
    )?;
    let condition = write_condition(input.if_match, input.if_none_match)?;
    let meta = object_meta(std_headers_of!(input), input.metadata)?;
    let tags = crate::tagging::from_header(input.tagging.as_deref())?;
    let md5 = content_md5(input.content_md5.as_deref())?;
    let len = input.content_length.and_then(|n| u64::try_from(n).ok());
    let blob = input.body.unwrap_or_else(|| {
        StreamingBlob::wrap(futures_util::stream::empty::<
            Result<bytes::Bytes, std::io::Error>,
        >())
    });
    let (body, late) = request_body(blob, plan, s.settings.max_put_bytes);
    let opts = PutOptions {
        meta,
        content_md5: md5,
        sha256: None,
        content_length: len,
        checksum: Some(late),
        tags,
        condition,
        owner,
        acl,
        sse,
        content_sha256: sha256,
    };
    let info = s
        .engine
        .put_object(&input.bucket, &input.key, body, opts)
        .await
        .map_err(s3_err)?;
    let mut out = PutObjectOutput {
        e_tag: Some(etag(&info.etag)),
        version_id: version_header(Some(&bucket), &info.version_id),
        ..Default::default()
    };
    crate::sse::set_sse!(out, info.sse.as_ref());
    if let Some(c) = &info.checksum {
        set_checksum!(out, c.algorithm, c.display(info.parts));
        out.checksum_type = Some(checksum::type_dto(c.kind));
    }
    Ok(S3Response::new(out))
}

/// Bytes sent and the Content-Range header for an optional resolved range.
fn length_and_range(range: Option<(u64, u64)>, size: u64) -> (u64, Option<String>) {
    match range {
        // an empty object has no byte to name (its part 1 is all of it)
        Some((start, end)) if end > start => (
            end - start,
            Some(format!("bytes {start}-{}/{size}", end - 1)),
        ),
        Some((start, end)) => (end.saturating_sub(start), None),
        None => (size, None),
    }
}

/// GetObjectOutput and HeadObjectOutput carry the same object headers
/// (distinct s3s types, so a macro rather than a function fills them).
macro_rules! object_output {
    ($ty:ident { $($field:ident),* }, $info:expr, $bucket:expr, $len:expr, $range:expr) => {{
        let info = &$info;
        let h = std_headers(&info.meta);
        $ty {
            $($field,)*
            content_length: Some(int($len)),
            content_range: $range,
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(etag(&info.etag)),
            last_modified: Some(ts(info.last_modified_ms)),
            metadata: user_meta(&info.meta),
            content_type: h.content_type,
            cache_control: h.cache_control,
            content_disposition: h.content_disposition,
            content_encoding: h.content_encoding,
            content_language: h.content_language,
            expires: h.expires,
            website_redirect_location: h.website_redirect_location,
            version_id: version_header(Some(&$bucket), &info.version_id),
            parts_count: (info.parts > 0).then(|| i32::try_from(info.parts).unwrap_or(i32::MAX)),
            ..Default::default()
        }
    }};
}

pub(crate) async fn get_object(
    s: &LiumaS3,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let bucket = existing(&req, &req.input.bucket)?;
    let secure = crate::sse::secure(s, &req);
    let input = req.input;
    let customer_key = crate::sse::customer_key(crate::sse::customer_headers!(input), secure)?;
    let cond = Conditions {
        if_match: input.if_match,
        if_none_match: input.if_none_match,
        if_modified_since: input.if_modified_since,
        if_unmodified_since: input.if_unmodified_since,
    };
    // Checksums describe the whole object: none for ranges or parts (AWS).
    let with_checksum = checksum::mode_enabled(input.checksum_mode.as_ref())
        && input.range.is_none()
        && input.part_number.is_none();
    let part = read_part_number(input.part_number, input.range.is_some())?;
    let mut version_id = input.version_id;
    if cond.any() {
        let head = match s
            .engine
            .head_object(&input.bucket, &input.key, version_id.as_deref())
            .await
        {
            Ok(h) => h,
            Err(e) => {
                let vid = version_id.as_deref();
                return Err(read_error(s, &input.bucket, &input.key, vid, e).await);
            }
        };
        s.engine
            .check_customer_key(head.sse.as_ref(), customer_key.as_ref())
            .map_err(s3_err)?;
        cond.check(&head, not_modified)?;
        version_id = Some(head.version_id);
    }
    let vid = version_id.clone();
    let read = match part {
        Some(n) => {
            s.engine
                .get_object_part_keyed(
                    &input.bucket,
                    &input.key,
                    vid.as_deref(),
                    n,
                    customer_key.clone(),
                )
                .await
        }
        None => {
            let opts = GetOptions {
                version_id: vid.clone(),
                range: input.range.map(byte_range),
                customer_key,
            };
            s.engine.get_object(&input.bucket, &input.key, opts).await
        }
    };
    let got = match read {
        Ok(g) => g,
        Err(e) => {
            return Err(read_error(s, &input.bucket, &input.key, vid.as_deref(), e).await);
        }
    };
    let info = got.info;
    let (len, content_range) = length_and_range(got.range, info.size);
    let body = Some(ObjectBody::blob(got.body, len));
    let tag_count = crate::tagging::count(info.tag_count);
    let mut out = object_output!(
        GetObjectOutput { body, tag_count },
        info,
        bucket,
        len,
        content_range
    );
    crate::sse::set_sse!(out, info.sse.as_ref());
    if with_checksum && let Some(c) = &info.checksum {
        set_checksum!(out, c.algorithm, c.display(info.parts));
        out.checksum_type = Some(checksum::type_dto(c.kind));
    }
    Ok(S3Response::new(out))
}

pub(crate) async fn head_object(
    s: &LiumaS3,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let bucket = existing(&req, &req.input.bucket)?;
    let secure = crate::sse::secure(s, &req);
    let input = req.input;
    let customer_key = crate::sse::customer_key(crate::sse::customer_headers!(input), secure)?;
    let vid = input.version_id.as_deref();
    let part = read_part_number(input.part_number, input.range.is_some())?;
    let read = match part {
        Some(n) => s
            .engine
            .head_object_part(&input.bucket, &input.key, vid, n)
            .await
            .map(|(info, span)| (info, Some(span))),
        None => s
            .engine
            .head_object(&input.bucket, &input.key, vid)
            .await
            .map(|info| (info, None)),
    };
    let (info, part_span) = match read {
        Ok(r) => r,
        Err(e) => return Err(read_error(s, &input.bucket, &input.key, vid, e).await),
    };
    s.engine
        .check_customer_key(info.sse.as_ref(), customer_key.as_ref())
        .map_err(s3_err)?;
    let cond = Conditions {
        if_match: input.if_match,
        if_none_match: input.if_none_match,
        if_modified_since: input.if_modified_since,
        if_unmodified_since: input.if_unmodified_since,
    };
    cond.check(&info, not_modified)?;
    let range = match input.range {
        Some(r) => Some(byte_range(r).resolve(info.size).map_err(s3_err)?),
        None => part_span,
    };
    let (len, content_range) = length_and_range(range, info.size);
    let with_checksum =
        checksum::mode_enabled(input.checksum_mode.as_ref()) && input.part_number.is_none();
    // with a Content-Range, the front answers 206 (s3s answers HEAD 200)
    let mut out = object_output!(HeadObjectOutput {}, info, bucket, len, content_range);
    crate::sse::set_sse!(out, info.sse.as_ref());
    if with_checksum && let Some(c) = &info.checksum {
        set_checksum!(out, c.algorithm, c.display(info.parts));
        out.checksum_type = Some(checksum::type_dto(c.kind));
    }
    // s3s's HeadObjectOutput has no tag count; AWS sends the header on HEAD too.
    let tag_count = crate::tagging::count(info.tag_count);
    let mut resp = S3Response::new(out);
    if let Some(n) = tag_count {
        resp.headers
            .insert("x-amz-tagging-count", http::HeaderValue::from(n));
    }
    Ok(resp)
}

pub(crate) async fn delete_object(
    s: &LiumaS3,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let bucket = existing(&req, &req.input.bucket)?;
    let input = req.input;
    let r = s
        .engine
        .delete_object(&input.bucket, &input.key, input.version_id.as_deref())
        .await
        .map_err(s3_err)?;
    let version_id = r.version_id.and_then(|v| version_header(Some(&bucket), &v));
    Ok(S3Response::new(DeleteObjectOutput {
        delete_marker: r.delete_marker.then_some(true),
        version_id,
        ..Default::default()
    }))
}

pub(crate) async fn delete_objects(
    s: &LiumaS3,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let bucket = existing(&req, &req.input.bucket)?;
    let caller = Caller::of(&req);
    let input = req.input;
    if input.delete.objects.len() > 1000 {
        return Err(s3_error!(
            MalformedXML,
            "a DeleteObjects request holds at most 1000 keys"
        ));
    }
    let quiet = input.delete.quiet.unwrap_or(false);
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for obj in input.delete.objects {
        // Each key is one DeleteObject to the access decision; a refused
        // key is reported in the answer and left as it is.
        let allowed = caller
            .authorize(
                &s.engine,
                "DeleteObject",
                &bucket,
                Some(&obj.key),
                obj.version_id.as_deref(),
            )
            .await;
        let result = match allowed {
            Ok(()) => s
                .engine
                .delete_object(&input.bucket, &obj.key, obj.version_id.as_deref())
                .await
                .map_err(s3_err),
            Err(e) => Err(e),
        };
        match result {
            Ok(r) => {
                if quiet {
                    continue;
                }
                let vid = r.version_id.and_then(|v| version_header(Some(&bucket), &v));
                deleted.push(DeletedObject {
                    delete_marker: r.delete_marker.then_some(true),
                    delete_marker_version_id: if r.delete_marker { vid.clone() } else { None },
                    key: Some(obj.key),
                    version_id: obj.version_id.or(if r.delete_marker { None } else { vid }),
                });
            }
            Err(err) => {
                errors.push(Error {
                    code: Some(err.code().as_str().to_owned()),
                    key: Some(obj.key),
                    message: err.message().map(str::to_owned),
                    version_id: obj.version_id,
                });
            }
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: (!errors.is_empty()).then_some(errors),
        ..Default::default()
    }))
}

/// Bucket, key and version of a copy source the caller may read (the
/// read decided like a GetObject of the source, by the same function).
pub(crate) async fn copy_source(
    s: &LiumaS3,
    caller: &Caller,
    src: &CopySource,
) -> S3Result<(String, String, Option<String>)> {
    let CopySource::Bucket {
        bucket,
        key,
        version_id,
    } = src
    else {
        return Err(s3_error!(
            NotImplemented,
            "only bucket copy sources are supported"
        ));
    };
    let source = s.engine.bucket(bucket).await.map_err(s3_err)?;
    caller
        .authorize(
            &s.engine,
            "GetObject",
            &source,
            Some(key),
            version_id.as_deref(),
        )
        .await?;
    Ok((
        bucket.to_string(),
        key.to_string(),
        version_id.as_deref().map(str::to_owned),
    ))
}

/// A readable copy source that meets its `x-amz-copy-source-if-*` conditions:
/// (bucket, key, version, the source's current metadata).
pub(crate) async fn checked_copy_source(
    s: &LiumaS3,
    caller: &Caller,
    src: &CopySource,
    cond: Conditions,
) -> S3Result<(String, String, Option<String>, ObjectInfo)> {
    let (sb, sk, sv) = copy_source(s, caller, src).await?;
    let info = s
        .engine
        .head_object(&sb, &sk, sv.as_deref())
        .await
        .map_err(s3_err)?;
    cond.check(&info, || s3_error!(PreconditionFailed))?;
    Ok((sb, sk, sv, info))
}

pub(crate) async fn copy_object(
    s: &LiumaS3,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let caller = Caller::of(&req);
    let bucket = existing(&req, &req.input.bucket)?;
    // The copy gets the ACL this request asks for, never the source's.
    let (owner, acl) = crate::object_acl::for_new_object(
        s,
        &bucket,
        caller.owner_name().unwrap_or_default(),
        &crate::object_acl::object_acl_request!(req.input),
    )
    .await?;
    let secure = crate::sse::secure(s, &req);
    let input = req.input;
    let target_sse = crate::sse::write_request(
        input.server_side_encryption.as_ref(),
        crate::sse::customer_headers!(input),
        secure,
    )?;
    let source_key = crate::sse::customer_key(
        crate::sse::CustomerHeaders {
            algorithm: input.copy_source_sse_customer_algorithm.as_deref(),
            key: input.copy_source_sse_customer_key.as_deref(),
            key_md5: input.copy_source_sse_customer_key_md5.as_deref(),
        },
        secure,
    )?;
    let cond = Conditions {
        if_match: input.copy_source_if_match,
        if_none_match: input.copy_source_if_none_match,
        if_modified_since: input.copy_source_if_modified_since,
        if_unmodified_since: input.copy_source_if_unmodified_since,
    };
    let (sb, sk, sv, src) = checked_copy_source(s, &caller, &input.copy_source, cond).await?;
    let replace = input
        .metadata_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
    // A copy onto itself is legal when it changes the encryption.
    if !replace && target_sse.is_none() && sb == input.bucket && sk == input.key && sv.is_none() {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
        ));
    }
    let meta = if replace {
        Some(object_meta(std_headers_of!(input), input.metadata)?)
    } else {
        None
    };
    let tags = match input
        .tagging_directive
        .as_ref()
        .map(TaggingDirective::as_str)
    {
        None | Some(TaggingDirective::COPY) => None,
        Some(TaggingDirective::REPLACE) => {
            Some(crate::tagging::from_header(input.tagging.as_deref())?)
        }
        Some(other) => {
            return Err(s3_error!(
                InvalidArgument,
                "Unknown tagging directive: {other}"
            ));
        }
    };
    let info = s
        .engine
        .copy_object_sse(
            &sb,
            &sk,
            Some(&src.version_id),
            CopyTarget {
                bucket: &input.bucket,
                key: &input.key,
                owner,
                acl,
            },
            meta,
            tags,
            CopySse {
                source_key,
                target: target_sse,
            },
        )
        .await
        .map_err(s3_err)?;
    let src_bucket = caller.bucket.filter(|b| b.name == sb);
    let src_version = match src_bucket {
        Some(b) => version_header(Some(&b), &src.version_id),
        None => s
            .engine
            .bucket(&sb)
            .await
            .ok()
            .and_then(|b| version_header(Some(&b), &src.version_id)),
    };
    let mut out = CopyObjectOutput {
        copy_object_result: Some(CopyObjectResult {
            e_tag: Some(etag(&info.etag)),
            last_modified: Some(ts(info.last_modified_ms)),
            ..Default::default()
        }),
        copy_source_version_id: src_version,
        version_id: version_header(Some(&bucket), &info.version_id),
        ..Default::default()
    };
    crate::sse::set_sse!(out, info.sse.as_ref());
    Ok(S3Response::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(etag: &str, modified_s: u64) -> ObjectInfo {
        ObjectInfo {
            bucket: "b".into(),
            key: "k".into(),
            version_id: "null".into(),
            size: 1,
            etag: etag.into(),
            sha256: None,
            last_modified_ms: modified_s * 1000 + 500,
            meta: Default::default(),
            delete_marker: false,
            is_latest: true,
            parts: 0,
            checksum: None,
            tag_count: 0,
            owner: String::new(),
            acl: None,
            sse: None,
        }
    }

    fn code(r: S3Result<()>) -> String {
        r.err()
            .map(|e| e.code().as_str().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn conditionals_follow_rfc7232_precedence() {
        let i = info("abc", 1000);
        let tag = |s: &str| Some(ETagCondition::ETag(ETag::Strong(s.into())));
        let at = |s: u64| Some(ts(s * 1000));
        let c = Conditions {
            if_match: tag("abc"),
            if_unmodified_since: at(10),
            ..Default::default()
        };
        assert_eq!(
            code(c.check(&i, not_modified)),
            "",
            "If-Match wins over IUS"
        );
        let c = Conditions {
            if_match: tag("zzz"),
            ..Default::default()
        };
        assert_eq!(code(c.check(&i, not_modified)), "PreconditionFailed");
        let c = Conditions {
            if_none_match: tag("abc"),
            ..Default::default()
        };
        assert_eq!(code(c.check(&i, not_modified)), "NotModified");
        let c = Conditions {
            if_none_match: tag("zzz"),
            if_modified_since: at(2000),
            ..Default::default()
        };
        assert_eq!(code(c.check(&i, not_modified)), "", "INM wins over IMS");
        let c = Conditions {
            if_modified_since: at(1000),
            ..Default::default()
        };
        assert_eq!(code(c.check(&i, not_modified)), "NotModified");
        let c = Conditions {
            if_modified_since: at(999),
            ..Default::default()
        };
        assert_eq!(code(c.check(&i, not_modified)), "");
        let c = Conditions {
            if_unmodified_since: at(999),
            ..Default::default()
        };
        assert_eq!(code(c.check(&i, not_modified)), "PreconditionFailed");
    }
}
