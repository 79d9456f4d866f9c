//! Slack incoming webhooks: a Block Kit message with the severity, priority,
//! asset and a button to the incident, and `text` as the notification
//! fallback Slack requires.

use alertledger_domain::notification::{ChannelSettings, ChannelType};
use async_trait::async_trait;
use serde_json::{json, Value};

use super::{misconfigured, Accepted, AttemptError, ChannelSender, OutboundHttp};
use crate::message::Notification;
use crate::secret::ChannelSecret;

pub struct SlackSender {
    http: OutboundHttp,
}

impl SlackSender {
    pub fn new(http: OutboundHttp) -> Self {
        Self { http }
    }
}

/// The Block Kit body.
pub fn body(notification: &Notification) -> Value {
    let field =
        |label: &str, value: &str| json!({"type": "mrkdwn", "text": format!("*{label}*\n{value}")});
    let priority = notification
        .priority
        .map_or_else(|| "-".to_owned(), |p| p.to_string());
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&notification.subject(), 150)}}),
        json!({"type": "section", "fields": [
            field("Severity", &notification.severity),
            field("Priority", &priority),
            field("Asset", &notification.asset),
            field("Status", &notification.status),
        ]}),
    ];
    if let Some(reason) = &notification.reason {
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(reason, 2900)}}),
        );
    }
    if !notification.held_back.is_empty() {
        let digest = notification
            .held_back
            .iter()
            .map(|line| format!("• {line}"))
            .collect::<Vec<_>>()
            .join("\n");
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(&format!("Also since the last message:\n{digest}"), 2900)}]}));
    }
    if let Some(link) = &notification.link {
        blocks.push(json!({"type": "actions", "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": "Open incident"},
            "url": link,
        }]}));
    }
    json!({ "text": notification.summary(), "blocks": blocks })
}

/// Slack refuses over-long block texts; cut on a character boundary.
fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[async_trait]
impl ChannelSender for SlackSender {
    async fn send(
        &self,
        notification: &Notification,
        _settings: &ChannelSettings,
        secret: &ChannelSecret,
    ) -> Result<Accepted, AttemptError> {
        let ChannelSecret::Slack { url } = secret else {
            return Err(misconfigured(ChannelType::Slack));
        };
        self.http.post_json(url, &[], &body(notification)).await
    }
}
