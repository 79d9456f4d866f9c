//! Issue 16, item 4 (amplification): a non-webhook request body is at most
//! 1 MiB (413 with the error body, nothing recorded) and a WebSocket client
//! message at most 64 KiB (the connection is closed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use alertledger_domain::values::Role;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::feed::ws_connect;
use support::TestApp;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_body_over_one_mib_is_413_with_the_error_body_on_json_and_raw_routes() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("big").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let padding = "x".repeat(1024 * 1024 + 1);

    // A JSON route (ApiJson).
    let response = app
        .client
        .post(app.url("/api/v1/runbooks"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"tenant_id": "{}", "name": "{padding}", "signature": "S", "risk": "low", "commands": ["true"]}}"#,
            tenant.id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");

    // A route that reads raw bytes (an optional JSON body).
    let response = app
        .client
        .post(app.url(&format!("/api/v1/tenants/{}/api-keys", tenant.id)))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(format!(r#"{{"label": "{padding}"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    assert_eq!(app.stored("RunbookDefined").await, 0);

    // Under the limit, the same route works.
    let response = app
        .client
        .post(app.url(&format!("/api/v1/tenants/{}/api-keys", tenant.id)))
        .bearer_auth(&admin)
        .json(&json!({ "label": "ci" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn a_websocket_message_over_64_kib_closes_the_connection() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("wsbig").await;
    let token = app.token(Role::Viewer, &[tenant.id]);
    let url = format!(
        "{}/ws?token={token}",
        app.address.replace("http://", "ws://")
    );

    // A small command is answered as before.
    let mut socket = ws_connect(&url).await;
    socket
        .send(Message::Text(json!({"type": "ping"}).to_string().into()))
        .await
        .unwrap();
    let big = json!({ "type": "subscribe", "after": 0, "pad": "x".repeat(64 * 1024 + 1) });
    // The send itself may fail once the server has hung up.
    let _ = socket.send(Message::Text(big.to_string().into())).await;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the server kept a connection that sent 64 KiB + 1"
    );

    // The server still serves others.
    let mut other = ws_connect(&url).await;
    let first = tokio::time::timeout(Duration::from_secs(10), other.next())
        .await
        .unwrap();
    assert!(matches!(first, Some(Ok(Message::Text(_)))), "{first:?}");
}
