//! The dashboard's browser tests: Debian's headless Chromium driven by a
//! playwright-core script from tests/browser, run with node. A script takes
//! its inputs from its environment and prints one JSON line on success.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

/// tests/browser: the scripts and their node_modules.
pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `target/` (or `$CARGO_TARGET_DIR`): where the screenshots go.
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the scratch dir lies in the target dir")
        .to_path_buf()
}

/// Checks Chromium and playwright-core are there; Chromium's path.
pub fn chromium() -> String {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's `chromium` (scripts/test.sh does, as root)"
    );
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run `npm ci` in tests/browser (scripts/test.sh does)"
    );
    chromium
}

/// Runs `script` (a file in tests/browser) with Chromium and `env`, and
/// returns the JSON line it printed last; fails the test with the script's
/// output if it fails, prints something else or takes longer than `limit`.
pub async fn run_script(script: &str, env: &[(&str, &dyn AsRef<OsStr>)], limit: Duration) -> Value {
    let mut command = tokio::process::Command::new("node");
    command
        .arg(browser_dir().join(script))
        .current_dir(browser_dir())
        .env("CHROMIUM", chromium())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("{script} took over {limit:?}"))
        .expect("cannot run node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed ({}):\n{stderr}\n{stdout}",
        output.status
    );
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|_| panic!("{script} printed no JSON line: {stdout}"))
}
