//! Per-tenant settings that shape correlation and ingestion.

use serde::{Deserialize, Serialize};

use super::{
    string_conversions, AlertSignature, AssetName, Labels, Severity, ToolSource, ValueError,
};

/// One part of an aggregation key template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeyPart {
    Asset,
    Signature,
    Source,
    Severity,
    Label(String),
}

const MAX_KEY_PARTS: usize = 16;

/// Which alert fields make up the correlation key, written as `|`-separated
/// parts: `asset`, `signature`, `source`, `severity` or `label:<name>`
/// (e.g. `asset|signature`). Alerts with the same rendered key correlate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AggregationKeyTemplate {
    text: String,
    parts: Vec<KeyPart>,
}

impl AggregationKeyTemplate {
    /// Parses the template, rejecting empty and unknown parts.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        const FIELD: &str = "aggregation_key";
        let mut parts = Vec::new();
        for piece in raw.split('|').map(str::trim) {
            let part = match piece {
                "asset" => KeyPart::Asset,
                "signature" => KeyPart::Signature,
                "source" => KeyPart::Source,
                "severity" => KeyPart::Severity,
                "" => return Err(ValueError::new(FIELD, "must not have empty parts")),
                other => match other.strip_prefix("label:").map(str::trim) {
                    Some(name) if !name.is_empty() && name.chars().count() <= 128 => {
                        KeyPart::Label(name.to_owned())
                    }
                    Some(_) => {
                        return Err(ValueError::new(
                            FIELD,
                            "label parts need a name of 1..=128 characters (label:<name>)",
                        ))
                    }
                    None => {
                        return Err(ValueError::new(
                            FIELD,
                            format!(
                                "unknown part {other:?}; use asset, signature, source, severity or label:<name>"
                            ),
                        ))
                    }
                },
            };
            parts.push(part);
        }
        if parts.len() > MAX_KEY_PARTS {
            return Err(ValueError::new(
                FIELD,
                format!("must have at most {MAX_KEY_PARTS} parts"),
            ));
        }
        let text = parts
            .iter()
            .map(|part| match part {
                KeyPart::Asset => "asset".to_owned(),
                KeyPart::Signature => "signature".to_owned(),
                KeyPart::Source => "source".to_owned(),
                KeyPart::Severity => "severity".to_owned(),
                KeyPart::Label(name) => format!("label:{name}"),
            })
            .collect::<Vec<_>>()
            .join("|");
        Ok(Self { text, parts })
    }

    /// The normalized template text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The correlation key of one alert, e.g. `web01|HighCPU`; a missing label
    /// renders as an empty part.
    pub fn render(
        &self,
        asset: &AssetName,
        signature: &AlertSignature,
        tool_source: &ToolSource,
        severity: Severity,
        labels: &Labels,
    ) -> String {
        self.render_parts(
            asset.as_str(),
            signature.as_str(),
            tool_source.as_str(),
            severity,
            labels,
        )
    }

    /// The (field, value) pairs a key rendered by this template stands for
    /// (`asset`, `signature`, `source`, `severity` or a label name), when the
    /// key splits into exactly this template's parts; a silence matches them.
    pub fn fields_of(&self, key: &str) -> Option<Vec<(String, String)>> {
        let values: Vec<&str> = key.split('|').collect();
        if values.len() != self.parts.len() {
            return None;
        }
        Some(
            self.parts
                .iter()
                .zip(values)
                .map(|(part, value)| {
                    let name = match part {
                        KeyPart::Asset => "asset".to_owned(),
                        KeyPart::Signature => "signature".to_owned(),
                        KeyPart::Source => "source".to_owned(),
                        KeyPart::Severity => "severity".to_owned(),
                        KeyPart::Label(name) => name.clone(),
                    };
                    (name, value.to_owned())
                })
                .collect(),
        )
    }

    /// [`Self::render`] from the values as stored text (an alert the
    /// correlator held back keeps them so).
    pub fn render_parts(
        &self,
        asset: &str,
        signature: &str,
        tool_source: &str,
        severity: Severity,
        labels: &Labels,
    ) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                KeyPart::Asset => asset,
                KeyPart::Signature => signature,
                KeyPart::Source => tool_source,
                KeyPart::Severity => severity.as_str(),
                KeyPart::Label(name) => labels.get(name).unwrap_or(""),
            })
            .collect::<Vec<_>>()
            .join("|")
    }
}

