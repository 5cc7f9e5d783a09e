//! Multipart uploads: create, parts (resumable: ListParts says what the
//! server has), complete, abort.

use super::*;

#[derive(Deserialize)]
pub(super) struct UploadQuery {
    key: String,
    #[serde(default)]
    upload_id: String,
    #[serde(default)]
    part: u32,
}

pub(super) async fn create_multipart(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(uq): Query<UploadQuery>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    need_key(&uq.key)?;
    let mut k = call(Method::POST, &bucket, &uq.key);
    k.query = "uploads".to_owned();
    if let Some(v) = h.get("x-object-type") {
        k.headers.push((header::CONTENT_TYPE, v.clone()));
    }
    let root = xml_of(&run(&c, &s, k).await?)?;
    Ok(ok_json(json!({"upload_id": root.text_of("UploadId")})))
}

pub(super) async fn abort_multipart(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(uq): Query<UploadQuery>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    need_key(&uq.key)?;
    let mut k = call(Method::DELETE, &bucket, &uq.key);
    k.query = format!("uploadId={}", q(&uq.upload_id));
    run(&c, &s, k).await?;
    Ok(ok_json(json!({})))
}

pub(super) async fn upload_part(
    State(c): State<Console>,
    Path(bucket): Path<String>,
    Query(uq): Query<UploadQuery>,
    req: Request,
) -> ApiResult {
    let (parts, body) = req.into_parts();
    let s = session(&c, &parts.headers, true)?;
    need_key(&uq.key)?;
    if !(1..=10_000).contains(&uq.part) {
        return Err(ApiError::bad("Part numbers run from 1 to 10000."));
    }
    let mut k = call(Method::PUT, &bucket, &uq.key);
    k.query = format!("partNumber={}&uploadId={}", uq.part, q(&uq.upload_id));
    if let Some(v) = parts.headers.get(header::CONTENT_LENGTH) {
        k.headers.push((header::CONTENT_LENGTH, v.clone()));
    }
    k.body = CallBody::Stream(body);
    let a = run(&c, &s, k).await?;
    let etag = a.header(header::ETAG);
    Ok(ok_json(json!({"part": uq.part, "etag": etag})))
}

/// Every part S3 holds for the upload (paged through; 10 000 at most).
pub(super) async fn list_parts(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(uq): Query<UploadQuery>,
) -> ApiResult {
    let s = session(&c, &h, false)?;
    need_key(&uq.key)?;
    let mut parts = Vec::new();
    let mut marker = String::new();
    for _ in 0..10 {
        let mut k = call(Method::GET, &bucket, &uq.key);
        k.query = format!("uploadId={}&max-parts=1000", q(&uq.upload_id));
        if !marker.is_empty() {
            k.query.push_str(&format!("&part-number-marker={marker}"));
        }
        let root = xml_of(&run(&c, &s, k).await?)?;
        for p in root.all("Part") {
            parts.push(json!({
                "part": p.text_of("PartNumber").parse::<u32>().unwrap_or(0),
                "etag": p.text_of("ETag"),
                "size": p.text_of("Size").parse::<u64>().unwrap_or(0),
            }));
        }
        if root.text_of("IsTruncated") != "true" {
            break;
        }
        marker = root.text_of("NextPartNumberMarker").to_owned();
    }
    Ok(ok_json(json!({"parts": parts})))
}

#[derive(Deserialize)]
pub(super) struct Complete {
    parts: Vec<DonePart>,
}

#[derive(Deserialize)]
pub(super) struct DonePart {
    part: u32,
    etag: String,
}

pub(super) async fn complete_multipart(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(uq): Query<UploadQuery>,
    Json(done): Json<Complete>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    need_key(&uq.key)?;
    let mut doc = String::from("<CompleteMultipartUpload>");
    for p in &done.parts {
        doc.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
            p.part,
            xml::escape(&p.etag)
        ));
    }
    doc.push_str("</CompleteMultipartUpload>");
    let mut k = call(Method::POST, &bucket, &uq.key);
    k.query = format!("uploadId={}", q(&uq.upload_id));
    k.body = CallBody::Bytes(Bytes::from(doc));
    let a = run(&c, &s, k).await?;
    // CompleteMultipartUpload can fail with 200 and an <Error> body.
    let root = xml_of(&a)?;
    if root.name == "Error" {
        return Err(ApiError::from_s3(&a));
    }
    Ok(ok_json(
        json!({"key": uq.key, "etag": root.text_of("ETag")}),
    ))
}
