//! The secret half of a channel's configuration. Serialized only to be
//! sealed (`cipher`); `Debug` prints none of it.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

/// Length of a webhook channel's signing key in bytes (Standard Webhooks).
pub const SIGNING_KEY_LEN: usize = 32;

/// Standard Webhooks' prefix of a secret shown to people.
pub const SIGNING_SECRET_PREFIX: &str = "whsec_";

/// What a sender needs and nobody may see again after creation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChannelSecret {
    /// The incoming-webhook URL (its path is the credential).
    Slack { url: String },
    /// The incoming-webhook or workflow URL.
    Teams { url: String },
    /// The SMTP password, if the server asks for authentication.
    Email { password: Option<String> },
    /// The receiver's URL and the key that signs each request.
    Webhook { url: String, signing_key: String },
    /// The integration's routing key, and an Events API URL override.
    Pagerduty {
        routing_key: String,
        url: Option<String>,
    },
}

impl ChannelSecret {
    /// A fresh random signing key, as base64 (how it is sealed).
    pub fn generate_signing_key() -> String {
        let mut bytes = [0_u8; SIGNING_KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let encoded = STANDARD.encode(bytes);
        bytes.zeroize();
        encoded
    }

    /// The signing secret as shown once at creation: `whsec_<base64>`.
    pub fn signing_secret_display(&self) -> Option<String> {
        match self {
            Self::Webhook { signing_key, .. } => {
                Some(format!("{SIGNING_SECRET_PREFIX}{signing_key}"))
            }
            _ => None,
        }
    }
}

impl fmt::Debug for ChannelSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChannelSecret(<redacted>)")
    }
}

impl Drop for ChannelSecret {
    fn drop(&mut self) {
        match self {
            Self::Slack { url } | Self::Teams { url } => url.zeroize(),
            Self::Email { password } => password.zeroize(),
            Self::Webhook { url, signing_key } => {
                url.zeroize();
                signing_key.zeroize();
            }
            Self::Pagerduty { routing_key, url } => {
                routing_key.zeroize();
                url.zeroize();
            }
        }
    }
}
