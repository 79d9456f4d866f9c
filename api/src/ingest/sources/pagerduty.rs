//! The `pagerduty` source: a PagerDuty Events API v2 event, sent to us as if
//! we were PagerDuty, so any tool with a PagerDuty integration can feed
//! alertledger. One alert per request.
//!
//! `trigger` (PagerDuty requires `payload.summary`, `source` and `severity`;
//! we store a trigger without them with defaults and warnings):
//! - signature: `payload.class`, else `payload.summary` (cut to 255 characters);
//! - asset: `payload.source` (absent: `unknown`); message: `payload.summary`;
//! - severity: through the tenant's severity map, then the built-in words
//!   (critical → critical, error → high, warning → medium, info → low);
//!   anything else: medium, with a warning;
//! - occurred_at: `payload.timestamp` in any ISO 8601 form PagerDuty documents
//!   or its clients send (see [`timestamp`]), else when received;
//! - labels: string values of a flat `payload.custom_details`, then
//!   `component`, `group`, `class` (which win over a custom detail of that name);
//! - fingerprint: `pagerduty:<dedup_key>`; without one PagerDuty would make up
//!   a key per event, we derive `pagerduty:<hash(summary, source, severity)>`
//!   so a repeated identical trigger is the same alert.
//!
//! `acknowledge` and `resolve` need only `dedup_key`: they become an alert
//! with the same fingerprint (the ingestor matches it to the original by it),
//! status resolved (resolve) or firing and `acknowledged_by_source`
//! (acknowledge). Its asset, signature and severity come from `payload` when
//! given, else placeholders: asset `unknown`, signature `pagerduty:<dedup_key>`,
//! severity low.
//!
//! Notification key: `pagerduty:` + hash(dedup key, event action,
//! `payload.timestamp` or else the whole body). `routing_key` is ignored (the
//! tenant's API key authenticates) and never stored: in PagerDuty it is a
//! credential.
//!
//! Change events (`/v2/change/enqueue`) are no alerts: [`parse_change`] reads
//! their `payload.summary`, `source`, `timestamp`, `custom_details` and
//! `links` for the route to record.

use std::collections::BTreeMap;

