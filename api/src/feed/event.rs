//! One event as the feed sends it: the log event, its feed kind (the
//! WebSocket message type of API.md), and its frames, rendered once.

use std::sync::OnceLock;

use alertledger_projections::log::{LogCursor, LogEvent};
use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use serde::Serialize;

use crate::routes::events::EventView;

/// Each feed kind with the stored event types it covers. `?types=` accepts
/// either spelling; WebSocket messages carry the kind.
pub const FEED_KINDS: &[(&str, &[&str])] = &[
    ("new_alert", &["AlertReceived"]),
    (
        "alert_updated",
        &[
            "AlertAcknowledged",
            "AlertCorrelated",
            "AlertResolvedBySource",
        ],
    ),
    ("incident_created", &["IncidentOpened"]),
    (
        "incident_updated",
        &[
            "AlertAttached",
            "PriorityChanged",
            "IncidentAcknowledged",
            "IncidentAssigned",
            "IncidentCommented",
            "IncidentEscalated",
            "IncidentResolved",
            "IncidentReopened",
            "IncidentAlertResolved",
            "AllAlertsResolved",
        ],
    ),
    ("approval_requested", &["ApprovalRequested"]),
    (
        "approval_decided",
        &["ApprovalGranted", "ApprovalRejected", "ApprovalExpired"],
    ),
    (
        "execution_updated",
        &[
            "ExecutionRequested",
            "ExecutionDispatched",
            "InvocationUpdated",
            "ExecutionSucceeded",
            "ExecutionFailed",
            "ExecutionTimedOut",
        ],
    ),
];

/// The WebSocket message type of a stored event. Event types not in
/// [`FEED_KINDS`] (added later) fall back on their aggregate, so a new event
/// still reaches clients under a sensible kind.
pub fn feed_kind(aggregate_type: &str, event_type: &str) -> &'static str {
    if let Some((kind, _)) = FEED_KINDS
        .iter()
        .find(|(_, types)| types.contains(&event_type))
    {
        return kind;
    }
    match aggregate_type {
        "Alert" => "alert_updated",
        "Incident" => "incident_updated",
        "Approval" => "approval_decided",
        "Execution" => "execution_updated",
        "Tenant" => "tenant_updated",
        _ => "event",
    }
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
        let kind = feed_kind(&event.aggregate_type, &event.event_type);
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
        assert_eq!(feed_kind("Alert", "AlertReceived"), "new_alert");
        assert_eq!(feed_kind("Alert", "AlertAcknowledged"), "alert_updated");
        assert_eq!(feed_kind("Incident", "IncidentOpened"), "incident_created");
        assert_eq!(feed_kind("Incident", "PriorityChanged"), "incident_updated");
        assert_eq!(
            feed_kind("Approval", "ApprovalRequested"),
            "approval_requested"
        );
        assert_eq!(
            feed_kind("Approval", "ApprovalRejected"),
            "approval_decided"
        );
        assert_eq!(
            feed_kind("Execution", "InvocationUpdated"),
            "execution_updated"
        );
        assert_eq!(feed_kind("Incident", "SomethingNew"), "incident_updated");
        assert_eq!(feed_kind("Tenant", "ApiKeyIssued"), "tenant_updated");
    }
}
