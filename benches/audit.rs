//! The sealed log: sealing, verification, proofs, and sealing lag under ingest.
//!
//! `cargo bench -p alertledger-workers --bench audit`
//!
//! 1. Appends `BENCH_EVENTS` alert receipts (default 1,000,000; about 700
//!    bytes of payload each, 5 tenants) in transactions of 1,000.
//! 2. Seals them with the real sealer (batches of 5,000) and signs a
//!    checkpoint per 10,000 leaves; reports leaves/s.
//! 3. `VACUUM ANALYZE`, then `audit verify` end to end from PostgreSQL, in
//!    full (every event re-hashed) and for one tenant, each with one and with
//!    two fetch-and-hash workers; reports events/s.
//! 4. 1,000 inclusion proofs of random events against the latest checkpoint
//!    and 200 consistency proofs between random checkpoints: time to build
//!    each from the database, and to verify it.
//! 5. Ingests `BENCH_RATE` alerts/s (default 2,000) for `BENCH_SECONDS`
//!    (default 30) with the sealer and checkpointer running (and, with
//!    `BENCH_FULL_BACKGROUND=1`, every other projector and worker as `serve`
//!    runs them), and reports the lag from a receipt's commit until it is
//!    sealed, and until a signed checkpoint covers it.
//!
//! Uses a fresh database on `DATABASE_URL` (default local). See BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger::startup::{Background, BackgroundSettings};
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::{ConsumerRunner, RunnerSettings};
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::receipts::{append_receipts, ReceiptRow};
use alertledger_schema::TestDatabase;
use alertledger_seal::tree::{verify_consistency, verify_inclusion};
use alertledger_seal::CheckpointSigner;
use alertledger_sealed_log::{self as sealed_log, verify};
use alertledger_workers::background::WorkerSettings;
use alertledger_workers::sealer::checkpointer::{CheckpointSettings, Checkpointer};
use alertledger_workers::sealer::Sealer;
use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An `AlertReceived` receipt shaped like the webhook path's (as in the
/// projections benchmark).
fn receipt(tenant: Uuid, n: usize) -> ReceiptRow {
    let key = format!("bench-{n}");
    let alert_id = Uuid::new_v5(&tenant, key.as_bytes());
    let at = Utc::now();
    let signature = ["HighCPU", "DiskFull"][n % 2];
    let severity = ["critical", "high", "medium", "low"][n % 4];
    let tool = ["prometheus", "zabbix", "datadog"][n % 3];
    ReceiptRow {
        aggregate_id: alert_id.to_string(),
        event_type: "AlertReceived".into(),
        event_version: "1.0".into(),
        payload: json!({ "AlertReceived": {
            "alert_id": alert_id, "tenant_id": tenant, "delivery_key": key, "source": "alertmanager",
            "asset": format!("web{:02}", n % 20), "signature": signature, "severity": severity,
            "message": "threshold crossed on the node exporter target", "tool_source": tool,
            "status": "firing", "labels": { "job": "node", "env": "production" },
            "occurred_at": at, "fingerprint": format!("{:016x}", n % 977),
            "asset_known": true, "at": at
        }})
        .to_string(),
        metadata: json!({ "actor": "api_key:bench", "request_id": Uuid::new_v4() }).to_string(),
    }
}

