//! What can go wrong talking to the API, as one sentence for a person and an
//! exit code for a script (the table is in docs/cli.md; keep them in step).

use reqwest::StatusCode;
use serde_json::Value;

/// Exit codes of the operator commands (docs/cli.md).
pub mod exit {
    /// Unexpected: a server error (5xx other than 503), an answer that is not
    /// what API.md promises, a redirect elsewhere.
    pub const UNEXPECTED: u8 = 1;
    /// Usage: bad flags or arguments (clap uses 2 too).
    pub const USAGE: u8 = 2;
    /// 401 or 403: no, a bad or an expired token, or not allowed.
    pub const UNAUTHORIZED: u8 = 3;
    /// 404: no such id (or another tenant's).
    pub const NOT_FOUND: u8 = 4;
    /// 400, 409, 413, 415, 422: the request was refused as it stands
    /// (invalid value, or a state conflict such as resolving twice).
    pub const REFUSED: u8 = 5;
    /// The server could not be reached, timed out, is not ready (503) or
    /// rate limited (429): trying again later may work.
    pub const UNAVAILABLE: u8 = 6;
}

/// A failed operator command.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The command line is wrong in a way clap cannot see (e.g. `--url`).
    #[error("{0}")]
    Usage(String),
    /// The server could not be reached or did not answer in time.
    #[error("{0}")]
    Unreachable(String),
    /// The server answered with an error body (API.md).
    #[error("{}", api_sentence(*status, code, message, request_id.as_deref()))]
    Api {
        status: StatusCode,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    /// Anything else: an answer we cannot use.
    #[error("{0}")]
    Unexpected(String),
}

impl ClientError {
    /// The exit status for this error (docs/cli.md).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => exit::USAGE,
            Self::Unreachable(_) => exit::UNAVAILABLE,
            Self::Unexpected(_) => exit::UNEXPECTED,
            Self::Api { status, .. } => match *status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => exit::UNAUTHORIZED,
                StatusCode::NOT_FOUND => exit::NOT_FOUND,
                StatusCode::BAD_REQUEST
                | StatusCode::CONFLICT
                | StatusCode::PAYLOAD_TOO_LARGE
                | StatusCode::UNSUPPORTED_MEDIA_TYPE
                | StatusCode::UNPROCESSABLE_ENTITY => exit::REFUSED,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                    exit::UNAVAILABLE
                }
                _ => exit::UNEXPECTED,
            },
        }
    }

    /// A transport failure (connect, timeout, broken body).
    pub fn from_transport(error: reqwest::Error) -> Self {
        let what = if error.is_timeout() {
            "the server did not answer in time"
        } else if error.is_connect() {
            "cannot connect to the server"
        } else {
            "the connection to the server failed"
        };
        let url = error
            .url()
            .map(|url| format!(" at {}", url.origin().ascii_serialization()))
            .unwrap_or_default();
        Self::Unreachable(format!("{what}{url} ({})", root_cause(&error)))
    }

    /// A non-2xx answer: API.md's error body when it has one.
    pub fn from_answer(status: StatusCode, request_id: Option<String>, body: &[u8]) -> Self {
        if status.is_redirection() {
            return Self::Unexpected(format!(
                "the server answered {status}, a redirect to another origin: not followed \
                 (the token is only sent to --url's host); check --url"
            ));
        }
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let error = parsed.as_ref().and_then(|body| body.get("error"));
        let text = |key: &str| {
            error
                .and_then(|error| error.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match (text("code"), text("message")) {
            (Some(code), Some(message)) => Self::Api {
                status,
                code,
                message,
                request_id,
            },
            _ => Self::Api {
                status,
                code: status
                    .canonical_reason()
                    .unwrap_or("error")
                    .to_ascii_lowercase()
                    .replace(' ', "_"),
                message: format!("the server answered {status} without an error body"),
                request_id,
            },
        }
    }
}

/// "incident 42 not found (not_found, request req-…)": the server's message,
/// which already names the field or the rule, then what a support person
/// needs to find the request in the logs.
fn api_sentence(status: StatusCode, code: &str, message: &str, request_id: Option<&str>) -> String {
    let message = message.trim_end_matches('.');
    match request_id {
        Some(id) => format!("{message} ({code}, HTTP {}, request {id})", status.as_u16()),
        None => format!("{message} ({code}, HTTP {})", status.as_u16()),
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut source = error;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_becomes_one_sentence_with_its_code_and_request() {
        let body =
            br#"{"error":{"code":"not_found","message":"incident 42 not found","details":{}}}"#;
        let error = ClientError::from_answer(StatusCode::NOT_FOUND, Some("req-1".into()), body);
        assert_eq!(
            error.to_string(),
            "incident 42 not found (not_found, HTTP 404, request req-1)"
        );
        assert_eq!(error.exit_code(), exit::NOT_FOUND);
    }

    #[test]
    fn statuses_map_to_the_documented_exit_codes() {
        let code = |status| ClientError::from_answer(status, None, b"").exit_code();
        assert_eq!(code(StatusCode::UNAUTHORIZED), 3);
        assert_eq!(code(StatusCode::FORBIDDEN), 3);
        assert_eq!(code(StatusCode::NOT_FOUND), 4);
        assert_eq!(code(StatusCode::CONFLICT), 5);
        assert_eq!(code(StatusCode::UNPROCESSABLE_ENTITY), 5);
        assert_eq!(code(StatusCode::SERVICE_UNAVAILABLE), 6);
        assert_eq!(code(StatusCode::INTERNAL_SERVER_ERROR), 1);
        assert_eq!(code(StatusCode::FOUND), 1);
    }
}
