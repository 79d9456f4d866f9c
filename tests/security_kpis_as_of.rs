//! Issue 16, amplification: `GET /api/v1/kpis?as_of=` no longer builds the
//! KPI projection into a scratch schema per request. It sums the KPI
//! history with plain SELECTs, answers exactly what a build of the
//! projection from history (`projections rebuild --until`) answers, and the
//! service role, which no longer holds CREATE on the database, leaves no
//! schema behind: not under concurrent requests, not when clients go away.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use alertledger_domain::values::{Role, TenantId};
use alertledger_eventstore::consumer::rebuild::{
    build_history, drop_schema, scratch_schema, HistoryOptions, Until,
};
use alertledger_eventstore::consumer::Target;
use alertledger_projections::kpis::{self, KpiProjection};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{json, Value};
use support::{generic_alert, service_role_pool, TestApp, TestTenant};

/// The database's clock now (the clock `recorded_at` comes from).
async fn database_now(app: &TestApp) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

/// Waits until the kpis projection has applied everything recorded so far.
async fn kpis_caught_up(app: &TestApp) {
    let head: i64 = sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    app.wait_until_consumed("kpis", head).await;
}

async fn schemas(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT nspname::text FROM pg_namespace ORDER BY nspname")
        .fetch_all(app.db.pool())
        .await
        .unwrap()
}

/// `GET /api/v1/kpis?{query}` as `token`, 200 expected.
async fn kpis_of(app: &TestApp, query: &str, token: &str) -> Value {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/kpis?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET /api/v1/kpis?{query}");
    response.json().await.unwrap()
}

/// What a build of the kpis projection from the events recorded at or before
/// `as_of` answers (as the owner, who may create the schema it needs).
async fn rebuilt(app: &TestApp, tenants: Option<Vec<TenantId>>, answer: &Value) -> Value {
    let as_of: DateTime<Utc> = answer["as_of"].as_str().unwrap().parse().unwrap();
    let day = |field: &str| -> NaiveDate { answer[field].as_str().unwrap().parse().unwrap() };
    let tenants: Option<Vec<uuid::Uuid>> =
        tenants.map(|tenants| tenants.iter().map(|t| *t.as_uuid()).collect());
    let schema = scratch_schema("kpis_test");
    let options = HistoryOptions {
        until: Some(Until::Time(as_of)),
        tenants: tenants.clone(),
        ..HistoryOptions::default()
    };
    build_history(app.db.pool(), Arc::new(KpiProjection), &schema, &options)
        .await
        .unwrap();
    let mut summary = kpis::summary_in(
        app.db.pool(),
        &Target::schema(schema.as_str()),
        tenants.as_deref(),
        day("from"),
        day("to"),
    )
    .await
    .unwrap();
    drop_schema(app.db.pool(), &schema).await;
    summary.as_of = Some(as_of);
    serde_json::to_value(summary).unwrap()
}

/// The incidents of `tenant` once there are `count`, newest first.
async fn incidents(app: &TestApp, tenant: &TestTenant, token: &str, count: usize) -> Vec<String> {
    let page = app
        .get_until(
            &format!("/api/v1/incidents?tenant={}", tenant.id),
            token,
            |page| page["items"].as_array().unwrap().len() >= count,
        )
        .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|incident| incident["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn command(app: &TestApp, token: &str, incident: &str, action: &str, body: Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/incidents/{incident}/{action}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{action}: {}",
        response.status()
    );
}

