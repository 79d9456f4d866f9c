//! Issue 16: command and query input at its bounds. A NUL character in any
//! command or configuration text is a 422 naming the field (PostgreSQL
//! refuses `\u0000` in text and jsonb: it used to be a 500), and a date
//! filter far out of range is a 422 (it used to panic the request and drop
//! the connection). Nothing is written by a refused request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use alertledger_domain::values::Role;
use serde_json::{json, Value};
use support::{generic_alert, TestApp};

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn assert_names(status: u16, body: &Value, field: &str) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"]["field"], field, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("NUL"),
        "{body}"
    );
}

#[tokio::test]
async fn a_nul_character_in_command_text_is_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let admin = app.token(Role::MspAdmin, &[tenant.id]);
    let events_before = app.stored("TenantRegistered").await;

    // Tenant names (ApiJson body).
    let (status, body) = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/tenants",
        &admin,
        Some(json!({ "name": "Evil\u{0}Corp", "slug": "evil" })),
    )
    .await;
    assert_names(status, &body, "name");
    assert_eq!(app.stored("TenantRegistered").await, events_before);

    // Runbook fields, down to one command of a list.
    let (status, body) = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/runbooks",
        &admin,
        Some(json!({
            "tenant_id": tenant.id.to_string(),
            "name": "Restart",
            "signature": "HighCPU",
            "risk": "low",
            "document": "AWS-RunShellScript",
            "commands": ["uptime", "systemctl restart app\u{0}; rm -rf /"],
            "auto_execute": false
        })),
    )
    .await;
    assert_names(status, &body, "commands[1]");

    // Comments and notes on optional bodies (alert acknowledgement), and
    // object keys: checked before the alert is even looked up.
    let posted: Value = app
        .post_alert(&tenant, &generic_alert("web-1"))
        .await
        .json()
        .await
        .unwrap();
    let alert_id = posted["alerts"][0]["alert_id"].as_str().unwrap();
    let (status, body) = send(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/alerts/{alert_id}/acknowledge"),
        &admin,
        Some(json!({ "note": "looking\u{0}" })),
    )
    .await;
    assert_names(status, &body, "note");

    // Approval reasons.
    let (status, body) = send(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/approvals/{}/reject", uuid::Uuid::now_v7()),
        &admin,
        Some(json!({ "reason": "no\u{0}" })),
    )
    .await;
    assert_names(status, &body, "reason");

    // A NUL in a key of a nested object is named by its path.
    let (status, body) = send(
        &app,
        reqwest::Method::PUT,
        &format!("/api/v1/tenants/{}/correlation-policy", tenant.id),
        &admin,
        Some(json!({ "rules": { "a\u{0}b": 1 } })),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"]["field"], "rules.a\\0b", "{body}");

    // A literal backslash-u sequence is text, not NUL: not refused for it.
    let (status, body) = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/tenants",
        &admin,
        Some(json!({ "name": "Back\\u0000slash", "slug": "backslash" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // A NUL in a query filter (found by schemathesis: a 500 before).
    let (status, body) = send(
        &app,
        reqwest::Method::GET,
        "/api/v1/audit?action=%00",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_query", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`action`"),
        "{body}"
    );

    // The service still answers.
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn dates_far_out_of_range_are_422_not_a_dropped_connection() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let analyst = app.token(Role::MspAdmin, &[tenant.id]);
    for path in [
        "/api/v1/audit?to=%2B262142-12-31",
        "/api/v1/audit?from=-262143-01-01",
        "/api/v1/audit?to=%2B262142-12-31T23:59:59Z",
        "/api/v1/kpis?to=%2B262142-12-31",
        "/api/v1/kpis?from=%2B262142-12-31",
        "/api/v1/kpis?as_of=%2B262142-12-31",
        "/api/v1/kpis?to=0000-01-01",
    ] {
        let (status, body) = send(&app, reqwest::Method::GET, path, &analyst, None).await;
        assert_eq!(status, 422, "{path}: {body}");
        let field = body["error"]["details"]["field"].as_str().unwrap();
        assert!(path.contains(&format!("{field}=")), "{path}: {body}");
    }
    // The edges of the range still answer.
    for path in [
        "/api/v1/audit?from=0001-01-01&to=9999-12-31",
        "/api/v1/kpis?from=9999-12-01&to=9999-12-31",
    ] {
        let (status, body) = send(&app, reqwest::Method::GET, path, &analyst, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}
