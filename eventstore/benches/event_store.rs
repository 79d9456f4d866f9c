//! Event store throughput: batched alert-receipt appends with 1, 8 and 32
//! concurrent producers, and decoding reads of the global log.
//!
//! `cargo bench -p alertledger-projections --bench event_store`
//! Settings (environment): `BENCH_RECEIPTS` receipts per run (default 100000),
//! `BENCH_READ_EVENTS` events in the read test (default 500000), `DATABASE_URL`
//! the server (default local). Each run uses a fresh database. See BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use alertledger_domain::alert::Alert;
use alertledger_eventstore::log::{LogCursor, LogFilter, LogReader, LogSignal};
use alertledger_eventstore::receipts::{
    append_receipts, BatcherSettings, ReceiptBatcher, ReceiptRow,
};
use alertledger_schema::TestDatabase;
use futures_util::StreamExt;
use serde_json::json;
use uuid::Uuid;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A receipt shaped like a real `AlertReceived` (about 700 bytes of JSON).
fn receipt(tenant: Uuid, n: usize) -> ReceiptRow {
    let key = format!("bench-{n}");
    let alert_id = Uuid::new_v5(&tenant, key.as_bytes());
    ReceiptRow {
        aggregate_id: alert_id.to_string(),
        event_type: "AlertReceived".into(),
        event_version: "1.0".into(),
        payload: json!({ "AlertReceived": {
            "alert_id": alert_id, "tenant_id": tenant, "delivery_key": key, "source": "alertmanager",
            "asset": format!("web{:02}", n % 40), "signature": "HighCPU", "severity": "critical",
            "message": "CPU above 95% for 5 minutes on the node exporter target", "tool_source": "prometheus",
            "status": "firing", "labels": { "alertname": "HighCPU", "instance": format!("web{:02}:9100", n % 40), "job": "node", "env": "production" },
            "occurred_at": "2026-11-22T03:07:32Z", "fingerprint": format!("{:016x}", n % 977),
            "asset_known": true, "at": "2026-11-22T03:07:33.120Z"
        }}).to_string(),
        metadata: json!({ "actor": "api_key:0195d1a0-0000-7000-8000-000000000001", "request_id": Uuid::new_v4(), "source_ip": "10.1.2.3", "delivery_key": format!("bench-{n}") }).to_string(),
    }
}

/// Appends `total` receipts through the coalescing batcher from `producers`
/// concurrent producers, each sending requests of `per_request` receipts (as a
/// webhook request would) and waiting for each answer.
async fn append_run(producers: usize, per_request: usize, total: usize) -> (Duration, usize) {
    let db = TestDatabase::create().await;
    let tenant = Uuid::new_v4();
    let batcher = ReceiptBatcher::<Alert>::start(
        db.pool().clone(),
        LogSignal::local(),
        BatcherSettings::default(),
    );
    let requests_per_producer = total / producers / per_request;
    // Receipts are built before the clock starts: this measures the store.
    let work: Vec<Vec<Vec<ReceiptRow>>> = (0..producers)
        .map(|p| {
            (0..requests_per_producer)
                .map(|r| {
                    let first = (p * requests_per_producer + r) * per_request;
                    (first..first + per_request)
                        .map(|n| receipt(tenant, n))
                        .collect()
                })
                .collect()
        })
        .collect();
    let started = Instant::now();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|requests| {
            let batcher = batcher.clone();
            tokio::spawn(async move {
                for rows in requests {
                    batcher.append_rows(rows).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(db.pool())
        .await
        .unwrap();
    (elapsed, stored as usize)
}

/// Fills a database with `events` receipts, then reads the whole log in
/// batches, decoding every row into a `LogEvent` (payload parsed to JSON).
async fn read_run(events: usize) -> (Duration, usize) {
    let db = TestDatabase::create().await;
    let tenant = Uuid::new_v4();
    for chunk_start in (0..events).step_by(5_000) {
        let rows: Vec<ReceiptRow> = (chunk_start..(chunk_start + 5_000).min(events))
            .map(|n| receipt(tenant, n))
            .collect();
        append_receipts(db.pool(), "Alert", &rows).await.unwrap();
    }
    sqlx::query("VACUUM ANALYZE events")
        .execute(db.pool())
        .await
        .unwrap();
    let reader = LogReader::new(db.pool().clone());
    let started = Instant::now();
    let mut read = 0;
    let mut batches = Box::pin(reader.scan(LogCursor::START, 5_000, LogFilter::all()));
    while let Some(batch) = batches.next().await {
        read += batch.unwrap().len();
    }
    (started.elapsed(), read)
}

#[tokio::main]
async fn main() {
    let receipts = setting("BENCH_RECEIPTS", 100_000);
    let read_events = setting("BENCH_READ_EVENTS", 500_000);
    println!(
        "event_store benchmark: {receipts} receipts per append run, {read_events} events read"
    );
    println!();
    println!("| producers | receipts per request | receipts stored | seconds | receipts/s |");
    println!("|---:|---:|---:|---:|---:|");
    for per_request in [1, 100] {
        for producers in [1, 8, 32] {
            // One-at-a-time single receipts are slow by nature; keep that run short.
            let total = if producers * per_request == 1 {
                receipts / 20
            } else {
                receipts
            };
            let (elapsed, stored) = append_run(producers, per_request, total).await;
            println!(
                "| {producers} | {per_request} | {stored} | {:.2} | {:.0} |",
                elapsed.as_secs_f64(),
                stored as f64 / elapsed.as_secs_f64()
            );
        }
    }
    println!();
    let (elapsed, read) = read_run(read_events).await;
    println!(
        "log read: {read} events decoded in {:.2} s = {:.0} events/s (batches of 5000)",
        elapsed.as_secs_f64(),
        read as f64 / elapsed.as_secs_f64()
    );
}
