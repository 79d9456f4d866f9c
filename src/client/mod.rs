//! The operator CLI's HTTP client: the one way `incidents`, `alerts`,
//! `approvals`, `runbooks` and `events tail` reach a running alertledger.
//! These commands never open the database; everything goes through the
//! public API (API.md), as `amtool` or Alerta's `alerta` do.
//!
//! - [`ApiClient`] — JSON requests with timeouts, the bearer token, and no
//!   redirect to another origin (a token must never follow one).
//! - [`error`] — API.md's error body as one sentence, and the exit codes
//!   scripts rely on (docs/cli.md).
//! - [`table`] — aligned columns for `--output table`.
//! - [`sse`] — the Server-Sent Events reader behind `events tail`, which
//!   resumes after a disconnect.

pub mod error;
pub mod output;
pub mod sse;
pub mod table;

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub use error::ClientError;

use crate::cli::{ClientArgs, OutputFormat};

/// How long one request may take, start to end (not `events tail`'s stream).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one alertledger's API, as one caller.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: reqwest::Url,
    http: reqwest::Client,
    /// For the stream: no overall timeout (it is meant to stay open).
    streaming: reqwest::Client,
    pub output: OutputFormat,
}

impl ApiClient {
    /// A client for `--url` with `--token`.
    pub fn new(args: &ClientArgs) -> Result<Self, ClientError> {
        let mut base = reqwest::Url::parse(args.url.trim()).map_err(|error| {
            ClientError::Usage(format!("--url {:?} is not a URL: {error}", args.url))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(ClientError::Usage(format!(
                "--url {:?} must be an http:// or https:// address",
                args.url
            )));
        }
        // `join` keeps a base path (e.g. behind a proxy at /alertledger/).
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(token) = args
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                ClientError::Usage("--token holds characters a header cannot carry".to_owned())
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let ca = match &args.ca_cert {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|error| {
                    ClientError::Usage(format!("cannot read --ca-cert {}: {error}", path.display()))
                })?;
                Some(reqwest::Certificate::from_pem(&pem).map_err(|error| {
                    ClientError::Usage(format!(
                        "--ca-cert {} is not a PEM certificate: {error}",
                        path.display()
                    ))
                })?)
            }
            None => None,
        };
        // reqwest is built without a TLS provider of its own: it uses the
        // aws-lc-rs one the service already links (installed once here).
        let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
        let build = |timeout: Option<Duration>| {
            let mut builder = reqwest::Client::builder()
                .default_headers(headers.clone())
                .connect_timeout(CONNECT_TIMEOUT)
                .redirect(same_origin_redirects())
                .user_agent(concat!("alertledger-cli/", env!("CARGO_PKG_VERSION")));
            if let Some(timeout) = timeout {
                builder = builder.timeout(timeout);
            }
            if let Some(ca) = &ca {
                builder = builder.add_root_certificate(ca.clone());
            }
            builder.build().map_err(|error| {
                ClientError::Unexpected(format!("cannot build the HTTP client: {error}"))
            })
        };
        Ok(Self {
            base,
            http: build(Some(REQUEST_TIMEOUT))?,
            streaming: build(None)?,
            output: args.output,
        })
    }

    /// The absolute URL of an API path such as `api/v1/incidents`.
    pub fn url(&self, path: &str) -> Result<reqwest::Url, ClientError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|error| ClientError::Usage(format!("cannot form a URL for {path}: {error}")))
    }

    /// `GET path?query`: the JSON body of a 2xx answer.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ClientError> {
        self.send(Method::GET, path, query, None).await
    }

    /// `POST path` with a JSON body: the JSON body of a 2xx answer.
    pub async fn post(&self, path: &str, body: Value) -> Result<Value, ClientError> {
        self.send(Method::POST, path, &[], Some(body)).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let mut request = self.http.request(method, self.url(path)?).query(query);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(ClientError::from_transport)?;
        let status = response.status();
        let request_id = request_id(response.headers());
        let bytes = response
            .bytes()
            .await
            .map_err(ClientError::from_transport)?;
        if status.is_success() {
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes).map_err(|error| {
                ClientError::Unexpected(format!(
                    "the server answered {status} with a body that is not JSON: {error}"
                ))
            });
        }
        Err(ClientError::from_answer(status, request_id, &bytes))
    }

    /// Opens `GET path` as a stream (`events tail`): the response of a 2xx,
    /// else the error of the answer.
    pub async fn open_stream(
        &self,
        path: &str,
        query: &[(&str, String)],
        headers: HeaderMap,
    ) -> Result<reqwest::Response, ClientError> {
        let response = self
            .streaming
            .get(self.url(path)?)
            .query(query)
            .headers(headers)
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(ClientError::from_transport)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let request_id = request_id(response.headers());
        let bytes = response.bytes().await.unwrap_or_default();
        Err(ClientError::from_answer(status, request_id, &bytes))
    }
}

/// Follows a redirect only within the origin it was sent to: the bearer
/// token must never be handed to another host (STYLE.md, habit 14).
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else if same {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Whether a status means "come back later" rather than "this is wrong".
pub fn is_transient(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}
