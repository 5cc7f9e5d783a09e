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
