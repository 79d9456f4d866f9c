//! The `alertmanager` and `grafana` sources: Prometheus Alertmanager's webhook
//! (version 4) and Grafana unified alerting's webhook contact point, which
//! sends the same shape with `version` "1" and extra fields (`orgId`, `title`,
//! `state`, `message`, per-alert `values`, `silenceURL`, ...) that are ignored.
//!
//! One alert per entry of `alerts`:
//! - signature: the `alertname` label (absent: `unnamed alert`, with a warning);
//! - asset: the first of the labels `instance` (without a `:port`), `host`,
//!   `hostname`, `node`, `pod`, `service`, `job`, `container`, `namespace`,
//!   `cluster` (none: `unknown`, with a warning, e.g. the `Watchdog` alert);
//! - severity: the `severity` label through the tenant's severity map, then
//!   the built-in words (see [`super::lenient`]): e.g. critical, page → critical;
//!   error, major → high; warning, minor → medium; info, none → low. Without the
//!   label: medium, the middle of the scale, so a rule nobody labelled neither
//!   pages as critical nor sinks as noise. Any other word: medium, with a warning;
//! - message: the `summary` annotation, else `description`, else alertname;
//! - status: the alert's own `status` (a group can mix firing and resolved;
//!   an unknown one: firing, with a warning);
//! - occurred_at: `startsAt`, for resolved alerts too (when the problem began;
//!   unreadable or absent: the receipt time, with a warning);
//! - labels: the alert's labels as sent (within the label limits);
//! - fingerprint: the alert's `fingerprint`, else a hash of its sorted labels
//!   (how Alertmanager derives it);
//! - notification key: `alertmanager:` (`grafana:`) + hash(fingerprint,
//!   startsAt, status), so a repeat notification of a still-firing alert is the
//!   same delivery, and its resolution a new one.

use std::collections::BTreeMap;

use alertledger_domain::values::{AlertStatus, ToolSource};
use chrono::SecondsFormat;

use super::fields::Fields;
use super::lenient::Lenient;
use super::{normalize, RawDelivery, SourcePayload};
use crate::error::ApiError;
use crate::ingest::NormalizedAlert;

/// Labels that name the asset, in order of preference.
const ASSET_LABELS: [&str; 10] = [
    "instance",
    "host",
    "hostname",
    "node",
    "pod",
    "service",
    "job",
    "container",
    "namespace",
    "cluster",
];

/// Which tool sent the Alertmanager-shaped body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Alertmanager,
    Grafana,
}

impl Flavor {
    fn tool_source(self) -> &'static str {
        match self {
            Flavor::Alertmanager => "prometheus",
            Flavor::Grafana => "grafana",
        }
    }

    fn key_prefix(self) -> &'static str {
        match self {
            Flavor::Alertmanager => "alertmanager",
            Flavor::Grafana => "grafana",
        }
    }

    fn accepts_version(self, version: &str) -> bool {
        version == "4" || (self == Flavor::Grafana && version == "1")
    }
}

/// Parses an Alertmanager (or Grafana) webhook notification.
pub fn parse(delivery: &RawDelivery<'_>, flavor: Flavor) -> Result<SourcePayload, ApiError> {
    let body = super::json_body(delivery.body)?;
    let root = Fields::root(&body)?;
    if let Some(version) = root.optional_str("version")? {
        if !flavor.accepts_version(version) {
            let hint = if version == "1" {
                " (Grafana sends version 1: use /api/v1/webhooks/grafana)"
            } else {
                ""
            };
            return Err(root.invalid_message(
                "version",
                format!("webhook version {version:?} is not supported; expected \"4\"{hint}"),
            ));
        }
    }
    let alerts = root.objects("alerts")?;
    if alerts.is_empty() {
        return Err(root.invalid_message("alerts", "the notification holds no alert"));
    }
    alerts
        .iter()
        .map(|alert| parse_alert(alert, flavor, delivery))
        .collect::<Result<_, _>>()
        .map(SourcePayload::Alerts)
}

