//! A real Prometheus Alertmanager (Debian's `prometheus-alertmanager`,
//! installed by scripts/test.sh, which exports its path as
//! `ALERTLEDGER_TEST_ALERTMANAGER`) delivering to the `alertmanager` webhook
//! with the tenant API key as its bearer credential: a Watchdog-like alert
//! (no host-like label, `severity: none`) and odd severities in one group,
//! then one of them resolved. Nothing is refused; odd values are stored
//! with warnings, and the resolution resolves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alertledger_domain::values::Role;
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};
use support::{TestApp, TestTenant};

/// Where scripts/test.sh puts the Alertmanager binary.
const ALERTMANAGER_VAR: &str = "ALERTLEDGER_TEST_ALERTMANAGER";

/// A running Alertmanager, killed (and reaped) when dropped.
struct Alertmanager {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Alertmanager {
    /// Starts `binary` on a free loopback port with clustering off, its
    /// configuration and storage under `dir`, delivering to `webhook` with
    /// `api_key`; returns once it answers `/-/ready`.
    async fn start(binary: &str, dir: &Path, webhook: &str, api_key: &str) -> Self {
        // No group_by: every alert is in one group. Alertmanager sends it
        // after group_wait (1 s) and its changes every group_interval (1 s),
        // so the test waits seconds, not Alertmanager's default minutes.
        let config = format!(
            "route:\n  receiver: alertledger\n  group_wait: 1s\n  \
             group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: alertledger\n    webhook_configs:\n      - url: '{webhook}'\n        \
             send_resolved: true\n        http_config:\n          authorization:\n            \
             type: Bearer\n            credentials: '{api_key}'\n"
        );
        let config_file = dir.join("alertmanager.yml");
        std::fs::write(&config_file, config).unwrap();
        let port = free_port();
        let log = dir.join("alertmanager.log");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let alertmanager = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = client
                .get(format!("{}/-/ready", alertmanager.url))
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            if ready {
                return alertmanager;
            }
            assert!(
                Instant::now() < deadline,
                "Alertmanager was not ready within 30 s; its log:\n{}",
                alertmanager.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Posts alerts to Alertmanager's own API, as Prometheus does.
    async fn post(&self, alerts: &Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.url))
            .json(alerts)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn alert(labels: Value, starts_at: &str, ends_at: Option<&str>) -> Value {
    let mut alert = json!({
        "labels": labels,
        "annotations": {"summary": format!("{} fired", labels["alertname"].as_str().unwrap())},
        "startsAt": starts_at,
        "generatorURL": "http://prometheus.example.com/graph",
    });
    if let Some(ends_at) = ends_at {
        alert["endsAt"] = json!(ends_at);
    }
    alert
}

/// The tenant's alerts once `done` holds for them (polled with a deadline).
async fn alerts_when(app: &TestApp, token: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let body = app
        .get_until("/api/v1/alerts?limit=500", token, |body| {
            done(body["items"].as_array().unwrap())
        })
        .await;
    body["items"].as_array().unwrap().clone()
}

fn by_signature<'a>(alerts: &'a [Value], signature: &str) -> &'a Value {
    alerts
        .iter()
        .find(|alert| alert["signature"] == signature)
        .unwrap_or_else(|| panic!("no alert {signature}: {alerts:?}"))
}

fn warned(alert: &Value, field_part: &str) -> bool {
    alert["normalization_warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|warning| warning["field"].as_str().unwrap().contains(field_part))
}

#[tokio::test]
async fn a_real_alertmanager_delivers_watchdog_and_odd_severities_and_a_resolution() {
    let binary = std::env::var(ALERTMANAGER_VAR).unwrap_or_else(|_| {
        panic!(
            "{ALERTMANAGER_VAR} is unset: run scripts/test.sh, which installs Debian's \
             prometheus-alertmanager and exports its path"
        )
    });
    let app = TestApp::spawn().await;
    let tenant: TestTenant = app.create_tenant("acme").await;
    let dir = std::env::temp_dir().join(format!("alertledger-am-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let alertmanager = Alertmanager::start(
        &binary,
        &dir,
        &app.url("/api/v1/webhooks/alertmanager"),
        &tenant.api_key,
    )
    .await;

    let started =
        (Utc::now() - chrono::Duration::minutes(5)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let latency = json!({"alertname": "HighLatency", "job": "node", "instance": "api01:9100", "severity": "warning"});
    alertmanager
        .post(&json!([
            // As kube-prometheus defines it: no host-like label at all.
            alert(json!({"alertname": "Watchdog", "prometheus": "monitoring/k8s", "severity": "none"}), &started, None),
            alert(json!({"alertname": "DiskFull", "job": "node", "instance": "db01:9100", "severity": "P2"}), &started, None),
            alert(json!({"alertname": "WeirdThing", "job": "node", "host": "web02", "severity": "bananas"}), &started, None),
            alert(latency.clone(), &started, None),
        ]))
        .await;

    let token = app.token(Role::Viewer, &[tenant.id]);
    let alerts = alerts_when(&app, &token, |alerts| alerts.len() == 4).await;
    let watchdog = by_signature(&alerts, "Watchdog");
    assert_eq!(watchdog["asset"], "unknown", "{watchdog}");
    assert_eq!(watchdog["severity"], "low", "`none` is a built-in word");
    assert!(
        warned(watchdog, "instance"),
        "the missing asset is warned: {watchdog}"
    );
    let disk = by_signature(&alerts, "DiskFull");
    assert_eq!(disk["severity"], "high", "P2 is a built-in word");
    let weird = by_signature(&alerts, "WeirdThing");
    assert_eq!(weird["severity"], "medium");
    assert!(
        warned(weird, "severity"),
        "the unknown word is warned: {weird}"
    );
    assert_eq!(weird["asset"], "web02");
    for alert in &alerts {
        assert_eq!(alert["status"], "firing", "{alert}");
        assert_eq!(alert["source"], "alertmanager");
    }
    let firing_latency_id = by_signature(&alerts, "HighLatency")["id"].clone();

    // Resolved: endsAt in the past. Alertmanager sends the group again with
    // HighLatency resolved and the others still firing (duplicates).
    let ended =
        (Utc::now() - chrono::Duration::seconds(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    alertmanager
        .post(&json!([alert(latency, &started, Some(&ended))]))
        .await;
    // The resolved notification is stored like any other (a receipt of its
    // own, status resolved) and resolves the firing alert it names.
    let alerts = alerts_when(&app, &token, |alerts| {
        alerts
            .iter()
            .any(|alert| alert["id"] == firing_latency_id && alert["status"] == "resolved")
    })
    .await;
    let original = alerts
        .iter()
        .find(|alert| alert["id"] == firing_latency_id)
        .unwrap();
    assert!(original["resolved_at"].is_string(), "{original}");
    assert_eq!(
        alerts.len(),
        5,
        "four alerts and one resolution: {alerts:?}"
    );
    for latency in alerts
        .iter()
        .filter(|alert| alert["signature"] == "HighLatency")
    {
        assert_eq!(latency["status"], "resolved", "{latency}");
    }
    for signature in ["Watchdog", "DiskFull", "WeirdThing"] {
        assert_eq!(by_signature(&alerts, signature)["status"], "firing");
    }
    assert!(
        !alertmanager.log().contains("level=error"),
        "Alertmanager logged errors:\n{}",
        alertmanager.log()
    );
    drop(alertmanager);
    std::fs::remove_dir_all(&dir).unwrap();
}
