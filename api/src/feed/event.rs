//! One event as the feed sends it: the log event, its feed kind (the
//! WebSocket message type of API.md), and its frames, rendered once.

use std::sync::OnceLock;

use alertledger_domain::alert::AlertEvent;
use alertledger_domain::approval::ApprovalEvent;
use alertledger_domain::change_report::ChangeReportEvent;
use alertledger_domain::delivery::DeliveryEvent;
use alertledger_domain::escalation::{EscalationEvent, EscalationSetupEvent};
use alertledger_domain::execution::ExecutionEvent;
use alertledger_domain::heartbeat::HeartbeatEvent;
use alertledger_domain::incident::IncidentEvent;
use alertledger_domain::maintenance::MaintenanceWindowEvent;
use alertledger_domain::notification::{NotificationDeliveryEvent, NotificationSetupEvent};
use alertledger_domain::quarantine::QuarantineEvent;
use alertledger_domain::runbook::RunbookEvent;
use alertledger_domain::tenant::TenantEvent;
use alertledger_domain::user::UserEvent;
use alertledger_eventstore::log::{LogCursor, LogEvent};
use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use serde::Serialize;

use crate::routes::events::EventView;

/// Each feed kind with the stored event types it covers. `?types=` accepts
/// either spelling; WebSocket messages carry the kind. Every event type of
/// the domain is in exactly one kind or in [`UNNAMED_IN_FEED`] (a test
/// checks both, and that docs/live-feed.md documents no other kind).
pub const FEED_KINDS: &[(&str, &[&str])] = &[
    ("new_alert", &[AlertEvent::RECEIVED]),
    (
        "alert_updated",
        &[
            AlertEvent::ACKNOWLEDGED,
            AlertEvent::CORRELATED,
            AlertEvent::RESOLVED_BY_SOURCE,
            AlertEvent::SUPPRESSED,
            AlertEvent::SUPPRESSION_LIFTED,
        ],
    ),
    ("incident_created", &[IncidentEvent::OPENED]),
    (
        "incident_updated",
        &[
            IncidentEvent::ALERT_ATTACHED,
            IncidentEvent::PRIORITY_CHANGED,
            IncidentEvent::ACKNOWLEDGED,
            IncidentEvent::ASSIGNED,
            IncidentEvent::COMMENTED,
            IncidentEvent::SILENCED,
            IncidentEvent::ESCALATED,
            IncidentEvent::RESOLVED,
            IncidentEvent::REOPENED,
            IncidentEvent::ALERT_RESOLVED,
            IncidentEvent::ALL_ALERTS_RESOLVED,
            IncidentEvent::FLAPPING,
            IncidentEvent::FLAPPING_ENDED,
        ],
    ),
    ("approval_requested", &[ApprovalEvent::REQUESTED]),
    (
        "approval_decided",
        &[
            ApprovalEvent::GRANTED,
            ApprovalEvent::REJECTED,
            ApprovalEvent::EXPIRED,
        ],
    ),
    ("execution_updated", ExecutionEvent::TYPES),
    ("tenant_updated", TenantEvent::TYPES),
    (
        "maintenance_window_updated",
        &[
            MaintenanceWindowEvent::CREATED,
            MaintenanceWindowEvent::CHANGED,
            MaintenanceWindowEvent::DELETED,
            MaintenanceWindowEvent::ENDED,
        ],
    ),
    (
        "maintenance_window_status_changed",
        &[MaintenanceWindowEvent::STATUS_CHANGED],
    ),
    ("escalation_updated", EscalationEvent::TYPES),
    (
        "oncall_schedule_updated",
        EscalationSetupEvent::SCHEDULE_TYPES,
    ),
    (
        "escalation_policy_updated",
        EscalationSetupEvent::POLICY_TYPES,
    ),
    (
        "heartbeat_updated",
        &[
            HeartbeatEvent::REGISTERED,
            HeartbeatEvent::CHANGED,
            HeartbeatEvent::PAUSED,
            HeartbeatEvent::RESUMED,
            HeartbeatEvent::DELETED,
        ],
    ),
    (
        "heartbeat_status_changed",
        &[HeartbeatEvent::MISSED, HeartbeatEvent::RECOVERED],
    ),
    ("notification_updated", NotificationDeliveryEvent::TYPES),
];