fn parse_alert(
    alert: &Fields<'_>,
    flavor: Flavor,
    delivery: &RawDelivery<'_>,
) -> Result<NormalizedAlert, ApiError> {
    let mut lenient = Lenient::new(delivery);
    let label_fields = alert.required_object("labels")?;
    let labels = label_fields.string_map()?;
    let label = |name: &str| label(&labels, name);

    let alertname = label("alertname");
    let signature = lenient.signature(&label_fields.name("alertname"), alertname);
    let asset_names: Vec<String> = ASSET_LABELS
        .iter()
        .map(|name| label_fields.name(name))
        .collect();
    let asset = lenient.asset(
        &label_fields.name("instance"),
        ASSET_LABELS
            .iter()
            .zip(&asset_names)
            .filter_map(|(name, field)| {
                let value = label(name)?;
                let value = if *name == "instance" {
                    without_port(value)
                } else {
                    value
                };
                Some((field.as_str(), value))
            }),
    );
    let severity = lenient.severity(&label_fields.name("severity"), label("severity"), true);

    let text = match annotation(alert, "summary")? {
        Some(summary) => summary,
        None => annotation(alert, "description")?.unwrap_or(signature.as_str()),
    };
    let message = normalize::message(text).map_err(|e| alert.invalid("annotations", &e))?;

    let status = match alert.non_empty_str("status")? {
        Some(raw) => AlertStatus::parse(raw.trim()).unwrap_or_else(|_| {
            lenient.warn(
                alert.name("status"),
                format!("unknown status {raw:?}; stored as firing"),
            );
            AlertStatus::Firing
        }),
        None => {
            lenient.warn(alert.name("status"), "no status; stored as firing");
            AlertStatus::Firing
        }
    };
    let starts_at = match alert.non_empty_str("startsAt")? {
        Some(raw) => lenient.timestamp(&alert.name("startsAt"), raw, normalize::rfc3339)?,
        None => {
            lenient.warn(
                alert.name("startsAt"),
                "no startsAt; stored as the receipt time",
            );
            None
        }
    };
    let starts_at = starts_at.unwrap_or(delivery.received_at);
    let fingerprint = match alert.non_empty_str("fingerprint")? {
        Some(fingerprint) => fingerprint.to_owned(),
        None => labels_hash(&labels),
    };
    let fingerprint =
        normalize::fingerprint(&fingerprint).map_err(|e| alert.invalid("fingerprint", &e))?;
    let notification_key = normalize::hashed_key(
        flavor.key_prefix(),
        &[
            fingerprint.as_str(),
            &starts_at.to_rfc3339_opts(SecondsFormat::Nanos, true),
            status.as_str(),
        ],
    )?;
    let tool_source =
        ToolSource::parse(flavor.tool_source()).map_err(|error| ApiError::internal(&error))?;
    let labels = normalize::labels(labels, &mut lenient, &alert.name("labels"))
        .map_err(|e| alert.invalid("labels", &e))?;

    Ok(NormalizedAlert {
        asset,
        signature,
        severity,
        message,
        tool_source,
        status,
        labels,
        occurred_at: Some(starts_at),
        fingerprint,
        notification_key,
        acknowledged_by_source: false,
        warnings: lenient.into_warnings(),
    })
}

/// A label's value, trimmed; empty counts as absent.
fn label<'m>(labels: &'m BTreeMap<String, String>, name: &str) -> Option<&'m str> {
    labels
        .get(name)
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
}

fn annotation<'a>(alert: &Fields<'a>, name: &str) -> Result<Option<&'a str>, ApiError> {
    match alert.object("annotations")? {
        Some(annotations) => annotations.non_empty_str(name),
        None => Ok(None),
    }
}

/// `host:9100` → `host`, `[::1]:9100` → `::1`; anything else (a URL, a bare
/// IPv6 address) as it is.
fn without_port(instance: &str) -> &str {
    if let Some(bracketed) = instance.strip_prefix('[') {
        if let Some((host, port)) = bracketed.rsplit_once("]:") {
            if is_port(port) {
                return host;
            }
        }
        return instance;
    }
    match instance.split_once(':') {
        Some((host, port)) if is_port(port) && !host.is_empty() => host,
        _ => instance,
    }
}

fn is_port(raw: &str) -> bool {
    !raw.is_empty() && raw.len() <= 5 && raw.bytes().all(|b| b.is_ascii_digit())
}

