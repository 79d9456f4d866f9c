//! What a notification says, whatever the channel: the incident's facts and
//! why people are told. Each sender renders it in its receiver's dialect.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why people are told (API.md rule `events`, plus the channel test).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    IncidentOpened,
    IncidentEscalated,
    IncidentReopened,
    IncidentResolved,
    /// Not a rule event: PagerDuty channels follow acknowledgements.
    IncidentAcknowledged,
    ApprovalRequested,
    ExecutionFailed,
    /// `POST .../notification-channels/{id}/test`.
    Test,
}

impl NotificationKind {
    /// A short human heading.
    pub fn headline(self) -> &'static str {
        match self {
            Self::IncidentOpened => "Incident opened",
            Self::IncidentEscalated => "Incident escalated",
            Self::IncidentReopened => "Incident reopened",
            Self::IncidentResolved => "Incident resolved",
            Self::IncidentAcknowledged => "Incident acknowledged",
            Self::ApprovalRequested => "Approval requested",
            Self::ExecutionFailed => "Runbook execution failed",
            Self::Test => "Test notification",
        }
    }

    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IncidentOpened => "incident_opened",
            Self::IncidentEscalated => "incident_escalated",
            Self::IncidentReopened => "incident_reopened",
            Self::IncidentResolved => "incident_resolved",
            Self::IncidentAcknowledged => "incident_acknowledged",
            Self::ApprovalRequested => "approval_requested",
            Self::ExecutionFailed => "execution_failed",
            Self::Test => "test",
        }
    }
}

/// One message to send on one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The notification's id: the idempotency key receivers see
    /// (`webhook-id`), stable across retries and restarts.
    pub id: Uuid,
    pub kind: NotificationKind,
    pub tenant_id: Uuid,
    pub incident_id: Uuid,
    pub title: String,
    /// `critical`, `high`, `medium` or `low`.
    pub severity: String,
    pub priority: Option<i64>,
    pub asset: String,
    pub signature: String,
    /// The incident's status as people read it (`new`, `resolved`, ...).
    pub status: String,
    /// Where a person opens the incident.
    pub link: Option<String>,
    /// Why (an escalation's reason, a failed execution's error).
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
    /// Summaries of messages held back by storm coalescing since the last one.
    pub held_back: Vec<String>,
}

impl Notification {
    /// `[CRITICAL] Incident opened: disk full on srv-db-01`.
    pub fn subject(&self) -> String {
        format!(
            "[{}] {}: {}",
            self.severity.to_uppercase(),
            self.kind.headline(),
            self.title
        )
    }

    /// The plain-text body shared by email and fallbacks.
    pub fn plain_text(&self) -> String {
        let mut text = format!(
            "{}\n\nSeverity: {}\nPriority: {}\nAsset: {}\nSignature: {}\nStatus: {}\nIncident: {}\n",
            self.subject(),
            self.severity,
            self.priority.map_or("-".to_owned(), |p| p.to_string()),
            self.asset,
            self.signature,
            self.status,
            self.incident_id,
        );
        if let Some(reason) = &self.reason {
            text.push_str(&format!("Reason: {reason}\n"));
        }
        if let Some(link) = &self.link {
            text.push_str(&format!("Open: {link}\n"));
        }
        if !self.held_back.is_empty() {
            text.push_str(&format!(
                "\nAlso since the last message ({}):\n",
                self.held_back.len()
            ));
            for line in &self.held_back {
                text.push_str(&format!("- {line}\n"));
            }
        }
        text
    }

    /// A one-line summary (digests, Slack's fallback text).
    pub fn summary(&self) -> String {
        format!(
            "{} ({}) on {}: {}",
            self.kind.headline(),
            self.severity,
            self.asset,
            self.title
        )
    }

    /// A sample for channel tests.
    pub fn test_message(tenant_id: Uuid, at: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::now_v7(),
            kind: NotificationKind::Test,
            tenant_id,
            incident_id: Uuid::nil(),
            title: "alertledger test notification".to_owned(),
            severity: "low".to_owned(),
            priority: None,
            asset: "alertledger".to_owned(),
            signature: "notification_test".to_owned(),
            status: "test".to_owned(),
            link: None,
            reason: Some("sent from POST .../notification-channels/{id}/test".to_owned()),
            at,
            held_back: Vec::new(),
        }
    }
}
