//! Notifier benchmark (see BENCHMARKS.md, "Notifications"): the application
//! as the end-to-end tests build it (src/startup.rs through tests/support),
//! on a fresh database, with a webhook receiver on loopback.
//!
//! 1. Latency: incidents opened at R per second (default 100) for T seconds
//!    (default 10), each told to one webhook channel; from the
//!    `IncidentOpened` event's commit time (`events.recorded_at`) to the
//!    receiver's arrival time, p50/p99/max.
//! 2. CPU per message: N notifications (default 1,000) requested with no
//!    delivery running, then one `DeliveryWorker` sends them all; the
//!    process's user+system CPU time over that phase divided by N (the
//!    in-process receiver included, PostgreSQL not).
//!
//! Run: `cargo bench --bench notifier` (settings in `BENCH_*` variables). It
//! prints a report; it asserts nothing.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    dead_code
)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alertledger_domain::values::Role;
use alertledger_domain::DomainServices;
use alertledger_eventstore::log::LogSignal;
use alertledger_workers::notifier::{DeliveryWorker, NotifierSettings};
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use support::{TestApp, TestTenant};

type Arrivals = Arc<Mutex<Vec<(DateTime<Utc>, String)>>>;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let rate = setting("BENCH_INCIDENTS_PER_SECOND", 100);
    let seconds = setting("BENCH_SECONDS", 10);
    let cpu_messages = setting("BENCH_CPU_MESSAGES", 1_000);
    println!(
        "notifier benchmark: {rate} incidents/s for {seconds} s; CPU over {cpu_messages} messages"
    );

    // 1. Latency, with delivery running as `serve` runs it.
    let (receiver, arrivals) = start_receiver().await;
    let app = TestApp::spawn_with_notifier(NotifierSettings::default(), true).await;
    let tenant = set_up(&app, &receiver).await;
    let total = rate * seconds;
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut posts = Vec::with_capacity(total);
    for n in 0..total {
        ticker.tick().await;
        let client = app.client.clone();
        let url = app.url("/api/v1/webhooks/generic");
        let key = tenant.api_key.clone();
        posts.push(tokio::spawn(async move {
            client
                .post(url)
                .header("X-API-Key", key)
                .json(&alert(&format!("bench-{n}")))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    let offered = started.elapsed();
    for post in posts {
        let status = post.await??;
        anyhow::ensure!(status == 202, "an alert was refused: {status}");
    }
    wait_for(&arrivals, total, Duration::from_secs(300)).await?;
    let opened: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT aggregate_id, recorded_at FROM events WHERE event_type = 'IncidentOpened'",
    )
    .fetch_all(app.db.pool())
    .await?;
    let opened: HashMap<String, DateTime<Utc>> = opened.into_iter().collect();
    let mut latencies: Vec<f64> = arrivals
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(at, incident)| {
            opened
                .get(incident)
                .map(|from| (*at - *from).num_microseconds().unwrap_or(0) as f64 / 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    println!(
        "latency (incident opened -> receiver), {} messages in {:.1} s offered: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        offered.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0),
    );
    drop(app);

    // 2. CPU per message of delivery alone.
    let (receiver, arrivals) = start_receiver().await;
    let app = TestApp::spawn_with_notifier(NotifierSettings::default(), false).await;
    let tenant = set_up(&app, &receiver).await;
    for chunk in (0..cpu_messages).collect::<Vec<_>>().chunks(100) {
        let batch: Vec<Value> = chunk.iter().map(|n| alert(&format!("cpu-{n}"))).collect();
        let response = app.post_alert(&tenant, &Value::Array(batch)).await;
        anyhow::ensure!(response.status() == 202, "alerts refused");
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM notification_outbox WHERE status = 'pending'")
                .fetch_one(app.db.pool())
                .await?;
        if pending as usize >= cpu_messages {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "only {pending} requested");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let worker = DeliveryWorker::new(
        app.db.pool().clone(),
        LogSignal::local(),
        DomainServices::system(),
        app.notifier_delivery(),
        NotifierSettings::default(),
    );
    let before = cpu_time();
    let wall = Instant::now();
    let mut sent = 0;
    while sent < cpu_messages {
        let round = worker.deliver_due().await?;
        anyhow::ensure!(round > 0, "nothing due after {sent}");
        sent += round;
    }
    let cpu = cpu_time() - before;
    wait_for(&arrivals, cpu_messages, Duration::from_secs(60)).await?;
    println!(
        "delivery: {sent} messages in {:.2} s wall, {:.3} s CPU (this process: worker, HTTP client, receiver): {:.0} µs CPU per message",
        wall.elapsed().as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / sent as f64,
    );
    Ok(())
}

/// A tenant with a webhook channel on `receiver` and a rule telling it of
/// every opened incident.
async fn set_up(app: &TestApp, receiver: &str) -> TestTenant {
    let tenant = app.create_tenant("bench").await;
    app.lift_rate_limit(&tenant).await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let channel: Value = app
        .client
        .post(app.url(&format!("/api/v1/tenants/{}/notification-channels", tenant.id)))
        .bearer_auth(&admin)
        .json(&json!({"type": "webhook", "name": "bench", "config": {"url": format!("{receiver}/hook")}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status = app
        .client
        .post(app.url(&format!("/api/v1/tenants/{}/notification-rules", tenant.id)))
        .bearer_auth(&admin)
        .json(&json!({"name": "all", "events": ["incident_opened"], "channels": [channel["id"]]}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 201);
    tenant
}

fn alert(asset: &str) -> Value {
    json!({"asset_name": asset, "signature": "BenchSignal", "severity": "critical",
           "message": format!("bench alert on {asset}"), "tool_source": "bench"})
}

async fn start_receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let app = Router::new()
        .route("/{*path}", post(arrive))
        .with_state(arrivals.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, arrivals)
}

async fn arrive(State(arrivals): State<Arrivals>, body: Bytes) -> &'static str {
    let at = Utc::now();
    let incident = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["data"]["incident_id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    arrivals.lock().unwrap().push((at, incident));
    "ok"
}

async fn wait_for(arrivals: &Arrivals, count: usize, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let got = arrivals.lock().unwrap().len();
        if got >= count {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the receiver got {got} of {count}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// User plus system CPU time of this process so far.
fn cpu_time() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    let usage = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let micros = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    micros(usage.user_time()) + micros(usage.system_time())
}