fn labels_hash(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let parts: Vec<&str> = pairs.iter().map(String::as_str).collect();
    normalize::short_hash(&parts)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use alertledger_domain::values::{Severity, SeverityMap};
    use axum::http::{HeaderMap, StatusCode};
    use chrono::{DateTime, Utc};
    use serde_json::{json, Value};

    const FIXTURE: &str = include_str!("../../../../../shared/fixtures/alertmanager-v4.json");

    fn parse_value(body: &Value, flavor: Flavor) -> Result<Vec<NormalizedAlert>, ApiError> {
        parse_bytes(body.to_string().as_bytes(), flavor)
    }

    fn parse_bytes(body: &[u8], flavor: Flavor) -> Result<Vec<NormalizedAlert>, ApiError> {
        let headers = HeaderMap::new();
        let delivery = RawDelivery {
            body,
            headers: &headers,
            received_at: Utc::now(),
            severity_map: &SeverityMap::default(),
        };
        match parse(&delivery, flavor)? {
            SourcePayload::Alerts(alerts) => Ok(alerts),
            other => panic!("expected alerts, got {other:?}"),
        }
    }

    fn fixture() -> Value {
        serde_json::from_str(FIXTURE).unwrap()
    }

    fn at(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn error_field(error: &ApiError) -> String {
        format!("{error:?}")
    }

    #[test]
    fn the_real_alertmanager_payload_becomes_one_alert_per_entry() {
        let alerts = parse_bytes(FIXTURE.as_bytes(), Flavor::Alertmanager).unwrap();
        assert_eq!(alerts.len(), 2);
        let first = &alerts[0];
        assert_eq!(first.asset.as_str(), "web01");
        assert_eq!(first.signature.as_str(), "HighCPU");
        assert_eq!(first.severity, Severity::Critical);
        assert_eq!(first.message.as_str(), "CPU > 95% on web01");
        assert_eq!(first.tool_source.as_str(), "prometheus");
        assert_eq!(first.status, AlertStatus::Firing);
        assert_eq!(first.occurred_at, Some(at("2026-11-22T03:07:32Z")));
        assert_eq!(first.fingerprint.as_str(), "b73f0becb1235e33");
        assert!(first.notification_key.as_str().starts_with("alertmanager:"));
        assert!(!first.acknowledged_by_source);
        let labels: Vec<(&str, &str)> = first.labels.iter().collect();
        assert_eq!(
            labels,
            [
                ("alertname", "HighCPU"),
                ("instance", "web01:9100"),
                ("job", "node"),
                ("severity", "critical"),
            ]
        );

        let second = &alerts[1];
        assert_eq!(second.asset.as_str(), "web02");
        assert_eq!(second.severity, Severity::Medium);
        assert_eq!(
            second.occurred_at,
            Some(at("2026-11-22T03:07:32.643898257Z"))
        );
        assert_eq!(second.fingerprint.as_str(), "a2c1af57b83f90ff");
        assert_ne!(first.notification_key, second.notification_key);
    }

    #[test]
    fn a_resolved_alert_shares_the_fingerprint_but_not_the_notification_key() {
        let firing = parse_value(&fixture(), Flavor::Alertmanager).unwrap();
        let mut body = fixture();
        body["status"] = json!("resolved");
        body["alerts"][0]["status"] = json!("resolved");
        body["alerts"][0]["endsAt"] = json!("2026-11-22T03:17:32Z");
        let resolved = parse_value(&body, Flavor::Alertmanager).unwrap();
        assert_eq!(resolved[0].status, AlertStatus::Resolved);
        assert_eq!(resolved[0].occurred_at, firing[0].occurred_at);
        assert_eq!(resolved[0].fingerprint, firing[0].fingerprint);
        assert_ne!(resolved[0].notification_key, firing[0].notification_key);
        assert_eq!(resolved[1].notification_key, firing[1].notification_key);
    }

    #[test]
    fn a_repeat_notification_of_a_firing_alert_has_the_same_key() {
        let first = parse_value(&fixture(), Flavor::Alertmanager).unwrap();
        let mut repeat = fixture();
        repeat["groupKey"] = json!("{}:{alertname=\"HighCPU\"}/repeat");
        let repeat = parse_value(&repeat, Flavor::Alertmanager).unwrap();
        assert_eq!(first[0].notification_key, repeat[0].notification_key);
    }

    #[test]
    fn a_grafana_payload_is_read_with_its_extra_fields_ignored() {
        let body = json!({
            "receiver": "alertledger", "status": "firing", "orgId": 1,
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "High memory usage", "grafana_folder": "Infra",
                           "host": "db01", "severity": "ERROR"},
                "annotations": {"description": "The system has high memory usage",
                                "runbook_url": "https://runbooks.example/mem"},
                "startsAt": "2026-11-22T09:51:03.157076+02:00",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "https://grafana.example/alerting/grafana/abc/view",
                "fingerprint": "c6eadffa33fcdf37",
                "silenceURL": "https://grafana.example/alerting/silence/new",
                "dashboardURL": "", "panelURL": "", "imageURL": "",
                "values": {"B": 91.2, "C": 1},
                "valueString": "[ var='B' labels={host=db01} value=91.2 ]"
            }],
            "groupLabels": {"alertname": "High memory usage"},
            "commonLabels": {"alertname": "High memory usage"},
            "commonAnnotations": {},
            "externalURL": "https://grafana.example/",
            "version": "1",
            "groupKey": "{}:{alertname=\"High memory usage\"}",
            "truncatedAlerts": 0,
            "title": "[FIRING:1] High memory usage Infra",
            "state": "alerting",
            "message": "**Firing**\n\nValue: B=91.2"
        });
        let alerts = parse_value(&body, Flavor::Grafana).unwrap();
        let alert = &alerts[0];
        assert_eq!(alert.asset.as_str(), "db01");
        assert_eq!(alert.signature.as_str(), "High memory usage");
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.message.as_str(), "The system has high memory usage");
        assert_eq!(alert.tool_source.as_str(), "grafana");
        assert_eq!(alert.occurred_at, Some(at("2026-11-22T07:51:03.157076Z")));
        assert_eq!(alert.fingerprint.as_str(), "c6eadffa33fcdf37");
        assert!(alert.notification_key.as_str().starts_with("grafana:"));
        assert_eq!(alert.labels.get("grafana_folder"), Some("Infra"));

        let error = parse_value(&body, Flavor::Alertmanager).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(error_field(&error).contains("webhooks/grafana"));
    }

    #[test]
    fn a_missing_alertname_is_stored_unnamed_with_a_warning_naming_the_label() {
        let mut body = fixture();
        body["alerts"][1]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("alertname");
        let alerts = parse_value(&body, Flavor::Alertmanager).unwrap();
        assert_eq!(alerts[1].signature.as_str(), "unnamed alert");
        assert!(warned(&alerts[1], "alerts[1].labels.alertname"));
        assert!(alerts[0].warnings.is_empty());
    }

    #[test]
    fn an_unknown_severity_is_medium_with_a_warning_naming_the_label_and_index() {
        let mut body = fixture();
        body["alerts"][0]["labels"]["severity"] = json!("apocalyptic");
        let alerts = parse_value(&body, Flavor::Alertmanager).unwrap();
        assert_eq!(alerts[0].severity, Severity::Medium);
        assert!(warned(&alerts[0], "alerts[0].labels.severity"));
    }

    #[test]
    fn an_alert_without_severity_is_medium() {
        let mut body = fixture();
        body["alerts"][0]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("severity");
        let alerts = parse_value(&body, Flavor::Alertmanager).unwrap();
        assert_eq!(alerts[0].severity, Severity::Medium);
    }

    #[test]
    fn an_alert_naming_no_asset_is_unknown_with_a_warning_naming_the_instance_label() {
        let mut body = fixture();
        let labels = body["alerts"][0]["labels"].as_object_mut().unwrap();
        labels.remove("instance");
        labels.remove("job");
        let alerts = parse_value(&body, Flavor::Alertmanager).unwrap();
        assert_eq!(alerts[0].asset.as_str(), "unknown");
        assert!(warned(&alerts[0], "alerts[0].labels.instance"));
    }

    #[test]
    fn the_asset_falls_back_through_the_label_list() {
        let mut body = fixture();
        let labels = body["alerts"][0]["labels"].as_object_mut().unwrap();
        labels.remove("instance");
        labels.insert("pod".into(), json!("api-7d9f"));
        let alerts = parse_value(&body, Flavor::Alertmanager).unwrap();
        assert_eq!(alerts[0].asset.as_str(), "api-7d9f");
    }

    #[test]
    fn only_a_port_is_stripped_from_the_instance() {
        assert_eq!(without_port("web01:9100"), "web01");
        assert_eq!(without_port("[2001:db8::1]:9100"), "2001:db8::1");
        assert_eq!(without_port("2001:db8::1"), "2001:db8::1");
        assert_eq!(without_port("https://example.com"), "https://example.com");
        assert_eq!(without_port("web01"), "web01");
    }

    #[test]
    fn a_missing_fingerprint_is_derived_from_the_labels() {
        let mut body = fixture();
        body["alerts"][0]
            .as_object_mut()
            .unwrap()
            .remove("fingerprint");
        let first = parse_value(&body, Flavor::Alertmanager).unwrap();
        let again = parse_value(&body, Flavor::Alertmanager).unwrap();
        assert_eq!(first[0].fingerprint.as_str().len(), 32);
        assert_eq!(first[0].fingerprint, again[0].fingerprint);
        assert_ne!(first[0].fingerprint, first[1].fingerprint);
    }

    #[test]
    fn another_webhook_version_is_422() {
        let mut body = fixture();
        body["version"] = json!("3");
        let error = parse_value(&body, Flavor::Alertmanager).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(error_field(&error).contains("version"));
    }

    #[test]
    fn a_body_that_is_not_json_is_400() {
        let error = parse_bytes(b"alerts: [", Flavor::Alertmanager).unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn an_unreadable_starts_at_is_the_receipt_time_with_a_warning_and_year_0_is_422() {
        let mut body = fixture();
        body["alerts"][1]["startsAt"] = json!("yesterday");
        let alerts = parse_value(&body, Flavor::Alertmanager).unwrap();
        assert!(warned(&alerts[1], "alerts[1].startsAt"));
        body["alerts"][1]["startsAt"] = json!("0000-01-01T00:00:00Z");
        let error = parse_value(&body, Flavor::Alertmanager).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(error_field(&error).contains("alerts[1].startsAt"));
    }

    fn warned(alert: &NormalizedAlert, field: &str) -> bool {
        alert.warnings.iter().any(|warning| warning.field == field)
    }
}
