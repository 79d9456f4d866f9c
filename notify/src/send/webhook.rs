//! The generic outgoing webhook: a JSON body ([`WebhookPayload`], in the
//! OpenAPI document) signed with the Standard Webhooks headers:
//! `webhook-id` (the notification id: the same on every retry, so a
//! receiver can drop repeats), `webhook-timestamp` (Unix seconds of the
//! attempt) and `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `<id>.<timestamp>.<body>`, keyed by the channel's signing secret (shown
//! once, as `whsec_<base64>`, when the channel was created).

use alertledger_domain::notification::{ChannelSettings, ChannelType};
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{misconfigured, Accepted, AttemptError, ChannelSender, OutboundHttp};
use crate::message::{Notification, NotificationKind};
use crate::secret::ChannelSecret;

/// The body of every generic webhook request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookPayload<'a> {
    /// Why: `incident_opened`, `incident_escalated`, `incident_reopened`,
    /// `incident_resolved`, `approval_requested`, `execution_failed` or `test`.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "incident_opened")]
    pub kind: NotificationKind,
    /// The notification's id (also `webhook-id`).
    pub id: Uuid,
    /// When the notification was requested.
    pub timestamp: DateTime<Utc>,
    pub data: WebhookIncident<'a>,
}

/// The incident a webhook notification is about.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookIncident<'a> {
    pub tenant_id: Uuid,
    pub incident_id: Uuid,
    pub title: &'a str,
    /// `critical`, `high`, `medium` or `low`.
    pub severity: &'a str,
    pub priority: Option<i64>,
    pub asset: &'a str,
    pub signature: &'a str,
    pub status: &'a str,
    pub link: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// One line per message held back by storm coalescing since the last one.
    pub held_back: &'a [String],
}

impl<'a> WebhookPayload<'a> {
    pub fn of(notification: &'a Notification) -> Self {
        Self {
            kind: notification.kind,
            id: notification.id,
            timestamp: notification.at,
            data: WebhookIncident {
                tenant_id: notification.tenant_id,
                incident_id: notification.incident_id,
                title: &notification.title,
                severity: &notification.severity,
                priority: notification.priority,
                asset: &notification.asset,
                signature: &notification.signature,
                status: &notification.status,
                link: notification.link.as_deref(),
                reason: notification.reason.as_deref(),
                held_back: &notification.held_back,
            },
        }
    }
}

/// `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

pub struct WebhookSender {
    http: OutboundHttp,
}

impl WebhookSender {
    pub fn new(http: OutboundHttp) -> Self {
        Self { http }
    }
}

#[async_trait]
impl ChannelSender for WebhookSender {
    async fn send(
        &self,
        notification: &Notification,
        _settings: &ChannelSettings,
        secret: &ChannelSecret,
    ) -> Result<Accepted, AttemptError> {
        let ChannelSecret::Webhook { url, signing_key } = secret else {
            return Err(misconfigured(ChannelType::Webhook));
        };
        let key = Zeroizing::new(STANDARD.decode(signing_key).map_err(|_| {
            AttemptError::Misconfigured("the stored signing key is not base64".to_owned())
        })?);
        let body = serde_json::to_vec(&WebhookPayload::of(notification))
            .map_err(|e| AttemptError::Misconfigured(format!("cannot encode the body: {e}")))?;
        let id = notification.id.to_string();
        let timestamp = Utc::now().timestamp();
        let headers = [
            ("webhook-id", id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature(&key, &id, timestamp, &body)),
        ];
        self.http.post_bytes(url, &headers, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let key = STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap_or_default();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
