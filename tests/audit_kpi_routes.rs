//! The analysts' read models over HTTP: `GET /api/v1/audit` (filters, cursor
//! pages, newest first) and `GET /api/v1/kpis`, both scoped to the caller's
//! tenants, with precise errors for bad dates and cursors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger_domain::values::Role;
use alertledger_eventstore::consumer::{ConsumerRunner, RunnerSettings};
use alertledger_eventstore::log::LogSignal;
use alertledger_projections as read_models;
use serde_json::{json, Value};
use support::{generic_alert, TestApp, TestTenant};

/// Two tenants: A with a configuration change and three alerts, B with one alert.
/// A's policy leaves correlation to people, so the correlator the app runs
/// adds nothing to A's history while the tests count it.
struct Setup {
    app: TestApp,
    a: TestTenant,
    b: TestTenant,
}

impl Setup {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let a = app.create_tenant("tenant-a").await;
        let b = app.create_tenant("tenant-b").await;

        let admin_of_a = app.token(Role::TenantAdmin, &[a.id]);
        let policy = json!({ "time_window_minutes": 30, "aggregation_key": "asset|signature",
                             "auto_correlate": false, "min_alerts": 1 });
        let response = app
            .client
            .put(app.url(&format!("/api/v1/tenants/{}/correlation-policy", a.id)))
            .bearer_auth(&admin_of_a)
            .json(&policy)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        for asset in ["a-web01", "a-web02", "a-web03"] {
            assert_eq!(
                app.post_alert(&a, &generic_alert(asset)).await.status(),
                202
            );
        }
        assert_eq!(
            app.post_alert(&b, &generic_alert("b-web01")).await.status(),
            202
        );
        project_everything(&app).await;
        Self { app, a, b }
    }

    async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.app
            .client
            .get(self.app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn get_ok(&self, path: &str, token: &str) -> Value {
        let response = self.get(path, token).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    fn msp(&self) -> String {
        self.app.token(Role::MspAdmin, &[])
    }
}

/// Runs the audit and KPI projectors over everything committed (the test
/// app does not run them): waits until every event is readable in the log,
/// then catches each up.
async fn project_everything(app: &TestApp) {
    let pool = app.db.pool();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let unreadable: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events
                             WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot()))",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if !unreadable {
            break;
        }
        assert!(Instant::now() < deadline, "events never became readable");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for projection in read_models::all() {
        ConsumerRunner::new(
            pool.clone(),
            LogSignal::local(),
            Arc::clone(&projection),
            RunnerSettings::default(),
        )
        .catch_up()
        .await
        .unwrap();
    }
}

fn items(page: &Value) -> &Vec<Value> {
    page["items"].as_array().unwrap()
}

