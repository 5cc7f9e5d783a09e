//! The page: hand-written HTML, CSS and JS modules compiled into the
//! binary (no files on disk, no npm build). Every answer carries a strict
//! Content-Security-Policy (scripts and styles from this origin only, no
//! inline script), `nosniff`, `DENY` framing, and an ETag: browsers
//! revalidate (`no-cache`) and get `304` while the binary is unchanged.

use std::sync::OnceLock;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../assets/index.html"),
    },
    Asset {
        path: "/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/app.css"),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/app.js"),
    },
    Asset {
        path: "/api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/api.js"),
    },
    Asset {
        path: "/upload.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/upload.js"),
    },
    // The cluster and access pages (admin sign-in).
    Asset {
        path: "/admin",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../assets/admin.html"),
    },
    Asset {
        path: "/admin.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/admin.css"),
    },
    Asset {
        path: "/cluster.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/cluster.js"),
    },
    Asset {
        path: "/access.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/access.js"),
    },
    Asset {
        path: "/charts.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/charts.js"),
    },
    Asset {
        path: "/ui.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/ui.js"),
    },
    Asset {
        path: "/editors.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/editors.js"),
    },
    Asset {
        path: "/preview.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/preview.js"),
    },
    Asset {
        path: "/hash-worker.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/hash-worker.js"),
    },
    Asset {
        path: "/favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../assets/favicon.svg"),
    },
];

/// The policy of every page answer.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' blob:; media-src 'self'; connect-src 'self'; frame-src 'self'; \
base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Total bytes of the embedded assets (what a first load fetches).
pub fn total_bytes() -> usize {
    ASSETS.iter().map(|a| a.body.len()).sum()
}

fn etags() -> &'static Vec<String> {
    static E: OnceLock<Vec<String>> = OnceLock::new();
    E.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", &liuma_sigv4::sha256_hex(a.body.as_bytes())[..16]))
            .collect()
    })
}

async fn serve(req: Request) -> Response {
    let path = req.uri().path();
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let a = &ASSETS[i];
    let etag = &etags()[i];
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        a.body.into_response()
    };
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    r
}

/// Routes of the embedded files.
pub fn routes() -> axum::Router {
    let mut r = axum::Router::new();
    for a in ASSETS {
        r = r.route(a.path, get(serve));
    }
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_load_is_small_and_has_no_inline_script() {
        assert!(super::total_bytes() < 250 << 10);
        for page in ["/", "/admin"] {
            let html = super::ASSETS
                .iter()
                .find(|a| a.path == page)
                .map_or("", |a| a.body);
            assert!(html.contains("<script"), "{page}");
            no_inline_script(html);
        }
    }

    fn no_inline_script(html: &str) {
        // every <script> loads a file: none has a body
        for part in html.split("<script").skip(1) {
            assert!(part.contains("src="), "inline script: {part}");
            let body = part.split_once('>').map_or("", |(_, b)| b);
            assert!(body.starts_with("</script>"), "inline script: {part}");
        }
        // no inline event handlers (onclick=, onload=, ...)
        let lower = html.to_ascii_lowercase();
        for (i, _) in lower.match_indices(" on") {
            let rest = &lower[i + 3..];
            let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
            assert!(
                !rest[name.len()..].starts_with('='),
                "inline handler on{name}"
            );
        }
    }
}
