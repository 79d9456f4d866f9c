//! LogConsumer throughput and lag.
//!
//! `cargo bench -p alertledger-workers --bench projections`
//!
//! 1. Generates a log: `BENCH_ALERTS` alert receipts (default 330,000; 80 % on
//!    40 hot keys, 20 % on 4,000 cold ones, received 500 ms apart), appended in
//!    chunks of 5,000, each chunk then decided by the real correlator (which
//!    records about one event per alert more, plus the incidents): about
//!    1,000,000 events in all, decisions close behind their alerts as live.
//! 2. Rebuilds every read model from that log (shadow tables + swap), one
//!    after the other and then all of them from one pass over the log, and
//!    reports events/s.
//! 3. Ingests `BENCH_RATE` alerts/s (default 2,000) for `BENCH_SECONDS`
//!    (default 30) with the correlator and all projectors running as `serve`
//!    runs them, and reports the lag from a receipt's commit until the alerts
//!    read model shows it, and until it shows the alert's incident. Receipt
//!    times continue the history's, so live alerts join its open incidents.
//!
//! Uses a fresh database on `DATABASE_URL` (default local). See BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger::startup::{Background, BackgroundSettings};
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::rebuild::{rebuild_all_live, rebuild_live};
use alertledger_eventstore::consumer::{ConsumerRunner, RunnerSettings};
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::receipts::{append_receipts, ReceiptRow};
use alertledger_projections as read_models;
use alertledger_schema::TestDatabase;
use alertledger_workers::correlator::Correlator;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An `AlertReceived` receipt like the webhook path stores.
fn receipt(tenant: Uuid, n: usize, at: DateTime<Utc>) -> (Uuid, ReceiptRow) {
    let key = format!("bench-{n}");
    let alert_id = Uuid::new_v5(&tenant, key.as_bytes());
    let (asset, signature) = if n % 5 == 0 {
        (
            format!("cold{:04}", (n / 5) % 1000),
            ["HighCPU", "DiskFull", "OOMKilled", "Latency"][(n / 5000) % 4],
        )
    } else {
        (
            format!("web{:02}", n % 20),
            ["HighCPU", "DiskFull"][(n / 20) % 2],
        )
    };
    let severity = ["critical", "high", "medium", "low"][n % 4];
    let tool = ["prometheus", "zabbix", "datadog"][n % 3];
    let row = ReceiptRow {
        aggregate_id: alert_id.to_string(),
        event_type: "AlertReceived".into(),
        event_version: "1.0".into(),
        payload: json!({ "AlertReceived": {
            "alert_id": alert_id, "tenant_id": tenant, "delivery_key": key, "source": "alertmanager",
            "asset": asset, "signature": signature, "severity": severity,
            "message": "threshold crossed on the node exporter target", "tool_source": tool,
            "status": "firing", "labels": { "job": "node", "env": "production" },
            "occurred_at": at, "fingerprint": format!("{:016x}", n % 977),
            "asset_known": true, "at": at
        }})
        .to_string(),
        metadata: json!({ "actor": "api_key:bench", "request_id": Uuid::new_v4() }).to_string(),
    };
    (alert_id, row)
}

