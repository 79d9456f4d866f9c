//! Revocation across processes: two `alertledger serve` processes on one
//! database. A logout on one is refused by the other within a bounded time
//! (the revocation follows the log), and disabling a user on one closes the
//! user's open streams on the other.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use alertledger_api::auth::jwt::{TokenIssuer, TokenRequest, DEFAULT_AUDIENCE, DEFAULT_ISSUER};
use alertledger_domain::values::Role;
use alertledger_schema::TestDatabase;
use serde_json::{json, Value};
use support::feed::{ws_connect, ws_next, SseClient, SseItem};
use support::process::ServiceProcess;

const SECRET: &str = "two-process-revocation-secret-32-bytes!";
const PASSWORD: &str = "violet kettle orbit 42";
/// How soon the other process must refuse a revoked token.
const BOUND: Duration = Duration::from_secs(10);

fn start_server(database_url: &str) -> ServiceProcess {
    ServiceProcess::serve(
        database_url,
        &[
            ("ALERTLEDGER_JWT_SECRET", SECRET),
            ("ALERTLEDGER_FEED_HEARTBEAT_SECS", "1"),
        ],
    )
}

fn admin_token() -> String {
    TokenIssuer::hs256(SECRET.as_bytes(), DEFAULT_ISSUER, DEFAULT_AUDIENCE)
        .unwrap()
        .issue(&TokenRequest {
            sub: "cli-admin".into(),
            name: "Admin".into(),
            role: Role::MspAdmin,
            tenants: vec![],
            ttl: Duration::from_secs(600),
        })
        .unwrap()
}

async fn create_user(server: &ServiceProcess, email: &str) -> String {
    let answer: Value = reqwest::Client::new()
        .post(server.url("/api/v1/users"))
        .bearer_auth(admin_token())
        .json(&json!({"email": email, "name": "Two", "role": "msp_admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned()
}

async fn login(server: &ServiceProcess, email: &str) -> String {
    let answer: Value = reqwest::Client::new()
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned()
}

async fn me_status(server: &ServiceProcess, token: &str) -> u16 {
    reqwest::Client::new()
        .get(server.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls `server` until it refuses `token`; returns how long that took.
async fn refused_within(server: &ServiceProcess, token: &str) -> Duration {
    let start = Instant::now();
    loop {
        if me_status(server, token).await == 401 {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < BOUND,
            "the other process still accepts the revoked token"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_process_is_refused_by_the_other_and_ends_its_stream() {
    let db = TestDatabase::create().await;
    let a = start_server(db.url());
    let b = start_server(db.url());
    create_user(&a, "two@example.com").await;
    let token = login(&a, "two@example.com").await;
    assert_eq!(me_status(&b, &token).await, 200, "B accepts A's sign-in");
    let mut sse = SseClient::connect(&b.url(&format!("/api/v1/stream?token={token}")), &[]).await;

    let out = reqwest::Client::new()
        .post(a.url("/api/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(me_status(&a, &token).await, 401, "A refuses at once");
    let took = refused_within(&b, &token).await;
    eprintln!("B refused the logged-out token after {took:?}");

    let mut told = false;
    while let Some(item) = sse.next_within(BOUND).await {
        if matches!(&item, SseItem::Event { event, .. } if event == "token_revoked") {
            told = true;
            break;
        }
    }
    assert!(told, "B's stream of the session ended with token_revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_user_on_one_process_closes_their_streams_on_the_other() {
    let db = TestDatabase::create().await;
    let a = start_server(db.url());
    let b = start_server(db.url());
    let id = create_user(&a, "gone@example.com").await;
    let token = login(&a, "gone@example.com").await;
    let mut ws = ws_connect(&format!("ws://{}/ws?token={token}", b.address)).await;
    assert_eq!(
        ws_next(&mut ws, BOUND).await.unwrap()["type"],
        "initial_data"
    );

    let disabled = reqwest::Client::new()
        .delete(a.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    refused_within(&b, &token).await;
    let close = loop {
        match ws_next(&mut ws, BOUND).await {
            Ok(_) => continue,
            Err(close) => break close,
        }
    };
    assert_eq!(
        close.map(|(code, _)| code),
        Some(4001),
        "closed as unauthorized"
    );
}
