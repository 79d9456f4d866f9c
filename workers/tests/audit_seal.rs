//! The sealer, the checkpointer and `audit verify` against a real database:
//! keeping up under load, resuming after a restart, and the tamper suite
//! (a superuser disables the append-only triggers and rewrites history).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use alertledger_domain::tenant::{Tenant, TenantCommand};
use alertledger_domain::values::{TenantId, TenantName, TenantSlug};
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::{ConsumerRunner, RunnerSettings};
use alertledger_eventstore::log::{LogCursor, LogFilter, LogReader, LogSignal};
use alertledger_eventstore::receipts::{append_receipts, ReceiptRow};
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use alertledger_schema::TestDatabase;
use alertledger_seal::tree::verify_consistency;
use alertledger_seal::{CheckpointSigner, CompactRange};
use alertledger_sealed_log::verify::{verify, DiscrepancyKind, VerifyOptions, VerifyReport};
use alertledger_sealed_log::{self as sealed_log, StoredCheckpoint};
use alertledger_workers::sealer::checkpointer::{CheckpointSettings, Checkpointer};
use alertledger_workers::sealer::{event_fields, Sealer};
use futures_util::StreamExt;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

fn receipt(tenant: Uuid, n: usize) -> ReceiptRow {
    let key = format!("delivery-{n}");
    let alert_id = Uuid::new_v5(&tenant, key.as_bytes());
    ReceiptRow {
        aggregate_id: alert_id.to_string(),
        event_type: "AlertReceived".into(),
        event_version: "1.0".into(),
        payload: json!({ "AlertReceived": {
            "alert_id": alert_id, "tenant_id": tenant, "delivery_key": key,
            "asset": format!("web{:02}", n % 7), "signature": "HighCPU", "severity": "high",
            "message": "threshold crossed", "status": "firing", "labels": { "n": n },
        }})
        .to_string(),
        metadata: json!({ "actor": "api_key:test", "request_id": Uuid::new_v4() }).to_string(),
    }
}

async fn register_tenant(pool: &PgPool, slug: &str) -> Uuid {
    let id = TenantId::new_v7();
    let store: AggregateStore<Tenant> =
        AggregateStore::new(pool.clone(), DomainServices::system(), LogSignal::local());
    store
        .execute(
            &id.to_string(),
            TenantCommand::RegisterTenant {
                tenant_id: id,
                name: TenantName::parse(slug).unwrap(),
                slug: TenantSlug::parse(slug).unwrap(),
            },
            EventMetadata::by("user:admin"),
        )
        .await
        .unwrap();
    Uuid::parse_str(&id.to_string()).unwrap()
}

/// Appends `count` receipts for `tenant` from number `first`, in transactions of 20.
async fn ingest(pool: &PgPool, tenant: Uuid, first: usize, count: usize) {
    let rows: Vec<ReceiptRow> = (first..first + count).map(|n| receipt(tenant, n)).collect();
    for chunk in rows.chunks(20) {
        append_receipts(pool, "Alert", chunk).await.unwrap();
    }
}

fn sealer_runner(pool: &PgPool) -> ConsumerRunner {
    ConsumerRunner::new(
        pool.clone(),
        LogSignal::local(),
        Arc::new(Sealer::new()),
        RunnerSettings {
            batch_size: 100,
            poll_interval: Duration::from_millis(20),
            ..RunnerSettings::default()
        },
    )
}

async fn event_count(pool: &PgPool) -> u64 {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap();
    count as u64
}

async fn sealed_size(pool: &PgPool) -> u64 {
    sealed_log::sealed_size(&mut pool.acquire().await.unwrap())
        .await
        .unwrap()
}

async fn checkpoints(pool: &PgPool) -> Vec<StoredCheckpoint> {
    sealed_log::all_checkpoints(&mut pool.acquire().await.unwrap())
        .await
        .unwrap()
}

