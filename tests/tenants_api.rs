//! Tenants and configuration over HTTP: permissions, tenant isolation, API key
//! lifecycle, rate limits, and configuration changes recorded as events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use alertledger_domain::values::{Role, TenantId};
use reqwest::Method;
use serde_json::{json, Value};
use support::{generic_alert, TestApp, TestTenant};

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// Every configuration route of one tenant, with a valid body.
fn configuration_routes(tenant: TenantId) -> Vec<(Method, String, Option<Value>)> {
    let base = format!("/api/v1/tenants/{tenant}");
    vec![
        (Method::GET, base.clone(), None),
        (Method::POST, format!("{base}/api-keys"), None),
        (
            Method::DELETE,
            format!("{base}/api-keys/{}", uuid::Uuid::now_v7()),
            None,
        ),
        (
            Method::PUT,
            format!("{base}/webhook-signing"),
            Some(json!({ "required": false })),
        ),
        (
            Method::PUT,
            format!("{base}/correlation-policy"),
            Some(
                json!({ "time_window_minutes": 30, "aggregation_key": "asset|signature", "auto_correlate": true, "min_alerts": 1 }),
            ),
        ),
        (
            Method::PUT,
            format!("{base}/rate-limit"),
            Some(json!({ "requests_per_minute": 100, "burst": 10 })),
        ),
        (
            Method::PUT,
            format!("{base}/assets/web01"),
            Some(json!({ "critical": true, "instance_ids": ["i-0123456789abcdef0"] })),
        ),
        (
            Method::PUT,
            format!("{base}/aws"),
            Some(
                json!({ "role_arn": "arn:aws:iam::123456789012:role/alertledger", "region": "eu-west-1" }),
            ),
        ),
    ]
}

#[tokio::test]
async fn an_msp_admin_creates_tenants_with_unique_slugs_and_nobody_else_may() {
    let app = TestApp::spawn().await;
    let admin = app.token(Role::MspAdmin, &[]);
    let created = send(
        &app,
        Method::POST,
        "/api/v1/tenants",
        &admin,
        Some(json!({ "name": "Acme Corp", "slug": "acme" })),
    )
    .await;
    assert_eq!(created.status(), 201);
    let tenant: Value = created.json().await.unwrap();
    assert_eq!(tenant["slug"], "acme");
    assert_eq!(
        tenant["rate_limit"],
        json!({ "requests_per_minute": 600, "burst": 1000 })
    );

    let again = send(
        &app,
        Method::POST,
        "/api/v1/tenants",
        &admin,
        Some(json!({ "name": "Other", "slug": "acme" })),
    )
    .await;
    assert_eq!(again.status(), 409);
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"]["code"],
        "slug_taken"
    );

    let tenant_id: TenantId = tenant["id"].as_str().unwrap().parse().unwrap();
    for role in [Role::TenantAdmin, Role::Technician, Role::Viewer] {
        let token = app.token(role, &[tenant_id]);
        let refused = send(
            &app,
            Method::POST,
            "/api/v1/tenants",
            &token,
            Some(json!({ "name": "X", "slug": "x" })),
        )
        .await;
        assert_eq!(refused.status(), 403, "{role:?}");
    }
    let invalid = send(
        &app,
        Method::POST,
        "/api/v1/tenants",
        &admin,
        Some(json!({ "name": "Bad", "slug": "Not A Slug" })),
    )
    .await;
    assert_eq!(invalid.status(), 422);
    let missing = send(
        &app,
        Method::POST,
        "/api/v1/tenants",
        &admin,
        Some(json!({ "name": "No slug" })),
    )
    .await;
    assert_eq!(missing.status(), 400);
    assert!(missing.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("slug"));
}

