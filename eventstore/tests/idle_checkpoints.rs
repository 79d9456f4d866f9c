//! An idle consumer writes its checkpoint only to pass over events it
//! filtered out, never merely because other transactions moved the log's
//! horizon: those writes would each take a transaction id and move every other
//! reader's horizon in turn, so idle consumers would keep each other writing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger_eventstore::consumer::{
    Checkpoint, ConsumerError, ConsumerRunner, LogConsumer, RunnerSettings, Step, Target,
};
use alertledger_eventstore::log::{LogEvent, LogSignal};
use alertledger_schema::TestDatabase;
use async_trait::async_trait;
use sqlx::{PgConnection, PgPool};
use tokio::sync::Mutex;
use uuid::Uuid;

/// Reads only `Wanted` events and remembers their aggregate ids.
#[derive(Default)]
struct WantedOnly {
    seen: Mutex<Vec<String>>,
}

#[async_trait]
impl LogConsumer for WantedOnly {
    fn name(&self) -> &'static str {
        "idle-probe"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(&["Wanted"])
    }

    async fn apply(
        &self,
        _conn: &mut PgConnection,
        _target: &Target,
        events: &[LogEvent],
    ) -> Result<(), ConsumerError> {
        let mut seen = self.seen.lock().await;
        seen.extend(events.iter().map(|event| event.aggregate_id.clone()));
        Ok(())
    }
}

async fn append(pool: &PgPool, event_type: &str, id: &str) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Probe', $1, 1, $2, '1.0', $3, '{}')",
    )
    .bind(id)
    .bind(event_type)
    .bind(serde_json::json!({ event_type: { "tenant_id": Uuid::new_v4() } }))
    .execute(pool)
    .await
    .unwrap();
}

/// A committed transaction that writes no event but takes a transaction id
/// (as another consumer's checkpoint write does).
async fn eventless_transaction(pool: &PgPool) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn checkpoint(pool: &PgPool) -> Checkpoint {
    Checkpoint::find(pool, "idle-probe").await.unwrap().unwrap()
}

/// Steps until the checkpoint is past every event appended so far (the
/// horizon is cluster-wide: other tests' open transactions can hold it back).
async fn step_until_past(runner: &ConsumerRunner, pool: &PgPool, events: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        runner.step().await.unwrap();
        let passed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events e, projector_checkpoints c
              WHERE c.name = 'idle-probe'
                AND (e.transaction_id, e.position) < (c.transaction_id, c.position)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if passed >= events {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the consumer never passed {events} events"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_idle_consumer_moves_its_checkpoint_only_past_events() {
    let db = TestDatabase::create().await;
    let pool = db.pool().clone();
    let consumer = Arc::new(WantedOnly::default());
    let runner = ConsumerRunner::new(
        pool.clone(),
        LogSignal::local(),
        consumer.clone(),
        RunnerSettings::default(),
    );

    // An event it filters out: the checkpoint moves past it, so no later read
    // scans it again.
    append(&pool, "Other", "other-1").await;
    step_until_past(&runner, &pool, 1).await;
    let after_filtered = checkpoint(&pool).await;
    assert!(consumer.seen.lock().await.is_empty());

    // Transactions without events: the horizon moves, the checkpoint stays,
    // unwritten.
    for _ in 0..5 {
        eventless_transaction(&pool).await;
        assert_eq!(runner.step().await.unwrap(), Step::Idle);
    }
    assert_eq!(checkpoint(&pool).await, after_filtered);

    // The next event it reads is still applied, once.
    append(&pool, "Wanted", "wanted-1").await;
    step_until_past(&runner, &pool, 2).await;
    assert_eq!(*consumer.seen.lock().await, vec!["wanted-1".to_owned()]);
    assert_eq!(checkpoint(&pool).await.events_applied, 1);
}
