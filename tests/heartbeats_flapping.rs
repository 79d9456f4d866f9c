//! Heartbeats and flapping end to end (issue 19): heartbeats beaten over
//! HTTP, missed and recovered by the heartbeat checker (with an injected
//! clock, across a restart, and in real time), flapping keys marked by the
//! correlator and settled by the flap settler, KPIs, tenant scoping, bad
//! input, and rebuild equality with all of it (and a maintenance window) in
//! the log. One application serves every injected-clock scenario.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger_domain::values::Role;
use alertledger_domain::{DomainServices, FixedClock};
use alertledger_eventstore::log::LogSignal;
use alertledger_workers::background::WorkerSettings;
use alertledger_workers::correlator::FlapSettler;
use alertledger_workers::heartbeat::{CheckRound, HeartbeatChecker};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use support::{generic_alert, TestApp, TestTenant};
use uuid::Uuid;

/// Beats heartbeat `name` of `tenant`, with `body` if any.
async fn beat(app: &TestApp, tenant: &TestTenant, name: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url(&format!("/api/v1/heartbeats/{name}")))
        .header("X-API-Key", &tenant.api_key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|raw| DateTime::parse_from_rfc3339(raw).ok())
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {value}"))
}

fn checker(app: &TestApp, clock: &Arc<FixedClock>) -> HeartbeatChecker {
    HeartbeatChecker::new(
        app.db.pool().clone(),
        LogSignal::local(),
        DomainServices::new(clock.clone()),
        Duration::from_secs(1),
    )
}

/// The heartbeat `name` as `token` lists it.
async fn listed(app: &TestApp, token: &str, name: &str) -> Value {
    let list = app.get_until("/api/v1/heartbeats", token, |_| true).await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} is not listed: {list}"))
}

