//! End to end over HTTP: the application on port 0 against a fresh database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use alertledger_domain::values::Role;
use serde_json::{json, Value};
use support::{generic_alert, TestApp};

#[tokio::test]
async fn a_posted_generic_alert_can_be_read_back_from_the_event_log() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;

    let response = app.post_alert(&tenant, &generic_alert("web01")).await;
    assert_eq!(response.status(), 202);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["accepted"], 1);
    assert_eq!(receipt["duplicates"], 0);
    let alert_id = receipt["alerts"][0]["alert_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let position = receipt["alerts"][0]["position"].as_i64().unwrap();

    let token = app.token(Role::Viewer, &[tenant.id]);
    let path = "/api/v1/events?types=AlertReceived";
    let events = app
        .get_until(path, &token, |body| {
            !body["items"].as_array().unwrap().is_empty()
        })
        .await;
    let event = &events["items"][0];
    assert_eq!(event["position"], position);
    assert_eq!(event["aggregate_type"], "Alert");
    assert_eq!(event["aggregate_id"], alert_id.as_str());
    assert_eq!(event["tenant_id"], tenant.id.to_string());
    let received = &event["payload"]["AlertReceived"];
    assert_eq!(received["asset"], "web01");
    assert_eq!(received["severity"], "critical");
    assert_eq!(received["tool_source"], "prometheus");
    assert_eq!(
        received["asset_known"], false,
        "unregistered assets are accepted and flagged"
    );
    assert_eq!(
        event["metadata"]["actor"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("api_key")
    );
    assert!(event["metadata"]["request_id"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_deliveries_arriving_at_once_store_exactly_one_alert() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;

    let requests = (0..50).map(|_| {
        app.client
            .post(app.url("/api/v1/webhooks/generic"))
            .header("X-API-Key", &tenant.api_key)
            .header("Idempotency-Key", "delivery-42")
            .json(&generic_alert("web01"))
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut alert_ids = std::collections::HashSet::new();
    let mut originals = 0;
    for response in responses {
        let response = response.unwrap();
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.unwrap();
        alert_ids.insert(body["alerts"][0]["alert_id"].as_str().unwrap().to_owned());
        if body["alerts"][0]["duplicate"] == false {
            originals += 1;
        }
    }
    assert_eq!(alert_ids.len(), 1, "every answer names the same alert");
    assert_eq!(originals, 1, "exactly one answer is the original");
    assert_eq!(app.stored("AlertReceived").await, 1);
}

#[tokio::test]
async fn a_tenant_never_sees_another_tenants_events() {
    let app = TestApp::spawn().await;
    let (acme, globex) = (
        app.create_tenant("acme").await,
        app.create_tenant("globex").await,
    );
    let acme_receipt: Value = app
        .post_alert(&acme, &generic_alert("acme-web"))
        .await
        .json()
        .await
        .unwrap();
    app.post_alert(&globex, &generic_alert("globex-web")).await;

    let globex_token = app.token(Role::TenantAdmin, &[globex.id]);
    let events = app
        .get_until(
            "/api/v1/events?types=AlertReceived",
            &globex_token,
            |body| !body["items"].as_array().unwrap().is_empty(),
        )
        .await;
    let items = events["items"].as_array().unwrap();
    assert!(items
        .iter()
        .all(|e| e["tenant_id"] == globex.id.to_string()));
    assert_eq!(items.len(), 1);

    let foreign_filter = app
        .client
        .get(app.url(&format!("/api/v1/events?tenant={}", acme.id)))
        .bearer_auth(&globex_token)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_filter.status(), 404);
    let foreign_position = acme_receipt["alerts"][0]["position"].as_i64().unwrap();
    let foreign_cursor = app
        .client
        .get(app.url(&format!("/api/v1/events?after={foreign_position}")))
        .bearer_auth(&globex_token)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_cursor.status(), 404);

    // The MSP admin sees both.
    let admin = app.token(Role::MspAdmin, &[]);
    app.get_until("/api/v1/events?types=AlertReceived", &admin, |body| {
        body["items"].as_array().unwrap().len() == 2
    })
    .await;
}

#[tokio::test]
async fn bad_requests_get_the_error_body_and_write_nothing() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let post = |body: String, content_type: &'static str, key: Option<String>| {
        let mut request = app
            .client
            .post(app.url("/api/v1/webhooks/generic"))
            .header("Content-Type", content_type)
            .body(body);
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        request.send()
    };
    let key = Some(tenant.api_key.clone());
    let valid = generic_alert("web01").to_string();
    let mut invalid = generic_alert("web02");
    // An odd severity is stored with a warning; our own format's limits are not.
    invalid["asset_name"] = json!("w".repeat(300));
    let batch_with_one_invalid = json!([generic_alert("web01"), invalid]).to_string();
    let oversized = format!("[{}]", vec![valid.as_str(); 8_000].join(","));

    let cases = [
        (
            post(valid.clone(), "application/json", None).await.unwrap(),
            401,
            "unauthorized",
        ),
        (
            post(valid.clone(), "application/json", Some("alk_nope".into()))
                .await
                .unwrap(),
            401,
            "unauthorized",
        ),
        (
            post(valid.clone(), "text/plain", key.clone())
                .await
                .unwrap(),
            415,
            "unsupported_media_type",
        ),
        (
            post("{\"asset_name\": ".into(), "application/json", key.clone())
                .await
                .unwrap(),
            400,
            "malformed_json",
        ),
        (
            post("{}".into(), "application/json", key.clone())
                .await
                .unwrap(),
            400,
            "missing_field",
        ),
        (
            post(batch_with_one_invalid, "application/json", key.clone())
                .await
                .unwrap(),
            422,
            "invalid_value",
        ),
        (
            post(oversized, "application/json", key.clone())
                .await
                .unwrap(),
            413,
            "payload_too_large",
        ),
    ];
    for (response, status, code) in cases {
        assert_eq!(response.status(), status);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(
        app.stored("AlertReceived").await,
        0,
        "a rejected request writes nothing"
    );
}

#[tokio::test]
async fn the_event_log_pages_with_a_cursor_and_exports_ndjson() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let batch: Vec<Value> = (0..5)
        .map(|n| generic_alert(&format!("web{n:02}")))
        .collect();
    assert_eq!(app.post_alert(&tenant, &json!(batch)).await.status(), 202);
    let token = app.token(Role::Viewer, &[tenant.id]);

    let first = app
        .get_until("/api/v1/events?types=AlertReceived&limit=3", &token, |b| {
            b["items"].as_array().unwrap().len() == 3
        })
        .await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a full page has a next cursor");
    let second = app
        .get_until(
            &format!("/api/v1/events?types=AlertReceived&limit=3&after={cursor}"),
            &token,
            |_| true,
        )
        .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    assert!(second["next_cursor"].is_null());
    let positions: Vec<i64> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions.len(), 5);
    assert!(positions.windows(2).all(|w| w[0] != w[1]));

    let export = app
        .client
        .get(app.url("/api/v1/events?types=AlertReceived"))
        .bearer_auth(&token)
        .header("Accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(export.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = export
        .text()
        .await
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let exported: Vec<i64> = lines
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert_eq!(exported, positions);

    for bad in ["limit=0", "limit=501", "after=-1", "tenant=not-a-uuid"] {
        let response = app
            .client
            .get(app.url(&format!("/api/v1/events?{bad}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{bad}");
    }
    let unknown = app
        .client
        .get(app.url("/api/v1/events?after=999999"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    let health: Value = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    let unknown = app
        .client
        .get(app.url("/api/v1/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["code"], "route_not_found");
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401() {
    use alertledger_api::auth::jwt::{
        Claims, TokenIssuer, TokenRequest, DEFAULT_AUDIENCE, DEFAULT_ISSUER,
    };

    let app = TestApp::spawn().await;
    let request = TokenRequest {
        sub: "u1".into(),
        name: "U".into(),
        role: Role::MspAdmin,
        tenants: vec![],
        ttl: std::time::Duration::from_secs(600),
    };
    let token_from = |issuer: &str, audience: &str| {
        TokenIssuer::hs256(support::JWT_SECRET, issuer, audience)
            .unwrap()
            .issue(&request)
            .unwrap()
    };
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &Claims {
            sub: "u1".into(),
            name: "U".into(),
            role: "msp_admin".into(),
            tenants: vec![],
            exp: chrono::Utc::now().timestamp() - 3_600,
            iat: chrono::Utc::now().timestamp() - 7_200,
            iss: DEFAULT_ISSUER.into(),
            aud: DEFAULT_AUDIENCE.into(),
            nbf: None,
            sid: None,
            jti: None,
        },
        &jsonwebtoken::EncodingKey::from_secret(support::JWT_SECRET),
    )
    .unwrap();
    let forged_none =
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4Iiwicm9sZSI6Im1zcF9hZG1pbiJ9.";
    let cases = [
        None,
        Some("Bearer not-a-jwt".to_owned()),
        Some(format!("Bearer {forged_none}")),
        Some(format!(
            "Bearer {}",
            token_from(DEFAULT_ISSUER, "someone-else")
        )),
        Some(format!(
            "Bearer {}",
            token_from("evil-issuer", DEFAULT_AUDIENCE)
        )),
        Some(format!("Bearer {expired}")),
    ];
    for auth in cases {
        let mut request = app.client.get(app.url("/api/v1/events"));
        if let Some(auth) = &auth {
            request = request.header("Authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    // The same request with a good token passes.
    let good = app
        .client
        .get(app.url("/api/v1/events"))
        .bearer_auth(token_from(DEFAULT_ISSUER, DEFAULT_AUDIENCE));
    assert_eq!(good.send().await.unwrap().status(), 200);
}
