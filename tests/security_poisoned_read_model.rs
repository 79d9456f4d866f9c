//! H1 (issue 16): one event must never stop a read model for everyone
//! unseen, and an operator moves past it only explicitly.
//!
//! The attack: an `AlertReceived` with `occurred_at` in year 0 reached the
//! log, PostgreSQL refused it in the alerts read model, and the projector
//! retried it forever while `/readyz` said "ready" and no tenant saw a new
//! alert. The event is written straight into the log here (bypassing ingest,
//! which now refuses it), as a bug or an old release could have written it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use alertledger_domain::values::Role;
use serde_json::Value;
use support::process::alertledger;
use support::{generic_alert, TestApp};

/// Copies the stored `AlertReceived` of `template` into a new alert whose
/// `occurred_at` is in year 0, appended at the end of the log; returns its
/// position.
async fn append_year_zero_alert(app: &TestApp, template: &str) -> i64 {
    let alert_id = uuid::Uuid::now_v7().to_string();
    sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         SELECT aggregate_type, $2, 1, event_type, event_version,
                jsonb_set(jsonb_set(jsonb_set(payload,
                    '{AlertReceived,occurred_at}', '\"0000-01-01T00:00:00Z\"'),
                    '{AlertReceived,alert_id}', to_jsonb($2::text)),
                    '{AlertReceived,delivery_key}', to_jsonb('poison-' || $2::text)),
                metadata
           FROM events WHERE event_type = 'AlertReceived' AND aggregate_id = $1
         RETURNING position",
    )
    .bind(template)
    .bind(&alert_id)
    .fetch_one(app.db.pool())
    .await
    .unwrap()
}

