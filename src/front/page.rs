//! The desktop servers' browser page (`GET /` of `serve ecs` and `serve ec2`): a role
//! selector, "Refresh now", the identity being served with a countdown to its expiry, and
//! the MFA and username/password dialogs — everything the management API of
//! [`super::desktop`] offers, in one screen like aws-runas's.
//!
//! Contract:
//! * The page is plain HTML, CSS and JavaScript from `src/server/page/`, compiled into the
//!   binary: it works offline and loads nothing from anywhere else. `GET /` answers the HTML;
//!   `GET /page/NAME` the assets it names; any other name is 404.
//! * The page talks only to the management API, same-origin, and sends
//!   `X-Requested-By: needroleshere` on every state-changing call. It never sees a secret:
//!   the API shows access key ids and expiry times, not keys or tokens.
//! * Every answer carries a strict Content-Security-Policy (`default-src 'self'`, no inline
//!   script or style, no framing, no form posts elsewhere) and `X-Content-Type-Options:
//!   nosniff`, so an injected string cannot run as script and no other site can frame the
//!   page. The routes sit behind the desktop router's `Host`/`Origin` guard, so a
//!   DNS-rebinding name cannot load them either.

use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The page's Content-Security-Policy: its own scripts, styles and images, API calls to its
/// own origin, and nothing else.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("page/index.html");

/// A file of the page other than the HTML.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "page.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("page/page.css"),
    },
    Asset {
        name: "page.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("page/page.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("page/icon.svg"),
    },
];

/// The page's routes, for any router state: `GET /` (also `GET /manage`, where
/// aws-mock-metadata's users open its page) and `GET /page/{file}`.
pub(crate) fn routes<S>() -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    use axum::routing::get;
    axum::Router::new()
        .route("/", get(index))
        .route("/manage", get(index))
        .route("/page/{file}", get(asset))
}

/// `GET /`: the page.
pub(crate) async fn index() -> Response {
    respond(
        StatusCode::OK,
        "text/html; charset=utf-8",
        INDEX_HTML.as_bytes(),
    )
}

/// `GET /page/{file}`: one of the page's assets.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(asset) => respond(StatusCode::OK, asset.content_type, asset.body),
        None => respond(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            b"no such file of the page",
        ),
    }
}

/// An answer with the page's security headers.
fn respond(status: StatusCode, content_type: &'static str, body: &'static [u8]) -> Response {
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        // A new binary may bring a new page: revalidate instead of using a stale copy.
        (header::CACHE_CONTROL, "no-cache"),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    let mut response = (status, body).into_response();
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "test code: a panic is the failure report"
    )]

    use super::*;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn header<'a>(response: &'a Response, name: &str) -> &'a str {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    #[tokio::test]
    async fn the_page_carries_a_strict_policy() {
        let response = index().await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "content-type"),
            "text/html; charset=utf-8"
        );
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        let csp = header(&response, "content-security-policy");
        assert!(csp.starts_with("default-src 'self';"), "{csp}");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
    }

    /// The policy forbids inline script and style, so the HTML must not rely on them.
    #[tokio::test]
    async fn the_html_has_no_inline_script_or_style() {
        let html = body(index().await).await.to_ascii_lowercase();
        for needle in [" style=", "<style", "javascript:", " onclick=", " onload="] {
            assert!(!html.contains(needle), "inline code in the page: {needle}");
        }
        for script in html.split("<script").skip(1) {
            let tag = script.split('>').next().unwrap_or_default();
            assert!(
                tag.contains(" src=\"/page/"),
                "an inline script: <script{tag}>"
            );
        }
        // Nothing from another origin.
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    /// Every asset the HTML names is served, with its type and the same headers.
    #[tokio::test]
    async fn every_asset_the_html_names_is_served() {
        let mut named = 0;
        // Where the page's assets are served, below the origin.
        for piece in INDEX_HTML.split("/page/").skip(1) {
            let name = piece.split('"').next().unwrap();
            let response = asset(Path(name.to_owned())).await;
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            assert_eq!(header(&response, "x-content-type-options"), "nosniff");
            assert_eq!(
                header(&response, "content-security-policy"),
                CONTENT_SECURITY_POLICY
            );
            named += 1;
        }
        assert_eq!(named, ASSETS.len(), "an asset the HTML does not use");
        let response = asset(Path("page.js".into())).await;
        assert_eq!(
            header(&response, "content-type"),
            "text/javascript; charset=utf-8"
        );
        assert!(body(response).await.contains("X-Requested-By"));
    }

    #[tokio::test]
    async fn unknown_assets_are_not_found() {
        for name in ["nope.js", "../page.rs", "index.html", ""] {
            let response = asset(Path(name.into())).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{name}");
            assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        }
    }
}
