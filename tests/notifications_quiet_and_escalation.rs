//! The notifier with the rest of the incident life (issues 18 and 19), on one
//! served instance, one tenant per case:
//! - a rule naming an escalation policy starts the policy's escalation, and
//!   the level reached pages its channel;
//! - no notification for an alert a maintenance window holds, while the
//!   alert outside it notifies;
//! - a flapping incident notifies nobody, a steady one does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use alertledger_domain::values::Role;
use alertledger_workers::notifier::{NotifierSettings, RetryPolicy};
use chrono::Utc;
use reqwest::Method;
use serde_json::{json, Value};
use support::receivers::HttpReceiver;
use support::{TestApp, TestTenant};

fn settings() -> NotifierSettings {
    NotifierSettings {
        coalesce_interval: Duration::from_secs(3600),
        link_base: None,
        retry: RetryPolicy {
            base: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            max_attempts: 3,
        },
        poll_interval: Duration::from_millis(50),
        concurrency: 4,
    }
}

async fn created(app: &TestApp, path: &str, token: &str, body: Value) -> String {
    let (status, created) = app.call(Method::POST, path, token, Some(body)).await;
    assert_eq!(status, 201, "{path}: {created}");
    created["id"]
        .as_str()
        .or_else(|| created["window_id"].as_str())
        .unwrap_or_else(|| panic!("no id in {created}"))
        .to_owned()
}

/// A webhook channel of `tenant` posting to `path` on the receiver.
async fn webhook_channel(
    app: &TestApp,
    tenant: &TestTenant,
    admin: &str,
    receiver: &HttpReceiver,
    path: &str,
) -> String {
    created(
        app,
        &format!("/api/v1/tenants/{}/notification-channels", tenant.id),
        admin,
        json!({"type": "webhook", "name": path, "config": {"url": receiver.url(path)}}),
    )
    .await
}

async fn post_alert(app: &TestApp, tenant: &TestTenant, alert: &Value, key: &str) -> String {
    let response = app
        .client
        .post(app.url("/api/v1/webhooks/generic"))
        .header("X-API-Key", &tenant.api_key)
        .header("Idempotency-Key", key)
        .json(alert)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    body["alerts"][0]["alert_id"].as_str().unwrap().to_owned()
}

fn alert(asset: &str, signature: &str) -> Value {
    json!({
        "asset_name": asset,
        "signature": signature,
        "severity": "critical",
        "message": format!("{signature} on {asset}"),
        "tool_source": "prometheus",
    })
}

