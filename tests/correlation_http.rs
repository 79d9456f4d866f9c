//! Correlation end to end: alerts posted over HTTP become incidents through
//! the correlator the application runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use alertledger_domain::values::Role;
use support::{generic_alert, TestApp};

/// The log position of the one alert a 202 response accepted.
async fn accepted_position(response: reqwest::Response) -> i64 {
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    body["alerts"][0]["position"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_alerts_of_one_key_make_exactly_one_incident() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let requests = (0..100).map(|n| {
        app.client
            .post(app.url("/api/v1/webhooks/generic"))
            .header("X-API-Key", &tenant.api_key)
            .header("Idempotency-Key", format!("delivery-{n}"))
            .json(&generic_alert("web01"))
            .send()
    });
    let mut last = 0;
    for response in futures_util::future::join_all(requests).await {
        last = last.max(accepted_position(response.unwrap()).await);
    }

    // Every decision is stored with the correlator's checkpoint: once it has
    // passed the last receipt, a wrongly opened second incident would show.
    app.wait_until_consumed("correlator", last).await;
    assert_eq!(app.stored("AlertCorrelated").await, 100);
    assert_eq!(app.stored("IncidentOpened").await, 1);
    assert_eq!(app.stored("AlertAttached").await, 99);
    let incidents: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT payload->'AlertCorrelated'->>'incident_id' FROM events WHERE event_type = 'AlertCorrelated'",
    )
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    assert_eq!(incidents.len(), 1, "every alert points at the one incident");
}

#[tokio::test]
async fn correlate_now_groups_alerts_waiting_under_a_manual_policy() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("acme").await;
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);
    let policy = app
        .client
        .put(app.url(&format!("/api/v1/tenants/{}/correlation-policy", tenant.id)))
        .bearer_auth(&admin)
        .json(&serde_json::json!({
            "time_window_minutes": 15, "aggregation_key": "asset|signature",
            "auto_correlate": false, "min_alerts": 1
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), 200);
    let mut last = 0;
    for n in 0..3 {
        let response = app
            .client
            .post(app.url("/api/v1/webhooks/generic"))
            .header("X-API-Key", &tenant.api_key)
            .header("Idempotency-Key", format!("delivery-{n}"))
            .json(&generic_alert("web01"))
            .send()
            .await
            .unwrap();
        last = accepted_position(response).await;
    }
    app.wait_until_consumed("correlator", last).await;
    assert_eq!(
        app.stored("IncidentOpened").await,
        0,
        "nothing correlates by itself"
    );

    let technician = app.token(Role::Technician, &[tenant.id]);
    let response = app
        .client
        .post(app.url(&format!("/api/v1/incidents/correlate?tenant={}", tenant.id)))
        .bearer_auth(&technician)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["completed"], true, "{body}");
    assert_eq!(app.stored("IncidentOpened").await, 1);
    assert_eq!(app.stored("AlertCorrelated").await, 3);

    let viewer = app.token(Role::Viewer, &[tenant.id]);
    let other = app.create_tenant("other").await;
    let outsider = app.token(Role::TenantAdmin, &[other.id]);
    for (token, status) in [(&viewer, 403), (&outsider, 404)] {
        let response = app
            .client
            .post(app.url(&format!("/api/v1/incidents/correlate?tenant={}", tenant.id)))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
    }
}
