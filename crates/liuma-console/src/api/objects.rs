//! Objects: download (Range, inert types inline only), upload in one
//! request, metadata, and share links (presigned GETs).

use super::*;

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    token: String,
    max: Option<u32>,
    /// "1": no delimiter (a flat listing under the prefix).
    #[serde(default)]
    flat: String,
    /// `size`, `-size`, `modified`, `-modified`, `-name`: the whole folder
    /// sorted server-side (see `sorted`); empty or `name`: S3's key order.
    #[serde(default)]
    sort: String,
    /// Where a sorted page starts (entries before it).
    #[serde(default)]
    offset: usize,
}

pub(super) async fn list_objects(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(lq): Query<ListQuery>,
) -> ApiResult {
    let s = session(&c, &h, false)?;
    let max = lq.max.unwrap_or(200).clamp(1, 1000);
    if let Some(order) =
        sorted::parse_sort(&lq.sort).filter(|o| *o != (sorted::Sort::Name, false) && lq.flat != "1")
    {
        let v = sorted::sorted_page(
            &c,
            &h,
            &s,
            &bucket,
            &lq.prefix,
            order,
            (lq.offset, max as usize),
        )
        .await?;
        return Ok(ok_json(v));
    }
    let mut query = format!("list-type=2&max-keys={max}&prefix={}", q(&lq.prefix));
    if lq.flat != "1" {
        query.push_str("&delimiter=%2F");
    }
    if !lq.token.is_empty() {
        query.push_str(&format!("&continuation-token={}", q(&lq.token)));
    }
    let mut k = call(Method::GET, &bucket, "");
    k.query = query;
    let root = xml_of(&run(&c, &s, k).await?)?;
    let folders: Vec<&str> = root
        .all("CommonPrefixes")
        .map(|p| p.text_of("Prefix"))
        .collect();
    let objects: Vec<Value> = root
        .all("Contents")
        .map(|o| {
            json!({
                "key": o.text_of("Key"),
                "size": o.text_of("Size").parse::<u64>().unwrap_or(0),
                "modified": o.text_of("LastModified"),
                "etag": o.text_of("ETag"),
            })
        })
        .collect();
    let next =
        (root.text_of("IsTruncated") == "true").then(|| root.text_of("NextContinuationToken"));
    Ok(ok_json(json!({
        "prefix": lq.prefix,
        "folders": folders,
        "objects": objects,
        "next_token": next,
    })))
}

#[derive(Deserialize)]
pub(super) struct DeleteKeys {
    keys: Vec<String>,
}

pub(super) async fn delete_objects(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Json(d): Json<DeleteKeys>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    if d.keys.is_empty() || d.keys.len() > 1000 {
        return Err(ApiError::bad("Delete 1 to 1000 objects at a time."));
    }
    let mut doc = String::from("<Delete><Quiet>true</Quiet>");
    for key in &d.keys {
        doc.push_str(&format!("<Object><Key>{}</Key></Object>", xml::escape(key)));
    }
    doc.push_str("</Delete>");
    let mut k = call(Method::POST, &bucket, "");
    k.query = "delete".to_owned();
    k.body = CallBody::Bytes(Bytes::from(doc));
    let root = xml_of(&run(&c, &s, k).await?)?;
    let errors: Vec<Value> = root
        .all("Error")
        .map(|e| json!({"key": e.text_of("Key"), "code": e.text_of("Code"), "message": e.text_of("Message")}))
        .collect();
    Ok(ok_json(
        json!({"deleted": d.keys.len() - errors.len(), "errors": errors}),
    ))
}

#[derive(Deserialize)]
pub(super) struct KeyQuery {
    key: String,
    #[serde(default)]
    download: String,
    /// One version (empty: the current one).
    #[serde(default)]
    version: String,
}

