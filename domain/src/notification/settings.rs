//! Channel types and the non-secret part of their configuration, as the log
//! records it. The API's parser (crate `alertledger-notify`) builds these
//! after checking every URL and address; here they are plain values.

use serde::{Deserialize, Serialize};

use crate::values::ValueError;

/// The longest channel name, in characters.
pub const MAX_CHANNEL_NAME_CHARS: usize = 100;

/// How a channel reaches people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelType {
    Slack,
    Teams,
    Email,
    Webhook,
    Pagerduty,
}

impl ChannelType {
    /// Every type, in API.md's order.
    pub const ALL: [ChannelType; 5] = [
        Self::Slack,
        Self::Teams,
        Self::Email,
        Self::Webhook,
        Self::Pagerduty,
    ];

    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Teams => "teams",
            Self::Email => "email",
            Self::Webhook => "webhook",
            Self::Pagerduty => "pagerduty",
        }
    }

    /// Reads the API's spelling.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == raw)
            .ok_or_else(|| {
                ValueError::new(
                    "type",
                    "must be one of slack, teams, email, webhook, pagerduty",
                )
            })
    }
}

impl std::fmt::Display for ChannelType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A channel's display name: 1 to 100 characters, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChannelName(String);

impl ChannelName {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ValueError::new("name", "must not be empty"));
        }
        if trimmed.chars().count() > MAX_CHANNEL_NAME_CHARS {
            return Err(ValueError::new(
                "name",
                format!("must be at most {MAX_CHANNEL_NAME_CHARS} characters"),
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ValueError::new(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ChannelName {
    type Error = ValueError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<ChannelName> for String {
    fn from(name: ChannelName) -> Self {
        name.0
    }
}

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain text (a relay on a trusted network, or a test sink).
    None,
    /// Plain connection upgraded with STARTTLS (required, not opportunistic).
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Implicit,
}

/// What may be shown and recorded of a channel's configuration. URLs carry
/// their credentials in the path (Slack, Teams), so only the host is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChannelSettings {
    Slack {
        url_host: String,
    },
    Teams {
        url_host: String,
    },
    Email {
        smtp_host: String,
        smtp_port: u16,
        tls: SmtpTls,
        username: Option<String>,
        from: String,
        to: Vec<String>,
    },
    Webhook {
        url_host: String,
    },
    Pagerduty {
        /// The host of an overriding Events API URL, if one was given.
        url_host: Option<String>,
    },
}

impl ChannelSettings {
    /// The channel's type.
    pub fn channel_type(&self) -> ChannelType {
        match self {
            Self::Slack { .. } => ChannelType::Slack,
            Self::Teams { .. } => ChannelType::Teams,
            Self::Email { .. } => ChannelType::Email,
            Self::Webhook { .. } => ChannelType::Webhook,
            Self::Pagerduty { .. } => ChannelType::Pagerduty,
        }
    }
}
