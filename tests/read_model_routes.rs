//! The alerts and incidents read models over HTTP: lists with filters, sorts
//! and cursors, details with the timeline, error statuses, tenant isolation;
//! and the served binary keeping the read models up to date by itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use alertledger_domain::incident::{Incident, IncidentCommand, Resolution};
use alertledger_domain::values::{
    Actor, AlertId, AlertSignature, AssetName, CorrelationDecision, CorrelationReason, IncidentId,
    Note, PriorityScore, Role, Severity, TenantId, ToolSource, UserId,
};
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::{ConsumerRunner, RunnerSettings};
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use alertledger_projections as read_models;
use serde_json::{json, Value};
use support::process::ServiceProcess;
use support::{generic_alert, TestApp};
use tokio::task::JoinHandle;

/// The read-model projectors on the app's database, as `serve` runs them;
/// stopped when dropped.
struct ReadModels(Vec<JoinHandle<()>>);

impl ReadModels {
    fn start(app: &TestApp) -> Self {
        let settings = RunnerSettings {
            poll_interval: Duration::from_millis(50),
            ..RunnerSettings::default()
        };
        Self(
            read_models::all()
                .into_iter()
                .map(|projection| {
                    let runner = ConsumerRunner::new(
                        app.db.pool().clone(),
                        LogSignal::local(),
                        projection,
                        settings.clone(),
                    );
                    runner.spawn().0
                })
                .collect(),
        )
    }
}

impl Drop for ReadModels {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Writes incident events straight to the app's database, as the correlator
/// and the incident commands will.
struct Incidents(AggregateStore<Incident>);

impl Incidents {
    fn new(app: &TestApp) -> Self {
        Self(AggregateStore::new(
            app.db.pool().clone(),
            DomainServices::system(),
            LogSignal::local(),
        ))
    }

    async fn open(
        &self,
        tenant: TenantId,
        asset: &str,
        severity: Severity,
        priority: i64,
    ) -> IncidentId {
        let incident_id = IncidentId::new_v7();
        let key = format!("{asset}|HighCPU");
        let open = IncidentCommand::OpenIncident {
            incident_id,
            tenant_id: tenant,
            key: key.clone(),
            first_alert: AlertId::new_v7(),
            asset: AssetName::parse(asset).unwrap(),
            signature: AlertSignature::parse("HighCPU").unwrap(),
            severity,
            priority: PriorityScore::new(priority).unwrap(),
            reason: CorrelationReason {
                key: key.clone(),
                window_minutes: 15,
                decision: CorrelationDecision::Opened,
                explanation: format!("no open incident with key {key} in the last 15 minutes"),
            },
            tool_source: ToolSource::parse("zabbix").unwrap(),
        };
        self.run(incident_id, open, "worker:correlator").await;
        incident_id
    }

    async fn run(&self, incident_id: IncidentId, command: IncidentCommand, actor: &str) {
        self.0
            .execute(&incident_id.to_string(), command, EventMetadata::by(actor))
            .await
            .unwrap();
    }
}

fn technician() -> Actor {
    Actor::new(UserId::parse("u-7").unwrap(), "Grace", Role::Technician)
}

fn items(body: &Value) -> &Vec<Value> {
    body["items"].as_array().unwrap()
}

fn ids(body: &Value, field: &str) -> Vec<String> {
    items(body)
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

async fn get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Follows `next_cursor` from `path` (which has no cursor yet) to the end.
async fn every_page(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(cursor) => format!("{path}&cursor={cursor}"),
            None => path.to_owned(),
        };
        let response = get(app, &url, token).await;
        assert_eq!(response.status(), 200, "GET {url}");
        let page: Value = response.json().await.unwrap();
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        pages.push(page);
        if cursor.is_none() {
            return pages;
        }
        assert!(pages.len() < 100, "pagination never ends");
    }
}

