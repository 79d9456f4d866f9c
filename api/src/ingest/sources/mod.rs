//! One module per monitoring tool: its webhook payload in, normalized alerts
//! out. Parsers are pure (no I/O): they see the raw request and the time it
//! arrived, and reject a delivery whole when any alert in it is invalid.
//!
//! Layout: `generic`, `alertmanager` (also Grafana), `datadog`, `cloudwatch`
//! (with `sns`, the envelope and its signature), `zabbix` and `pagerduty`, one
//! per source; `fields` reads JSON with errors naming the field's path;
//! `normalize` fits vendor values into our value types and hashes keys.

pub mod alertmanager;
pub mod cloudwatch;
pub mod datadog;
mod fields;
pub mod generic;
pub mod lenient;
mod normalize;
pub mod pagerduty;
mod sns;
pub mod zabbix;

pub use sns::{SnsCertificate, SnsCertificateError, SnsChecks};

use std::collections::BTreeSet;
use std::sync::Arc;

use alertledger_domain::values::{SeverityMap, SnsTopicArn, WebhookSource};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{may_hold_nul, refuse_nul_in};
use crate::ingest::NormalizedAlert;

/// A delivery as a parser sees it: raw bytes (signatures are checked on these
/// before parsing), headers, and when it arrived.
#[derive(Debug, Clone, Copy)]
pub struct RawDelivery<'a> {
    pub body: &'a [u8],
    pub headers: &'a HeaderMap,
    pub received_at: DateTime<Utc>,
    /// The tenant's own severity words (see [`lenient`]).
    pub severity_map: &'a SeverityMap,
}

/// What a delivery amounts to.
#[derive(Debug, Clone, PartialEq)]
pub enum SourcePayload {
    /// Alert notifications (firing, resolved, or acknowledged by the tool).
    Alerts(Vec<NormalizedAlert>),
    /// An AWS SNS subscription handshake, recorded and handed to an operator.
    SubscriptionConfirmation(SnsSubscription),
}

/// An SNS `SubscriptionConfirmation`: an operator confirms it by visiting
/// `subscribe_url` (alertledger never fetches URLs from request bodies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsSubscription {
    pub message_id: String,
    pub topic_arn: String,
    pub subscribe_url: String,
}

/// Most alerts one delivery may carry unless configured otherwise.
pub const DEFAULT_MAX_ALERTS_PER_DELIVERY: usize = 1_000;

/// Settings parsers need beyond the request, loaded once at start-up.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// Most alerts one delivery may carry (more: 413 naming the limit).
    pub max_alerts_per_delivery: usize,
    /// AWS's SNS signing certificate. When set, every `cloudwatch` delivery
    /// must carry a valid SNS signature by it (else 401); when unset, SNS
    /// messages are accepted unsigned (unless `require_sns_signature`). Its
    /// `SigningCertURL` is never fetched.
    pub sns_signing_cert: Option<Arc<SnsCertificate>>,
    /// Production mode: an SNS message is refused (401) unless its signature
    /// was checked, i.e. it is signed and `sns_signing_cert` is set.
    pub require_sns_signature: bool,
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            max_alerts_per_delivery: DEFAULT_MAX_ALERTS_PER_DELIVERY,
            sns_signing_cert: None,
            require_sns_signature: false,
        }
    }
}

/// The sources this build accepts.
pub const SUPPORTED: &[WebhookSource] = &[
    WebhookSource::Generic,
    WebhookSource::Alertmanager,
    WebhookSource::Grafana,
    WebhookSource::Datadog,
    WebhookSource::Cloudwatch,
    WebhookSource::Zabbix,
    WebhookSource::Pagerduty,
];

/// Parses a delivery from `source`; `pinned_sns_topics` are the tenant's
/// (only SNS deliveries look at them).
pub fn parse(
    source: WebhookSource,
    delivery: &RawDelivery<'_>,
    settings: &SourceSettings,
    pinned_sns_topics: &BTreeSet<SnsTopicArn>,
) -> Result<SourcePayload, ApiError> {
    match source {
        WebhookSource::Generic => generic::parse(delivery),
        WebhookSource::Alertmanager => {
            alertmanager::parse(delivery, alertmanager::Flavor::Alertmanager)
        }
        WebhookSource::Grafana => alertmanager::parse(delivery, alertmanager::Flavor::Grafana),
        WebhookSource::Datadog => datadog::parse(delivery),
        WebhookSource::Cloudwatch => cloudwatch::parse(
            delivery,
            &SnsChecks {
                certificate: settings.sns_signing_cert.as_deref(),
                require_signature: settings.require_sns_signature,
                pinned_topics: pinned_sns_topics,
                received_at: delivery.received_at,
            },
        ),
        WebhookSource::Zabbix => zabbix::parse(delivery),
        WebhookSource::Pagerduty => pagerduty::parse(delivery),
        other => Err(unsupported(other)),
    }
}

/// Whether `source` accepts a body of this media type (`essence` is the
/// lower-cased type without parameters).
pub fn accepts_media_type(source: WebhookSource, essence: &str) -> bool {
    let json = essence == "application/json" || essence.ends_with("+json");
    // SNS posts JSON labelled text/plain.
    json || (source == WebhookSource::Cloudwatch && essence == "text/plain")
}

/// The body as JSON, or 400 naming the problem; a NUL character anywhere in
/// it is 422 naming the field. Refused rather than stripped: PostgreSQL's
/// JSON cannot store it, and a tool that sends one is broken or probing. The
/// parsed body is walked for it only when the raw bytes hold its escape.
pub fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    let value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
    })?;
    if may_hold_nul(body) {
        refuse_nul_in(&value, "")?;
    }
    Ok(value)
}

fn unsupported(source: WebhookSource) -> ApiError {
    let supported: Vec<&str> = SUPPORTED.iter().map(|s| s.as_str()).collect();
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_source",
        format!(
            "webhook source {:?} is not supported; supported: {}",
            source.as_str(),
            supported.join(", ")
        ),
    )
}

/// For the parsers' tests: a body delivered now, and the one alert it yields.
#[cfg(test)]
pub(crate) fn parse_one(
    parse: impl Fn(&RawDelivery<'_>) -> Result<SourcePayload, ApiError>,
    body: &Value,
) -> Result<NormalizedAlert, ApiError> {
    let headers = HeaderMap::new();
    let bytes = body.to_string();
    let delivery = RawDelivery {
        body: bytes.as_bytes(),
        headers: &headers,
        received_at: Utc::now(),
        severity_map: &SeverityMap::default(),
    };
    match parse(&delivery)? {
        SourcePayload::Alerts(mut alerts) if alerts.len() == 1 => Ok(alerts.remove(0)),
        other => panic!("expected one alert, got {other:?}"),
    }
}
