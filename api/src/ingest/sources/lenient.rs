//! Accepting what can be understood: the per-alert [`Lenient`] collector the
//! parsers fill a value from when the tool sent something odd, recording a
//! [`NormalizationWarning`] for each default it chose (stored inside the
//! alert's `AlertReceived`), and the few bounds that still refuse a delivery.
//!
//! Defaults (docs/ingestion.md, "Lenient ingestion"):
//! - severity: the tenant's severity map, then the built-in words
//!   ([`builtin_severity`]), else `medium` with a warning;
//! - asset: the best label the source offers, else `unknown` with a warning;
//! - signature: the source's name for the rule, else `unnamed alert`;
//! - occurred_at: an unreadable time becomes the receipt time (warning); more
//!   than 24 h after receipt becomes the receipt time (warning); before 1970
//!   or after 9999 is refused (422 naming the field): such a time is no
//!   clock's mistake but an attack or a broken sender, and it would not fit
//!   the read models' timestamps.

use alertledger_domain::values::{
    AlertSignature, AssetName, NormalizationWarning, Severity, SeverityMap,
};
use chrono::{DateTime, Datelike, Duration, Utc};

use super::{normalize, RawDelivery};
use crate::error::ApiError;

/// The severity stored when neither the tenant's map nor the built-in words
/// know the tool's word: the middle of the scale, so an unknown word neither
/// pages as critical nor sinks as noise.
pub const DEFAULT_SEVERITY: Severity = Severity::Medium;
/// The asset stored when no label names one.
pub const UNKNOWN_ASSET: &str = "unknown";
/// The signature stored when the tool named no rule.
pub const UNNAMED_SIGNATURE: &str = "unnamed alert";
/// How far after receipt an alert may say it began before the receipt time
/// replaces it (clock skew is minutes; a day means a wrong clock or zone).
pub const MAX_FUTURE_SKEW_HOURS: i64 = 24;
/// Earliest year an alert may say it began.
pub const MIN_YEAR: i32 = 1970;
/// Latest year an alert may say it began.
pub const MAX_YEAR: i32 = 9999;

/// The built-in severity words of Alertmanager/Grafana, Datadog, Zabbix,
/// PagerDuty and syslog, lower-case (documented in docs/ingestion.md).
pub fn builtin_severity(raw: &str) -> Option<Severity> {
    let word = raw.trim().to_lowercase();
    Some(match word.as_str() {
        "critical" | "crit" | "page" | "emergency" | "emerg" | "fatal" | "alert" | "disaster"
        | "p1" | "sev1" | "sev-1" | "5" => Severity::Critical,
        "high" | "error" | "err" | "major" | "p2" | "sev2" | "sev-2" | "4" => Severity::High,
        "warning" | "warn" | "medium" | "moderate" | "minor" | "average" | "p3" | "sev3"
        | "sev-3" | "3" | "2" => Severity::Medium,
        "info" | "information" | "informational" | "low" | "none" | "notice" | "debug" | "ok"
        | "success" | "not classified" | "p4" | "p5" | "sev4" | "sev-4" | "sev5" | "sev-5"
        | "1" | "0" => Severity::Low,
        _ => return None,
    })
}

/// What a parser learns about one alert's odd values, with the delivery's
/// context (receipt time, the tenant's severity map).
#[derive(Debug)]
pub struct Lenient<'a> {
    received_at: DateTime<Utc>,
    severity_map: &'a SeverityMap,
    warnings: Vec<NormalizationWarning>,
}

impl<'a> Lenient<'a> {
    pub fn new(delivery: &RawDelivery<'a>) -> Self {
        Self {
            received_at: delivery.received_at,
            severity_map: delivery.severity_map,
            warnings: Vec::new(),
        }
    }

    /// Records that `field` was odd and what was stored instead.
    pub fn warn(&mut self, field: impl Into<String>, warning: impl Into<String>) {
        self.warnings
            .push(NormalizationWarning::new(field, warning));
    }

    /// The warnings recorded, for the alert.
    pub fn into_warnings(self) -> Vec<NormalizationWarning> {
        self.warnings
    }

    /// The severity a word means, through the tenant's map then the
    /// built-in words, without a default.
    pub fn known_severity(&self, raw: &str) -> Option<Severity> {
        self.severity_map.get(raw).or_else(|| builtin_severity(raw))
    }