#[tokio::test]
async fn alerts_are_listed_newest_first_filtered_and_shown_one_by_one() {
    let app = TestApp::spawn_without_background().await;
    let _read_models = ReadModels::start(&app);
    let tenant = app.create_tenant("acme").await;
    let mut posted = Vec::new();
    for (asset, severity, status) in [
        ("web01", "critical", "firing"),
        ("db01", "low", "firing"),
        ("web02", "critical", "resolved"),
    ] {
        let mut alert = generic_alert(asset);
        alert["severity"] = json!(severity);
        alert["status"] = json!(status);
        let response = app.post_alert(&tenant, &alert).await;
        assert_eq!(response.status(), 202);
        let receipt: Value = response.json().await.unwrap();
        posted.push(
            receipt["alerts"][0]["alert_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let token = app.token(Role::Viewer, &[tenant.id]);

    let all = app
        .get_until("/api/v1/alerts", &token, |body| items(body).len() == 3)
        .await;
    let newest_first: Vec<String> = posted.iter().rev().cloned().collect();
    assert_eq!(ids(&all, "alert_id"), newest_first);
    assert_eq!(all["next_cursor"], Value::Null);

    let critical = get(&app, "/api/v1/alerts?severity=critical", &token).await;
    let critical: Value = critical.json().await.unwrap();
    assert_eq!(
        ids(&critical, "alert_id"),
        [posted[2].as_str(), posted[0].as_str()]
    );
    let resolved: Value = get(&app, "/api/v1/alerts?status=resolved", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&resolved, "alert_id"), [posted[2].as_str()]);
    let on_db01: Value = get(&app, "/api/v1/alerts?asset=db01&status=firing", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&on_db01, "alert_id"), [posted[1].as_str()]);
    let none: Value = get(&app, "/api/v1/alerts?asset=db01&severity=critical", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(items(&none).len(), 0);

    let response = get(&app, &format!("/api/v1/alerts/{}", posted[0]), &token).await;
    assert_eq!(response.status(), 200);
    let alert: Value = response.json().await.unwrap();
    assert_eq!(alert["alert_id"], posted[0].as_str());
    assert_eq!(alert["tenant_id"], tenant.id.to_string());
    assert_eq!(alert["asset"], "web01");
    assert_eq!(alert["signature"], "HighCPU");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["source"], "generic");
    assert_eq!(alert["tool_source"], "prometheus");
    assert_eq!(alert["labels"], json!({ "env": "production" }));
    assert_eq!(alert["occurred_at"], "2026-11-22T03:07:32Z");
    assert_eq!(alert["incident_id"], Value::Null);
    assert!(alert["received_position"].as_i64().unwrap() > 0);

    for missing in [
        format!("/api/v1/alerts/{}", uuid::Uuid::now_v7()),
        "/api/v1/alerts/not-a-uuid".to_owned(),
    ] {
        let response = get(&app, &missing, &token).await;
        assert_eq!(response.status(), 404, "{missing}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "alert_not_found");
    }
}

#[tokio::test]
async fn incidents_sort_by_priority_filter_and_show_their_timeline() {
    let app = TestApp::spawn_without_background().await;
    let _read_models = ReadModels::start(&app);
    let tenant = app.create_tenant("acme").await;
    let incidents = Incidents::new(&app);
    let low = incidents
        .open(tenant.id, "web01", Severity::Medium, 30)
        .await;
    let urgent = incidents
        .open(tenant.id, "db01", Severity::Critical, 90)
        .await;
    let middle = incidents.open(tenant.id, "web02", Severity::High, 60).await;

    // The urgent one gets a second alert from another tool, and is worked.
    let second_alert = AlertId::new_v7();
    let attach = IncidentCommand::AttachAlert {
        alert_id: second_alert,
        reason: CorrelationReason {
            key: "db01|HighCPU".into(),
            window_minutes: 15,
            decision: CorrelationDecision::Attached { to: urgent },
            explanation: "open incident with key db01|HighCPU within 15 minutes".into(),
        },
        priority: Some(PriorityScore::new(100).unwrap()),
        tool_source: ToolSource::parse("prometheus").unwrap(),
    };
    incidents.run(urgent, attach, "worker:correlator").await;
    let acknowledge = IncidentCommand::AcknowledgeIncident {
        actor: technician(),
    };
    incidents.run(urgent, acknowledge, "user:u-7").await;
    let resolve = IncidentCommand::ResolveIncident {
        actor: technician(),
        note: Some(Note::parse("scaled out").unwrap()),
        resolution: Resolution::Manual,
    };
    incidents.run(low, resolve, "user:u-7").await;

    let token = app.token(Role::Viewer, &[tenant.id]);
    let newest = app
        .get_until("/api/v1/incidents", &token, |body| {
            items(body).len() == 3
                && items(body).iter().any(|i| i["status"] == "acknowledged")
                && items(body).iter().any(|i| i["status"] == "resolved")
        })
        .await;
    let (low, urgent, middle) = (low.to_string(), urgent.to_string(), middle.to_string());
    assert_eq!(
        ids(&newest, "incident_id"),
        [middle.as_str(), urgent.as_str(), low.as_str()]
    );

    let by_priority: Value = get(&app, "/api/v1/incidents?sort=priority", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        ids(&by_priority, "incident_id"),
        [urgent.as_str(), middle.as_str(), low.as_str()]
    );
    let scores: Vec<i64> = items(&by_priority)
        .iter()
        .map(|i| i["priority_score"].as_i64().unwrap())
        .collect();
    assert_eq!(scores, [100, 60, 30]);

    for (query, expected) in [
        ("status=resolved", vec![&low]),
        ("status=acknowledged", vec![&urgent]),
        ("status=new", vec![&middle]),
        ("status=in_progress", vec![]),
        ("severity=critical", vec![&urgent]),
        ("severity=high&sort=priority", vec![&middle]),
    ] {
        let body: Value = get(&app, &format!("/api/v1/incidents?{query}"), &token)
            .await
            .json()
            .await
            .unwrap();
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(ids(&body, "incident_id"), expected, "{query}");
    }

    let response = get(&app, &format!("/api/v1/incidents/{urgent}"), &token).await;
    assert_eq!(response.status(), 200);
    let detail: Value = response.json().await.unwrap();
    assert_eq!(detail["incident_id"], urgent.as_str());
    assert_eq!(detail["status"], "acknowledged");
    assert_eq!(detail["priority_score"], 100);
    assert_eq!(detail["alert_count"], 2);
    assert_eq!(detail["alert_ids"].as_array().unwrap().len(), 2);
    assert_eq!(detail["alert_ids"][1], second_alert.to_string());
    assert_eq!(detail["tool_sources"], json!(["prometheus", "zabbix"]));
    assert_eq!(detail["key"], "db01|HighCPU");
    let timeline = detail["timeline"].as_array().unwrap();
    let kinds: Vec<&str> = timeline
        .iter()
        .map(|entry| entry["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "IncidentOpened",
            "AlertAttached",
            "PriorityChanged",
            "IncidentAcknowledged"
        ]
    );
    let positions: Vec<i64> = timeline
        .iter()
        .map(|entry| entry["position"].as_i64().unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "{positions:?}"
    );
    assert_eq!(timeline[0]["actor"], "worker:correlator");
    assert_eq!(
        timeline[0]["correlation_reason"]["explanation"],
        "no open incident with key db01|HighCPU in the last 15 minutes"
    );
    assert_eq!(
        timeline[1]["correlation_reason"],
        json!({
            "key": "db01|HighCPU",
            "window_minutes": 15,
            "decision": { "kind": "attached", "to": urgent },
            "explanation": "open incident with key db01|HighCPU within 15 minutes",
        })
    );
    assert_eq!(
        timeline[1]["summary"],
        format!(
            "Alert {second_alert} attached: open incident with key db01|HighCPU within 15 minutes"
        )
    );
    assert_eq!(timeline[2]["correlation_reason"], Value::Null);
    assert_eq!(timeline[3]["actor"], "user:u-7");
    assert_eq!(timeline[3]["summary"], "Acknowledged by Grace (u-7)");

    let resolved: Value = get(&app, &format!("/api/v1/incidents/{low}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resolved["resolution"]["kind"], "manual");
    assert_eq!(resolved["resolution"]["note"], "scaled out");
    assert!(resolved["resolved_at"].is_string());

    let response = get(
        &app,
        &format!("/api/v1/incidents/{}", uuid::Uuid::now_v7()),
        &token,
    )
    .await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn pages_cover_every_row_once_in_order_for_each_sort() {
    let app = TestApp::spawn_without_background().await;
    let _read_models = ReadModels::start(&app);
    let tenant = app.create_tenant("acme").await;

    // Seven alerts in one delivery: received in the same instant or nearly,
    // so the cursor must break ties.
    let batch: Vec<Value> = (0..7).map(|n| generic_alert(&format!("host{n}"))).collect();
    let response = app.post_alert(&tenant, &Value::Array(batch)).await;
    assert_eq!(response.status(), 202);
    // Five incidents, three sharing one priority score.
    let incidents = Incidents::new(&app);
    for priority in [50, 70, 50, 90, 50] {
        incidents
            .open(tenant.id, "web01", Severity::High, priority)
            .await;
    }
    let token = app.token(Role::Viewer, &[tenant.id]);
    let everything = app
        .get_until("/api/v1/alerts?limit=500", &token, |body| {
            items(body).len() == 7
        })
        .await;
    let incidents_all = app
        .get_until("/api/v1/incidents?limit=500", &token, |body| {
            items(body).len() == 5
        })
        .await;
    let priority_all: Value = get(&app, "/api/v1/incidents?sort=priority&limit=500", &token)
        .await
        .json()
        .await
        .unwrap();

    for (path, field, whole) in [
        ("/api/v1/alerts?limit=2", "alert_id", &everything),
        ("/api/v1/incidents?limit=2", "incident_id", &incidents_all),
        (
            "/api/v1/incidents?sort=priority&limit=2",
            "incident_id",
            &priority_all,
        ),
    ] {
        let pages = every_page(&app, path, &token).await;
        let sizes: Vec<usize> = pages.iter().map(|page| items(page).len()).collect();
        let expected_sizes = if field == "alert_id" {
            vec![2, 2, 2, 1]
        } else {
            vec![2, 2, 1]
        };
        assert_eq!(sizes, expected_sizes, "{path}");
        let walked: Vec<String> = pages.iter().flat_map(|page| ids(page, field)).collect();
        assert_eq!(walked, ids(whole, field), "{path}: same rows, same order");
        let distinct: HashSet<&String> = walked.iter().collect();
        assert_eq!(distinct.len(), walked.len(), "{path}: no duplicates");
    }
    let scores: Vec<i64> = items(&priority_all)
        .iter()
        .map(|i| i["priority_score"].as_i64().unwrap())
        .collect();
    assert_eq!(scores, [90, 70, 50, 50, 50]);

    // A page is exactly `limit` long when more follow, and the default is 50.
    let first: Value = get(&app, "/api/v1/alerts?limit=7", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(items(&first).len(), 7);
    assert_eq!(first["next_cursor"], Value::Null);
}

#[tokio::test]
async fn malformed_cursors_are_400_and_invalid_filters_are_422_naming_the_field() {
    let app = TestApp::spawn_without_background().await;
    let _read_models = ReadModels::start(&app);
    let tenant = app.create_tenant("acme").await;
    let incidents = Incidents::new(&app);
    for priority in [10, 20] {
        incidents
            .open(tenant.id, "web01", Severity::Low, priority)
            .await;
    }
    let token = app.token(Role::Viewer, &[tenant.id]);
    let by_priority = app
        .get_until("/api/v1/incidents?sort=priority&limit=1", &token, |body| {
            body["next_cursor"].is_string()
        })
        .await;
    let priority_cursor = by_priority["next_cursor"].as_str().unwrap();

    for path in [
        "/api/v1/alerts?cursor=not-a-cursor!".to_owned(),
        "/api/v1/incidents?cursor=AAAA".to_owned(),
        // A cursor of one sort is not a cursor of the other.
        format!("/api/v1/incidents?cursor={priority_cursor}"),
        format!("/api/v1/alerts?cursor={priority_cursor}"),
    ] {
        let response = get(&app, &path, &token).await;
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_cursor", "{path}");
    }
    let next = get(
        &app,
        &format!("/api/v1/incidents?sort=priority&limit=1&cursor={priority_cursor}"),
        &token,
    )
    .await;
    assert_eq!(next.status(), 200, "the cursor works where it came from");

    for (path, field) in [
        ("/api/v1/alerts?severity=urgent", "severity"),
        ("/api/v1/alerts?status=open", "status"),
        ("/api/v1/alerts?asset=", "asset"),
        ("/api/v1/alerts?limit=0", "limit"),
        ("/api/v1/alerts?limit=501", "limit"),
        ("/api/v1/alerts?tenant=acme", "tenant"),
        ("/api/v1/incidents?severity=urgent", "severity"),
        ("/api/v1/incidents?status=open", "status"),
        ("/api/v1/incidents?sort=oldest", "sort"),
        ("/api/v1/incidents?limit=many", "limit"),
    ] {
        let response = get(&app, path, &token).await;
        assert_eq!(response.status(), 422, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_value", "{path}");
        assert_eq!(body["error"]["details"]["field"], field, "{path}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(field),
            "{path}: {body}"
        );
    }

    let response = app
        .client
        .get(app.url("/api/v1/alerts"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_tenant_never_lists_or_fetches_another_tenants_alerts_or_incidents() {
    let app = TestApp::spawn_without_background().await;
    let _read_models = ReadModels::start(&app);
    let a = app.create_tenant("tenant-a").await;
    let b = app.create_tenant("tenant-b").await;
    let receipt: Value = app
        .post_alert(&a, &generic_alert("web01"))
        .await
        .json()
        .await
        .unwrap();
    let alert_a = receipt["alerts"][0]["alert_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let incident_a = Incidents::new(&app)
        .open(a.id, "web01", Severity::High, 60)
        .await
        .to_string();

    let token_a = app.token(Role::TenantAdmin, &[a.id]);
    let token_b = app.token(Role::TenantAdmin, &[b.id]);
    let admin = app.token(Role::MspAdmin, &[]);
    // Once tenant A (and the MSP admin) can see them, the projectors have run.
    app.get_until("/api/v1/alerts", &token_a, |body| items(body).len() == 1)
        .await;
    app.get_until("/api/v1/incidents", &token_a, |body| items(body).len() == 1)
        .await;
    let all: Value = get(&app, "/api/v1/incidents", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&all, "incident_id"), [incident_a.as_str()]);
    let only_a: Value = get(&app, &format!("/api/v1/alerts?tenant={}", a.id), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&only_a, "alert_id"), [alert_a.as_str()]);

    for path in ["/api/v1/alerts", "/api/v1/incidents"] {
        let response = get(&app, path, &token_b).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(items(&body).len(), 0, "{path}");
        let foreign = get(&app, &format!("{path}?tenant={}", a.id), &token_b).await;
        assert_eq!(foreign.status(), 404, "{path}?tenant=A");
    }
    for path in [
        format!("/api/v1/alerts/{alert_a}"),
        format!("/api/v1/incidents/{incident_a}"),
    ] {
        let response = get(&app, &path, &token_b).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        let code = body["error"]["code"].as_str().unwrap();
        assert!(code.ends_with("_not_found"), "{code}");
        assert_eq!(get(&app, &path, &token_a).await.status(), 200, "{path}");
        assert_eq!(get(&app, &path, &admin).await.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn the_served_binary_keeps_the_read_models_up_to_date_by_itself() {
    // The test app only registers the tenant and signs tokens; it runs no
    // projector or worker, so what the binary lists, the binary projected.
    let app = TestApp::spawn_without_background().await;
    let tenant = app.create_tenant("acme").await;
    let database_url = app.db.url().to_owned();
    let secret = std::str::from_utf8(support::JWT_SECRET).unwrap().to_owned();
    let served = tokio::task::spawn_blocking(move || {
        ServiceProcess::serve(&database_url, &[("ALERTLEDGER_JWT_SECRET", &secret)])
    })
    .await
    .unwrap();
    let base = served.url("");

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let alert_id = loop {
        // The binary's tenant directory follows the log: retry until it knows the key.
        let response = app
            .client
            .post(format!("{base}/api/v1/webhooks/generic"))
            .header("X-API-Key", &tenant.api_key)
            .json(&generic_alert("web01"))
            .send()
            .await
            .unwrap();
        if response.status() == 202 {
            let receipt: Value = response.json().await.unwrap();
            break receipt["alerts"][0]["alert_id"]
                .as_str()
                .unwrap()
                .to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the binary never accepted the key"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let incident_id = Incidents::new(&app)
        .open(tenant.id, "web01", Severity::High, 60)
        .await
        .to_string();

    let token = app.token(Role::Viewer, &[tenant.id]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let alerts: Value = app
            .client
            .get(format!("{base}/api/v1/alerts"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let incidents: Value = app
            .client
            .get(format!("{base}/api/v1/incidents"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // The binary also runs the correlator: the alert gets an incident of its own.
        let correlated_into = alerts["items"][0]["incident_id"]
            .as_str()
            .unwrap_or_default();
        let incident_ids = ids(&incidents, "incident_id");
        if ids(&alerts, "alert_id") == [alert_id.as_str()]
            && incident_ids.len() == 2
            && incident_ids.contains(&incident_id)
            && incident_ids.iter().any(|id| id == correlated_into)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the binary's read models never showed the alert and the incident: {alerts} {incidents}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(served);
}
