//! Matchers in Alertmanager's syntax (`name="value"`, `!=`, `=~`, `!~`), on
//! an alert's asset, signature, severity, source tool or one of its labels.
//!
//! As in Alertmanager, a regular expression is anchored at both ends and a
//! label the alert lacks compares as the empty string. Patterns are compiled
//! once, when parsed, under a size limit so a hostile pattern cannot make the
//! correlator slow (the `regex` crate runs in linear time; the limit bounds
//! its memory).

use std::fmt;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::values::{Labels, Severity};

/// Longest matcher accepted, in characters.
pub const MAX_MATCHER_CHARS: usize = 1024;

/// Most compiled program size of one pattern (bytes, the `regex` crate's measure).
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            Self::Equal => "=",
            Self::NotEqual => "!=",
            Self::Regex => "=~",
            Self::NotRegex => "!~",
        }
    }
}

/// What an alert is matched on.
#[derive(Debug, Clone, Copy)]
pub struct AlertFacts<'a> {
    pub asset: &'a str,
    pub signature: &'a str,
    pub severity: Severity,
    pub source: &'a str,
    pub labels: &'a Labels,
}

/// One parsed matcher; kept as written (its `Display`) in events.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

/// Why a matcher could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MatcherError(String);

impl Matcher {
    /// Parses `name op value`; the value may be double-quoted (with `\"` and
    /// `\\` escapes) or bare, as Alertmanager accepts both.
    pub fn parse(raw: &str) -> Result<Self, MatcherError> {
        if raw.chars().count() > MAX_MATCHER_CHARS {
            return Err(MatcherError(format!(
                "a matcher has at most {MAX_MATCHER_CHARS} characters"
            )));
        }
        let raw = raw.trim();
        let name_end = raw
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(raw.len());
        let name = &raw[..name_end];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(MatcherError(format!(
                "`{raw}` must start with a label name (asset, signature, severity, source or a label)"
            )));
        }
        let rest = raw[name_end..].trim_start();
        let (op, rest) = [
            ("=~", MatchOp::Regex),
            ("!~", MatchOp::NotRegex),
            ("!=", MatchOp::NotEqual),
            ("=", MatchOp::Equal),
        ]
        .iter()
        .find_map(|(text, op)| rest.strip_prefix(text).map(|rest| (*op, rest)))
        .ok_or_else(|| {
            MatcherError(format!(
                "`{raw}` needs one of the operators =, !=, =~, !~ after `{name}`"
            ))
        })?;
        let value = unquote(rest.trim())
            .ok_or_else(|| MatcherError(format!("`{raw}` has an unterminated quoted value")))?;
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                RegexBuilder::new(&format!("^(?:{value})$"))
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|error| {
                        MatcherError(format!(
                            "`{raw}` has an invalid regular expression: {error}"
                        ))
                    })?,
            ),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Self {
            name: name.to_owned(),
            op,
            value,
            regex,
        })
    }

    /// Whether the alert satisfies this matcher.
    pub fn matches(&self, alert: &AlertFacts<'_>) -> bool {
        let actual = match self.name.as_str() {
            "asset" => alert.asset,
            "signature" => alert.signature,
            "severity" => alert.severity.as_str(),
            "source" => alert.source,
            label => alert.labels.get(label).unwrap_or(""),
        };
        match (&self.op, &self.regex) {
            (MatchOp::Equal, _) => actual == self.value,
            (MatchOp::NotEqual, _) => actual != self.value,
            (MatchOp::Regex, Some(regex)) => regex.is_match(actual),
            (MatchOp::NotRegex, Some(regex)) => !regex.is_match(actual),
            // Parsing always compiles the pattern of a regex operator.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }

    /// A matcher `name="value"` (used for silences from an incident's key).
    pub fn equal(name: &str, value: &str) -> Result<Self, MatcherError> {
        Self::parse(&format!("{name}={}", quote(value)))
    }
}

fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The value of a matcher: a double-quoted string with escapes, or bare text.
fn unquote(raw: &str) -> Option<String> {
    let Some(inner) = raw.strip_prefix('"') else {
        return Some(raw.to_owned());
    };
    let mut value = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            '"' => return chars.as_str().trim().is_empty().then_some(value),
            other => value.push(other),
        }
    }
    None
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.op.as_str(), quote(&self.value))
    }
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}