    /// The severity of `raw` (the value of `field`); an unknown word is
    /// stored as [`DEFAULT_SEVERITY`] with a warning, an absent one too unless
    /// `absent_is_normal` (sources whose documented default it is).
    pub fn severity(&mut self, field: &str, raw: Option<&str>, absent_is_normal: bool) -> Severity {
        match raw.map(str::trim).filter(|raw| !raw.is_empty()) {
            Some(raw) => self.known_severity(raw).unwrap_or_else(|| {
                self.warn(
                    field,
                    format!(
                        "unknown severity {raw:?}; stored as {} (map it with PUT \
                         /api/v1/tenants/{{id}}/severity-map)",
                        DEFAULT_SEVERITY.as_str()
                    ),
                );
                DEFAULT_SEVERITY
            }),
            None => {
                if !absent_is_normal {
                    self.warn(
                        field,
                        format!("no severity; stored as {}", DEFAULT_SEVERITY.as_str()),
                    );
                }
                DEFAULT_SEVERITY
            }
        }
    }

    /// The asset named by `candidates` (label or field name, value) in order
    /// of preference, else [`UNKNOWN_ASSET`] with a warning on `field`.
    pub fn asset<'v>(
        &mut self,
        field: &str,
        candidates: impl IntoIterator<Item = (&'v str, &'v str)>,
    ) -> AssetName {
        let mut tried = Vec::new();
        for (name, value) in candidates {
            tried.push(name);
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let before = value.chars().count();
            if let Ok(asset) = normalize::asset(value) {
                if asset.as_str().chars().count() < before {
                    self.warn(name, "asset name cut to 255 characters");
                }
                return asset;
            }
        }
        self.warn(
            field,
            format!(
                "no usable asset (looked at {}); stored as {UNKNOWN_ASSET:?}",
                if tried.is_empty() {
                    "nothing".to_owned()
                } else {
                    tried.join(", ")
                }
            ),
        );
        unknown_asset()
    }

    /// The signature from `raw`, else [`UNNAMED_SIGNATURE`] with a warning.
    pub fn signature(&mut self, field: &str, raw: Option<&str>) -> AlertSignature {
        if let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) {
            if let Ok(signature) = normalize::signature(raw) {
                if signature.as_str().chars().count() < raw.chars().count() {
                    self.warn(field, "signature cut to 255 characters");
                }
                return signature;
            }
        }
        self.warn(
            field,
            format!("no name for what fired; stored as {UNNAMED_SIGNATURE:?}"),
        );
        AlertSignature::parse(UNNAMED_SIGNATURE).expect("the constant is a valid signature")
    }

    /// A parsed time of `field`, within bounds: before 1970 or after 9999 is
    /// 422 naming the field; more than a day after receipt is replaced by the
    /// receipt time with a warning.
    pub fn occurred_at(
        &mut self,
        field: &str,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, ApiError> {
        if at.year() < MIN_YEAR || at.year() > MAX_YEAR {
            return Err(ApiError::invalid_value(
                field,
                format!("invalid `{field}`: {at} is outside the years {MIN_YEAR}..={MAX_YEAR}"),
            ));
        }
        if at > self.received_at + Duration::hours(MAX_FUTURE_SKEW_HOURS) {
            self.warn(
                field,
                format!(
                    "{} is more than {MAX_FUTURE_SKEW_HOURS} h after receipt; stored as the \
                     receipt time",
                    at.to_rfc3339()
                ),
            );
            return Ok(self.received_at);
        }
        Ok(at)
    }

    /// A time the tool sent as text: parsed ([`normalize::timestamp`]) and
    /// bounded; unreadable is `None` (the receipt time) with a warning.
    pub fn timestamp(
        &mut self,
        field: &str,
        raw: &str,
        parse: impl FnOnce(&str) -> Result<DateTime<Utc>, String>,
    ) -> Result<Option<DateTime<Utc>>, ApiError> {
        match parse(raw) {
            Ok(at) => self.occurred_at(field, at).map(Some),
            Err(problem) => {
                self.warn(field, format!("{problem}; stored as the receipt time"));
                Ok(None)
            }
        }
    }
}

/// [`UNKNOWN_ASSET`] as an asset name.
pub fn unknown_asset() -> AssetName {
    normalize::asset(UNKNOWN_ASSET).expect("the constant is a valid asset name")
}
