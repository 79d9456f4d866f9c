//! Escalation policies and on-call schedules end to end (issue 18): defined
//! over HTTP, escalations started by an operator, levels recorded by the
//! escalator the application runs, on an injected clock the tests move
//! (never sleeping to wait for a delay).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger_domain::escalation::EscalationCommand;
use alertledger_domain::incident::{Incident, IncidentCommand};
use alertledger_domain::values::{
    AlertId, AlertSignature, AssetName, CorrelationDecision, CorrelationReason, IncidentId,
    PriorityScore, Role, Severity, ToolSource,
};
use alertledger_domain::{DomainServices, FixedClock};
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use alertledger_workers::background::WorkerSettings;
use alertledger_workers::escalation::Escalator;
use chrono::Utc;
use serde_json::{json, Value};
use sqlx::PgPool;
use support::{TestApp, TestTenant};

/// Workers whose escalator runs every 50 ms on `clock`.
fn workers(clock: &Arc<FixedClock>) -> WorkerSettings {
    WorkerSettings {
        escalation_check: Duration::from_millis(50),
        escalation_services: Some(DomainServices::new(clock.clone())),
        ..WorkerSettings::default()
    }
}

async fn app_with_clock() -> (TestApp, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(Utc::now()));
    let app = TestApp::spawn_with_background(workers(&clock)).await;
    (app, clock)
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    send(app, reqwest::Method::POST, path, token, Some(body)).await
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    send(app, reqwest::Method::GET, path, token, None).await
}

