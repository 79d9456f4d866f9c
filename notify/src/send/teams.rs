//! Microsoft Teams (incoming webhook or Workflows URL): an Adaptive Card in
//! the `message` envelope both accept.

use alertledger_domain::notification::{ChannelSettings, ChannelType};
use async_trait::async_trait;
use serde_json::{json, Value};

use super::{misconfigured, Accepted, AttemptError, ChannelSender, OutboundHttp};
use crate::message::Notification;
use crate::secret::ChannelSecret;

pub struct TeamsSender {
    http: OutboundHttp,
}

impl TeamsSender {
    pub fn new(http: OutboundHttp) -> Self {
        Self { http }
    }
}

/// The Adaptive Card message.
pub fn body(notification: &Notification) -> Value {
    let priority = notification
        .priority
        .map_or_else(|| "-".to_owned(), |p| p.to_string());
    let mut card_body = vec![
        json!({"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": true,
               "text": notification.subject(),
               "color": if notification.severity == "critical" { "Attention" } else { "Default" }}),
        json!({"type": "FactSet", "facts": [
            {"title": "Severity", "value": notification.severity},
            {"title": "Priority", "value": priority},
            {"title": "Asset", "value": notification.asset},
            {"title": "Signature", "value": notification.signature},
            {"title": "Status", "value": notification.status},
        ]}),
    ];
    if let Some(reason) = &notification.reason {
        card_body.push(json!({"type": "TextBlock", "wrap": true, "text": reason}));
    }
    if !notification.held_back.is_empty() {
        card_body.push(json!({"type": "TextBlock", "wrap": true, "isSubtle": true,
            "text": format!("Also since the last message: {}", notification.held_back.join("; "))}));
    }
    let actions: Vec<Value> = notification
        .link
        .iter()
        .map(|link| json!({"type": "Action.OpenUrl", "title": "Open incident", "url": link}))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": card_body,
                "actions": actions,
            },
        }],
    })
}

#[async_trait]
impl ChannelSender for TeamsSender {
    async fn send(
        &self,
        notification: &Notification,
        _settings: &ChannelSettings,
        secret: &ChannelSecret,
    ) -> Result<Accepted, AttemptError> {
        let ChannelSecret::Teams { url } = secret else {
            return Err(misconfigured(ChannelType::Teams));
        };
        self.http.post_json(url, &[], &body(notification)).await
    }
}
