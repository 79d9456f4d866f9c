//! Issue 16, tokens: a JWT is not valid before its `nbf`; with
//! `ALERTLEDGER_JWT_MAX_LIFETIME` set, a token that lives longer (or claims
//! to be issued in the future) is refused; with `ALERTLEDGER_METRICS_TOKEN`
//! set, `/metrics` answers only to that bearer token. Run against the real
//! binary, configured as an operator would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use alertledger_schema::TestDatabase;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;
use support::process::ServiceProcess;

const SECRET: &str = "tokens-test-secret-of-at-least-32-bytes";

/// An HS256 token for an MSP admin with these time claims (relative to now).
fn token(iat: i64, exp: i64, nbf: Option<i64>) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "sub": "u-1", "name": "Ada", "role": "msp_admin", "tenants": [],
        "iat": now + iat, "exp": now + exp,
        "iss": "alertledger", "aud": "alertledger",
    });
    if let Some(nbf) = nbf {
        claims["nbf"] = json!(now + nbf);
    }
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

async fn status(client: &reqwest::Client, service: &ServiceProcess, token: &str) -> u16 {
    client
        .get(service.url("/api/v1/tenants"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn nbf_and_the_maximum_lifetime_are_enforced_and_metrics_need_their_token() {
    let db = TestDatabase::create().await;
    let service = ServiceProcess::serve(
        db.url(),
        &[
            ("ALERTLEDGER_JWT_SECRET", SECRET),
            ("ALERTLEDGER_JWT_MAX_LIFETIME", "1h"),
            ("ALERTLEDGER_METRICS_TOKEN", "scrape-me"),
        ],
    );
    let client = reqwest::Client::new();

    // A token within the rules works.
    assert_eq!(status(&client, &service, &token(0, 600, None)).await, 200);
    assert_eq!(
        status(&client, &service, &token(0, 600, Some(-10))).await,
        200
    );
    // Not before its nbf (beyond the 30 s leeway).
    assert_eq!(
        status(&client, &service, &token(0, 600, Some(300))).await,
        401
    );
    // Longer than the configured maximum lifetime.
    assert_eq!(
        status(&client, &service, &token(0, 3_601 + 60, None)).await,
        401
    );
    assert_eq!(status(&client, &service, &token(0, 3_600, None)).await, 200);
    // Issued "in the future" to stretch the window.
    assert_eq!(
        status(&client, &service, &token(86_400, 86_400 + 600, None)).await,
        401
    );

    // /metrics: 401 without or with a wrong token, 200 with it.
    let metrics = |bearer: Option<&str>| {
        let mut request = client.get(service.url("/metrics"));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send()
    };
    assert_eq!(metrics(None).await.unwrap().status(), 401);
    assert_eq!(metrics(Some("scrape-m")).await.unwrap().status(), 401);
    let scraped = metrics(Some("scrape-me")).await.unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.unwrap().contains("alertledger_"));
}

#[tokio::test]
async fn without_a_maximum_lifetime_long_tokens_still_work_and_metrics_are_open() {
    let db = TestDatabase::create().await;
    let service = ServiceProcess::serve(db.url(), &[("ALERTLEDGER_JWT_SECRET", SECRET)]);
    let client = reqwest::Client::new();
    assert_eq!(
        status(&client, &service, &token(0, 30 * 86_400, None)).await,
        200
    );
    // nbf is checked whatever the configuration.
    assert_eq!(
        status(&client, &service, &token(0, 600, Some(300))).await,
        401
    );
    let response = client.get(service.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}
