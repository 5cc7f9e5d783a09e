//! One middleware around the native router: request head caps answered in
//! the API's JSON shape, and liuma 1.0's response envelope.
//!
//! **Caps.** hyper refuses heads over its read buffer (~408 KiB), more
//! header lines than the listener allows (431; the server raises hyper's
//! 100 to `max_header_bytes / 64` for this listener) and request targets
//! over 64 KiB (414) itself, with an empty body, before any router runs.
//! Everything smaller
//! reaches this layer, which refuses a request target over
//! `max_uri_bytes` (414 `UriTooLong`) and a head over `max_header_bytes`
//! (431 `RequestHeaderFieldsTooLarge`) in JSON, before any handler reads
//! the request.
//!
//! **Envelope.** liuma 1.0 (Go, beego) wrapped every answer in
//! `{"status": bool, "code": int, "msg": string, "data": any}`: success
//! was `{"status": true, "code": 200, "msg": "", "data": {...}}`, an error
//! `{"status": false, "code": 55xx, "msg": "...", "data": null}`. With
//! `envelope_v1`, JSON answers are wrapped the same way: the native answer
//! becomes `data` (success) or `error` (failure, next to 1.0's numeric
//! `code` and `msg`). The HTTP status stays the native one (1.0 answered
//! every error with 500). File downloads and tus answers are not JSON and
//! pass unchanged.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::config::NativeConfig;
use crate::error::ApiError;

/// Largest JSON answer the envelope rewrites (native answers are small).
const MAX_JSON: usize = 1 << 20;

/// The middleware's settings.
#[derive(Clone, Copy, Debug)]
pub struct Compat {
    envelope_v1: bool,
    max_header_bytes: usize,
    max_uri_bytes: usize,
}

impl Compat {
    /// From the native API's settings.
    pub fn of(cfg: &NativeConfig) -> Compat {
        Compat {
            envelope_v1: cfg.envelope_v1,
            max_header_bytes: cfg.max_header_bytes,
            max_uri_bytes: cfg.max_uri_bytes,
        }
    }
}

/// Bytes of the request head as sent: request line and header lines.
fn head_size(req: &Request) -> usize {
    let target = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    let line = req.method().as_str().len() + 1 + target + 11; // " HTTP/1.1\r\n"
    line + req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + 2 + v.len() + 2)
        .sum::<usize>()
        + 2
}

/// Check the caps, run the request, wrap its JSON answer if asked to.
pub async fn layer(State(c): State<Compat>, req: Request, next: Next) -> Response {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    let resp = if target > c.max_uri_bytes {
        ApiError::UriTooLong {
            size: target,
            max: c.max_uri_bytes,
        }
        .into_response()
    } else if head_size(&req) > c.max_header_bytes {
        ApiError::HeadersTooLarge {
            size: head_size(&req),
            max: c.max_header_bytes,
        }
        .into_response()
    } else {
        next.run(req).await
    };
    if c.envelope_v1 {
        envelope(resp).await
    } else {
        resp
    }
}

/// liuma 1.0's numeric code for a native error code.
fn v1_code(code: &str) -> u32 {
    match code {
        "InvalidSystemToken" => 5533,
        "MissingToken"
        | "InvalidToken"
        | "ExpiredToken"
        | "WrongTokenOperation"
        | "TokenHashMismatch" => 5531,
        "BadDigest" => 5543,
        "FileNotFound" => 5547,
        "MissingFile" | "MalformedForm" => 5541,
        "InvalidArgument" | "InvalidHash" | "InvalidFileName" | "InvalidChunkNumber" => 5524,
        "MissingChunk" | "NoChunks" | "ChunkSizeMismatch" | "ChunkOutOfRange"
        | "FileSizeMismatch" | "EntityTooLarge" | "IncompleteBody" => 5545,
        _ => 5500,
    }
}

/// Wrap a JSON answer in the 1.0 envelope.
async fn envelope(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if !is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_JSON).await else {
        return (parts.status, "answer too large to wrap").into_response();
    };
    let Ok(native) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let wrapped = if parts.status.is_success() {
        json!({"status": true, "code": 200, "msg": "", "data": native})
    } else {
        let code = native["code"].as_str().unwrap_or("InternalError");
        json!({
            "status": false,
            "code": v1_code(code),
            "msg": native["message"].as_str().unwrap_or_default(),
            "data": null,
            "error": native,
        })
    };
    let out = serde_json::to_vec(&wrapped).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_size_counts_line_and_headers() {
        let req = Request::builder()
            .uri("/a?b=c")
            .header("x", "yy")
            .body(Body::empty())
            .unwrap();
        // "GET /a?b=c HTTP/1.1\r\n" + "x: yy\r\n" + "\r\n"
        assert_eq!(head_size(&req), 21 + 7 + 2);
    }

    #[test]
    fn v1_codes() {
        assert_eq!(v1_code("InvalidSystemToken"), 5533);
        assert_eq!(v1_code("ExpiredToken"), 5531);
        assert_eq!(v1_code("FileNotFound"), 5547);
        assert_eq!(v1_code("SlowDown"), 5500);
    }
}
