//! Multipart uploads: create, upload part (streamed, digests verified),
//! upload part copy (with a byte range), list parts, list uploads,
//! complete (the engine checks order, ETags and part sizes) and abort.

use liuma_engine::{ByteRange, CompleteOptions, CopySource as EngineCopySource, PartOptions};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::auth::Caller;
use crate::body::request_body;
use crate::bucket::existing;
use crate::checksum::{self, sent_checksums, set_checksum};
use crate::cond::write_condition;
use crate::conv::{content_md5, etag, object_meta, std_headers_of, ts, url_encode, version_header};
use crate::error::s3_err;
use crate::object::{Conditions, checked_copy_source};
use crate::owner::Owners;
use crate::service::LiumaS3;

fn part_number(n: i32) -> S3Result<u32> {
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=liuma_engine::MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            )
        })
}

pub(crate) async fn create_multipart_upload(
    s: &LiumaS3,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let bucket = existing(&req, &req.input.bucket)?;
    let writer = Caller::of(&req).owner_name().unwrap_or_default();
    // Stored on the upload; Complete gives it to the object.
    let (owner, acl) = crate::object_acl::for_new_object(
        s,
        &bucket,
        writer,
        &crate::object_acl::object_acl_request!(req.input),
    )
    .await?;
    let secure = crate::sse::secure(s, &req);
    let input = req.input;
    let sse = crate::sse::write_request(
        input.server_side_encryption.as_ref(),
        crate::sse::customer_headers!(input),
        secure,
    )?;
    let (sse_out, ssec_alg, ssec_md5) =
        crate::sse::answer_request(sse.as_ref(), bucket.encryption.is_some());
    let sum = checksum::upload_checksum(
        input.checksum_algorithm.as_ref(),
        input.checksum_type.as_ref(),
    )?;
    let meta = object_meta(std_headers_of!(input), input.metadata)?;
    let tags = crate::tagging::from_header(input.tagging.as_deref())?;
    let upload_id = s
        .engine
        .create_multipart_sse(&input.bucket, &input.key, meta, sum, tags, owner, acl, sse)
        .await
        .map_err(s3_err)?;
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(upload_id),
        checksum_algorithm: sum.map(|c| checksum::algorithm_dto(c.algorithm)),
        checksum_type: sum.map(|c| checksum::type_dto(c.kind)),
        server_side_encryption: sse_out,
        sse_customer_algorithm: ssec_alg,
        sse_customer_key_md5: ssec_md5,
        ..Default::default()
    }))
}

pub(crate) async fn upload_part(
    s: &LiumaS3,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let secure = crate::sse::secure(s, &req);
    let sha256 =
        crate::payload_hash::content_sha256(&req.headers, &req.uri, req.credentials.is_some());
    let input = req.input;
    let number = part_number(input.part_number)?;
    let customer_key = crate::sse::customer_key(crate::sse::customer_headers!(input), secure)?;
    // The part is checksummed with its upload's algorithm (AWS refuses
    // another one), the default CRC64NVME when the upload has none.
    let upload = s
        .engine
        .get_upload(&input.bucket, &input.key, &input.upload_id)
        .await
        .map_err(s3_err)?;
    let plan = checksum::plan(
        sent_checksums!(input),
        input.checksum_algorithm.as_ref(),
        &req.headers,
        req.trailing_headers,
        Some(upload.checksum),
    )?;
    let blob = input.body.unwrap_or_else(|| {
        StreamingBlob::wrap(futures_util::stream::empty::<
            Result<bytes::Bytes, std::io::Error>,
        >())
    });
    let (body, late) = request_body(blob, plan, s.settings.max_put_bytes);
    let opts = PartOptions {
        content_md5: content_md5(input.content_md5.as_deref())?,
        sha256: None,
        content_length: input.content_length.and_then(|n| u64::try_from(n).ok()),
        checksum: Some(late),
        customer_key,
        content_sha256: sha256,
    };
    let part = s
        .engine
        .upload_part(
            &input.bucket,
            &input.key,
            &input.upload_id,
            number,
            body,
            opts,
        )
        .await
        .map_err(s3_err)?;
    let mut out = UploadPartOutput {
        e_tag: Some(etag(&part.etag)),
        ..Default::default()
    };
    crate::sse::set_sse!(out, upload.sse.as_ref());
    if let Some(c) = &part.checksum {
        set_checksum!(out, c.algorithm, c.base64());
    }
    Ok(S3Response::new(out))
}

