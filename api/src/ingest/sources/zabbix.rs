//! The `zabbix` source: the JSON our Zabbix webhook media type sends
//! (`docs/zabbix/alertledger_media_type.js`, installed per
//! `docs/zabbix-media-type.md`), one alert per request:
//!
//! ```json
//! {"event_id": "{EVENT.ID}", "event_name": "{EVENT.NAME}",
//!  "severity": "{EVENT.SEVERITY}", "status": "{EVENT.STATUS}",
//!  "event_value": "{EVENT.VALUE}", "host": "{HOST.NAME}", "host_ip": "{HOST.IP}",
//!  "trigger_id": "{TRIGGER.ID}", "event_date": "{EVENT.DATE}",
//!  "event_time": "{EVENT.TIME}", "event_timestamp": 1795316852,
//!  "tags": [{"tag": "scope", "value": "performance"}], "opdata": "{EVENT.OPDATA}",
//!  "event_url": "...", "message": "{ALERT.MESSAGE}"}
//! ```
//!
//! Mapping:
//! - severity: Disaster → critical, High → high, Average and Warning →
//!   medium, Information and Not classified → low (names as Zabbix prints
//!   them, any case, or `{EVENT.NSEVERITY}` 5..0), after the tenant's
//!   severity map; anything else: medium, with a warning;
//! - status: resolved when `event_value` is `0` or `status` is `RESOLVED`;
//! - signature: `event_name`; asset: `host` (absent: `unknown`, with a warning);
//! - message: `message` (the action's message), else the event name and its
//!   operational data;
//! - occurred_at: `event_timestamp` (Unix seconds; the script derives it in the
//!   Zabbix server's time zone), else `event_date` + `event_time` read as UTC;
//! - labels: `tags` (an array of `{tag, value}` as `{EVENT.TAGSJSON}` gives,
//!   or `{EVENT.TAGS}`'s `tag:value, tag2` text), plus `host_ip`, `event_url`;
//! - fingerprint: `zabbix:<trigger_id>:<host>`, shared by a problem and its
//!   recovery (without `trigger_id`: a hash of host and event name);
//! - notification key: `zabbix:<event_id>:<event_value>`. In a recovery
//!   message Zabbix resolves `{EVENT.ID}` to the *problem's* id (the recovery's
//!   own is `{EVENT.RECOVERY.ID}`), so the value tells the two deliveries apart;
//!   a problem-update message repeats the problem's key and is a duplicate.

use std::collections::BTreeMap;

use alertledger_domain::values::{AlertStatus, ToolSource};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use super::fields::Fields;
use super::lenient::Lenient;
use super::{normalize, RawDelivery, SourcePayload};
use crate::error::ApiError;
use crate::ingest::NormalizedAlert;

/// Parses a delivery from our Zabbix media type.
pub fn parse(delivery: &RawDelivery<'_>) -> Result<SourcePayload, ApiError> {
    let body = super::json_body(delivery.body)?;
    let root = Fields::root(&body)?;

    let event_id = root
        .text("event_id")?
        .ok_or_else(|| root.missing("event_id"))?;
    let mut lenient = Lenient::new(delivery);
    let signature = lenient.signature("event_name", root.non_empty_str("event_name")?);
    let event_name = signature.as_str();
    let host = root.non_empty_str("host")?.unwrap_or_default();
    let asset = lenient.asset("host", [("host", host)]);
    let raw_severity = root.text("severity")?;
    let severity = lenient.severity("severity", raw_severity.as_deref(), false);
    let status = status(&root)?;

    let text = match root.non_empty_str("message")? {
        Some(message) => message.to_owned(),
        None => match root.non_empty_str("opdata")? {
            Some(opdata) => format!("{event_name}\nOperational data: {opdata}"),
            None => event_name.to_owned(),
        },
    };
    let message = normalize::message(&text).map_err(|e| root.invalid("message", &e))?;
    let occurred_at = occurred_at(&root, &mut lenient)?;

    let mut labels = tags(&root)?;
    for field in ["host_ip", "event_url"] {
        if let Some(value) = root.non_empty_str(field)? {
            labels.insert(field.to_owned(), value.trim().to_owned());
        }
    }
    let labels =
        normalize::labels(labels, &mut lenient, "tags").map_err(|e| root.invalid("tags", &e))?;

    let fingerprint = match root.text("trigger_id")? {
        Some(trigger_id) => format!("zabbix:{trigger_id}:{}", asset.as_str()),
        None => format!(
            "zabbix:{}",
            normalize::short_hash(&[asset.as_str(), signature.as_str()])
        ),
    };
    let fingerprint =
        normalize::fingerprint(&fingerprint).map_err(|e| root.invalid("trigger_id", &e))?;
    let value = match status {
        AlertStatus::Firing => "1",
        AlertStatus::Resolved => "0",
    };
    let notification_key = normalize::id_key("zabbix", &format!("{event_id}:{value}"))?;

    Ok(SourcePayload::Alerts(vec![NormalizedAlert {
        asset,
        signature,
        severity,
        message,
        tool_source: ToolSource::parse("zabbix").map_err(|e| ApiError::internal(&e))?,
        status,
        labels,
        occurred_at,
        fingerprint,
        notification_key,
        acknowledged_by_source: false,
        warnings: lenient.into_warnings(),
    }]))
}

