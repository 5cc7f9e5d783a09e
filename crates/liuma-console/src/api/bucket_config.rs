//! A bucket's lifecycle, CORS and policy documents, as S3 holds them: read
//! (absent is `exists: false`, a server without the feature is
//! `supported: false` so the page hides that editor), replaced and deleted.
//! The console does not validate a document itself: S3 does, and its
//! refusal comes back in words with nothing stored.

use super::*;

/// One of the documents: its S3 sub-resource, the error codes S3 answers
/// when there is none, and the body's content type.
pub(super) struct Kind {
    pub query: &'static str,
    pub absent: &'static [&'static str],
    pub content_type: &'static str,
}

/// The kind named in the path (`lifecycle`, `cors`, `policy`).
pub(super) fn kind(name: &str) -> Option<Kind> {
    Some(match name {
        "lifecycle" => Kind {
            query: "lifecycle",
            absent: &["NoSuchLifecycleConfiguration"],
            content_type: "application/xml",
        },
        "cors" => Kind {
            query: "cors",
            absent: &["NoSuchCORSConfiguration"],
            content_type: "application/xml",
        },
        "policy" => Kind {
            query: "policy",
            absent: &["NoSuchBucketPolicy"],
            content_type: "application/json",
        },
        _ => return None,
    })
}

/// Codes meaning "this server has no such feature".
fn unsupported(code: &str) -> bool {
    matches!(code, "NotImplemented" | "MethodNotAllowed")
}

fn kind_or_404(name: &str) -> ApiResult<Kind> {
    kind(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "Bucket settings are lifecycle, cors or policy.",
        )
    })
}

pub(super) async fn get_config(
    State(c): State<Console>,
    h: HeaderMap,
    Path((bucket, name)): Path<(String, String)>,
) -> ApiResult {
    let s = session(&c, &h, false)?;
    let k = kind_or_404(&name)?;
    let mut q = call(Method::GET, &bucket, "");
    q.query = k.query.to_owned();
    match run(&c, &s, q).await {
        Ok(a) => Ok(ok_json(json!({
            "supported": true,
            "exists": true,
            "document": String::from_utf8_lossy(&a.body),
        }))),
        Err(e) if k.absent.contains(&e.code.as_str()) => Ok(ok_json(
            json!({"supported": true, "exists": false, "document": ""}),
        )),
        Err(e) if unsupported(&e.code) => Ok(ok_json(
            json!({"supported": false, "exists": false, "document": ""}),
        )),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub(super) struct Document {
    document: String,
}

pub(super) async fn put_config(
    State(c): State<Console>,
    h: HeaderMap,
    Path((bucket, name)): Path<(String, String)>,
    Json(d): Json<Document>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    let k = kind_or_404(&name)?;
    if d.document.trim().is_empty() {
        return Err(ApiError::bad(
            "The document is empty: use Remove to delete the setting.",
        ));
    }
    let mut q = call(Method::PUT, &bucket, "");
    q.query = k.query.to_owned();
    q.headers.push((
        header::CONTENT_TYPE,
        HeaderValue::from_static(k.content_type),
    ));
    q.body = CallBody::Bytes(Bytes::from(d.document));
    run(&c, &s, q).await?;
    Ok(ok_json(json!({"saved": true})))
}

pub(super) async fn delete_config(
    State(c): State<Console>,
    h: HeaderMap,
    Path((bucket, name)): Path<(String, String)>,
) -> ApiResult {
    let s = session(&c, &h, true)?;
    let k = kind_or_404(&name)?;
    let mut q = call(Method::DELETE, &bucket, "");
    q.query = k.query.to_owned();
    run(&c, &s, q).await?;
    Ok(ok_json(json!({"deleted": true})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_kinds_and_nothing_else() {
        assert_eq!(kind("lifecycle").map(|k| k.query), Some("lifecycle"));
        assert_eq!(
            kind("cors").map(|k| k.content_type),
            Some("application/xml")
        );
        assert_eq!(
            kind("policy").map(|k| k.content_type),
            Some("application/json")
        );
        assert!(kind("acl").is_none());
        assert!(kind("../policy").is_none());
        assert!(unsupported("NotImplemented"));
        assert!(!unsupported("MalformedXML"));
    }
}