/// Event types the feed still delivers, but under the generic kind
/// [`UNNAMED_KIND`] rather than a kind of their own, each with the reason.
pub const UNNAMED_IN_FEED: &[(&str, &str)] = &[
    (RunbookEvent::DEFINED, RUNBOOK_REASON),
    (RunbookEvent::CHANGED, RUNBOOK_REASON),
    (RunbookEvent::RETIRED, RUNBOOK_REASON),
    (
        QuarantineEvent::QUARANTINED,
        "an operator's quarantine of a log event is an operations record for the audit trail \
         and `projections status`; it arrives as kind `event`",
    ),
    (
        NotificationSetupEvent::CHANNEL_ADDED,
        NOTIFICATION_SETUP_REASON,
    ),
    (
        NotificationSetupEvent::CHANNEL_REMOVED,
        NOTIFICATION_SETUP_REASON,
    ),
    (
        NotificationSetupEvent::CHANNEL_UPDATED,
        NOTIFICATION_SETUP_REASON,
    ),
    (
        NotificationSetupEvent::RULE_ADDED,
        NOTIFICATION_SETUP_REASON,
    ),
    (
        NotificationSetupEvent::RULE_CHANGED,
        NOTIFICATION_SETUP_REASON,
    ),
    (
        NotificationSetupEvent::RULE_REMOVED,
        NOTIFICATION_SETUP_REASON,
    ),
    (
        NotificationSetupEvent::SETTINGS_CHANGED,
        NOTIFICATION_SETUP_REASON,
    ),
    (
        DeliveryEvent::REJECTED,
        "refused webhook deliveries are listed by GET /api/v1/deliveries and counted in \
         /metrics; they arrive as kind `event`, and `?types=DeliveryRejected` selects them",
    ),
    (
        ChangeReportEvent::RECEIVED,
        "changes tools report (PagerDuty change events) are context for triage, not state a \
         live panel follows; they arrive as kind `event`, and `?types=ChangeEventReceived` \
         selects them",
    ),
    (UserEvent::INVITED, USER_REASON),
    (UserEvent::ROLE_CHANGED, USER_REASON),
    (UserEvent::TENANTS_CHANGED, USER_REASON),
    (UserEvent::RENAMED, USER_REASON),
    (UserEvent::DISABLED, USER_REASON),
    (UserEvent::PASSWORD_SET, USER_REASON),
    (UserEvent::SESSIONS_REVOKED, USER_REASON),
    (UserEvent::ENABLED, USER_REASON),
    (UserEvent::PASSWORD_RESET, USER_REASON),
    (UserEvent::IDENTITY_LINKED, USER_REASON),
];

const USER_REASON: &str = "user administration and revoked sessions belong to the platform \
     (tenant 00000000-0000-0000-0000-000000000000), so only MSP admins receive them; no live panel \
     follows them; they arrive as kind `event`, and every API process reads the revocations among \
     them to refuse revoked tokens";
const NOTIFICATION_SETUP_REASON: &str =
    "notification channels, rules and settings are configuration that no live panel follows; \
     they arrive as kind `event` (GET /api/v1/tenants/{id}/notification-channels, \
     .../notification-rules and .../notification-settings show them)";

const RUNBOOK_REASON: &str = "runbook definitions are configuration that no live panel follows; \
     they arrive as kind `event`, and `?types=` selects them by event type";

/// The kind of an event type no feed kind names.
pub const UNNAMED_KIND: &str = "event";

/// The WebSocket message type of a stored event type.
pub fn feed_kind(event_type: &str) -> &'static str {
    FEED_KINDS
        .iter()
        .find(|(_, types)| types.contains(&event_type))
        .map_or(UNNAMED_KIND, |(kind, _)| kind)
}

