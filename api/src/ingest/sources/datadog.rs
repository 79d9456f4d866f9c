//! The `datadog` source: the JSON a Datadog webhook sends with the usual
//! payload template, one alert per request:
//!
//! ```json
//! {"id": "$ID", "title": "$EVENT_TITLE", "body": "$EVENT_MSG",
//!  "last_updated": "$LAST_UPDATED", "event_type": "$EVENT_TYPE", "date": "$DATE",
//!  "alert_transition": "$ALERT_TRANSITION", "aggreg_key": "$AGGREG_KEY",
//!  "hostname": "$HOSTNAME", "priority": "$PRIORITY", "tags": "$TAGS",
//!  "alert_id": "$ALERT_ID", "alert_title": "$ALERT_TITLE",
//!  "alert_type": "$ALERT_TYPE", "alert_priority": "$ALERT_PRIORITY"}
//! ```
//!
//! Variables may arrive quoted (strings) or not (numbers); one that expanded
//! to nothing counts as absent. Mapping:
//! - signature: `alert_title`, else `title`, without Datadog's leading
//!   notification tags (`[P1]`, `[Triggered]`, `[Triggered on {host:web01}]`,
//!   `[Recovered]`, `[Warn]`, `[No Data]`, `[Renotify]`, ...) and without a
//!   trailing ` on host:xxx`, so every notification of one monitor shares it;
//!   (no title at all: `unnamed alert`, with a warning);
//! - asset: `hostname`, else the `host` tag (neither: `unknown`, with a
//!   warning; a monitor not grouped by host sends an empty `$HOSTNAME`, and
//!   Datadog's default payload has neither);
//! - severity: `alert_priority` through the tenant's severity map and the
//!   built-in words (P1 → critical, P2 → high, P3 → medium, P4/P5 → low); else
//!   `alert_type` the same way (error → high, warning → medium, info → low);
//!   else medium (an unknown word: medium, with a warning);
//! - status: resolved when `alert_transition` is `Recovered` or `alert_type`
//!   is `success`, else firing (Warn, No Data and Renotify are still firing);
//! - message: `body` without the `%%%` markdown fences, else the title;
//! - occurred_at: `date`, else `last_updated` (epoch milliseconds or seconds,
//!   told apart by size, or RFC 3339; unreadable: the receipt time, with a
//!   warning);
//! - labels: `tags` (`"k:v,k2"` or an array): `k:v` → k=v, a bare tag → tag="";
//!   repeated keys join their values with `,`;
//! - fingerprint: `aggreg_key`, else a hash of `alert_id` and the asset (one
//!   multi-alert monitor has one `alert_id` for all its hosts), else a hash of
//!   signature and asset;
//! - notification key: `datadog:` + `id` (the event id, new for each
//!   notification), else a hash of the whole body.

use std::collections::BTreeMap;

use alertledger_domain::values::{AlertStatus, ToolSource};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::fields::Fields;
use super::lenient::Lenient;
use super::{normalize, RawDelivery, SourcePayload};
use crate::error::ApiError;
use crate::ingest::NormalizedAlert;

/// Leading `[...]` tags Datadog puts on titles (compared lower-cased).
const TITLE_TAGS: [&str; 8] = [
    "triggered",
    "re-triggered",
    "recovered",
    "warn",
    "re-warn",
    "no data",
    "re-no data",
    "renotify",
];

/// Epoch values at or above this are milliseconds (as seconds, it is the year 5138).
const EPOCH_MILLIS_FROM: i64 = 100_000_000_000;