impl Default for AggregationKeyTemplate {
    fn default() -> Self {
        Self {
            text: "asset|signature".to_owned(),
            parts: vec![KeyPart::Asset, KeyPart::Signature],
        }
    }
}

string_conversions!(AggregationKeyTemplate);

/// How a tenant's alerts are grouped into incidents. A change affects only
/// alerts correlated afterwards; recorded decisions are never recomputed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "CorrelationPolicyFields", into = "CorrelationPolicyFields")]
pub struct CorrelationPolicy {
    time_window_minutes: u32,
    aggregation_key: AggregationKeyTemplate,
    auto_correlate: bool,
    min_alerts: u32,
    auto_resolve: bool,
}

/// The serialized form of [`CorrelationPolicy`]; missing fields take the defaults.
#[derive(Serialize, Deserialize)]
struct CorrelationPolicyFields {
    #[serde(default = "default_window")]
    time_window_minutes: u32,
    #[serde(default)]
    aggregation_key: AggregationKeyTemplate,
    #[serde(default = "default_true")]
    auto_correlate: bool,
    #[serde(default = "default_min_alerts")]
    min_alerts: u32,
    #[serde(default)]
    auto_resolve: bool,
}

fn default_window() -> u32 {
    15
}

fn default_true() -> bool {
    true
}

fn default_min_alerts() -> u32 {
    1
}

impl CorrelationPolicy {
    /// Checks the window (1..=10,080 minutes, one week) and `min_alerts >= 1`.
    pub fn new(
        time_window_minutes: u32,
        aggregation_key: AggregationKeyTemplate,
        auto_correlate: bool,
        min_alerts: u32,
        auto_resolve: bool,
    ) -> Result<Self, ValueError> {
        if !(1..=10_080).contains(&time_window_minutes) {
            return Err(ValueError::new(
                "time_window_minutes",
                "must be between 1 and 10080 (one week)",
            ));
        }
        if min_alerts < 1 {
            return Err(ValueError::new("min_alerts", "must be at least 1"));
        }
        Ok(Self {
            time_window_minutes,
            aggregation_key,
            auto_correlate,
            min_alerts,
            auto_resolve,
        })
    }

    /// How far back an open incident still takes new alerts with its key.
    pub fn time_window_minutes(&self) -> u32 {
        self.time_window_minutes
    }

    /// Which fields form the correlation key.
    pub fn aggregation_key(&self) -> &AggregationKeyTemplate {
        &self.aggregation_key
    }

    /// Whether alerts are correlated as they arrive (otherwise only on request).
    pub fn auto_correlate(&self) -> bool {
        self.auto_correlate
    }

    /// How many alerts with one key it takes to open an incident.
    pub fn min_alerts(&self) -> u32 {
        self.min_alerts
    }

    /// Whether an incident resolves itself once all its alerts are resolved at the source.
    pub fn auto_resolve(&self) -> bool {
        self.auto_resolve
    }
}

impl Default for CorrelationPolicy {
    fn default() -> Self {
        Self {
            time_window_minutes: default_window(),
            aggregation_key: AggregationKeyTemplate::default(),
            auto_correlate: true,
            min_alerts: default_min_alerts(),
            auto_resolve: false,
        }
    }
}

impl TryFrom<CorrelationPolicyFields> for CorrelationPolicy {
    type Error = ValueError;

    fn try_from(fields: CorrelationPolicyFields) -> Result<Self, Self::Error> {
        Self::new(
            fields.time_window_minutes,
            fields.aggregation_key,
            fields.auto_correlate,
            fields.min_alerts,
            fields.auto_resolve,
        )
    }
}

impl From<CorrelationPolicy> for CorrelationPolicyFields {
    fn from(policy: CorrelationPolicy) -> Self {
        Self {
            time_window_minutes: policy.time_window_minutes,
            aggregation_key: policy.aggregation_key,
            auto_correlate: policy.auto_correlate,
            min_alerts: policy.min_alerts,
            auto_resolve: policy.auto_resolve,
        }
    }
}

