//! The batched receipt path stores exactly one receipt per delivery key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use alertledger_domain::alert::Alert;
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::receipts::{
    append_receipts, BatcherSettings, ReceiptBatcher, ReceiptRow,
};
use alertledger_schema::TestDatabase;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use uuid::Uuid;

fn receipt(tenant: Uuid, key: &str) -> ReceiptRow {
    ReceiptRow {
        aggregate_id: format!("{tenant}:{key}"),
        event_type: "AlertReceived".into(),
        event_version: "1.0".into(),
        payload:
            serde_json::json!({ "AlertReceived": { "tenant_id": tenant, "delivery_key": key } })
                .to_string(),
        metadata: serde_json::json!({ "delivery_key": key }).to_string(),
    }
}

async fn stored_per_key(db: &TestDatabase) -> HashMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>(
        "SELECT aggregate_id, count(*) FROM events WHERE aggregate_type = 'Alert' GROUP BY aggregate_id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .into_iter()
    .collect()
}

#[tokio::test]
async fn duplicates_inside_one_batch_are_stored_once_and_reported() {
    let db = TestDatabase::create().await;
    let tenant = Uuid::new_v4();
    let rows = vec![
        receipt(tenant, "a"),
        receipt(tenant, "b"),
        receipt(tenant, "a"),
    ];

    let outcomes = append_receipts(db.pool(), "Alert", &rows).await.unwrap();

    let flags: Vec<bool> = outcomes.iter().map(|o| o.duplicate).collect();
    assert_eq!(flags, [false, false, true]);
    assert_eq!(
        outcomes[0].position, outcomes[2].position,
        "a duplicate names the original"
    );
    assert_ne!(outcomes[0].position, outcomes[1].position);
    let stored = stored_per_key(&db).await;
    assert_eq!(stored.len(), 2);
    assert!(stored.values().all(|count| *count == 1));
}

#[tokio::test]
async fn a_second_delivery_later_is_a_duplicate_of_the_first() {
    let db = TestDatabase::create().await;
    let tenant = Uuid::new_v4();
    let first = append_receipts(db.pool(), "Alert", &[receipt(tenant, "k")])
        .await
        .unwrap();
    let again = append_receipts(
        db.pool(),
        "Alert",
        &[receipt(tenant, "k"), receipt(tenant, "new")],
    )
    .await
    .unwrap();
    assert!(!first[0].duplicate);
    assert!(again[0].duplicate);
    assert_eq!(again[0].position, first[0].position);
    assert!(!again[1].duplicate);
    assert_eq!(stored_per_key(&db).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_sharing_keys_store_exactly_one_event_per_key() {
    let db = TestDatabase::create().await;
    let tenant = Uuid::new_v4();
    let keys: Vec<String> = (0..60).map(|k| format!("shared-{k}")).collect();

    let tasks: Vec<_> = (0..16_u64)
        .map(|producer| {
            let pool = db.pool().clone();
            let mut keys = keys.clone();
            keys.shuffle(&mut rand::rngs::StdRng::seed_from_u64(producer));
            keys.push(format!("own-{producer}"));
            tokio::spawn(async move {
                let rows: Vec<ReceiptRow> = keys.iter().map(|k| receipt(tenant, k)).collect();
                append_receipts(&pool, "Alert", &rows).await.unwrap()
            })
        })
        .collect();
    let mut originals: HashMap<String, Vec<i64>> = HashMap::new();
    let mut positions: HashMap<String, i64> = HashMap::new();
    for task in tasks {
        for outcome in task.await.unwrap() {
            if !outcome.duplicate {
                originals
                    .entry(outcome.aggregate_id.clone())
                    .or_default()
                    .push(outcome.position);
            }
            let known = *positions
                .entry(outcome.aggregate_id.clone())
                .or_insert(outcome.position);
            assert_eq!(
                known, outcome.position,
                "every answer names the same stored receipt"
            );
        }
    }

    let stored = stored_per_key(&db).await;
    assert_eq!(stored.len(), 60 + 16);
    assert!(
        stored.values().all(|count| *count == 1),
        "one event per delivery key"
    );
    assert!(
        originals.values().all(|p| p.len() == 1),
        "exactly one request stored each key"
    );
    assert_eq!(originals.len(), 60 + 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_batcher_coalesces_concurrent_requests_and_answers_each_after_commit() {
    let db = TestDatabase::create().await;
    let tenant = Uuid::new_v4();
    let batcher = ReceiptBatcher::<Alert>::start(
        db.pool().clone(),
        LogSignal::local(),
        BatcherSettings::default(),
    );

    // 400 requests for 25 distinct keys, all at once.
    let tasks: Vec<_> = (0..400)
        .map(|request| {
            let batcher = batcher.clone();
            tokio::spawn(async move {
                batcher
                    .append_rows(vec![receipt(tenant, &format!("k{}", request % 25))])
                    .await
            })
        })
        .collect();
    let mut stored_originals = 0;
    for task in tasks {
        let outcomes = task.await.unwrap().unwrap();
        assert_eq!(outcomes.len(), 1);
        if !outcomes[0].duplicate {
            stored_originals += 1;
        }
        // The answer only comes after commit: the receipt is already readable.
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE position = $1)")
                .bind(outcomes[0].position)
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert!(exists);
    }
    assert_eq!(stored_originals, 25);
    let stored = stored_per_key(&db).await;
    assert_eq!(stored.len(), 25);
    assert!(stored.values().all(|count| *count == 1));
}

#[tokio::test]
async fn a_failing_request_writes_nothing_and_does_not_fail_its_neighbours() {
    let db = TestDatabase::create().await;
    let tenant = Uuid::new_v4();
    // One writer, so requests queued together are coalesced into one insert,
    // which the broken one makes fail; the writer then retries each alone.
    let batcher = ReceiptBatcher::<Alert>::start(
        db.pool().clone(),
        LogSignal::local(),
        BatcherSettings {
            writers: 1,
            ..BatcherSettings::default()
        },
    );
    let mut broken = receipt(tenant, "broken");
    broken.payload = serde_json::json!({ "AlertReceived": {} }).to_string(); // no tenant: refused by the table

    let mut requests: Vec<Vec<ReceiptRow>> = (0..30)
        .map(|n| vec![receipt(tenant, &format!("good-{n}"))])
        .collect();
    requests.insert(
        15,
        vec![receipt(tenant, "fine-but-together-with-broken"), broken],
    );
    let results =
        futures_util::future::join_all(requests.into_iter().map(|rows| batcher.append_rows(rows)))
            .await;

    for (index, result) in results.iter().enumerate() {
        if index == 15 {
            assert!(
                result.is_err(),
                "the request holding the broken receipt fails whole"
            );
        } else {
            assert!(!result.as_ref().unwrap()[0].duplicate);
        }
    }
    let stored = stored_per_key(&db).await;
    assert_eq!(
        stored.len(),
        30,
        "every good request stored, nothing of the failed one"
    );
    assert!(!stored.contains_key(&format!("{tenant}:fine-but-together-with-broken")));
}
