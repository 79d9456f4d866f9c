//! The notifier end to end (issue 18): notification rules over HTTP, and
//! incidents reaching real receivers on loopback (an SMTP sink, an HTTP
//! receiver standing in for Slack, Teams, a webhook receiver and PagerDuty)
//! through the outbox: retried with backoff, delivered once, coalesced in a
//! storm, resumed after a restart without sending twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use alertledger_domain::notification::{NotificationDeliveryEvent, NotificationSetupEvent};
use alertledger_domain::values::Role;
use alertledger_domain::{DomainServices, FixedClock};
use alertledger_eventstore::log::LogSignal;
use alertledger_workers::notifier::{DeliveryWorker, NotifierSettings, RetryPolicy};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use support::receivers::{HttpReceiver, SmtpSink};
use support::{TestApp, TestTenant};

/// Verifies a Standard Webhooks signature as a receiver would.
fn signature_verifies(secret: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    header.split(' ').any(|candidate| candidate == expected)
}

/// Quick retries (tests wait for three attempts), a long storm interval.
fn settings() -> NotifierSettings {
    NotifierSettings {
        coalesce_interval: Duration::from_secs(3600),
        link_base: Some("https://alertledger.test".to_owned()),
        retry: RetryPolicy {
            base: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            max_attempts: 5,
        },
        poll_interval: Duration::from_millis(50),
        concurrency: 8,
    }
}

