//! The dashboard in a real browser: headless Chromium (Debian's `chromium`),
//! driven by playwright-core (tests/browser, installed by scripts/test.sh),
//! signs in with a token, sees an alert posted through the API appear as an
//! incident without a reload, opens its timeline, sees the count of rejected
//! deliveries go up when an unparseable delivery is refused, and leaves a
//! screenshot at `target/dashboard.png`.
//!
//! Then a tenant admin sets up paging through the settings forms (an on-call
//! schedule, an escalation policy, a notification rule, changed once, and a
//! recurring maintenance window refused for a bad cron pattern first), sees
//! heartbeats and the command that registers one, filters "assigned to me"
//! through the API, and a failed single sign-on shows its message; the API
//! is asked whether each of those was recorded. Screenshots:
//! `target/dashboard-settings-forms*.png`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use alertledger_domain::values::Role;
use serde_json::{json, Value};
use support::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_new_incident_live_in_headless_chromium() {
    // Fails early, before any set-up, if Chromium or playwright-core is missing.
    support::browser::chromium();

    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("browser").await;
    let token = app.token(Role::TenantAdmin, &[tenant.id]);
    let screenshot = support::browser::target_dir().join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let asset = format!("nas-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);

    let result = support::browser::run_script(
        "dashboard.mjs",
        &[
            ("BASE_URL", &app.address),
            ("TOKEN", &token),
            ("API_KEY", &tenant.api_key),
            ("ASSET", &asset),
            ("SCREENSHOT", &screenshot),
        ],
        Duration::from_secs(120),
    )
    .await;
    let row = result["incident_row"].as_str().unwrap();
    assert!(row.contains(&asset), "{row}");
    assert!(row.contains("critical"), "{row}");
    assert_eq!(result["ticker_has_alert"], true);
    assert!(!result["reason"].as_str().unwrap().is_empty());
    assert_eq!(result["rejected_before"], "0", "no delivery refused yet");
    assert_eq!(
        result["rejected_after"], "1",
        "the refused delivery is counted on the dashboard without a reload"
    );
    let size = std::fs::metadata(&screenshot).expect("a screenshot").len();
    assert!(size > 10_000, "the screenshot is {size} bytes");
}

/// The incident of `asset` once the read model has it.
async fn incident_of(
    app: &TestApp,
    tenant: &support::TestTenant,
    asset: &str,
    token: &str,
) -> String {
    let response = app.post_alert(tenant, &support::generic_alert(asset)).await;
    assert_eq!(response.status(), 202);
    let page = app
        .get_until(
            &format!("/api/v1/incidents?tenant={}", tenant.id),
            token,
            |page| {
                page["items"]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|i| i["asset"] == asset))
            },
        )
        .await;
    let items = page["items"].as_array().unwrap();
    let row = items.iter().find(|i| i["asset"] == asset).unwrap();
    row["incident_id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_sets_up_paging_and_a_recurring_window_through_the_settings_forms() {
    support::browser::chromium();
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("forms").await;
    let tenant_id = tenant.id.to_string();
    let admin = app.token(Role::TenantAdmin, &[tenant.id]);

    // Two incidents, one assigned to the admin (the token's user).
    let mine = incident_of(&app, &tenant, "db-mine", &admin).await;
    incident_of(&app, &tenant, "db-theirs", &admin).await;
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/incidents/{mine}/assign"),
            &admin,
            Some(json!({"assignee": "user-tenant_admin"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.get_until(
        &format!("/api/v1/incidents?assignee=me&tenant={tenant_id}"),
        &admin,
        |page| {
            page["items"]
                .as_array()
                .is_some_and(|items| items.len() == 1)
        },
    )
    .await;
    // A heartbeat that beat once.
    let beat = app
        .client
        .post(app.url("/api/v1/heartbeats/nightly-backup"))
        .header("X-API-Key", &tenant.api_key)
        .json(&json!({"timeout_seconds": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(beat.status(), 202);

    let shots = support::browser::target_dir();
    for name in [
        "dashboard-settings-forms",
        "dashboard-settings-forms-viewport",
        "dashboard-settings-forms-422",
    ] {
        let _ = std::fs::remove_file(shots.join(format!("{name}.png")));
    }
    let result = support::browser::run_script(
        "settings_forms.mjs",
        &[
            ("BASE_URL", &app.address),
            ("TOKEN", &admin),
            ("TENANT_ID", &tenant_id),
            ("API_KEY", &tenant.api_key),
            ("MY_ASSET", &"db-mine"),
            ("OTHER_ASSET", &"db-theirs"),
            ("HEARTBEAT", &"nightly-backup"),
            ("SCREENSHOT_DIR", &shots),
        ],
        Duration::from_secs(180),
    )
    .await;

    // "Assigned to me" asked the API and listed the admin's incident alone.
    assert!(
        result["mine_request"]
            .as_str()
            .unwrap()
            .contains("assignee=me"),
        "{result}"
    );
    let rows = result["mine_rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{result}");
    assert!(rows[0].as_str().unwrap().contains("db-mine"), "{result}");

    // The schedule, with Bob moved before Alice.
    let base = format!("/api/v1/tenants/{tenant_id}");
    let (_, schedules) = app
        .call(
            reqwest::Method::GET,
            &format!("{base}/oncall-schedules"),
            &admin,
            None,
        )
        .await;
    let schedule = &schedules["items"][0];
    assert_eq!(
        schedules["items"].as_array().unwrap().len(),
        1,
        "{schedules}"
    );
    assert_eq!(schedule["name"], "Primary");
    assert_eq!(schedule["timezone"], "Europe/Berlin");
    assert_eq!(schedule["rotation"]["handoff"], "weekly");
    assert_eq!(schedule["rotation"]["handoff_time"], "09:00");
    let names: Vec<&str> = schedule["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Bob", "Alice"], "{schedule}");
    assert!(
        result["schedule_item"].as_str().unwrap().contains("Bob"),
        "{result}"
    );

    // The policy: the channel after 5 minutes, then whoever is on call.
    let (_, channels) = app
        .call(
            reqwest::Method::GET,
            &format!("{base}/notification-channels"),
            &admin,
            None,
        )
        .await;
    let channel_id = channels["items"][0]["id"].clone();
    let (_, policies) = app
        .call(
            reqwest::Method::GET,
            &format!("{base}/escalation-policies"),
            &admin,
            None,
        )
        .await;
    let policy = &policies["items"][0];
    assert_eq!(policy["name"], "Database on-call", "{policies}");
    assert_eq!(policy["repeat"], 1);
    assert_eq!(
        policy["levels"],
        json!([{"delay_minutes": 5, "channels": [channel_id]},
               {"delay_minutes": 15, "schedule": schedule["id"]}]),
        "{policy}"
    );
    assert!(
        result["policy_item"]
            .as_str()
            .unwrap()
            .contains("on call in Primary"),
        "{result}"
    );

    // The rule starts the policy; it was created once and changed once.
    let (_, rules) = app
        .call(
            reqwest::Method::GET,
            &format!("{base}/notification-rules"),
            &admin,
            None,
        )
        .await;
    assert_eq!(rules["items"].as_array().unwrap().len(), 1, "{rules}");
    let rule = &rules["items"][0];
    assert_eq!(rule["name"], "Critical database pages");
    assert_eq!(
        rule["events"],
        json!(["incident_opened", "incident_escalated"])
    );
    assert_eq!(rule["min_severity"], "high");
    assert_eq!(rule["matchers"], json!(["asset=~\"srv-db-.*\""]));
    assert_eq!(rule["escalation_policy"], policy["id"]);
    assert_eq!(result["rule_items"], 1, "{result}");
    assert_eq!(app.stored("NotificationRuleAdded").await, 1);
    assert_eq!(app.stored("NotificationRuleChanged").await, 1);
    assert_eq!(app.stored("EscalationPolicyCreated").await, 1);
    assert_eq!(app.stored("OnCallScheduleCreated").await, 1);

    // The bad cron pattern: 422 shown beside the form, its field named and
    // marked, nothing recorded; then the window as corrected.
    let cron_error = result["cron_error"].as_str().unwrap();
    assert!(cron_error.starts_with("schedule.cron: "), "{result}");
    assert!(cron_error.contains("61 25 * * *"), "{result}");
    assert_eq!(result["cron_invalid"], "true", "{result}");
    assert_eq!(result["cron_focused"], "recurring-pattern", "{result}");
    assert_eq!(result["cron_invalid_after"], Value::Null, "{result}");
    assert_eq!(app.stored("MaintenanceWindowCreated").await, 1);
    let (_, windows) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/maintenance-windows?tenant={tenant_id}"),
            &admin,
            None,
        )
        .await;
    let window = &windows["items"][0];
    assert_eq!(window["name"], "Saturday patching", "{windows}");
    assert_eq!(window["schedule"]["cron"], "0 2 * * SAT");
    assert_eq!(window["schedule"]["duration_minutes"], 180);
    assert_eq!(window["schedule"]["timezone"], "Europe/Berlin");
    assert_eq!(window["matchers"], json!(["asset=~\"srv-db-.*\""]));
    assert!(
        result["window_item"]
            .as_str()
            .unwrap()
            .contains("cron 0 2 * * SAT"),
        "{result}"
    );

    // Heartbeats: its state, and the beat command with this server's URL, no key.
    assert!(
        result["heartbeat_row"].as_str().unwrap().contains("ok"),
        "{result}"
    );
    let command = result["heartbeat_command"].as_str().unwrap();
    assert!(
        command.contains(&format!("{}/api/v1/heartbeats/nightly-backup", app.address)),
        "{command}"
    );
    assert!(command.contains("$ALERTLEDGER_API_KEY"), "{command}");
    assert!(!command.contains(&tenant.api_key), "{command}");
    assert_eq!(result["page_shows_api_key"], false);

    // A failed single sign-on: the login form says why; the fragment is gone.
    assert!(
        result["sso_error"]
            .as_str()
            .unwrap()
            .contains("did not sign you in"),
        "{result}"
    );
    assert_eq!(result["sso_error_hash"], "", "{result}");
    assert_eq!(result["sso_login_form"], true);

    for shot in result["screenshots"].as_array().unwrap() {
        let size = std::fs::metadata(shot.as_str().unwrap())
            .expect("a screenshot")
            .len();
        assert!(size > 10_000, "{shot} is {size} bytes");
    }
}
