//! CORS for a frontend served from another origin: the allowed origins
//! (`ALERTLEDGER_CORS_ORIGINS`), tower-http's `CorsLayer` answering
//! preflights, and the headers the API and its event stream need.

use std::str::FromStr;
use std::time::Duration;

use axum::extract::Request;
use axum::http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The origins allowed to call the API from a browser; empty means CORS is
/// off (browsers then refuse cross-origin calls, as they do by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsOrigins(Vec<HeaderValue>);

impl CorsOrigins {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The layer answering preflights and marking allowed responses, or
    /// `None` when no origin is allowed.
    pub fn layer(&self) -> Option<CorsLayer> {
        if self.0.is_empty() {
            return None;
        }
        Some(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(self.0.clone()))
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                // Bearer tokens, JSON bodies, and the SSE resume header
                // (a polyfilled EventSource sends it on reconnect).
                .allow_headers([
                    AUTHORIZATION,
                    CONTENT_TYPE,
                    HeaderName::from_static("last-event-id"),
                    HeaderName::from_static("x-request-id"),
                    HeaderName::from_static("x-api-key"),
                ])
                .expose_headers([HeaderName::from_static("x-request-id")])
                .max_age(PREFLIGHT_MAX_AGE),
        )
    }
}

/// Middleware around the CORS layer: a refused origin gets no CORS header
/// at all. (tower-http still lists the allowed methods and headers in a
/// refused preflight; harmless, as browsers need the origin header, but it
/// tells a stranger what the API accepts.)
pub async fn strip_when_refused(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if !response.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN) {
        let cors: Vec<HeaderName> = response
            .headers()
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in cors {
            response.headers_mut().remove(name);
        }
    }
    response
}

impl FromStr for CorsOrigins {
    type Err = String;

    /// A comma-separated list of origins such as `https://ops.example.com`.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let mut origins = Vec::new();
        for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            // Browsers send the origin without a trailing slash.
            let origin = origin.strip_suffix('/').unwrap_or(origin);
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .ok_or_else(|| {
                    format!("CORS origin {origin:?} must start with https:// or http://")
                })?;
            if rest.is_empty() || rest.contains(['/', '?', '#', '*']) {
                return Err(format!(
                    "CORS origin {origin:?} must be scheme://host[:port], without a path or wildcard"
                ));
            }
            let value = HeaderValue::from_str(&origin.to_ascii_lowercase())
                .map_err(|_| format!("CORS origin {origin:?} is not a valid header value"))?;
            origins.push(value);
        }
        Ok(Self(origins))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_from_a_comma_list() {
        let origins: CorsOrigins = "https://ops.example.com, http://localhost:5173/"
            .parse()
            .unwrap();
        assert_eq!(
            origins.0,
            [
                HeaderValue::from_static("https://ops.example.com"),
                HeaderValue::from_static("http://localhost:5173")
            ]
        );
        assert!("".parse::<CorsOrigins>().unwrap().is_empty());
        assert!("ops.example.com".parse::<CorsOrigins>().is_err());
        assert!("https://ops.example.com/app"
            .parse::<CorsOrigins>()
            .is_err());
        assert!("https://*.example.com".parse::<CorsOrigins>().is_err());
    }
}