fn status(root: &Fields<'_>) -> Result<AlertStatus, ApiError> {
    let value = match root.text("event_value")?.as_deref() {
        None => None,
        Some("1") => Some(AlertStatus::Firing),
        Some("0") => Some(AlertStatus::Resolved),
        Some(other) => {
            return Err(root.invalid_message(
                "event_value",
                format!("expected 1 (problem) or 0 (resolved), got {other:?}"),
            ))
        }
    };
    let named = match root.non_empty_str("status")? {
        None => None,
        Some(raw) => match raw.trim().to_ascii_uppercase().as_str() {
            "PROBLEM" => Some(AlertStatus::Firing),
            "RESOLVED" | "OK" => Some(AlertStatus::Resolved),
            _ => {
                return Err(root.invalid_message(
                    "status",
                    format!("expected PROBLEM or RESOLVED, got {raw:?}"),
                ))
            }
        },
    };
    match (value, named) {
        (None, None) => Err(root.missing("event_value")),
        (Some(AlertStatus::Resolved), _) | (_, Some(AlertStatus::Resolved)) => {
            Ok(AlertStatus::Resolved)
        }
        _ => Ok(AlertStatus::Firing),
    }
}

fn occurred_at(
    root: &Fields<'_>,
    lenient: &mut Lenient<'_>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    if let Some(raw) = root.text("event_timestamp")? {
        return lenient.timestamp("event_timestamp", &raw, |raw| {
            raw.parse::<i64>()
                .ok()
                .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
                .ok_or_else(|| format!("expected Unix seconds, got {raw:?}"))
        });
    }
    match (
        root.non_empty_str("event_date")?,
        root.non_empty_str("event_time")?,
    ) {
        (Some(date), Some(time)) => {
            let raw = format!("{} {}", date.trim(), time.trim());
            lenient.timestamp("event_date", &raw, |raw| {
                NaiveDateTime::parse_from_str(raw, "%Y.%m.%d %H:%M:%S")
                    .map(|at| at.and_utc())
                    .map_err(|_| {
                        format!(
                            "expected {{EVENT.DATE}} {{EVENT.TIME}} (2026.11.22 03:07:32), got {raw:?}"
                        )
                    })
            })
        }
        _ => Ok(None),
    }
}

/// Tags as `[{"tag", "value"}]`, that array as JSON text, or `tag:value, tag2`.
fn tags(root: &Fields<'_>) -> Result<BTreeMap<String, String>, ApiError> {
    let invalid = || {
        root.invalid_message(
            "tags",
            "expected [{\"tag\", \"value\"}] or \"tag:value, ...\"",
        )
    };
    let pairs: Vec<(String, String)> = match root.get("tags") {
        None => Vec::new(),
        Some(Value::Array(items)) => tag_objects(items).ok_or_else(invalid)?,
        Some(Value::String(text)) if text.trim_start().starts_with('[') => {
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Array(items)) => tag_objects(&items).ok_or_else(invalid)?,
                _ => return Err(invalid()),
            }
        }
        Some(Value::String(text)) => text
            .split(',')
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
            .map(|tag| {
                let (key, value) = tag.split_once(':').unwrap_or((tag, ""));
                (key.trim().to_owned(), value.trim().to_owned())
            })
            .collect(),
        Some(_) => return Err(invalid()),
    };
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in pairs.into_iter().filter(|(key, _)| !key.is_empty()) {
        tags.entry(key)
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    Ok(tags)
}

