//! A tenant admin can raise its own tenant's rate limit only up to a
//! ceiling an `msp_admin` sets (issue 16, amplification): above it the
//! request is 403 naming the field; only an `msp_admin` sets the ceiling,
//! recorded as an event with its actor.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use alertledger_domain::values::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::TestApp;

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .put(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn limit(requests_per_minute: u32, burst: u32) -> Value {
    json!({ "requests_per_minute": requests_per_minute, "burst": burst })
}

#[tokio::test]
async fn a_tenant_admin_raises_its_rate_limit_only_up_to_the_msp_admins_ceiling() {
    let app = TestApp::spawn_without_background().await;
    let acme = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[acme.id]);
    let msp = app.token(Role::MspAdmin, &[]);
    let rate_limit = format!("/api/v1/tenants/{}/rate-limit", acme.id);
    let ceiling = format!("/api/v1/tenants/{}/rate-limit-ceiling", acme.id);

    // No ceiling set: the default limit (600/min, burst 1000) is the ceiling.
    let (status, body) = put(&app, &rate_limit, &admin, limit(1_000_000, 1_000_000)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "above_rate_limit_ceiling");
    assert_eq!(body["error"]["details"]["field"], "requests_per_minute");
    assert_eq!(body["error"]["details"]["max"], 600);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ceiling"));
    // Lowering, or staying within, is the admin's own business.
    let (status, _) = put(&app, &rate_limit, &admin, limit(100, 50)).await;
    assert_eq!(status, StatusCode::OK);

    // A tenant admin cannot set the ceiling.
    let (status, body) = put(&app, &ceiling, &admin, limit(5000, 2000)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Nor can a technician or a viewer.
    for role in [Role::Technician, Role::Viewer] {
        let token = app.token(role, &[acme.id]);
        let (status, _) = put(&app, &ceiling, &token, limit(5000, 2000)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?}");
    }

    // The MSP admin sets one; bad numbers are 422 naming the field.
    let (status, body) = put(&app, &ceiling, &msp, limit(0, 2000)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("requests_per_minute"), "{body}");
    let (status, body) = put(&app, &ceiling, &msp, limit(5000, 2000)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, limit(5000, 2000));

    // Up to it: allowed; above it in either number: 403 naming the field.
    let (status, _) = put(&app, &rate_limit, &admin, limit(5000, 2000)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = put(&app, &rate_limit, &admin, limit(5001, 10)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["details"]["field"], "requests_per_minute");
    assert_eq!(body["error"]["details"]["max"], 5000);
    let (status, body) = put(&app, &rate_limit, &admin, limit(10, 2001)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["details"]["field"], "burst");
    assert_eq!(body["error"]["details"]["max"], 2000);

    // The MSP admin itself is not bound by the ceiling.
    let (status, _) = put(&app, &rate_limit, &msp, limit(1_000_000, 1_000_000)).await;
    assert_eq!(status, StatusCode::OK);

    // The tenant shows its limit and ceiling.
    let tenant: Value = app
        .client
        .get(app.url(&format!("/api/v1/tenants/{}", acme.id)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tenant["rate_limit_ceiling"], limit(5000, 2000));
    assert_eq!(tenant["rate_limit"], limit(1_000_000, 1_000_000));

    // The ceiling is an event naming the MSP admin; refused attempts left
    // nothing.
    let events = app
        .get_until(
            "/api/v1/events?types=RateLimitCeilingSet,RateLimitChanged",
            &msp,
            |b| b["items"].as_array().unwrap().len() >= 4,
        )
        .await;
    let items = events["items"].as_array().unwrap();
    let ceilings: Vec<&Value> = items
        .iter()
        .filter(|e| e["event_type"] == "RateLimitCeilingSet")
        .collect();
    assert_eq!(ceilings.len(), 1, "{events}");
    assert_eq!(ceilings[0]["metadata"]["actor"], "user:user-msp_admin");
    assert_eq!(
        items
            .iter()
            .filter(|e| e["event_type"] == "RateLimitChanged")
            .count(),
        3,
        "{events}"
    );
}
