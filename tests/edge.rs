//! The network edge on the real binary (docs/configuration.md): CORS for a
//! frontend on another origin, and the client's address behind trusted
//! proxies as receipts and commands record it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use alertledger_api::auth::jwt::{TokenIssuer, TokenRequest, DEFAULT_AUDIENCE, DEFAULT_ISSUER};
use alertledger_domain::values::Role;
use alertledger_schema::TestDatabase;
use reqwest::header::{HeaderMap, ORIGIN};
use reqwest::Method;
use serde_json::{json, Value};
use support::process::ServiceProcess;
use support::{generic_alert, TestApp, JWT_SECRET};

const FRONTEND: &str = "https://ops.example.com";

fn admin_token() -> String {
    TokenIssuer::hs256(JWT_SECRET, DEFAULT_ISSUER, DEFAULT_AUDIENCE)
        .unwrap()
        .issue(&TokenRequest {
            sub: "user-admin".into(),
            name: "Admin".into(),
            role: Role::MspAdmin,
            tenants: Vec::new(),
            ttl: Duration::from_secs(600),
        })
        .unwrap()
}

fn service(db: &TestDatabase, env: &[(&str, &str)]) -> ServiceProcess {
    let secret = std::str::from_utf8(JWT_SECRET).unwrap();
    let mut all = vec![("ALERTLEDGER_JWT_SECRET", secret)];
    all.extend_from_slice(env);
    ServiceProcess::serve(db.url(), &all)
}

async fn preflight(url: &str, origin: &str) -> HeaderMap {
    let response = reqwest::Client::new()
        .request(Method::OPTIONS, url)
        .header(ORIGIN, origin)
        .header("Access-Control-Request-Method", "GET")
        .header(
            "Access-Control-Request-Headers",
            "authorization, last-event-id",
        )
        .send()
        .await
        .unwrap();
    response.headers().clone()
}

#[tokio::test]
async fn a_frontend_on_an_allowed_origin_may_call_the_api_and_open_the_stream() {
    let db = TestDatabase::create().await;
    let service = service(
        &db,
        &[(
            "ALERTLEDGER_CORS_ORIGINS",
            "https://ops.example.com, http://localhost:5173",
        )],
    );

    let allowed = preflight(&service.url("/api/v1/stream"), FRONTEND).await;
    assert_eq!(allowed["access-control-allow-origin"], FRONTEND);
    let headers = allowed["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in ["authorization", "last-event-id", "content-type"] {
        assert!(headers.contains(header), "{header} in {headers}");
    }
    assert!(allowed["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("GET"));

    // A refused origin gets no CORS header at all, so the browser blocks it.
    let refused = preflight(&service.url("/api/v1/stream"), "https://evil.example").await;
    assert!(
        !refused
            .keys()
            .any(|name| name.as_str().starts_with("access-control-")),
        "{refused:?}"
    );

    // The event stream itself, opened from the allowed origin.
    let stream = reqwest::Client::new()
        .get(service.url("/api/v1/stream"))
        .header(ORIGIN, FRONTEND)
        .bearer_auth(admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["access-control-allow-origin"], FRONTEND);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let app = TestApp::spawn_without_background().await;
    let headers = preflight(&app.url("/api/v1/stream"), FRONTEND).await;
    assert!(
        !headers
            .keys()
            .any(|name| name.as_str().starts_with("access-control-")),
        "{headers:?}"
    );
}

/// Creates a tenant and an API key through `service` claiming, by
/// `X-Forwarded-For`, to come from `claimed`; posts an alert the same way.
/// Returns the tenant's id.
async fn act_through_a_proxy(service: &ServiceProcess, claimed: &str) -> String {
    let client = reqwest::Client::new();
    let token = admin_token();
    let slug = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let tenant: Value = client
        .post(service.url("/api/v1/tenants"))
        .bearer_auth(&token)
        .header("X-Forwarded-For", claimed)
        .json(&json!({ "name": "Behind a proxy", "slug": slug }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();
    let key: Value = client
        .post(service.url(&format!("/api/v1/tenants/{tenant_id}/api-keys")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let posted = client
        .post(service.url("/api/v1/webhooks/generic"))
        .header("X-API-Key", key["api_key"].as_str().unwrap())
        .header("X-Forwarded-For", claimed)
        .json(&generic_alert("web01"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    tenant_id
}

/// The `source_ip` of the tenant's events of `event_type`.
async fn recorded_ips(db: &TestDatabase, tenant_id: &str, event_type: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT metadata->>'source_ip' FROM events WHERE tenant_id = $1::uuid AND event_type = $2",
    )
    .bind(tenant_id)
    .bind(event_type)
    .fetch_all(db.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    use alertledger_domain::alert::AlertEvent;
    use alertledger_domain::tenant::TenantEvent;

    let db = TestDatabase::create().await;
    // The test's requests come from 127.0.0.1: a trusted proxy here.
    let trusted = service(
        &db,
        &[("ALERTLEDGER_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1/32")],
    );
    let tenant = act_through_a_proxy(&trusted, "198.51.100.7, 10.2.3.4").await;
    assert_eq!(
        recorded_ips(&db, &tenant, AlertEvent::RECEIVED).await,
        ["198.51.100.7"]
    );
    assert_eq!(
        recorded_ips(&db, &tenant, TenantEvent::REGISTERED).await,
        ["198.51.100.7"]
    );
    drop(trusted);

    // Here 127.0.0.1 is not a proxy: whatever it claims, it is the client.
    let untrusted = service(&db, &[("ALERTLEDGER_TRUSTED_PROXIES", "10.0.0.0/8")]);
    let tenant = act_through_a_proxy(&untrusted, "198.51.100.7").await;
    assert_eq!(
        recorded_ips(&db, &tenant, AlertEvent::RECEIVED).await,
        ["127.0.0.1"]
    );
    assert_eq!(
        recorded_ips(&db, &tenant, TenantEvent::REGISTERED).await,
        ["127.0.0.1"]
    );
}
