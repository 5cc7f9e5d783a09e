//! The versions of one key (list, delete one, restore one by copying it
//! over the key) and an object's tags (read, replace).

use super::*;

#[derive(Deserialize)]
pub(super) struct VersionQuery {
    key: String,
    #[serde(default)]
    version: String,
}

/// Pages of ListObjectVersions read for one key (1 000 entries each).
const VERSION_PAGES: usize = 5;

/// The versions and delete markers of exactly `key`, newest first.
pub(super) async fn list_versions(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(vq): Query<VersionQuery>,
) -> ApiResult {
    let s = session(&c, &h, false)?;
    need_key(&vq.key)?;
    let mut out = Vec::new();
    let mut marker: Option<(String, String)> = None;
    let mut truncated = false;
    for _ in 0..VERSION_PAGES {
        let mut k = call(Method::GET, &bucket, "");
        k.query = format!("versions&max-keys=1000&prefix={}", q(&vq.key));
        if let Some((km, vm)) = &marker {
            k.query.push_str(&format!(
                "&key-marker={}&version-id-marker={}",
                q(km),
                q(vm)
            ));
        }
        let root = xml_of(&run(&c, &s, k).await?)?;
        let mut past_key = false;
        for v in &root.children {
            let marker = match v.name.as_str() {
                "Version" => false,
                "DeleteMarker" => true,
                _ => continue,
            };
            if v.text_of("Key") != vq.key {
                // keys sharing the prefix sort after it: the key is done
                past_key = v.text_of("Key") > vq.key.as_str();
                if past_key {
                    break;
                }
                continue;
            }
            out.push(version_json(v, marker));
        }
        truncated = root.text_of("IsTruncated") == "true";
        if past_key || !truncated {
            truncated = false;
            break;
        }
        marker = Some((
            root.text_of("NextKeyMarker").to_owned(),
            root.text_of("NextVersionIdMarker").to_owned(),
        ));
    }
    Ok(ok_json(
        json!({"key": vq.key, "versions": out, "truncated": truncated}),
    ))
}

fn version_json(v: &xml::El, delete_marker: bool) -> Value {
    json!({
        "version_id": v.text_of("VersionId"),
        "latest": v.text_of("IsLatest") == "true",
        "modified": v.text_of("LastModified"),
        "etag": v.text_of("ETag"),
        "size": v.text_of("Size").parse::<u64>().unwrap_or(0),
        "delete_marker": delete_marker,
    })
}

fn need_version(v: &str) -> ApiResult<()> {
    if v.is_empty() {
        return Err(ApiError::bad("A version id is needed."));
    }
    Ok(())
}

/// Delete one version (or delete marker) for good.
pub(super) async fn delete_version(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(vq): Query<VersionQuery>,
) -> ApiResult {
    let (s, k) = object_call(
        &c,
        &h,
        true,
        Method::DELETE,
        (&bucket, &vq.key),
        version_query(&vq.version),
    )?;
    need_version(&vq.version)?;
    run(&c, &s, k).await?;
    Ok(ok_json(json!({"deleted": vq.version})))
}

/// `x-amz-copy-source` naming one version of `bucket/key`.
pub(super) fn copy_source(bucket: &str, key: &str, version: &str) -> String {
    format!("/{}/{}?versionId={}", q(bucket), q(key), q(version))
}

/// Restore an old version: copy it over the key, making it the newest
/// (its metadata and tags come along; the old version stays).
pub(super) async fn restore_version(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(vq): Query<VersionQuery>,
) -> ApiResult {
    let (s, mut k) = object_call(&c, &h, true, Method::PUT, (&bucket, &vq.key), String::new())?;
    need_version(&vq.version)?;
    let src = copy_source(&bucket, &vq.key, &vq.version);
    let src = HeaderValue::from_str(&src).map_err(|_| ApiError::bad("Bad version id."))?;
    k.headers
        .push((http::HeaderName::from_static("x-amz-copy-source"), src));
    let a = run(&c, &s, k).await?;
    // CopyObject can fail with 200 and an <Error> body.
    let root = xml_of(&a)?;
    if root.name == "Error" {
        return Err(ApiError::from_s3(&a));
    }
    Ok(ok_json(json!({
        "key": vq.key,
        "etag": root.text_of("ETag"),
        "version_id": a.header("x-amz-version-id"),
    })))
}

fn tagging_query(version: &str) -> String {
    if version.is_empty() {
        "tagging".to_owned()
    } else {
        format!("tagging&versionId={}", q(version))
    }
}

pub(super) async fn get_tags(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(vq): Query<VersionQuery>,
) -> ApiResult {
    let (s, k) = object_call(
        &c,
        &h,
        false,
        Method::GET,
        (&bucket, &vq.key),
        tagging_query(&vq.version),
    )?;
    let root = xml_of(&run(&c, &s, k).await?)?;
    let tags: Vec<Value> = root
        .child("TagSet")
        .map(|t| {
            t.all("Tag")
                .map(|t| json!({"key": t.text_of("Key"), "value": t.text_of("Value")}))
                .collect()
        })
        .unwrap_or_default();
    Ok(ok_json(json!({"tags": tags})))
}

#[derive(Deserialize)]
pub(super) struct TagSet {
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
pub(super) struct Tag {
    key: String,
    value: String,
}

/// The `<Tagging>` document of `tags`.
pub(super) fn tagging_doc(tags: &[Tag]) -> String {
    let mut doc = String::from("<Tagging><TagSet>");
    for t in tags {
        doc.push_str(&format!(
            "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
            xml::escape(&t.key),
            xml::escape(&t.value)
        ));
    }
    doc.push_str("</TagSet></Tagging>");
    doc
}

/// Replace the tags (S3 checks the limits: 10 tags, key 128, value 256).
pub(super) async fn put_tags(
    State(c): State<Console>,
    h: HeaderMap,
    Path(bucket): Path<String>,
    Query(vq): Query<VersionQuery>,
    Json(t): Json<TagSet>,
) -> ApiResult {
    let (s, mut k) = object_call(
        &c,
        &h,
        true,
        Method::PUT,
        (&bucket, &vq.key),
        tagging_query(&vq.version),
    )?;
    k.body = CallBody::Bytes(Bytes::from(tagging_doc(&t.tags)));
    run(&c, &s, k).await?;
    Ok(ok_json(json!({"tags": t.tags.len()})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_escapes_key_and_version() {
        assert_eq!(
            copy_source("b", "a b/&c", "0f"),
            "/b/a%20b%2F%26c?versionId=0f"
        );
    }

    #[test]
    fn tagging_document_escapes_markup() {
        let d = tagging_doc(&[Tag {
            key: "<k>".into(),
            value: "a&b".into(),
        }]);
        assert_eq!(
            d,
            "<Tagging><TagSet><Tag><Key>&lt;k&gt;</Key><Value>a&amp;b</Value></Tag></TagSet></Tagging>"
        );
        assert_eq!(tagging_query(""), "tagging");
        assert_eq!(tagging_query("v1"), "tagging&versionId=v1");
    }
}