/// Parse `x-amz-copy-source-range: bytes=first-last`.
fn copy_range(r: &str) -> S3Result<ByteRange> {
    let bad = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last"
        )
    };
    let (a, b) = r
        .strip_prefix("bytes=")
        .and_then(|s| s.split_once('-'))
        .ok_or_else(bad)?;
    let first: u64 = a.trim().parse().map_err(|_| bad())?;
    let last: u64 = b.trim().parse().map_err(|_| bad())?;
    if last < first {
        return Err(bad());
    }
    Ok(ByteRange::FromTo(first, last))
}

pub(crate) async fn upload_part_copy(
    s: &LiumaS3,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let caller = Caller::of(&req);
    let secure = crate::sse::secure(s, &req);
    let input = req.input;
    let number = part_number(input.part_number)?;
    let part_key = crate::sse::customer_key(crate::sse::customer_headers!(input), secure)?;
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
    let range = input
        .copy_source_range
        .as_deref()
        .map(copy_range)
        .transpose()?;
    if let Some(ByteRange::FromTo(_, last)) = range
        && last >= src.size
    {
        return Err(s3_error!(
            InvalidRange,
            "The requested range is not satisfiable"
        ));
    }
    let from = EngineCopySource {
        bucket: sb,
        key: sk,
        version_id: Some(src.version_id.clone()),
        range,
        source_key,
        part_key,
    };
    let part = s
        .engine
        .upload_part_copy(&input.bucket, &input.key, &input.upload_id, number, &from)
        .await
        .map_err(s3_err)?;
    let upload = s
        .engine
        .get_upload(&input.bucket, &input.key, &input.upload_id)
        .await
        .map_err(s3_err)?;
    let mut out = UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(etag(&part.etag)),
            last_modified: Some(ts(part.last_modified_ms)),
            ..Default::default()
        }),
        copy_source_version_id: sv,
        ..Default::default()
    };
    crate::sse::set_sse!(out, upload.sse.as_ref());
    Ok(S3Response::new(out))
}

pub(crate) async fn list_parts(
    s: &LiumaS3,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let input = req.input;
    let marker = input
        .part_number_marker
        .and_then(|m| u32::try_from(m).ok())
        .unwrap_or(0);
    let max = input.max_parts.unwrap_or(1000).clamp(0, 1000);
    let upload = s
        .engine
        .get_upload(&input.bucket, &input.key, &input.upload_id)
        .await
        .map_err(s3_err)?;
    let upload_owner = if upload.owner.is_empty() {
        b.owner.clone()
    } else {
        upload.owner.clone()
    };
    let mut owners = Owners::new(&s.engine);
    let (parts, truncated) = s
        .engine
        .list_parts(
            &input.bucket,
            &input.key,
            &input.upload_id,
            marker,
            usize::try_from(max).unwrap_or(1000),
        )
        .await
        .map_err(s3_err)?;
    let next = parts.last().map(|p| p.part_number);
    let parts: Vec<Part> = parts
        .into_iter()
        .map(|p| {
            let mut part = Part {
                e_tag: Some(etag(&p.etag)),
                last_modified: Some(ts(p.last_modified_ms)),
                part_number: i32::try_from(p.part_number).ok(),
                size: Some(i64::try_from(p.size).unwrap_or(i64::MAX)),
                ..Default::default()
            };
            if let Some(c) = &p.checksum {
                set_checksum!(part, c.algorithm, c.base64());
            }
            part
        })
        .collect();
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        is_truncated: Some(truncated),
        max_parts: Some(max),
        part_number_marker: input.part_number_marker,
        next_part_number_marker: next.and_then(|n| i32::try_from(n).ok()),
        owner: Some(owners.of(&upload_owner).await?),
        initiator: Some(owners.initiator(&upload_owner).await?),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        parts: Some(parts),
        checksum_algorithm: upload
            .checksum
            .map(|c| checksum::algorithm_dto(c.algorithm)),
        checksum_type: upload.checksum.map(|c| checksum::type_dto(c.kind)),
        ..Default::default()
    }))
}

