//! An alert's key/value labels.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ValueError;

const MAX_ENTRIES: usize = 64;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 1024;

/// The labels/tags a tool attached to an alert (at most 64; keys 1..=128
/// characters, values up to 1,024), sorted by key so serialization is stable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, String>"
)]
pub struct Labels(BTreeMap<String, String>);

impl Labels {
    /// Checks the size limits of every entry.
    pub fn new(entries: BTreeMap<String, String>) -> Result<Self, ValueError> {
        const FIELD: &str = "labels";
        if entries.len() > MAX_ENTRIES {
            return Err(ValueError::new(
                FIELD,
                format!(
                    "must have at most {MAX_ENTRIES} entries, got {}",
                    entries.len()
                ),
            ));
        }
        for (key, value) in &entries {
            if key.trim().is_empty() {
                return Err(ValueError::new(FIELD, "keys must not be empty"));
            }
            if key.chars().count() > MAX_KEY_CHARS {
                return Err(ValueError::new(
                    FIELD,
                    format!("key {key:?} is longer than {MAX_KEY_CHARS} characters"),
                ));
            }
            if value.chars().count() > MAX_VALUE_CHARS {
                return Err(ValueError::new(
                    FIELD,
                    format!("value of {key:?} is longer than {MAX_VALUE_CHARS} characters"),
                ));
            }
        }
        Ok(Self(entries))
    }

    /// The value of one label, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// All labels in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels as a plain map, for read models.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

impl TryFrom<BTreeMap<String, String>> for Labels {
    type Error = ValueError;

    fn try_from(entries: BTreeMap<String, String>) -> Result<Self, Self::Error> {
        Self::new(entries)
    }
}

impl From<Labels> for BTreeMap<String, String> {
    fn from(labels: Labels) -> Self {
        labels.0
    }
}