/// GETs `/readyz` until `done(status, body)`.
async fn readyz_until(app: &TestApp, done: impl Fn(u16, &Value) -> bool) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        if done(status, &body) {
            return (status, body);
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never matched: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn stalled(body: &Value) -> Vec<(String, Option<i64>)> {
    body["error"]["details"]["stalled_consumers"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|s| {
                    (
                        s["consumer"].as_str().unwrap().to_owned(),
                        s["position"].as_i64(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Runs `alertledger projections ARGS` on the test database.
fn projections(app: &TestApp, args: &[&str]) -> std::process::Output {
    alertledger()
        .arg("projections")
        .args(args)
        .env("DATABASE_URL", app.db.url())
        .env("USER", "oncall-ops")
        .output()
        .expect("run alertledger projections")
}

/// Whether `GET /api/v1/alerts` as `token` lists `alert_id`.
async fn listed(app: &TestApp, token: &str, alert_id: &str) -> bool {
    let response = app
        .client
        .get(app.url("/api/v1/alerts?limit=200"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap().contains(alert_id)
}

async fn posted_alert_id(app: &TestApp, tenant: &support::TestTenant, asset: &str) -> String {
    let response = app.post_alert(tenant, &generic_alert(asset)).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    body["alerts"][0]["alert_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_poisoned_event_makes_the_service_unready_until_an_operator_quarantines_it() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let other = app.create_tenant("globex").await;
    let token = app.token(Role::MspAdmin, &[tenant.id, other.id]);

    let first = posted_alert_id(&app, &tenant, "web-1").await;
    app.get_until("/api/v1/alerts", &token, |body| {
        body.to_string().contains(&first)
    })
    .await;
    readyz_until(&app, |status, _| status == 200).await;

    // The attack.
    let poison = append_year_zero_alert(&app, &first).await;

    // 503 naming the consumer, the position and the error.
    let (_, body) = readyz_until(&app, |status, body| {
        status == 503 && stalled(body).contains(&("alerts".to_owned(), Some(poison)))
    })
    .await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("consumer alerts stopped at position")
            && message.contains(&poison.to_string()),
        "{message}"
    );
    let stalled_consumers = stalled(&body);
    let error = body["error"]["details"]["stalled_consumers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["consumer"] == "alerts")
        .unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains(&poison.to_string()), "{error}");

    // /metrics shows it too.
    let scraped = metrics(&app).await;
    assert!(
        scraped.contains("alertledger_consumer_stalled{consumer=\"alerts\"} 1"),
        "{scraped}"
    );
    assert!(
        scraped.contains(&format!(
            "alertledger_consumer_stalled_position{{consumer=\"alerts\"}} {poison}"
        )),
        "{scraped}"
    );
    // The audit trail reads every event as JSON and applied the same event:
    // only consumers that refuse it stall.
    assert!(scraped.contains("alertledger_consumer_stalled{consumer=\"audit\"} 0"));

    // Meanwhile another tenant's new alert is stored but not shown.
    let later = posted_alert_id(&app, &other, "db-1").await;
    assert!(!listed(&app, &token, &later).await);
    let status = projections(&app, &["status"]);
    let printed = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{status:?}");
    assert!(
        printed.contains(&format!("STALLED at position {poison}")),
        "{printed}"
    );

    // Refusals: an unknown consumer, a position with no event, no reason.
    for args in [
        vec!["quarantine", "nope", "--position", "1", "--reason", "x"],
        vec![
            "quarantine",
            "alerts",
            "--position",
            "999999",
            "--reason",
            "x",
        ],
        vec![
            "quarantine",
            "alerts",
            "--position",
            &poison.to_string(),
            "--reason",
            " ",
        ],
    ] {
        let refused = projections(&app, &args);
        assert!(!refused.status.success(), "{args:?} was accepted");
    }
    readyz_until(&app, |status, _| status == 503).await;

    // The operator quarantines the event for each consumer that stopped on it.
    let poison_arg = poison.to_string();
    let quarantine = |consumer: &str, position: &str| {
        projections(
            &app,
            &[
                "quarantine",
                consumer,
                "--position",
                position,
                "--reason",
                "occurred_at in year 0 (issue 16, H1)",
            ],
        )
    };
    for (consumer, position) in &stalled_consumers {
        assert_eq!(*position, Some(poison), "{consumer} stopped elsewhere");
        let done = quarantine(consumer, &poison_arg);
        assert!(done.status.success(), "{done:?}");
    }
    // Twice is refused.
    let again = projections(
        &app,
        &[
            "quarantine",
            "alerts",
            "--position",
            &poison_arg,
            "--reason",
            "again",
        ],
    );
    assert!(!again.status.success());
    let mut done_already: std::collections::HashSet<(String, i64)> = stalled_consumers
        .iter()
        .map(|(consumer, _)| (consumer.clone(), poison))
        .collect();

    // Workers that accepted the alert acted on it (the correlator put it in
    // an incident): a consumer that skipped it then stops on those later
    // events of the same alert, visibly again, until they are quarantined
    // too. Each stop is on the poisoned alert, never on another one.
    let poisoned_alert: String =
        sqlx::query_scalar("SELECT aggregate_id FROM events WHERE position = $1")
            .bind(poison)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        // Ready and caught up (a consumer may be ready for a moment between
        // passing a quarantined event and stopping on a later one).
        let caught_up = body["projectors"]
            .as_array()
            .is_some_and(|all| all.iter().all(|p| p["lag_events"] == 0));
        if status == 200 && caught_up {
            break body;
        }
        for (consumer, position) in stalled(&body) {
            let position = position.expect("a position");
            if !done_already.insert((consumer.clone(), position)) {
                continue; // quarantined; not yet retried
            }
            let aggregate: String =
                sqlx::query_scalar("SELECT aggregate_id FROM events WHERE position = $1")
                    .bind(position)
                    .fetch_one(app.db.pool())
                    .await
                    .unwrap();
            assert_eq!(
                aggregate, poisoned_alert,
                "{consumer} stopped on another alert"
            );
            let done = quarantine(&consumer, &position.to_string());
            assert!(done.status.success(), "{done:?}");
        }
        assert!(Instant::now() < deadline, "never ready again: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(ready["status"], "ready");

    // Ready again, and the alert sent meanwhile is shown.
    app.get_until("/api/v1/alerts", &token, |body| {
        body.to_string().contains(&later)
    })
    .await;
    let scraped = metrics(&app).await;
    assert!(scraped.contains("alertledger_consumer_stalled{consumer=\"alerts\"} 0"));

    // Only that event was skipped, only by those consumers: the audit trail
    // has the poisoned event, and the quarantine itself, with its actor.
    let audited: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT position, action, actor FROM audit_entries
          WHERE position = $1 OR action = 'consumer_event_quarantined' ORDER BY position",
    )
    .bind(poison)
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(audited[0].0, poison);
    assert_eq!(audited.len(), 1 + done_already.len(), "{audited:?}");
    assert!(audited[1..]
        .iter()
        .all(|(_, action, actor)| action == "consumer_event_quarantined"
            && actor == "cli:oncall-ops"));
    let shown: Vec<String> = sqlx::query_scalar("SELECT alert_id::text FROM alerts ORDER BY 1")
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    assert_eq!(shown.len(), 2, "{shown:?}");

    // `projections status` lists the quarantined events.
    let status = projections(&app, &["status"]);
    let printed = String::from_utf8_lossy(&status.stdout);
    assert!(printed.contains("quarantined events:"), "{printed}");
    let line = printed
        .lines()
        .find(|line| line.starts_with("alerts ") && line.contains("cli:oncall-ops"))
        .unwrap_or_else(|| panic!("{printed}"));
    assert!(
        line.contains(&poison_arg) && line.contains("AlertReceived") && line.contains("year 0")
    );
    assert!(!printed.contains("STALLED"), "{printed}");

    // A rebuild derives the same skip list from the log: same read model.
    let rebuilt = projections(&app, &["rebuild", "alerts"]);
    assert!(rebuilt.status.success(), "{rebuilt:?}");
    let after: Vec<String> = sqlx::query_scalar("SELECT alert_id::text FROM alerts ORDER BY 1")
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    assert_eq!(after, shown);
    readyz_until(&app, |status, _| status == 200).await;
}

/// A poisoned event in the middle of a batch: the events before it are
/// applied, the consumer stops exactly at it, not at the batch's start.
#[tokio::test]
async fn the_consumer_stops_at_the_refused_event_not_at_its_batch() {
    let app = TestApp::spawn_without_background().await;
    let tenant = app.create_tenant("acme").await;
    let first = posted_alert_id(&app, &tenant, "web-1").await;
    let poison = append_year_zero_alert(&app, &first).await;
    let after = posted_alert_id(&app, &tenant, "web-2").await;
    // One batch must hold all three: wait until the last is below the log's
    // readable horizon (every older transaction ended).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sqlx::query_scalar::<_, bool>(
        "SELECT bool_and(transaction_id < pg_snapshot_xmin(pg_current_snapshot())) FROM events",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap()
    {
        assert!(Instant::now() < deadline, "the log never became readable");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let pool = app.db.pool().clone();
    let runner = alertledger_eventstore::consumer::ConsumerRunner::new(
        pool.clone(),
        alertledger_eventstore::log::LogSignal::start(pool.clone()),
        std::sync::Arc::new(alertledger_projections::alerts::AlertsProjection),
        alertledger_eventstore::consumer::RunnerSettings::default(),
    );
    let error = runner.catch_up().await.unwrap_err();
    match error {
        alertledger_eventstore::consumer::ConsumerError::Event { position, .. } => {
            assert_eq!(position, poison);
        }
        other => panic!("expected an event error, got {other}"),
    }
    let shown: Vec<String> = sqlx::query_scalar("SELECT alert_id::text FROM alerts")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(shown, vec![first.clone()]);

    let done =
        alertledger::commands::projections::quarantine(&pool, "alerts", poison, "year 0", "tester")
            .await
            .unwrap();
    assert_eq!(done.event_type, "AlertReceived");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        runner.catch_up().await.unwrap();
        let shown: Vec<String> = sqlx::query_scalar("SELECT alert_id::text FROM alerts")
            .fetch_all(&pool)
            .await
            .unwrap();
        if shown.contains(&after) {
            assert_eq!(shown.len(), 2);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never applied past the quarantine"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
