//! Alert value bounds (security finding H1): an alert dated year 0 used to be
//! accepted and then broke the alerts read model for every tenant; a NUL
//! character in a label used to be a 500. Both are now 422 naming the field,
//! and nothing is written for them but the recorded refusal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use alertledger_domain::values::Role;
use serde_json::{json, Value};
use support::{generic_alert, TestApp};

#[tokio::test]
async fn a_year_0_alert_is_refused_and_other_tenants_alert_lists_keep_working() {
    let app = TestApp::spawn().await;
    let attacker = app.create_tenant("attacker").await;
    let victim = app.create_tenant("victim").await;

    for (raw, field) in [
        ("0000-01-01T00:00:00Z", "occurred_at"),
        ("1969-12-31T23:59:59Z", "occurred_at"),
    ] {
        let mut alert = generic_alert("evil");
        alert["occurred_at"] = json!(raw);
        let response = app.post_alert(&attacker, &alert).await;
        assert_eq!(response.status(), 422, "{raw}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["details"]["field"], field, "{body}");
    }
    // A Unix time far past 9999 from a tool is refused the same way.
    let zabbix = json!({"event_id": "1", "event_name": "x", "severity": "High", "host": "h",
                        "event_value": "1", "event_timestamp": 400_000_000_000_i64});
    let response = app
        .client
        .post(app.url("/api/v1/webhooks/zabbix"))
        .header("X-API-Key", &attacker.api_key)
        .json(&zabbix)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "event_timestamp");
    assert_eq!(app.stored("AlertReceived").await, 0);

    // A time more than a day ahead is stored as the receipt time, with a warning.
    let mut future = generic_alert("ahead");
    future["occurred_at"] = json!("2999-01-01T00:00:00Z");
    let response = app.post_alert(&victim, &future).await;
    assert_eq!(response.status(), 202);
    let receipt: Value = response.json().await.unwrap();
    let position = receipt["alerts"][0]["position"].as_i64().unwrap();
    app.wait_until_consumed("alerts", position).await;

    let admin = app.token(Role::MspAdmin, &[]);
    let all = app.get_until("/api/v1/alerts", &admin, |_| true).await;
    let stored = &all["items"][0];
    assert_eq!(stored["asset"], "ahead");
    assert!(stored["occurred_at"].as_str().unwrap() < "2100");
    assert_eq!(
        stored["normalization_warnings"][0]["field"], "occurred_at",
        "{stored}"
    );
    let theirs = app.token(Role::TenantAdmin, &[victim.id]);
    let list = app.get_until("/api/v1/alerts", &theirs, |_| true).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_nul_in_a_label_or_text_is_422_naming_the_field_not_500() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;

    let mut alert = generic_alert("web01");
    alert["labels"] = json!({"env": "prod\u{0}uction"});
    let response = app.post_alert(&tenant, &alert).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "labels.env", "{body}");

    let group = json!({"version": "4", "alerts": [{"status": "firing",
        "labels": {"alertname": "A\u{0}", "instance": "h:1"}, "startsAt": "2026-11-22T03:00:00Z"}]});
    let response = app
        .client
        .post(app.url("/api/v1/webhooks/alertmanager"))
        .header("X-API-Key", &tenant.api_key)
        .json(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"]["details"]["field"],
        "alerts[0].labels.alertname"
    );

    // Our own format's limits are 422 naming them.
    let mut long = generic_alert("web01");
    long["labels"] = Value::Object((0..65).map(|i| (format!("k{i}"), json!("v"))).collect());
    let response = app.post_alert(&tenant, &long).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("64"),
        "{body}"
    );

    assert_eq!(app.stored("AlertReceived").await, 0);
    // Each refusal is kept, with the NUL made harmless in its excerpt.
    assert_eq!(app.stored("DeliveryRejected").await, 3);
}