/// A Slack channel of the tenant; its id.
async fn channel(app: &TestApp, tenant: &TestTenant, admin: &str, name: &str) -> String {
    let (status, body) = post(
        app,
        &format!("/api/v1/tenants/{}/notification-channels", tenant.id),
        admin,
        json!({"type": "slack", "name": name,
               "config": {"url": "https://hooks.slack.com/services/T000/B000/XXXXXXXX"}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn policy(app: &TestApp, tenant: &TestTenant, admin: &str, body: Value) -> String {
    let (status, body) = post(
        app,
        &format!("/api/v1/tenants/{}/escalation-policies", tenant.id),
        admin,
        body,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Opens an incident of `tenant` through the aggregate store, as the
/// correlator would.
async fn open_incident(pool: &PgPool, tenant: &TestTenant) -> IncidentId {
    let incidents: AggregateStore<Incident> =
        AggregateStore::new(pool.clone(), DomainServices::system(), LogSignal::local());
    let incident_id = IncidentId::new_v7();
    let open = IncidentCommand::OpenIncident {
        incident_id,
        tenant_id: tenant.id,
        key: "db01|DiskFull".to_owned(),
        first_alert: AlertId::new_v7(),
        asset: AssetName::parse("db01").unwrap(),
        signature: AlertSignature::parse("DiskFull").unwrap(),
        severity: Severity::Critical,
        priority: PriorityScore::clamped(90),
        reason: CorrelationReason {
            key: "db01|DiskFull".to_owned(),
            window_minutes: 15,
            decision: CorrelationDecision::Opened,
            explanation: "no open incident with this key in the last 15 minutes".to_owned(),
        },
        tool_source: ToolSource::parse("zabbix").unwrap(),
    };
    incidents
        .execute(
            &incident_id.to_string(),
            open,
            EventMetadata::by("worker:test"),
        )
        .await
        .unwrap();
    incident_id
}

/// The payloads of the stored events of `event_type`, in order.
async fn stored(pool: &PgPool, event_type: &str) -> Vec<Value> {
    let rows: Vec<Value> =
        sqlx::query_scalar("SELECT payload FROM events WHERE event_type = $1 ORDER BY position")
            .bind(event_type)
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter()
        .map(|payload| {
            payload
                .as_object()
                .unwrap()
                .values()
                .next()
                .unwrap()
                .clone()
        })
        .collect()
}

/// How many escalations are left on the due list once the `escalation-timers`
/// consumer has read everything logged so far (its checkpoint, not a poll of
/// the table).
async fn due_list_once_read(pool: &PgPool) -> i64 {
    let head: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(
        alertledger_eventstore::consumer::wait_until_applied(
            pool,
            "escalation-timers",
            head,
            Duration::from_secs(30)
        )
        .await
        .unwrap(),
        "escalation-timers never read position {head}"
    );
    sqlx::query_scalar("SELECT count(*) FROM escalation_timers")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Waits until `count` events of `event_type` are stored; returns them.
async fn wait_for(pool: &PgPool, event_type: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = stored(pool, event_type).await;
        if events.len() >= count {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{count} {event_type} never stored (have {events:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn at(value: &Value) -> chrono::DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn not_acknowledged_within_the_delay_reaches_level_two() {
    let (app, clock) = app_with_clock().await;
    let tenant = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let technician = app.token(Role::Technician, &[tenant.id]);
    let first = channel(&app, &tenant, &admin, "Primary").await;
    let second = channel(&app, &tenant, &admin, "Manager").await;
    let policy_id = policy(
        &app,
        &tenant,
        &admin,
        json!({"name": "Database", "repeat": 0, "levels": [
            {"delay_minutes": 10, "channels": [first]},
            {"delay_minutes": 5, "channels": [second]}]}),
    )
    .await;
    let incident = open_incident(app.db.pool(), &tenant).await;
    let (status, started) = post(
        &app,
        &format!("/api/v1/incidents/{incident}/escalation"),
        &technician,
        json!({"policy_id": policy_id, "note": "disk full"}),
    )
    .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["run"], 1);
    // A second start while it runs is refused.
    let (status, again) = post(
        &app,
        &format!("/api/v1/incidents/{incident}/escalation"),
        &technician,
        json!({"policy_id": policy_id}),
    )
    .await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("escalation_running"))
    );

    // Level 1 is reached as soon as the escalator's clock is past the start.
    let start = Utc::now();
    clock.set(start);
    let levels = wait_for(app.db.pool(), "EscalationLevelReached", 1).await;
    let level_one = &levels[0];
    assert_eq!(level_one["level"], 1);
    assert_eq!(level_one["targets"], json!([{"channel_id": first}]));
    assert!(
        level_one["reason"]
            .as_str()
            .unwrap()
            .starts_with("escalation started: started by"),
        "{level_one}"
    );
    let level_one_due = at(&level_one["due_at"]);
    assert_eq!(
        at(&level_one["next_due_at"]),
        level_one_due + chrono::Duration::minutes(10)
    );

    // Nine minutes on, nothing more is due.
    clock.set(level_one_due + chrono::Duration::minutes(9));
    // Eleven minutes on, level 2.
    clock.set(level_one_due + chrono::Duration::minutes(11));
    let levels = wait_for(app.db.pool(), "EscalationLevelReached", 2).await;
    let level_two = &levels[1];
    assert_eq!(level_two["level"], 2);
    assert_eq!(level_two["incident_id"], json!(incident));
    assert_eq!(level_two["policy_id"], json!(policy_id));
    assert_eq!(level_two["reason"], "not acknowledged within 10 minutes");
    assert_eq!(level_two["targets"], json!([{"channel_id": second}]));
    assert_eq!(
        at(&level_two["due_at"]),
        level_one_due + chrono::Duration::minutes(10)
    );
    // Recorded at the escalator's time, after the delay, not at minute 9.
    assert_eq!(
        at(&level_two["at"]),
        level_one_due + chrono::Duration::minutes(11)
    );
    // The last level with no repeat: nothing further is due.
    assert_eq!(level_two["next_due_at"], Value::Null);

    // The incident's timeline shows both levels with their reasons.
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    let shown = app
        .get_until(&format!("/api/v1/incidents/{incident}"), &viewer, |body| {
            body["timeline"].as_array().is_some_and(|entries| {
                entries
                    .iter()
                    .filter(|e| e["event_type"] == "EscalationLevelReached")
                    .count()
                    == 2
            })
        })
        .await;
    let summaries: Vec<&str> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "EscalationLevelReached")
        .map(|e| e["summary"].as_str().unwrap())
        .collect();
    assert!(
        summaries[1].starts_with("Escalated to level 2: not acknowledged within 10 minutes"),
        "{summaries:?}"
    );
}

#[tokio::test]
async fn acknowledging_before_the_delay_stops_the_escalation() {
    let (app, clock) = app_with_clock().await;
    let tenant = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let technician = app.token(Role::Technician, &[tenant.id]);
    let first = channel(&app, &tenant, &admin, "Primary").await;
    let second = channel(&app, &tenant, &admin, "Manager").await;
    let policy_id = policy(
        &app,
        &tenant,
        &admin,
        json!({"name": "Database", "levels": [
            {"delay_minutes": 10, "channels": [first]},
            {"delay_minutes": 10, "channels": [second]}]}),
    )
    .await;
    let incident = open_incident(app.db.pool(), &tenant).await;
    let (status, _) = post(
        &app,
        &format!("/api/v1/incidents/{incident}/escalation"),
        &technician,
        json!({"policy_id": policy_id}),
    )
    .await;
    assert_eq!(status, 201);
    clock.set(Utc::now());
    let levels = wait_for(app.db.pool(), "EscalationLevelReached", 1).await;
    let level_one_due = at(&levels[0]["due_at"]);
    clock.set(level_one_due + chrono::Duration::minutes(5));
    let (status, body) = post(
        &app,
        &format!("/api/v1/incidents/{incident}/acknowledge"),
        &technician,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Past the delay: the escalation stops instead of reaching level 2.
    clock.set(level_one_due + chrono::Duration::minutes(11));
    let stopped = wait_for(app.db.pool(), "EscalationStopped", 1).await;
    assert_eq!(stopped[0]["reason"], "incident_acknowledged");
    assert_eq!(stopped[0]["incident_id"], json!(incident));
    clock.set(level_one_due + chrono::Duration::minutes(30));
    // A stopped escalation records no level (the aggregate refuses), and the
    // due list is empty once the stop is read.
    assert_eq!(
        due_list_once_read(app.db.pool()).await,
        0,
        "the due list kept the stopped escalation"
    );
    assert_eq!(
        stored(app.db.pool(), "EscalationLevelReached").await.len(),
        1
    );
    // Acknowledged incidents are not escalated by hand either.
    let (status, body) = post(
        &app,
        &format!("/api/v1/incidents/{incident}/escalation"),
        &technician,
        json!({"policy_id": policy_id}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("incident_acknowledged"))
    );
}

#[tokio::test]
async fn a_restart_between_levels_neither_loses_nor_repeats_a_level() {
    let (mut app, clock) = app_with_clock().await;
    let tenant = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let technician = app.token(Role::Technician, &[tenant.id]);
    let first = channel(&app, &tenant, &admin, "One").await;
    let second = channel(&app, &tenant, &admin, "Two").await;
    let third = channel(&app, &tenant, &admin, "Three").await;
    let policy_id = policy(
        &app,
        &tenant,
        &admin,
        json!({"name": "Three levels", "levels": [
            {"delay_minutes": 10, "channels": [first]},
            {"delay_minutes": 10, "channels": [second]},
            {"delay_minutes": 10, "channels": [third]}]}),
    )
    .await;
    let incident = open_incident(app.db.pool(), &tenant).await;
    let (status, _) = post(
        &app,
        &format!("/api/v1/incidents/{incident}/escalation"),
        &technician,
        json!({"policy_id": policy_id}),
    )
    .await;
    assert_eq!(status, 201);
    clock.set(Utc::now());
    let levels = wait_for(app.db.pool(), "EscalationLevelReached", 1).await;
    let due = at(&levels[0]["due_at"]);
    clock.set(due + chrono::Duration::minutes(10));
    wait_for(app.db.pool(), "EscalationLevelReached", 2).await;

    // The process stops between level 2 and level 3; level 3 falls due
    // while nothing runs.
    app.stop().await;
    clock.set(due + chrono::Duration::minutes(25));
    let pool = app.start_again(workers(&clock)).await;

    let levels = wait_for(&pool, "EscalationLevelReached", 3).await;
    assert_eq!(levels[2]["level"], 3);
    assert_eq!(levels[2]["targets"], json!([{"channel_id": third}]));
    // Its due time comes from the log (level 2's due time plus its delay),
    // not from when the process came back.
    assert_eq!(
        at(&levels[2]["due_at"]),
        due + chrono::Duration::minutes(20)
    );
    assert_eq!(at(&levels[2]["at"]), due + chrono::Duration::minutes(25));
    // Once the due list has read the last level, nothing is left to record;
    // each level was recorded exactly once.
    assert_eq!(
        due_list_once_read(&pool).await,
        0,
        "the last level never left the due list"
    );
    clock.set(due + chrono::Duration::minutes(60));
    let levels: Vec<i64> = stored(&pool, "EscalationLevelReached")
        .await
        .iter()
        .map(|level| level["level"].as_i64().unwrap())
        .collect();
    assert_eq!(levels, vec![1, 2, 3]);
}

#[tokio::test]
async fn who_is_on_call_follows_local_time_across_the_berlin_dst_change_and_an_override() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    let alice = channel(&app, &tenant, &admin, "Alice").await;
    let bob = channel(&app, &tenant, &admin, "Bob").await;
    let carol = channel(&app, &tenant, &admin, "Carol").await;
    let dave = channel(&app, &tenant, &admin, "Dave").await;
    let (status, schedule) = post(
        &app,
        &format!("/api/v1/tenants/{}/oncall-schedules", tenant.id),
        &admin,
        json!({"name": "Primary", "timezone": "Europe/Berlin",
               "rotation": {"handoff": "daily", "handoff_time": "09:00", "start_date": "2026-03-27"},
               "participants": [{"name": "Alice", "channel_id": alice},
                                {"name": "Bob", "channel_id": bob},
                                {"name": "Carol", "channel_id": carol}]}),
    )
    .await;
    assert_eq!(status, 201, "{schedule}");
    let schedule_id = schedule["id"].as_str().unwrap().to_owned();
    let on_call = |at: &str| {
        let path = format!("/api/v1/oncall?tenant={}&at={at}", tenant.id);
        let viewer = viewer.clone();
        let app = &app;
        async move {
            let (status, body) = get(app, &path, &viewer).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["items"].as_array().unwrap().len(), 1, "{body}");
            body["items"][0].clone()
        }
    };
    // Bob's shift spans the spring change: 09:00 CET Saturday (08:00 UTC)
    // to 09:00 CEST Sunday (07:00 UTC).
    let bob_on_call = on_call("2026-03-29T06:59:59Z").await;
    assert_eq!(bob_on_call["participant"]["name"], "Bob");
    assert_eq!(bob_on_call["channel_id"], json!(bob));
    assert_eq!(
        at(&bob_on_call["since"]),
        at(&json!("2026-03-28T08:00:00Z"))
    );
    assert_eq!(
        at(&bob_on_call["until"]),
        at(&json!("2026-03-29T07:00:00Z"))
    );
    assert_eq!(bob_on_call["schedule_id"], json!(schedule_id));
    // 07:30 UTC is 09:30 local summer time: Carol already.
    let carol_on_call = on_call("2026-03-29T07:30:00Z").await;
    assert_eq!(carol_on_call["participant"]["name"], "Carol");
    assert_eq!(
        at(&carol_on_call["until"]),
        at(&json!("2026-03-30T07:00:00Z"))
    );
    assert_eq!(carol_on_call["override_id"], Value::Null);

    // Dave stands in for Carol from 10:00 to 12:00 UTC.
    let (status, changed) = post(
        &app,
        &format!(
            "/api/v1/tenants/{}/oncall-schedules/{schedule_id}/overrides",
            tenant.id
        ),
        &admin,
        json!({"participant": {"name": "Dave", "channel_id": dave},
               "starts_at": "2026-03-29T10:00:00Z", "ends_at": "2026-03-29T12:00:00Z"}),
    )
    .await;
    assert_eq!(status, 201, "{changed}");
    let override_id = changed["override_id"].clone();
    let dave_on_call = on_call("2026-03-29T11:00:00Z").await;
    assert_eq!(dave_on_call["participant"]["name"], "Dave");
    assert_eq!(dave_on_call["override_id"], override_id);
    assert_eq!(
        at(&dave_on_call["since"]),
        at(&json!("2026-03-29T10:00:00Z"))
    );
    assert_eq!(
        at(&dave_on_call["until"]),
        at(&json!("2026-03-29T12:00:00Z"))
    );
    // Carol's stretch now ends where the override starts, and resumes after it.
    assert_eq!(
        at(&on_call("2026-03-29T07:30:00Z").await["until"]),
        at(&json!("2026-03-29T10:00:00Z"))
    );
    let after = on_call("2026-03-29T12:00:00Z").await;
    assert_eq!(after["participant"]["name"], "Carol");
    assert_eq!(at(&after["since"]), at(&json!("2026-03-29T12:00:00Z")));

    // Every change is an event with its actor.
    assert_eq!(app.stored("OnCallScheduleCreated").await, 1);
    assert_eq!(app.stored("OnCallOverrideAdded").await, 1);
    // Removing the override gives Carol her whole shift back.
    let (status, _) = send(
        &app,
        reqwest::Method::DELETE,
        &format!(
            "/api/v1/tenants/{}/oncall-schedules/{schedule_id}/overrides/{}",
            tenant.id,
            override_id.as_str().unwrap()
        ),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        on_call("2026-03-29T11:00:00Z").await["participant"]["name"],
        "Carol"
    );
}

#[tokio::test]
async fn bad_input_is_422_naming_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let known = channel(&app, &tenant, &admin, "Primary").await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let schedules = format!("/api/v1/tenants/{}/oncall-schedules", tenant.id);
    let policies = format!("/api/v1/tenants/{}/escalation-policies", tenant.id);
    let schedule = |timezone: &str, channel: &str| {
        json!({"name": "Primary", "timezone": timezone,
               "rotation": {"handoff": "weekly", "handoff_time": "09:00"},
               "participants": [{"name": "Alice", "channel_id": channel}]})
    };
    let cases = [
        (&schedules, schedule("Mars/Olympus", &known), "timezone"),
        (
            &schedules,
            schedule("Europe/Berlin", &unknown),
            "participants[0].channel_id",
        ),
        (
            &schedules,
            json!({"name": "Primary", "timezone": "Europe/Berlin",
                   "rotation": {"handoff": "weekly", "handoff_time": "9 o'clock"},
                   "participants": [{"name": "Alice", "channel_id": known}]}),
            "rotation.handoff_time",
        ),
        (
            &schedules,
            json!({"name": "Primary", "timezone": "Europe/Berlin",
                   "rotation": {"handoff": "daily", "handoff_time": "09:00"}, "participants": []}),
            "participants",
        ),
        (
            &policies,
            json!({"name": "Empty", "levels": [], "repeat": 0}),
            "levels",
        ),
        (
            &policies,
            json!({"name": "Unknown channel", "levels": [{"delay_minutes": 5, "channels": [unknown]}]}),
            "levels[0].channels[0]",
        ),
        (
            &policies,
            json!({"name": "Unknown schedule", "levels": [{"delay_minutes": 5, "schedule": unknown}]}),
            "levels[0].schedule",
        ),
        (
            &policies,
            json!({"name": "No delay", "levels": [{"delay_minutes": 0, "channels": [known]}]}),
            "levels[0].delay_minutes",
        ),
        (
            &policies,
            json!({"name": "Too many", "levels": [{"delay_minutes": 5, "channels": [known]}], "repeat": 10}),
            "repeat",
        ),
    ];
    for (path, body, field) in cases {
        let (status, answer) = post(&app, path, &admin, body.clone()).await;
        assert_eq!(status, 422, "{body} → {answer}");
        assert_eq!(answer["error"]["code"], "invalid_value", "{answer}");
        assert_eq!(answer["error"]["details"]["field"], field, "{answer}");
    }
    // Starting with a policy the tenant does not have names `policy_id`.
    let technician = app.token(Role::Technician, &[tenant.id]);
    let incident = open_incident(app.db.pool(), &tenant).await;
    let (status, answer) = post(
        &app,
        &format!("/api/v1/incidents/{incident}/escalation"),
        &technician,
        json!({"policy_id": unknown}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(answer["error"]["details"]["field"], "policy_id");
    let written: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type IN ('EscalationSetup', 'Escalation')",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(written, 0, "a refused request wrote events");
}

#[tokio::test]
async fn schedules_policies_and_escalations_are_scoped_to_their_tenant() {
    let app = TestApp::spawn().await;
    let acme = app.create_tenant("acme").await;
    let other = app.create_tenant("other").await;
    let acme_admin = app.token(Role::TenantAdmin, &[acme.id]);
    let other_admin = app.token(Role::TenantAdmin, &[other.id]);
    let acme_technician = app.token(Role::Technician, &[acme.id]);
    let acme_channel = channel(&app, &acme, &acme_admin, "Primary").await;
    let other_channel = channel(&app, &other, &other_admin, "Theirs").await;
    let schedule_body = |channel: &str| {
        json!({"name": "Primary", "timezone": "UTC",
               "rotation": {"handoff": "daily", "handoff_time": "08:00", "start_date": "2026-01-01"},
               "participants": [{"name": "Alice", "channel_id": channel}]})
    };
    let acme_schedules = format!("/api/v1/tenants/{}/oncall-schedules", acme.id);
    // A technician may read but not change the schedules.
    let (status, _) = post(
        &app,
        &acme_schedules,
        &acme_technician,
        schedule_body(&acme_channel),
    )
    .await;
    assert_eq!(status, 403);
    // Another tenant's channel is not a channel of this tenant.
    let (status, answer) = post(
        &app,
        &acme_schedules,
        &acme_admin,
        schedule_body(&other_channel),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["details"]["field"].as_str()),
        (422, Some("participants[0].channel_id"))
    );
    let (status, schedule) = post(
        &app,
        &acme_schedules,
        &acme_admin,
        schedule_body(&acme_channel),
    )
    .await;
    assert_eq!(status, 201);
    let schedule_id = schedule["id"].as_str().unwrap();
    let policy_id = policy(
        &app,
        &acme,
        &acme_admin,
        json!({"name": "On call", "levels": [{"delay_minutes": 5, "schedule": schedule_id}]}),
    )
    .await;

    // Readers of the tenant see them; the other tenant does not.
    let (status, list) = get(&app, &acme_schedules, &acme_technician).await;
    assert_eq!((status, list["items"].as_array().unwrap().len()), (200, 1));
    for path in [
        acme_schedules.clone(),
        format!("{acme_schedules}/{schedule_id}"),
        format!("/api/v1/tenants/{}/escalation-policies", acme.id),
        format!(
            "/api/v1/tenants/{}/escalation-policies/{policy_id}",
            acme.id
        ),
        format!("/api/v1/oncall?tenant={}", acme.id),
    ] {
        let (status, _) = get(&app, &path, &other_admin).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, theirs) = get(&app, "/api/v1/oncall", &other_admin).await;
    assert_eq!(
        (status, theirs["items"].as_array().unwrap().len()),
        (200, 0)
    );
    let (status, mine) = get(
        &app,
        "/api/v1/oncall?at=2026-06-01T12:00:00Z",
        &acme_technician,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(mine["items"][0]["participant"]["name"], "Alice");
    // The other tenant cannot name this tenant's schedule in a policy, nor
    // start this tenant's policy on its incidents, nor see this tenant's.
    let (status, answer) = post(
        &app,
        &format!("/api/v1/tenants/{}/escalation-policies", other.id),
        &other_admin,
        json!({"name": "Borrowed", "levels": [{"delay_minutes": 5, "schedule": schedule_id}]}),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["details"]["field"].as_str()),
        (422, Some("levels[0].schedule"))
    );
    let other_incident = open_incident(app.db.pool(), &other).await;
    let other_technician = app.token(Role::Technician, &[other.id]);
    let (status, answer) = post(
        &app,
        &format!("/api/v1/incidents/{other_incident}/escalation"),
        &other_technician,
        json!({"policy_id": policy_id}),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["details"]["field"].as_str()),
        (422, Some("policy_id"))
    );
    let acme_incident = open_incident(app.db.pool(), &acme).await;
    let (status, _) = post(
        &app,
        &format!("/api/v1/incidents/{acme_incident}/escalation"),
        &other_technician,
        json!({"policy_id": policy_id}),
    )
    .await;
    assert_eq!(status, 404);
    // A schedule a policy names cannot be deleted.
    let (status, answer) = send(
        &app,
        reqwest::Method::DELETE,
        &format!("{acme_schedules}/{schedule_id}"),
        &acme_admin,
        None,
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("schedule_in_use"))
    );
}

/// The position of the `nth` stored event of `event_type` about `incident`
/// (its own, or an escalation's naming it).
async fn position_of(pool: &PgPool, event_type: &str, incident: IncidentId, nth: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT position FROM events
          WHERE event_type = $1
            AND (aggregate_id = $2 OR payload->$1->>'incident_id' = $2)
          ORDER BY position OFFSET $3 LIMIT 1",
    )
    .bind(event_type)
    .bind(incident.to_string())
    .bind(nth)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_level_recorded_just_after_the_acknowledgement_pages_nobody_and_the_escalation_stops() {
    // The application's own escalator stays out of the way (it looks once an
    // hour, on a clock a day behind); the test drives one of its own, step
    // by step, so the acknowledgement lands between its check and its write.
    let behind = Arc::new(FixedClock::new(Utc::now() - chrono::Duration::days(1)));
    let app = TestApp::spawn_with_background(WorkerSettings {
        escalation_check: Duration::from_secs(3600),
        escalation_services: Some(DomainServices::new(behind)),
        ..WorkerSettings::default()
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let technician = app.token(Role::Technician, &[tenant.id]);
    let first = channel(&app, &tenant, &admin, "Primary").await;
    let second = channel(&app, &tenant, &admin, "Manager").await;
    let third = channel(&app, &tenant, &admin, "Director").await;
    // Three levels, so the escalation still runs after level 2.
    let policy_id = policy(
        &app,
        &tenant,
        &admin,
        json!({"name": "Database", "levels": [
            {"delay_minutes": 10, "channels": [first]},
            {"delay_minutes": 10, "channels": [second]},
            {"delay_minutes": 10, "channels": [third]}]}),
    )
    .await;
    let incident = open_incident(app.db.pool(), &tenant).await;
    let (status, body) = post(
        &app,
        &format!("/api/v1/incidents/{incident}/escalation"),
        &technician,
        json!({"policy_id": policy_id}),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let clock = Arc::new(FixedClock::new(Utc::now()));
    let escalator = Escalator::new(
        app.db.pool().clone(),
        LogSignal::local(),
        DomainServices::new(clock.clone()),
        Duration::from_secs(3600),
    );
    assert_eq!(due_list_once_read(app.db.pool()).await, 1);
    assert_eq!(escalator.escalate_due().await.unwrap(), 1);
    let levels = wait_for(app.db.pool(), "EscalationLevelReached", 1).await;
    let level_one_due = at(&levels[0]["due_at"]);
    assert_eq!(due_list_once_read(app.db.pool()).await, 1);

    // Past the delay the escalator checks: not acknowledged, level 2 is due.
    clock.set(level_one_due + chrono::Duration::minutes(11));
    let mut planned = escalator.plan_due().await.unwrap();
    assert_eq!(planned.len(), 1);
    assert!(
        matches!(
            &planned[0].command,
            EscalationCommand::RecordLevelReached { reached, .. } if reached.step.level == 2
        ),
        "{planned:?}"
    );
    // Someone acknowledges now, before the escalator writes.
    let (status, body) = post(
        &app,
        &format!("/api/v1/incidents/{incident}/acknowledge"),
        &technician,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The write does not see it: level 2 is recorded, after the
    // acknowledgement in log order.
    assert!(escalator.record(planned.remove(0)).await.unwrap());
    let acknowledged = position_of(app.db.pool(), "IncidentAcknowledged", incident, 0).await;
    let level_two = position_of(app.db.pool(), "EscalationLevelReached", incident, 1).await;
    assert!(acknowledged < level_two);

    // The notifier, reading in log order, paged level 1's channel and
    // nobody for level 2.
    app.wait_until_consumed("notifier", level_two).await;
    let paged: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT channel_id FROM notification_outbox WHERE incident_id = $1 ORDER BY created_at",
    )
    .bind(incident.as_uuid())
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(
        paged.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![first.clone()],
        "level 2 paged {second} after the acknowledgement"
    );

    // And the escalator's next round, with level 3 due, stops the
    // escalation instead.
    assert_eq!(due_list_once_read(app.db.pool()).await, 1);
    clock.set(level_one_due + chrono::Duration::minutes(25));
    assert_eq!(escalator.escalate_due().await.unwrap(), 1);
    let stopped = wait_for(app.db.pool(), "EscalationStopped", 1).await;
    assert_eq!(stopped[0]["reason"], "incident_acknowledged");
    assert_eq!(due_list_once_read(app.db.pool()).await, 0);
    assert_eq!(
        stored(app.db.pool(), "EscalationLevelReached").await.len(),
        2
    );
}