fn tag_objects(items: &[Value]) -> Option<Vec<(String, String)>> {
    items
        .iter()
        .map(|item| {
            let tag = item.get("tag")?.as_str()?.trim().to_owned();
            let value = match item.get("value") {
                None | Some(Value::Null) => String::new(),
                Some(value) => value.as_str()?.trim().to_owned(),
            };
            Some((tag, value))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use alertledger_domain::values::{Severity, SeverityMap};
    use axum::http::StatusCode;
    use serde_json::json;

    fn problem() -> Value {
        json!({
            "event_id": "81512",
            "event_name": "High CPU utilization (over 90% for 5m)",
            "severity": "Average",
            "status": "PROBLEM",
            "event_value": "1",
            "host": "web01",
            "host_ip": "10.0.1.15",
            "trigger_id": "23481",
            "event_date": "2026.11.22",
            "event_time": "03:07:32",
            "event_timestamp": 1_795_316_852,
            "tags": [
                {"tag": "class", "value": "os"},
                {"tag": "component", "value": "cpu"},
                {"tag": "scope", "value": "performance"},
                {"tag": "scope", "value": "capacity"}
            ],
            "opdata": "Current utilization: 95.2 %",
            "event_url": "https://zabbix.example/tr_events.php?triggerid=23481&eventid=81512",
            "message": ""
        })
    }

    fn resolved() -> Value {
        let mut body = problem();
        body["status"] = json!("RESOLVED");
        body["event_value"] = json!("0");
        body
    }

    fn parse_value(body: &Value) -> Result<NormalizedAlert, ApiError> {
        crate::ingest::sources::parse_one(parse, body)
    }

    #[test]
    fn a_problem_event_becomes_a_firing_alert() {
        let alert = parse_value(&problem()).unwrap();
        assert_eq!(alert.asset.as_str(), "web01");
        assert_eq!(
            alert.signature.as_str(),
            "High CPU utilization (over 90% for 5m)"
        );
        assert_eq!(alert.severity, Severity::Medium);
        assert_eq!(
            alert.message.as_str(),
            "High CPU utilization (over 90% for 5m)\nOperational data: Current utilization: 95.2 %"
        );
        assert_eq!(alert.tool_source.as_str(), "zabbix");
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(
            alert.occurred_at,
            DateTime::from_timestamp(1_795_316_852, 0)
        );
        assert_eq!(alert.fingerprint.as_str(), "zabbix:23481:web01");
        assert_eq!(alert.notification_key.as_str(), "zabbix:81512:1");
        let labels: Vec<(&str, &str)> = alert.labels.iter().collect();
        assert_eq!(
            labels,
            [
                ("class", "os"),
                ("component", "cpu"),
                (
                    "event_url",
                    "https://zabbix.example/tr_events.php?triggerid=23481&eventid=81512"
                ),
                ("host_ip", "10.0.1.15"),
                ("scope", "performance,capacity"),
            ]
        );
    }

    #[test]
    fn a_recovery_shares_the_fingerprint_but_not_the_notification_key() {
        let firing = parse_value(&problem()).unwrap();
        let recovery = parse_value(&resolved()).unwrap();
        assert_eq!(recovery.status, AlertStatus::Resolved);
        assert_eq!(recovery.fingerprint, firing.fingerprint);
        assert_eq!(recovery.notification_key.as_str(), "zabbix:81512:0");
        let mut only_value = problem();
        only_value.as_object_mut().unwrap().remove("status");
        only_value["event_value"] = json!(0);
        assert_eq!(
            parse_value(&only_value).unwrap().status,
            AlertStatus::Resolved
        );
    }

    #[test]
    fn the_bodies_our_media_type_script_sends_are_a_problem_and_its_recovery() {
        // Produced by docs/zabbix/alertledger_media_type.js (server zone UTC+1).
        let problem: Value =
            serde_json::from_str(include_str!("testdata/zabbix-problem.json")).unwrap();
        let recovery: Value =
            serde_json::from_str(include_str!("testdata/zabbix-recovery.json")).unwrap();
        let problem = parse_value(&problem).unwrap();
        let recovery = parse_value(&recovery).unwrap();
        assert_eq!(problem.status, AlertStatus::Firing);
        assert_eq!(problem.severity, Severity::Medium);
        assert_eq!(
            problem.occurred_at,
            DateTime::from_timestamp(1_795_316_852, 0)
        );
        assert!(problem
            .message
            .as_str()
            .starts_with("Problem started at 04:07:32"));
        assert_eq!(problem.labels.get("scope"), Some("performance"));
        assert_eq!(recovery.status, AlertStatus::Resolved);
        assert_eq!(recovery.occurred_at, problem.occurred_at);
        assert_eq!(
            (problem.fingerprint.as_str(), recovery.fingerprint.as_str()),
            ("zabbix:23481:web01", "zabbix:23481:web01")
        );
        assert_eq!(
            (
                problem.notification_key.as_str(),
                recovery.notification_key.as_str()
            ),
            ("zabbix:81512:1", "zabbix:81512:0")
        );
    }

    #[test]
    fn zabbix_severities_map_onto_ours() {
        let severity_of = |raw: Value| {
            let mut body = problem();
            body["severity"] = raw;
            parse_value(&body).unwrap().severity
        };
        assert_eq!(severity_of(json!("Disaster")), Severity::Critical);
        assert_eq!(severity_of(json!("HIGH")), Severity::High);
        assert_eq!(severity_of(json!("Warning")), Severity::Medium);
        assert_eq!(severity_of(json!("Information")), Severity::Low);
        assert_eq!(severity_of(json!("Not classified")), Severity::Low);
        assert_eq!(severity_of(json!(5)), Severity::Critical);
    }

    #[test]
    fn an_unknown_severity_is_medium_with_a_warning_naming_it() {
        let mut body = problem();
        body["severity"] = json!("Catastrophe");
        let alert = parse_value(&body).unwrap();
        assert_eq!(alert.severity, Severity::Medium);
        assert!(warned(&alert, "severity"));
    }

    fn warned(alert: &NormalizedAlert, field: &str) -> bool {
        alert.warnings.iter().any(|warning| warning.field == field)
    }

    #[test]
    fn a_missing_host_is_unknown_with_a_warning_naming_it() {
        let mut body = problem();
        body.as_object_mut().unwrap().remove("host");
        let alert = parse_value(&body).unwrap();
        assert_eq!(alert.asset.as_str(), "unknown");
        assert!(warned(&alert, "host"));
    }

    #[test]
    fn date_and_time_stand_in_for_the_timestamp_and_tags_may_be_text() {
        let mut body = problem();
        body.as_object_mut().unwrap().remove("event_timestamp");
        body["tags"] = json!("scope:performance, component:cpu, maintenance");
        body["message"] = json!("Problem started at 03:07:32 on 2026.11.22");
        let alert = parse_value(&body).unwrap();
        assert_eq!(
            alert.occurred_at,
            DateTime::from_timestamp(1_795_316_852, 0)
        );
        assert_eq!(alert.labels.get("maintenance"), Some(""));
        assert_eq!(alert.labels.get("component"), Some("cpu"));
        assert_eq!(
            alert.message.as_str(),
            "Problem started at 03:07:32 on 2026.11.22"
        );
        body["tags"] = json!("[{\"tag\":\"scope\",\"value\":\"availability\"}]");
        assert_eq!(
            parse_value(&body).unwrap().labels.get("scope"),
            Some("availability")
        );
    }

    #[test]
    fn an_unresolved_macro_in_the_value_is_422() {
        let mut body = problem();
        body["event_value"] = json!("{EVENT.VALUE}");
        let error = parse_value(&body).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(format!("{error:?}").contains("event_value"));
    }
}
