//! PagerDuty Events API v2: `trigger` when an incident opens, reopens or
//! escalates, `acknowledge` and `resolve` as the incident follows, always
//! with `dedup_key` = the incident id, so PagerDuty folds every message of
//! one incident into one PagerDuty incident (and a repeated attempt changes
//! nothing). The URL can be overridden per channel (tests, EU endpoint).

use alertledger_domain::notification::{ChannelSettings, ChannelType};
use async_trait::async_trait;
use serde_json::{json, Value};

use super::{misconfigured, Accepted, AttemptError, ChannelSender, OutboundHttp};
use crate::message::{Notification, NotificationKind};
use crate::secret::ChannelSecret;

/// PagerDuty's Events API v2 endpoint.
pub const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

pub struct PagerDutySender {
    http: OutboundHttp,
}

impl PagerDutySender {
    pub fn new(http: OutboundHttp) -> Self {
        Self { http }
    }
}

/// PagerDuty's severities: critical, error, warning, info.
fn severity(ours: &str) -> &'static str {
    match ours {
        "critical" => "critical",
        "high" => "error",
        "medium" => "warning",
        _ => "info",
    }
}

/// The Events API v2 body.
pub fn body(notification: &Notification, routing_key: &str) -> Value {
    let dedup_key = notification.incident_id.to_string();
    let action = match notification.kind {
        NotificationKind::IncidentResolved => "resolve",
        NotificationKind::IncidentAcknowledged => "acknowledge",
        _ => "trigger",
    };
    if action != "trigger" {
        return json!({"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key});
    }
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key,
        "payload": {
            "summary": notification.subject().chars().take(1024).collect::<String>(),
            "source": notification.asset,
            "severity": severity(&notification.severity),
            "timestamp": notification.at.to_rfc3339(),
            "class": notification.signature,
            "custom_details": {
                "priority": notification.priority,
                "status": notification.status,
                "reason": notification.reason,
                "held_back": notification.held_back,
                "notification_id": notification.id,
            },
        },
        "client": "alertledger",
    });
    if let Some(link) = &notification.link {
        event["links"] = json!([{"href": link, "text": "Open incident"}]);
        event["client_url"] = json!(link);
    }
    event
}

#[async_trait]
impl ChannelSender for PagerDutySender {
    async fn send(
        &self,
        notification: &Notification,
        _settings: &ChannelSettings,
        secret: &ChannelSecret,
    ) -> Result<Accepted, AttemptError> {
        let ChannelSecret::Pagerduty { routing_key, url } = secret else {
            return Err(misconfigured(ChannelType::Pagerduty));
        };
        let url = url.as_deref().unwrap_or(EVENTS_URL);
        self.http
            .post_json(url, &[], &body(notification, routing_key))
            .await
    }
}