/// GETs `path` until it answers 200 with a body `done` accepts (the read
/// models follow the log: an alert a worker raised is 404 until then).
async fn poll(app: &TestApp, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == 200 && done(&body) {
            return body;
        }
        assert!(
            status == 200 || status == 404,
            "GET {path}: {status} {body}"
        );
        assert!(
            Instant::now() < deadline,
            "GET {path} never satisfied the test: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Posts a generic alert with its own delivery key; its id.
async fn post_keyed(app: &TestApp, tenant: &TestTenant, alert: &Value, key: &str) -> String {
    let response = app
        .client
        .post(app.url("/api/v1/webhooks/generic"))
        .header("X-API-Key", &tenant.api_key)
        .header("Idempotency-Key", key)
        .json(alert)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    body["alerts"][0]["alert_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn heartbeats_and_flapping_with_an_injected_clock() {
    // The application's own checker and settler sleep through the test
    // (their first round finds nothing): the test drives its own, on clocks
    // it moves.
    let app = TestApp::spawn_with_background(WorkerSettings {
        heartbeat_check: Duration::from_secs(3600),
        flap_check: Duration::from_secs(3600),
        window_check: Duration::from_millis(100),
        ..WorkerSettings::default()
    })
    .await;
    let acme = app.create_tenant("acme").await;
    let other = app.create_tenant("other").await;
    let admin = app.token(Role::TenantAdmin, &[acme.id]);
    let other_admin = app.token(Role::TenantAdmin, &[other.id]);
    let pool = app.db.pool();

    // Bad input is 422 naming the field, and writes nothing.
    let long = "x".repeat(129);
    let cases = [
        ("bad name", None, "name"),
        (long.as_str(), None, "name"),
        (
            "nightly",
            Some(json!({"timeout_seconds": 1})),
            "timeout_seconds",
        ),
        (
            "nightly",
            Some(json!({"timeout_seconds": 700_000})),
            "timeout_seconds",
        ),
        (
            "nightly",
            Some(json!({"timeout_seconds": "soon"})),
            "timeout_seconds",
        ),
        ("nightly", Some(json!({"labels": {"env": 1}})), "labels.env"),
        ("nightly", Some(json!({"asset": ""})), "asset"),
    ];
    for (name, body, field) in cases {
        let (status, answer) = beat(&app, &acme, name, body).await;
        assert_eq!(status, 422, "{name}: {answer}");
        assert_eq!(answer["error"]["details"]["field"], field, "{answer}");
    }
    let unauthenticated = app
        .client
        .post(app.url("/api/v1/heartbeats/nightly"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM heartbeats")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    assert_eq!(app.stored("HeartbeatRegistered").await, 0);

    // A first beat registers it; later beats are one write each, no event.
    let (status, first) = beat(
        &app,
        &acme,
        "nightly",
        Some(json!({"timeout_seconds": 60, "labels": {"team": "dba"}})),
    )
    .await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["status"], "ok");
    assert_eq!(first["timeout_seconds"], 60);
    let mut last = first.clone();
    for _ in 0..3 {
        let (status, answer) = beat(&app, &acme, "nightly", None).await;
        assert_eq!(status, 202);
        assert_eq!(answer["id"], first["id"]);
        last = answer;
    }
    assert!(time(&last["last_seen_at"]) >= time(&first["last_seen_at"]));
    assert_eq!(app.stored("HeartbeatRegistered").await, 1);
    assert_eq!(app.stored("HeartbeatChanged").await, 0);
    let last_seen = time(&last["last_seen_at"]);

    // Tenant scoping: the other tenant's heartbeat of the same name is its own.
    let (status, theirs) = beat(&app, &other, "nightly", None).await;
    assert_eq!(status, 202);
    assert_ne!(theirs["id"], first["id"]);
    let mine = app.get_until("/api/v1/heartbeats", &admin, |_| true).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine["items"][0]["id"], first["id"]);
    let foreign = app
        .client
        .get(app.url(&format!("/api/v1/heartbeats?tenant={}", acme.id)))
        .bearer_auth(&other_admin)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
    let everyone = app
        .get_until(
            "/api/v1/heartbeats",
            &app.token(Role::MspAdmin, &[]),
            |_| true,
        )
        .await;
    assert_eq!(everyone["items"].as_array().unwrap().len(), 2);

    // Missed, by the injected clock: not before the deadline, once after it.
    let clock = Arc::new(FixedClock::new(last_seen + chrono::Duration::seconds(59)));
    let checking = checker(&app, &clock);
    assert_eq!(checking.check_due().await.unwrap(), CheckRound::default());
    clock.set(last_seen + chrono::Duration::seconds(61));
    assert_eq!(checking.check_due().await.unwrap().missed, 1);
    assert_eq!(checking.check_due().await.unwrap(), CheckRound::default());
    let missed = listed(&app, &admin, "nightly").await;
    assert_eq!(missed["status"], "missed", "{missed}");
    let alert_id = missed["missed_alert_id"].as_str().unwrap().to_owned();
    // Its alert goes the way of every alert: stored, correlated.
    let alert = poll(&app, &format!("/api/v1/alerts/{alert_id}"), &admin, |a| {
        a["incident_id"].is_string()
    })
    .await;
    assert_eq!(alert["signature"], "heartbeat_missed");
    assert_eq!(alert["asset"], "nightly");
    assert_eq!(alert["labels"]["team"], "dba");
    assert_eq!(alert["status"], "firing");
    let incident = poll(
        &app,
        &format!(
            "/api/v1/incidents/{}",
            alert["incident_id"].as_str().unwrap()
        ),
        &admin,
        |_| true,
    )
    .await;
    assert_eq!(incident["signature"], "heartbeat_missed");

    // A restart while a heartbeat is overdue: the deadline is stored, so a
    // checker that starts after it passed (no timer survived) raises it.
    let (status, probe) = beat(
        &app,
        &acme,
        "restart-probe",
        Some(json!({"timeout_seconds": 30})),
    )
    .await;
    assert_eq!(status, 202);
    let probe_seen = time(&probe["last_seen_at"]);
    let before = checker(
        &app,
        &Arc::new(FixedClock::new(probe_seen + chrono::Duration::seconds(10))),
    );
    assert_eq!(before.check_due().await.unwrap().missed, 0);
    drop(before);
    let after = checker(
        &app,
        &Arc::new(FixedClock::new(probe_seen + chrono::Duration::seconds(45))),
    );
    assert_eq!(after.check_due().await.unwrap().missed, 1);
    assert_eq!(
        listed(&app, &admin, "restart-probe").await["status"],
        "missed"
    );

    // The next beat resolves it (a resolved alert of the same fingerprint).
    let (status, _) = beat(&app, &acme, "nightly", None).await;
    assert_eq!(status, 202);
    assert_eq!(checking.check_due().await.unwrap().recovered, 1);
    assert_eq!(listed(&app, &admin, "nightly").await["status"], "ok");
    poll(&app, &format!("/api/v1/alerts/{alert_id}"), &admin, |a| {
        a["status"] == "resolved"
    })
    .await;
    assert_eq!(app.stored("HeartbeatMissed").await, 2);
    assert_eq!(app.stored("HeartbeatRecovered").await, 1);
    // Six beats of acme and one of the other tenant: three registrations,
    // two misses, one recovery; never an event per beat.
    let heartbeat_events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Heartbeat'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(heartbeat_events, 6);

    // Flapping: the policy is the tenant's, changeable, an event.
    let policy_url = format!("/api/v1/tenants/{}/flapping-policy", acme.id);
    let refused = app
        .client
        .put(app.url(&policy_url))
        .bearer_auth(&admin)
        .json(&json!({"changes": 0, "window_minutes": 15}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"]["details"]["field"], "changes");
    let changed = app
        .client
        .put(app.url(&policy_url))
        .bearer_auth(&admin)
        .json(&json!({"changes": 3, "window_minutes": 15}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(app.stored("FlappingPolicyChanged").await, 1);

    // Firing, resolved, firing, resolved, firing: four switches, more than 3.
    let mut flappy = generic_alert("srv-flappy");
    flappy["signature"] = json!("LinkDown");
    let mut first_alert = String::new();
    for (i, status) in ["firing", "resolved", "firing", "resolved", "firing"]
        .iter()
        .enumerate()
    {
        flappy["status"] = json!(status);
        let id = post_keyed(&app, &acme, &flappy, &format!("flap-{i}")).await;
        if i == 0 {
            first_alert = id;
        }
    }
    let first_alert = poll(
        &app,
        &format!("/api/v1/alerts/{first_alert}"),
        &admin,
        |a| a["incident_id"].is_string(),
    )
    .await;
    let incident_id = first_alert["incident_id"].as_str().unwrap().to_owned();
    let incident_path = format!("/api/v1/incidents/{incident_id}");
    let flapping = poll(&app, &incident_path, &admin, |i| i["flapping"] == true).await;
    let reason = flapping["flapping_reason"].as_str().unwrap();
    assert!(
        reason.contains("switched between firing and resolved 4 times within 15 minutes"),
        "{reason}"
    );
    assert!(flapping["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|entry| entry["event_type"] == "IncidentFlapping"));
    // The hold the notifier reads.
    let incident_uuid = Uuid::parse_str(&incident_id).unwrap();
    assert!(alertledger_projections::incidents::flapping_hold(
        pool,
        *acme.id.as_uuid(),
        incident_uuid
    )
    .await
    .unwrap());
    assert!(!alertledger_projections::incidents::flapping_hold(
        pool,
        *other.id.as_uuid(),
        incident_uuid
    )
    .await
    .unwrap());

    // It ends once the key has been stable for the window (15 minutes).
    let now = Utc::now();
    let settle_at = |minutes: i64| {
        FlapSettler::new(
            pool.clone(),
            LogSignal::local(),
            DomainServices::new(Arc::new(FixedClock::new(
                now + chrono::Duration::minutes(minutes),
            ))),
            Duration::from_secs(1),
        )
    };
    assert_eq!(settle_at(10).settle_due().await.unwrap(), 0);
    assert_eq!(settle_at(16).settle_due().await.unwrap(), 1);
    let settled = app
        .get_until(&incident_path, &admin, |i| i["flapping"] == false)
        .await;
    assert!(settled["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|entry| entry["event_type"] == "IncidentFlappingEnded"));
    assert_eq!(settled["flapping_count"], 1);
    assert!(!alertledger_projections::incidents::flapping_hold(
        pool,
        *acme.id.as_uuid(),
        incident_uuid
    )
    .await
    .unwrap());

    // A maintenance window holds an alert back (KPIs count it per window).
    let window = app
        .client
        .post(app.url("/api/v1/maintenance-windows"))
        .bearer_auth(&admin)
        .json(&json!({
            "tenant_id": acme.id,
            "name": "DB patch",
            "starts_at": (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339(),
            "ends_at": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
            "matchers": ["asset=\"srv-db-01\""],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(window.status(), 201);
    let window: Value = window.json().await.unwrap();
    let window_id = window["id"].as_str().unwrap().to_owned();
    let held = post_keyed(&app, &acme, &generic_alert("srv-db-01"), "held-1").await;
    poll(&app, &format!("/api/v1/alerts/{held}"), &admin, |a| {
        a["suppressed_by"] == window_id.as_str()
    })
    .await;

    // KPIs: alerts suppressed (per window) and flapping incidents.
    let kpis = app
        .get_until(&format!("/api/v1/kpis?tenant={}", acme.id), &admin, |k| {
            k["incidents_flapping"] == 1 && k["alerts_suppressed"] == 1
        })
        .await;
    assert_eq!(
        kpis["suppressed_by_window"][0]["window_id"],
        window_id.as_str()
    );
    assert_eq!(kpis["suppressed_by_window"][0]["alerts"], 1);
    let theirs = app
        .get_until(
            &format!("/api/v1/kpis?tenant={}", other.id),
            &other_admin,
            |_| true,
        )
        .await;
    assert_eq!(theirs["incidents_flapping"], 0);
    assert_eq!(theirs["suppressed_by_window"], json!([]));

    assert_rebuild_equals_live(&app).await;
}

/// Rebuilds every read model from the log and compares it with the live tables.
async fn assert_rebuild_equals_live(app: &TestApp) {
    const TABLES: &[(&str, &str)] = &[
        ("alerts", "alert_id"),
        ("incidents", "incident_id"),
        ("incident_alerts", "incident_id, alert_id"),
        ("incident_timeline", "position"),
        ("audit_entries", "position"),
        ("kpi_daily", "tenant_id, day"),
        ("kpi_incidents", "incident_id"),
        (
            "kpi_window_suppressions",
            "tenant_id, window_id, day, recorded_at",
        ),
        ("approvals", "approval_id"),
    ];
    let pool = app.db.pool();
    let snapshot = || async {
        let mut tables = Vec::new();
        for (table, key) in TABLES {
            let rows: Vec<Value> =
                sqlx::query_scalar(&format!("SELECT to_jsonb(t) FROM {table} t ORDER BY {key}"))
                    .fetch_all(pool)
                    .await
                    .unwrap();
            tables.push((*table, rows));
        }
        tables
    };
    let last: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(pool)
        .await
        .unwrap();
    for projection in alertledger_projections::all() {
        app.wait_until_consumed(projection.name(), last).await;
    }
    let live = snapshot().await;
    alertledger_eventstore::consumer::rebuild::rebuild_all_live(
        pool,
        alertledger_projections::all(),
        Some(500),
    )
    .await
    .unwrap();
    let rebuilt = snapshot().await;
    for ((table, live), (_, rebuilt)) in live.iter().zip(&rebuilt) {
        assert!(live == rebuilt, "{table} differs after a rebuild");
    }
    // What this test put in the log is in what was compared.
    let incidents = &live[1].1;
    assert!(incidents.iter().any(|row| row["flapping_count"] == 1));
    assert!(incidents
        .iter()
        .any(|row| row["signature"] == "heartbeat_missed"));
    assert!(live[0].1.iter().any(|row| row["suppressed_by"].is_string()));
}

#[tokio::test]
async fn a_heartbeat_missed_and_recovered_over_real_http() {
    let app = TestApp::spawn_with_background(WorkerSettings {
        heartbeat_check: Duration::from_secs(1),
        ..WorkerSettings::default()
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let timeout = 5;
    let (status, registered) = beat(
        &app,
        &tenant,
        "edge-router",
        Some(json!({"timeout_seconds": timeout, "asset": "rtr-01"})),
    )
    .await;
    assert_eq!(status, 202, "{registered}");
    let beaten = Instant::now();

    let missed = app
        .get_until("/api/v1/heartbeats", &admin, |list| {
            list["items"][0]["status"] == "missed"
        })
        .await;
    let detected = beaten.elapsed();
    let deadline = time(&missed["items"][0]["deadline"]);
    let recorded: DateTime<Utc> = sqlx::query_scalar(
        "SELECT (payload -> 'HeartbeatMissed' ->> 'at')::timestamptz FROM events
          WHERE event_type = 'HeartbeatMissed'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    let late = (recorded - deadline).num_milliseconds() as f64 / 1000.0;
    println!(
        "heartbeat detection over HTTP: missed seen {:.2} s after the last beat \
         (timeout {timeout} s); HeartbeatMissed recorded {late:.2} s after the deadline",
        detected.as_secs_f64()
    );
    assert!(
        detected <= Duration::from_secs(timeout + 10),
        "detected after {detected:?}"
    );

    let alert_id = missed["items"][0]["missed_alert_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let alert = poll(&app, &format!("/api/v1/alerts/{alert_id}"), &admin, |a| {
        a["incident_id"].is_string()
    })
    .await;
    assert_eq!(alert["signature"], "heartbeat_missed");
    assert_eq!(alert["asset"], "rtr-01");

    let (status, _) = beat(&app, &tenant, "edge-router", None).await;
    assert_eq!(status, 202);
    app.get_until("/api/v1/heartbeats", &admin, |list| {
        list["items"][0]["status"] == "ok"
    })
    .await;
    poll(&app, &format!("/api/v1/alerts/{alert_id}"), &admin, |a| {
        a["status"] == "resolved"
    })
    .await;
}

/// The whole process stops while a heartbeat is due, stays down past its
/// deadline, and starts again: the new process's checker finds the overdue
/// deadline in the stored state and raises the alert, once.
#[tokio::test]
async fn a_restart_while_a_heartbeat_is_overdue_still_raises_its_alert() {
    let workers = || WorkerSettings {
        heartbeat_check: Duration::from_secs(1),
        ..WorkerSettings::default()
    };
    let mut app = TestApp::spawn_with_background(workers()).await;
    let tenant = app.create_tenant("restart-acme").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let (status, registered) = beat(
        &app,
        &tenant,
        "nightly-backup",
        Some(json!({"timeout_seconds": 5, "asset": "bkp-01"})),
    )
    .await;
    assert_eq!(status, 202, "{registered}");
    let listed = app
        .get_until("/api/v1/heartbeats", &admin, |list| {
            list["items"][0]["status"] == "ok"
        })
        .await;
    let deadline = time(&listed["items"][0]["deadline"]);

    // Down across the deadline: nothing runs to notice it. The new
    // process's checker starts with its clock past the deadline (the time
    // the process was down), so the test need not wait it out.
    app.stop().await;
    let after_the_outage = Arc::new(FixedClock::new(deadline + chrono::Duration::seconds(1)));
    let pool = app
        .start_again(WorkerSettings {
            heartbeat_services: Some(DomainServices::new(after_the_outage)),
            ..workers()
        })
        .await;

    let missed = app
        .get_until("/api/v1/heartbeats", &admin, |list| {
            list["items"][0]["status"] == "missed"
        })
        .await;
    let alert_id = missed["items"][0]["missed_alert_id"].as_str().unwrap();
    let alert = poll(&app, &format!("/api/v1/alerts/{alert_id}"), &admin, |a| {
        a["incident_id"].is_string()
    })
    .await;
    assert_eq!(alert["signature"], "heartbeat_missed");
    assert_eq!(alert["asset"], "bkp-01");
    let raised: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'HeartbeatMissed'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(raised, 1);
}

/// `method` on `/api/v1/heartbeats/{name}{query}` with `token` and `body`.
async fn manage(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, app.url(&format!("/api/v1/heartbeats/{path}")))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn paused_and_deleted_heartbeats_raise_no_miss_and_deleting_a_missed_one_resolves_its_alert()
{
    // The test drives its own checker on a clock it sets; the application's
    // sleeps through the test.
    let app = TestApp::spawn_with_background(WorkerSettings {
        heartbeat_check: Duration::from_secs(3600),
        ..WorkerSettings::default()
    })
    .await;
    let acme = app.create_tenant("acme").await;
    let other = app.create_tenant("other").await;
    let admin = app.token(Role::TenantAdmin, &[acme.id]);
    let technician = app.token(Role::Technician, &[acme.id]);
    let other_admin = app.token(Role::TenantAdmin, &[other.id]);
    let msp_admin = app.token(Role::MspAdmin, &[]);
    let tenant = format!("?tenant={}", acme.id);

    // The severity of the missed alert is a setting of the beat, checked.
    let (status, refused) = beat(&app, &acme, "backup", Some(json!({"severity": "urgent"}))).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["details"]["field"], "severity");
    let (status, backup) = beat(
        &app,
        &acme,
        "backup",
        Some(json!({"timeout_seconds": 5, "severity": "critical"})),
    )
    .await;
    assert_eq!(status, 202, "{backup}");
    assert_eq!(backup["severity"], "critical");
    assert_eq!(backup["paused"], false);
    let (status, quiet) = beat(&app, &acme, "reports", Some(json!({"timeout_seconds": 5}))).await;
    assert_eq!(status, 202);
    assert_eq!(quiet["severity"], "high", "the default stays high");

    // Pausing: tenant admins of the heartbeat's tenant only, with a JWT.
    let pause = json!({"paused": true});
    for (token, query, expected) in [
        (&technician, tenant.as_str(), 403),
        (&other_admin, tenant.as_str(), 404),
        (&other_admin, "", 404),
        (&msp_admin, "", 422),
    ] {
        let (status, body) = manage(
            &app,
            reqwest::Method::PATCH,
            &format!("reports{query}"),
            token,
            Some(pause.clone()),
        )
        .await;
        assert_eq!(status, expected, "{query}: {body}");
    }
    let (status, body) = manage(
        &app,
        reqwest::Method::PATCH,
        &format!("reports{tenant}"),
        &admin,
        Some(json!({"paused": "yes"})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["details"]["field"], "paused");
    let beat_key_only = app
        .client
        .patch(app.url(&format!("/api/v1/heartbeats/reports{tenant}")))
        .header("X-API-Key", &acme.api_key)
        .json(&pause)
        .send()
        .await
        .unwrap();
    assert_eq!(beat_key_only.status(), 401, "the API key only beats");
    assert_eq!(app.stored("HeartbeatPaused").await, 0);
    // The caller's only tenant needs no `?tenant=`.
    let (status, paused) = manage(
        &app,
        reqwest::Method::PATCH,
        "reports",
        &admin,
        Some(pause.clone()),
    )
    .await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["paused"], true);
    let (status, _) = manage(
        &app,
        reqwest::Method::PATCH,
        &format!("reports{tenant}"),
        &admin,
        Some(pause.clone()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.stored("HeartbeatPaused").await,
        1,
        "pausing twice is one event"
    );

    // Both are overdue a minute later: only the running one is missed, with
    // its alert at its severity.
    let clock = Arc::new(FixedClock::new(Utc::now() + chrono::Duration::seconds(60)));
    let round = checker(&app, &clock).check_due().await.unwrap();
    assert_eq!(
        round,
        CheckRound {
            missed: 1,
            recovered: 0
        }
    );
    assert_eq!(listed(&app, &admin, "reports").await["status"], "ok");
    let missed = listed(&app, &admin, "backup").await;
    assert_eq!(missed["status"], "missed");
    let alert_id = missed["missed_alert_id"].as_str().unwrap().to_owned();
    let alert = poll(&app, &format!("/api/v1/alerts/{alert_id}"), &admin, |_| {
        true
    })
    .await;
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["status"], "firing");

    // Deleting the missed heartbeat resolves its alert with it.
    let (status, deleted) = manage(
        &app,
        reqwest::Method::DELETE,
        &format!("backup{tenant}"),
        &technician,
        None,
    )
    .await;
    assert_eq!(status, 403, "{deleted}");
    let (status, deleted) = manage(
        &app,
        reqwest::Method::DELETE,
        &format!("backup{tenant}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["resolved_alerts"], json!([alert_id]));
    let resolved = poll(&app, &format!("/api/v1/alerts/{alert_id}"), &admin, |a| {
        a["status"] == "resolved"
    })
    .await;
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(app.stored("HeartbeatDeleted").await, 1);
    let (status, _) = manage(
        &app,
        reqwest::Method::DELETE,
        &format!("backup{tenant}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 404, "deleted already");
    let list = app.get_until("/api/v1/heartbeats", &admin, |_| true).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["reports"]);
    // A deleted heartbeat raises nothing more, however late.
    clock.set(Utc::now() + chrono::Duration::seconds(600));
    let round = checker(&app, &clock).check_due().await.unwrap();
    assert_eq!(round, CheckRound::default());

    // Resumed, the paused one is expected again a timeout from now: missed
    // once that passes.
    let (status, resumed) = manage(
        &app,
        reqwest::Method::PATCH,
        &format!("reports{tenant}"),
        &admin,
        Some(json!({"paused": false})),
    )
    .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["paused"], false);
    assert!(time(&resumed["deadline"]) > time(&quiet["deadline"]));
    assert_eq!(app.stored("HeartbeatResumed").await, 1);
    clock.set(time(&resumed["deadline"]) + chrono::Duration::seconds(1));
    let round = checker(&app, &clock).check_due().await.unwrap();
    assert_eq!(
        round,
        CheckRound {
            missed: 1,
            recovered: 0
        }
    );

    // A beat of the deleted heartbeat registers it anew.
    let (status, again) = beat(&app, &acme, "backup", None).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["status"], "ok");
    assert_eq!(again["severity"], "high");
    assert_eq!(app.stored("HeartbeatRegistered").await, 3);
}
