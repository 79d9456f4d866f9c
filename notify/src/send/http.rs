//! The one outbound HTTP client of the senders: hyper-util's client over
//! hyper-rustls (rustls on aws-lc-rs, the system's roots), HTTP/1.1, a
//! timeout on every request (connection included), no redirect followed
//! (hyper follows none; a 3xx is a failed attempt), no proxy.

use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use super::{Accepted, AttemptError, ATTEMPT_TIMEOUT};

/// A shared client; cheap to clone.
#[derive(Clone)]
pub struct OutboundHttp {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for OutboundHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutboundHttp(hyper, rustls, no redirects)")
    }
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot set up TLS for outbound notifications: {0}")]
    Tls(String),
}

impl OutboundHttp {
    pub fn new() -> Result<Self, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            // One unreadable system certificate must not stop the others.
            let _ = roots.add(cert);
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(ATTEMPT_TIMEOUT / 2));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { client })
    }

    /// POSTs `body` as JSON with `headers`; a 2xx is accepted, anything else
    /// (a 3xx included: redirects are not followed) is an error.
    pub async fn post_json<T: Serialize + ?Sized>(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &T,
    ) -> Result<Accepted, AttemptError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| AttemptError::Misconfigured(format!("cannot encode the body: {e}")))?;
        self.post_bytes(url, headers, bytes).await
    }

    /// POSTs raw JSON bytes (the webhook signs exactly these).
    pub async fn post_bytes(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Accepted, AttemptError> {
        let mut request = Request::post(url)
            .header("content-type", "application/json")
            .header(
                "user-agent",
                concat!("alertledger/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| AttemptError::Misconfigured("the channel URL is not usable".to_owned()))?;
        let exchange = async {
            let response = self.client.request(request).await?;
            let code = response.status().as_u16();
            // Read (and drop) the answer so the connection can be reused.
            let _ = response.into_body().collect().await;
            Ok::<u16, hyper_util::client::legacy::Error>(code)
        };
        // Errors never quote the URL: it holds the channel's credentials.
        let code = match tokio::time::timeout(ATTEMPT_TIMEOUT, exchange).await {
            Err(_) => return Err(AttemptError::Transport("timed out".to_owned())),
            Ok(Err(error)) => return Err(AttemptError::Transport(describe(&error))),
            Ok(Ok(code)) => code,
        };
        if (200..300).contains(&code) {
            Ok(Accepted { code })
        } else {
            Err(AttemptError::Status { code })
        }
    }
}

fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let what = if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut parts = vec![what.to_owned()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.join(": ")
}
