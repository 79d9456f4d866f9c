//! H3, "a wiped-and-resealed log is detected" (issue 16): someone holding
//! the owner's database credentials rewrites an event, wipes the seal
//! tables and lets the sealer reseal the rewritten history. The running
//! checkpointer must refuse to sign the new tree (it does not extend the
//! last checkpoint it signed), say so loudly, and make `/readyz` unready.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use alertledger_domain::values::Role;
use serde_json::Value;
use support::{generic_alert, TestApp, TestTenant};

async fn post(app: &TestApp, tenant: &TestTenant, asset: &str) -> i64 {
    let response = app.post_alert(tenant, &generic_alert(asset)).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    body["alerts"][0]["position"].as_i64().unwrap()
}

async fn newest_checkpoint(app: &TestApp) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), COALESCE(max(tree_size), 0) FROM audit_checkpoints")
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

/// A sealed, checkpointed history of three alerts; returns the first one's position.
async fn sealed_history(app: &TestApp, tenant: &TestTenant) -> i64 {
    let first = post(app, tenant, "web01").await;
    post(app, tenant, "web02").await;
    let last = post(app, tenant, "db01").await;
    let token = app.token(Role::Viewer, &[tenant.id]);
    app.get_when_sealed(&format!("/api/v1/audit/proof?position={last}"), &token)
        .await;
    // The workers append after the alerts (the correlator's incidents):
    // wait until every event is under a checkpoint, so that nothing
    // genuine is being signed while history is rewritten.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (events, signed): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM events),
                    (SELECT COALESCE(max(tree_size), 0) FROM audit_checkpoints)",
        )
        .fetch_one(app.db.pool())
        .await
        .unwrap();
        if events == signed {
            return first;
        }
        assert!(
            Instant::now() < deadline,
            "{events} events, {signed} checkpointed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What an attacker with the owner's credentials can do: turn the
/// append-only triggers off, change an event, wipe the seal (and, with
/// `wipe_checkpoints`, the checkpoints too) and make the sealer start over.
async fn rewrite_history(app: &TestApp, position: i64, wipe_checkpoints: bool) {
    let mut tx = app.db.pool().begin().await.unwrap();
    // Between two checkpoints: the checkpointer's own lock ("ALAC", 0).
    sqlx::query("SELECT pg_advisory_xact_lock(1095516483, 0)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let mut statements = vec![
        "ALTER TABLE events DISABLE TRIGGER USER".to_owned(),
        format!(
            "UPDATE events SET metadata = metadata || '{{\"forged\": true}}' WHERE position = {position}"
        ),
        "ALTER TABLE events ENABLE TRIGGER USER".to_owned(),
    ];
    let mut tables = vec!["audit_leaves", "audit_nodes"];
    if wipe_checkpoints {
        tables.push("audit_checkpoints");
    }
    for table in tables {
        statements.push(format!("ALTER TABLE {table} DISABLE TRIGGER USER"));
        statements.push(format!("DELETE FROM {table}"));
        statements.push(format!("ALTER TABLE {table} ENABLE TRIGGER USER"));
    }
    statements.push("DELETE FROM projector_checkpoints WHERE name = 'sealer'".to_owned());
    for statement in statements {
        sqlx::raw_sql(&statement).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// Polls /readyz until it is 503, returning the body.
async fn wait_until_unready(app: &TestApp) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        if response.status() == 503 {
            return response.json().await.unwrap();
        }
        assert_eq!(response.status(), 200);
        assert!(Instant::now() < deadline, "/readyz never became unready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn sealed_size(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_leaves")
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

async fn assert_the_checkpointer_refused(app: &TestApp, signed_before: (i64, i64)) {
    let body = wait_until_unready(app).await;
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("checkpointer") && message.contains("does not extend"),
        "{message}"
    );
    assert_eq!(
        body["error"]["details"]["alarms"][0]["component"],
        "checkpointer"
    );
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("alertledger_alarm{component=\"checkpointer\"} 1"),
        "{metrics}"
    );
    // The rewritten tree is sealed past the last checkpoint, yet nothing
    // new was signed over it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sealed_size(app).await <= signed_before.1 {
        assert!(Instant::now() < deadline, "the sealer never resealed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (count, size) = newest_checkpoint(app).await;
    assert!(
        size <= signed_before.1 && count <= signed_before.0,
        "a checkpoint was signed over the rewritten seal: {count} checkpoints, newest of {size} leaves"
    );
}

#[tokio::test]
async fn a_rewritten_and_resealed_log_under_the_old_checkpoints_is_refused() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let first = sealed_history(&app, &tenant).await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let before = newest_checkpoint(&app).await;
    assert!(before.1 >= 3, "{before:?}");

    // The old, genuine checkpoints stay; the leaves under them change.
    rewrite_history(&app, first, false).await;
    // New traffic gives the checkpointer a bigger tree to sign.
    post(&app, &tenant, "cache01").await;
    assert_the_checkpointer_refused(&app, before).await;
}

#[tokio::test]
async fn a_wiped_seal_with_its_checkpoints_is_refused() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let first = sealed_history(&app, &tenant).await;
    let before = newest_checkpoint(&app).await;

    rewrite_history(&app, first, true).await;
    post(&app, &tenant, "cache01").await;
    let body = wait_until_unready(&app).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("checkpointer"),
        "{body}"
    );
    // Whatever the sealer reseals, no checkpoint is ever signed over it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sealed_size(&app).await <= before.1 {
        assert!(Instant::now() < deadline, "the sealer never resealed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(newest_checkpoint(&app).await, (0, 0));
}
