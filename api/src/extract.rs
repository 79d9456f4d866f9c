//! Request body extraction with API.md's error statuses: 415 not JSON, 400
//! malformed JSON or a missing field (named), 422 a value of the wrong type
//! or text holding the NUL character (named), 413 too large.
//!
//! Every command and configuration body goes through [`ApiJson`] or
//! [`optional_json`], so the NUL check lives here once: PostgreSQL refuses
//! `\u0000` in `text` and `jsonb`, so such a value would otherwise fail
//! deep in a write as a 500 (or, in an event, stop a read model).

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// A JSON body of type `T`, rejected with the error body when unusable.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(request.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected Content-Type: application/json",
            ));
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "the body is too large",
                    )
                } else {
                    ApiError::bad_request("unreadable_body", rejection.body_text())
                }
            })?;
        refuse_nul(&body)?;
        match axum::Json::<T>::from_bytes(&body) {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(body_error(&rejection)),
        }
    }
}

/// `application/json` or `application/<anything>+json`, as axum's `Json`
/// accepts.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// 422 naming the field when any string (or object key) of the JSON body
/// holds U+0000. Raw JSON can only spell it `\u0000`, so bodies without that
/// sequence (all but a few) are not parsed twice.
pub fn refuse_nul(body: &[u8]) -> Result<(), ApiError> {
    if !may_hold_nul(body) {
        return Ok(());
    }
    // Malformed JSON is reported by the typed parse that follows.
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Ok(());
    };
    refuse_nul_in(&value, "")
}

/// Whether raw JSON text can hold U+0000 at all: JSON spells it only as the
/// escape `\u0000`. A byte scan, so callers that already parsed the body
/// walk it only when this says yes.
pub fn may_hold_nul(json_text: &[u8]) -> bool {
    const ESCAPE: &[u8] = b"\\u0000";
    json_text
        .windows(ESCAPE.len())
        .any(|window| window == ESCAPE)
}

/// 422 naming the first field (its path below `path`) of `value` whose key
/// or text holds U+0000. PostgreSQL cannot store it in text or JSON.
pub fn refuse_nul_in(value: &Value, path: &str) -> Result<(), ApiError> {
    match nul_path(value, path) {
        Some(field) => {
            let name = if field.is_empty() { "body" } else { &field };
            Err(ApiError::invalid_value(
                name,
                format!("`{name}` must not contain the NUL character (\\u0000)"),
            ))
        }
        None => Ok(()),
    }
}

/// The path (`labels.env`, `commands[2]`) of the first string holding NUL.
fn nul_path(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\0') => Some(path.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| nul_path(item, &format!("{path}[{index}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let here = if path.is_empty() {
                key.escape_debug().to_string()
            } else {
                format!("{path}.{}", key.escape_debug())
            };
            if key.contains('\0') {
                return Some(here);
            }
            nul_path(item, &here)
        }),
        _ => None,
    }
}

/// An optional JSON body: empty means `T::default()`.
pub fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    refuse_nul(body)?;
    serde_json::from_slice(body).map_err(|error| match error.classify() {
        serde_json::error::Category::Data if error.to_string().contains("missing field") => {
            ApiError::bad_request("missing_field", error.to_string())
        }
        serde_json::error::Category::Data => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            error.to_string(),
        ),
        _ => ApiError::bad_request(
            "malformed_json",
            format!("the body is not valid JSON: {error}"),
        ),
    })
}

fn body_error(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(error) => ApiError::bad_request(
            "malformed_json",
            format!("the body is not valid JSON: {}", source_text(error)),
        ),
        JsonRejection::JsonDataError(error) => {
            let problem = source_text(error);
            if problem.contains("missing field") {
                ApiError::bad_request("missing_field", problem)
            } else {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", problem)
            }
        }
        JsonRejection::BytesRejection(bytes) if bytes.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the body is too large",
            )
        }
        other => ApiError::bad_request("unreadable_body", other.body_text()),
    }
}

/// The innermost cause (serde's sentence, which names the field), not axum's
/// generic prefix.
fn source_text(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// A query string of type `T`, rejected with the error body (400
/// `invalid_query`) when it cannot be read, e.g. a repeated parameter; axum's
/// own rejection would answer in plain text.
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        // PostgreSQL refuses U+0000 in text parameters: a filter holding it
        // is the caller's error, named, never a 500. A URI can spell it only
        // as `%00`.
        if let Some(pair) = parts
            .uri
            .query()
            .and_then(|query| query.split('&').find(|pair| pair.contains("%00")))
        {
            let name = pair.split('=').next().unwrap_or_default();
            let name = if name.is_empty() || name.contains("%00") {
                "query"
            } else {
                name
            };
            // 400 like every unreadable query string (documented on each
            // route that takes one), naming the parameter.
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("the query parameter `{name}` must not contain the NUL character (%00)"),
            ));
        }
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::bad_request(
                "invalid_query",
                format!("the query string cannot be read: {}", rejection.body_text()),
            )),
        }
    }
}