fn field_of_error(body: &Value) -> &str {
    body["error"]["details"]["field"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn audit_pages_go_newest_first_and_filters_narrow_them() {
    let setup = Setup::new().await;
    let a = setup.a.id;
    let token = setup.app.token(Role::Viewer, &[a]);

    let mut positions = Vec::new();
    let mut path = format!("/api/v1/audit?tenant={a}&limit=2");
    let mut pages = 0;
    loop {
        let page = setup.get_ok(&path, &token).await;
        pages += 1;
        assert!(items(&page).len() <= 2);
        for item in items(&page) {
            assert_eq!(item["tenant_id"], a.to_string());
            positions.push(item["position"].as_i64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/audit?tenant={a}&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    // Registered, key issued, policy changed, three alerts.
    assert_eq!(positions.len(), 6);
    assert_eq!(pages, 3);
    assert!(
        positions.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats: {positions:?}"
    );

    let alerts = setup
        .get_ok(
            &format!("/api/v1/audit?tenant={a}&action=alert_received"),
            &token,
        )
        .await;
    assert_eq!(items(&alerts).len(), 3);
    let key_actor = items(&alerts)[0]["actor"].as_str().unwrap().to_owned();
    assert!(key_actor.starts_with("api_key:"), "{key_actor}");

    let by_admin = setup
        .get_ok(
            &format!("/api/v1/audit?tenant={a}&actor=user:user-tenant_admin"),
            &token,
        )
        .await;
    let entries = items(&by_admin);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["action"], "correlation_policy_changed");
    assert_eq!(entries[0]["target"], format!("tenant:{a}"));
    assert_eq!(entries[0]["details"]["policy"]["time_window_minutes"], 30);
    assert!(entries[0]["at"].is_string());

    let future = setup
        .get_ok(&format!("/api/v1/audit?tenant={a}&from=2999-01-01"), &token)
        .await;
    assert!(items(&future).is_empty());
    let past = setup
        .get_ok(&format!("/api/v1/audit?tenant={a}&to=2000-01-01"), &token)
        .await;
    assert!(items(&past).is_empty());
    let today = chrono::Utc::now().date_naive();
    let around_now = setup
        .get_ok(
            &format!(
                "/api/v1/audit?tenant={a}&from={}&to={}",
                today.pred_opt().unwrap(),
                today.succ_opt().unwrap()
            ),
            &token,
        )
        .await;
    assert_eq!(items(&around_now).len(), 6);
}

#[tokio::test]
async fn tenant_b_never_sees_tenant_a_entries_or_kpis() {
    let setup = Setup::new().await;
    let (a, b) = (setup.a.id, setup.b.id);
    let token_b = setup.app.token(Role::TenantAdmin, &[b]);

    let own = setup.get_ok("/api/v1/audit?limit=500", &token_b).await;
    assert!(!items(&own).is_empty());
    assert!(items(&own)
        .iter()
        .all(|item| item["tenant_id"] == b.to_string()));

    for path in [
        format!("/api/v1/audit?tenant={a}"),
        format!("/api/v1/kpis?tenant={a}"),
    ] {
        let response = setup.get(&path, &token_b).await;
        assert_eq!(response.status(), 404, "GET {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "tenant_not_found");
    }

    let kpis_b = setup.get_ok("/api/v1/kpis", &token_b).await;
    assert_eq!(kpis_b["alerts"], 1);
    let kpis_a = setup
        .get_ok(&format!("/api/v1/kpis?tenant={a}"), &setup.msp())
        .await;
    assert_eq!(kpis_a["alerts"], 3);
    let everyone = setup.get_ok("/api/v1/kpis", &setup.msp()).await;
    assert_eq!(everyone["alerts"], 4);
}

#[tokio::test]
async fn kpis_answer_for_a_range_and_as_of_a_past_or_future_time() {
    let setup = Setup::new().await;
    let a = setup.a.id;
    let token = setup.app.token(Role::Viewer, &[a]);

    let summary = setup
        .get_ok(&format!("/api/v1/kpis?tenant={a}"), &token)
        .await;
    assert_eq!(summary["alerts"], 3);
    assert_eq!(summary["incidents"], 0);
    assert_eq!(summary["noise_reduction_pct"], 100.0);
    assert_eq!(summary["mtta_seconds"], Value::Null);
    assert_eq!(summary["approvals_pending"], 0);
    assert_eq!(summary["as_of"], Value::Null);
    assert_eq!(summary["days"].as_array().unwrap().len(), 1);

    let long_ago = setup
        .get_ok(
            &format!("/api/v1/kpis?tenant={a}&from=1999-12-01&to=2000-01-31"),
            &token,
        )
        .await;
    assert_eq!(long_ago["alerts"], 0);
    assert_eq!(long_ago["noise_reduction_pct"], Value::Null);

    // History as it stood before anything happened.
    let before = setup
        .get_ok(
            &format!("/api/v1/kpis?tenant={a}&as_of=2000-01-01T00:00:00Z"),
            &token,
        )
        .await;
    assert_eq!(before["alerts"], 0);
    assert_eq!(before["as_of"], "2000-01-01T00:00:00Z");

    // A moment still to come is answered as of now.
    let future = setup
        .get_ok(&format!("/api/v1/kpis?tenant={a}&as_of=2999-01-01"), &token)
        .await;
    assert_eq!(future["alerts"], 3);
    let as_of = chrono::DateTime::parse_from_rfc3339(future["as_of"].as_str().unwrap()).unwrap();
    assert!(as_of <= chrono::Utc::now());
}

#[tokio::test]
async fn invalid_dates_limits_and_cursors_are_rejected_with_the_field_named() {
    let setup = Setup::new().await;
    let token = setup.app.token(Role::Viewer, &[setup.a.id]);

    for (path, field) in [
        ("/api/v1/audit?from=yesterday", "from"),
        ("/api/v1/audit?to=2026-02-30", "to"),
        ("/api/v1/audit?limit=501", "limit"),
        ("/api/v1/kpis?from=2026-13-01", "from"),
        ("/api/v1/kpis?as_of=soon", "as_of"),
        ("/api/v1/kpis?from=2026-11-02&to=2026-11-01", "to"),
        ("/api/v1/kpis?tenant=not-a-uuid", "tenant"),
    ] {
        let response = setup.get(path, &token).await;
        assert_eq!(response.status(), 422, "GET {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(field_of_error(&body), field, "GET {path}: {body}");
    }

    let response = setup.get("/api/v1/audit?cursor=not*a*cursor", &token).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_cursor");

    let anonymous = setup
        .app
        .client
        .get(setup.app.url("/api/v1/kpis"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}
