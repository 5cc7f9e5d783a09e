//! Buckets: list, create, delete, versioning; a bucket's listing and
//! multi-delete.

use super::*;

pub(super) async fn list_buckets(State(c): State<Console>, h: HeaderMap) -> ApiResult {
    let s = session(&c, &h, false)?;
    let a = run(&c, &s, call(Method::GET, "", "")).await?;
    let root = xml_of(&a)?;
    let buckets: Vec<Value> = root
        .child("Buckets")
        .map(|b| {
            b.all("Bucket")
                .map(|b| json!({"name": b.text_of("Name"), "created": b.text_of("CreationDate")}))
                .collect()
        })
        .unwrap_or_default();
    Ok(ok_json(json!({"buckets": buckets})))
}

#[derive(Deserialize)]
pub(super) struct NewBucket {
    name: String,
}

pub(super) async fn create_bucket(
    State(c): State<Console>,
    h: HeaderMap,
    Json(b): Json<NewBucket>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    if b.name.is_empty() || b.name.contains('/') {
        return Err(ApiError::bad(
            "Invalid bucket name: 3 to 63 lower-case letters, digits, dots and hyphens.",
        ));
    }
    run(&c, &s, call(Method::PUT, &b.name, "")).await?;
    Ok(ok_json(json!({"name": b.name})))
}

pub(super) async fn delete_bucket(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    run(&c, &s, call(Method::DELETE, &bucket, "")).await?;
    Ok(ok_json(json!({})))
}

pub(super) async fn get_versioning(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
) -> ApiResult {
    let s = session(&c, &h, false)?;
    let mut k = call(Method::GET, &bucket, "");
    k.query = "versioning".to_owned();
    let root = xml_of(&run(&c, &s, k).await?)?;
    let status = root.text_of("Status");
    Ok(ok_json(
        json!({"enabled": status == "Enabled", "status": status}),
    ))
}

#[derive(Deserialize)]
pub(super) struct Versioning {
    enabled: bool,
}

pub(super) async fn put_versioning(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Json(v): Json<Versioning>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    let status = if v.enabled { "Enabled" } else { "Suspended" };
    let mut k = call(Method::PUT, &bucket, "");
    k.query = "versioning".to_owned();
    k.body = CallBody::Bytes(Bytes::from(format!(
        "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>{status}</Status></VersioningConfiguration>"
    )));
    run(&c, &s, k).await?;
    Ok(ok_json(json!({"enabled": v.enabled, "status": status})))
}

/// Stored bytes estimated from logical bytes and an erasure code (k data +
/// m parity shards): every byte costs (k+m)/k on disks before compression
/// and deduplication, which only lower it.
pub(super) fn stored_estimate(bytes: u64, (k, m): (u16, u16)) -> u64 {
    if k == 0 {
        return bytes;
    }
    let s = u128::from(bytes) * (u128::from(k) + u128::from(m)) / u128::from(k);
    u64::try_from(s).unwrap_or(u64::MAX)
}

/// Object count, logical size and bytes on disks of a bucket, from the
/// engine's usage counters: no listing. Bytes on disks are counted at write
/// time (compressed, erasure-coded or replicated, each block once per
/// version: before dedup across objects); versions written before that
/// was counted are estimated from their logical size and the bucket's code
/// (`stored_estimated` says how many logical bytes that covers). The session's key must be allowed
/// to list the bucket (a HeadBucket through S3 checks that first).
pub(super) async fn bucket_usage(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
) -> ApiResult {
    let s = session(&c, &h, false)?;
    run(&c, &s, call(Method::HEAD, &bucket, "")).await?;
    let engine = c.s3.front.engine();
    let unavailable = |e: liuma_engine::Error| {
        tracing::warn!(error = %e, bucket = %bucket, "bucket usage");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UsageUnavailable",
            "The bucket's usage could not be read just now.",
        )
    };
    let usage = engine.bucket_usage(&bucket).await.map_err(unavailable)?;
    let info = engine.bucket(&bucket).await.map_err(unavailable)?;
    let code = info.erasure.unwrap_or_else(|| engine.erasure());
    let stored = usage
        .stored_bytes
        .saturating_add(stored_estimate(usage.unknown_bytes, code));
    Ok(ok_json(json!({
        "objects": usage.objects,
        "bytes": usage.bytes,
        "stored": stored,
        "stored_counted": usage.stored_bytes,
        "stored_estimated": usage.unknown_bytes,
        "erasure": [code.0, code.1],
    })))
}
