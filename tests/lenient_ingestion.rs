//! Lenient ingestion (issue 15): senders' own payloads that were refused
//! before are stored with defaults and `normalization_warnings`; the tenant's
//! severity map applies; refused deliveries are recorded, listed and counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use alertledger_domain::values::Role;
use serde_json::{json, Value};
use support::{TestApp, TestTenant};

const WATCHDOG: &str = include_str!("fixtures/senders/alertmanager-watchdog-group.json");
const GRAFANA: &str = include_str!("fixtures/senders/grafana-documented-example.json");
const DATADOG: &str = include_str!("fixtures/senders/datadog-default-payload.json");
const PAGERDUTY: &str = include_str!("fixtures/senders/pagerduty-sample-trigger.json");

async fn post(app: &TestApp, tenant: &TestTenant, source: &str, body: &str) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/webhooks/{source}")))
        .header("X-API-Key", &tenant.api_key)
        .header("Content-Type", "application/json")
        .header("X-Request-ID", "req-lenient-1")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The alerts of a 202 answer as the read model shows them.
async fn stored_alerts(app: &TestApp, tenant: &TestTenant, receipt: &Value) -> Vec<Value> {
    let token = app.token(Role::TenantAdmin, &[tenant.id]);
    let mut alerts = Vec::new();
    for alert in receipt["alerts"].as_array().unwrap() {
        app.wait_until_consumed("alerts", alert["position"].as_i64().unwrap())
            .await;
        let id = alert["alert_id"].as_str().unwrap();
        let response = app
            .client
            .get(app.url(&format!("/api/v1/alerts/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        alerts.push(response.json().await.unwrap());
    }
    alerts
}

fn warned(alert: &Value, field: &str) -> bool {
    alert["normalization_warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["field"] == field)
}

#[tokio::test]
async fn a_watchdog_group_mixing_good_and_odd_alerts_stores_all_of_them() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let (status, receipt) = post(&app, &tenant, "alertmanager", WATCHDOG).await;
    assert_eq!(status, 202, "{receipt}");
    assert_eq!(receipt["accepted"], 3);
    let alerts = stored_alerts(&app, &tenant, &receipt).await;
    let by_signature = |name: &str| {
        alerts
            .iter()
            .find(|a| a["signature"] == name)
            .unwrap_or_else(|| panic!("{name} stored: {alerts:?}"))
    };

    let watchdog = by_signature("Watchdog");
    assert_eq!(watchdog["asset"], "unknown");
    assert_eq!(
        watchdog["severity"], "low",
        "severity none is a built-in word"
    );
    assert_eq!(watchdog["fingerprint"], "e4d2c5ad3b0a7b9c");
    assert!(warned(watchdog, "alerts[0].labels.instance"), "{watchdog}");

    let crash = by_signature("KubePodCrashLooping");
    assert_eq!(crash["asset"], "payments-api-7d9f8b6c5-x2x9q");
    assert_eq!(crash["severity"], "high", "P2");
    assert_eq!(crash["normalization_warnings"], json!([]));

    let disk = by_signature("NodeFilesystemAlmostFull");
    assert_eq!(disk["asset"], "node-3");
    assert_eq!(disk["status"], "resolved");
    assert_eq!(disk["severity"], "medium");
    assert!(warned(disk, "alerts[2].labels.severity"), "{disk}");

    // The warnings ride inside the AlertReceived event, nothing else is written.
    let warnings: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'AlertReceived'
            AND payload -> 'AlertReceived' ? 'normalization_warnings'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(warnings, 2);
    assert_eq!(app.stored("DeliveryRejected").await, 0);
}

#[tokio::test]
async fn grafana_datadog_and_pagerduty_documented_payloads_are_accepted() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;

    let (status, receipt) = post(&app, &tenant, "grafana", GRAFANA).await;
    assert_eq!(status, 202, "{receipt}");
    assert_eq!(receipt["accepted"], 2);
    for alert in stored_alerts(&app, &tenant, &receipt).await {
        assert_eq!(alert["asset"], "unknown");
        assert_eq!(alert["severity"], "medium");
        assert_eq!(alert["tool_source"], "grafana");
        assert!(!alert["normalization_warnings"]
            .as_array()
            .unwrap()
            .is_empty());
    }

    let (status, receipt) = post(&app, &tenant, "datadog", DATADOG).await;
    assert_eq!(status, 202, "{receipt}");
    let alert = &stored_alerts(&app, &tenant, &receipt).await[0];
    assert_eq!(alert["asset"], "unknown");
    assert_eq!(alert["signature"], "CPU usage is high");
    assert!(warned(alert, "hostname"), "{alert}");

    let (status, receipt) = post(&app, &tenant, "pagerduty", PAGERDUTY).await;
    assert_eq!(status, 202, "{receipt}");
    let alert = &stored_alerts(&app, &tenant, &receipt).await[0];
    assert_eq!(alert["asset"], "host1.example.com");
    assert_eq!(alert["severity"], "low");
    assert_eq!(alert["occurred_at"], "2015-07-17T08:42:58.315Z");
    assert_eq!(alert["normalization_warnings"], json!([]));
    assert_eq!(app.stored("DeliveryRejected").await, 0);
}

#[tokio::test]
async fn the_tenant_severity_map_is_configuration_with_an_actor_and_applies_to_every_source() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let other = app.create_tenant("other").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let path = format!("/api/v1/tenants/{}/severity-map", tenant.id);

    let bad = app
        .client
        .put(app.url(&path))
        .bearer_auth(&admin)
        .json(&json!({"Sev-A": "urgent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "Sev-A");

    let engineer = app.token(Role::Technician, &[tenant.id]);
    let forbidden = app
        .client
        .put(app.url(&path))
        .bearer_auth(&engineer)
        .json(&json!({"catastrophic": "critical"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    let elsewhere = app
        .client
        .put(app.url(&format!("/api/v1/tenants/{}/severity-map", other.id)))
        .bearer_auth(&admin)
        .json(&json!({"catastrophic": "critical"}))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);

    let put = app
        .client
        .put(app.url(&path))
        .bearer_auth(&admin)
        .json(&json!({"Catastrophic": "critical", "NONE": "medium"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let got: Value = app
        .client
        .get(app.url(&path))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        got["severity_map"],
        json!({"catastrophic": "critical", "none": "medium"})
    );
    let actor: Value = sqlx::query_scalar(
        "SELECT payload -> 'SeverityMapChanged' -> 'actor' FROM events
          WHERE event_type = 'SeverityMapChanged'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(actor["user_id"], "user-tenant_admin", "{actor}");

    let (status, receipt) = post(&app, &tenant, "alertmanager", WATCHDOG).await;
    assert_eq!(status, 202, "{receipt}");
    let alerts = stored_alerts(&app, &tenant, &receipt).await;
    let severity =
        |name: &str| alerts.iter().find(|a| a["signature"] == name).unwrap()["severity"].clone();
    assert_eq!(severity("NodeFilesystemAlmostFull"), "critical");
    assert_eq!(severity("Watchdog"), "medium", "the tenant's word wins");
}

#[tokio::test]
async fn an_unparseable_body_is_400_recorded_listed_and_counted_and_nothing_else_is_written() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let other = app.create_tenant("other").await;
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(app.db.pool())
        .await
        .unwrap();

    let body = format!("{{\"alerts\": [ broken {}", tenant.api_key);
    let (status, answer) = post(&app, &tenant, "alertmanager", &body).await;
    assert_eq!(status, 400, "{answer}");
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(
        after - before,
        1,
        "one DeliveryRejected event, nothing else"
    );
    assert_eq!(app.stored("DeliveryRejected").await, 1);

    let token = app.token(Role::TenantAdmin, &[tenant.id]);
    let page = app
        .get_until(
            "/api/v1/deliveries?status=rejected&source=alertmanager",
            &token,
            |page| {
                page["items"]
                    .as_array()
                    .is_some_and(|items| !items.is_empty())
            },
        )
        .await;
    let item = &page["items"][0];
    assert_eq!(item["status"], 400);
    assert_eq!(item["code"], "malformed_json");
    assert_eq!(item["source"], "alertmanager");
    assert_eq!(item["request_id"], "req-lenient-1");
    assert_eq!(item["body_bytes"], body.len());
    assert!(item["body_excerpt"]
        .as_str()
        .unwrap()
        .starts_with("{\"alerts\": [ broken"));
    assert!(
        !item["body_excerpt"]
            .as_str()
            .unwrap()
            .contains(&tenant.api_key),
        "the API key never lands in the log"
    );
    assert_eq!(item["body_sha256"].as_str().unwrap().len(), 64);

    // Tenant-scoped, filtered by source, paginated.
    let theirs = app.token(Role::TenantAdmin, &[other.id]);
    let empty = app
        .get_until("/api/v1/deliveries?status=rejected", &theirs, |_| true)
        .await;
    assert_eq!(empty["items"], json!([]));
    let none = app
        .get_until("/api/v1/deliveries?source=datadog", &token, |_| true)
        .await;
    assert_eq!(none["items"], json!([]));
    let (status, _) = post(&app, &tenant, "generic", "[]").await;
    assert_eq!(status, 422);
    let first = app
        .get_until("/api/v1/deliveries?limit=1", &token, |page| {
            page["next_cursor"].is_string()
        })
        .await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app
        .get_until(
            &format!("/api/v1/deliveries?limit=1&cursor={cursor}"),
            &token,
            |_| true,
        )
        .await;
    assert_eq!(second["items"][0]["code"], "malformed_json");
    let bad_status = app
        .client
        .get(app.url("/api/v1/deliveries?status=accepted"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_status.status(), 422);

    // Without a valid key: counted, not recorded.
    let stranger = app
        .client
        .post(app.url("/api/v1/webhooks/alertmanager"))
        .header("X-API-Key", "alk_not_a_key")
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 401);
    assert_eq!(app.stored("DeliveryRejected").await, 2);

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"alertledger_webhook_deliveries_total{source="alertmanager",outcome="rejected"} 1"#,
        r#"alertledger_webhook_deliveries_total{source="alertmanager",outcome="unauthorized"} 1"#,
        r#"alertledger_webhook_deliveries_total{source="generic",outcome="rejected"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn a_delivery_over_the_alert_limit_is_413_naming_it() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let alerts: Vec<Value> = (0..1001)
        .map(|i| {
            json!({"asset_name": format!("h{i}"), "signature": "s", "severity": "low", "message": "m"})
        })
        .collect();
    let (status, answer) = post(&app, &tenant, "generic", &Value::from(alerts).to_string()).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["error"]["details"]["limit"], "alerts_per_delivery");
    assert_eq!(answer["error"]["details"]["max"], 1000);
    assert_eq!(app.stored("AlertReceived").await, 0);
}

#[tokio::test]
async fn the_alerts_list_keeps_only_alerts_with_warnings_when_asked() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("warned").await;
    let body = json!([
        {"asset_name": "plain", "signature": "Disk", "severity": "high", "message": "m"},
        {"asset_name": "odd", "signature": "Disk", "severity": "sev-weird", "message": "m"}
    ]);
    let (status, receipt) = post(&app, &tenant, "generic", &body.to_string()).await;
    assert_eq!(status, 202, "{receipt}");
    stored_alerts(&app, &tenant, &receipt).await;
    let token = app.token(Role::Viewer, &[tenant.id]);
    let list = |query: &'static str| {
        let request = app
            .client
            .get(app.url(&format!("/api/v1/alerts{query}")))
            .bearer_auth(&token);
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let assets = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["asset"].as_str().unwrap().to_owned())
            .collect()
    };

    let (status, warned_only) = list("?warnings=true").await;
    assert_eq!(status, 200);
    assert_eq!(assets(&warned_only), ["odd"]);
    let (_, all) = list("?warnings=false").await;
    assert_eq!(assets(&all).len(), 2);
    let (_, default) = list("").await;
    assert_eq!(assets(&default).len(), 2);
    let (status, refused) = list("?warnings=maybe").await;
    assert_eq!(status, 422);
    assert_eq!(refused["error"]["details"]["field"], "warnings");
}