/// Parses a Datadog webhook.
pub fn parse(delivery: &RawDelivery<'_>) -> Result<SourcePayload, ApiError> {
    let body = super::json_body(delivery.body)?;
    let root = Fields::root(&body)?;

    let mut lenient = Lenient::new(delivery);
    let (title_field, title) = match root.non_empty_str("alert_title")? {
        Some(title) => ("alert_title", Some(title)),
        None => ("title", root.non_empty_str("title")?),
    };
    let signature = lenient.signature(title_field, title.map(monitor_name));
    let tags = tags(&root)?;
    let hostname = root.non_empty_str("hostname")?.unwrap_or_default();
    let host_tag = tags.get("host").map(String::as_str).unwrap_or_default();
    let asset = lenient.asset(
        "hostname",
        [("hostname", hostname), ("tags.host", host_tag)],
    );
    let alert_type = root
        .non_empty_str("alert_type")?
        .map(|raw| raw.trim().to_ascii_lowercase());
    let priority = root.non_empty_str("alert_priority")?;
    // The priority when it is a known word, else the alert type; a word
    // neither the tenant nor the built-ins know is a warning on its field.
    let typed = alert_type.as_deref().filter(|raw| *raw != "success");
    let severity = match (
        priority.and_then(|raw| lenient.known_severity(raw)),
        typed.and_then(|raw| lenient.known_severity(raw)),
    ) {
        (Some(severity), _) => severity,
        (None, Some(severity)) => {
            if let Some(raw) = priority {
                lenient.warn(
                    "alert_priority",
                    format!("unknown priority {raw:?}; severity taken from alert_type"),
                );
            }
            severity
        }
        (None, None) if priority.is_some() => lenient.severity("alert_priority", priority, true),
        (None, None) => lenient.severity("alert_type", typed, true),
    };
    let recovered = root
        .non_empty_str("alert_transition")?
        .is_some_and(|raw| raw.trim().eq_ignore_ascii_case("recovered"));
    let status = if recovered || alert_type.as_deref() == Some("success") {
        AlertStatus::Resolved
    } else {
        AlertStatus::Firing
    };
    let text = match root.non_empty_str("body")? {
        Some(body) => without_markdown_fences(body),
        None => title.unwrap_or_default(),
    };
    let text = if text.is_empty() {
        signature.as_str()
    } else {
        text
    };
    let message = normalize::message(text).map_err(|e| root.invalid("body", &e))?;
    let occurred_at = match root.text("date")? {
        Some(date) => lenient.timestamp("date", &date, timestamp)?,
        None => match root.text("last_updated")? {
            Some(updated) => lenient.timestamp("last_updated", &updated, timestamp)?,
            None => None,
        },
    };

    let fingerprint = match (root.text("aggreg_key")?, root.text("alert_id")?) {
        (Some(aggreg_key), _) => aggreg_key,
        (None, Some(alert_id)) => normalize::short_hash(&[&alert_id, asset.as_str()]),
        (None, None) => normalize::short_hash(&[signature.as_str(), asset.as_str()]),
    };
    let fingerprint =
        normalize::fingerprint(&fingerprint).map_err(|e| root.invalid("aggreg_key", &e))?;
    let notification_key = match root.text("id")? {
        Some(id) => normalize::id_key("datadog", &id)?,
        None => normalize::hashed_key("datadog", &[&String::from_utf8_lossy(delivery.body)])?,
    };
    let labels =
        normalize::labels(tags, &mut lenient, "tags").map_err(|e| root.invalid("tags", &e))?;

    Ok(SourcePayload::Alerts(vec![NormalizedAlert {
        asset,
        signature,
        severity,
        message,
        tool_source: ToolSource::parse("datadog").map_err(|e| ApiError::internal(&e))?,
        status,
        labels,
        occurred_at,
        fingerprint,
        notification_key,
        acknowledged_by_source: false,
        warnings: lenient.into_warnings(),
    }]))
}

/// The monitor's name inside a notification title.
fn monitor_name(title: &str) -> &str {
    let mut rest = title.trim();
    while let Some(tagged) = rest.strip_prefix('[') {
        let Some((tag, after)) = tagged.split_once(']') else {
            break;
        };
        if !is_title_tag(tag) {
            break;
        }
        rest = after.trim_start();
    }
    if let Some((name, host)) = rest.rsplit_once(" on host:") {
        if !host.trim().contains(' ') {
            rest = name;
        }
    }
    rest.trim()
}

fn is_title_tag(tag: &str) -> bool {
    let tag = tag.trim().to_ascii_lowercase();
    let priority = matches!(tag.as_bytes(), [b'p', b'1'..=b'5']);
    priority || TITLE_TAGS.iter().any(|known| tag.starts_with(known))
}

fn without_markdown_fences(body: &str) -> &str {
    let trimmed = body.trim();
    let inner = trimmed.strip_prefix("%%%").unwrap_or(trimmed);
    inner.strip_suffix("%%%").unwrap_or(inner).trim()
}

