//! Two `alertledger serve` processes on one database, as behind a load
//! balancer: each runs its own log tailer, so an alert posted to one reaches
//! the feed clients of the other. Also: a process with open feed clients
//! still shuts down promptly and cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use alertledger_api::auth::jwt::{TokenIssuer, TokenRequest, DEFAULT_AUDIENCE, DEFAULT_ISSUER};
use alertledger_domain::values::{Role, TenantId};
use alertledger_schema::TestDatabase;
use serde_json::{json, Value};
use support::feed::{name_of, ws_connect, ws_next, ws_until, SseClient};
use support::generic_alert;
use support::process::ServiceProcess;

const SECRET: &str = "two-process-feed-test-secret-32-bytes!";
const DEADLINE: Duration = Duration::from_secs(30);

/// A `serve` process on `database_url` with a short feed heartbeat.
fn start_server(database_url: &str) -> ServiceProcess {
    ServiceProcess::serve(
        database_url,
        &[
            ("ALERTLEDGER_JWT_SECRET", SECRET),
            ("ALERTLEDGER_FEED_HEARTBEAT_SECS", "1"),
        ],
    )
}

fn token(role: Role, tenants: &[TenantId]) -> String {
    TokenIssuer::hs256(SECRET.as_bytes(), DEFAULT_ISSUER, DEFAULT_AUDIENCE)
        .unwrap()
        .issue(&TokenRequest {
            sub: format!("user-{}", role.as_str()),
            name: "Two Process Test".into(),
            role,
            tenants: tenants.to_vec(),
            ttl: Duration::from_secs(600),
        })
        .unwrap()
}

/// Creates a tenant and an API key through `server`'s API and waits until
/// `server` accepts the key.
async fn tenant_with_key(server: &ServiceProcess) -> (TenantId, String) {
    let client = reqwest::Client::new();
    let admin = token(Role::MspAdmin, &[]);
    let created: Value = client
        .post(server.url("/api/v1/tenants"))
        .bearer_auth(&admin)
        .json(&json!({"name": "Two Process Ltd", "slug": "two-process"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"]
        .as_str()
        .or(created["tenant_id"].as_str())
        .unwrap_or_else(|| panic!("no tenant id in {created}"))
        .to_owned();
    let key: Value = client
        .post(server.url(&format!("/api/v1/tenants/{id}/api-keys")))
        .bearer_auth(&admin)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_key = key["api_key"].as_str().unwrap().to_owned();
    let until = Instant::now() + DEADLINE;
    loop {
        let status = client
            .post(server.url("/api/v1/webhooks/generic"))
            .header("X-API-Key", &api_key)
            .send()
            .await
            .unwrap()
            .status();
        if status != 401 {
            break;
        }
        assert!(Instant::now() < until, "the API key never became active");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (TenantId::parse(&id).unwrap(), api_key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_posted_to_one_process_reaches_feed_clients_of_the_other() {
    let db = TestDatabase::create().await;
    let a = start_server(db.url());
    let b = start_server(db.url());
    let (tenant, api_key) = tenant_with_key(&a).await;
    let viewer = token(Role::Viewer, &[tenant]);

    let mut sse = SseClient::connect(&b.url(&format!("/api/v1/stream?token={viewer}")), &[]).await;
    let ws_url = format!("ws://{}/ws?token={viewer}", b.address);
    let mut ws = ws_connect(&ws_url).await;
    assert_eq!(
        ws_next(&mut ws, DEADLINE).await.unwrap()["type"],
        "initial_data"
    );

    let response = reqwest::Client::new()
        .post(a.url("/api/v1/webhooks/generic"))
        .header("X-API-Key", &api_key)
        .json(&generic_alert("cross-process"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    let seen = sse
        .events_until(DEADLINE, |e| {
            name_of(e) == "AlertReceived"
                && e.json()["payload"]["AlertReceived"]["asset"] == "cross-process"
        })
        .await;
    assert_eq!(seen.last().unwrap().json()["tenant_id"], tenant.to_string());
    ws_until(&mut ws, DEADLINE, |m| {
        m["type"] == "new_alert"
            && m["data"]["payload"]["AlertReceived"]["asset"] == "cross-process"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_with_open_feed_clients_stops_promptly_on_sigterm() {
    let db = TestDatabase::create().await;
    let mut server = start_server(db.url());
    let admin = token(Role::MspAdmin, &[]);
    let mut sse =
        SseClient::connect(&server.url(&format!("/api/v1/stream?token={admin}")), &[]).await;
    let ws_url = format!("ws://{}/ws?token={admin}", server.address);
    let mut ws = ws_connect(&ws_url).await;
    assert_eq!(
        ws_next(&mut ws, DEADLINE).await.unwrap()["type"],
        "initial_data"
    );

    let (status, took) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    assert!(took < Duration::from_secs(10), "stopping took {took:?}");

    let mut told = false;
    while let Some(item) = sse.next_within(DEADLINE).await {
        if matches!(&item, support::feed::SseItem::Event { event, .. } if event == "shutdown") {
            told = true;
        }
    }
    assert!(told, "the SSE client was told the server is shutting down");
    let close = loop {
        match ws_next(&mut ws, DEADLINE).await {
            Ok(_) => continue,
            Err(close) => break close,
        }
    };
    assert_eq!(close.map(|(code, _)| code), Some(1001));
}
