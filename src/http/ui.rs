//! `/ui/`: the operator console, a single page of plain HTML, CSS and JavaScript modules (no
//! build step, nothing fetched from elsewhere), embedded in the binary and served here.
//!
//! Caching: every asset is served with `Cache-Control: no-cache` and a strong `ETag` (the
//! SHA-256 of its bytes), and a matching `If-None-Match` is answered `304` with no body. The
//! modules import each other by plain names (`./api.js`); versioned names with a long
//! `max-age` would mean rewriting those imports and `index.html` at build time, a build step the
//! console does without on purpose. Revalidating costs one small conditional request per file,
//! and a new binary's assets are never mixed with an old one's.
//!
//! Security: the console's pages carry a strict `Content-Security-Policy` (`default-src 'self'`,
//! no inline script or style, no framing), `nosniff` and `no-referrer`. The API token lives in
//! the tab's `sessionStorage` and travels only in `Authorization` headers.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::app::App;

/// The console's policy: its own origin only; no inline script, style or `eval`; API calls to
/// the same origin; no plugins, no framing, no `<base>` tricks.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($($name:literal => $content_type:literal),+ $(,)?) => {
        &[$(Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("ui/", $name)),
        }),+]
    };
}

static ASSETS: &[Asset] = assets![
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "app.js" => "text/javascript; charset=utf-8",
    "api.js" => "text/javascript; charset=utf-8",
    "live.js" => "text/javascript; charset=utf-8",
    "dom.js" => "text/javascript; charset=utf-8",
    "hubs.js" => "text/javascript; charset=utf-8",
    "topology.js" => "text/javascript; charset=utf-8",
    "table.js" => "text/javascript; charset=utf-8",
    "cost.js" => "text/javascript; charset=utf-8",
    "spoke.js" => "text/javascript; charset=utf-8",
    "jobs.js" => "text/javascript; charset=utf-8",
    "audit.js" => "text/javascript; charset=utf-8",
    "icon.svg" => "image/svg+xml",
];

/// The strong entity tag of each asset, in [`ASSETS`] order: `"<sha-256 hex>"`.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let tag = format!("\"{}\"", hex::encode(Sha256::digest(a.body)));
            HeaderValue::from_str(&tag).expect("a hex entity tag is a valid header value")
        })
        .collect()
});

/// `/ui` (redirected to `/ui/`), `/ui/` (the page) and `/ui/{asset}`.
pub fn router() -> Router<App> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(|headers: HeaderMap| async move { serve("index.html", &headers) }))
        .route(
            "/ui/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move {
                serve(&path, &headers)
            }),
        )
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let asset = &ASSETS[i];
    let etag = &ETAGS[i];
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| if_none_match_hits(v, etag.to_str().unwrap_or_default()));
    let status = if fresh {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let mut res = if fresh {
        status.into_response()
    } else {
        (status, asset.body).into_response()
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if !fresh {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// Whether an `If-None-Match` value (`*`, or a list of entity tags, weak ones included: RFC 9110
/// compares them weakly for this header) names `etag`.
fn if_none_match_hits(value: &str, etag: &str) -> bool {
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_strong_etag() {
        let tags: std::collections::HashSet<_> = ETAGS.iter().collect();
        assert_eq!(tags.len(), ASSETS.len());
        assert!(ETAGS.iter().all(|t| {
            let t = t.to_str().unwrap();
            t.len() == 66 && t.starts_with('"') && t.ends_with('"')
        }));
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let e = "\"abc\"";
        assert!(if_none_match_hits("\"abc\"", e));
        assert!(if_none_match_hits("\"x\", W/\"abc\"", e));
        assert!(if_none_match_hits("*", e));
        assert!(!if_none_match_hits("\"abd\"", e));
        assert!(!if_none_match_hits("", e));
    }

    #[test]
    fn the_page_loads_no_inline_script_and_nothing_from_elsewhere() {
        let page = std::str::from_utf8(ASSETS[0].body).unwrap();
        assert_eq!(ASSETS[0].name, "index.html");
        assert!(!page.contains("<script>"), "inline script");
        assert!(!page.contains("style="), "inline style");
        assert!(!page.contains("http://") && !page.contains("https://"));
        for a in ASSETS {
            let text = String::from_utf8_lossy(a.body);
            assert!(
                !text.contains("https://") || a.name == "icon.svg",
                "{} refers to another origin",
                a.name
            );
        }
    }
}