pub(crate) async fn list_multipart_uploads(
    s: &LiumaS3,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let input = req.input;
    let url = match input.encoding_type.as_ref().map(EncodingType::as_str) {
        None => false,
        Some("url") => true,
        Some(_) => {
            return Err(s3_error!(
                InvalidArgument,
                "Invalid Encoding Method specified in Request"
            ));
        }
    };
    let enc = |s: String| if url { url_encode(&s) } else { s };
    let max = usize::try_from(input.max_uploads.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
    let prefix = input.prefix.clone().unwrap_or_default();
    let key_marker = input.key_marker.clone().unwrap_or_default();
    let id_marker = input.upload_id_marker.clone().unwrap_or_default();
    // The engine lists by prefix; markers are applied here (open uploads are few).
    let list = s
        .engine
        .list_uploads(&input.bucket, &prefix, 10_000)
        .await
        .map_err(s3_err)?;
    let mut uploads: Vec<_> = list
        .uploads
        .into_iter()
        .filter(|u| {
            key_marker.is_empty()
                || u.key > key_marker
                || (u.key == key_marker && !id_marker.is_empty() && u.upload_id > id_marker)
        })
        .collect();
    let truncated = uploads.len() > max || list.is_truncated;
    uploads.truncate(max);
    let (next_key, next_id) = match uploads.last() {
        Some(u) if truncated => (Some(enc(u.key.clone())), Some(u.upload_id.clone())),
        _ => (None, None),
    };
    let mut owners = Owners::new(&s.engine);
    let mut out: Vec<MultipartUpload> = Vec::with_capacity(uploads.len());
    for u in uploads {
        let who = if u.owner.is_empty() {
            &b.owner
        } else {
            &u.owner
        };
        out.push(MultipartUpload {
            initiated: Some(ts(u.created_ms)),
            initiator: Some(owners.initiator(who).await?),
            key: Some(enc(u.key)),
            owner: Some(owners.of(who).await?),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            upload_id: Some(u.upload_id),
            ..Default::default()
        });
    }
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        delimiter: input.delimiter,
        encoding_type: input.encoding_type,
        is_truncated: Some(truncated),
        key_marker: Some(key_marker),
        max_uploads: Some(i32::try_from(max).unwrap_or(1000)),
        next_key_marker: next_key,
        next_upload_id_marker: next_id,
        prefix: Some(enc(prefix)),
        upload_id_marker: Some(id_marker),
        uploads: (!out.is_empty()).then_some(out),
        ..Default::default()
    }))
}

pub(crate) async fn complete_multipart_upload(
    s: &LiumaS3,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let bucket = existing(&req, &req.input.bucket)?;
    let input = req.input;
    let Some(parts) = input.multipart_upload.and_then(|m| m.parts) else {
        return Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        ));
    };
    let sums =
        checksum::complete_checksum(input.checksum_type.as_ref(), sent_checksums!(input), &parts)?;
    let mut list = Vec::with_capacity(parts.len());
    for p in parts {
        let (Some(n), Some(e)) = (p.part_number, p.e_tag) else {
            return Err(s3_error!(
                MalformedXML,
                "every part needs a PartNumber and an ETag"
            ));
        };
        list.push((part_number(n)?, e.value().to_owned()));
    }
    let opts = CompleteOptions {
        checksum: sums,
        condition: write_condition(input.if_match, input.if_none_match)?,
        ..Default::default()
    };
    let info = s
        .engine
        .complete_multipart_with(&input.bucket, &input.key, &input.upload_id, &list, opts)
        .await
        .map_err(s3_err)?;
    let mut out = CompleteMultipartUploadOutput {
        bucket: Some(input.bucket.clone()),
        key: Some(input.key.clone()),
        e_tag: Some(etag(&info.etag)),
        location: Some(format!("/{}/{}", input.bucket, input.key)),
        version_id: version_header(Some(&bucket), &info.version_id),
        server_side_encryption: crate::sse::answer(info.sse.as_ref()).0,
        ..Default::default()
    };
    if let Some(c) = &info.checksum {
        set_checksum!(out, c.algorithm, c.display(info.parts));
        out.checksum_type = Some(checksum::type_dto(c.kind));
    }
    Ok(S3Response::new(out))
}

pub(crate) async fn abort_multipart_upload(
    s: &LiumaS3,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let input = req.input;
    s.engine
        .abort_multipart(&input.bucket, &input.key, &input.upload_id)
        .await
        .map_err(s3_err)?;
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges() {
        assert_eq!(copy_range("bytes=0-9").unwrap(), ByteRange::FromTo(0, 9));
        assert!(copy_range("bytes=9-0").is_err());
        assert!(copy_range("0-9").is_err());
        assert!(copy_range("bytes=-9").is_err());
    }

    #[test]
    fn part_numbers() {
        assert_eq!(part_number(1).unwrap(), 1);
        assert!(part_number(0).is_err() && part_number(10_001).is_err());
    }
}