/// A log event on its way to subscribers. Shared (`Arc`) by all of them: the
/// frames are rendered by the first subscriber that needs them, then reused,
/// so a thousand subscribers cost one serialization per event, not a thousand.
#[derive(Debug)]
pub struct FeedEvent {
    pub event: LogEvent,
    pub kind: &'static str,
    sse: OnceLock<Bytes>,
    ws: OnceLock<Utf8Bytes>,
}

/// The WebSocket message of API.md: `{"type", "position", "data", "at"}`.
#[derive(Serialize)]
struct WsEventMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    position: i64,
    data: EventView<'a>,
    at: chrono::DateTime<chrono::Utc>,
}

impl FeedEvent {
    pub fn new(event: LogEvent) -> Self {
        let kind = feed_kind(&event.event_type);
        Self {
            event,
            kind,
            sse: OnceLock::new(),
            ws: OnceLock::new(),
        }
    }

    pub fn cursor(&self) -> LogCursor {
        self.event.cursor()
    }

    pub fn position(&self) -> i64 {
        self.event.position
    }

    /// `id: <position>`, `event: <event type>`, `data: <event JSON>`, blank line.
    pub fn sse_frame(&self) -> Bytes {
        self.sse
            .get_or_init(|| {
                let mut frame = Vec::with_capacity(512);
                frame.extend_from_slice(b"id: ");
                frame.extend_from_slice(self.event.position.to_string().as_bytes());
                frame.extend_from_slice(b"\nevent: ");
                // Event type names are identifiers (no newline can end the field).
                frame.extend_from_slice(self.event.event_type.as_bytes());
                frame.extend_from_slice(b"\ndata: ");
                // Compact JSON has no raw newline (strings escape theirs), so
                // the whole event fits one `data:` line. Writing into a Vec
                // cannot fail.
                let _ = serde_json::to_writer(&mut frame, &EventView::from(&self.event));
                frame.extend_from_slice(b"\n\n");
                Bytes::from(frame)
            })
            .clone()
    }

    /// The WebSocket text message for this event.
    pub fn ws_message(&self) -> Utf8Bytes {
        self.ws
            .get_or_init(|| {
                let message = WsEventMessage {
                    kind: self.kind,
                    position: self.event.position,
                    data: EventView::from(&self.event),
                    at: self.event.recorded_at,
                };
                // Serializing borrowed JSON values and strings cannot fail.
                Utf8Bytes::from(serde_json::to_string(&message).unwrap_or_default())
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_map_to_the_message_types_of_the_contract() {
        assert_eq!(feed_kind(AlertEvent::RECEIVED), "new_alert");
        assert_eq!(feed_kind(AlertEvent::ACKNOWLEDGED), "alert_updated");
        assert_eq!(feed_kind(IncidentEvent::OPENED), "incident_created");
        assert_eq!(
            feed_kind(IncidentEvent::PRIORITY_CHANGED),
            "incident_updated"
        );
        assert_eq!(feed_kind(ApprovalEvent::REQUESTED), "approval_requested");
        assert_eq!(feed_kind(ApprovalEvent::REJECTED), "approval_decided");
        assert_eq!(
            feed_kind(ExecutionEvent::INVOCATION_UPDATED),
            "execution_updated"
        );
        assert_eq!(feed_kind(ExecutionEvent::DISPATCHING), "execution_updated");
        assert_eq!(feed_kind(TenantEvent::API_KEY_ISSUED), "tenant_updated");
        assert_eq!(
            feed_kind(MaintenanceWindowEvent::STATUS_CHANGED),
            "maintenance_window_status_changed"
        );
        assert_eq!(feed_kind(RunbookEvent::CHANGED), UNNAMED_KIND);
        assert_eq!(feed_kind("SomethingNew"), UNNAMED_KIND);
    }
}