use alertledger_domain::change_report::{ChangeLink, MAX_SUMMARY_CHARS};
use alertledger_domain::values::{
    AlertMessage, AlertSignature, AlertStatus, AssetName, Labels, NormalizationWarning, Severity,
    ToolSource, ValueError,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use super::fields::Fields;
use super::lenient::Lenient;
use super::{normalize, RawDelivery, SourcePayload};
use crate::error::ApiError;
use crate::ingest::NormalizedAlert;

/// Parses a PagerDuty Events API v2 event.
pub fn parse(delivery: &RawDelivery<'_>) -> Result<SourcePayload, ApiError> {
    let body = super::json_body(delivery.body)?;
    let root = Fields::root(&body)?;
    let action = root.required_str("event_action")?;
    let payload = root.object("payload")?;
    let dedup_key = root.non_empty_str("dedup_key")?;

    let mut lenient = Lenient::new(delivery);
    let event = match action {
        "trigger" => {
            let payload = payload.as_ref().ok_or_else(|| root.missing("payload"))?;
            trigger(payload, dedup_key, &mut lenient)?
        }
        "acknowledge" | "resolve" => {
            let dedup_key = dedup_key.ok_or_else(|| root.missing("dedup_key"))?;
            follow_up(
                &root,
                payload.as_ref(),
                dedup_key,
                action == "resolve",
                &mut lenient,
            )?
        }
        other => {
            return Err(root.invalid_message(
                "event_action",
                format!("unknown event action {other:?}; expected trigger, acknowledge or resolve"),
            ))
        }
    };

    let (labels, occurred_at, timestamp) = match &payload {
        Some(payload) => (
            normalize::labels(
                labels(payload)?,
                &mut lenient,
                &payload.name("custom_details"),
            )
            .map_err(|e| payload.invalid("custom_details", &e))?,
            match payload.non_empty_str("timestamp")? {
                Some(raw) => lenient.timestamp(&payload.name("timestamp"), raw, timestamp)?,
                None => None,
            },
            payload.non_empty_str("timestamp")?,
        ),
        None => (Labels::default(), None, None),
    };
    let fingerprint = normalize::fingerprint(&format!("pagerduty:{}", event.dedup))
        .map_err(|e| root.invalid("dedup_key", &e))?;
    let body_text = String::from_utf8_lossy(delivery.body);
    let identity = timestamp.unwrap_or(&body_text);
    let notification_key =
        normalize::hashed_key("pagerduty", &[fingerprint.as_str(), action, identity])?;

    Ok(SourcePayload::Alerts(vec![NormalizedAlert {
        asset: event.asset,
        signature: event.signature,
        severity: event.severity,
        message: event.message,
        tool_source: ToolSource::parse("pagerduty").map_err(|e| ApiError::internal(&e))?,
        status: event.status,
        labels,
        occurred_at,
        fingerprint,
        notification_key,
        acknowledged_by_source: event.acknowledged,
        warnings: lenient.into_warnings(),
    }]))
}

/// The time of a PagerDuty event. PagerDuty asks for ISO 8601 and shows
/// `2015-07-17T08:42:58.315+0000` (offset without a colon); RFC 3339 with `Z`
/// or `+00:00`, with or without fractional seconds, a space for the `T`, an
/// hour-only offset, the basic form `20150717T084258Z`, and the
/// `+00:00Z` that the official Python client's own timestamp produces
/// (`isoformat() + "Z"`) are read too. No offset at all means UTC.
pub fn timestamp(raw: &str) -> Result<DateTime<Utc>, String> {
    let raw = raw.trim();
    if let Ok(at) = normalize::rfc3339(raw) {
        return Ok(at);
    }
    // An offset followed by a `Z`: the offset is the one that counts.
    if let Some(offset_and_z) = raw.strip_suffix(['Z', 'z']) {
        let time = offset_and_z.get(11..).unwrap_or_default();
        let has_offset = time.contains(['+', '-']) && !time.ends_with(['Z', 'z']);
        if let (true, Ok(at)) = (has_offset, normalize::rfc3339(offset_and_z)) {
            return Ok(at);
        }
    }
    for format in ["%Y%m%dT%H%M%S%.f%#z", "%Y%m%dT%H%M%S%.fZ"] {
        if let Ok(at) = DateTime::parse_from_str(raw, format) {
            return Ok(at.with_timezone(&Utc));
        }
        if let Ok(at) = NaiveDateTime::parse_from_str(raw, format) {
            return Ok(at.and_utc());
        }
    }
    Err(format!("{raw:?} is not an ISO 8601 timestamp"))
}

/// A change event (`/v2/change/enqueue`) as the route records it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    /// `payload.summary`, cut to PagerDuty's 1024 characters.
    pub summary: String,
    pub source: Option<String>,
    /// `payload.timestamp`; `None` when absent or unreadable (a warning says).
    pub timestamp: Option<DateTime<Utc>>,
    pub custom_details: Option<Value>,
    pub links: Vec<ChangeLink>,
    pub warnings: Vec<NormalizationWarning>,
}

/// Parses a PagerDuty change event. `payload.summary` is required (400
/// naming it, as PagerDuty refuses it too); odd links and timestamps are
/// left out with a warning rather than losing the change.
pub fn parse_change(delivery: &RawDelivery<'_>) -> Result<ChangeEvent, ApiError> {
    let body = super::json_body(delivery.body)?;
    let root = Fields::root(&body)?;
    let payload = root.required_object("payload")?;
    let summary = payload
        .non_empty_str("summary")?
        .ok_or_else(|| payload.missing("summary"))?;
    let mut lenient = Lenient::new(delivery);
    if summary.chars().count() > MAX_SUMMARY_CHARS {
        lenient.warn(
            payload.name("summary"),
            format!("longer than {MAX_SUMMARY_CHARS} characters; cut"),
        );
    }
    let summary = normalize::truncate(summary, MAX_SUMMARY_CHARS).to_owned();
    let source = payload
        .non_empty_str("source")?
        .map(|source| normalize::truncate(source.trim(), MAX_SUMMARY_CHARS).to_owned());
    let timestamp = match payload.non_empty_str("timestamp")? {
        Some(raw) => lenient.timestamp(&payload.name("timestamp"), raw, timestamp)?,
        None => None,
    };
    let custom_details = payload.get("custom_details").cloned();
    let links = change_links(&root, &mut lenient);
    Ok(ChangeEvent {
        summary,
        source,
        timestamp,
        custom_details,
        links,
        warnings: lenient.into_warnings(),
    })
}

