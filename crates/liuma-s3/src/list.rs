//! Listings: ListObjects (v1), ListObjectsV2 and ListObjectVersions, with
//! prefix, delimiter, markers / continuation tokens, max-keys (capped at
//! 1000), `encoding-type=url` (keys and every echoed name: prefix,
//! delimiter, markers, common prefixes) and fetch-owner. An empty
//! `delimiter=` is no delimiter, and is not echoed.

use liuma_engine::{BucketInfo, ListParams, ListResult, ListVersionsParams, ObjectInfo};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use crate::bucket::existing;
use crate::conv::{key_of_token, token_for, ts, url_encode};
use crate::error::s3_err;
use crate::owner::{Owners, object_owner};
use crate::service::LiumaS3;

const MAX_KEYS: i32 = 1000;

fn max_keys(m: Option<i32>) -> S3Result<usize> {
    match m {
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must not be negative")),
        Some(n) => Ok(usize::try_from(n.min(MAX_KEYS)).unwrap_or(0)),
        None => Ok(1000),
    }
}

/// Encodes names in a response when the client asked for `encoding-type=url`.
struct Enc(bool);

impl Enc {
    fn of(e: Option<&EncodingType>) -> S3Result<Enc> {
        match e.map(EncodingType::as_str) {
            None => Ok(Enc(false)),
            Some("url") => Ok(Enc(true)),
            Some(_) => Err(s3_error!(
                InvalidArgument,
                "Invalid Encoding Method specified in Request"
            )),
        }
    }

    fn s(&self, v: String) -> String {
        if self.0 { url_encode(&v) } else { v }
    }

    fn o(&self, v: Option<String>) -> Option<String> {
        v.map(|v| self.s(v))
    }
}

fn object(o: ObjectInfo, enc: &Enc, owner: Option<Owner>) -> Object {
    Object {
        // Moved, not copied: a page builds 1 000 of these.
        e_tag: Some(ETag::Strong(o.etag)),
        key: Some(enc.s(o.key)),
        last_modified: Some(ts(o.last_modified_ms)),
        owner,
        size: Some(i64::try_from(o.size).unwrap_or(i64::MAX)),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
        ..Default::default()
    }
}

fn prefixes(r: &mut ListResult, enc: &Enc) -> Option<Vec<CommonPrefix>> {
    let v: Vec<CommonPrefix> = std::mem::take(&mut r.common_prefixes)
        .into_iter()
        .map(|p| CommonPrefix {
            prefix: Some(enc.s(p)),
        })
        .collect();
    (!v.is_empty()).then_some(v)
}

/// What ListObjects v1 and v2 ask of a page of current objects.
struct Want<'a> {
    bucket: &'a str,
    prefix: Option<&'a str>,
    delimiter: Option<&'a str>,
    max_keys: Option<i32>,
    /// Name each object's owner (one user lookup per distinct owner).
    owners: bool,
}

/// One page of the bucket's current objects after `start_after`: the
/// engine's answer (markers, truncation), its objects and its common
/// prefixes, each `None` when empty, names encoded as asked.
async fn page(
    s: &LiumaS3,
    b: &BucketInfo,
    want: Want<'_>,
    start_after: Option<String>,
    enc: &Enc,
) -> S3Result<(ListResult, Option<Vec<Object>>, Option<Vec<CommonPrefix>>)> {
    let params = ListParams {
        prefix: want.prefix.unwrap_or_default().to_owned(),
        delimiter: want.delimiter.filter(|d| !d.is_empty()).map(str::to_owned),
        start_after,
        max_keys: max_keys(want.max_keys)?,
    };
    let mut r = s
        .engine
        .list_objects(want.bucket, &params)
        .await
        .map_err(s3_err)?;
    let common_prefixes = prefixes(&mut r, enc);
    let mut owners = Owners::new(&s.engine);
    let mut contents = Vec::with_capacity(r.objects.len());
    for o in std::mem::take(&mut r.objects) {
        let owner = if want.owners {
            Some(owners.of(object_owner(&o, b)).await?)
        } else {
            None
        };
        contents.push(object(o, enc, owner));
    }
    Ok((
        r,
        (!contents.is_empty()).then_some(contents),
        common_prefixes,
    ))
}

