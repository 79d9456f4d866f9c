//! Rebuild equality: after a realistic mixed workload (several tenants,
//! thousands of alerts over HTTP, incident and alert actions, policy changes,
//! source resolutions, runbooks with approvals and SSM executions (through a
//! scripted SSM), an event of an older schema version, maintenance windows
//! that suppress alerts, one of them ending and letting its alerts be
//! correlated, a heartbeat missed and recovered, a key that flaps and
//! settles), with the
//! read-model projectors killed at random moments all along, every rebuilt
//! projection equals the live tables row for row, and history `--until` a
//! midpoint equals the live tables captured at that midpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger_domain::values::Role;
use alertledger_domain::{DomainServices, FixedClock};
use alertledger_eventstore::consumer::rebuild::{
    build_history, drop_schema, rebuild_all_live, rebuild_live, HistoryOptions, Until,
};
use alertledger_eventstore::consumer::{wait_until_applied, ConsumerRunner, RunnerSettings};
use alertledger_eventstore::log::LogSignal;
use alertledger_projections as read_models;
use alertledger_ssm::scripted::ScriptedSsm;
use alertledger_workers::correlator::Correlator;
use alertledger_workers::correlator::FlapSettler;
use alertledger_workers::heartbeat::HeartbeatChecker;
use alertledger_workers::maintenance::WindowCloser;
use alertledger_workers::notifier::{Notifier, NotifierSettings, NOTIFIER};
use alertledger_workers::remediation::dispatcher::DISPATCHER;
use alertledger_workers::remediation::{ExecutorSettings, RunbookDispatcher, SsmExecutor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sqlx::PgPool;
use support::{TestApp, TestTenant};
use tokio::sync::watch;
use uuid::Uuid;

/// Every read-model table with its key (for a stable order).
const TABLES: &[(&str, &str, &str)] = &[
    ("alerts", "alerts", "alert_id"),
    ("incidents", "incidents", "incident_id"),
    ("incidents", "incident_alerts", "incident_id, alert_id"),
    ("incidents", "incident_timeline", "position"),
    ("audit", "audit_entries", "position"),
    ("kpis", "kpi_daily", "tenant_id, day"),
    ("kpis", "kpi_incidents", "incident_id"),
    (
        "kpis",
        "kpi_window_suppressions",
        "tenant_id, window_id, day, recorded_at",
    ),
    ("remediation", "runbooks", "runbook_id"),
    ("remediation", "approvals", "approval_id"),
    ("remediation", "executions", "execution_id"),
    ("remediation", "remediation_timeline", "position"),
    ("escalations", "escalation_timeline", "position"),
    ("notifications", "notifications", "notification_id"),
    ("notifications", "notification_timeline", "position"),
];

type Snapshot = BTreeMap<&'static str, Vec<Value>>;

async fn snapshot(pool: &PgPool, schema: &str, projection: Option<&str>) -> Snapshot {
    let mut tables = Snapshot::new();
    for (owner, table, key) in TABLES {
        if projection.is_some_and(|name| name != *owner) {
            continue;
        }
        let rows: Vec<Value> = sqlx::query_scalar(&format!(
            "SELECT to_jsonb(t) FROM \"{schema}\".\"{table}\" t ORDER BY {key}"
        ))
        .fetch_all(pool)
        .await
        .unwrap();
        tables.insert(*table, rows);
    }
    tables
}

/// The last event in log order (what `--until` counts to).
async fn last_in_log_order(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce((SELECT position FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1), 0)",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Waits until the correlator, the dispatcher and every read model have
/// applied everything written, no execution is in flight, and nothing more
/// is being written.
async fn settle(pool: &PgPool) {
    let names: Vec<&str> = [Correlator::NAME, DISPATCHER, NOTIFIER]
        .into_iter()
        .chain(read_models::all().iter().map(|p| p.name()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let last = last_in_log_order(pool).await;
        let mut done = true;
        for name in &names {
            done &= wait_until_applied(pool, name, last, Duration::ZERO)
                .await
                .unwrap();
        }
        let in_flight: i64 = sqlx::query_scalar("SELECT count(*) FROM executor_queue")
            .fetch_one(pool)
            .await
            .unwrap();
        if done && in_flight == 0 && last_in_log_order(pool).await == last {
            return;
        }
        if Instant::now() >= deadline {
            let state: Vec<Value> =
                sqlx::query_scalar("SELECT to_jsonb(c) FROM projector_checkpoints c")
                    .fetch_all(pool)
                    .await
                    .unwrap();
            panic!("projectors never settled (last {last}): {state:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs every read-model projector in small batches and "kills the process"
/// at random moments (inside or between batches) before starting it again,
/// until `stop`. Each incarnation has its own pool, closed when it is killed,
/// so the server rolls back whatever it was doing, as after a crash.
fn kill_and_restart_projectors(
    url: String,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let mut rng = StdRng::seed_from_u64(7);
        let mut kills = 0;
        while !*stop.borrow() {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(8)
                .connect(&url)
                .await
                .unwrap();
            let tasks: Vec<_> = read_models::all()
                .into_iter()
                .map(|projection| {
                    let runner = ConsumerRunner::new(
                        pool.clone(),
                        LogSignal::local(),
                        projection,
                        RunnerSettings {
                            batch_size: 23,
                            ..RunnerSettings::default()
                        },
                    );
                    tokio::spawn(async move {
                        loop {
                            if runner.step().await.is_err() {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                        }
                    })
                })
                .collect();
            let lifetime = Duration::from_millis(rng.gen_range(10..120));
            let _ = tokio::time::timeout(lifetime, stop.changed()).await;
            for task in tasks {
                task.abort();
                let _ = task.await;
                kills += 1;
            }
            pool.close().await;
        }
        kills
    })
}

struct Workload<'a> {
    app: &'a TestApp,
    rng: StdRng,
    request: u32,
}

impl Workload<'_> {
    /// 400 alerts per tenant, posted as arrays of 40.
    async fn alerts(&mut self, tenant: &TestTenant) {
        const SIGNATURES: &[&str] = &["HighCPU", "DiskFull", "OOMKilled", "Latency"];
        const SEVERITIES: &[&str] = &["critical", "high", "medium", "low"];
        const TOOLS: &[&str] = &["prometheus", "zabbix", "datadog"];
        for _ in 0..10 {
            let alerts: Vec<Value> = (0..40)
                .map(|_| {
                    json!({
                        "asset_name": format!("host{:02}", self.rng.gen_range(0..12)),
                        "signature": SIGNATURES[self.rng.gen_range(0..SIGNATURES.len())],
                        "severity": SEVERITIES[self.rng.gen_range(0..SEVERITIES.len())],
                        "message": "threshold crossed",
                        "tool_source": TOOLS[self.rng.gen_range(0..TOOLS.len())],
                        "labels": {"env": "production"}
                    })
                })
                .collect();
            self.post(tenant, Value::Array(alerts)).await;
        }
    }

    /// Resolutions at the source for a few asset/signature pairs.
    async fn source_resolutions(&mut self, tenant: &TestTenant) {
        for host in 0..4 {
            let resolved = json!({
                "asset_name": format!("host{host:02}"), "signature": "HighCPU",
                "severity": "high", "message": "back to normal", "status": "resolved",
            });
            self.post(tenant, resolved).await;
        }
    }

    async fn post(&mut self, tenant: &TestTenant, body: Value) {
        self.request += 1;
        let response = self
            .app
            .client
            .post(self.app.url("/api/v1/webhooks/generic"))
            .header("X-API-Key", &tenant.api_key)
            .header("Idempotency-Key", format!("request-{}", self.request))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }

    /// People working on the tenant's incidents and alerts.
    async fn actions(&mut self, tenant: &TestTenant) {
        let token = self.app.token(Role::Technician, &[tenant.id]);
        let list = self
            .get(
                &format!("/api/v1/incidents?tenant={}&limit=24", tenant.id),
                &token,
            )
            .await;
        let policy_id = self.escalation_policy(tenant).await;
        for (n, incident) in list["items"].as_array().unwrap().iter().enumerate() {
            let id = incident["incident_id"].as_str().unwrap();
            let act = |path: &'static str, body: Value| {
                let url = self.app.url(&format!("/api/v1/incidents/{id}/{path}"));
                let request = self.app.client.post(url).bearer_auth(&token).json(&body);
                async move { request.send().await.unwrap().status().as_u16() }
            };
            if incident["status"] == "new" && n % 3 == 1 {
                // Paged by hand, then acknowledged (escalation timeline entries).
                let status = act("escalation", json!({"policy_id": policy_id})).await;
                assert!([201, 409].contains(&status), "escalation start: {status}");
            }
            if incident["status"] == "new" {
                act("acknowledge", json!({})).await;
            }
            if n % 3 == 0 {
                act("assign", json!({"assignee": "grace"})).await;
            }
            if n % 4 == 0 {
                act("comment", json!({"text": "looking into it"})).await;
            }
            if n % 5 == 0 {
                act("escalate", json!({"reason": "needs the database team"})).await;
            }
            if n % 2 == 0 {
                act("resolve", json!({"note": "fixed"})).await;
                if n % 6 == 0 {
                    act("reopen", json!({"reason": "came back"})).await;
                }
            }
        }
        let alerts = self
            .get(
                &format!("/api/v1/alerts?tenant={}&limit=8", tenant.id),
                &token,
            )
            .await;
        for alert in alerts["items"].as_array().unwrap() {
            let url = self.app.url(&format!(
                "/api/v1/alerts/{}/acknowledge",
                alert["alert_id"].as_str().unwrap()
            ));
            let response = self
                .app
                .client
                .post(url)
                .bearer_auth(&token)
                .json(&json!({"note": "seen"}))
                .send()
                .await
                .unwrap();
            assert!([200, 409].contains(&response.status().as_u16()));
        }
    }

    /// A Slack channel and a one-level escalation policy of the tenant; the policy's id.
    async fn escalation_policy(&self, tenant: &TestTenant) -> String {
        let admin = self.app.token(Role::TenantAdmin, &[tenant.id]);
        let post = |path: String, body: Value| {
            let request = self
                .app
                .client
                .post(self.app.url(&path))
                .bearer_auth(&admin)
                .json(&body);
            async move {
                let response = request.send().await.unwrap();
                assert_eq!(response.status(), 201, "POST {path}");
                let body: Value = response.json().await.unwrap();
                body["id"].as_str().unwrap().to_owned()
            }
        };
        let channel = post(
            format!("/api/v1/tenants/{}/notification-channels", tenant.id),
            json!({"type": "slack", "name": "Ops",
                   "config": {"url": "https://hooks.slack.com/services/T000/B000/XXXXXXXX"}}),
        )
        .await;
        post(
            format!("/api/v1/tenants/{}/escalation-policies", tenant.id),
            json!({"name": "Ops", "levels": [{"delay_minutes": 10, "channels": [channel]}]}),
        )
        .await
    }

    /// Instances for every host and an AWS role; a low-risk runbook for
    /// `DiskFull` that runs by itself and a medium-risk one for `OOMKilled`
    /// that asks for approval.
    /// A webhook channel (never delivered to here) and a rule telling it of
    /// every incident opened, escalated or resolved.
    async fn notification_rule(&self, tenant: &TestTenant) {
        let admin = self.app.token(Role::TenantAdmin, &[tenant.id]);
        let channel: Value = self
            .app
            .client
            .post(self.app.url(&format!(
                "/api/v1/tenants/{}/notification-channels",
                tenant.id
            )))
            .bearer_auth(&admin)
            .json(&json!({"type": "webhook", "name": "ops", "config": {"url": "http://127.0.0.1:9/hook"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let status = self
            .app
            .client
            .post(self.app.url(&format!(
                "/api/v1/tenants/{}/notification-rules",
                tenant.id
            )))
            .bearer_auth(&admin)
            .json(&json!({"name": "all", "events": ["incident_opened", "incident_escalated", "incident_resolved"],
                          "channels": [channel["id"]]}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 201, "{channel}");
    }

    async fn runbooks(&self, tenant: &TestTenant) {
        let admin = self.app.token(Role::TenantAdmin, &[tenant.id]);
        for host in 0..12 {
            let path = format!("/api/v1/tenants/{}/assets/host{host:02}", tenant.id);
            let body = json!({"critical": host == 0, "instance_ids": [format!("i-00000000000000{host:02}")]});
            self.send(self.app.client.put(self.app.url(&path)), &admin, body, 200)
                .await;
        }
        let path = format!("/api/v1/tenants/{}/aws", tenant.id);
        let role = json!({"role_arn": "arn:aws:iam::123456789012:role/Fix", "region": "eu-west-1"});
        self.send(self.app.client.put(self.app.url(&path)), &admin, role, 200)
            .await;
        for (signature, risk) in [("DiskFull", "low"), ("OOMKilled", "medium")] {
            let body = json!({"tenant_id": tenant.id, "name": format!("Fix {signature}"), "signature": signature,
                              "risk": risk, "commands": ["/opt/fix.sh"], "auto_execute": true});
            self.send(
                self.app.client.post(self.app.url("/api/v1/runbooks")),
                &admin,
                body,
                201,
            )
            .await;
        }
    }

    /// An MSP admin approves every other pending approval and rejects the rest.
    async fn decide_approvals(&self, tenant: &TestTenant) {
        let admin = self.app.token(Role::MspAdmin, &[]);
        let pending = self
            .get(
                &format!("/api/v1/approvals?tenant={}&status=pending", tenant.id),
                &admin,
            )
            .await;
        for (n, approval) in pending["items"].as_array().unwrap().iter().enumerate() {
            let id = approval["approval_id"].as_str().unwrap();
            let decision = if n % 2 == 0 { "approve" } else { "reject" };
            let path = format!("/api/v1/approvals/{id}/{decision}");
            self.send(
                self.app.client.post(self.app.url(&path)),
                &admin,
                json!({}),
                200,
            )
            .await;
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        token: &str,
        body: Value,
        expected: u16,
    ) {
        let response = request.bearer_auth(token).json(&body).send().await.unwrap();
        assert_eq!(
            response.status().as_u16(),
            expected,
            "{}",
            response.text().await.unwrap()
        );
    }

    async fn set_policy(&self, tenant: &TestTenant, policy: Value) {
        let token = self.app.token(Role::TenantAdmin, &[tenant.id]);
        let response = self
            .app
            .client
            .put(
                self.app
                    .url(&format!("/api/v1/tenants/{}/correlation-policy", tenant.id)),
            )
            .bearer_auth(&token)
            .json(&policy)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    /// A beat of `tenant`'s heartbeat `name`.
    async fn beat(&self, tenant: &TestTenant, name: &str, body: Value) {
        let response = self
            .app
            .client
            .post(self.app.url(&format!("/api/v1/heartbeats/{name}")))
            .header("X-API-Key", &tenant.api_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }

    /// A maintenance window for `tenant` (the body without `tenant_id`).
    async fn window(&self, tenant: &TestTenant, mut body: Value) {
        let admin = self.app.token(Role::TenantAdmin, &[tenant.id]);
        body["tenant_id"] = json!(tenant.id);
        self.send(
            self.app
                .client
                .post(self.app.url("/api/v1/maintenance-windows")),
            &admin,
            body,
            201,
        )
        .await;
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let response = self
            .app
            .client
            .get(self.app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }
}

/// An `IncidentOpened` as stored by version 1.0 of the schema (no `tool_source`).
async fn insert_version_1_0_incident(pool: &PgPool, tenant: &TestTenant) -> Uuid {
    let incident = Uuid::now_v7();
    let payload = json!({"IncidentOpened": {
        "tenant_id": tenant.id.to_string(), "incident_id": incident, "key": "legacy|Check",
        "first_alert": Uuid::now_v7(), "asset": "legacy", "signature": "Check",
        "severity": "low", "priority": 10,
        "reason": {"key": "legacy|Check", "window_minutes": 15,
                   "decision": {"kind": "opened"}, "explanation": "recorded by release 1.0"},
        "at": "2026-11-01T00:00:00Z"
    }});
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Incident', $1, 1, 'IncidentOpened', '1.0', $2, '{}')",
    )
    .bind(incident.to_string())
    .bind(payload)
    .execute(pool)
    .await
    .unwrap();
    incident
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rebuilt_read_models_equal_the_live_ones_and_history_equals_the_past() {
    let app = TestApp::spawn_without_background().await;
    let pool = app.db.pool().clone();
    let tenants = [
        app.create_tenant("north").await,
        app.create_tenant("south").await,
        app.create_tenant("east").await,
    ];
    let (correlator, _) = ConsumerRunner::new(
        pool.clone(),
        LogSignal::start(pool.clone()),
        Arc::new(Correlator::new(DomainServices::system())),
        RunnerSettings::default(),
    )
    .spawn();
    let (dispatcher, _) = ConsumerRunner::new(
        pool.clone(),
        LogSignal::start(pool.clone()),
        Arc::new(RunbookDispatcher::new(
            DomainServices::system(),
            Duration::from_secs(3600),
        )),
        RunnerSettings::default(),
    )
    .spawn();
    // The notifier requests notifications (nothing delivers them here): the
    // `notifications` read model is rebuilt from those requests.
    let (notifier, _) = ConsumerRunner::new(
        pool.clone(),
        LogSignal::start(pool.clone()),
        Arc::new(Notifier::new(
            DomainServices::system(),
            NotifierSettings::default(),
        )),
        RunnerSettings::default(),
    )
    .spawn();
    let ssm = Arc::new(ScriptedSsm::new());
    let executor = SsmExecutor::new(
        pool.clone(),
        LogSignal::start(pool.clone()),
        DomainServices::system(),
        ssm.clone(),
        ExecutorSettings {
            first_backoff: Duration::from_millis(10),
            queue_poll: Duration::from_millis(50),
            ..ExecutorSettings::default()
        },
    )
    .spawn();
    let closer = WindowCloser::new(
        pool.clone(),
        LogSignal::start(pool.clone()),
        DomainServices::system(),
        Duration::from_millis(100),
    )
    .spawn();
    let (stop, stopped) = watch::channel(false);
    let chaos = kill_and_restart_projectors(app.db.url().to_owned(), stopped);
    let mut work = Workload {
        app: &app,
        rng: StdRng::seed_from_u64(42),
        request: 0,
    };

    // Phase 1.
    work.set_policy(
        &tenants[1],
        json!({"time_window_minutes": 5, "aggregation_key": "asset|signature",
                                        "auto_correlate": true, "min_alerts": 2}),
    )
    .await;
    work.set_policy(&tenants[2], json!({"time_window_minutes": 30, "aggregation_key": "asset",
                                        "auto_correlate": true, "min_alerts": 1, "auto_resolve": true})).await;
    let legacy = insert_version_1_0_incident(&pool, &tenants[0]).await;
    work.notification_rule(&tenants[0]).await;
    work.runbooks(&tenants[0]).await;
    // In force all along: tenant 1's Latency alerts stay suppressed.
    let now = chrono::Utc::now();
    work.window(
        &tenants[1],
        json!({"name": "quiet latency", "matchers": ["signature=\"Latency\""],
               "starts_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
               "ends_at": (now + chrono::Duration::days(1)).to_rfc3339()}),
    )
    .await;
    for (n, tenant) in tenants.iter().enumerate() {
        if n == 0 {
            // Ends a few seconds into tenant 0's alerts: what it held then
            // and still fires is correlated when it ends.
            let now = chrono::Utc::now();
            work.window(
                &tenants[0],
                json!({"name": "host03 patch", "matchers": ["asset=\"host03\""],
                       "starts_at": now.to_rfc3339(),
                       "ends_at": (now + chrono::Duration::seconds(2)).to_rfc3339()}),
            )
            .await;
        }
        work.alerts(tenant).await;
    }
    // A heartbeat that goes quiet and beats again, decided on a moved clock.
    work.beat(
        &tenants[0],
        "nightly-backup",
        json!({"timeout_seconds": 60}),
    )
    .await;
    let checker = HeartbeatChecker::new(
        pool.clone(),
        LogSignal::start(pool.clone()),
        DomainServices::new(Arc::new(FixedClock::new(
            chrono::Utc::now() + chrono::Duration::minutes(2),
        ))),
        Duration::from_secs(1),
    );
    assert_eq!(checker.check_due().await.unwrap().missed, 1);
    work.beat(&tenants[0], "nightly-backup", json!({})).await;
    assert_eq!(checker.check_due().await.unwrap().recovered, 1);
    // A key that flaps: firing and resolved four times (7 switches, more
    // than the default policy's 5 in 15 minutes).
    for _ in 0..4 {
        for status in ["firing", "resolved"] {
            work.post(
                &tenants[0],
                json!({"asset_name": "flappy", "signature": "LinkDown", "severity": "high",
                       "message": "link", "status": status}),
            )
            .await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.stored("MaintenanceWindowEnded").await == 0 {
        assert!(
            Instant::now() < deadline,
            "the window's end was never recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    settle(&pool).await;
    assert_eq!(app.stored("IncidentFlapping").await, 1);
    // The flapping key has been stable for its window (on a moved clock).
    let settler = FlapSettler::new(
        pool.clone(),
        LogSignal::start(pool.clone()),
        DomainServices::new(Arc::new(FixedClock::new(
            chrono::Utc::now() + chrono::Duration::minutes(16),
        ))),
        Duration::from_secs(1),
    );
    assert_eq!(settler.settle_due().await.unwrap(), 1);
    for tenant in &tenants {
        work.actions(tenant).await;
        work.source_resolutions(tenant).await;
    }
    work.decide_approvals(&tenants[0]).await;
    settle(&pool).await;
    let midpoint = last_in_log_order(&pool).await;
    let at_midpoint = snapshot(&pool, "public", None).await;

    // Phase 2.
    work.set_policy(
        &tenants[0],
        json!({"time_window_minutes": 60, "aggregation_key": "signature",
                                        "auto_correlate": true, "min_alerts": 1}),
    )
    .await;
    for tenant in &tenants {
        work.alerts(tenant).await;
    }
    settle(&pool).await;
    for tenant in &tenants {
        work.actions(tenant).await;
        work.source_resolutions(tenant).await;
    }
    settle(&pool).await;
    work.decide_approvals(&tenants[0]).await;
    settle(&pool).await;
    stop.send_replace(true);
    let kills = chaos.await.unwrap();
    correlator.abort();
    dispatcher.abort();
    notifier.abort();
    executor.abort();
    closer.abort();
    assert!(kills > 20, "the projectors were killed only {kills} times");

    let live = snapshot(&pool, "public", None).await;
    let received: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'AlertReceived'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(live["alerts"].len() as i64, received);
    let held = live["alerts"]
        .iter()
        .filter(|row| row["suppressed_by"].is_string() && row["suppression_lifted_at"].is_null())
        .count();
    let lifted = live["alerts"]
        .iter()
        .filter(|row| row["suppression_lifted_at"].is_string())
        .count();
    assert!(held > 0 && lifted > 0, "{held} held, {lifted} lifted");
    assert!(received >= 2_000, "{received} alerts");
    assert!(live["incidents"].len() > 50);
    assert!(live["incident_timeline"].len() > live["incidents"].len());
    assert_eq!(live["runbooks"].len(), 2);
    assert!(
        live["approvals"].len() >= 2,
        "{} approvals",
        live["approvals"].len()
    );
    let succeeded = live["executions"]
        .iter()
        .filter(|row| row["status"] == "succeeded")
        .count();
    assert!(succeeded >= 2, "{succeeded} executions succeeded");
    assert_eq!(succeeded, ssm.sent().len());
    let upcast = live["incidents"]
        .iter()
        .find(|row| row["incident_id"] == legacy.to_string())
        .expect("the 1.0 incident is projected");
    assert_eq!(upcast["tool_sources"], json!(["unknown"]));
    assert!(live["incidents"]
        .iter()
        .any(|row| row["flapping_count"] == 1 && row["flapping"] == false));
    assert!(live["incidents"]
        .iter()
        .any(|row| row["signature"] == "heartbeat_missed"));
    assert!(!live["kpi_window_suppressions"].is_empty());

    let indexes_before = index_definitions(&pool).await;
    for projection in read_models::all() {
        let name = projection.name();
        // History up to the midpoint, beside the live tables.
        let schema = format!("mid_{name}");
        let options = HistoryOptions {
            until: Some(Until::Position(midpoint)),
            ..HistoryOptions::default()
        };
        build_history(&pool, Arc::clone(&projection), &schema, &options)
            .await
            .unwrap();
        let history = snapshot(&pool, &schema, Some(name)).await;
        for (table, rows) in &history {
            assert!(
                rows == &at_midpoint[table],
                "{table} --until {midpoint} differs from the midpoint"
            );
        }
        drop_schema(&pool, &schema).await;

        // A full rebuild swapped in for the live tables.
        let report = rebuild_live(&pool, Arc::clone(&projection), Some(500))
            .await
            .unwrap();
        assert!(report.events > 0);
        let rebuilt = snapshot(&pool, "public", Some(name)).await;
        for (table, rows) in &rebuilt {
            assert_eq!(
                rows.len(),
                live[table].len(),
                "{table} row count after rebuild"
            );
            assert!(rows == &live[table], "{table} differs after rebuild");
        }
    }
    // Every read model at once, from one pass over the log.
    let reports = rebuild_all_live(&pool, read_models::all(), Some(700))
        .await
        .unwrap();
    assert_eq!(reports.len(), read_models::all().len());
    let rebuilt = snapshot(&pool, "public", None).await;
    for (table, rows) in &rebuilt {
        assert!(
            rows == &live[table],
            "{table} differs after the one-pass rebuild"
        );
    }
    assert_eq!(
        index_definitions(&pool).await,
        indexes_before,
        "a rebuild keeps every index"
    );
}

/// Every index of the read-model tables, as PostgreSQL would recreate it.
async fn index_definitions(pool: &PgPool) -> Vec<String> {
    let tables: Vec<&str> = TABLES.iter().map(|(_, table, _)| *table).collect();
    sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY($1) ORDER BY indexdef",
    )
    .bind(&tables)
    .fetch_all(pool)
    .await
    .unwrap()
}