/// Polls until every event is sealed; panics after `deadline`.
async fn wait_until_sealed(pool: &PgPool, deadline: Duration) {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        let (sealed, events) = (sealed_size(pool).await, event_count(pool).await);
        if sealed == events {
            return;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the sealer is behind: {sealed} of {events} sealed after {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Catches the sealer up until every event is sealed (a transaction open
/// elsewhere in the cluster can hold the log's horizon back for a moment).
async fn seal_everything(pool: &PgPool, runner: &ConsumerRunner) {
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        runner.catch_up().await.unwrap();
        if sealed_size(pool).await == event_count(pool).await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the log never became readable"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The root of every event in log order, computed here from the log reader.
async fn root_of_the_log(pool: &PgPool) -> (u64, alertledger_seal::Hash) {
    let mut tree = CompactRange::new();
    let mut batches =
        Box::pin(LogReader::new(pool.clone()).scan(LogCursor::START, 500, LogFilter::all()));
    while let Some(batch) = batches.next().await {
        for event in batch.unwrap() {
            tree.append(event_fields(&event).leaf_hash());
        }
    }
    (tree.size(), tree.root())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sealer_keeps_up_under_ingest_load_and_resumes_after_a_restart_with_identical_roots() {
    let db = TestDatabase::create().await;
    let pool = db.pool().clone();
    let tenants = [
        register_tenant(&pool, "acme").await,
        register_tenant(&pool, "globex").await,
    ];
    let signer = Arc::new(CheckpointSigner::from_seed([1; 32]));
    let checkpointer = Checkpointer::new(
        pool.clone(),
        signer.clone(),
        CheckpointSettings {
            max_leaves: 250,
            max_interval: Duration::from_millis(200),
            tick: Duration::from_millis(50),
            ..CheckpointSettings::default()
        },
    );
    let signing = tokio::spawn(checkpointer.clone().run());

    // Phase 1: four concurrent writers while the sealer runs.
    let (sealing, _) = sealer_runner(&pool).spawn();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let pool = pool.clone();
            let tenant = tenants[w % 2];
            tokio::spawn(async move { ingest(&pool, tenant, w * 10_000, 300).await })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    wait_until_sealed(&pool, Duration::from_secs(60)).await;
    checkpointer.sign_due(true).await.unwrap();
    let before_restart = checkpoints(&pool).await;
    assert!(
        before_restart.len() >= 5,
        "{} checkpoints",
        before_restart.len()
    );

    // Kill the sealer while more is being written; a new one (no memory of
    // the old) takes over.
    let writer = {
        let pool = pool.clone();
        tokio::spawn(async move { ingest(&pool, tenants[0], 50_000, 400).await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    sealing.abort();
    let _ = sealing.await;
    let (resumed, _) = sealer_runner(&pool).spawn();
    writer.await.unwrap();
    ingest(&pool, tenants[1], 60_000, 300).await;
    wait_until_sealed(&pool, Duration::from_secs(60)).await;
    checkpointer.sign_due(true).await.unwrap();
    resumed.abort();
    signing.abort();

    // The seal is the tree of the whole log in log order, computed apart.
    let total = event_count(&pool).await;
    let (size, root) = root_of_the_log(&pool).await;
    assert_eq!(size, total);
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(sealed_log::root_at(&mut conn, size).await.unwrap(), root);
    let after = checkpoints(&pool).await;
    let latest = after.last().unwrap().signed.checkpoint.clone();
    assert_eq!((latest.tree_size, latest.root_hash), (size, root));

    // Every checkpoint from before the restart is untouched, its root is
    // still the tree's at that size, and the final tree extends it.
    for old in &before_restart {
        let c = &old.signed.checkpoint;
        assert!(after.iter().any(|new| new.signed == old.signed));
        assert_eq!(
            sealed_log::root_at(&mut conn, c.tree_size).await.unwrap(),
            c.root_hash
        );
        let proof = sealed_log::consistency_proof(&mut conn, c.tree_size, size)
            .await
            .unwrap();
        verify_consistency(c.tree_size, size, &c.root_hash, &root, &proof).unwrap();
    }
    drop(conn);

    let report = verify(&pool, &options(&signer)).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.discrepancy);
    assert_eq!(report.leaves_checked, total);
    assert_eq!(report.checkpoints_checked, after.len());
}

fn options(signer: &CheckpointSigner) -> VerifyOptions {
    VerifyOptions {
        tenant: None,
        trusted_keys: vec![signer.public_key()],
        // Small ranges, so verification crosses many range boundaries, fetched
        // by three workers.
        page_size: 64,
        workers: 3,
        ..VerifyOptions::default()
    }
}

/// A sealed, checkpointed log of about 650 events of two tenants, and the key.
struct SealedLog {
    db: TestDatabase,
    signer: CheckpointSigner,
    tenants: [Uuid; 2],
}

impl SealedLog {
    async fn new() -> Self {
        let db = TestDatabase::create().await;
        let pool = db.pool().clone();
        let tenants = [
            register_tenant(&pool, "acme").await,
            register_tenant(&pool, "globex").await,
        ];
        let signer = CheckpointSigner::from_seed([5; 32]);
        let checkpointer = Checkpointer::new(
            pool.clone(),
            Arc::new(CheckpointSigner::from_seed([5; 32])),
            CheckpointSettings::default(),
        );
        let runner = sealer_runner(&pool);
        for round in 0..3 {
            ingest(&pool, tenants[0], round * 1000, 120).await;
            ingest(&pool, tenants[1], round * 1000, 100).await;
            seal_everything(&pool, &runner).await;
            checkpointer.sign_due(true).await.unwrap();
        }
        Self {
            db,
            signer,
            tenants,
        }
    }

    fn pool(&self) -> &PgPool {
        self.db.pool()
    }

    /// Positions and transaction ids in log order.
    async fn log(&self) -> Vec<(i64, String)> {
        sqlx::query_as(
            "SELECT position, transaction_id::text FROM events ORDER BY transaction_id, position",
        )
        .fetch_all(self.pool())
        .await
        .unwrap()
    }

    /// As a superuser: turn off the append-only triggers, then run `sql`.
    async fn tamper(&self, sql: &[String]) {
        let mut tx = self.pool().begin().await.unwrap();
        for table in ["events", "audit_checkpoints", "audit_leaves"] {
            sqlx::query(&format!("ALTER TABLE {table} DISABLE TRIGGER USER"))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        for statement in sql {
            sqlx::query(statement).execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }

    async fn verify(&self) -> VerifyReport {
        verify(self.pool(), &options(&self.signer)).await.unwrap()
    }

    async fn verify_tenant(&self, tenant: Uuid) -> VerifyReport {
        let mut options = options(&self.signer);
        options.tenant = Some(tenant);
        verify(self.pool(), &options).await.unwrap()
    }
}

fn assert_fails_at(report: &VerifyReport, kind: DiscrepancyKind, position: i64) {
    let found = report
        .discrepancy
        .as_ref()
        .unwrap_or_else(|| panic!("verification passed: {report:?}"));
    assert_eq!((found.kind, found.position), (kind, position), "{found}");
}

#[tokio::test]
async fn an_untouched_log_verifies_in_full_and_per_tenant() {
    let log = SealedLog::new().await;
    let report = log.verify().await;
    assert!(report.is_ok(), "{:?}", report.discrepancy);
    assert_eq!(report.leaves_checked, event_count(log.pool()).await);
    assert_eq!(report.events_rehashed, report.leaves_checked);
    assert_eq!(report.checkpoints_checked, 3);
    let tenant = log.verify_tenant(log.tenants[1]).await;
    assert!(tenant.is_ok(), "{:?}", tenant.discrepancy);
    assert_eq!(tenant.leaves_checked, report.leaves_checked);
    // The tenant's 300 receipts and its registration.
    assert_eq!(tenant.events_rehashed, 301);

    // Events the sealer has not reached yet are counted, not failed.
    ingest(log.pool(), log.tenants[0], 9_000, 5).await;
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let report = log.verify().await;
        assert!(report.is_ok(), "{:?}", report.discrepancy);
        if report.unsealed_events == 5 {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "{report:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_changed_payload_byte_fails_verification_naming_its_position() {
    let log = SealedLog::new().await;
    let (position, _) = log.log().await[300].clone();
    log.tamper(&[format!(
        "UPDATE events SET payload = replace(payload::text, 'threshold', 'thresholc')::jsonb WHERE position = {position}"
    )])
    .await;
    assert_fails_at(&log.verify().await, DiscrepancyKind::Changed, position);
    let owner: Uuid = sqlx::query_scalar("SELECT tenant_id FROM events WHERE position = $1")
        .bind(position)
        .fetch_one(log.pool())
        .await
        .unwrap();
    assert_fails_at(
        &log.verify_tenant(owner).await,
        DiscrepancyKind::Changed,
        position,
    );
}

#[tokio::test]
async fn a_deleted_row_fails_verification_naming_its_position() {
    let log = SealedLog::new().await;
    let (position, _) = log.log().await[200].clone();
    log.tamper(&[format!("DELETE FROM events WHERE position = {position}")])
        .await;
    assert_fails_at(&log.verify().await, DiscrepancyKind::Missing, position);
    // Per tenant too, whoever the row belonged to: positions are matched for all.
    assert_fails_at(
        &log.verify_tenant(log.tenants[0]).await,
        DiscrepancyKind::Missing,
        position,
    );
}

#[tokio::test]
async fn a_forged_row_inserted_into_history_fails_verification_naming_its_position() {
    let log = SealedLog::new().await;
    let events = log.log().await;
    let (_, transaction) = events[150].clone();
    let forged = events.iter().map(|(p, _)| *p).max().unwrap() + 1000;
    log.tamper(&[format!(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata, position, transaction_id)
         VALUES ('Alert', 'forged', 1, 'AlertReceived', '1.0',
                 '{{\"AlertReceived\": {{\"tenant_id\": \"{}\", \"message\": \"forged\"}}}}',
                 '{{}}', {forged}, '{transaction}')",
        log.tenants[0]
    )])
    .await;
    assert_fails_at(&log.verify().await, DiscrepancyKind::Inserted, forged);
}

#[tokio::test]
async fn two_rows_with_swapped_positions_fail_verification_naming_the_first() {
    let log = SealedLog::new().await;
    let events = log.log().await;
    // Two rows of different transactions, then two rows of one transaction.
    let (first, _) = events[100].clone();
    let (second, _) = events[400].clone();
    let swap = |a: i64, b: i64| {
        vec![
            format!("UPDATE events SET position = -1 WHERE position = {a}"),
            format!("UPDATE events SET position = {a} WHERE position = {b}"),
            format!("UPDATE events SET position = {b} WHERE position = -1"),
        ]
    };
    log.tamper(&swap(first, second)).await;
    assert_fails_at(&log.verify().await, DiscrepancyKind::Reordered, first);

    let log = SealedLog::new().await;
    let events = log.log().await;
    let (a, tx_a) = events[230].clone();
    let (b, tx_b) = events[231].clone();
    assert_eq!(tx_a, tx_b, "neighbours of one receipt batch");
    log.tamper(&swap(a, b)).await;
    assert_fails_at(&log.verify().await, DiscrepancyKind::Reordered, a);
}

#[tokio::test]
async fn a_checkpoint_replaced_by_one_signed_with_another_key_fails_verification() {
    let log = SealedLog::new().await;
    let stored = checkpoints(log.pool()).await;
    let original = stored[1].signed.checkpoint.clone();
    let intruder = CheckpointSigner::from_seed([66; 32]);
    let forged = intruder.sign(original.clone());
    log.tamper(&[format!(
        "DELETE FROM audit_checkpoints WHERE tree_size = {}",
        original.tree_size
    )])
    .await;
    let mut conn = log.pool().acquire().await.unwrap();
    sealed_log::insert_checkpoint(&mut conn, &forged, &intruder.public_key())
        .await
        .unwrap();
    drop(conn);
    let report = log.verify().await;
    assert_fails_at(&report, DiscrepancyKind::Checkpoint, original.last_position);
    assert!(
        report
            .discrepancy
            .unwrap()
            .detail
            .contains("not a trusted key"),
        "names the untrusted key"
    );
    // Claiming the trusted key's id does not help: the signature fails.
    let mut claimed = forged.clone();
    claimed.key_id = log.signer.public_key().key_id();
    log.tamper(&[format!(
        "DELETE FROM audit_checkpoints WHERE tree_size = {}",
        original.tree_size
    )])
    .await;
    let mut conn = log.pool().acquire().await.unwrap();
    sealed_log::insert_checkpoint(&mut conn, &claimed, &intruder.public_key())
        .await
        .unwrap();
    drop(conn);
    let report = log.verify().await;
    assert_fails_at(&report, DiscrepancyKind::Checkpoint, original.last_position);
}

#[tokio::test]
async fn rewriting_the_sealed_leaves_along_with_the_events_is_caught_by_the_signed_root() {
    let log = SealedLog::new().await;
    let (position, _) = log.log().await[50].clone();
    let tampered =
        "UPDATE events SET payload = replace(payload::text, 'threshold', 'thresholc')::jsonb";
    log.tamper(&[format!("{tampered} WHERE position = {position}")])
        .await;
    // Re-seal the tampered row's leaf so leaf and event agree again.
    let event = LogReader::new(log.pool().clone())
        .read(LogCursor::START, 10_000, &LogFilter::all())
        .await
        .unwrap()
        .events
        .into_iter()
        .find(|e| e.position == position)
        .unwrap();
    let digest = event_fields(&event).body_digest();
    log.tamper(&[format!(
        "UPDATE audit_leaves SET body_digest = '\\x{}' WHERE position = {position}",
        digest.to_hex()
    )])
    .await;
    let report = log.verify().await;
    let found = report.discrepancy.expect("caught");
    assert_eq!(found.kind, DiscrepancyKind::Checkpoint);
    let first = checkpoints(log.pool()).await[0].signed.checkpoint.clone();
    assert_eq!(found.position, first.last_position, "{found}");
}

/// H3 (issue 16): the checkpointer signs only a tree that extends the last
/// checkpoint it signed. History rewritten and fully resealed under the
/// genuine checkpoints fails the RFC 6962 consistency proof: it refuses, for
/// good, and raises its alarm.
#[tokio::test]
async fn the_checkpointer_refuses_a_resealed_tree_that_does_not_extend_its_last_checkpoint() {
    use alertledger_eventstore::alarms::Alarms;
    use alertledger_workers::sealer::checkpointer::{CheckpointerError, CHECKPOINTER};

    let db = TestDatabase::create().await;
    let pool = db.pool().clone();
    let tenant = register_tenant(&pool, "acme").await;
    let alarms = Alarms::default();
    let checkpointer = Checkpointer::with_alarms(
        pool.clone(),
        Arc::new(CheckpointSigner::from_seed([9; 32])),
        CheckpointSettings::default(),
        alarms.clone(),
    );
    ingest(&pool, tenant, 0, 40).await;
    seal_everything(&pool, &sealer_runner(&pool)).await;
    let signed = checkpointer.sign_due(true).await.unwrap().unwrap();
    // Genuine growth is signed.
    ingest(&pool, tenant, 100, 10).await;
    seal_everything(&pool, &sealer_runner(&pool)).await;
    let extended = checkpointer.sign_due(true).await.unwrap().unwrap();
    assert!(extended.checkpoint.tree_size > signed.checkpoint.tree_size);

    // Rewrite one event, wipe the leaves and reseal everything; the
    // checkpoints stay as they were.
    let mut tx = pool.begin().await.unwrap();
    for statement in [
        "ALTER TABLE events DISABLE TRIGGER USER",
        "UPDATE events SET metadata = metadata || '{\"forged\": true}'
          WHERE position = (SELECT min(position) FROM events WHERE aggregate_type = 'Alert')",
        "ALTER TABLE events ENABLE TRIGGER USER",
        "ALTER TABLE audit_leaves DISABLE TRIGGER USER",
        "DELETE FROM audit_leaves",
        "ALTER TABLE audit_leaves ENABLE TRIGGER USER",
        "DELETE FROM projector_checkpoints WHERE name = 'sealer'",
    ] {
        sqlx::query(statement).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    ingest(&pool, tenant, 200, 5).await;
    seal_everything(&pool, &sealer_runner(&pool)).await;

    let refused = checkpointer.sign_due(true).await;
    let Err(CheckpointerError::Rewritten {
        trusted_size,
        reason,
    }) = refused
    else {
        panic!("signed over a rewritten seal: {refused:?}");
    };
    assert_eq!(trusted_size, extended.checkpoint.tree_size);
    assert!(reason.contains("does not extend"), "{reason}");
    assert!(alarms.is_raised(CHECKPOINTER));
    assert!(checkpointer.halted().await.is_some());
    assert_eq!(
        checkpoints(&pool).await.last().unwrap().signed,
        extended,
        "nothing new was signed"
    );
    // Refused for good, also once nothing else changes.
    assert!(checkpointer.sign_due(true).await.is_err());
}
