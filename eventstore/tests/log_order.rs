//! The global log under concurrent writers: every committed event exactly once,
//! never an aborted one, in one order that every reader agrees on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger_eventstore::log::{
    LogCursor, LogEvent, LogFilter, LogReader, LogSignal, LogTailer, TailSettings,
};
use alertledger_schema::TestDatabase;
use futures_util::StreamExt;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use tokio::sync::Mutex;
use uuid::Uuid;

const WRITERS: usize = 12;
const TRANSACTIONS_PER_WRITER: usize = 250;

/// Reads from `after` until `expected` events arrived. The horizon is
/// cluster-wide, so other tests' open transactions (in other databases) can
/// delay visibility: poll with a deadline instead of assuming it.
async fn read_until(
    reader: &LogReader,
    mut after: LogCursor,
    filter: &LogFilter,
    batch: usize,
    expected: usize,
) -> (Vec<LogEvent>, LogCursor) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut events = Vec::new();
    while events.len() < expected {
        assert!(
            Instant::now() < deadline,
            "only {} of {expected} events became readable",
            events.len()
        );
        let read = reader.read(after, batch, filter).await.unwrap();
        after = read.next;
        if read.events.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        events.extend(read.events);
    }
    (events, after)
}

fn payload(tenant: Uuid) -> serde_json::Value {
    serde_json::json!({ "ProbeWritten": { "tenant_id": tenant } })
}

/// One writer: transactions of 1–12 events, some held open for a while, some
/// rolled back. Returns the ids of the events it committed.
async fn write(pool: PgPool, signal: LogSignal, writer: usize, tenant: Uuid) -> Vec<String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(writer as u64);
    let mut committed = Vec::new();
    for transaction in 0..TRANSACTIONS_PER_WRITER {
        let mut tx = pool.begin().await.unwrap();
        let count = rng.gen_range(1..=12);
        let mut ids = Vec::with_capacity(count);
        for event in 0..count {
            let id = format!("w{writer}-t{transaction}-e{event}");
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                 VALUES ('Probe', $1, 1, 'ProbeWritten', '1.0', $2, '{}')",
            )
            .bind(&id)
            .bind(payload(tenant))
            .execute(&mut *tx)
            .await
            .unwrap();
            ids.push(id);
            if rng.gen_bool(0.1) {
                // Hold the transaction open while others commit past it.
                tokio::time::sleep(Duration::from_millis(rng.gen_range(1..15))).await;
            }
        }
        if rng.gen_bool(0.15) {
            tx.rollback().await.unwrap();
        } else {
            tx.commit().await.unwrap();
            committed.extend(ids);
            signal.appended();
        }
    }
    committed
}

