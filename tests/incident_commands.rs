//! Incident and alert commands over HTTP: every command of a technician is
//! recorded with its actor, viewers are refused, another tenant's incidents and
//! alerts do not exist for the caller, broken rules are conflicts, and invalid
//! bodies name the field. A refused command records nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use alertledger_domain::incident::{Incident, IncidentCommand};
use alertledger_domain::values::{
    AlertId, AlertSignature, AssetName, CorrelationDecision, CorrelationReason, IncidentId,
    PriorityScore, Role, Severity, ToolSource,
};
use alertledger_domain::DomainServices;
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use serde_json::{json, Value};
use support::{generic_alert, TestApp, TestTenant};

/// Opens an incident of `tenant` straight through the aggregate store, as the
/// correlator would.
async fn open_incident(app: &TestApp, tenant: &TestTenant) -> IncidentId {
    let incidents: AggregateStore<Incident> = AggregateStore::new(
        app.db.pool().clone(),
        DomainServices::system(),
        LogSignal::local(),
    );
    let incident_id = IncidentId::new_v7();
    let open = IncidentCommand::OpenIncident {
        incident_id,
        tenant_id: tenant.id,
        key: "web01|HighCPU".to_owned(),
        first_alert: AlertId::new_v7(),
        asset: AssetName::parse("web01").unwrap(),
        signature: AlertSignature::parse("HighCPU").unwrap(),
        severity: Severity::High,
        priority: PriorityScore::clamped(60),
        reason: CorrelationReason {
            key: "web01|HighCPU".to_owned(),
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

/// Posts a generic alert for `tenant` and returns its id.
async fn receive_alert(app: &TestApp, tenant: &TestTenant) -> String {
    let response = app.post_alert(tenant, &generic_alert("web01")).await;
    assert_eq!(response.status(), 202);
    let receipt: Value = response.json().await.unwrap();
    receipt["alerts"][0]["alert_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// POSTs `body` (none when `None`) to `path` as `token`; returns the status
/// and the JSON body.
async fn post(app: &TestApp, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.client.post(app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Every incident command, with a valid body.
fn incident_commands(incident: &str) -> Vec<(String, Option<Value>)> {
    let base = format!("/api/v1/incidents/{incident}");
    vec![
        (format!("{base}/acknowledge"), None),
        (
            format!("{base}/assign"),
            Some(json!({ "assignee": "alice" })),
        ),
        (
            format!("{base}/comment"),
            Some(json!({ "text": "checked the load balancer" })),
        ),
        (
            format!("{base}/escalate"),
            Some(json!({ "reason": "needs the database team" })),
        ),
        (
            format!("{base}/resolve"),
            Some(json!({ "note": "restarted nginx" })),
        ),
        (
            format!("{base}/reopen"),
            Some(json!({ "reason": "it is back" })),
        ),
    ]
}

/// Rows stored for one aggregate (the table, not the horizon-bounded log).
/// Events of the aggregate not recorded by the correlator (which the app runs,
/// and which correlates the test's alerts on its own).
async fn events_of(app: &TestApp, aggregate_id: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events
          WHERE aggregate_id = $1 AND metadata->>'actor' IS DISTINCT FROM 'worker:correlator'",
    )
    .bind(aggregate_id)
    .fetch_one(app.db.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn a_technician_runs_every_incident_command_and_each_is_recorded_with_its_actor() {
    let app = TestApp::spawn().await;
    let acme = app.create_tenant("acme").await;
    let incident = open_incident(&app, &acme).await.to_string();
    let technician = app.token(Role::Technician, &[acme.id]);

    let expected_status = [
        "acknowledged",
        "in_progress",
        "in_progress",
        "escalated",
        "resolved",
        "new",
    ];
    for ((path, body), status) in incident_commands(&incident)
        .into_iter()
        .zip(expected_status)
    {
        let (code, answer) = post(&app, &path, &technician, body).await;
        assert_eq!(code, 200, "{path}: {answer}");
        assert_eq!(
            answer,
            json!({ "id": incident, "incident_id": incident, "status": status }),
            "{path}"
        );
    }
    // Reopened, it may be acknowledged again, here with an explicit `{}`.
    let (code, answer) = post(
        &app,
        &format!("/api/v1/incidents/{incident}/acknowledge"),
        &technician,
        Some(json!({})),
    )
    .await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["status"], "acknowledged");

    let types = [
        "IncidentAcknowledged",
        "IncidentAssigned",
        "IncidentCommented",
        "IncidentEscalated",
        "IncidentResolved",
        "IncidentReopened",
        "IncidentAcknowledged",
    ];
    let events = app
        .get_until(
            &format!("/api/v1/events?types={}", types.join(",")),
            &technician,
            |body| body["items"].as_array().unwrap().len() >= types.len(),
        )
        .await;
    let items = events["items"].as_array().unwrap();
    let recorded: Vec<&str> = items
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(recorded, types);
    for event in items {
        assert_eq!(event["aggregate_type"], "Incident");
        assert_eq!(event["aggregate_id"], incident.as_str());
        assert_eq!(event["tenant_id"], acme.id.to_string());
        assert_eq!(event["metadata"]["actor"], "user:user-technician");
        assert!(event["metadata"]["request_id"].is_string(), "{event}");
    }
    let payload = |n: usize| &items[n]["payload"][types[n]];
    assert_eq!(payload(0)["actor"]["user_id"], "user-technician");
    assert_eq!(payload(0)["actor"]["role"], "technician");
    assert_eq!(payload(1)["assignee"], "alice");
    assert_eq!(payload(2)["text"], "checked the load balancer");
    assert_eq!(payload(3)["reason"], "needs the database team");
    assert_eq!(payload(4)["resolution"]["kind"], "manual");
    assert_eq!(payload(4)["note"], "restarted nginx");
    assert_eq!(payload(4)["resolved_by"]["user_id"], "user-technician");
    assert_eq!(payload(5)["reason"], "it is back");
}

#[tokio::test]
async fn a_technician_acknowledges_an_alert_once_and_the_event_names_them() {
    let app = TestApp::spawn().await;
    let acme = app.create_tenant("acme").await;
    let alert = receive_alert(&app, &acme).await;
    let technician = app.token(Role::Technician, &[acme.id]);
    let path = format!("/api/v1/alerts/{alert}/acknowledge");

    let (code, answer) = post(&app, &path, &technician, Some(json!({ "note": "on it" }))).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["alert_id"], alert.as_str());
    let acknowledged_at = answer["acknowledged_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(acknowledged_at).is_ok(),
        "{acknowledged_at}"
    );

    let events = app
        .get_until("/api/v1/events?types=AlertAcknowledged", &technician, |b| {
            !b["items"].as_array().unwrap().is_empty()
        })
        .await;
    let event = &events["items"][0];
    assert_eq!(event["aggregate_type"], "Alert");
    assert_eq!(event["aggregate_id"], alert.as_str());
    assert_eq!(event["metadata"]["actor"], "user:user-technician");
    let acknowledged = &event["payload"]["AlertAcknowledged"];
    assert_eq!(acknowledged["actor"]["user_id"], "user-technician");
    assert_eq!(acknowledged["note"], "on it");

    let (code, again) = post(&app, &path, &technician, None).await;
    assert_eq!(code, 409, "{again}");
    assert_eq!(again["error"]["code"], "already_acknowledged");
    assert_eq!(
        events_of(&app, &alert).await,
        2,
        "received and acknowledged"
    );
}

#[tokio::test]
async fn a_viewer_may_not_run_commands_and_nothing_is_recorded() {
    let app = TestApp::spawn().await;
    let acme = app.create_tenant("acme").await;
    let incident = open_incident(&app, &acme).await.to_string();
    let alert = receive_alert(&app, &acme).await;
    let viewer = app.token(Role::Viewer, &[acme.id]);

    let mut commands = incident_commands(&incident);
    commands.push((format!("/api/v1/alerts/{alert}/acknowledge"), None));
    for (path, body) in commands {
        let (code, answer) = post(&app, &path, &viewer, body).await;
        assert_eq!(code, 403, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "forbidden", "{path}");
    }
    assert_eq!(events_of(&app, &incident).await, 1, "only the opening");
    assert_eq!(events_of(&app, &alert).await, 1, "only the receipt");
}

#[tokio::test]
async fn another_tenants_incident_or_alert_is_not_found_exactly_like_an_unknown_one() {
    let app = TestApp::spawn().await;
    let (acme, globex) = (
        app.create_tenant("acme").await,
        app.create_tenant("globex").await,
    );
    let incident = open_incident(&app, &acme).await.to_string();
    let alert = receive_alert(&app, &acme).await;
    let outsider = app.token(Role::Technician, &[globex.id]);
    let unknown = IncidentId::new_v7().to_string();

    for (path, body) in incident_commands(&incident) {
        let (code, foreign) = post(&app, &path, &outsider, body.clone()).await;
        assert_eq!(code, 404, "{path}: {foreign}");
        assert_eq!(foreign["error"]["code"], "incident_not_found", "{path}");
        let unknown_path = path.replace(&incident, &unknown);
        let (code, missing) = post(&app, &unknown_path, &outsider, body).await;
        assert_eq!(code, 404, "{unknown_path}");
        assert_eq!(foreign, missing, "the answer must not reveal the incident");
    }
    let (code, foreign) = post(
        &app,
        &format!("/api/v1/alerts/{alert}/acknowledge"),
        &outsider,
        None,
    )
    .await;
    assert_eq!(code, 404, "{foreign}");
    assert_eq!(foreign["error"]["code"], "alert_not_found");

    assert_eq!(events_of(&app, &incident).await, 1, "only the opening");
    assert_eq!(events_of(&app, &alert).await, 1, "only the receipt");
    // The tenant's own technician still finds both.
    let insider = app.token(Role::Technician, &[acme.id]);
    let (code, _) = post(
        &app,
        &format!("/api/v1/incidents/{incident}/acknowledge"),
        &insider,
        None,
    )
    .await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_not_found() {
    let app = TestApp::spawn().await;
    let acme = app.create_tenant("acme").await;
    let technician = app.token(Role::Technician, &[acme.id]);
    // An existing alert's id is no incident id, and the other way round.
    let alert = receive_alert(&app, &acme).await;
    let incident = open_incident(&app, &acme).await.to_string();

    for (id, code) in [
        (IncidentId::new_v7().to_string(), "incident_not_found"),
        ("not-a-uuid".to_owned(), "incident_not_found"),
        (alert.clone(), "incident_not_found"),
    ] {
        let path = format!("/api/v1/incidents/{id}/acknowledge");
        let (status, answer) = post(&app, &path, &technician, None).await;
        assert_eq!(status, 404, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{path}");
    }
    for id in [
        AlertId::new_v7().to_string(),
        "42".to_owned(),
        incident.clone(),
    ] {
        let path = format!("/api/v1/alerts/{id}/acknowledge");
        let (status, answer) = post(&app, &path, &technician, None).await;
        assert_eq!(status, 404, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "alert_not_found", "{path}");
    }
}

#[tokio::test]
async fn commands_that_break_an_incident_rule_are_conflicts_and_record_nothing() {
    let app = TestApp::spawn().await;
    let acme = app.create_tenant("acme").await;
    let incident = open_incident(&app, &acme).await.to_string();
    let technician = app.token(Role::Technician, &[acme.id]);
    let path = |command: &str| format!("/api/v1/incidents/{incident}/{command}");

    let (code, _) = post(&app, &path("acknowledge"), &technician, None).await;
    assert_eq!(code, 200);
    let refusals = [
        ("acknowledge", None, "already_acknowledged"),
        ("reopen", None, "incident_not_resolved"),
    ];
    for (command, body, expected) in refusals {
        let (code, answer) = post(&app, &path(command), &technician, body).await;
        assert_eq!(code, 409, "{command}: {answer}");
        assert_eq!(answer["error"]["code"], expected, "{command}");
        assert!(!answer["error"]["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(events_of(&app, &incident).await, 2, "opened, acknowledged");

    // Once resolved, only comments and reopening are allowed.
    let (code, _) = post(&app, &path("resolve"), &technician, None).await;
    assert_eq!(code, 200, "the note is optional");
    let refusals = [
        ("resolve", None, "already_resolved"),
        (
            "escalate",
            Some(json!({ "reason": "too late" })),
            "incident_resolved",
        ),
        (
            "assign",
            Some(json!({ "assignee": "bob" })),
            "incident_resolved",
        ),
    ];
    for (command, body, expected) in refusals {
        let (code, answer) = post(&app, &path(command), &technician, body).await;
        assert_eq!(code, 409, "{command}: {answer}");
        assert_eq!(answer["error"]["code"], expected, "{command}");
    }
    let (code, _) = post(
        &app,
        &path("comment"),
        &technician,
        Some(json!({ "text": "post-mortem on Monday" })),
    )
    .await;
    assert_eq!(code, 200, "comments are allowed on a resolved incident");
    assert_eq!(events_of(&app, &incident).await, 4);
}

#[tokio::test]
async fn missing_or_invalid_fields_are_named_and_record_nothing() {
    let app = TestApp::spawn().await;
    let acme = app.create_tenant("acme").await;
    let incident = open_incident(&app, &acme).await.to_string();
    let alert = receive_alert(&app, &acme).await;
    let technician = app.token(Role::Technician, &[acme.id]);
    let path = |command: &str| format!("/api/v1/incidents/{incident}/{command}");

    let missing = [
        ("assign", "assignee"),
        ("escalate", "reason"),
        ("comment", "text"),
    ];
    for (command, field) in missing {
        let (code, answer) = post(&app, &path(command), &technician, Some(json!({}))).await;
        assert_eq!(code, 400, "{command}: {answer}");
        assert_eq!(answer["error"]["code"], "missing_field", "{command}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{command}: {message}");
    }

    let empty = [
        (path("comment"), json!({ "text": "   " }), "text"),
        (path("assign"), json!({ "assignee": "" }), "assignee"),
        (path("escalate"), json!({ "reason": "" }), "reason"),
        (path("resolve"), json!({ "note": "" }), "note"),
        (path("reopen"), json!({ "reason": " " }), "reason"),
        (
            format!("/api/v1/alerts/{alert}/acknowledge"),
            json!({ "note": "" }),
            "note",
        ),
    ];
    for (path, body, field) in empty {
        let (code, answer) = post(&app, &path, &technician, Some(body)).await;
        assert_eq!(code, 422, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_value", "{path}");
        assert_eq!(answer["error"]["details"]["field"], field, "{path}");
    }

    let malformed = app
        .client
        .post(app.url(&path("acknowledge")))
        .bearer_auth(&technician)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        malformed.json::<Value>().await.unwrap()["error"]["code"],
        "malformed_json"
    );

    assert_eq!(events_of(&app, &incident).await, 1, "only the opening");
    assert_eq!(events_of(&app, &alert).await, 1, "only the receipt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn comments_arriving_at_once_on_one_incident_are_all_recorded() {
    let app = TestApp::spawn().await;
    let acme = app.create_tenant("acme").await;
    let incident = open_incident(&app, &acme).await.to_string();
    let technician = app.token(Role::Technician, &[acme.id]);
    let path = format!("/api/v1/incidents/{incident}/comment");

    // Three at once: a request can lose the race to each of the two others at
    // most once, so the route's retries always get it through.
    let comments = (0..3).map(|n| {
        post(
            &app,
            &path,
            &technician,
            Some(json!({ "text": format!("comment {n}") })),
        )
    });
    for (code, answer) in futures_util::future::join_all(comments).await {
        assert_eq!(code, 200, "{answer}");
    }
    assert_eq!(app.stored("IncidentCommented").await, 3);
}

/// The ids of a list page's incidents, sorted.
fn incident_ids(page: &Value) -> Vec<String> {
    let mut ids: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["incident_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn the_incident_list_filters_by_assignee_or_me_within_the_callers_tenants() {
    let app = TestApp::spawn().await;
    let acme = app.create_tenant("acme").await;
    let globex = app.create_tenant("globex").await;
    let ana = app.token_for("tech-ana", Role::Technician, &[acme.id, globex.id]);
    let bob = app.token_for("tech-bob", Role::Technician, &[acme.id]);
    let ana_at_acme = open_incident(&app, &acme).await.to_string();
    let bobs = open_incident(&app, &acme).await.to_string();
    let unassigned = open_incident(&app, &acme).await.to_string();
    let ana_at_globex = open_incident(&app, &globex).await.to_string();
    for (incident, assignee, token) in [
        (&ana_at_acme, "tech-ana", &ana),
        (&ana_at_globex, "tech-ana", &ana),
        (&bobs, "tech-bob", &bob),
    ] {
        let (code, answer) = post(
            &app,
            &format!("/api/v1/incidents/{incident}/assign"),
            token,
            Some(json!({ "assignee": assignee })),
        )
        .await;
        assert_eq!(code, 200, "{answer}");
    }
    // Wait for the read model to hold the three assignments.
    let msp = app.token(Role::MspAdmin, &[]);
    app.get_until("/api/v1/incidents?limit=500", &msp, |page| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|row| row["assignee"].is_string())
            .count()
            == 3
    })
    .await;

    let mut both = vec![ana_at_acme.clone(), ana_at_globex.clone()];
    both.sort();
    // `me` is the caller, across the caller's tenants or within one.
    let (code, page) = get(&app, "/api/v1/incidents?assignee=me", &ana).await;
    assert_eq!(code, 200, "{page}");
    assert_eq!(incident_ids(&page), both);
    assert!(page["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|row| row["assignee"] == "tech-ana"));
    let (_, page) = get(
        &app,
        &format!("/api/v1/incidents?assignee=me&tenant={}", acme.id),
        &ana,
    )
    .await;
    assert_eq!(incident_ids(&page), vec![ana_at_acme.clone()]);
    // With the other filters and the priority sort.
    let (_, page) = get(
        &app,
        "/api/v1/incidents?assignee=me&status=in_progress&severity=high&sort=priority",
        &ana,
    )
    .await;
    assert_eq!(incident_ids(&page), both);
    let (_, page) = get(&app, "/api/v1/incidents?assignee=me&status=resolved", &ana).await;
    assert!(incident_ids(&page).is_empty());
    // Someone else's incidents by their id: only those of tenants the caller reads.
    let (_, page) = get(&app, "/api/v1/incidents?assignee=tech-ana", &bob).await;
    assert_eq!(incident_ids(&page), vec![ana_at_acme.clone()]);
    let (_, page) = get(&app, "/api/v1/incidents?assignee=me", &bob).await;
    assert_eq!(incident_ids(&page), vec![bobs.clone()]);
    // An MSP admin reads every tenant's; nobody is assigned `unassigned`.
    let (_, page) = get(&app, "/api/v1/incidents?assignee=tech-ana", &msp).await;
    assert_eq!(incident_ids(&page), both);
    let (_, page) = get(&app, "/api/v1/incidents?assignee=nobody-at-all", &msp).await;
    assert!(incident_ids(&page).is_empty());
    let (_, page) = get(&app, "/api/v1/incidents?limit=500", &msp).await;
    assert!(incident_ids(&page).contains(&unassigned));
    // A value that is no user id is a 422 naming the field.
    let (code, body) = get(&app, "/api/v1/incidents?assignee=", &ana).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["error"]["details"]["field"], "assignee");
    // The filter is in the OpenAPI document.
    let document: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parameters = document["paths"]["/api/v1/incidents"]["get"]["parameters"]
        .as_array()
        .unwrap();
    assert!(parameters.iter().any(|p| p["name"] == "assignee"));
}
