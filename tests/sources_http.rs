//! Real tools' payloads over HTTP: Alertmanager (the real fixture), CloudWatch
//! through SNS, and PagerDuty's trigger / acknowledge / resolve lifecycle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{json, Value};
use support::{TestApp, TestTenant};

const ALERTMANAGER_V4: &str = include_str!("../../shared/fixtures/alertmanager-v4.json");

async fn post(
    app: &TestApp,
    tenant: &TestTenant,
    source: &str,
    content_type: &str,
    body: String,
) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/webhooks/{source}")))
        .header("X-API-Key", &tenant.api_key)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn count(app: &TestApp, event_type: &str) -> i64 {
    app.stored(event_type).await
}

#[tokio::test]
async fn the_real_alertmanager_payload_stores_its_alerts_once_and_its_resolution_closes_them() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;

    let (status, receipt) = post(
        &app,
        &tenant,
        "alertmanager",
        "application/json",
        ALERTMANAGER_V4.to_owned(),
    )
    .await;
    assert_eq!(status, 202, "{receipt}");
    assert_eq!(receipt["accepted"], 2);
    let (_, again) = post(
        &app,
        &tenant,
        "alertmanager",
        "application/json",
        ALERTMANAGER_V4.to_owned(),
    )
    .await;
    assert_eq!(
        again["duplicates"], 2,
        "Alertmanager's re-notification is the same delivery"
    );
    assert_eq!(count(&app, "AlertReceived").await, 2);

    let stored: Value = sqlx::query_scalar(
        "SELECT payload -> 'AlertReceived' FROM events
          WHERE event_type = 'AlertReceived' AND payload -> 'AlertReceived' ->> 'asset' = 'web01'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(stored["asset"], "web01");
    assert_eq!(stored["signature"], "HighCPU");
    assert_eq!(stored["severity"], "critical");
    assert_eq!(stored["tool_source"], "prometheus");
    assert_eq!(stored["fingerprint"], "b73f0becb1235e33");

    let mut resolved: Value = serde_json::from_str(ALERTMANAGER_V4).unwrap();
    resolved["status"] = json!("resolved");
    resolved["alerts"][0]["status"] = json!("resolved");
    resolved["alerts"][0]["endsAt"] = json!("2026-11-22T03:30:00Z");
    resolved["alerts"] = json!([resolved["alerts"][0].clone()]);
    let (status, _) = post(
        &app,
        &tenant,
        "alertmanager",
        "application/json",
        resolved.to_string(),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(
        count(&app, "AlertResolvedBySource").await,
        1,
        "web01 resolved, web02 still firing"
    );
}

fn sns_envelope(kind: &str, message_id: &str, message: String) -> Value {
    let mut envelope = json!({
        "Type": kind,
        "MessageId": message_id,
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:alertledger",
        "Message": message,
        // SNS's publication time: checked against arrival (300 s either way).
        "Timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "SignatureVersion": "1",
        "Signature": "",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000.pem"
    });
    if kind == "SubscriptionConfirmation" {
        envelope["Token"] = json!("2336412f37fb687f5d51e6e241d09c80");
        envelope["SubscribeURL"] =
            json!("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:alertledger&Token=2336412f37");
    } else {
        envelope["Subject"] = json!("ALARM: \"web01-cpu-high\" in EU (Ireland)");
    }
    envelope
}

fn alarm(state: &str, at: &str) -> String {
    json!({
        "AlarmName": "web01-cpu-high", "AlarmDescription": "CPU above 90% for 5 minutes",
        "AWSAccountId": "123456789012", "NewStateValue": state, "NewStateReason": "Threshold Crossed",
        "StateChangeTime": at, "Region": "EU (Ireland)",
        "AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web01-cpu-high", "OldStateValue": "OK",
        "Trigger": { "MetricName": "CPUUtilization", "Namespace": "AWS/EC2",
                     "Dimensions": [{ "value": "i-0abc123def4567890", "name": "InstanceId" }] }
    })
    .to_string()
}

#[tokio::test]
async fn cloudwatch_through_sns_records_the_subscription_request_then_alarms_and_their_recovery() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;

    let confirmation = sns_envelope(
        "SubscriptionConfirmation",
        "sub-1",
        "You have chosen to subscribe".into(),
    );
    let (status, body) = post(
        &app,
        &tenant,
        "cloudwatch",
        "text/plain; charset=UTF-8",
        confirmation.to_string(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert!(body["subscription_confirmation"]["subscribe_url"]
        .as_str()
        .unwrap()
        .starts_with("https://sns."));
    assert_eq!(count(&app, "SnsSubscriptionRequested").await, 1);
    post(
        &app,
        &tenant,
        "cloudwatch",
        "text/plain",
        confirmation.to_string(),
    )
    .await;
    assert_eq!(
        count(&app, "SnsSubscriptionRequested").await,
        1,
        "SNS retries are recorded once"
    );

    let firing = sns_envelope(
        "Notification",
        "msg-1",
        alarm("ALARM", "2026-11-22T03:07:32.123+0000"),
    );
    let (status, body) = post(
        &app,
        &tenant,
        "cloudwatch",
        "text/plain",
        firing.to_string(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let recovered = sns_envelope(
        "Notification",
        "msg-2",
        alarm("OK", "2026-11-22T03:20:00.000+0000"),
    );
    assert_eq!(
        post(
            &app,
            &tenant,
            "cloudwatch",
            "text/plain",
            recovered.to_string()
        )
        .await
        .0,
        202
    );
    assert_eq!(count(&app, "AlertReceived").await, 2);
    assert_eq!(count(&app, "AlertResolvedBySource").await, 1);
}

#[tokio::test]
async fn a_pagerduty_incident_is_triggered_acknowledged_and_resolved_on_one_alert() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let event = |action: &str| {
        json!({
            "routing_key": "R0UT1NGK3Y", "event_action": action, "dedup_key": "srv01/disk",
            "payload": { "summary": "Disk almost full on srv01", "source": "srv01", "severity": "error",
                          "timestamp": "2026-11-22T03:07:32Z", "component": "disk", "class": "disk_full" }
        })
        .to_string()
    };
    let (status, triggered) = post(
        &app,
        &tenant,
        "pagerduty",
        "application/json",
        event("trigger"),
    )
    .await;
    assert_eq!(status, 202, "{triggered}");
    let alert_id = triggered["alerts"][0]["alert_id"].clone();

    let (status, acknowledged) = post(
        &app,
        &tenant,
        "pagerduty",
        "application/json",
        event("acknowledge"),
    )
    .await;
    assert_eq!(status, 202, "{acknowledged}");
    assert_eq!(
        acknowledged["alerts"][0]["alert_id"], alert_id,
        "the acknowledgement names the alert it acknowledged"
    );
    assert_eq!(count(&app, "AlertAcknowledged").await, 1);
    assert_eq!(
        count(&app, "AlertReceived").await,
        1,
        "an acknowledgement is no new alert"
    );

    assert_eq!(
        post(
            &app,
            &tenant,
            "pagerduty",
            "application/json",
            event("resolve")
        )
        .await
        .0,
        202
    );
    assert_eq!(count(&app, "AlertResolvedBySource").await, 1);
    let routing_keys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE payload::text LIKE '%R0UT1NGK3Y%'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(
        routing_keys, 0,
        "PagerDuty's routing key is a credential and never stored"
    );
}
