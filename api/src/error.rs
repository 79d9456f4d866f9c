//! The one error type of every handler, rendered as API.md's error body:
//! `{"error": {"code", "message", "details"}}`. 5xx bodies say nothing internal;
//! the log gets the full cause.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error a handler returns.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: serde_json::Value,
    /// Seconds for a `Retry-After` header (429).
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: json!({}),
            retry_after: None,
        }
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after: std::time::Duration) -> Self {
        // Round up: retrying before the bucket refills would only fail again.
        let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("rate limit exceeded; retry in {seconds} s"),
        )
        .with_details(json!({ "retry_after_seconds": seconds }));
        error.retry_after = Some(seconds);
        error
    }

    /// 429 with `Retry-After` for a limit other than the rate: `code` names
    /// it, `details` say more (`retry_after_seconds` is added).
    pub fn too_many(
        code: &'static str,
        message: impl Into<String>,
        details: serde_json::Value,
        retry_after: std::time::Duration,
    ) -> Self {
        let seconds = (retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)).max(1);
        let mut details = details;
        if let Some(object) = details.as_object_mut() {
            object.insert("retry_after_seconds".to_owned(), json!(seconds));
        }
        let mut error =
            Self::new(StatusCode::TOO_MANY_REQUESTS, code, message).with_details(details);
        error.retry_after = Some(seconds);
        error
    }

    /// 429 with `Retry-After` for a limit other than the tenant's rate limit:
    /// `message` says what was exceeded, `details.limit` names the limit.
    pub fn limit_exceeded(
        limit: &'static str,
        message: &str,
        retry_after: std::time::Duration,
    ) -> Self {
        let mut error = Self::rate_limited(retry_after);
        let seconds = error.retry_after.unwrap_or(1);
        error.message = format!("{message}; retry in {seconds} s");
        error.details = json!({ "limit": limit, "retry_after_seconds": seconds });
        error
    }

    /// Adds machine-readable details (e.g. the offending field).
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// 400: the request could not be read (malformed JSON, missing field).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no or bad credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: unknown, or belonging to a tenant the caller may not see.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 422: well-formed, but a value is invalid; `field` names it.
    pub fn invalid_value(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", message)
            .with_details(json!({ "field": field }))
    }

    /// 503: a dependency (the database) is unavailable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 500, logging `cause` in full and telling the caller nothing about it.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        // Causes can quote request data (a refused value): escaped.
        let text = cause.to_string();
        tracing::error!(error = %crate::log_safe::LogSafe(&text), cause = ?cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side; it has been logged",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code of the error body.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human message of the error body.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The field the error names (`details.field`), if it names one.
    pub fn field(&self) -> Option<&str> {
        self.details.get("field").and_then(|field| field.as_str())
    }
}

impl ApiError {
    /// A database failure: 503 when the database is unreachable, else 500.
    pub fn database(error: &sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::error!(%error, "database unavailable");
                Self::unavailable("the database is unavailable; try again shortly")
            }
            other => Self::internal(other),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::database(&error)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// The same error answered with another status (a tool's dialect that
    /// answers every invalid event alike, e.g. PagerDuty's 400).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The response with fields of a tool's own error dialect beside API.md's
    /// `error` object (which stays, so our own clients read it unchanged).
    pub fn into_response_with(
        self,
        dialect: impl FnOnce(&Self) -> serde_json::Map<String, serde_json::Value>,
    ) -> Response {
        let mut body = dialect(&self);
        body.insert(
            "error".to_owned(),
            json!({ "code": self.code, "message": self.message, "details": self.details }),
        );
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_with(|_| serde_json::Map::new())
    }
}

/// Fallback for unknown routes, so even a 404 has the error body.
pub async fn route_not_found() -> ApiError {
    ApiError::not_found("route_not_found", "no such route")
}

/// A 413 that an extractor answered in plain text (a body over the limit
/// read as bytes) as the error body every other error has.
pub async fn too_large_as_error_body(
    response: axum::response::Response,
) -> axum::response::Response {
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_none_or(|value| !value.starts_with("application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && plain {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the body is larger than the 1 MiB this route accepts",
        )
        .into_response();
    }
    response
}
