//! Failed authentications are rate limited per client address (issue 16,
//! amplification), on the real binary behind a trusted proxy: a flood of
//! 401s from one client becomes 429 with `Retry-After` and API.md's error
//! body, while another client behind the same proxy is still served; the
//! flooding client is served again once its bucket refills; `/metrics`
//! counts both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::time::{Duration, Instant};

use alertledger_api::auth::jwt::{TokenIssuer, TokenRequest, DEFAULT_AUDIENCE, DEFAULT_ISSUER};
use alertledger_domain::values::Role;
use alertledger_schema::TestDatabase;
use reqwest::StatusCode;
use serde_json::Value;
use support::process::ServiceProcess;
use support::JWT_SECRET;

const ATTACKER: &str = "198.51.100.7";
const NEIGHBOUR: &str = "198.51.100.8";
const BURST: usize = 5;

fn token(secret: &[u8], ttl: Duration) -> String {
    TokenIssuer::hs256(secret, DEFAULT_ISSUER, DEFAULT_AUDIENCE)
        .unwrap()
        .issue(&TokenRequest {
            sub: "user-admin".into(),
            name: "Admin".into(),
            role: Role::MspAdmin,
            tenants: Vec::new(),
            ttl,
        })
        .unwrap()
}

/// `GET /api/v1/alerts` as `client` (by `X-Forwarded-For` through the
/// trusted proxy, which the test's loopback address is) with `bearer`.
async fn alerts_as(service: &ServiceProcess, client: &str, bearer: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(service.url("/api/v1/alerts"))
        .header("X-Forwarded-For", client)
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
}

/// A webhook with an unknown key, as `client`.
async fn webhook_as(service: &ServiceProcess, client: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(service.url("/api/v1/webhooks/generic"))
        .header("X-Forwarded-For", client)
        .header("X-API-Key", "alk_guessed")
        .json(&serde_json::json!({"title": "x"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_flood_of_failed_authentications_from_one_client_becomes_429() {
    let db = TestDatabase::create().await;
    let burst = BURST.to_string();
    let service = ServiceProcess::serve(
        db.url(),
        &[
            (
                "ALERTLEDGER_JWT_SECRET",
                std::str::from_utf8(JWT_SECRET).unwrap(),
            ),
            ("ALERTLEDGER_TRUSTED_PROXIES", "127.0.0.1"),
            ("ALERTLEDGER_AUTH_FAILURES_PER_MINUTE", "60"),
            ("ALERTLEDGER_AUTH_FAILURE_BURST", burst.as_str()),
        ],
    );
    let valid = token(JWT_SECRET, Duration::from_secs(600));
    let forged = token(
        b"not-the-service-secret-not-the-service-secret",
        Duration::from_secs(600),
    );

    // Bad API keys, forged and garbage tokens: 401 until the burst is spent.
    let mut statuses = Vec::new();
    for n in 0..BURST {
        let response = match n % 3 {
            0 => webhook_as(&service, ATTACKER).await,
            1 => alerts_as(&service, ATTACKER, &forged).await,
            _ => alerts_as(&service, ATTACKER, "garbage").await,
        };
        statuses.push(response.status());
    }
    assert!(
        statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );

    // Then 429, with Retry-After and the error body, whatever it presents.
    let refused = webhook_as(&service, ATTACKER).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert_eq!(body["error"]["details"]["limit"], "auth_failures", "{body}");
    assert_eq!(
        alerts_as(&service, ATTACKER, &forged).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Credentials are not even looked at while the client is out of
    // failures: a valid token from it waits too.
    assert_eq!(
        alerts_as(&service, ATTACKER, &valid).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // Another client behind the same proxy is served, and has its own
    // bucket for its own mistakes.
    assert_eq!(
        alerts_as(&service, NEIGHBOUR, &valid).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        webhook_as(&service, NEIGHBOUR).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The flooding client is served again once a token refills (one per
    // second at 60 a minute).
    let refused_at = Instant::now();
    let deadline = refused_at + Duration::from_secs(10);
    loop {
        let status = alerts_as(&service, ATTACKER, &valid).await.status();
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(Instant::now() < deadline, "never served again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "served again {:?} after the last refusal",
        refused_at.elapsed()
    );

    // /metrics counts the failures and the refusals.
    let metrics = reqwest::get(service.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert!(
        value("alertledger_auth_failures_total") > BURST as u64,
        "{metrics}"
    );
    assert!(
        value("alertledger_auth_failures_refused_total") >= 3,
        "{metrics}"
    );
}
