//! Request body extraction with API.md's error statuses: 415 not JSON, 400
//! malformed JSON or a missing field (named), 422 a value of the wrong type,
//! 413 too large.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

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
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(body_error(&rejection)),
        }
    }
}

/// An optional JSON body: empty means `T::default()`.
pub fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
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
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::bad_request(
                "invalid_query",
                format!("the query string cannot be read: {}", rejection.body_text()),
            )),
        }
    }
}
