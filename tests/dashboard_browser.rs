//! The dashboard in a real browser: headless Chromium (Debian's `chromium`),
//! driven by playwright-core (tests/browser, installed by scripts/test.sh),
//! signs in with a token, sees an alert posted through the API appear as an
//! incident without a reload, opens its timeline, sees the count of rejected
//! deliveries go up when an unparseable delivery is refused, and leaves a
//! screenshot at `target/dashboard.png`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use alertledger_domain::values::Role;
use support::TestApp;

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `target/` (or `$CARGO_TARGET_DIR`): the parent of the tests' scratch dir.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the scratch dir lies in the target dir")
        .to_path_buf()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_new_incident_live_in_headless_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's `chromium` (scripts/test.sh does, as root)"
    );
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run `npm ci` in tests/browser (scripts/test.sh does)"
    );

    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("browser").await;
    let token = app.token(Role::TenantAdmin, &[tenant.id]);
    let screenshot = target_dir().join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let asset = format!("nas-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);

    let run = tokio::process::Command::new("node")
        .arg(browser_dir().join("dashboard.mjs"))
        .current_dir(browser_dir())
        .env("BASE_URL", &app.address)
        .env("TOKEN", &token)
        .env("API_KEY", &tenant.api_key)
        .env("ASSET", &asset)
        .env("SCREENSHOT", &screenshot)
        .env("CHROMIUM", &chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the browser run took over two minutes")
        .expect("cannot run node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser check failed ({}):\n{stderr}\n{stdout}",
        output.status
    );
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|_| panic!("unexpected output: {stdout}"));
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
