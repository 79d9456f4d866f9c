//! Maintenance windows end to end (issue 19): defined over HTTP, applied by
//! the correlator the application runs, ended by the window closer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use alertledger_domain::values::Role;
use alertledger_workers::background::WorkerSettings;
use chrono::Utc;
use serde_json::{json, Value};
use support::feed::{name_of, ws_connect, ws_next, ws_until, SseClient};
use support::{generic_alert, TestApp, TestTenant};

async fn app() -> TestApp {
    TestApp::spawn_with_background(WorkerSettings {
        window_check: Duration::from_millis(100),
        ..WorkerSettings::default()
    })
    .await
}

async fn create_window(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/api/v1/maintenance-windows"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Posts `alert` and returns its id and log position, once the alerts read
/// model shows it.
async fn post(app: &TestApp, tenant: &TestTenant, alert: &Value) -> (String, i64) {
    let response = app.post_alert(tenant, alert).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let position = body["alerts"][0]["position"].as_i64().unwrap();
    app.wait_until_consumed("alerts", position).await;
    (
        body["alerts"][0]["alert_id"].as_str().unwrap().to_owned(),
        position,
    )
}

/// Events of `event_type` stored before the first `MaintenanceWindowEnded`
/// (all of them while none is).
async fn stored_before_the_end(app: &TestApp, event_type: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = $1 AND position <
           coalesce((SELECT min(position) FROM events WHERE event_type = 'MaintenanceWindowEnded'),
                    9223372036854775807)",
    )
    .bind(event_type)
    .fetch_one(app.db.pool())
    .await
    .unwrap()
}

fn alert(asset: &str, signature: &str) -> Value {
    let mut alert = generic_alert(asset);
    alert["signature"] = json!(signature);
    alert
}

