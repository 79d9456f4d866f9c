//! A heartbeat's name and settings, checked once at the edge.

use serde::{Deserialize, Serialize};

use crate::values::{AssetName, Labels, Severity, ValueError};

/// A heartbeat's name: 1..=128 of `A-Z a-z 0-9 . _ -`, so it is safe in a
/// URL path and can stand in for the asset of the alert it raises.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HeartbeatName(String);

impl HeartbeatName {
    /// The longest name.
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        if raw.is_empty() || raw.len() > Self::MAX_CHARS {
            return Err(ValueError::new(
                "name",
                format!("must be 1 to {} characters", Self::MAX_CHARS),
            ));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(ValueError::new(
                "name",
                "may contain only letters, digits, '.', '_' and '-'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HeartbeatName {
    type Error = ValueError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<HeartbeatName> for String {
    fn from(name: HeartbeatName) -> Self {
        name.0
    }
}

impl std::fmt::Display for HeartbeatName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a heartbeat is expected to do and what its alert says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatSettings {
    /// How long after a beat the next one must come.
    pub timeout_seconds: u32,
    /// The asset of the alert it raises (its name when absent).
    pub asset: Option<AssetName>,
    /// Labels of the alert it raises.
    pub labels: Labels,
    /// The severity of the alert it raises.
    pub severity: Severity,
}

impl HeartbeatSettings {
    /// The shortest timeout: below the checker's poll interval a timeout
    /// would be missed by the poll, not by the source.
    pub const MIN_TIMEOUT_SECONDS: u32 = 5;
    /// The longest timeout (one week).
    pub const MAX_TIMEOUT_SECONDS: u32 = 604_800;
    /// The timeout of a heartbeat registered without one.
    pub const DEFAULT_TIMEOUT_SECONDS: u32 = 300;
    /// The severity of a missed heartbeat's alert unless the beat says otherwise.
    pub const DEFAULT_SEVERITY: Severity = Severity::High;

    /// Checks the timeout's range (the alert's severity is the default;
    /// see [`Self::with_severity`]).
    pub fn new(
        timeout_seconds: u32,
        asset: Option<AssetName>,
        labels: Labels,
    ) -> Result<Self, ValueError> {
        if !(Self::MIN_TIMEOUT_SECONDS..=Self::MAX_TIMEOUT_SECONDS).contains(&timeout_seconds) {
            return Err(ValueError::new(
                "timeout_seconds",
                format!(
                    "must be between {} and {} (one week)",
                    Self::MIN_TIMEOUT_SECONDS,
                    Self::MAX_TIMEOUT_SECONDS
                ),
            ));
        }
        Ok(Self {
            timeout_seconds,
            asset,
            labels,
            severity: Self::DEFAULT_SEVERITY,
        })
    }

    /// The same settings, raising alerts of `severity`.
    pub fn with_severity(self, severity: Severity) -> Self {
        Self { severity, ..self }
    }
}

/// The severity recorded by heartbeat events stored before it was a setting.
pub(crate) fn default_severity() -> Severity {
    HeartbeatSettings::DEFAULT_SEVERITY
}

/// Whether the last beat came in time (API.md: `"ok"` or `"missed"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeartbeatStatus {
    #[default]
    Ok,
    Missed,
}

impl HeartbeatStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Missed => "missed",
        }
    }

    /// Reads a stored status.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "ok" => Some(Self::Ok),
            "missed" => Some(Self::Missed),
            _ => None,
        }
    }
}