/// When an alert key counts as flapping: its alerts switched between firing
/// and resolved more than `changes` times within `window_minutes`. While it
/// flaps, its incident notifies nobody; it ends once the key has been stable
/// for `window_minutes`. A change affects later decisions only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "FlappingPolicyFields", into = "FlappingPolicyFields")]
pub struct FlappingPolicy {
    changes: u32,
    window_minutes: u32,
}

/// The serialized form of [`FlappingPolicy`]; missing fields take the defaults.
#[derive(Serialize, Deserialize)]
struct FlappingPolicyFields {
    #[serde(default = "default_flapping_changes")]
    changes: u32,
    #[serde(default = "default_window")]
    window_minutes: u32,
}

fn default_flapping_changes() -> u32 {
    5
}

impl FlappingPolicy {
    /// Checks `changes` (1..=1,000) and `window_minutes` (1..=1,440, one day).
    pub fn new(changes: u32, window_minutes: u32) -> Result<Self, ValueError> {
        if !(1..=1_000).contains(&changes) {
            return Err(ValueError::new("changes", "must be between 1 and 1000"));
        }
        if !(1..=1_440).contains(&window_minutes) {
            return Err(ValueError::new(
                "window_minutes",
                "must be between 1 and 1440 (one day)",
            ));
        }
        Ok(Self {
            changes,
            window_minutes,
        })
    }

    /// How many state changes inside the window are still not flapping.
    pub fn changes(&self) -> u32 {
        self.changes
    }

    /// The window changes are counted in, and how long a key must stay
    /// stable for its flapping to end.
    pub fn window_minutes(&self) -> u32 {
        self.window_minutes
    }

    /// [`Self::window_minutes`] as a duration.
    pub fn window(&self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.window_minutes))
    }
}

impl Default for FlappingPolicy {
    fn default() -> Self {
        Self {
            changes: default_flapping_changes(),
            window_minutes: default_window(),
        }
    }
}

impl TryFrom<FlappingPolicyFields> for FlappingPolicy {
    type Error = ValueError;

    fn try_from(fields: FlappingPolicyFields) -> Result<Self, Self::Error> {
        Self::new(fields.changes, fields.window_minutes)
    }
}

impl From<FlappingPolicy> for FlappingPolicyFields {
    fn from(policy: FlappingPolicy) -> Self {
        Self {
            changes: policy.changes,
            window_minutes: policy.window_minutes,
        }
    }
}

/// A tenant's webhook rate limit (token bucket): refill per minute and burst size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RateLimitFields", into = "RateLimitFields")]
pub struct RateLimit {
    requests_per_minute: u32,
    burst: u32,
}

/// The serialized form of [`RateLimit`].
#[derive(Clone, Copy, Serialize, Deserialize)]
struct RateLimitFields {
    requests_per_minute: u32,
    burst: u32,
}

const MAX_RATE: u32 = 1_000_000;

impl RateLimit {
    /// Checks both numbers are in 1..=1,000,000.
    pub fn new(requests_per_minute: u32, burst: u32) -> Result<Self, ValueError> {
        if !(1..=MAX_RATE).contains(&requests_per_minute) {
            return Err(ValueError::new(
                "requests_per_minute",
                "must be between 1 and 1000000",
            ));
        }
        if !(1..=MAX_RATE).contains(&burst) {
            return Err(ValueError::new("burst", "must be between 1 and 1000000"));
        }
        Ok(Self {
            requests_per_minute,
            burst,
        })
    }

    /// Sustained requests allowed per minute.
    pub fn requests_per_minute(&self) -> u32 {
        self.requests_per_minute
    }

    /// Requests allowed at once after a quiet period.
    pub fn burst(&self) -> u32 {
        self.burst
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            requests_per_minute: 600,
            burst: 1000,
        }
    }
}

impl TryFrom<RateLimitFields> for RateLimit {
    type Error = ValueError;

    fn try_from(fields: RateLimitFields) -> Result<Self, Self::Error> {
        Self::new(fields.requests_per_minute, fields.burst)
    }
}

impl From<RateLimit> for RateLimitFields {
    fn from(limit: RateLimit) -> Self {
        Self {
            requests_per_minute: limit.requests_per_minute,
            burst: limit.burst,
        }
    }
}