async fn channel(app: &TestApp, tenant: &TestTenant, token: &str, body: Value) -> Value {
    let (status, channel) = app
        .call(
            Method::POST,
            &format!("/api/v1/tenants/{}/notification-channels", tenant.id),
            token,
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{channel}");
    channel
}

async fn rule(app: &TestApp, tenant: &TestTenant, token: &str, body: Value) -> Value {
    let (status, rule) = app
        .call(
            Method::POST,
            &format!("/api/v1/tenants/{}/notification-rules", tenant.id),
            token,
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    rule
}

/// Posts alerts and returns the incident of the first, once correlated.
async fn incident_of(app: &TestApp, tenant: &TestTenant, token: &str, alerts: Value) -> String {
    let response = app.post_alert(tenant, &alerts).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let alert = body["alerts"][0]["alert_id"].as_str().unwrap().to_owned();
    let last = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["position"].as_i64())
        .max()
        .unwrap();
    app.wait_until_consumed("alerts", last).await;
    let shown = app
        .get_until(&format!("/api/v1/alerts/{alert}"), token, |a| {
            a["incident_id"].is_string()
        })
        .await;
    shown["incident_id"].as_str().unwrap().to_owned()
}

fn alert(asset: &str, severity: &str, message: &str) -> Value {
    json!({
        "asset_name": asset,
        "signature": "HighCPU",
        "severity": severity,
        "message": message,
        "tool_source": "prometheus",
        "labels": { "env": "production" },
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

async fn stored(app: &TestApp, event_type: &str) -> i64 {
    app.stored(event_type).await
}

/// Polls `check` until it holds (30 s at most).
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn incidents_reach_every_channel_through_the_outbox_with_retries_coalescing_and_scoping() {
    let app = TestApp::spawn_with_notifier(settings(), true).await;
    let tenant = app.create_tenant("notify-acme").await;
    let other = app.create_tenant("notify-other").await;
    app.lift_rate_limit(&tenant).await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let technician = app.token(Role::Technician, &[tenant.id]);
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    let other_admin = app.token(Role::TenantAdmin, &[other.id]);
    let receiver = HttpReceiver::start().await;
    let smtp = SmtpSink::start().await;
    receiver.script("hook/h1", &[500, 500]);

    let slack = channel(
        &app,
        &tenant,
        &admin,
        json!({"type": "slack", "name": "Ops", "config": {"url": receiver.url("slack/s1")}}),
    )
    .await;
    let teams = channel(
        &app,
        &tenant,
        &admin,
        json!({"type": "teams", "name": "Teams", "config": {"url": receiver.url("teams/t1")}}),
    )
    .await;
    let hook = channel(
        &app,
        &tenant,
        &admin,
        json!({"type": "webhook", "name": "Hook", "config": {"url": receiver.url("hook/h1")}}),
    )
    .await;
    let pd = channel(&app, &tenant, &admin, json!({"type": "pagerduty", "name": "PD", "config": {"routing_key": "rk-1", "url": receiver.url("v2/enqueue")}})).await;
    let mail = channel(
        &app,
        &tenant,
        &admin,
        json!({"type": "email", "name": "Mail", "config": {
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "tls": "none",
        "from": "alerts@acme.test", "to": ["ops@acme.test", "oncall@acme.test"]}}),
    )
    .await;
    let signing_secret = hook["signing_secret"].as_str().unwrap().to_owned();
    let channel_ids: Vec<Value> = [&slack, &teams, &hook, &pd, &mail]
        .iter()
        .map(|c| c["id"].clone())
        .collect();

    // Bad rules: 422 naming the field, nothing written.
    let rules = format!("/api/v1/tenants/{}/notification-rules", tenant.id);
    let good = json!({"name": "r", "events": ["incident_opened"], "channels": [channel_ids[0]]});
    let bad = [
        (json!({"events": ["incident_exploded"]}), "events[0]"),
        (json!({"events": []}), "events"),
        (json!({"min_severity": "urgent"}), "min_severity"),
        (json!({"matchers": ["asset=~\"(\""]}), "matchers[0]"),
        (json!({"matchers": ["=\"x\""]}), "matchers[0]"),
        (
            json!({"channels": [channel_ids[0], uuid::Uuid::now_v7()]}),
            "channels[1]",
        ),
        (json!({"channels": ["not-a-uuid"]}), "channels[0]"),
        (json!({"channels": []}), "channels"),
        (
            json!({"escalation_policy": uuid::Uuid::now_v7()}),
            "escalation_policy",
        ),
        (json!({"name": "  "}), "name"),
    ];
    for (change, field) in bad {
        let mut body = good.clone();
        for (key, value) in change.as_object().unwrap() {
            body[key] = value.clone();
        }
        let (status, error) = app.call(Method::POST, &rules, &admin, Some(body)).await;
        assert_eq!(status, 422, "{field}: {error}");
        assert_eq!(error["error"]["details"]["field"], field, "{error}");
    }
    let (status, _) = app
        .call(
            Method::POST,
            &rules,
            &admin,
            Some(json!({"events": ["incident_opened"], "channels": [channel_ids[0]]})),
        )
        .await;
    assert_eq!(status, 400, "a missing name is a missing field");
    let (status, _) = app
        .call(Method::POST, &rules, &technician, Some(good.clone()))
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call(Method::POST, &rules, &other_admin, Some(good.clone()))
        .await;
    assert_eq!(status, 404, "another tenant's rules are not found");
    assert_eq!(stored(&app, NotificationSetupEvent::RULE_ADDED).await, 0);

    // The rules: critical production incidents to every channel; a policy
    // rule for one asset.
    let everything = rule(
        &app,
        &tenant,
        &admin,
        json!({
        "name": "Critical production", "events": ["incident_opened", "incident_resolved"],
        "min_severity": "critical", "matchers": ["env=\"production\"", "asset=~\"srv-.*\""],
        "channels": channel_ids}),
    )
    .await;
    assert_eq!(everything["min_severity"], "critical");
    assert_eq!(everything["matchers"][1], "asset=~\"srv-.*\"");
    // A policy paging a channel of its own (so the counts of the others hold).
    let pager = channel(&app, &tenant, &admin, json!({"type": "webhook", "name": "Pager", "config": {"url": receiver.url("policy/pager")}})).await;
    let (status, created) = app.call(Method::POST,
        &format!("/api/v1/tenants/{}/escalation-policies", tenant.id),
        &admin,
        Some(json!({"name": "Page", "levels": [{"delay_minutes": 30, "channels": [pager["id"]]}], "repeat": 0})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let policy = uuid::Uuid::parse_str(created["id"].as_str().unwrap()).unwrap();
    let policy_rule = rule(
        &app,
        &tenant,
        &admin,
        json!({
        "name": "Policy", "events": ["incident_opened"], "matchers": ["asset=\"srv-policy\""],
        "escalation_policy": policy}),
    )
    .await;
    assert_eq!(policy_rule["escalation_policy"], json!(policy));
    let (status, list) = app.call(Method::GET, &rules, &viewer, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let (status, _) = app.call(Method::GET, &rules, &other_admin, None).await;
    assert_eq!(status, 404);
    // A rule changed and removed, each an event.
    let scratch = rule(&app, &tenant, &admin, good.clone()).await;
    let scratch_path = format!("{rules}/{}", scratch["id"].as_str().unwrap());
    let (status, changed) = app.call(Method::PUT, &scratch_path, &admin, Some(json!({"name": "renamed", "events": ["incident_resolved"], "channels": [channel_ids[1]]}))).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["events"], json!(["incident_resolved"]));
    let (status, _) = app
        .call(
            Method::PUT,
            &scratch_path,
            &admin,
            Some(json!({"name": "x", "events": ["nope"], "channels": [channel_ids[1]]})),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = app.call(Method::DELETE, &scratch_path, &admin, None).await;
    assert_eq!(status, 204);
    let (status, _) = app.call(Method::GET, &scratch_path, &admin, None).await;
    assert_eq!(status, 404);
    assert_eq!(stored(&app, NotificationSetupEvent::RULE_CHANGED).await, 1);
    assert_eq!(stored(&app, NotificationSetupEvent::RULE_REMOVED).await, 1);

    // A channel updated: new URL, same signing secret, an event.
    let hook_path = format!(
        "/api/v1/tenants/{}/notification-channels/{}",
        tenant.id,
        hook["id"].as_str().unwrap()
    );
    let (status, updated) = app
        .call(
            Method::PUT,
            &hook_path,
            &admin,
            Some(json!({"name": "Hook (renamed)", "config": {"url": receiver.url("hook/h1")}})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Hook (renamed)");
    assert!(updated.get("signing_secret").is_none());
    let (status, error) = app
        .call(
            Method::PUT,
            &hook_path,
            &admin,
            Some(json!({"type": "slack", "name": "x", "config": {"url": receiver.url("hook/h1")}})),
        )
        .await;
    assert_eq!(
        (status, &error["error"]["details"]["field"]),
        (422, &json!("type"))
    );
    let (status, error) = app
        .call(
            Method::PUT,
            &hook_path,
            &admin,
            Some(json!({"name": "x", "config": {"url": "ftp://nowhere"}})),
        )
        .await;
    assert_eq!(
        (status, &error["error"]["details"]["field"]),
        (422, &json!("config.url"))
    );
    let (status, _) = app
        .call(
            Method::PUT,
            &hook_path.replace(&tenant.id.to_string(), &other.id.to_string()),
            &other_admin,
            Some(json!({"name": "x", "config": {"url": receiver.url("x")}})),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        stored(&app, NotificationSetupEvent::CHANNEL_UPDATED).await,
        1
    );

    // A critical incident reaches every channel.
    let incident = incident_of(
        &app,
        &tenant,
        &technician,
        json!([alert("srv-db-01", "critical", "CPU > 95% on srv-db-01")]),
    )
    .await;
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, vec!["ops@acme.test", "oncall@acme.test"]);
    assert_eq!(mails[0].from, "alerts@acme.test");
    assert!(
        mails[0]
            .data
            .contains("Subject: [CRITICAL] Incident opened: CPU > 95% on srv-db-01"),
        "{}",
        mails[0].data
    );
    assert!(mails[0].data.contains("Asset: srv-db-01"));
    let slack_body = receiver.wait_for("slack/s1", 1).await[0].json();
    assert!(
        slack_body["blocks"].to_string().contains("srv-db-01"),
        "{slack_body}"
    );
    assert!(
        slack_body
            .to_string()
            .contains(&format!("https://alertledger.test/incidents/{incident}")),
        "{slack_body}"
    );
    let teams_body = receiver.wait_for("teams/t1", 1).await[0].json();
    assert!(
        teams_body.to_string().contains("AdaptiveCard"),
        "{teams_body}"
    );
    let pd_body = receiver.wait_for("v2/enqueue", 1).await[0].json();
    assert_eq!(pd_body["dedup_key"], incident.as_str());
    assert_eq!(pd_body["event_action"], "trigger");
    assert_eq!(pd_body["routing_key"], "rk-1");
    // The webhook answered 500 twice, then 200: three signed attempts with
    // one webhook-id (the notification id), delivered once.
    let hooks = receiver.wait_for("hook/h1", 3).await;
    let id = hooks[0].header("webhook-id").to_owned();
    for attempt in &hooks {
        assert_eq!(attempt.header("webhook-id"), id);
        assert!(signature_verifies(
            &signing_secret,
            attempt.header("webhook-id"),
            attempt.header("webhook-timestamp"),
            &attempt.body,
            attempt.header("webhook-signature")
        ));
    }
    assert_eq!(hooks[0].json()["data"]["incident_id"], incident.as_str());
    assert_eq!(hooks[0].json()["id"], id.as_str());
    let delivered = app
        .get_until(
            &format!("/api/v1/notifications?incident={incident}&status=delivered"),
            &viewer,
            |page| page["items"].as_array().unwrap().len() == 5,
        )
        .await;
    let webhook_row = delivered["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["channel_type"] == "webhook")
        .unwrap()
        .clone();
    assert_eq!(webhook_row["id"], id.as_str());
    assert_eq!(webhook_row["attempts"], 3);
    assert_eq!(webhook_row["code"], 200);
    let attempts: Vec<(i32, Option<i32>)> = sqlx::query_as(
        "SELECT attempt, code FROM notification_attempts WHERE notification_id = $1::uuid ORDER BY attempt",
    )
    .bind(&id)
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(
        attempts,
        vec![(1, Some(500)), (2, Some(500)), (3, Some(200))]
    );
    assert_eq!(
        receiver.received("hook/h1").len(),
        3,
        "delivered once, never again"
    );

    // The incident's timeline shows the notifications.
    let shown = app
        .get_until(&format!("/api/v1/incidents/{incident}"), &viewer, |i| {
            i["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["event_type"] == NotificationDeliveryEvent::DELIVERED)
                .count()
                == 5
        })
        .await;
    let timeline = shown["timeline"].as_array().unwrap();
    assert_eq!(
        timeline
            .iter()
            .filter(|e| e["event_type"] == NotificationDeliveryEvent::REQUESTED)
            .count(),
        5
    );
    assert!(
        timeline.iter().any(|e| e["summary"]
            .as_str()
            .unwrap()
            .contains("after 3 attempt(s)")),
        "{timeline:?}"
    );

    // Another tenant sees none of it.
    let other_viewer = app.token(Role::Viewer, &[other.id]);
    assert!(
        notifications(&app, &other_viewer, &format!("incident={incident}"))
            .await
            .is_empty()
    );
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/notifications?tenant={}", tenant.id),
            &other_viewer,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call(
            Method::GET,
            "/api/v1/notifications?status=sent",
            &viewer,
            None,
        )
        .await;
    assert_eq!(status, 422);

    // A rule with an escalation policy records the match and starts the
    // policy, whose first level pages its channel (a notification without
    // a rule); nothing goes to the rule channels.
    let policy_incident = incident_of(
        &app,
        &tenant,
        &technician,
        json!([alert("srv-policy", "high", "policy please")]),
    )
    .await;
    let policy_page = receiver.wait_for("policy/pager", 1).await;
    assert_eq!(
        policy_page[0].json()["data"]["incident_id"],
        policy_incident.as_str()
    );
    let matched = app
        .get_until(
            &format!("/api/v1/notifications?incident={policy_incident}"),
            &viewer,
            |page| {
                let items = page["items"].as_array().unwrap();
                items.len() == 2 && items.iter().any(|n| n["status"] == "delivered")
            },
        )
        .await;
    let items = matched["items"].as_array().unwrap();
    let matched_row = items
        .iter()
        .find(|n| n["status"] == "policy_matched")
        .unwrap();
    assert_eq!(matched_row["policy_id"], json!(policy));
    let page_row = items
        .iter()
        .find(|n| n["status"] != "policy_matched")
        .unwrap();
    assert_eq!(page_row["channel_id"], pager["id"]);
    assert!(
        page_row["rule_id"].is_null(),
        "high is below the critical rule"
    );

    // Resolving: PagerDuty follows at once (never coalesced); the others
    // hold it for the next slot (an hour away) as a digest.
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/incidents/{incident}/resolve"),
            &technician,
            Some(json!({"note": "fixed"})),
        )
        .await;
    assert_eq!(status, 200);
    let pd_bodies = receiver.wait_for("v2/enqueue", 2).await;
    assert_eq!(pd_bodies[1].json()["event_action"], "resolve");
    let pending = app
        .get_until(
            &format!("/api/v1/notifications?incident={incident}&status=pending"),
            &viewer,
            |page| page["items"].as_array().unwrap().len() == 4,
        )
        .await;
    for row in pending["items"].as_array().unwrap() {
        assert!(
            row["due_at"].as_str().unwrap() > row["requested_at"].as_str().unwrap(),
            "{row}"
        );
    }
    assert_eq!(receiver.received("slack/s1").len(), 1);
    assert_eq!(smtp.mails().len(), 1);

    // /metrics counts notifications by channel type and outcome (webhook:
    // the retried hook, 3 attempts, and the policy's page, 1).
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "alertledger_notifications_total{channel_type=\"webhook\",outcome=\"delivered\"} 2"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("alertledger_notification_attempts_total{channel_type=\"webhook\",outcome=\"delivered\"} 4"), "{metrics}");
}

#[tokio::test]
async fn a_storm_of_a_thousand_alerts_into_ten_incidents_sends_one_message_per_incident_and_interval(
) {
    let app = TestApp::spawn_with_notifier(settings(), true).await;
    let tenant = app.create_tenant("storm").await;
    app.lift_rate_limit(&tenant).await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let technician = app.token(Role::Technician, &[tenant.id]);
    let receiver = HttpReceiver::start().await;
    let slack = channel(
        &app,
        &tenant,
        &admin,
        json!({"type": "slack", "name": "Storm", "config": {"url": receiver.url("storm")}}),
    )
    .await;
    rule(&app, &tenant, &admin, json!({"name": "all", "events": ["incident_opened", "incident_escalated"], "channels": [slack["id"]]})).await;

    // 1,000 alerts: 100 per asset, in batches of 100.
    let mut incidents = Vec::new();
    for asset in 0..10 {
        let batch: Vec<Value> = (0..100)
            .map(|n| {
                alert(
                    &format!("storm-{asset}"),
                    "critical",
                    &format!("storm {asset} #{n}"),
                )
            })
            .collect();
        incidents.push(incident_of(&app, &tenant, &technician, Value::Array(batch)).await);
    }
    incidents.sort();
    incidents.dedup();
    assert_eq!(incidents.len(), 10);
    // And three escalations of each, within the interval.
    for incident in &incidents {
        for n in 0..3 {
            let (status, body) = app
                .call(
                    Method::POST,
                    &format!("/api/v1/incidents/{incident}/escalate"),
                    &technician,
                    Some(json!({"reason": format!("storm escalation {n}")})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
    }
    // Every one of the 40 incident events is accounted for: a message or a
    // line in a digest.
    eventually("the notifier decided on all 40 incident events", || async {
        let accounted: i64 = sqlx::query_scalar(
            "SELECT COALESCE(sum(1 + jsonb_array_length(held_back)), 0)::bigint FROM notification_outbox",
        )
        .fetch_one(app.db.pool())
        .await
        .unwrap();
        accounted == 40
    })
    .await;
    eventually("every due message was sent", || async {
        let due: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notification_outbox WHERE status = 'pending' AND due_at <= now()",
        )
        .fetch_one(app.db.pool())
        .await
        .unwrap();
        due == 0
    })
    .await;
    let sent = receiver.received("storm");
    assert_eq!(sent.len(), 10, "one message per incident in the interval");
    let incidents_told: std::collections::BTreeSet<String> = sent
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(incidents_told.len(), 10);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM notification_outbox")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert!(
        rows <= 20,
        "at most one message per incident per interval: {rows}"
    );
}

#[tokio::test]
async fn a_restart_resumes_what_was_pending_and_never_resends_what_was_delivered() {
    // The application requests notifications but does not deliver them:
    // the test runs (and kills) delivery workers itself.
    let app = TestApp::spawn_with_notifier(settings(), false).await;
    let tenant = app.create_tenant("restart").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let technician = app.token(Role::Technician, &[tenant.id]);
    let receiver = HttpReceiver::start().await;
    receiver.script("b", &[500]);
    let a = channel(
        &app,
        &tenant,
        &admin,
        json!({"type": "webhook", "name": "A", "config": {"url": receiver.url("a")}}),
    )
    .await;
    let b = channel(
        &app,
        &tenant,
        &admin,
        json!({"type": "webhook", "name": "B", "config": {"url": receiver.url("b")}}),
    )
    .await;
    rule(
        &app,
        &tenant,
        &admin,
        json!({"name": "both", "events": ["incident_opened"], "channels": [a["id"], b["id"]]}),
    )
    .await;
    incident_of(
        &app,
        &tenant,
        &technician,
        json!([alert("srv-restart", "critical", "restart me")]),
    )
    .await;
    eventually("both notifications are requested", || async {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM notification_outbox WHERE status = 'pending'")
                .fetch_one(app.db.pool())
                .await
                .unwrap();
        pending == 2
    })
    .await;
    assert!(receiver.received("a").is_empty(), "requested, not sent");

    // The first worker: retries an hour apart, killed after its round.
    let slow = NotifierSettings {
        retry: RetryPolicy {
            base: Duration::from_secs(3600),
            max_delay: Duration::from_secs(7200),
            max_attempts: 5,
        },
        ..settings()
    };
    let clock = std::sync::Arc::new(FixedClock::new(chrono::Utc::now()));
    let first = DeliveryWorker::new(
        app.db.pool().clone(),
        LogSignal::local(),
        DomainServices::new(clock.clone()),
        app.notifier_delivery(),
        slow.clone(),
    )
    .spawn();
    receiver.wait_for("a", 1).await;
    receiver.wait_for("b", 1).await;
    eventually("b's failed attempt is recorded", || async {
        let attempts: i64 = sqlx::query_scalar("SELECT count(*) FROM notification_attempts")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        attempts == 2
    })
    .await;
    first.abort();
    let _ = first.await;

    // A second worker, two hours later: b is due again and delivered; a,
    // delivered before the restart, is not sent again.
    clock.advance(chrono::Duration::hours(2));
    let second = DeliveryWorker::new(
        app.db.pool().clone(),
        LogSignal::local(),
        DomainServices::new(clock.clone()),
        app.notifier_delivery(),
        slow,
    );
    assert_eq!(second.deliver_due().await.unwrap(), 1, "only b was pending");
    assert_eq!(second.deliver_due().await.unwrap(), 0);
    assert_eq!(receiver.received("a").len(), 1);
    let b_requests = receiver.received("b");
    assert_eq!(b_requests.len(), 2);
    assert_eq!(
        b_requests[0].header("webhook-id"),
        b_requests[1].header("webhook-id")
    );
    let statuses: Vec<(String, i32)> =
        sqlx::query_as("SELECT status, attempts FROM notification_outbox ORDER BY attempts")
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    assert_eq!(
        statuses,
        vec![("delivered".to_owned(), 1), ("delivered".to_owned(), 2)]
    );
    assert_eq!(stored(&app, NotificationDeliveryEvent::REQUESTED).await, 2);
    assert_eq!(stored(&app, NotificationDeliveryEvent::DELIVERED).await, 2);
}

/// Waits until `incident` has `count` delivered notifications.
async fn delivered(app: &TestApp, token: &str, incident: &str, count: usize) {
    app.get_until(
        &format!("/api/v1/notifications?incident={incident}&status=delivered"),
        token,
        |page| page["items"].as_array().unwrap().len() == count,
    )
    .await;
}

#[tokio::test]
async fn each_tenant_coalesces_with_its_own_interval_or_else_the_process_setting() {
    // The process coalesces over an hour; tenant "quick" sets 0 s, tenant
    // "steady" sets nothing and keeps the hour.
    let app = TestApp::spawn_with_notifier(settings(), true).await;
    let receiver = HttpReceiver::start().await;
    let quick = app.create_tenant("quick").await;
    let steady = app.create_tenant("steady").await;
    let admin = app.token(Role::TenantAdmin, &[quick.id]);
    let technician = app.token(Role::Technician, &[quick.id, steady.id]);
    let steady_admin = app.token(Role::TenantAdmin, &[steady.id]);
    let path = format!("/api/v1/tenants/{}/notification-settings", quick.id);

    let (status, shown) = app.call(Method::GET, &path, &technician, None).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["coalesce_seconds"], Value::Null);
    // Tenant admins and up only; another tenant's admin does not see it.
    let change = json!({"coalesce_seconds": 0});
    let (status, _) = app
        .call(Method::PUT, &path, &technician, Some(change.clone()))
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call(Method::PUT, &path, &steady_admin, Some(change.clone()))
        .await;
    assert_eq!(status, 404);
    // Bad values are 422 naming the field; a missing one is 400; none writes.
    for bad in [json!(86_401), json!(-1), json!(1.5), json!("60")] {
        let (status, body) = app
            .call(
                Method::PUT,
                &path,
                &admin,
                Some(json!({"coalesce_seconds": bad})),
            )
            .await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["error"]["details"]["field"], "coalesce_seconds");
    }
    let (status, body) = app.call(Method::PUT, &path, &admin, Some(json!({}))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        stored(&app, NotificationSetupEvent::SETTINGS_CHANGED).await,
        0
    );
    let (status, set) = app.call(Method::PUT, &path, &admin, Some(change)).await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["coalesce_seconds"], 0);
    let (status, shown) = app.call(Method::GET, &path, &technician, None).await;
    assert_eq!((status, shown["coalesce_seconds"].clone()), (200, json!(0)));
    assert_eq!(
        stored(&app, NotificationSetupEvent::SETTINGS_CHANGED).await,
        1
    );

    // Each tenant: a webhook channel told of opened, acknowledged, resolved.
    let mut incidents = Vec::new();
    for (tenant, token, name) in [
        (&quick, &admin, "quick"),
        (&steady, &steady_admin, "steady"),
    ] {
        let hook = channel(
            &app,
            tenant,
            token,
            json!({"type": "webhook", "name": name, "config": {"url": receiver.url(name)}}),
        )
        .await;
        rule(
            &app,
            tenant,
            token,
            json!({"name": name, "channels": [hook["id"]],
                   "events": ["incident_opened", "incident_acknowledged", "incident_resolved"]}),
        )
        .await;
        let incident = incident_of(
            &app,
            tenant,
            &technician,
            json!([alert(&format!("srv-{name}"), "critical", "disk full")]),
        )
        .await;
        delivered(&app, &technician, &incident, 1).await;
        incidents.push(incident);
    }
    let (quick_incident, steady_incident) = (&incidents[0], &incidents[1]);

    // Acknowledged: "quick" is told at once; "steady" holds it for the next
    // slot, an hour after the first message.
    for incident in &incidents {
        let (status, body) = app
            .call(
                Method::POST,
                &format!("/api/v1/incidents/{incident}/acknowledge"),
                &technician,
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    delivered(&app, &technician, quick_incident, 2).await;
    let held = app
        .get_until(
            &format!("/api/v1/notifications?incident={steady_incident}&status=pending"),
            &technician,
            |page| page["items"].as_array().unwrap().len() == 1,
        )
        .await;
    let held = &held["items"][0];
    let due: chrono::DateTime<chrono::Utc> = held["due_at"].as_str().unwrap().parse().unwrap();
    let requested: chrono::DateTime<chrono::Utc> =
        held["requested_at"].as_str().unwrap().parse().unwrap();
    assert!(
        due - requested > chrono::Duration::minutes(55),
        "not held for the process's hour: {held}"
    );

    // Resolved: "quick" is told at once again; "steady" folds it into the
    // held message's digest.
    for incident in &incidents {
        let (status, body) = app
            .call(
                Method::POST,
                &format!("/api/v1/incidents/{incident}/resolve"),
                &technician,
                Some(json!({"note": "fixed"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    delivered(&app, &technician, quick_incident, 3).await;
    let quick_bodies = receiver.wait_for("quick", 3).await;
    assert_eq!(quick_bodies.len(), 3);
    app.get_until(
        &format!("/api/v1/notifications?incident={steady_incident}&status=pending"),
        &technician,
        |page| page["items"][0]["held_back"] == 1,
    )
    .await;
    let steady_rows =
        notifications(&app, &technician, &format!("incident={steady_incident}")).await;
    assert_eq!(steady_rows.len(), 2, "{steady_rows:?}");
    assert_eq!(receiver.received("steady").len(), 1);
}