/// Receipts in chunks of 5,000, each followed by the correlator deciding
/// them, so decisions follow their alerts closely in the log as they do live.
async fn generate(pool: &PgPool, tenants: &[Uuid], alerts: usize) {
    let start = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    let correlator = ConsumerRunner::new(
        pool.clone(),
        LogSignal::local(),
        Arc::new(Correlator::new(DomainServices::system())),
        RunnerSettings::default(),
    );
    let (mut appending, mut correlating) = (Duration::ZERO, Duration::ZERO);
    let mut decided = 0;
    for chunk in (0..alerts).collect::<Vec<_>>().chunks(5_000) {
        let rows: Vec<ReceiptRow> = chunk
            .iter()
            .map(|&n| {
                let at = start + chrono::Duration::milliseconds(500 * n as i64);
                receipt(tenants[n % tenants.len()], n, at).1
            })
            .collect();
        let started = Instant::now();
        for part in rows.chunks(1_000) {
            append_receipts(pool, "Alert", part).await.unwrap();
        }
        appending += started.elapsed();
        let started = Instant::now();
        while decided < chunk[chunk.len() - 1] + 1 {
            decided += correlator.catch_up().await.unwrap();
        }
        correlating += started.elapsed();
    }
    println!(
        "generate: {alerts} receipts appended in {:.1} s; correlated in {:.1} s ({:.0} alerts/s)",
        appending.as_secs_f64(),
        correlating.as_secs_f64(),
        alerts as f64 / correlating.as_secs_f64()
    );
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn rebuild_all(pool: &PgPool) {
    let events = count(pool, "SELECT count(*) FROM events").await;
    println!("log: {events} events");
    // Warm the cache the way a live system has it.
    count(pool, "SELECT count(*) FROM (SELECT payload FROM events) e").await;

    // BENCH_ONLY=name: rebuild that projection alone (for profiling).
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        for projection in read_models::all().into_iter().filter(|p| p.name() == only) {
            let report = rebuild_live(pool, projection, None).await.unwrap();
            println!(
                "rebuild {only}: {} events in {:.2} s",
                report.events,
                report.elapsed.as_secs_f64()
            );
        }
        return;
    }
    let started = Instant::now();
    for projection in read_models::all() {
        let report = rebuild_live(pool, projection, None).await.unwrap();
        let seconds = report.elapsed.as_secs_f64();
        println!(
            "rebuild {:<10} {:>8} events in {:>6.2} s ({:>7.0} events/s)",
            report.projection,
            report.events,
            seconds,
            report.events as f64 / seconds
        );
    }
    let sequential = started.elapsed().as_secs_f64();
    println!(
        "rebuild all, one after the other: {events} events in {sequential:.2} s ({:.0} log events/s)",
        events as f64 / sequential
    );

    let started = Instant::now();
    let reports = rebuild_all_live(pool, read_models::all(), None)
        .await
        .unwrap();
    let one_pass = started.elapsed().as_secs_f64();
    for report in &reports {
        println!(
            "one pass: {:<12} {:>8} events, swapped in after {:>6.2} s",
            report.projection,
            report.events,
            report.elapsed.as_secs_f64()
        );
    }
    println!(
        "rebuild all, one pass over the log: {events} events in {one_pass:.2} s ({:.0} log events/s)",
        events as f64 / one_pass
    );
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Polls until `sql` (with the alert id) is true; returns the wait.
async fn wait_for(pool: PgPool, sql: &'static str, alert: Uuid, from: Instant) -> f64 {
    loop {
        let seen: Option<bool> = sqlx::query_scalar(sql)
            .bind(alert)
            .fetch_optional(&pool)
            .await
            .unwrap();
        if seen == Some(true) {
            return from.elapsed().as_secs_f64() * 1000.0;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn live_lag(pool: &PgPool, tenants: &[Uuid], rate: usize, seconds: usize) {
    let signal = LogSignal::start(pool.clone());
    let background = Background::start(
        pool,
        &signal,
        DomainServices::system(),
        BackgroundSettings::default(),
    );
    // Let the background catch up with the generated history first.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let per_tick = (rate / 100).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let (mut row_probes, mut incident_probes) = (Vec::new(), Vec::new());
    let offset = 10_000_000;
    // Receipt times continue the generated history's (windows are measured in
    // receipt time): live alerts join the history's open incidents, some of
    // which hold thousands of alerts, as a noisy source's would.
    let history_end: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT max((payload -> 'AlertReceived' ->> 'at')::timestamptz) FROM events
          WHERE event_type = 'AlertReceived'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let base = history_end.unwrap_or_else(Utc::now);
    let started = Instant::now();
    for t in 0..seconds * 100 {
        tick.tick().await;
        let now = base + chrono::Duration::from_std(started.elapsed()).unwrap();
        let batch: Vec<(Uuid, ReceiptRow)> = (0..per_tick)
            .map(|i| {
                receipt(
                    tenants[(t + i) % tenants.len()],
                    offset + t * per_tick + i,
                    now,
                )
            })
            .collect();
        let rows: Vec<ReceiptRow> = batch.iter().map(|(_, row)| row.clone()).collect();
        append_receipts(pool, "Alert", &rows).await.unwrap();
        let committed = Instant::now();
        signal.appended_receipts();
        if t % 10 == 0 {
            let alert = batch[0].0;
            row_probes.push(tokio::spawn(wait_for(
                pool.clone(),
                "SELECT true FROM alerts WHERE alert_id = $1",
                alert,
                committed,
            )));
            incident_probes.push(tokio::spawn(wait_for(
                pool.clone(),
                "SELECT incident_id IS NOT NULL FROM alerts WHERE alert_id = $1",
                alert,
                committed,
            )));
        }
    }
    let sent = started.elapsed().as_secs_f64();
    let mut received = Vec::new();
    for probe in row_probes {
        received.push(probe.await.unwrap());
    }
    let mut incident = Vec::new();
    for probe in incident_probes {
        incident.push(probe.await.unwrap());
    }
    drop(background);
    println!(
        "ingest: {} alerts in {sent:.1} s ({:.0} alerts/s offered)",
        seconds * 100 * per_tick,
        (seconds * 100 * per_tick) as f64 / sent
    );
    for (what, mut lags) in [("alert row", received), ("alert's incident", incident)] {
        lags.sort_by(f64::total_cmp);
        println!(
            "lag until the read model shows the {what}: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} probes)",
            percentile(&lags, 0.5),
            percentile(&lags, 0.99),
            lags.last().copied().unwrap_or_default(),
            lags.len()
        );
    }
}

#[tokio::main]
async fn main() {
    let alerts = setting("BENCH_ALERTS", 330_000);
    let rate = setting("BENCH_RATE", 2_000);
    let seconds = setting("BENCH_SECONDS", 30);
    let tenants: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    // BENCH_KEEP_DATABASE=name: generate into that database once and keep it,
    // so later runs (profiling) skip straight to the rebuilds (and the live
    // ingest, which adds its alerts to the kept log).
    if let Ok(name) = std::env::var("BENCH_KEEP_DATABASE") {
        let server = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        alertledger_schema::ensure_database(&server, &name)
            .await
            .unwrap();
        let url = alertledger_schema::with_database(&server, &name).unwrap();
        let pool = alertledger_schema::connect(&url, &alertledger_schema::PoolSettings::default())
            .await
            .unwrap();
        alertledger_schema::migrate(&pool).await.unwrap();
        if count(&pool, "SELECT count(*) FROM events").await == 0 {
            generate(&pool, &tenants, alerts).await;
        }
        rebuild_all(&pool).await;
        if seconds > 0 {
            live_lag(&pool, &tenants, rate, seconds).await;
        }
        return;
    }
    let db = TestDatabase::create().await;
    generate(db.pool(), &tenants, alerts).await;
    rebuild_all(db.pool()).await;
    if seconds > 0 {
        live_lag(db.pool(), &tenants, rate, seconds).await;
    }
}
