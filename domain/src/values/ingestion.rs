//! Values of lenient ingestion: the warnings an alert carries when a tool sent
//! something odd that was stored with a default, and a tenant's severity map
//! (its tools' severity words onto our four severities).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Severity, ValueError};

/// Most entries a severity map may hold.
pub const MAX_SEVERITY_MAP_ENTRIES: usize = 200;
/// Longest severity word, in characters.
pub const MAX_SEVERITY_WORD_CHARS: usize = 64;

/// Something odd about an alert as sent, and what was stored instead
/// (e.g. `{"field": "alerts[0].labels.severity", "warning": "unknown severity
/// \"none\"; stored as low"}`). Carried inside `AlertReceived`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NormalizationWarning {
    /// The field of the tool's payload, by its path in the body.
    pub field: String,
    /// What was odd and what was stored instead.
    pub warning: String,
}

impl NormalizationWarning {
    pub fn new(field: impl Into<String>, warning: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            warning: warning.into(),
        }
    }
}

/// A tenant's own severity words: lower-cased, trimmed words (`p1`, `warning`,
/// `none`) onto our severities. Looked up before the built-in words.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, Severity>",
    into = "BTreeMap<String, Severity>"
)]
pub struct SeverityMap(BTreeMap<String, Severity>);

impl SeverityMap {
    /// Keys are compared case-insensitively (stored lower-cased); two keys
    /// that differ only in case are an error, as is an empty or overlong key.
    pub fn new(entries: BTreeMap<String, Severity>) -> Result<Self, ValueError> {
        const FIELD: &str = "severity_map";
        if entries.len() > MAX_SEVERITY_MAP_ENTRIES {
            return Err(ValueError::new(
                FIELD,
                format!("must have at most {MAX_SEVERITY_MAP_ENTRIES} entries"),
            ));
        }
        let mut map = BTreeMap::new();
        for (key, severity) in entries {
            let word = Self::word(&key);
            if word.is_empty() || word.chars().count() > MAX_SEVERITY_WORD_CHARS {
                return Err(ValueError::new(
                    FIELD,
                    format!("key {key:?} must be 1..={MAX_SEVERITY_WORD_CHARS} characters"),
                ));
            }
            if word.chars().any(char::is_control) {
                return Err(ValueError::new(
                    FIELD,
                    format!("key {key:?} holds a control character"),
                ));
            }
            if map.insert(word, severity).is_some() {
                return Err(ValueError::new(
                    FIELD,
                    format!("key {key:?} appears twice (keys are case-insensitive)"),
                ));
            }
        }
        Ok(Self(map))
    }

    /// The severity the tenant gave `raw`, if any.
    pub fn get(&self, raw: &str) -> Option<Severity> {
        self.0.get(&Self::word(raw)).copied()
    }

    /// The entries, lower-cased, in key order.
    pub fn entries(&self) -> &BTreeMap<String, Severity> {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn word(raw: &str) -> String {
        raw.trim().to_lowercase()
    }
}

impl TryFrom<BTreeMap<String, Severity>> for SeverityMap {
    type Error = ValueError;

    fn try_from(entries: BTreeMap<String, Severity>) -> Result<Self, Self::Error> {
        Self::new(entries)
    }
}

impl From<SeverityMap> for BTreeMap<String, Severity> {
    fn from(map: SeverityMap) -> Self {
        map.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_and_clashes_are_refused() {
        let map = SeverityMap::new(BTreeMap::from([("P1".into(), Severity::Critical)])).unwrap();
        assert_eq!(map.get(" p1 "), Some(Severity::Critical));
        assert_eq!(map.get("P2"), None);
        let clash = BTreeMap::from([
            ("P1".into(), Severity::Critical),
            ("p1".into(), Severity::Low),
        ]);
        assert!(SeverityMap::new(clash).is_err());
        assert!(SeverityMap::new(BTreeMap::from([(" ".into(), Severity::Low)])).is_err());
    }
}
