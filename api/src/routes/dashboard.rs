//! `GET /`: the built-in dashboard, one page with its script and style.
//!
//! The assets live in `api/assets/dashboard/` and are compiled into the
//! binary, so the dashboard needs no build step and no files at run time. The
//! page holds no data: the browser signs in (password, SSO or a pasted
//! token), reads the REST API and follows `GET /api/v1/stream`. Its script is
//! a few ES modules (one per view), all served from here under the same
//! strict policy: scripts from this origin only, nothing inline.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderName;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

const INDEX_HTML: &str = include_str!("../../assets/dashboard/index.html");

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// Every asset the page loads: name, content type, body.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/dashboard/app.css"),
    ),
    (
        "app.js",
        JAVASCRIPT,
        include_str!("../../assets/dashboard/app.js"),
    ),
    (
        "core.js",
        JAVASCRIPT,
        include_str!("../../assets/dashboard/core.js"),
    ),
    (
        "incidents.js",
        JAVASCRIPT,
        include_str!("../../assets/dashboard/incidents.js"),
    ),
    (
        "alerts.js",
        JAVASCRIPT,
        include_str!("../../assets/dashboard/alerts.js"),
    ),
    (
        "approvals.js",
        JAVASCRIPT,
        include_str!("../../assets/dashboard/approvals.js"),
    ),
    (
        "trends.js",
        JAVASCRIPT,
        include_str!("../../assets/dashboard/trends.js"),
    ),
    (
        "settings.js",
        JAVASCRIPT,
        include_str!("../../assets/dashboard/settings.js"),
    ),
    (
        "profile.js",
        JAVASCRIPT,
        include_str!("../../assets/dashboard/profile.js"),
    ),
    (
        "paging.js",
        JAVASCRIPT,
        include_str!("../../assets/dashboard/paging.js"),
    ),
    (
        "windows.js",
        JAVASCRIPT,
        include_str!("../../assets/dashboard/windows.js"),
    ),
    (
        "heartbeats.js",
        JAVASCRIPT,
        include_str!("../../assets/dashboard/heartbeats.js"),
    ),
];

/// Scripts and styles only from this origin; no inline script; connections
/// only to this origin (the API and the stream).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The dashboard page.
#[utoipa::path(
    get,
    path = "/",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "The built-in dashboard", content_type = "text/html", body = String)
    )
)]
pub async fn page() -> Response {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
            (
                HeaderName::from_static("content-security-policy"),
                CONTENT_SECURITY_POLICY,
            ),
            (HeaderName::from_static("referrer-policy"), "no-referrer"),
        ],
        INDEX_HTML,
    )
        .into_response()
}

/// `GET /dashboard/{asset}`: the page's scripts and style sheet.
#[utoipa::path(
    get,
    path = "/dashboard/{asset}",
    tag = "operations",
    security(()),
    params(("asset" = String, Path, description = "`app.css`, `app.js` or one of the modules it imports (`core.js`, `incidents.js`, `alerts.js`, `approvals.js`, `trends.js`, `settings.js`, `profile.js`, and the settings sections `paging.js`, `windows.js`, `heartbeats.js`)")),
    responses(
        (status = 200, description = "The asset", content((String = "text/javascript"), (String = "text/css"))),
        (status = 404, response = crate::openapi::responses::NotFound)
    )
)]
pub async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(asset, _, _)| *asset == name) else {
        return Err(ApiError::not_found("asset_not_found", "no such asset"));
    };
    Ok((
        [(CONTENT_TYPE, *content_type), (CACHE_CONTROL, "no-cache")],
        *body,
    )
        .into_response())
}
