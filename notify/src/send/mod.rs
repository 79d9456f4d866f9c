//! One sender per channel type behind [`ChannelSender`], and [`Senders`],
//! which picks the one for a channel. Every sender makes one attempt and
//! reports how it went; retries, backoff and the record of attempts belong
//! to the caller (the notifier), so a sender holds no state.
//!
//! Every outbound call has a timeout and follows no redirect: a redirect
//! could carry a channel's credentials (or a signed body) to a place the
//! tenant never configured.

mod email;
pub mod http;
mod pagerduty;
mod slack;
mod teams;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use alertledger_domain::notification::{ChannelSettings, ChannelType};
use async_trait::async_trait;

use crate::message::Notification;
use crate::secret::ChannelSecret;

pub use http::OutboundHttp;

/// How long one attempt may take, connection included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a receiver answered to a successful attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The HTTP status, or the SMTP reply code.
    pub code: u16,
}

/// Why an attempt failed, and whether another attempt may succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptError {
    /// The receiver answered with a status that is not success.
    #[error("the receiver answered {code}")]
    Status { code: u16 },
    /// The receiver refused the message for good (an SMTP 5xx reply).
    #[error("the receiver refused the message ({code})")]
    Rejected { code: u16 },
    /// No answer: connection refused, timeout, TLS failure, SMTP dialogue.
    #[error("{0}")]
    Transport(String),
    /// The channel's settings and secret do not fit together (e.g. a
    /// Slack secret for an email channel): no retry can help.
    #[error("{0}")]
    Misconfigured(String),
}

impl AttemptError {
    /// Whether to try again: server errors, 408, 429 and transport failures
    /// are transient; other 4xx mean the receiver refuses this message.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status { code } => *code >= 500 || *code == 408 || *code == 429,
            Self::Transport(_) => true,
            Self::Rejected { .. } | Self::Misconfigured(_) => false,
        }
    }

    /// The status code, if the receiver answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            Self::Status { code } | Self::Rejected { code } => Some(*code),
            _ => None,
        }
    }
}

/// Sends one notification through one channel of one type.
#[async_trait]
pub trait ChannelSender: Send + Sync {
    async fn send(
        &self,
        notification: &Notification,
        settings: &ChannelSettings,
        secret: &ChannelSecret,
    ) -> Result<Accepted, AttemptError>;
}

/// The sender of every channel type.
#[derive(Clone)]
pub struct Senders {
    slack: Arc<dyn ChannelSender>,
    teams: Arc<dyn ChannelSender>,
    email: Arc<dyn ChannelSender>,
    webhook: Arc<dyn ChannelSender>,
    pagerduty: Arc<dyn ChannelSender>,
}

impl Senders {
    /// The real senders, over one HTTP client.
    pub fn new(http: OutboundHttp) -> Self {
        Self {
            slack: Arc::new(slack::SlackSender::new(http.clone())),
            teams: Arc::new(teams::TeamsSender::new(http.clone())),
            email: Arc::new(email::EmailSender),
            webhook: Arc::new(webhook::WebhookSender::new(http.clone())),
            pagerduty: Arc::new(pagerduty::PagerDutySender::new(http)),
        }
    }

    /// Senders with the default HTTP client.
    pub fn standard() -> Result<Self, http::ClientError> {
        Ok(Self::new(OutboundHttp::new()?))
    }

    /// One attempt on the channel described by `settings`.
    pub async fn send(
        &self,
        notification: &Notification,
        settings: &ChannelSettings,
        secret: &ChannelSecret,
    ) -> Result<Accepted, AttemptError> {
        let sender = match settings.channel_type() {
            ChannelType::Slack => &self.slack,
            ChannelType::Teams => &self.teams,
            ChannelType::Email => &self.email,
            ChannelType::Webhook => &self.webhook,
            ChannelType::Pagerduty => &self.pagerduty,
        };
        sender.send(notification, settings, secret).await
    }
}

impl std::fmt::Debug for Senders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Senders(slack, teams, email, webhook, pagerduty)")
    }
}

fn misconfigured(expected: ChannelType) -> AttemptError {
    AttemptError::Misconfigured(format!(
        "the stored secret is not a {expected} channel's secret"
    ))
}