#[tokio::test]
async fn configuration_is_for_tenant_and_msp_admins_and_another_tenant_is_not_found() {
    let app = TestApp::spawn().await;
    let (acme, globex) = (
        app.create_tenant("acme").await,
        app.create_tenant("globex").await,
    );

    for (method, path, body) in configuration_routes(acme.id) {
        // Another tenant's admin: as if the tenant did not exist.
        let foreign = send(
            &app,
            method.clone(),
            &path,
            &app.token(Role::TenantAdmin, &[globex.id]),
            body.clone(),
        )
        .await;
        assert_eq!(foreign.status(), 404, "{method} {path}");
        if method != Method::GET {
            for role in [Role::Viewer, Role::Technician] {
                let refused = send(
                    &app,
                    method.clone(),
                    &path,
                    &app.token(role, &[acme.id]),
                    body.clone(),
                )
                .await;
                assert_eq!(refused.status(), 403, "{role:?} {method} {path}");
            }
        }
    }
    // The tenant's own admin may do all of it (the unknown key is a 404 of its own).
    for (method, path, body) in configuration_routes(acme.id) {
        let response = send(
            &app,
            method.clone(),
            &path,
            &app.token(Role::TenantAdmin, &[acme.id]),
            body,
        )
        .await;
        let expected = if path.contains("/api-keys/") {
            404
        } else if method == Method::POST {
            201
        } else {
            200
        };
        assert_eq!(response.status(), expected, "{method} {path}");
    }
    let shown: Value = send(
        &app,
        Method::GET,
        &format!("/api/v1/tenants/{}", acme.id),
        &app.token(Role::Viewer, &[acme.id]),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(shown["correlation_policy"]["time_window_minutes"], 30);
    assert_eq!(shown["assets"]["web01"]["critical"], true);
    assert_eq!(shown["aws"]["region"], "eu-west-1");

    // Only the caller's tenants are listed.
    let listed: Value = send(
        &app,
        Method::GET,
        "/api/v1/tenants",
        &app.token(Role::Viewer, &[globex.id]),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let slugs: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["globex"]);
}

#[tokio::test]
async fn an_issued_api_key_works_at_once_and_stops_working_when_revoked() {
    let app = TestApp::spawn().await;
    let acme = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[acme.id]);
    let issued: Value = send(
        &app,
        Method::POST,
        &format!("/api/v1/tenants/{}/api-keys", acme.id),
        &admin,
        Some(json!({ "label": "prometheus" })),
    )
    .await
    .json()
    .await
    .unwrap();
    let key = TestTenant {
        id: acme.id,
        api_key: issued["api_key"].as_str().unwrap().to_owned(),
    };
    assert!(key.api_key.starts_with("alk_"));
    assert_eq!(
        app.post_alert(&key, &generic_alert("web01")).await.status(),
        202
    );

    let revoked = send(
        &app,
        Method::DELETE,
        &format!(
            "/api/v1/tenants/{}/api-keys/{}",
            acme.id,
            issued["key_id"].as_str().unwrap()
        ),
        &admin,
        None,
    )
    .await;
    assert_eq!(revoked.status(), 204);
    assert_eq!(
        app.post_alert(&key, &generic_alert("web01")).await.status(),
        401
    );
    assert_eq!(
        app.post_alert(&acme, &generic_alert("web01"))
            .await
            .status(),
        202,
        "other keys still work"
    );

    // The key's hash, never the key, is in the log; every change names its actor.
    let events = app
        .get_until(
            "/api/v1/events?types=ApiKeyIssued,ApiKeyRevoked",
            &app.token(Role::MspAdmin, &[]),
            |b| b["items"].as_array().unwrap().len() >= 3,
        )
        .await;
    let text = events.to_string();
    assert!(!text.contains(&key.api_key));
    let revocation = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "ApiKeyRevoked")
        .unwrap();
    assert_eq!(revocation["metadata"]["actor"], "user:user-tenant_admin");
}

#[tokio::test]
async fn exceeding_the_rate_limit_answers_429_with_retry_after_and_the_bucket_refills() {
    let app = TestApp::spawn().await;
    let acme = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[acme.id]);
    let set = send(
        &app,
        Method::PUT,
        &format!("/api/v1/tenants/{}/rate-limit", acme.id),
        &admin,
        Some(json!({ "requests_per_minute": 60, "burst": 3 })),
    )
    .await;
    assert_eq!(set.status(), 200);

    let mut statuses = Vec::new();
    let mut retry_after = None;
    for n in 0..5 {
        let response = app
            .post_alert(&acme, &generic_alert(&format!("web{n}")))
            .await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(
                response.json::<Value>().await.unwrap()["error"]["code"],
                "rate_limited"
            );
        }
    }
    assert_eq!(&statuses[..3], [202, 202, 202]);
    assert_eq!(statuses[3], 429);
    assert_eq!(
        retry_after.as_deref(),
        Some("1"),
        "one request per second refills"
    );

    // One token a second: the bucket refills and requests pass again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = app
            .post_alert(&acme, &generic_alert("web-later"))
            .await
            .status();
        if status == 202 {
            break;
        }
        assert_eq!(status, 429);
        assert!(Instant::now() < deadline, "the bucket never refilled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
