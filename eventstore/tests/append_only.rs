//! The database itself refuses to rewrite history.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alertledger_schema::TestDatabase;

async fn store_one_event(db: &TestDatabase) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Probe', 'p1', 1, 'ProbeWritten', '1.0', $1, '{}')",
    )
    .bind(serde_json::json!({ "ProbeWritten": { "tenant_id": uuid::Uuid::new_v4() } }))
    .execute(db.pool())
    .await
    .unwrap();
}

async fn rejection_of(db: &TestDatabase, statement: &str) -> String {
    let error = sqlx::query(statement)
        .execute(db.pool())
        .await
        .expect_err(statement);
    let database_error = error.as_database_error().expect("a database error");
    assert_eq!(
        database_error.code().as_deref(),
        Some("23001"),
        "{statement}"
    );
    database_error.message().to_owned()
}

#[tokio::test]
async fn updating_deleting_or_truncating_events_is_refused_with_a_clear_error() {
    let db = TestDatabase::create().await;
    store_one_event(&db).await;

    let update = rejection_of(&db, "UPDATE events SET event_type = 'Forged'").await;
    assert_eq!(
        update,
        "the events table is append-only: UPDATE is not allowed"
    );
    let delete = rejection_of(&db, "DELETE FROM events").await;
    assert_eq!(
        delete,
        "the events table is append-only: DELETE is not allowed"
    );
    let truncate = rejection_of(&db, "TRUNCATE events").await;
    assert_eq!(
        truncate,
        "the events table is append-only: TRUNCATE is not allowed"
    );

    let (count, event_type): (i64, String) =
        sqlx::query_as("SELECT count(*), min(event_type) FROM events")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(
        (count, event_type.as_str()),
        (1, "ProbeWritten"),
        "the event is untouched"
    );
}

#[tokio::test]
async fn an_event_without_a_tenant_is_refused() {
    let db = TestDatabase::create().await;
    let error = sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Probe', 'p1', 1, 'ProbeWritten', '1.0', '{\"ProbeWritten\": {}}', '{}')",
    )
    .execute(db.pool())
    .await
    .expect_err("no tenant");
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23502")
    );
}