pub(crate) async fn list_objects(
    s: &LiumaS3,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let input = req.input;
    let enc = Enc::of(input.encoding_type.as_ref())?;
    let want = Want {
        bucket: &input.bucket,
        prefix: input.prefix.as_deref(),
        delimiter: input.delimiter.as_deref(),
        max_keys: input.max_keys,
        // ListObjects (v1) always names each object's owner.
        owners: true,
    };
    let (mut r, contents, common_prefixes) = page(s, &b, want, input.marker.clone(), &enc).await?;
    let next_marker = if r.is_truncated {
        enc.o(r.next_marker.take())
    } else {
        None
    };
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(input.bucket),
        prefix: Some(enc.s(input.prefix.unwrap_or_default())),
        marker: Some(enc.s(input.marker.unwrap_or_default())),
        max_keys: Some(input.max_keys.unwrap_or(MAX_KEYS).min(MAX_KEYS)),
        is_truncated: Some(r.is_truncated),
        contents,
        common_prefixes,
        delimiter: enc.o(input.delimiter.filter(|d| !d.is_empty())),
        next_marker,
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

pub(crate) async fn list_objects_v2(
    s: &LiumaS3,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let b = existing(&req, &req.input.bucket)?;
    let input = req.input;
    let enc = Enc::of(input.encoding_type.as_ref())?;
    let start_after = match &input.continuation_token {
        Some(t) => Some(key_of_token(t)?),
        None => input.start_after.clone(),
    };
    let want = Want {
        bucket: &input.bucket,
        prefix: input.prefix.as_deref(),
        delimiter: input.delimiter.as_deref(),
        max_keys: input.max_keys,
        owners: input.fetch_owner.unwrap_or(false),
    };
    let (r, contents, common_prefixes) = page(s, &b, want, start_after, &enc).await?;
    let key_count =
        contents.as_ref().map_or(0, Vec::len) + common_prefixes.as_ref().map_or(0, Vec::len);
    let next = if r.is_truncated {
        r.next_marker.as_deref().map(token_for)
    } else {
        None
    };
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(enc.s(input.prefix.unwrap_or_default())),
        max_keys: Some(input.max_keys.unwrap_or(MAX_KEYS).min(MAX_KEYS)),
        key_count: Some(i32::try_from(key_count).unwrap_or(i32::MAX)),
        continuation_token: input.continuation_token,
        is_truncated: Some(r.is_truncated),
        next_continuation_token: next,
        contents,
        common_prefixes,
        delimiter: enc.o(input.delimiter.filter(|d| !d.is_empty())),
        encoding_type: input.encoding_type,
        start_after: enc.o(input.start_after),
        ..Default::default()
    }))
}

pub(crate) async fn list_object_versions(
    s: &LiumaS3,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let b = existing(&req, &req.input.bucket)?;
    let input = req.input;
    let enc = Enc::of(input.encoding_type.as_ref())?;
    let params = ListVersionsParams {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
        key_marker: input.key_marker.clone(),
        version_id_marker: input.version_id_marker.clone(),
        max_keys: max_keys(input.max_keys)?,
        // ListObjectVersions answers listing fields only
        full_records: false,
    };
    let r = s
        .engine
        .list_versions(&input.bucket, &params)
        .await
        .map_err(s3_err)?;
    let mut versions = Vec::new();
    let mut markers = Vec::new();
    let mut owners = Owners::new(&s.engine);
    for v in r.versions {
        let owner = Some(owners.of(object_owner(&v, &b)).await?);
        if v.delete_marker {
            markers.push(DeleteMarkerEntry {
                is_latest: Some(v.is_latest),
                key: Some(enc.s(v.key)),
                last_modified: Some(ts(v.last_modified_ms)),
                owner,
                version_id: Some(v.version_id),
            });
        } else {
            versions.push(ObjectVersion {
                e_tag: Some(ETag::Strong(v.etag)),
                is_latest: Some(v.is_latest),
                key: Some(enc.s(v.key)),
                last_modified: Some(ts(v.last_modified_ms)),
                owner,
                size: Some(i64::try_from(v.size).unwrap_or(i64::MAX)),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                version_id: Some(v.version_id),
                ..Default::default()
            });
        }
    }
    let cps: Vec<CommonPrefix> = r
        .common_prefixes
        .into_iter()
        .map(|p| CommonPrefix {
            prefix: Some(enc.s(p)),
        })
        .collect();
    Ok(S3Response::new(ListObjectVersionsOutput {
        common_prefixes: (!cps.is_empty()).then_some(cps),
        delete_markers: (!markers.is_empty()).then_some(markers),
        delimiter: enc.o(input.delimiter.filter(|d| !d.is_empty())),
        encoding_type: input.encoding_type,
        is_truncated: Some(r.is_truncated),
        key_marker: Some(enc.s(input.key_marker.unwrap_or_default())),
        max_keys: Some(input.max_keys.unwrap_or(MAX_KEYS).min(MAX_KEYS)),
        name: Some(input.bucket),
        next_key_marker: enc.o(r.next_key_marker),
        next_version_id_marker: r.next_version_id_marker,
        prefix: Some(enc.s(input.prefix.unwrap_or_default())),
        version_id_marker: input.version_id_marker,
        versions: (!versions.is_empty()).then_some(versions),
        ..Default::default()
    }))
}
