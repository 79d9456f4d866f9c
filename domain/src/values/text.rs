//! Text value types: names, keys and free text, each with its length and
//! character rules.

use serde::{Deserialize, Serialize};

use super::{string_conversions, ValueError};

/// The rules one text type follows.
struct TextRule {
    field: &'static str,
    min: usize,
    max: usize,
    /// Strip surrounding whitespace before checking and storing.
    trim: bool,
    /// Allow newlines and tabs (free text); other control characters are never allowed.
    multiline: bool,
}

fn check_text(rule: &TextRule, raw: &str) -> Result<String, ValueError> {
    let value = if rule.trim { raw.trim() } else { raw };
    let len = value.chars().count();
    if rule.min > 0 && value.trim().is_empty() {
        return Err(ValueError::new(rule.field, "must not be empty"));
    }
    if len < rule.min {
        return Err(ValueError::new(
            rule.field,
            format!("must be at least {} characters", rule.min),
        ));
    }
    if len > rule.max {
        return Err(ValueError::new(
            rule.field,
            format!("must be at most {} characters, got {len}", rule.max),
        ));
    }
    let allowed_control = |c: char| rule.multiline && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed_control(c)) {
        return Err(ValueError::new(
            rule.field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, $rule:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks the raw text and builds the value.
            pub fn parse(raw: &str) -> Result<Self, ValueError> {
                check_text(&$rule, raw).map(Self)
            }

            /// The checked text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        string_conversions!($name);
    };
}

text_value!(
    /// The monitored host or service an alert is about (1..=255 characters, trimmed).
    AssetName,
    TextRule { field: "asset_name", min: 1, max: 255, trim: true, multiline: false }
);
text_value!(
    /// What fired (the alert's name, e.g. `HighCPU`); with the asset it keys correlation.
    AlertSignature,
    TextRule { field: "signature", min: 1, max: 255, trim: true, multiline: false }
);
text_value!(
    /// A runbook's display name (1..=200 characters, trimmed).
    RunbookName,
    TextRule { field: "name", min: 1, max: 200, trim: true, multiline: false }
);
text_value!(
    /// The identity of one webhook delivery; kept exactly as sent because it
    /// derives the alert id (1..=255 printable characters).
    DeliveryKey,
    TextRule { field: "delivery_key", min: 1, max: 255, trim: false, multiline: false }
);
text_value!(
    /// A tenant's display name (1..=200 characters, trimmed).
    TenantName,
    TextRule { field: "name", min: 1, max: 200, trim: true, multiline: false }
);
text_value!(
    /// The source tool's own identity of an alert (e.g. Alertmanager's fingerprint).
    Fingerprint,
    TextRule { field: "fingerprint", min: 1, max: 128, trim: false, multiline: false }
);
text_value!(
    /// A person's stable id (the JWT `sub`), kept exactly as issued.
    UserId,
    TextRule { field: "user_id", min: 1, max: 200, trim: false, multiline: false }
);
text_value!(
    /// Free text written by a person: comments, notes, reasons (1..=10,000 characters).
    Note,
    TextRule { field: "note", min: 1, max: 10_000, trim: true, multiline: true }
);
text_value!(
    /// An alert's message body as the tool sent it (may be empty, at most 10,000 characters).
    AlertMessage,
    TextRule { field: "message", min: 0, max: 10_000, trim: false, multiline: true }
);
text_value!(
    /// A human label for an API key, so admins know which tool uses it (1..=200 characters).
    ApiKeyLabel,
    TextRule { field: "label", min: 1, max: 200, trim: true, multiline: false }
);

/// The monitoring tool that reported an alert (e.g. `prometheus`); lowercased,
/// 1..=64 of `a-z 0-9 - _`, so "two tools report it" compares reliably.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ToolSource(String);

impl ToolSource {
    /// Trims and lowercases, then checks the characters.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        const FIELD: &str = "tool_source";
        let value = raw.trim().to_lowercase();
        if value.is_empty() {
            return Err(ValueError::new(FIELD, "must not be empty"));
        }
        if value.chars().count() > 64 {
            return Err(ValueError::new(FIELD, "must be at most 64 characters"));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(ValueError::new(
                FIELD,
                "may contain only letters a-z, digits, '-' and '_'",
            ));
        }
        Ok(Self(value))
    }

    /// The normalized tool name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_conversions!(ToolSource);

/// A tenant's short URL-safe name: 1..=63 of `a-z 0-9 -`, not starting or
/// ending with `-` (a DNS label, so it can name subdomains or buckets later).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantSlug(String);

impl TenantSlug {
    /// Checks the slug exactly as given (no case folding: a slug is an identity).
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        const FIELD: &str = "slug";
        if raw.is_empty() {
            return Err(ValueError::new(FIELD, "must not be empty"));
        }
        if raw.len() > 63 {
            return Err(ValueError::new(FIELD, "must be at most 63 characters"));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(ValueError::new(
                FIELD,
                "may contain only lowercase letters a-z, digits and '-'",
            ));
        }
        if raw.starts_with('-') || raw.ends_with('-') {
            return Err(ValueError::new(FIELD, "must not start or end with '-'"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_conversions!(TenantSlug);

/// The SHA-256 of an API key as 64 lowercase hex characters. Only the hash is
/// ever recorded: the plaintext key never enters the domain or the event log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApiKeyHash(String);

impl ApiKeyHash {
    /// Checks for exactly 64 lowercase hex characters.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let is_hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        if raw.len() != 64 || !raw.chars().all(is_hex) {
            return Err(ValueError::new(
                "key_hash",
                "must be a SHA-256 digest as 64 lowercase hex characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_conversions!(ApiKeyHash);
