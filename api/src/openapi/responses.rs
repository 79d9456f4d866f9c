//! The error responses routes share, each with the one error body
//! (`{"error": {"code", "message", "details"}}`, see `crate::error`).
//!
//! A path annotation names them as `(status = 404, response = NotFound)`;
//! they are listed once in the document's `components.responses`.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};
use utoipa::ToResponse;

/// An error response whose body is the `ErrorBody` schema.
fn error_response(description: &str, example_code: &str, example_message: &str) -> Response {
    let example = serde_json::json!({
        "error": { "code": example_code, "message": example_message, "details": {} }
    });
    let mut content = Content::new(Some(Ref::from_schema_name("ErrorBody")));
    content.example = Some(example);
    ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build()
}

macro_rules! error_responses {
    ($($name:ident => ($description:literal, $code:literal, $message:literal);)*) => {
        $(
            #[doc = $description]
            pub struct $name;

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), error_response($description, $code, $message).into())
                }
            }
        )*
    };
}

error_responses! {
    BadRequest => ("The request could not be read: malformed JSON, a missing field (named in `details.field`), or a cursor this service did not hand out.", "missing_field", "missing field `name`");
    Unauthorized => ("No credentials, or credentials that are not valid (expired, wrong issuer or audience, unknown API key).", "unauthorized", "a bearer token is required");
    Forbidden => ("Authenticated, but the role may not do this.", "forbidden", "this action needs the tenant_admin role");
    NotFound => ("Unknown id, or an id of a tenant the caller may not read (its existence is never revealed).", "incident_not_found", "no such incident");
    Conflict => ("The resource's state forbids this (already acknowledged, retired, expired, not yet sealed...); `code` says which rule.", "already_acknowledged", "the incident is already acknowledged");
    PayloadTooLarge => ("The body is over the limit (1 MiB).", "payload_too_large", "the body is larger than 1048576 bytes");
    UnsupportedMediaType => ("The body is not `application/json`.", "unsupported_media_type", "expected Content-Type: application/json");
    Unprocessable => ("Valid JSON or query, but a value is invalid; `details.field` names it.", "invalid_value", "invalid `severity`: must be one of critical, high, medium, low");
    Unavailable => ("A dependency (the database, SSM) is unavailable, or migrations are not applied.", "unavailable", "the database is unavailable; try again shortly");
}

/// 429 with `Retry-After`.
pub struct TooManyRequests;

impl<'r> ToResponse<'r> for TooManyRequests {
    fn response() -> (&'r str, RefOr<Response>) {
        let mut response = error_response(
            "The tenant's rate limit is exhausted, or (any route) the client's address failed to \
             authenticate too often (`details.limit` is `auth_failures`); retry after `Retry-After` \
             seconds.",
            "rate_limited",
            "rate limit exceeded; retry in 2 s",
        );
        response.headers.insert(
            "Retry-After".to_owned(),
            HeaderBuilder::new()
                .schema(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::Integer),
                )
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
        ("TooManyRequests", response.into())
    }
}

/// An error response of the PagerDuty routes (`PagerDutyErrorBody`).
fn pagerduty_error(description: &str, status: &str, code: &str, message: &str) -> Response {
    let example = serde_json::json!({
        "status": status,
        "message": if status == "invalid event" { "Event object is invalid" } else { message },
        "errors": [message],
        "error": { "code": code, "message": message, "details": {} }
    });
    let mut content = Content::new(Some(Ref::from_schema_name("PagerDutyErrorBody")));
    content.example = Some(example);
    ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build()
}

macro_rules! pagerduty_error_responses {
    ($($name:ident => ($description:literal, $status:literal, $code:literal, $message:literal);)*) => {
        $(
            #[doc = $description]
            pub struct $name;

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), pagerduty_error($description, $status, $code, $message).into())
                }
            }
        )*
    };
}

pagerduty_error_responses! {
    PagerDutyBadRequest => ("An invalid event, as PagerDuty answers it: malformed JSON, a missing field, or an invalid value (`errors` and `error.details.field` name it). PagerDuty answers every invalid event 400, so this dialect has no 422.", "invalid event", "missing_field", "missing field `payload.summary`");
    PagerDutyUnauthorized => ("No API key (header or `routing_key`), or an unknown or revoked one; or a bad signature.", "unauthorized", "unauthorized", "the API key is unknown or revoked");
    PagerDutyConflict => ("The delivery conflicts with one stored before.", "conflict", "conflict", "the delivery conflicts with a stored one");
    PagerDutyPayloadTooLarge => ("The body is over the webhook limit (1 MiB).", "invalid event", "payload_too_large", "the body exceeds 1048576 bytes");
    PagerDutyUnsupportedMediaType => ("The body is not `application/json`.", "invalid event", "unsupported_media_type", "expected Content-Type: application/json");
    PagerDutyUnavailable => ("The database is unavailable; PagerDuty's clients retry.", "unavailable", "unavailable", "the database is unavailable; try again shortly");
}
