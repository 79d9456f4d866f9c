//! `GET /api/docs`: human-readable API documentation. A vendored Swagger UI
//! (`api/assets/api-docs/`, see its README for the version and licence)
//! renders `GET /api/v1/openapi.json`. The assets are compiled into the
//! binary: nothing is downloaded at build time or fetched from a CDN at run
//! time, and the page's content security policy allows only this origin.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderName;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

const INDEX_HTML: &str = include_str!("../../assets/api-docs/index.html");
const INIT_JS: &str = include_str!("../../assets/api-docs/init.js");
const BUNDLE_JS: &str = include_str!("../../assets/api-docs/swagger-ui-bundle.js");
const BUNDLE_CSS: &str = include_str!("../../assets/api-docs/swagger-ui.css");
const LICENSE: &str = include_str!("../../assets/api-docs/LICENSE");

/// Scripts, styles and connections only to this origin. Swagger UI sets
/// inline `style` attributes, hence `'unsafe-inline'` for styles only; its
/// icons are `data:` images.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; \
     font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The documentation page.
#[utoipa::path(
    get,
    path = "/api/docs",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The API documentation page (Swagger UI)", content_type = "text/html", body = String))
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

/// `GET /api/docs/{asset}`: the page's script, style sheet and licence.
#[utoipa::path(
    get,
    path = "/api/docs/{asset}",
    tag = "operations",
    security(()),
    params(("asset" = String, Path, description = "`swagger-ui-bundle.js`, `swagger-ui.css`, `init.js` or `LICENSE`")),
    responses(
        (status = 200, description = "The asset", content(
            (String = "text/javascript"),
            (String = "text/css"),
            (String = "text/plain")
        )),
        (status = 404, response = crate::openapi::responses::NotFound)
    )
)]
pub async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (content_type, body) = match name.as_str() {
        "swagger-ui-bundle.js" => ("text/javascript; charset=utf-8", BUNDLE_JS),
        "init.js" => ("text/javascript; charset=utf-8", INIT_JS),
        "swagger-ui.css" => ("text/css; charset=utf-8", BUNDLE_CSS),
        "LICENSE" => ("text/plain; charset=utf-8", LICENSE),
        _ => return Err(ApiError::not_found("asset_not_found", "no such asset")),
    };
    Ok((
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response())
}