/// Follows the log from the start until `expected` events have been seen (or a
/// deadline passes) and returns what it saw, in order.
async fn tail_until(tailer: LogTailer, expected: Arc<Mutex<Option<usize>>>) -> Vec<(i64, String)> {
    let mut seen = Vec::new();
    let mut stream = Box::pin(tailer.batches(LogCursor::START, LogFilter::all()));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(total) = *expected.lock().await {
            if seen.len() >= total {
                return seen;
            }
        }
        match tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
            Ok(Some(batch)) => {
                seen.extend(
                    batch
                        .unwrap()
                        .into_iter()
                        .map(|e| (e.position, e.aggregate_id)),
                );
            }
            Ok(None) => panic!("a tailer stream never ends"),
            Err(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "tailer stalled after {} events",
            seen.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tailers_see_every_committed_event_once_in_one_order_under_concurrent_writers() {
    let db = TestDatabase::create().await;
    let pool = db.pool().clone();
    let signal = LogSignal::start(pool.clone());
    let reader = LogReader::new(pool.clone());
    let expected = Arc::new(Mutex::new(None));

    // Small batches and a slow fallback poll exercise batch seams and hints.
    let settings = TailSettings {
        batch_size: 37,
        ..TailSettings::default()
    };
    let tailers: Vec<_> = (0..2)
        .map(|_| {
            let tailer = LogTailer::new(reader.clone(), signal.clone(), settings.clone());
            tokio::spawn(tail_until(tailer, Arc::clone(&expected)))
        })
        .collect();

    let tenant = Uuid::new_v4();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| tokio::spawn(write(pool.clone(), signal.clone(), writer, tenant)))
        .collect();
    let mut committed = HashSet::new();
    for writer in writers {
        committed.extend(writer.await.unwrap());
    }
    assert!(
        committed.len() > 5_000,
        "run long enough: {} events",
        committed.len()
    );
    *expected.lock().await = Some(committed.len());

    let mut orders = Vec::new();
    for tailer in tailers {
        let seen = tailer.await.unwrap();
        let ids: HashSet<&String> = seen.iter().map(|(_, id)| id).collect();
        assert_eq!(ids.len(), seen.len(), "no event is delivered twice");
        assert_eq!(
            seen.len(),
            committed.len(),
            "every committed event, and nothing else"
        );
        assert!(
            seen.iter().all(|(_, id)| committed.contains(id)),
            "no aborted event"
        );
        orders.push(seen);
    }
    assert_eq!(
        orders[0], orders[1],
        "independent tailers agree on the order"
    );

    // A reader starting afterwards, in tiny batches, sees the very same order.
    let (replayed, _) = read_until(
        &reader,
        LogCursor::START,
        &LogFilter::all(),
        101,
        orders[0].len(),
    )
    .await;
    let replay: Vec<(i64, String)> = replayed
        .into_iter()
        .map(|e| (e.position, e.aggregate_id))
        .collect();
    assert_eq!(replay, orders[0]);

    // A prefetching scan (as exports and rebuilds use) sees it identically.
    let mut scanned = Vec::new();
    let mut batches = Box::pin(reader.scan(LogCursor::START, 97, LogFilter::all()));
    while let Some(batch) = batches.next().await {
        scanned.extend(
            batch
                .unwrap()
                .into_iter()
                .map(|e| (e.position, e.aggregate_id)),
        );
    }
    assert_eq!(scanned, orders[0]);

    // And a client resuming from any position continues exactly after it.
    let (resume_at, _) = &orders[0][orders[0].len() / 2];
    let resumed = reader
        .cursor_after_position(*resume_at)
        .await
        .unwrap()
        .unwrap();
    let next = reader.read(resumed, 5, &LogFilter::all()).await.unwrap();
    let expected_next: Vec<i64> = orders[0][orders[0].len() / 2 + 1..][..5]
        .iter()
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(
        next.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        expected_next
    );
}

#[tokio::test]
async fn an_open_transaction_holds_back_later_commits_until_it_ends() {
    let db = TestDatabase::create().await;
    let pool = db.pool();
    let reader = LogReader::new(pool.clone());
    let tenant = Uuid::new_v4();
    let insert = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                  VALUES ('Probe', $1, 1, 'ProbeWritten', '1.0', $2, '{}')";

    let mut early = pool.begin().await.unwrap();
    sqlx::query(insert)
        .bind("early")
        .bind(payload(tenant))
        .execute(&mut *early)
        .await
        .unwrap();
    sqlx::query(insert)
        .bind("late")
        .bind(payload(tenant))
        .execute(pool)
        .await
        .unwrap();

    let blocked = reader
        .read(LogCursor::START, 10, &LogFilter::all())
        .await
        .unwrap();
    assert!(
        blocked.events.is_empty(),
        "a commit behind an open transaction is not readable yet"
    );
    assert_eq!(blocked.next, LogCursor::START.max(blocked.next));

    early.commit().await.unwrap();
    let (events, _) = read_until(&reader, blocked.next, &LogFilter::all(), 10, 2).await;
    let ids: Vec<&str> = events.iter().map(|e| e.aggregate_id.as_str()).collect();
    assert_eq!(
        ids,
        ["early", "late"],
        "log order is commit-safe, not position order"
    );
    assert!(events[0].position < events[1].position);
}

#[tokio::test]
async fn reads_of_one_event_at_a_time_walk_the_log_without_skipping() {
    let db = TestDatabase::create().await;
    let reader = LogReader::new(db.pool().clone());
    let tenant = Uuid::new_v4();
    for index in 0..4 {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             VALUES ('Probe', $1, 1, 'ProbeWritten', '1.0', $2, '{}')",
        )
        .bind(format!("e{index}"))
        .bind(payload(tenant))
        .execute(db.pool())
        .await
        .unwrap();
    }
    let (events, _) = read_until(&reader, LogCursor::START, &LogFilter::all(), 1, 4).await;
    let ids: Vec<&str> = events.iter().map(|e| e.aggregate_id.as_str()).collect();
    assert_eq!(ids, ["e0", "e1", "e2", "e3"]);
    let decoded: serde_json::Value = events[0].payload_as().unwrap();
    assert_eq!(decoded["ProbeWritten"]["tenant_id"], tenant.to_string());
}

#[tokio::test]
async fn filtered_reads_return_only_the_tenants_asked_for_and_move_past_the_rest() {
    let db = TestDatabase::create().await;
    let pool = db.pool();
    let reader = LogReader::new(pool.clone());
    let (mine, theirs) = (Uuid::new_v4(), Uuid::new_v4());
    for (index, tenant) in [mine, theirs, theirs, mine, theirs].into_iter().enumerate() {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             VALUES ('Probe', $1, 1, 'ProbeWritten', '1.0', $2, '{}')",
        )
        .bind(format!("e{index}"))
        .bind(payload(tenant))
        .execute(pool)
        .await
        .unwrap();
    }
    let (events, next) = read_until(
        &reader,
        LogCursor::START,
        &LogFilter::tenants(vec![mine]),
        10,
        2,
    )
    .await;
    let ids: Vec<&str> = events.iter().map(|e| e.aggregate_id.as_str()).collect();
    assert_eq!(ids, ["e0", "e3"]);
    assert!(events.iter().all(|e| e.tenant_id == mine));
    // The cursor moved past the other tenant's later events too.
    let again = reader.read(next, 10, &LogFilter::all()).await.unwrap();
    assert!(again.events.is_empty());
}

#[tokio::test]
async fn a_tailer_wakes_on_another_processes_notify_long_before_its_fallback_poll() {
    let db = TestDatabase::create().await;
    // Two independent signals, pools and tailers, as two service processes have.
    let writer_pool = alertledger_schema::connect(db.url(), &Default::default())
        .await
        .unwrap();
    let writer_signal = LogSignal::start(writer_pool.clone());
    let reader_pool = alertledger_schema::connect(db.url(), &Default::default())
        .await
        .unwrap();
    let settings = TailSettings {
        poll_interval: Duration::from_secs(60),
        ..TailSettings::default()
    };
    let tailer = LogTailer::new(
        LogReader::new(reader_pool.clone()),
        LogSignal::start(reader_pool),
        settings,
    );
    let mut stream = Box::pin(tailer.batches(LogCursor::START, LogFilter::all()));
    // Give the reader's LISTEN connection a moment to be established.
    let first = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
    assert!(first.is_err(), "nothing to read yet");

    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Probe', 'p1', 1, 'ProbeWritten', '1.0', $1, '{}')",
    )
    .bind(payload(Uuid::new_v4()))
    .execute(&writer_pool)
    .await
    .unwrap();
    writer_signal.appended();

    let batch = tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("woken by NOTIFY, not by the 60 s poll")
        .unwrap()
        .unwrap();
    assert_eq!(batch[0].aggregate_id, "p1");
}
