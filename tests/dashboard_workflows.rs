//! The dashboard as people work in it, in headless Chromium (Debian's
//! `chromium`, driven by playwright-core from tests/browser, which
//! scripts/test.sh installs): a technician signs in with a password,
//! acknowledges an incident, asks to run its medium-risk runbook and
//! resolves it while a tenant admin's page sees each step live; the admin
//! approves the run after reading its pinned commands, creates a maintenance
//! window and a notification channel, filters alerts with normalization
//! warnings, reads the KPI charts and the profile; a viewer sees no action
//! buttons and the API refuses the viewer; the technician's session is
//! refreshed before it expires and revoked on sign-out; the SSO link and
//! the SSO callback's token fragment work (the OIDC route itself is stood in
//! for in the browser: it is built elsewhere). The API is then
//! asked whether each of those happened. Screenshots: `target/dashboard-*.png`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use alertledger_domain::values::Role;
use serde_json::{json, Value};
use support::remediation::{alert_and_incident, define_runbook, post, prepare_tenant};
use support::TestApp;

const PASSWORD: &str = "a long dashboard passphrase 42";

async fn user(app: &TestApp, email: &str, role: &str, tenant: &str) -> Value {
    let admin = app.token(Role::MspAdmin, &[]);
    let (status, body) = post(
        app,
        "/api/v1/users",
        &admin,
        json!({"email": email, "name": email.split('@').next().unwrap(), "role": role,
               "tenants": [tenant], "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn get(app: &TestApp, path: &str, token: &str) -> Value {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_work_the_dashboard_in_headless_chromium() {
    // Fails early, before any set-up, if Chromium or playwright-core is missing.
    support::browser::chromium();

    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("workbench").await;
    let tenant_id = tenant.id.to_string();
    prepare_tenant(&app, &tenant).await;
    let tech = user(&app, "tech@example.com", "technician", &tenant_id).await;
    let admin = user(&app, "lead@example.com", "tenant_admin", &tenant_id).await;

    // An incident on web01 with a medium-risk runbook for its signature
    // (the technician asks to run it from the page: an approval request).
    define_runbook(&app, &tenant, "medium", false).await;
    let incident = alert_and_incident(&app, &tenant).await;
    // An alert whose severity is no word we know: stored as medium, with a warning.
    let odd_asset = format!("odd-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let odd = app
        .post_alert(
            &tenant,
            &json!({"asset_name": odd_asset, "signature": "Mystery", "severity": "sev-weird", "message": "?"}),
        )
        .await;
    assert_eq!(odd.status(), 202);
    let viewer = app.token(Role::Viewer, &[tenant.id]);
    app.get_until("/api/v1/alerts?warnings=true", &viewer, |page| {
        page["items"]
            .as_array()
            .is_some_and(|items| !items.is_empty())
    })
    .await;

    // Another tenant's incident, for the MSP admin's tenant switcher.
    let elsewhere = app.create_tenant("elsewhere").await;
    let other = app
        .post_alert(&elsewhere, &support::generic_alert("db-elsewhere"))
        .await;
    assert_eq!(other.status(), 202);
    let msp = app.token(Role::MspAdmin, &[]);
    app.get_until(
        &format!("/api/v1/incidents?tenant={}", elsewhere.id),
        &msp,
        |page| {
            page["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty())
        },
    )
    .await;

    let shots = support::browser::target_dir();
    let result = support::browser::run_script(
        "workflows.mjs",
        &[
            ("BASE_URL", &app.address),
            ("PASSWORD", &PASSWORD),
            ("TECH_EMAIL", &"tech@example.com"),
            ("ADMIN_EMAIL", &"lead@example.com"),
            ("VIEWER_TOKEN", &viewer),
            ("MSP_TOKEN", &msp),
            ("API_KEY", &tenant.api_key),
            ("INCIDENT_ID", &incident),
            ("ASSET", &"web01"),
            ("ODD_ASSET", &odd_asset),
            ("SCREENSHOT_DIR", &shots),
        ],
        Duration::from_secs(240),
    )
    .await;

    // Signed in with a password, as the technician.
    assert!(
        result["tech_who"].as_str().unwrap().contains("technician"),
        "{result}"
    );
    // Acknowledged and resolved from the UI, by the technician, with the note.
    let lead = app.token(Role::TenantAdmin, &[tenant.id]);
    let detail = get(&app, &format!("/api/v1/incidents/{incident}"), &lead).await;
    assert_eq!(detail["status"], "resolved", "{detail}");
    let by_tech = |event: &str| {
        detail["timeline"].as_array().unwrap().iter().any(|entry| {
            entry["event_type"] == event
                && entry["actor"]
                    .as_str()
                    .is_some_and(|actor| actor.contains(tech["id"].as_str().unwrap()))
        })
    };
    assert!(by_tech("IncidentAcknowledged"), "{detail}");
    assert!(by_tech("IncidentResolved"), "{detail}");
    assert_eq!(result["resolved_seen_live"], true);
    // The approval was read with its pinned commands and granted by the lead.
    assert!(result["pinned_commands"]
        .as_str()
        .unwrap()
        .contains("systemctl restart app"));
    // The technician asked for the run from the page; the lead granted it there.
    assert!(
        result["runbook_message"]
            .as_str()
            .unwrap()
            .contains("needs an approval"),
        "{result}"
    );
    let approvals = get(
        &app,
        &format!("/api/v1/approvals?tenant={tenant_id}"),
        &lead,
    )
    .await;
    assert_eq!(
        approvals["items"].as_array().unwrap().len(),
        1,
        "{approvals}"
    );
    let decided = &approvals["items"][0];
    assert_eq!(decided["incident_id"], incident.as_str(), "{decided}");
    assert_eq!(decided["requested_by"], tech["id"], "{decided}");
    assert_eq!(decided["status"], "granted", "{decided}");
    assert!(
        decided["decided_by"]
            .as_str()
            .is_some_and(|by| by.contains(admin["id"].as_str().unwrap())),
        "{decided}"
    );
    // The window and the channel exist.
    let windows = get(
        &app,
        &format!("/api/v1/maintenance-windows?tenant={tenant_id}"),
        &lead,
    )
    .await;
    assert!(
        windows["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == "Patch night" && w["matchers"][0] == "asset=\"srv-db-01\""),
        "{windows}"
    );
    let channels = get(
        &app,
        &format!("/api/v1/tenants/{tenant_id}/notification-channels"),
        &lead,
    )
    .await;
    assert_eq!(channels["items"][0]["name"], "Ops hook", "{channels}");
    assert!(result["channel_secret_shown"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    // The warnings filter kept the odd alert alone, with its warning shown.
    assert_eq!(result["warning_rows"], 1, "{result}");
    assert!(
        result["warning_text"]
            .as_str()
            .unwrap()
            .contains("severity"),
        "{result}"
    );
    // Five charts, the alert bars of today drawn, MTTR from the resolution.
    assert_eq!(result["charts"], 5, "{result}");
    assert!(
        result["alert_bars_with_height"].as_u64().unwrap() >= 1,
        "{result}"
    );
    assert!(result["mttr_points"].as_u64().unwrap() >= 1, "{result}");
    assert!(result["profile"]
        .as_str()
        .unwrap()
        .contains("lead@example.com"));
    // The viewer saw no action and no settings; the API refused the viewer.
    assert_eq!(result["viewer_action_buttons"], 0, "{result}");
    assert_eq!(result["viewer_settings_link"], 0, "{result}");
    assert_eq!(result["viewer_api_status"], 403, "{result}");
    // The session refreshed before expiry; signing out revoked it.
    assert_eq!(result["refreshed"], true);
    assert_eq!(result["storage_after_sign_out"], 0, "{result}");
    assert_eq!(result["refresh_after_sign_out"], 401, "{result}");
    // The MSP admin saw both tenants' incidents, then one tenant's.
    assert_eq!(result["msp_rows_all"], 2, "{result}");
    assert_eq!(result["msp_rows_one"], 1, "{result}");
    // SSO: the link from GET /api/v1/auth/oidc, and the callback's fragment
    // signs in, is wiped from the address bar, and its refresh token is kept.
    assert_eq!(result["sso_link"], "/api/v1/auth/oidc/login", "{result}");
    assert!(
        result["sso_who"].as_str().unwrap().contains("technician"),
        "{result}"
    );
    assert_eq!(result["sso_hash"], "#/incidents", "{result}");
    assert_eq!(result["sso_kept_refresh"], true, "{result}");
    for shot in result["screenshots"].as_array().unwrap() {
        let size = std::fs::metadata(shot.as_str().unwrap())
            .expect("a screenshot")
            .len();
        assert!(size > 10_000, "{shot} is {size} bytes");
    }
}
