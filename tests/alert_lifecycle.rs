//! A tool's "resolved" notification resolves the open alerts it refers to, once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{json, Value};
use support::TestApp;

fn notification(status: &str, occurred_at: &str) -> Value {
    json!({
        "asset_name": "db01", "signature": "DiskFull", "severity": "high",
        "message": "/var above 92%", "tool_source": "zabbix",
        "status": status, "occurred_at": occurred_at
    })
}

async fn resolutions(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT aggregate_id FROM events WHERE event_type = 'AlertResolvedBySource' ORDER BY position")
        .fetch_all(app.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_resolved_notification_resolves_the_earlier_firing_alert_once_and_not_a_newer_one() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;

    let firing: Value = app
        .post_alert(&tenant, &notification("firing", "2026-11-22T01:00:00Z"))
        .await
        .json()
        .await
        .unwrap();
    let firing_id = firing["alerts"][0]["alert_id"].as_str().unwrap().to_owned();

    let resolved = app
        .post_alert(&tenant, &notification("resolved", "2026-11-22T02:00:00Z"))
        .await;
    assert_eq!(resolved.status(), 202);
    assert_eq!(resolutions(&app).await, std::slice::from_ref(&firing_id));
    let resolution: Value = sqlx::query_scalar(
        "SELECT metadata FROM events WHERE event_type = 'AlertResolvedBySource'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert!(resolution["actor"]
        .as_str()
        .unwrap()
        .starts_with("api_key:"));

    // A repeat of the resolution changes nothing.
    app.post_alert(&tenant, &notification("resolved", "2026-11-22T02:05:00Z"))
        .await;
    assert_eq!(resolutions(&app).await, std::slice::from_ref(&firing_id));

    // A new occurrence after the resolution stays open when an old, late
    // resolution arrives.
    let newer: Value = app
        .post_alert(&tenant, &notification("firing", "2026-11-22T03:00:00Z"))
        .await
        .json()
        .await
        .unwrap();
    app.post_alert(&tenant, &notification("resolved", "2026-11-22T02:30:00Z"))
        .await;
    assert_eq!(resolutions(&app).await, std::slice::from_ref(&firing_id));

    // Its own resolution closes it.
    app.post_alert(&tenant, &notification("resolved", "2026-11-22T03:10:00Z"))
        .await;
    let newer_id = newer["alerts"][0]["alert_id"].as_str().unwrap().to_owned();
    assert_eq!(resolutions(&app).await, [firing_id, newer_id]);
}
