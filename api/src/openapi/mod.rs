//! The API's OpenAPI 3.1 document, generated from the code with utoipa.
//!
//! Every route is registered through utoipa-axum's `OpenApiRouter::routes`
//! (see [`crate::routes::all`]), which takes the handler's `#[utoipa::path]`
//! annotation and the handler together: a route cannot be added to the router
//! without its path in the document. `api/tests/openapi_coverage.rs` checks
//! both directions against the built router.
//!
//! - [`ApiDoc`] — title, security schemes, shared components.
//! - [`schemas`] — the response shapes (the read-model rows live in
//!   `alertledger-projections`, which does not depend on utoipa; their shapes
//!   are described here and checked by the schemathesis run).
//! - [`responses`] — the error responses every route shares.
//! - [`document`] / [`serve`] — `GET /api/v1/openapi.json`.

pub mod responses;
pub mod schemas;

use std::sync::OnceLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Security scheme names, as the `security(...)` of the path annotations use them.
pub const BEARER_JWT: &str = "bearer_jwt";
/// A tenant API key in `Authorization: Bearer`.
pub const API_KEY_BEARER: &str = "api_key_bearer";
/// A tenant API key in `X-API-Key`.
pub const API_KEY_HEADER: &str = "api_key_header";
/// A tenant API key in `?api_key=`.
pub const API_KEY_QUERY: &str = "api_key_query";
/// A JWT in `?token=` (browsers' EventSource and WebSocket cannot set headers).
pub const TOKEN_QUERY: &str = "token_query";

/// The document's fixed parts; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "alertledger",
        description = "Event-sourced alert operations: webhook ingestion, incidents, runbooks, \
approvals, audit. Errors always have the body `{\"error\": {\"code\", \"message\", \"details\"}}`. \
Lists are `{\"items\": [...], \"next_cursor\": \"...\" | null}` with `?limit=` (1-500, default 50) \
and `?cursor=`. Every resource object carries `id` (beside its older `<kind>_id` field); \
list items and details have the same fields unless a list's description says otherwise.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&SecuritySchemes),
    components(
        schemas(
            schemas::ErrorBody,
            schemas::ErrorDetail,
            schemas::PagerDutyErrorBody,
            alertledger_notify::send::webhook::WebhookPayload,
            alertledger_notify::send::webhook::WebhookIncident
        ),
        responses(
            responses::BadRequest,
            responses::Unauthorized,
            responses::Forbidden,
            responses::NotFound,
            responses::Conflict,
            responses::PayloadTooLarge,
            responses::UnsupportedMediaType,
            responses::Unprocessable,
            responses::TooManyRequests,
            responses::Unavailable,
            responses::PagerDutyBadRequest,
            responses::PagerDutyUnauthorized,
            responses::PagerDutyConflict,
            responses::PagerDutyPayloadTooLarge,
            responses::PagerDutyUnsupportedMediaType,
            responses::PagerDutyUnavailable,
        )
    ),
    tags(
        (name = "tenants", description = "Tenants and their configuration (msp_admin, tenant_admin)"),
        (name = "webhooks", description = "Alerts from monitoring tools (tenant API key)"),
        (name = "alerts", description = "Normalized alerts"),
        (name = "incidents", description = "Incidents and their commands"),
        (name = "remediation", description = "Runbooks, approvals, executions, patch compliance"),
        (name = "analysts", description = "KPIs, audit log, raw events, audit seals"),
        (name = "users", description = "Built-in users (msp_admin, tenant_admin) and the caller's own profile"),
        (name = "auth", description = "Sign-in with a password: login, refresh, logout, invitations, password change"),
        (name = "notifications", description = "Notification channels (Slack, Teams, email, webhook, PagerDuty); the generic webhook's body is the `WebhookPayload` schema, signed with the Standard Webhooks headers (docs/notifications.md)"),
        (name = "heartbeats", description = "Heartbeats: sources that beat (tenant API key) and their state"),
        (name = "live", description = "Live feed (SSE, WebSocket)"),
        (name = "operations", description = "Health, readiness, metrics, dashboard, API docs")
    )
)]
pub struct ApiDoc;

/// Adds the security schemes (the derive cannot describe an HTTP bearer with
/// a format).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_JWT,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT for people and dashboards (claims sub, name, role, tenants). \
                         `alertledger token issue` prints one.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            API_KEY_BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A tenant API key (`alk_...`) as a bearer token."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            API_KEY_HEADER,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "A tenant API key (`alk_...`).",
            ))),
        );
        components.add_security_scheme(
            API_KEY_QUERY,
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "api_key",
                "A tenant API key, for tools that cannot set headers.",
            ))),
        );
        components.add_security_scheme(
            TOKEN_QUERY,
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "A JWT, for browsers' EventSource and WebSocket.",
            ))),
        );
    }
}

/// The whole document: [`ApiDoc`] with every route of the router.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = crate::routes::all().into_openapi();
    every_operation_may_be_rate_limited(&mut document);
    document
}

/// Any request may be answered 429 while its client address is out of
/// failed authentications (`crate::edge::auth_failures`, a layer in front
/// of every route), so every operation lists it.
fn every_operation_may_be_rate_limited(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{Ref, RefOr};
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            operation
                .responses
                .responses
                .entry("429".to_owned())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name("TooManyRequests")));
        }
    }
}

/// The document as served, rendered once.
fn rendered() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        document()
            .to_pretty_json()
            .unwrap_or_else(|error| unreachable!("the OpenAPI document serializes: {error}"))
    })
}

/// `GET /api/v1/openapi.json`: this document (no credentials needed).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    operation_id = "openapi_document",
    security(()),
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub async fn serve() -> Response {
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "no-cache"),
        ],
        rendered(),
    )
        .into_response()
}