/// The `links` that have an `href`; others are left out with a warning.
fn change_links(root: &Fields<'_>, lenient: &mut Lenient<'_>) -> Vec<ChangeLink> {
    let items = match root.get("links") {
        None => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            lenient.warn(root.name("links"), "not an array; left out");
            return Vec::new();
        }
    };
    let mut links = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let href = item.get("href").and_then(Value::as_str).map(str::trim);
        match href.filter(|href| !href.is_empty()) {
            Some(href) => links.push(ChangeLink {
                href: href.to_owned(),
                text: item.get("text").and_then(Value::as_str).map(str::to_owned),
            }),
            None => lenient.warn(
                format!("{}[{index}].href", root.name("links")),
                "a link without href; left out",
            ),
        }
    }
    links
}

/// What one event says about its alert; labels, time and keys come from the
/// fields every action shares.
struct Event {
    asset: AssetName,
    signature: AlertSignature,
    severity: Severity,
    message: AlertMessage,
    status: AlertStatus,
    acknowledged: bool,
    /// The dedup key, or what stands in for a trigger's missing one.
    dedup: String,
}

/// A `trigger`: what PagerDuty requires but is missing gets a default and a
/// warning.
fn trigger(
    payload: &Fields<'_>,
    dedup_key: Option<&str>,
    lenient: &mut Lenient<'_>,
) -> Result<Event, ApiError> {
    let summary = payload.non_empty_str("summary")?;
    let source = payload.non_empty_str("source")?.unwrap_or_default();
    let raw_severity = payload.non_empty_str("severity")?;
    let severity = lenient.severity(&payload.name("severity"), raw_severity, false);
    let signature = lenient.signature(
        &payload.name("summary"),
        payload.non_empty_str("class")?.or(summary),
    );
    let asset = lenient.asset(
        &payload.name("source"),
        [(payload.name("source").as_str(), source)],
    );
    let summary = summary.unwrap_or(signature.as_str()).to_owned();
    let summary = summary.as_str();
    let raw_severity = raw_severity.unwrap_or_default();
    Ok(Event {
        asset,
        message: normalize::message(summary).map_err(|e| payload.invalid("summary", &e))?,
        signature,
        severity,
        status: AlertStatus::Firing,
        acknowledged: false,
        dedup: match dedup_key {
            Some(key) => key.to_owned(),
            None => normalize::short_hash(&[summary, source, raw_severity]),
        },
    })
}

/// An `acknowledge` or `resolve`: the payload is optional, and PagerDuty
/// ignores it, so what it lacks gets a placeholder and a bad severity is low.
fn follow_up(
    root: &Fields<'_>,
    payload: Option<&Fields<'_>>,
    dedup_key: &str,
    resolve: bool,
    lenient: &mut Lenient<'_>,
) -> Result<Event, ApiError> {
    let field = |name: &str| match payload {
        Some(payload) => payload.non_empty_str(name),
        None => Ok(None),
    };
    let summary = field("summary")?;
    let placeholder = format!("pagerduty:{dedup_key}");
    let signature = field("class")?.or(summary).unwrap_or(&placeholder);
    let message = match summary {
        Some(summary) => summary.to_owned(),
        None => format!(
            "{} through the PagerDuty Events API (dedup_key {dedup_key})",
            if resolve { "resolved" } else { "acknowledged" }
        ),
    };
    let invalid = |name: &str, e: ValueError| match payload {
        Some(payload) => payload.invalid(name, &e),
        None => root.invalid("dedup_key", &e),
    };
    Ok(Event {
        asset: normalize::asset(field("source")?.unwrap_or("unknown"))
            .map_err(|e| invalid("source", e))?,
        signature: normalize::signature(signature).map_err(|e| invalid("summary", e))?,
        severity: field("severity")?
            .and_then(|raw| lenient.known_severity(raw))
            .unwrap_or(Severity::Low),
        message: normalize::message(&message).map_err(|e| invalid("summary", e))?,
        status: if resolve {
            AlertStatus::Resolved
        } else {
            AlertStatus::Firing
        },
        acknowledged: !resolve,
        dedup: dedup_key.to_owned(),
    })
}