fn sealer(pool: &PgPool, batch_size: usize) -> ConsumerRunner {
    ConsumerRunner::new(
        pool.clone(),
        LogSignal::local(),
        Arc::new(Sealer::new()),
        RunnerSettings {
            batch_size,
            ..RunnerSettings::default()
        },
    )
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn summary(what: &str, mut samples: Vec<f64>, unit: &str) {
    samples.sort_by(f64::total_cmp);
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    println!(
        "{what}: mean {mean:.3} {unit}, p50 {:.3}, p99 {:.3}, max {:.3} ({} samples)",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or_default(),
        samples.len()
    );
}

async fn generate(pool: &PgPool, tenants: &[Uuid], events: usize) {
    let started = Instant::now();
    let all: Vec<usize> = (0..events).collect();
    for chunk in all.chunks(1_000) {
        let rows: Vec<ReceiptRow> = chunk
            .iter()
            .map(|&n| receipt(tenants[n % tenants.len()], n))
            .collect();
        append_receipts(pool, "Alert", &rows).await.unwrap();
    }
    println!(
        "generate: {events} receipts appended in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

async fn seal_all(pool: &PgPool, signer: &Arc<CheckpointSigner>) {
    let runner = sealer(pool, 5_000);
    let checkpointer =
        Checkpointer::new(pool.clone(), signer.clone(), CheckpointSettings::default());
    let events = count(pool, "SELECT count(*) FROM events").await as u64;
    let started = Instant::now();
    let mut sealed = 0;
    while (sealed as u64) < events {
        sealed += runner.catch_up().await.unwrap();
    }
    let sealing = started.elapsed().as_secs_f64();
    let started = Instant::now();
    checkpointer.sign_due(true).await.unwrap();
    let signing = started.elapsed().as_secs_f64();
    let checkpoints = count(pool, "SELECT count(*) FROM audit_checkpoints").await;
    println!(
        "seal: {sealed} events in {sealing:.2} s ({:.0} events/s); {checkpoints} checkpoints signed in {signing:.2} s",
        sealed as f64 / sealing
    );
}

async fn verify_runs(pool: &PgPool, signer: &CheckpointSigner, tenant: Uuid) {
    sqlx::query("VACUUM ANALYZE").execute(pool).await.unwrap();
    // Warm the cache the way a live system has it.
    count(
        pool,
        "SELECT count(*) FROM (SELECT payload, metadata FROM events) e",
    )
    .await;
    for (scope, workers) in [(None, 1), (None, 2), (Some(tenant), 1), (Some(tenant), 2)] {
        let started = Instant::now();
        let report = verify::verify(
            pool,
            &verify::VerifyOptions {
                tenant: scope,
                trusted_keys: vec![signer.public_key()],
                workers,
                ..verify::VerifyOptions::default()
            },
        )
        .await
        .unwrap();
        let seconds = started.elapsed().as_secs_f64();
        assert!(report.is_ok(), "{:?}", report.discrepancy);
        println!(
            "verify {}, {workers} worker(s): {} leaves ({} re-hashed), {} checkpoints in {seconds:.2} s ({:.0} events/s)",
            scope.map_or("all".to_owned(), |t| format!("tenant {t}")),
            report.leaves_checked,
            report.events_rehashed,
            report.checkpoints_checked,
            report.leaves_checked as f64 / seconds
        );
    }
}

async fn proofs(pool: &PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    let latest = sealed_log::latest_checkpoint(&mut conn)
        .await
        .unwrap()
        .unwrap()
        .signed
        .checkpoint;
    let size = latest.tree_size;
    let mut rng = StdRng::seed_from_u64(7);
    let (mut build, mut check, mut lengths) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..1_000 {
        let index = rng.gen_range(0..size);
        let started = Instant::now();
        let leaf = sealed_log::leaves(&mut conn, index, index + 1)
            .await
            .unwrap()[0];
        let proof = sealed_log::inclusion_proof(&mut conn, index, size)
            .await
            .unwrap();
        build.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        verify_inclusion(index, size, &leaf.leaf_hash(), &proof, &latest.root_hash).unwrap();
        check.push(started.elapsed().as_secs_f64() * 1_000_000.0);
        lengths.push(proof.len() as f64);
    }
    summary(
        &format!("inclusion proof, tree of {size}: build from PostgreSQL"),
        build,
        "ms",
    );
    summary("inclusion proof: verify", check, "µs");
    summary("inclusion proof: hashes", lengths, "");

    let checkpoints = sealed_log::all_checkpoints(&mut conn).await.unwrap();
    let (mut build, mut check) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let a = &checkpoints[rng.gen_range(0..checkpoints.len())]
            .signed
            .checkpoint;
        let b = &checkpoints[rng.gen_range(0..checkpoints.len())]
            .signed
            .checkpoint;
        let (first, second) = if a.tree_size <= b.tree_size {
            (a, b)
        } else {
            (b, a)
        };
        let started = Instant::now();
        let proof = sealed_log::consistency_proof(&mut conn, first.tree_size, second.tree_size)
            .await
            .unwrap();
        build.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        verify_consistency(
            first.tree_size,
            second.tree_size,
            &first.root_hash,
            &second.root_hash,
            &proof,
        )
        .unwrap();
        check.push(started.elapsed().as_secs_f64() * 1_000_000.0);
    }
    summary(
        "consistency proof between checkpoints: build from PostgreSQL",
        build,
        "ms",
    );
    summary("consistency proof: verify", check, "µs");
}

/// Polls until `sql` (with `position`) is true; returns the wait in ms.
async fn wait_for(pool: PgPool, sql: &'static str, position: i64, from: Instant) -> f64 {
    loop {
        let seen: Option<bool> = sqlx::query_scalar(sql)
            .bind(position)
            .fetch_optional(&pool)
            .await
            .unwrap();
        if seen == Some(true) {
            return from.elapsed().as_secs_f64() * 1000.0;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn live_lag(
    pool: &PgPool,
    tenants: &[Uuid],
    signer: Arc<CheckpointSigner>,
    rate: usize,
    seconds: usize,
) {
    let signal = LogSignal::start(pool.clone());
    let full = std::env::var("BENCH_FULL_BACKGROUND").is_ok_and(|v| v == "1");
    let background = if full {
        Some(Background::start(
            pool,
            &signal,
            DomainServices::system(),
            BackgroundSettings {
                workers: WorkerSettings {
                    audit_signer: Some(signer.clone()),
                    ..WorkerSettings::default()
                },
                ..BackgroundSettings::default()
            },
        ))
    } else {
        None
    };
    let alone = if full {
        None
    } else {
        let (sealing, _) = ConsumerRunner::new(
            pool.clone(),
            signal.clone(),
            Arc::new(Sealer::new()),
            RunnerSettings::default(),
        )
        .spawn();
        let signing = tokio::spawn(
            Checkpointer::new(pool.clone(), signer, CheckpointSettings::default()).run(),
        );
        Some((sealing, signing))
    };
    tokio::time::sleep(Duration::from_secs(2)).await;

    let per_tick = (rate / 100).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let (mut sealed_probes, mut signed_probes) = (Vec::new(), Vec::new());
    let offset = 100_000_000;
    let started = Instant::now();
    for t in 0..seconds * 100 {
        tick.tick().await;
        let rows: Vec<ReceiptRow> = (0..per_tick)
            .map(|i| receipt(tenants[(t + i) % tenants.len()], offset + t * per_tick + i))
            .collect();
        let outcomes = append_receipts(pool, "Alert", &rows).await.unwrap();
        let committed = Instant::now();
        signal.appended_receipts();
        if t % 10 == 0 {
            let position = outcomes[0].position;
            sealed_probes.push(tokio::spawn(wait_for(
                pool.clone(),
                "SELECT true FROM audit_leaves WHERE position = $1",
                position,
                committed,
            )));
            signed_probes.push(tokio::spawn(wait_for(
                pool.clone(),
                "SELECT COALESCE((SELECT max(tree_size) FROM audit_checkpoints)
                        > (SELECT leaf_index FROM audit_leaves WHERE position = $1), false)",
                position,
                committed,
            )));
        }
    }
    let sent = started.elapsed().as_secs_f64();
    let mut sealed = Vec::new();
    for probe in sealed_probes {
        sealed.push(probe.await.unwrap());
    }
    let mut signed = Vec::new();
    for probe in signed_probes {
        signed.push(probe.await.unwrap());
    }
    drop(background);
    if let Some((sealing, signing)) = alone {
        sealing.abort();
        signing.abort();
    }
    println!(
        "ingest: {} alerts in {sent:.1} s ({:.0} alerts/s offered){}",
        seconds * 100 * per_tick,
        (seconds * 100 * per_tick) as f64 / sent,
        if full {
            ", every projector and worker running"
        } else {
            ", sealer and checkpointer running"
        }
    );
    summary("lag from commit until sealed", sealed, "ms");
    summary(
        "lag from commit until a signed checkpoint covers it",
        signed,
        "ms",
    );
}

#[tokio::main]
async fn main() {
    let events = setting("BENCH_EVENTS", 1_000_000);
    let rate = setting("BENCH_RATE", 2_000);
    let seconds = setting("BENCH_SECONDS", 30);
    let db = TestDatabase::create().await;
    let tenants: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    let signer = Arc::new(CheckpointSigner::from_seed([11; 32]));
    generate(db.pool(), &tenants, events).await;
    seal_all(db.pool(), &signer).await;
    verify_runs(db.pool(), &signer, tenants[0]).await;
    proofs(db.pool()).await;
    live_lag(db.pool(), &tenants, signer, rate, seconds).await;
}