async fn notifications(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, page) = app
        .call(
            Method::GET,
            &format!("/api/v1/notifications?{query}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

/// `GET /alerts/{id}` once the alerts read model has it and `done` holds.
async fn alert_until(
    app: &TestApp,
    alert: &str,
    token: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = app
            .call(Method::GET, &format!("/api/v1/alerts/{alert}"), token, None)
            .await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "alert {alert}: {status} {body}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the notifier has decided on the event at `position` and the
/// notifications read model has applied everything logged by then (each
/// follows the log on its own).
async fn notifications_settled(app: &TestApp, position: i64) {
    app.wait_until_consumed("notifier", position).await;
    let head: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    app.wait_until_consumed("notifications", head).await;
}

/// The position of the latest event of `event_type` on aggregate `id`.
async fn position_of(app: &TestApp, event_type: &str, id: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let position: Option<i64> = sqlx::query_scalar(
            "SELECT max(position) FROM events WHERE event_type = $1 AND aggregate_id = $2",
        )
        .bind(event_type)
        .bind(id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
        if let Some(position) = position {
            return position;
        }
        assert!(Instant::now() < deadline, "no {event_type} on {id}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn escalation_rules_windows_and_flapping_decide_who_is_told() {
    let app = TestApp::spawn_with_notifier(settings(), true).await;
    let receiver = HttpReceiver::start().await;

    // 1. A rule naming an escalation policy: the incident's opening starts the
    // policy, whose first level pages its channel, recorded without a rule.
    let acme = app.create_tenant("quiet-escalation").await;
    let admin = app.token(Role::TenantAdmin, &[acme.id]);
    let pager = webhook_channel(&app, &acme, &admin, &receiver, "pager").await;
    let policy = created(
        &app,
        &format!("/api/v1/tenants/{}/escalation-policies", acme.id),
        &admin,
        json!({"name": "Night", "levels": [{"delay_minutes": 10, "channels": [pager]}], "repeat": 0}),
    )
    .await;
    created(
        &app,
        &format!("/api/v1/tenants/{}/notification-rules", acme.id),
        &admin,
        json!({"name": "Page via policy", "events": ["incident_opened"], "escalation_policy": policy}),
    )
    .await;
    let alert_id = post_alert(&app, &acme, &alert("db-01", "DiskFull"), "esc-1").await;
    let shown = alert_until(&app, &alert_id, &admin, |a| a["incident_id"].is_string()).await;
    let incident = shown["incident_id"].as_str().unwrap().to_owned();
    let paged = receiver.wait_for("pager", 1).await;
    assert_eq!(paged[0].json()["data"]["incident_id"], incident.as_str());
    assert_eq!(paged[0].json()["type"], "incident_escalated");
    assert!(paged[0].json()["data"]["reason"]
        .as_str()
        .is_some_and(|reason| !reason.is_empty()));
    // The notifications read model follows the log on its own: wait for
    // both rows (the policy match and the page).
    let listed = app
        .get_until(
            &format!("/api/v1/notifications?incident={incident}"),
            &admin,
            |page| {
                page["items"]
                    .as_array()
                    .is_some_and(|items| items.len() == 2)
            },
        )
        .await["items"]
        .as_array()
        .unwrap()
        .clone();
    let page = listed
        .iter()
        .find(|n| n["channel_id"] == pager.as_str())
        .unwrap();
    assert!(
        page["rule_id"].is_null(),
        "a level's page has no rule: {page}"
    );
    let timeline = app
        .get_until(&format!("/api/v1/incidents/{incident}"), &admin, |i| {
            i["timeline"].as_array().is_some_and(|entries| {
                entries
                    .iter()
                    .any(|e| e["event_type"] == "EscalationLevelReached")
            })
        })
        .await;
    assert!(timeline["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event_type"] == "EscalationStarted"));

    // 2. A maintenance window: its alert opens nothing and tells nobody; the
    // alert outside it does.
    let quiet = app.create_tenant("quiet-window").await;
    let quiet_admin = app.token(Role::TenantAdmin, &[quiet.id]);
    let room = webhook_channel(&app, &quiet, &quiet_admin, &receiver, "room").await;
    created(
        &app,
        &format!("/api/v1/tenants/{}/notification-rules", quiet.id),
        &quiet_admin,
        json!({"name": "Everything", "events": ["incident_opened"], "channels": [room]}),
    )
    .await;
    let now = Utc::now();
    created(
        &app,
        "/api/v1/maintenance-windows",
        &quiet_admin,
        json!({
            "tenant_id": quiet.id,
            "name": "Patch night",
            "starts_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
            "ends_at": (now + chrono::Duration::hours(1)).to_rfc3339(),
            "matchers": ["asset=\"db-patched\""],
        }),
    )
    .await;
    // The window reaches the correlator before the alerts that follow it.
    let held = post_alert(&app, &quiet, &alert("db-patched", "Reboot"), "win-1").await;
    let outside = post_alert(&app, &quiet, &alert("web-01", "HighCPU"), "win-2").await;
    let held = alert_until(&app, &held, &quiet_admin, |a| {
        a["suppressed_by"].is_string()
    })
    .await;
    assert!(held["incident_id"].is_null(), "{held}");
    let outside = alert_until(&app, &outside, &quiet_admin, |a| {
        a["incident_id"].is_string()
    })
    .await;
    let told = receiver.wait_for("room", 1).await;
    let outside_incident = outside["incident_id"].as_str().unwrap();
    let opened = position_of(&app, "IncidentOpened", outside_incident).await;
    notifications_settled(&app, opened).await;
    let listed = notifications(&app, &quiet_admin, &format!("tenant={}", quiet.id)).await;
    assert_eq!(
        listed.len(),
        1,
        "only the alert outside the window: {listed:?}"
    );
    assert_eq!(listed[0]["incident_id"], outside_incident);
    assert_eq!(told.len(), 1);

    // 3. Flapping: escalating a flapping incident tells nobody; escalating a
    // steady one tells the room.
    let flappy = app.create_tenant("quiet-flapping").await;
    let flappy_admin = app.token(Role::TenantAdmin, &[flappy.id]);
    let technician = app.token(Role::Technician, &[flappy.id]);
    let desk = webhook_channel(&app, &flappy, &flappy_admin, &receiver, "desk").await;
    created(
        &app,
        &format!("/api/v1/tenants/{}/notification-rules", flappy.id),
        &flappy_admin,
        json!({"name": "Escalations", "events": ["incident_escalated"], "channels": [desk]}),
    )
    .await;
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{}/flapping-policy", flappy.id),
            &flappy_admin,
            Some(json!({"changes": 3, "window_minutes": 15})),
        )
        .await;
    assert_eq!(status, 200);
    let mut link = alert("sw-01", "LinkDown");
    let mut first = String::new();
    for (i, status) in ["firing", "resolved", "firing", "resolved", "firing"]
        .iter()
        .enumerate()
    {
        link["status"] = json!(status);
        let id = post_alert(&app, &flappy, &link, &format!("flap-{i}")).await;
        if i == 0 {
            first = id;
        }
    }
    let steady = post_alert(&app, &flappy, &alert("sw-02", "FanFailed"), "steady").await;
    let incident_of = |alert: String| {
        let app = &app;
        let token = flappy_admin.clone();
        async move {
            alert_until(app, &alert, &token, |a| a["incident_id"].is_string()).await["incident_id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let flapping = incident_of(first).await;
    let steady = incident_of(steady).await;
    app.get_until(
        &format!("/api/v1/incidents/{flapping}"),
        &flappy_admin,
        |i| i["flapping"] == true,
    )
    .await;
    for incident in [&flapping, &steady] {
        let (status, body) = app
            .call(
                Method::POST,
                &format!("/api/v1/incidents/{incident}/escalate"),
                &technician,
                Some(json!({"reason": "needs the network team"})),
            )
            .await;
        assert!(status < 300, "{status} {body}");
    }
    let told = receiver.wait_for("desk", 1).await;
    let escalated = position_of(&app, "IncidentEscalated", &flapping).await;
    let escalated_steady = position_of(&app, "IncidentEscalated", &steady).await;
    notifications_settled(&app, escalated.max(escalated_steady)).await;
    assert!(
        notifications(&app, &flappy_admin, &format!("incident={flapping}"))
            .await
            .is_empty()
    );
    assert_eq!(
        notifications(&app, &flappy_admin, &format!("incident={steady}"))
            .await
            .len(),
        1
    );
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].json()["data"]["incident_id"], steady.as_str());
}
