//! Signing and delivery keys (issue 15, item 6): the secret as issued keys
//! `X-Signature` too; a signed `webhook-id` is the delivery key whatever
//! unsigned headers say; a sender cannot pre-register a tool-derived key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use alertledger_api::auth::signing::{sign_standard, sign_x_signature_as_issued, SecretBytes};
use alertledger_domain::values::Role;
use serde_json::{json, Value};
use support::{generic_alert, TestApp, TestTenant};

async fn require_signing(app: &TestApp, tenant: &TestTenant) -> SecretBytes {
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let response = app
        .client
        .post(app.url(&format!("/api/v1/tenants/{}/webhook-secrets", tenant.id)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let secret = SecretBytes::parse_display(body["secret"].as_str().unwrap()).unwrap();
    let response = app
        .client
        .put(app.url(&format!("/api/v1/tenants/{}/webhook-signing", tenant.id)))
        .bearer_auth(&admin)
        .json(&json!({"required": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    secret
}

async fn post(
    app: &TestApp,
    tenant: &TestTenant,
    source: &str,
    body: &[u8],
    headers: &[(&str, String)],
) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url(&format!("/api/v1/webhooks/{source}")))
        .header("X-API-Key", &tenant.api_key)
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_github_or_stripe_style_signature_keyed_with_the_secret_as_issued_is_accepted() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let secret = require_signing(&app, &tenant).await;
    let body = generic_alert("web01").to_string();
    let now = chrono::Utc::now().timestamp();
    let signature = sign_x_signature_as_issued(&secret, now, body.as_bytes());
    let headers = [("X-Timestamp", now.to_string()), ("X-Signature", signature)];
    let (status, answer) = post(&app, &tenant, "generic", body.as_bytes(), &headers).await;
    assert_eq!(status, 202, "{answer}");

    // Tampered: refused (and recorded).
    let tampered = generic_alert("web02").to_string();
    let (status, _) = post(&app, &tenant, "generic", tampered.as_bytes(), &headers).await;
    assert_eq!(status, 401);
    assert_eq!(app.stored("AlertReceived").await, 1);
}

#[tokio::test]
async fn a_replayed_standard_webhooks_request_with_a_new_idempotency_key_is_a_duplicate() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let secret = require_signing(&app, &tenant).await;
    let body = generic_alert("web01").to_string();
    let now = chrono::Utc::now().timestamp();
    let signature = sign_standard(
        &secret,
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        now,
        body.as_bytes(),
    );
    let signed = |key: &str| {
        vec![
            ("webhook-id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W".to_owned()),
            ("webhook-timestamp", now.to_string()),
            ("webhook-signature", signature.clone()),
            ("Idempotency-Key", key.to_owned()),
            ("X-Delivery-ID", format!("{key}-x")),
        ]
    };
    let (status, first) = post(&app, &tenant, "generic", body.as_bytes(), &signed("a")).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["accepted"], 1);
    let (status, replay) = post(&app, &tenant, "generic", body.as_bytes(), &signed("b")).await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay["duplicates"], 1, "{replay}");
    assert_eq!(
        replay["alerts"][0]["alert_id"],
        first["alerts"][0]["alert_id"]
    );
    assert_eq!(app.stored("AlertReceived").await, 1);
    let key: String = sqlx::query_scalar(
        "SELECT payload -> 'AlertReceived' ->> 'delivery_key' FROM events WHERE event_type = 'AlertReceived'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(key, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W");
}

#[tokio::test]
async fn pre_registering_a_tool_derived_key_does_not_suppress_the_real_alert() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let problem = json!({"event_id": "4242", "event_name": "Disk full", "severity": "High",
                         "host": "db01", "event_value": "1", "trigger_id": "77"});
    // The attacker claims the key the real problem will derive: zabbix:4242:1.
    let decoy = generic_alert("decoy").to_string();
    let (status, _) = post(
        &app,
        &tenant,
        "generic",
        decoy.as_bytes(),
        &[("Idempotency-Key", "zabbix:4242:1".to_owned())],
    )
    .await;
    assert_eq!(status, 202);
    let (status, real) = post(&app, &tenant, "zabbix", problem.to_string().as_bytes(), &[]).await;
    assert_eq!(status, 202, "{real}");
    assert_eq!(real["accepted"], 1, "the real alert is stored: {real}");
    assert_eq!(real["duplicates"], 0);
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT payload -> 'AlertReceived' ->> 'delivery_key' FROM events
          WHERE event_type = 'AlertReceived' ORDER BY position",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(keys, ["sender:zabbix:4242:1", "zabbix:4242:1"]);
}

#[tokio::test]
async fn the_rate_limit_counts_alerts_not_requests() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let response = app
        .client
        .put(app.url(&format!("/api/v1/tenants/{}/rate-limit", tenant.id)))
        .bearer_auth(&admin)
        .json(&json!({"requests_per_minute": 1, "burst": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let batch = |n: usize| {
        Value::from(
            (0..n)
                .map(|i| generic_alert(&format!("h{i}")))
                .collect::<Vec<_>>(),
        )
        .to_string()
    };
    // 7 alerts can never fit a burst of 5 (the request's own token is taken).
    let (status, answer) = post(&app, &tenant, "generic", batch(7).as_bytes(), &[]).await;
    assert_eq!(status, 429, "more alerts than the burst: {answer}");
    assert_eq!(answer["error"]["details"]["limit"], "rate_limit_burst");
    let (status, answer) = post(&app, &tenant, "generic", batch(3).as_bytes(), &[]).await;
    assert_eq!(status, 202, "{answer}");
    // 1 (the refused request) + 3 taken of 5: a request of 2 alerts is over.
    let (status, _) = post(&app, &tenant, "generic", batch(2).as_bytes(), &[]).await;
    assert_eq!(status, 429);
}
