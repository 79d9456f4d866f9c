//! The `generic` source: one alert object or an array of them, in alertledger's
//! own normalized shape (API.md, "Webhook ingestion").
//!
//! Our own format, so its limits are the sender's to respect: an asset name
//! or signature over 255 characters, a message over 10,000, more than 64
//! labels (keys 1..=128 characters, values up to 1,024) is 422 naming the
//! field. What is merely odd is stored with a default and a warning: a
//! missing or unknown `severity` (through the tenant's severity map and the
//! built-in words, else medium), a missing `asset_name` (`unknown`), a
//! missing `signature` (`unnamed alert`), an unknown `status` (firing), an
//! unreadable `occurred_at` (the receipt time). An object with neither
//! `signature` nor `message` is 400 (`missing_field`): nothing in it says
//! what fired.

use alertledger_domain::values::{
    AlertMessage, AlertSignature, AlertStatus, AssetName, DeliveryKey, Fingerprint, Labels,
    SeverityMap, ToolSource,
};
use chrono::{DateTime, DurationRound, Utc};
use serde_json::{Map, Value};

use super::fields::Fields;
use super::lenient::Lenient;
use super::normalize::short_hash;
use super::{RawDelivery, SourcePayload};
use crate::error::ApiError;
use crate::ingest::NormalizedAlert;

/// Identical bodies without `occurred_at` or a request key count as one
/// delivery within this window (tool retries), and as new alerts after it.
const UNDATED_DEDUP_WINDOW_MINUTES: i64 = 5;

/// Parses a generic delivery.
pub fn parse(delivery: &RawDelivery<'_>) -> Result<SourcePayload, ApiError> {
    let body = super::json_body(delivery.body)?;
    parse_body(&body, delivery).map(SourcePayload::Alerts)
}

/// Parses a generic body (already valid JSON) received at `received_at`,
/// with the built-in severity words only (the demo's path).
pub fn parse_generic(
    body: &Value,
    received_at: DateTime<Utc>,
) -> Result<Vec<NormalizedAlert>, ApiError> {
    crate::extract::refuse_nul_in(body, "")?;
    let headers = axum::http::HeaderMap::new();
    let delivery = RawDelivery {
        body: b"",
        headers: &headers,
        received_at,
        severity_map: &SeverityMap::default(),
    };
    parse_body(body, &delivery)
}

/// A batch with one alert over our limits is rejected whole: the error names
/// the alert's index and the field.
fn parse_body(body: &Value, delivery: &RawDelivery<'_>) -> Result<Vec<NormalizedAlert>, ApiError> {
    let (objects, batched): (Vec<&Value>, bool) = match body {
        Value::Array(items) => (items.iter().collect(), true),
        Value::Object(_) => (vec![body], false),
        _ => {
            return Err(ApiError::bad_request(
                "malformed_body",
                "the body must be an alert object or an array of alert objects",
            ))
        }
    };
    if objects.is_empty() {
        return Err(ApiError::invalid_value(
            "alerts",
            "the batch holds no alert",
        ));
    }
    objects
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            let path = if batched {
                format!("[{index}].")
            } else {
                String::new()
            };
            let object = value.as_object().ok_or_else(|| {
                ApiError::bad_request(
                    "malformed_body",
                    format!("alert {path}must be a JSON object"),
                )
                .with_details(serde_json::json!({ "field": path.trim_end_matches('.') }))
            })?;
            parse_alert(object, &path, delivery)
        })
        .collect()
}