/// The content type an object is served with from the console's origin:
/// only types a browser shows without running anything; the rest download.
pub(super) fn safe_type(stored: &str) -> Option<&'static str> {
    let t = stored
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    Some(match t.as_str() {
        "image/png" => "image/png",
        "image/jpeg" => "image/jpeg",
        "image/gif" => "image/gif",
        "image/webp" => "image/webp",
        "image/avif" => "image/avif",
        "application/pdf" => "application/pdf",
        "audio/mpeg" => "audio/mpeg",
        "audio/ogg" => "audio/ogg",
        "audio/wav" => "audio/wav",
        "video/mp4" => "video/mp4",
        "video/webm" => "video/webm",
        "application/json"
        | "application/xml"
        | "text/xml"
        | "text/html"
        | "text/css"
        | "text/javascript"
        | "application/javascript" => "text/plain; charset=utf-8",
        t if t.starts_with("text/") => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// `attachment; filename*=UTF-8''<last segment>`.
pub(super) fn disposition(key: &str, attach: bool) -> HeaderValue {
    let name = key
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("download");
    let kind = if attach { "attachment" } else { "inline" };
    HeaderValue::from_str(&format!("{kind}; filename*=UTF-8''{}", q(name)))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// The object's bytes streamed through (Range passed on, so previews seek).
pub(super) async fn get_object(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(kq): Query<KeyQuery>,
) -> ApiResult {
    let (s, mut k) = object_call(
        &c,
        &h,
        false,
        Method::GET,
        (&bucket, &kq.key),
        version_query(&kq.version),
    )?;
    for n in [header::RANGE, header::IF_NONE_MATCH] {
        if let Some(v) = h.get(&n) {
            k.headers.push((n, v.clone()));
        }
    }
    let resp = c.s3.call(&creds(&s), k).await;
    if !resp.status().is_success() && resp.status() != StatusCode::NOT_MODIFIED {
        return Err(ApiError::from_s3(&Answer::read(resp, MAX_XML).await));
    }
    let (parts, body) = resp.into_parts();
    let mut r = Response::new(body);
    *r.status_mut() = parts.status;
    let out = r.headers_mut();
    for n in [
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::ACCEPT_RANGES,
        header::ETAG,
        header::LAST_MODIFIED,
    ] {
        if let Some(v) = parts.headers.get(&n) {
            out.insert(n, v.clone());
        }
    }
    let stored = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let safe = safe_type(stored);
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(safe.unwrap_or("application/octet-stream")),
    );
    out.insert(
        header::CONTENT_DISPOSITION,
        disposition(&kq.key, kq.download == "1" || safe.is_none()),
    );
    // Bytes from users, served from the console's origin: never a document.
    // (Chromium refuses to show a PDF under `sandbox`; its viewer runs no
    // script of the document's, and the policy still allows nothing else.)
    let csp = if safe == Some("application/pdf") {
        "default-src 'none'; object-src 'self'"
    } else {
        "default-src 'none'; sandbox"
    };
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(r)
}

pub(super) async fn put_object(
    State(c): State<Console>,
    Path(bucket): Path<String>,
    Query(kq): Query<KeyQuery>,
    req: Request,
) -> ApiResult {
    let (parts, body) = req.into_parts();
    let (s, mut k) = object_call(
        &c,
        &parts.headers,
        true,
        Method::PUT,
        (&bucket, &kq.key),
        String::new(),
    )?;
    for n in [header::CONTENT_LENGTH, header::CONTENT_TYPE] {
        if let Some(v) = parts.headers.get(&n) {
            k.headers.push((n, v.clone()));
        }
    }
    k.body = CallBody::Stream(body);
    let a = run(&c, &s, k).await?;
    let etag = a.header(header::ETAG);
    Ok(ok_json(json!({"key": kq.key, "etag": etag})))
}

pub(super) async fn head_object(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(kq): Query<KeyQuery>,
) -> ApiResult {
    let (s, k) = object_call(
        &c,
        &h,
        false,
        Method::HEAD,
        (&bucket, &kq.key),
        version_query(&kq.version),
    )?;
    let a = run(&c, &s, k).await?;
    let hv = |n: &str| a.header(n).to_owned();
    let meta: serde_json::Map<String, Value> = a
        .headers
        .iter()
        .filter_map(|(n, v)| {
            let name = n.as_str().strip_prefix("x-amz-meta-")?;
            Some((
                name.to_owned(),
                Value::from(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            ))
        })
        .collect();
    Ok(ok_json(json!({
        "key": kq.key,
        "size": hv("content-length").parse::<u64>().unwrap_or(0),
        "content_type": hv("content-type"),
        "etag": hv("etag"),
        "modified": hv("last-modified"),
        "version_id": hv("x-amz-version-id"),
        "storage_class": hv("x-amz-storage-class"),
        "metadata": meta,
    })))
}

// ---- share links --------------------------------------------------------------

#[derive(Deserialize)]
pub(super) struct Share {
    key: String,
    expires_secs: u64,
}

pub(super) async fn share(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Json(sh): Json<Share>,
) -> ApiResult {
    let (s, head) = object_call(
        &c,
        &h,
        true,
        Method::HEAD,
        (&bucket, &sh.key),
        String::new(),
    )?;
    if !(1..=MAX_SHARE_SECS).contains(&sh.expires_secs) {
        return Err(ApiError::bad("A share link lasts from 1 second to 7 days."));
    }
    // The key must be allowed to read it now, or the link is useless.
    run(&c, &s, head).await?;
    let base = c.cfg.s3_public_url.clone().unwrap_or_else(|| {
        let a = c.cfg.s3_addr;
        if a.ip().is_unspecified() {
            // The host the browser used for the console, on the S3 port.
            let host = h
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(|h| h.rsplit_once(':').map_or(h, |(h, _)| h))
                .unwrap_or("localhost");
            format!("{}://{host}:{}", c.cfg.s3_scheme, a.port())
        } else {
            format!("{}://{a}", c.cfg.s3_scheme)
        }
    });
    let url =
        c.s3.presign(&creds(&s), &base, &bucket, &sh.key, sh.expires_secs);
    Ok(ok_json(
        json!({"url": url, "expires_secs": sh.expires_secs}),
    ))
}
