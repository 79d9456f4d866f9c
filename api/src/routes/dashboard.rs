//! `GET /`: the built-in dashboard, one page with its script and style.
//!
//! The assets live in `api/assets/dashboard/` and are compiled into the
//! binary, so the dashboard needs no build step and no files at run time. The
//! page holds no data: the browser signs in with a pasted token, reads the
//! REST API and follows `GET /api/v1/stream`.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderName;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

const INDEX_HTML: &str = include_str!("../../assets/dashboard/index.html");
const APP_JS: &str = include_str!("../../assets/dashboard/app.js");
const APP_CSS: &str = include_str!("../../assets/dashboard/app.css");

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

/// `GET /dashboard/{asset}`: the page's script and style sheet.
#[utoipa::path(
    get,
    path = "/dashboard/{asset}",
    tag = "operations",
    security(()),
    params(("asset" = String, Path, description = "`app.js` or `app.css`")),
    responses(
        (status = 200, description = "The asset", content((String = "text/javascript"), (String = "text/css"))),
        (status = 404, response = crate::openapi::responses::NotFound)
    )
)]
pub async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (content_type, body) = match name.as_str() {
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "app.css" => ("text/css; charset=utf-8", APP_CSS),
        _ => return Err(ApiError::not_found("asset_not_found", "no such asset")),
    };
    Ok((
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response())
}
