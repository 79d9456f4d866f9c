//! The curl examples in docs/webhook-signing.md, run as written against a live
//! server that checks signatures with `verify_signature`: the documented
//! commands must produce requests that pass, and fail with another secret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};
use std::sync::Arc;

use alertledger_api::auth::signing::{generate_webhook_secret, verify_signature, SecretBytes};
use alertledger_api::error::ApiError;
use alertledger_domain::values::WebhookSecretId;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

const API_KEY: &str = "alk_docs_example";
const TOOLS: [&str; 6] = ["bash", "curl", "openssl", "xxd", "base64", "awk"];

type Secrets = Arc<Vec<(WebhookSecretId, SecretBytes)>>;

async fn receive(
    State(secrets): State<Secrets>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
        return Err(ApiError::unauthorized("wrong API key"));
    }
    let now = chrono::Utc::now().timestamp();
    let verified = verify_signature(&headers, &body, &secrets, now)?;
    let _: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("malformed_json", "not JSON"))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "scheme": verified.scheme.as_str() })),
    ))
}

/// Serves the webhook route on a port of its own; returns its base URL.
async fn serve(secrets: Secrets) -> String {
    let router = Router::new()
        .route("/api/v1/webhooks/{source}", post(receive))
        .with_state(secrets);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// The first ```sh block after the `tested by …: {name}` marker.
fn documented_block(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/webhook-signing.md");
    let doc = std::fs::read_to_string(path).expect("read docs/webhook-signing.md");
    let marker = format!("<!-- tested by api/tests/webhook_signing_docs.rs: {name} -->");
    let after_marker = &doc[doc.find(&marker).expect("marker in the doc") + marker.len()..];
    let block = &after_marker[after_marker.find("```sh\n").expect("a sh block") + 6..];
    block[..block.find("```").expect("closing fence")].to_owned()
}

fn missing_tools() -> Vec<&'static str> {
    TOOLS
        .into_iter()
        .filter(|tool| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|out| out.status.success())
        })
        .collect()
}

async fn run_documented(name: &str, url: &str, secret: &str) -> Output {
    let script = documented_block(name);
    let (url, secret) = (url.to_owned(), secret.to_owned());
    tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .env("URL", url)
            .env("API_KEY", API_KEY)
            .env("SECRET", secret)
            .output()
            .expect("run bash")
    })
    .await
    .unwrap()
}

async fn documented_example_passes_with_its_secret_and_fails_with_another(
    name: &str,
    scheme: &str,
) {
    let missing = missing_tools();
    if !missing.is_empty() {
        eprintln!("skipping: the documented example needs {missing:?}");
        return;
    }
    let (display, key) = generate_webhook_secret();
    let url = serve(Arc::new(vec![(WebhookSecretId::new_v7(), key)])).await;

    let accepted = run_documented(name, &url, &display).await;
    let stdout = String::from_utf8_lossy(&accepted.stdout);
    assert!(
        accepted.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    let body: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(body["scheme"], scheme);

    let (other_secret, _) = generate_webhook_secret();
    let refused = run_documented(name, &url, &other_secret).await;
    assert!(!refused.status.success());
    let body: Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(body["error"]["code"], "invalid_signature");
    assert_eq!(body["error"]["details"]["reason"], "mismatch");
}

#[tokio::test]
async fn the_documented_x_signature_curl_example_is_accepted() {
    documented_example_passes_with_its_secret_and_fails_with_another("x-signature", "x_signature")
        .await;
}

#[tokio::test]
async fn the_documented_standard_webhooks_curl_example_is_accepted() {
    documented_example_passes_with_its_secret_and_fails_with_another(
        "standard-webhooks",
        "standard_webhooks",
    )
    .await;
}