#[tokio::test]
async fn as_of_answers_what_a_rebuild_answers_and_no_request_leaves_a_schema() {
    let app = TestApp::spawn_as_service_role().await;
    let acme = app.create_tenant("acme").await;
    let other = app.create_tenant("other").await;
    let admin = app.token(Role::TenantAdmin, &[acme.id]);
    let msp = app.token(Role::MspAdmin, &[]);
    let tenant = format!("tenant={}", acme.id);

    // First half: two incidents, one acknowledged; the other tenant too.
    for asset in ["web01", "db01"] {
        assert_eq!(
            app.post_alert(&acme, &generic_alert(asset)).await.status(),
            202
        );
    }
    assert_eq!(
        app.post_alert(&other, &generic_alert("x01")).await.status(),
        202
    );
    let first = incidents(&app, &acme, &admin, 2).await;
    command(&app, &admin, &first[0], "acknowledge", json!({})).await;
    kpis_caught_up(&app).await;
    let live_then = kpis_of(&app, &tenant, &admin).await;
    assert_eq!(
        (&live_then["incidents"], &live_then["acknowledged"]),
        (&json!(2), &json!(1))
    );
    let midpoint = database_now(&app).await;

    // Second half: a third incident; the acknowledged one resolved, then
    // the other one resolved and reopened.
    assert_eq!(
        app.post_alert(&acme, &generic_alert("mail01"))
            .await
            .status(),
        202
    );
    incidents(&app, &acme, &admin, 3).await;
    command(&app, &admin, &first[0], "resolve", json!({"note": "fixed"})).await;
    command(&app, &admin, &first[1], "resolve", json!({"note": "fixed"})).await;
    command(&app, &admin, &first[1], "reopen", json!({"reason": "back"})).await;
    kpis_caught_up(&app).await;
    let live_now = kpis_of(&app, &tenant, &admin).await;
    assert_eq!(
        (&live_now["incidents"], &live_now["resolved"]),
        (&json!(3), &json!(1))
    );
    assert_ne!(live_now["days"], live_then["days"]);
    // Everything recorded so far is applied, so an as_of of now shows it.
    let end = database_now(&app).await;

    let at = |time: DateTime<Utc>| {
        time.to_rfc3339_opts(SecondsFormat::Micros, true)
            .replace('+', "%2B")
    };
    for (as_of, live) in [(midpoint, &live_then), (end, &live_now)] {
        let answer = kpis_of(&app, &format!("{tenant}&as_of={}", at(as_of)), &admin).await;
        assert_eq!(
            answer["as_of"]
                .as_str()
                .unwrap()
                .parse::<DateTime<Utc>>()
                .unwrap(),
            as_of
        );
        // What a build from history says, to the figure.
        assert_eq!(answer, rebuilt(&app, Some(vec![acme.id]), &answer).await);
        // And what the live view said at that time.
        let mut live = live.clone();
        live["as_of"] = answer["as_of"].clone();
        assert_eq!(answer, live);
        // An MSP admin's summary over every tenant as well.
        let everyone = kpis_of(&app, &format!("as_of={}", at(as_of)), &msp).await;
        assert_eq!(everyone, rebuilt(&app, None, &everyone).await);
    }
    assert_eq!(
        kpis_of(&app, &format!("{tenant}&as_of={}", at(midpoint)), &admin).await["acknowledged"],
        1
    );

    // The service role cannot create a schema at all now.
    let service = service_role_pool(&app.db).await;
    let refused = sqlx::query("CREATE SCHEMA kpis_as_of_attempt")
        .execute(&service)
        .await
        .unwrap_err();
    assert_eq!(
        refused.as_database_error().unwrap().code().as_deref(),
        Some("42501")
    );

    // Concurrent as_of requests create no schema, nor do clients that go
    // away mid-request.
    let before = schemas(&app).await;
    let query = format!("{tenant}&as_of={}", at(midpoint));
    let requests = (0..16).map(|_| kpis_of(&app, &query, &admin));
    let answers = futures_util::future::join_all(requests).await;
    assert!(answers.iter().all(|answer| answer["incidents"] == 2));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_micros(1))
        .build()
        .unwrap();
    for _ in 0..8 {
        let gone = impatient
            .get(app.url(&format!("/api/v1/kpis?{tenant}&as_of={}", at(midpoint))))
            .bearer_auth(&admin)
            .send()
            .await;
        assert!(gone.is_err(), "the client was meant to give up first");
    }
    // The server still answers (and so has finished with the dropped ones).
    kpis_of(&app, &format!("{tenant}&as_of={}", at(midpoint)), &admin).await;
    assert_eq!(schemas(&app).await, before, "no schema was left behind");
}