/// Epoch milliseconds or seconds (told apart by size), or RFC 3339.
fn timestamp(raw: &str) -> Result<DateTime<Utc>, String> {
    let Ok(number) = raw.parse::<i64>() else {
        return normalize::rfc3339(raw)
            .map_err(|_| format!("expected epoch milliseconds, seconds or RFC 3339, got {raw:?}"));
    };
    let at = if number.abs() >= EPOCH_MILLIS_FROM {
        DateTime::from_timestamp_millis(number)
    } else {
        DateTime::from_timestamp(number, 0)
    };
    at.ok_or_else(|| format!("{raw} is out of range"))
}

/// `tags` as a comma-separated string or an array of strings.
fn tags(root: &Fields<'_>) -> Result<BTreeMap<String, String>, ApiError> {
    let raw: Vec<&str> = match root.get("tags") {
        None => Vec::new(),
        Some(Value::String(list)) => list.split(',').collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .ok_or_else(|| root.invalid_message("tags", "must hold only strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(root.invalid_message("tags", "must be a string or an array of strings"))
        }
    };
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    for tag in raw
        .iter()
        .map(|tag| tag.trim())
        .filter(|tag| !tag.is_empty())
    {
        let (key, value) = tag.split_once(':').unwrap_or((tag, ""));
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            continue;
        }
        tags.entry(key.to_owned())
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    Ok(tags)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use alertledger_domain::values::{Severity, SeverityMap};
    use axum::http::StatusCode;
    use serde_json::json;

    fn triggered() -> Value {
        json!({
            "id": "7234567890123456789",
            "title": "[P2] [Triggered on {host:web01}] CPU usage high",
            "body": "%%%\nCPU usage is above 90% on web01\n\n@webhook-alertledger\n%%%",
            "last_updated": "1795316852000",
            "event_type": "query_alert_monitor",
            "date": "1795316852000",
            "alert_transition": "Triggered",
            "aggreg_key": "9bd4ac313a4d1e8fae2482df7b77628",
            "hostname": "web01",
            "priority": "normal",
            "tags": "env:prod,role:web,monitor,team:sre,team:ops",
            "alert_id": "1234",
            "alert_title": "[Triggered on {host:web01}] CPU usage high",
            "alert_type": "error",
            "alert_priority": "P2",
            "org": {"id": "42", "name": "Acme"}
        })
    }

    fn parse_value(body: &Value) -> Result<NormalizedAlert, ApiError> {
        crate::ingest::sources::parse_one(parse, body)
    }

    #[test]
    fn a_triggered_monitor_becomes_a_firing_alert() {
        let alert = parse_value(&triggered()).unwrap();
        assert_eq!(alert.asset.as_str(), "web01");
        assert_eq!(alert.signature.as_str(), "CPU usage high");
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(
            alert.message.as_str(),
            "CPU usage is above 90% on web01\n\n@webhook-alertledger"
        );
        assert_eq!(alert.tool_source.as_str(), "datadog");
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(
            alert.occurred_at,
            DateTime::from_timestamp_millis(1_795_316_852_000)
        );
        assert_eq!(
            alert.fingerprint.as_str(),
            "9bd4ac313a4d1e8fae2482df7b77628"
        );
        assert_eq!(
            alert.notification_key.as_str(),
            "datadog:7234567890123456789"
        );
        let labels: Vec<(&str, &str)> = alert.labels.iter().collect();
        assert_eq!(
            labels,
            [
                ("env", "prod"),
                ("monitor", ""),
                ("role", "web"),
                ("team", "sre,ops")
            ]
        );
    }

    #[test]
    fn a_recovery_shares_the_fingerprint_but_not_the_notification_key() {
        let mut body = triggered();
        body["id"] = json!(7234567890123456999_u64);
        body["title"] = json!("[P2] [Recovered on {host:web01}] CPU usage high");
        body["alert_title"] = json!("[Recovered on {host:web01}] CPU usage high");
        body["alert_transition"] = json!("Recovered");
        body["alert_type"] = json!("success");
        let recovered = parse_value(&body).unwrap();
        let firing = parse_value(&triggered()).unwrap();
        assert_eq!(recovered.status, AlertStatus::Resolved);
        assert_eq!(recovered.signature, firing.signature);
        assert_eq!(recovered.severity, firing.severity);
        assert_eq!(recovered.fingerprint, firing.fingerprint);
        assert_ne!(recovered.notification_key, firing.notification_key);
    }

    #[test]
    fn severity_comes_from_the_priority_then_the_alert_type() {
        let severity = |priority: Value, alert_type: Value| {
            let mut body = triggered();
            body["alert_priority"] = priority;
            body["alert_type"] = alert_type;
            parse_value(&body).unwrap().severity
        };
        assert_eq!(severity(json!("P1"), json!("info")), Severity::Critical);
        assert_eq!(severity(json!("p3"), json!("error")), Severity::Medium);
        assert_eq!(severity(json!("P5"), json!("error")), Severity::Low);
        assert_eq!(severity(json!(""), json!("warning")), Severity::Medium);
        assert_eq!(severity(json!(""), json!("info")), Severity::Low);
        assert_eq!(severity(Value::Null, Value::Null), Severity::Medium);
    }

    #[test]
    fn titles_lose_their_notification_tags_and_host_suffix() {
        assert_eq!(
            monitor_name("[Triggered] Disk full on host:db01"),
            "Disk full"
        );
        assert_eq!(monitor_name("[P1] [Re-Triggered] Disk full"), "Disk full");
        assert_eq!(
            monitor_name("[No Data on {host:x}] Agent down"),
            "Agent down"
        );
        assert_eq!(monitor_name("[prod] Disk full"), "[prod] Disk full");
        assert_eq!(
            monitor_name("Latency on host:db01 is high"),
            "Latency on host:db01 is high"
        );
    }

    #[test]
    fn the_host_tag_stands_in_for_an_empty_hostname() {
        let mut body = triggered();
        body["hostname"] = json!("");
        body["tags"] = json!(["host:db02", "env:prod"]);
        assert_eq!(parse_value(&body).unwrap().asset.as_str(), "db02");
    }

    #[test]
    fn a_notification_without_a_host_is_unknown_with_a_warning_naming_hostname() {
        let mut body = triggered();
        body["hostname"] = json!("");
        let alert = parse_value(&body).unwrap();
        assert_eq!(alert.asset.as_str(), "unknown");
        assert!(warned(&alert, "hostname"));
    }

    fn warned(alert: &NormalizedAlert, field: &str) -> bool {
        alert.warnings.iter().any(|warning| warning.field == field)
    }

    #[test]
    fn a_notification_without_a_title_is_unnamed_with_a_warning() {
        let mut body = triggered();
        body.as_object_mut().unwrap().remove("title");
        body.as_object_mut().unwrap().remove("alert_title");
        let alert = parse_value(&body).unwrap();
        assert_eq!(alert.signature.as_str(), "unnamed alert");
        assert!(warned(&alert, "title"));
    }

    #[test]
    fn dates_in_seconds_and_unparsable_dates_are_told_apart() {
        let mut body = triggered();
        body["date"] = json!(1_795_316_852);
        assert_eq!(
            parse_value(&body).unwrap().occurred_at,
            DateTime::from_timestamp(1_795_316_852, 0)
        );
        body["date"] = json!("last tuesday");
        let alert = parse_value(&body).unwrap();
        assert_eq!(alert.occurred_at, None, "the receipt time");
        assert!(warned(&alert, "date"));
        body["date"] = json!(-99_999_999_999_i64);
        let error = parse_value(&body).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(format!("{error:?}").contains("date"));
    }

    #[test]
    fn without_aggreg_key_each_host_of_a_monitor_has_its_own_fingerprint() {
        let mut web01 = triggered();
        web01.as_object_mut().unwrap().remove("aggreg_key");
        let mut web02 = web01.clone();
        web02["hostname"] = json!("web02");
        assert_ne!(
            parse_value(&web01).unwrap().fingerprint,
            parse_value(&web02).unwrap().fingerprint
        );
    }

    #[test]
    fn without_an_event_id_the_key_is_a_hash_of_the_body() {
        let mut body = triggered();
        body.as_object_mut().unwrap().remove("id");
        let first = parse_value(&body).unwrap().notification_key;
        assert!(first.as_str().starts_with("datadog:"));
        assert_eq!(first, parse_value(&body).unwrap().notification_key);
    }
}