#[tokio::test]
async fn a_one_off_window_suppresses_matching_alerts_and_correlates_them_when_it_ends() {
    let app = app().await;
    let tenant = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    // An auto-executing runbook for the signature: it must not start while
    // the window holds the alert.
    let runbook = app
        .client
        .post(app.url("/api/v1/runbooks"))
        .bearer_auth(&admin)
        .json(&json!({
            "tenant_id": tenant.id, "name": "Restart", "signature": "DiskFull",
            "risk": "medium", "commands": ["systemctl restart db"], "auto_execute": true
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(runbook.status(), 201);

    let now = Utc::now();
    // Long enough for the two alerts to be stored and correlated inside the
    // window on a loaded machine (8 s was not, once, with a load of 10).
    let ends_at = now + chrono::Duration::seconds(20);
    let (status, window) = create_window(
        &app,
        &admin,
        json!({
            "tenant_id": tenant.id,
            "name": "DB patch",
            "starts_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
            "ends_at": ends_at.to_rfc3339(),
            "matchers": ["asset=\"srv-db-01\"", "severity=~\"high|critical\""],
        }),
    )
    .await;
    assert_eq!(status, 201, "{window}");
    let window_id = window["id"].as_str().unwrap().to_owned();
    assert_eq!(window["active"], true);

    let (held, _) = post(&app, &tenant, &alert("srv-db-01", "DiskFull")).await;
    let (other, last) = post(&app, &tenant, &alert("srv-web-01", "DiskFull")).await;
    app.wait_until_consumed("correlator", last).await;
    app.wait_until_consumed("runbook-dispatcher", last).await;

    // The other alert correlates; the matching one is stored and suppressed.
    let other = app
        .get_until(&format!("/api/v1/alerts/{other}"), &admin, |a| {
            a["incident_id"].is_string()
        })
        .await;
    assert!(other["suppressed_by"].is_null());
    let suppressed = app
        .get_until(&format!("/api/v1/alerts/{held}"), &admin, |a| {
            a["suppressed_by"].is_string()
        })
        .await;
    assert_eq!(suppressed["suppressed_by"], window_id.as_str());
    assert_eq!(app.stored("AlertSuppressed").await, 1);
    // The dispatcher asks for approval after the correlator opened the other
    // alert's incident (later than the receipt waited for above).
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.stored("ApprovalRequested").await < 1 {
        assert!(Instant::now() < deadline, "no approval was requested");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // While the window held the alert (before its end was recorded): one
    // incident and one approval, for the other alert; no execution.
    assert_eq!(stored_before_the_end(&app, "IncidentOpened").await, 1);
    assert_eq!(stored_before_the_end(&app, "ApprovalRequested").await, 1);
    assert_eq!(stored_before_the_end(&app, "ExecutionRequested").await, 0);

    // The window ends while the alert still fires: the incident opens then.
    let correlated = app
        .get_until(&format!("/api/v1/alerts/{held}"), &admin, |a| {
            a["incident_id"].is_string()
        })
        .await;
    assert!(Utc::now() >= ends_at);
    let explanation = correlated["correlation_reason"]["explanation"]
        .as_str()
        .unwrap();
    assert!(
        explanation.starts_with(&format!("maintenance window {window_id} ended")),
        "{explanation}"
    );
    assert!(correlated["suppression_lifted_at"].is_string());
    assert_eq!(app.stored("MaintenanceWindowEnded").await, 1);
    assert_eq!(app.stored("AlertSuppressionLifted").await, 1);
    assert_eq!(app.stored("IncidentOpened").await, 2);
    let shown = app
        .get_until(
            &format!("/api/v1/maintenance-windows/{window_id}"),
            &admin,
            |w| w["suppressed_alerts"] == 1,
        )
        .await;
    assert_eq!(shown["active"], false);

    // Rebuilt from the log (suppressions, the end, the late correlation in
    // it), every read model equals what was live.
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
    // Everything written so far is applied by every read model first.
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
    assert!(live[0]
        .1
        .iter()
        .any(|row| row["suppression_lifted_at"].is_string()));
}

#[tokio::test]
async fn an_alert_resolved_during_the_window_is_not_correlated_when_it_ends() {
    let app = app().await;
    let tenant = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let now = Utc::now();
    let (status, _) = create_window(
        &app,
        &admin,
        json!({
            "tenant_id": tenant.id, "name": "short",
            "starts_at": now.to_rfc3339(),
            "ends_at": (now + chrono::Duration::seconds(3)).to_rfc3339(),
            "matchers": ["asset=\"srv-db-01\""],
        }),
    )
    .await;
    assert_eq!(status, 201);
    let mut firing = alert("srv-db-01", "DiskFull");
    firing["labels"] = json!({ "id": "1" });
    let (held, _) = post(&app, &tenant, &firing).await;
    let mut resolved = firing.clone();
    resolved["status"] = json!("resolved");
    post(&app, &tenant, &resolved).await;
    app.get_until(&format!("/api/v1/alerts/{held}"), &admin, |a| {
        a["status"] == "resolved" && a["suppressed_by"].is_string()
    })
    .await;
    // A later alert after the end proves the correlator passed the end.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Utc::now() < now + chrono::Duration::seconds(4) {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, last) = post(&app, &tenant, &alert("srv-web-01", "Other")).await;
    app.wait_until_consumed("correlator", last).await;
    let shown = app
        .get_until(&format!("/api/v1/alerts/{held}"), &admin, |_| true)
        .await;
    assert!(shown["incident_id"].is_null(), "{shown}");
    assert_eq!(app.stored("AlertSuppressionLifted").await, 0);
}

#[tokio::test]
async fn a_weekly_window_is_listed_as_active_at_local_wall_clock_times_across_dst() {
    let app = app().await;
    let tenant = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let (status, window) = create_window(
        &app,
        &admin,
        json!({
            "tenant_id": tenant.id, "name": "Weekly patch night",
            "schedule": {"cron": "0 22 * * SAT", "duration_minutes": 240, "timezone": "Europe/Berlin"},
            "matchers": ["severity=~\"high|critical\""],
        }),
    )
    .await;
    assert_eq!(status, 201, "{window}");
    let active_at = |at: &'static str| {
        let app = &app;
        let admin = &admin;
        async move {
            let body = app
                .get_until(
                    &format!("/api/v1/maintenance-windows?active=true&at={at}"),
                    admin,
                    |_| true,
                )
                .await;
            body["items"].as_array().unwrap().len()
        }
    };
    // Summer time: 22:00 local = 20:00 UTC; winter time: 21:00 UTC.
    assert_eq!(active_at("2026-10-17T19:59:00Z").await, 0);
    assert_eq!(active_at("2026-10-17T20:00:00Z").await, 1);
    assert_eq!(active_at("2026-10-17T23:59:00Z").await, 1);
    assert_eq!(active_at("2026-10-18T00:00:00Z").await, 0);
    assert_eq!(active_at("2026-10-31T20:30:00Z").await, 0);
    assert_eq!(active_at("2026-10-31T21:00:00Z").await, 1);
    assert_eq!(active_at("2026-11-01T00:59:00Z").await, 1);
    assert_eq!(active_at("2026-11-01T01:00:00Z").await, 0);
}

#[tokio::test]
async fn bad_windows_are_422_naming_the_field_and_writing_nothing() {
    let app = app().await;
    let tenant = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let schedule = |cron: Option<&str>, rrule: Option<&str>, tz: &str| {
        json!({
            "tenant_id": tenant.id, "name": "w",
            "schedule": {"cron": cron, "rrule": rrule, "duration_minutes": 60, "timezone": tz},
            "matchers": ["asset=\"a\""],
        })
    };
    let cases = [
        (schedule(Some("99 * * * *"), None, "UTC"), "schedule.cron"),
        (schedule(None, Some("FREQ=NEVER"), "UTC"), "schedule.rrule"),
        (
            schedule(Some("0 22 * * SAT"), None, "Europe/Atlantis"),
            "schedule.timezone",
        ),
        (
            json!({
                "tenant_id": tenant.id, "name": "w",
                "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T09:00:00Z",
                "matchers": ["asset=\"a\""],
            }),
            "ends_at",
        ),
        (
            json!({
                "tenant_id": tenant.id, "name": "w",
                "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T11:00:00Z",
                "matchers": ["asset=\"a\"", "asset=~\"(unclosed\""],
            }),
            "matchers[1]",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = create_window(&app, &admin, body).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["details"]["field"], field, "{answer}");
    }
    assert_eq!(app.stored("MaintenanceWindowCreated").await, 0);
    // A technician may read but not configure.
    let technician = app.token(Role::Technician, &[tenant.id]);
    let (status, _) = create_window(
        &app,
        &technician,
        json!({
            "tenant_id": tenant.id, "name": "w",
            "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T11:00:00Z",
            "matchers": ["asset=\"a\""],
        }),
    )
    .await;
    assert_eq!(status, 403);
    // Another tenant's admin sees nothing of this tenant.
    let other = app.create_tenant("other").await;
    let stranger = app.token(Role::TenantAdmin, &[other.id]);
    let (status, _) = create_window(
        &app,
        &stranger,
        json!({
            "tenant_id": tenant.id, "name": "w",
            "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T11:00:00Z",
            "matchers": ["asset=\"a\""],
        }),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn silencing_an_incident_suppresses_its_key_and_is_on_its_timeline() {
    let app = app().await;
    let tenant = app.create_tenant("acme").await;
    let technician = app.token(Role::Technician, &[tenant.id]);
    let (first, position) = post(&app, &tenant, &alert("srv-app-01", "Latency")).await;
    app.wait_until_consumed("alerts", position).await;
    let first = app
        .get_until(&format!("/api/v1/alerts/{first}"), &technician, |a| {
            a["incident_id"].is_string()
        })
        .await;
    let incident = first["incident_id"].as_str().unwrap().to_owned();
    let silence = |token: &str, body: Value| {
        let request = app
            .client
            .post(app.url(&format!("/api/v1/incidents/{incident}/silence")))
            .bearer_auth(token)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    assert_eq!(
        silence(&viewer, json!({"duration_minutes": 120})).await.0,
        403
    );
    let (status, body) = silence(&technician, json!({"duration_minutes": 0})).await;
    assert_eq!(
        (status, &body["error"]["details"]["field"]),
        (422, &json!("duration_minutes"))
    );

    let (status, window) = silence(
        &technician,
        json!({"duration_minutes": 120, "reason": "known issue, vendor ticket open"}),
    )
    .await;
    assert_eq!(status, 201, "{window}");
    assert_eq!(
        window["matchers"],
        json!(["asset=\"srv-app-01\"", "signature=\"Latency\""])
    );
    assert_eq!(window["silenced_incident_id"], incident.as_str());
    assert_eq!(window["active"], true);
    let window_id = window["id"].as_str().unwrap().to_owned();

    let mut again = alert("srv-app-01", "Latency");
    again["message"] = json!("still slow");
    again["occurred_at"] = json!("2026-11-22T04:00:00Z");
    let (next, position) = post(&app, &tenant, &again).await;
    app.wait_until_consumed("alerts", position).await;
    let next = app
        .get_until(&format!("/api/v1/alerts/{next}"), &technician, |a| {
            a["suppressed_by"].is_string()
        })
        .await;
    assert_eq!(next["suppressed_by"], window_id.as_str());
    assert!(next["incident_id"].is_null());
    let shown = app
        .get_until(&format!("/api/v1/incidents/{incident}"), &technician, |i| {
            i["timeline"]
                .as_array()
                .is_some_and(|t| t.iter().any(|e| e["event_type"] == "IncidentSilenced"))
        })
        .await;
    let entry = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "IncidentSilenced")
        .unwrap()
        .clone();
    assert!(
        entry.to_string().contains(&window_id),
        "the timeline names the window: {entry}"
    );
}

/// How long a status change may take to reach the feed.
const FEED_DEADLINE: Duration = Duration::from_secs(30);

fn ws_url(app: &TestApp, token: &str) -> String {
    format!(
        "{}/ws?token={token}",
        app.address.replace("http://", "ws://")
    )
}

fn instant(value: &Value) -> chrono::DateTime<Utc> {
    value
        .as_str()
        .and_then(|raw| chrono::DateTime::parse_from_rfc3339(raw).ok())
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {value}"))
}

/// Waits (polling, with a deadline) until the wall clock passes `at`.
async fn until_past(at: chrono::DateTime<Utc>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Utc::now() <= at {
        assert!(Instant::now() < deadline, "the clock never passed {at}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_one_off_window_is_active_then_inactive_on_its_tenants_live_feed_only() {
    let app = app().await;
    let acme = app.create_tenant("acme").await;
    let other = app.create_tenant("other").await;
    let admin = app.token(Role::TenantAdmin, &[acme.id]);
    let viewer = app.token(Role::Viewer, &[acme.id]);
    let other_viewer = app.token(Role::Viewer, &[other.id]);
    let mut acme_feed = ws_connect(&ws_url(&app, &viewer)).await;
    let mut other_feed = ws_connect(&ws_url(&app, &other_viewer)).await;
    for feed in [&mut acme_feed, &mut other_feed] {
        let initial = ws_next(feed, FEED_DEADLINE).await.unwrap();
        assert_eq!(initial["type"], "initial_data");
    }

    let now = Utc::now();
    let (starts_at, ends_at) = (
        now + chrono::Duration::seconds(1),
        now + chrono::Duration::seconds(3),
    );
    let (status, window) = create_window(
        &app,
        &admin,
        json!({
            "tenant_id": acme.id, "name": "short patch",
            "starts_at": starts_at.to_rfc3339(), "ends_at": ends_at.to_rfc3339(),
            "matchers": ["asset=\"srv-db-01\""],
        }),
    )
    .await;
    assert_eq!(status, 201, "{window}");
    assert_eq!(window["active"], false);
    let window_id = window["id"].as_str().unwrap().to_owned();

    let kind = "maintenance_window_status_changed";
    let seen = ws_until(&mut acme_feed, FEED_DEADLINE, |m| {
        m["type"] == kind
            && m["data"]["payload"]["MaintenanceWindowStatusChanged"]["active"] == false
    })
    .await;
    let changes: Vec<&Value> = seen
        .iter()
        .filter(|m| m["type"] == kind)
        .map(|m| &m["data"]["payload"]["MaintenanceWindowStatusChanged"])
        .collect();
    assert_eq!(changes.len(), 2, "a start, then an end: {seen:#?}");
    assert_eq!(changes[0]["active"], true);
    assert_eq!(changes[1]["active"], false);
    for change in &changes {
        assert_eq!(change["window_id"], window_id.as_str());
        assert_eq!(change["tenant_id"], acme.id.to_string());
        assert_eq!(
            instant(&change["occurrence_start"]),
            instant(&window["starts_at"])
        );
        assert_eq!(
            instant(&change["occurrence_end"]),
            instant(&window["ends_at"])
        );
    }
    // Recorded at the boundaries (the closer looks every 100 ms), not
    // before them.
    let at = |m: &Value| instant(&m["data"]["payload"]["MaintenanceWindowStatusChanged"]["at"]);
    let recorded: Vec<_> = seen.iter().filter(|m| m["type"] == kind).map(at).collect();
    assert!(
        recorded[0] >= starts_at && recorded[1] >= ends_at,
        "{recorded:?}"
    );
    assert_eq!(app.stored("MaintenanceWindowStatusChanged").await, 2);

    // The other tenant's feed carries its own marker but none of that.
    post(&app, &other, &alert("other-marker", "Ping")).await;
    let theirs = ws_until(&mut other_feed, FEED_DEADLINE, |m| {
        m["type"] == "new_alert" && m["data"]["payload"]["AlertReceived"]["asset"] == "other-marker"
    })
    .await;
    for message in &theirs {
        assert_ne!(message["type"], kind, "{message}");
        assert_eq!(
            message["data"]["tenant_id"],
            other.id.to_string(),
            "{message}"
        );
    }
}

#[tokio::test]
async fn a_window_whose_start_passed_while_the_service_was_stopped_is_reported_after_start_up() {
    let mut app = app().await;
    let acme = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[acme.id]);
    let starts_at = Utc::now() + chrono::Duration::seconds(3);
    let (status, window) = create_window(
        &app,
        &admin,
        json!({
            "tenant_id": acme.id, "name": "overnight",
            "starts_at": starts_at.to_rfc3339(),
            "ends_at": (starts_at + chrono::Duration::hours(1)).to_rfc3339(),
            "matchers": ["asset=\"srv-db-01\""],
        }),
    )
    .await;
    assert_eq!(status, 201, "{window}");
    let before: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(app.db.pool())
        .await
        .unwrap();

    app.stop().await;
    until_past(starts_at).await;
    // The start passed while no process ran: nothing recorded it.
    let pool = alertledger_schema::connect(app.db.url(), &Default::default())
        .await
        .unwrap();
    let recorded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'MaintenanceWindowStatusChanged'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(recorded, 0);
    pool.close().await;

    app.start_again(WorkerSettings {
        window_check: Duration::from_millis(100),
        ..WorkerSettings::default()
    })
    .await;
    let mut feed = SseClient::connect(
        &app.url(&format!("/api/v1/stream?after={before}")),
        &[("Authorization", &format!("Bearer {admin}"))],
    )
    .await;
    let seen = feed
        .events_until(FEED_DEADLINE, |e| {
            name_of(e) == "MaintenanceWindowStatusChanged"
        })
        .await;
    let change = seen.last().unwrap().json();
    let change = &change["payload"]["MaintenanceWindowStatusChanged"];
    assert_eq!(change["active"], true);
    assert_eq!(change["window_id"], window["id"]);
    assert_eq!(
        instant(&change["occurrence_start"]),
        instant(&window["starts_at"])
    );
    assert!(instant(&change["at"]) > starts_at);
}