fn parse_alert(
    object: &Map<String, Value>,
    path: &str,
    delivery: &RawDelivery<'_>,
) -> Result<NormalizedAlert, ApiError> {
    let received_at = delivery.received_at;
    let mut lenient = Lenient::new(delivery);
    let field = Fields::at(object, path.to_owned());
    // An alert that names nothing that fired and says nothing is not an alert.
    if field.get("signature").is_none() && field.get("message").is_none() {
        return Err(field.missing("signature"));
    }
    let asset = match field.non_empty_str("asset_name")? {
        Some(raw) => AssetName::parse(raw).map_err(|e| field.invalid("asset_name", &e))?,
        None => lenient.asset(&field.name("asset_name"), []),
    };
    let signature = match field.non_empty_str("signature")? {
        Some(raw) => AlertSignature::parse(raw).map_err(|e| field.invalid("signature", &e))?,
        None => lenient.signature(&field.name("signature"), None),
    };
    let severity = lenient.severity(
        &field.name("severity"),
        field.optional_str("severity")?,
        false,
    );
    let message = match field.optional_str("message")? {
        Some(raw) => AlertMessage::parse(raw).map_err(|e| field.invalid("message", &e))?,
        None => {
            AlertMessage::parse(signature.as_str()).map_err(|e| field.invalid("signature", &e))?
        }
    };
    let tool_source = ToolSource::parse(field.optional_str("tool_source")?.unwrap_or("generic"))
        .map_err(|e| field.invalid("tool_source", &e))?;
    let status = match field.non_empty_str("status")? {
        Some(raw) => AlertStatus::parse(raw).unwrap_or_else(|_| {
            lenient.warn(
                field.name("status"),
                format!("unknown status {raw:?}; stored as firing"),
            );
            AlertStatus::Firing
        }),
        None => AlertStatus::Firing,
    };
    let occurred_at = match field.non_empty_str("occurred_at")? {
        Some(raw) => {
            lenient.timestamp(&field.name("occurred_at"), raw, super::normalize::rfc3339)?
        }
        None => None,
    };
    // Our own format: labels over the limits are the sender's bug, so 422.
    let labels = match field.object("labels")? {
        Some(labels) => labels.string_map()?,
        None => Default::default(),
    };
    let labels = Labels::new(labels).map_err(|e| field.invalid("labels", &e))?;

    let fingerprint = Fingerprint::parse(&short_hash(&[
        asset.as_str(),
        signature.as_str(),
        tool_source.as_str(),
    ]))
    .map_err(|e| field.invalid("fingerprint", &e))?;
    // Without occurred_at a repeat of the same body is only a retry within the
    // window; a later identical alert is a new occurrence, never swallowed.
    let dated = match occurred_at {
        Some(at) => at.to_rfc3339(),
        None => received_at
            .duration_trunc(chrono::Duration::minutes(UNDATED_DEDUP_WINDOW_MINUTES))
            .unwrap_or(received_at)
            .to_rfc3339(),
    };
    // serde_json's map is ordered by key, so this text is canonical.
    let canonical_body = serde_json::to_string(object).map_err(|e| ApiError::internal(&e))?;
    let notification_key = DeliveryKey::parse(&format!(
        "generic:{}",
        short_hash(&[&canonical_body, &dated])
    ))
    .map_err(|e| field.invalid("delivery_key", &e))?;

    Ok(NormalizedAlert {
        acknowledged_by_source: false,
        asset,
        signature,
        severity,
        message,
        tool_source,
        status,
        labels,
        occurred_at,
        fingerprint,
        notification_key,
        warnings: lenient.into_warnings(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use alertledger_domain::values::{Severity, SeverityMap};
    use axum::http::StatusCode;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T10:02:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn alert() -> Value {
        json!({"asset_name": "web01", "signature": "HighCPU", "severity": "critical", "message": "CPU > 95%"})
    }

    #[test]
    fn a_single_alert_is_normalized_with_defaults() {
        let alerts = parse_generic(&alert(), now()).unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].asset.as_str(), "web01");
        assert_eq!(alerts[0].severity, Severity::Critical);
        assert_eq!(alerts[0].status, AlertStatus::Firing);
        assert_eq!(alerts[0].tool_source.as_str(), "generic");
        assert_eq!(alerts[0].occurred_at, None);
    }

    #[test]
    fn an_unknown_severity_is_medium_with_a_warning_naming_the_field_and_index() {
        let mut odd = alert();
        odd["severity"] = json!("catastrophic");
        let alerts = parse_generic(&json!([alert(), odd]), now()).unwrap();
        assert_eq!(alerts[1].severity, Severity::Medium);
        assert_eq!(alerts[1].warnings[0].field, "[1].severity");
        assert!(alerts[0].warnings.is_empty());
    }

    #[test]
    fn a_missing_signature_is_stored_unnamed_and_an_overlong_asset_is_422() {
        let mut odd = alert();
        odd.as_object_mut().unwrap().remove("signature");
        let alerts = parse_generic(&odd, now()).unwrap();
        assert_eq!(alerts[0].signature.as_str(), "unnamed alert");
        assert_eq!(alerts[0].warnings[0].field, "signature");
        let mut bad = alert();
        bad["asset_name"] = json!("a".repeat(300));
        let error = parse_generic(&bad, now()).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(format!("{error:?}").contains("asset_name"));
    }

    #[test]
    fn the_same_undated_body_is_one_delivery_within_the_window_only() {
        let key = |at: &str| {
            let at = DateTime::parse_from_rfc3339(at)
                .unwrap()
                .with_timezone(&Utc);
            parse_generic(&alert(), at).unwrap()[0]
                .notification_key
                .clone()
        };
        assert_eq!(key("2026-11-22T10:01:00Z"), key("2026-11-22T10:04:59Z"));
        assert_ne!(key("2026-11-22T10:04:59Z"), key("2026-11-22T10:05:00Z"));
    }

    #[test]
    fn dated_alerts_are_keyed_by_their_body_and_time() {
        let mut dated = alert();
        dated["occurred_at"] = json!("2026-11-22T09:00:00Z");
        let first = parse_generic(&dated, now()).unwrap();
        let later = parse_generic(&dated, now() + chrono::Duration::hours(3)).unwrap();
        assert_eq!(first[0].notification_key, later[0].notification_key);
        assert_eq!(
            first[0].fingerprint,
            parse_generic(&alert(), now()).unwrap()[0].fingerprint
        );
    }

    #[test]
    fn the_same_alert_with_keys_in_another_order_is_the_same_delivery() {
        let reordered: Value = serde_json::from_str(
            r#"{"message": "CPU > 95%", "severity": "critical", "signature": "HighCPU", "asset_name": "web01"}"#,
        )
        .unwrap();
        let key = |body: &Value| {
            parse_generic(body, now()).unwrap()[0]
                .notification_key
                .clone()
        };
        assert_eq!(key(&alert()), key(&reordered));
    }

    #[test]
    fn an_empty_batch_is_rejected() {
        assert_eq!(
            parse_generic(&json!([]), now()).unwrap_err().status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
