//! Signed webhooks end to end: secrets issued over the API, signing required,
//! both header styles, rotation, and nothing stored for a rejected request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use alertledger_api::auth::signing::{sign_standard, sign_x_signature, SecretBytes};
use alertledger_domain::values::Role;
use serde_json::{json, Value};
use support::{generic_alert, TestApp, TestTenant};

struct Signed<'a> {
    app: &'a TestApp,
    tenant: &'a TestTenant,
}

impl Signed<'_> {
    async fn post(&self, body: &[u8], headers: &[(&str, String)]) -> reqwest::Response {
        let mut request = self
            .app
            .client
            .post(self.app.url("/api/v1/webhooks/generic"))
            .header("X-API-Key", &self.tenant.api_key)
            .header("Content-Type", "application/json")
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.send().await.unwrap()
    }

    async fn x_signed(&self, secret: &SecretBytes, timestamp: i64, body: &[u8]) -> u16 {
        let signature = sign_x_signature(secret, timestamp, body);
        let headers = [
            ("X-Timestamp", timestamp.to_string()),
            ("X-Signature", signature),
        ];
        self.post(body, &headers).await.status().as_u16()
    }
}

async fn add_secret(app: &TestApp, tenant: &TestTenant) -> (String, SecretBytes) {
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let response = app
        .client
        .post(app.url(&format!("/api/v1/tenants/{}/webhook-secrets", tenant.id)))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let secret = body["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    (
        body["secret_id"].as_str().unwrap().to_owned(),
        SecretBytes::parse_display(secret).unwrap(),
    )
}

async fn configure(
    app: &TestApp,
    tenant: &TestTenant,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> u16 {
    let mut request = app
        .client
        .request(
            method,
            app.url(&format!("/api/v1/tenants/{}{path}", tenant.id)),
        )
        .bearer_auth(app.token(Role::TenantAdmin, &[tenant.id]));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_tenant_requiring_signatures_accepts_only_correctly_signed_fresh_requests() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let signed = Signed {
        app: &app,
        tenant: &tenant,
    };
    let put = reqwest::Method::PUT;
    let required = Some(json!({ "required": true }));

    // Signing cannot be required before a secret exists.
    assert_eq!(
        configure(
            &app,
            &tenant,
            put.clone(),
            "/webhook-signing",
            required.clone()
        )
        .await,
        409
    );
    let (first_id, first) = add_secret(&app, &tenant).await;
    assert_eq!(
        configure(&app, &tenant, put.clone(), "/webhook-signing", required).await,
        200
    );

    let body = serde_json::to_vec(&generic_alert("web01")).unwrap();
    let now = chrono::Utc::now().timestamp();
    assert_eq!(signed.post(&body, &[]).await.status(), 401, "unsigned");
    assert_eq!(
        signed.x_signed(&first, now, &body).await,
        202,
        "X-Signature"
    );
    let standard = sign_standard(&first, "msg-1", now, &body);
    let headers = [
        ("webhook-id", "msg-1".to_owned()),
        ("webhook-timestamp", now.to_string()),
        ("webhook-signature", standard),
    ];
    assert_eq!(
        signed.post(&body, &headers).await.status(),
        202,
        "Standard Webhooks"
    );

    let stranger = SecretBytes::from_bytes([7; 32]);
    let other_body = serde_json::to_vec(&generic_alert("web02")).unwrap();
    assert_eq!(
        signed.x_signed(&stranger, now, &other_body).await,
        401,
        "wrong secret"
    );
    assert_eq!(
        signed.x_signed(&first, now - 310, &other_body).await,
        401,
        "stale"
    );
    assert_eq!(
        signed.x_signed(&first, now + 310, &other_body).await,
        401,
        "from the future"
    );
    let signature = sign_x_signature(&first, now, &other_body);
    let mut tampered = other_body.clone();
    tampered[20] ^= 1;
    let headers = [("X-Timestamp", now.to_string()), ("X-Signature", signature)];
    let response = signed.post(&tampered, &headers).await;
    assert_eq!(response.status(), 401, "tampered body");
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_signature");

    // Rotation: two secrets work side by side; the revoked one stops.
    let (_, second) = add_secret(&app, &tenant).await;
    assert_eq!(
        signed
            .x_signed(
                &first,
                now,
                &serde_json::to_vec(&generic_alert("r1")).unwrap()
            )
            .await,
        202
    );
    assert_eq!(
        signed
            .x_signed(
                &second,
                now,
                &serde_json::to_vec(&generic_alert("r2")).unwrap()
            )
            .await,
        202
    );
    let revoke = format!("/webhook-secrets/{first_id}");
    assert_eq!(
        configure(&app, &tenant, reqwest::Method::DELETE, &revoke, None).await,
        204
    );
    assert_eq!(
        signed
            .x_signed(
                &first,
                now,
                &serde_json::to_vec(&generic_alert("r3")).unwrap()
            )
            .await,
        401
    );
    assert_eq!(
        signed
            .x_signed(
                &second,
                now,
                &serde_json::to_vec(&generic_alert("r4")).unwrap()
            )
            .await,
        202
    );

    // Accepted: web01 twice (the Standard Webhooks request's `webhook-id` is a
    // delivery key of its own), r1, r2, r4. Nothing of a rejected request.
    let assets: Vec<String> = sqlx::query_scalar(
        "SELECT payload -> 'AlertReceived' ->> 'asset' FROM events WHERE event_type = 'AlertReceived' ORDER BY position",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(assets, ["web01", "web01", "r1", "r2", "r4"]);

    // The log holds secret ids, never secret material.
    let log: Vec<String> = sqlx::query_scalar("SELECT payload::text || metadata::text FROM events")
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    for secret in [&first, &second] {
        assert!(!log.iter().any(|row| row.contains(&secret.to_display())));
    }
}

#[tokio::test]
async fn a_tool_that_signs_is_checked_even_when_signing_is_optional() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let signed = Signed {
        app: &app,
        tenant: &tenant,
    };
    let (_, secret) = add_secret(&app, &tenant).await;
    let body = serde_json::to_vec(&generic_alert("web01")).unwrap();
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        signed.post(&body, &[]).await.status(),
        202,
        "unsigned is fine while optional"
    );
    let wrong = SecretBytes::from_bytes([9; 32]);
    let body = serde_json::to_vec(&generic_alert("web02")).unwrap();
    assert_eq!(
        signed.x_signed(&wrong, now, &body).await,
        401,
        "a bad signature is never ignored"
    );
    assert_eq!(signed.x_signed(&secret, now, &body).await, 202);
}
