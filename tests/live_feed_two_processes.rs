//! Two `alertledger serve` processes on one database, as behind a load
//! balancer: each runs its own log tailer, so an alert posted to one reaches
//! the feed clients of the other. Also: a process with open feed clients
//! still shuts down promptly and cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alertledger_api::auth::jwt::{TokenIssuer, TokenRequest, DEFAULT_AUDIENCE, DEFAULT_ISSUER};
use alertledger_domain::values::{Role, TenantId};
use alertledger_schema::TestDatabase;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use support::feed::{name_of, ws_connect, ws_next, ws_until, SseClient};
use support::generic_alert;

const SECRET: &str = "two-process-feed-test-secret-32-bytes!";
const DEADLINE: Duration = Duration::from_secs(30);

/// A running `serve` process, stopped (SIGTERM, then SIGKILL) when dropped.
struct Server {
    child: Option<Child>,
    address: String,
}

impl Server {
    fn start(database_url: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_alertledger"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("DATABASE_URL", database_url)
            .env("ALERTLEDGER_JWT_SECRET", SECRET)
            .env("ALERTLEDGER_LOG_FORMAT", "json")
            .env("ALERTLEDGER_FEED_HEARTBEAT_SECS", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (found, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sent {
                    continue;
                }
                if let Ok(entry) = serde_json::from_str::<Value>(&line) {
                    if entry["message"] == "alertledger is listening" {
                        let _ =
                            found.send(entry["address"].as_str().unwrap_or_default().to_owned());
                        sent = true;
                    }
                }
            }
        });
        let address = address
            .recv_timeout(Duration::from_secs(90))
            .expect("the service never logged that it is listening");
        Self {
            child: Some(child),
            address: format!("http://{address}"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// SIGTERM, and how the process ended and how long it took.
    fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let mut child = self.child.take().unwrap();
        let started = Instant::now();
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            if Instant::now() > until {
                let _ = child.kill();
                panic!("the service did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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
async fn tenant_with_key(server: &Server) -> (TenantId, String) {
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
    let a = Server::start(db.url());
    let b = Server::start(db.url());
    let (tenant, api_key) = tenant_with_key(&a).await;
    let viewer = token(Role::Viewer, &[tenant]);

    let mut sse = SseClient::connect(&b.url(&format!("/api/v1/stream?token={viewer}")), &[]).await;
    let ws_url = format!(
        "{}/ws?token={viewer}",
        b.address.replace("http://", "ws://")
    );
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
    let mut server = Server::start(db.url());
    let admin = token(Role::MspAdmin, &[]);
    let mut sse =
        SseClient::connect(&server.url(&format!("/api/v1/stream?token={admin}")), &[]).await;
    let ws_url = format!(
        "{}/ws?token={admin}",
        server.address.replace("http://", "ws://")
    );
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