/// String custom details, then component, group and class.
fn labels(payload: &Fields<'_>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut labels = BTreeMap::new();
    if let Some(Value::Object(details)) = payload.get("custom_details") {
        for (key, value) in details {
            if let Value::String(value) = value {
                labels.insert(key.clone(), value.clone());
            }
        }
    }
    for field in ["component", "group", "class"] {
        if let Some(value) = payload.non_empty_str(field)? {
            labels.insert(field.to_owned(), value.to_owned());
        }
    }
    Ok(labels)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use alertledger_domain::values::{Severity, SeverityMap};
    use axum::http::StatusCode;
    use serde_json::json;

    fn trigger_event() -> Value {
        json!({
            "routing_key": "R0UT1NGK3Y0000000000000000000000",
            "event_action": "trigger",
            "dedup_key": "srv01/mysql/replication-lag",
            "payload": {
                "summary": "Replication lag on srv01 is 340 seconds",
                "source": "srv01.prod.example.com",
                "severity": "error",
                "timestamp": "2026-11-22T03:07:32.643+00:00",
                "component": "mysql",
                "group": "prod-datapipe",
                "class": "replication lag",
                "custom_details": {
                    "lag_seconds": 340,
                    "replica": "srv01-replica-2",
                    "thresholds": {"warn": 60, "crit": 300}
                }
            },
            "client": "Sample Monitoring Service",
            "client_url": "https://monitoring.example.com",
            "links": [{"href": "https://example.com/", "text": "Link text"}],
            "images": [{"src": "https://example.com/graph.png", "alt": "lag"}]
        })
    }

    fn parse_value(body: &Value) -> Result<NormalizedAlert, ApiError> {
        crate::ingest::sources::parse_one(parse, body)
    }

    #[test]
    fn a_trigger_becomes_a_firing_alert() {
        let alert = parse_value(&trigger_event()).unwrap();
        assert_eq!(alert.asset.as_str(), "srv01.prod.example.com");
        assert_eq!(alert.signature.as_str(), "replication lag");
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(
            alert.message.as_str(),
            "Replication lag on srv01 is 340 seconds"
        );
        assert_eq!(alert.tool_source.as_str(), "pagerduty");
        assert_eq!(alert.status, AlertStatus::Firing);
        assert!(!alert.acknowledged_by_source);
        assert_eq!(
            alert.occurred_at,
            Some(normalize::rfc3339("2026-11-22T03:07:32.643Z").unwrap())
        );
        assert_eq!(
            alert.fingerprint.as_str(),
            "pagerduty:srv01/mysql/replication-lag"
        );
        assert!(alert.notification_key.as_str().starts_with("pagerduty:"));
        let labels: Vec<(&str, &str)> = alert.labels.iter().collect();
        assert_eq!(
            labels,
            [
                ("class", "replication lag"),
                ("component", "mysql"),
                ("group", "prod-datapipe"),
                ("replica", "srv01-replica-2"),
            ]
        );
    }

    #[test]
    fn a_resolve_needs_only_the_dedup_key_and_matches_by_fingerprint() {
        let firing = parse_value(&trigger_event()).unwrap();
        let resolve = json!({
            "routing_key": "R0UT1NGK3Y0000000000000000000000",
            "event_action": "resolve",
            "dedup_key": "srv01/mysql/replication-lag"
        });
        let resolved = parse_value(&resolve).unwrap();
        assert_eq!(resolved.status, AlertStatus::Resolved);
        assert!(!resolved.acknowledged_by_source);
        assert_eq!(resolved.fingerprint, firing.fingerprint);
        assert_ne!(resolved.notification_key, firing.notification_key);
        assert_eq!(resolved.asset.as_str(), "unknown");
        assert_eq!(
            resolved.signature.as_str(),
            "pagerduty:srv01/mysql/replication-lag"
        );
        assert_eq!(resolved.severity, Severity::Low);
        assert_eq!(resolved.occurred_at, None);
    }

    #[test]
    fn an_acknowledge_marks_the_alert_acknowledged_and_keeps_it_firing() {
        let mut acknowledge = trigger_event();
        acknowledge["event_action"] = json!("acknowledge");
        let acknowledged = parse_value(&acknowledge).unwrap();
        let firing = parse_value(&trigger_event()).unwrap();
        assert_eq!(acknowledged.status, AlertStatus::Firing);
        assert!(acknowledged.acknowledged_by_source);
        assert_eq!(acknowledged.asset, firing.asset);
        assert_eq!(acknowledged.signature, firing.signature);
        assert_eq!(acknowledged.severity, firing.severity);
        assert_eq!(acknowledged.fingerprint, firing.fingerprint);
        assert_ne!(acknowledged.notification_key, firing.notification_key);
    }

    #[test]
    fn a_trigger_without_source_or_severity_is_stored_with_warnings_naming_them() {
        let mut body = trigger_event();
        body["payload"].as_object_mut().unwrap().remove("source");
        let alert = parse_value(&body).unwrap();
        assert_eq!(alert.asset.as_str(), "unknown");
        assert!(warned(&alert, "payload.source"));
        body["payload"]["source"] = json!("srv01");
        body["payload"].as_object_mut().unwrap().remove("severity");
        let alert = parse_value(&body).unwrap();
        assert_eq!(alert.severity, Severity::Medium);
        assert!(warned(&alert, "payload.severity"));
    }

    fn warned(alert: &NormalizedAlert, field: &str) -> bool {
        alert.warnings.iter().any(|warning| warning.field == field)
    }

    #[test]
    fn other_severity_words_go_through_the_built_in_words_else_warn() {
        let mut body = trigger_event();
        body["payload"]["severity"] = json!("sev1");
        assert_eq!(parse_value(&body).unwrap().severity, Severity::Critical);
        body["payload"]["severity"] = json!("bananas");
        let alert = parse_value(&body).unwrap();
        assert_eq!(alert.severity, Severity::Medium);
        assert!(warned(&alert, "payload.severity"));
    }

    #[test]
    fn an_unknown_event_action_is_422() {
        let mut body = trigger_event();
        body["event_action"] = json!("snooze");
        let error = parse_value(&body).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(format!("{error:?}").contains("event_action"));
    }

    #[test]
    fn a_resolve_without_dedup_key_is_400() {
        let body = json!({"routing_key": "R0UT1NGK3Y", "event_action": "resolve"});
        let error = parse_value(&body).unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert!(format!("{error:?}").contains("dedup_key"));
    }

    #[test]
    fn a_trigger_without_dedup_key_gets_a_stable_derived_fingerprint() {
        let mut body = trigger_event();
        body.as_object_mut().unwrap().remove("dedup_key");
        let first = parse_value(&body).unwrap();
        body["payload"]["timestamp"] = json!("2026-11-22T04:00:00Z");
        let later = parse_value(&body).unwrap();
        assert!(first.fingerprint.as_str().starts_with("pagerduty:"));
        assert_eq!(first.fingerprint, later.fingerprint);
        assert_ne!(first.notification_key, later.notification_key);
    }

    #[test]
    fn a_long_summary_is_cut_to_the_signature_limit() {
        let mut body = trigger_event();
        body["payload"].as_object_mut().unwrap().remove("class");
        body["payload"]["summary"] = json!("ü".repeat(1024));
        let alert = parse_value(&body).unwrap();
        assert_eq!(alert.signature.as_str().chars().count(), 255);
        assert_eq!(alert.message.as_str().chars().count(), 1024);
    }

    #[test]
    fn every_timestamp_form_pagerduty_documents_is_read() {
        let expected = normalize::rfc3339("2015-07-17T08:42:58.315Z").unwrap();
        for raw in [
            "2015-07-17T08:42:58.315+0000",
            "2015-07-17T08:42:58.315+00:00",
            "2015-07-17T08:42:58.315Z",
            "2015-07-17T10:42:58.315+0200",
            "2015-07-17T04:42:58.315-04:00",
            "2015-07-17T08:42:58.315+00:00Z",
            "2015-07-17 08:42:58.315+00",
            "20150717T084258.315Z",
        ] {
            assert_eq!(timestamp(raw), Ok(expected), "{raw}");
        }
        let whole = normalize::rfc3339("2015-07-17T08:42:58Z").unwrap();
        for raw in [
            "2015-07-17T08:42:58Z",
            "2015-07-17T08:42:58+0000",
            "2015-07-17T08:42:58",
            "20150717T084258+0000",
        ] {
            assert_eq!(timestamp(raw), Ok(whole), "{raw}");
        }
        assert!(timestamp("yesterday").is_err());
        assert!(timestamp("2015-07-17T08:42:58+00:00+00:00").is_err());
    }

    #[test]
    fn pagerdutys_own_sample_trigger_keeps_its_timestamp() {
        let mut body = trigger_event();
        body["payload"]["timestamp"] = json!("2015-07-17T08:42:58.315+0000");
        let alert = parse_value(&body).unwrap();
        assert_eq!(
            alert.occurred_at,
            Some(normalize::rfc3339("2015-07-17T08:42:58.315Z").unwrap())
        );
        assert!(alert.warnings.is_empty(), "{:?}", alert.warnings);
    }

    fn change(body: &Value) -> Result<ChangeEvent, ApiError> {
        let headers = axum::http::HeaderMap::new();
        let bytes = body.to_string();
        parse_change(&RawDelivery {
            body: bytes.as_bytes(),
            headers: &headers,
            received_at: chrono::Utc::now(),
            severity_map: &SeverityMap::default(),
        })
    }

    #[test]
    fn a_change_event_keeps_what_the_tool_said() {
        let event = change(&json!({
            "routing_key": "R0UT1NGK3Y0000000000000000000000",
            "payload": {
                "summary": "Build 42 deployed to production",
                "timestamp": "2020-07-17T08:42:58.315+0000",
                "source": "ci.example.com",
                "custom_details": {"build_state": "passed", "build_number": "42"}
            },
            "links": [{"href": "https://ci.example.com/42", "text": "Build 42"}, {"text": "no href"}]
        }))
        .unwrap();
        assert_eq!(event.summary, "Build 42 deployed to production");
        assert_eq!(event.source.as_deref(), Some("ci.example.com"));
        assert_eq!(
            event.timestamp,
            Some(normalize::rfc3339("2020-07-17T08:42:58.315Z").unwrap())
        );
        assert_eq!(event.custom_details.unwrap()["build_number"], "42");
        assert_eq!(
            event.links,
            [ChangeLink {
                href: "https://ci.example.com/42".to_owned(),
                text: Some("Build 42".to_owned())
            }]
        );
        assert_eq!(event.warnings.len(), 1);
        assert_eq!(event.warnings[0].field, "links[1].href");
    }

    #[test]
    fn a_change_event_without_summary_is_400_naming_it() {
        let error = change(&json!({"payload": {"source": "ci"}})).unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error.field(), Some("payload.summary"));
        let error = change(&json!({"routing_key": "x"})).unwrap_err();
        assert_eq!(error.field(), Some("payload"));
    }

    #[test]
    fn an_unreadable_change_timestamp_is_left_out_with_a_warning() {
        let event =
            change(&json!({"payload": {"summary": "deploy", "timestamp": "soon"}})).unwrap();
        assert_eq!(event.timestamp, None);
        assert_eq!(event.warnings[0].field, "payload.timestamp");
    }
}
