//! Upcasters: bring stored events of an older shape up to the current one on
//! read, so history written by earlier releases still replays. A stored event
//! is never rewritten and its type name never changes; each schema change adds
//! a version and an upcaster here.
//!
//! | event | version | change |
//! | --- | --- | --- |
//! | `IncidentOpened`, `AlertAttached` | 1.0 → 1.1 | gained `tool_source` (the reporting tool, for an incident's `tool_sources`); older events get `"unknown"` |

use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use serde_json::Value;

/// Version of `IncidentOpened` and `AlertAttached` since they carry `tool_source`.
pub const INCIDENT_TOOL_SOURCE_VERSION: &str = "1.1";

/// The tool recorded for alerts whose events predate `tool_source`.
pub const UNKNOWN_TOOL_SOURCE: &str = "unknown";

/// Every upcaster, for the event store and for log readers alike.
pub fn all() -> Vec<Box<dyn EventUpcaster>> {
    vec![Box::new(IncidentToolSourceUpcaster)]
}

/// Runs the first upcaster that applies, repeatedly, until none does (so a
/// chain 1.0 → 1.1 → 1.2 needs only one step per upcaster).
pub fn upcast(upcasters: &[Box<dyn EventUpcaster>], mut event: SerializedEvent) -> SerializedEvent {
    while let Some(upcaster) = upcasters
        .iter()
        .find(|u| u.can_upcast(&event.event_type, &event.event_version))
    {
        event = upcaster.upcast(event);
    }
    event
}

/// Whether any upcaster applies to this event type and version (cheap check
/// before building a [`SerializedEvent`]).
pub fn needs_upcast(upcasters: &[Box<dyn EventUpcaster>], event_type: &str, version: &str) -> bool {
    upcasters.iter().any(|u| u.can_upcast(event_type, version))
}

/// `IncidentOpened` and `AlertAttached` 1.0 → 1.1: adds `tool_source: "unknown"`.
struct IncidentToolSourceUpcaster;

impl EventUpcaster for IncidentToolSourceUpcaster {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        matches!(event_type, "IncidentOpened" | "AlertAttached") && event_version == "1.0"
    }

    fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        if let Some(Value::Object(fields)) = event.payload.get_mut(&event.event_type) {
            fields
                .entry("tool_source")
                .or_insert_with(|| Value::String(UNKNOWN_TOOL_SOURCE.to_owned()));
        }
        event.event_version = INCIDENT_TOOL_SOURCE_VERSION.to_owned();
        event
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::incident::IncidentEvent;

    fn serialized(event_type: &str, version: &str, payload: Value) -> SerializedEvent {
        SerializedEvent {
            aggregate_id: "i-1".to_owned(),
            sequence: 1,
            aggregate_type: "Incident".to_owned(),
            event_type: event_type.to_owned(),
            event_version: version.to_owned(),
            payload,
            metadata: serde_json::json!({}),
        }
    }

    #[test]
    fn a_version_1_0_incident_opened_event_deserializes_after_upcasting() {
        let old = serde_json::json!({"IncidentOpened": {
            "tenant_id": "0195d1a0-0000-7000-8000-000000000001",
            "incident_id": "0195d1a0-0000-7000-8000-000000000002",
            "key": "web01|HighCPU",
            "first_alert": "0195d1a0-0000-7000-8000-000000000003",
            "asset": "web01",
            "signature": "HighCPU",
            "severity": "high",
            "priority": 60,
            "reason": {"key": "web01|HighCPU", "window_minutes": 15,
                       "decision": {"kind": "opened"}, "explanation": "first alert"},
            "at": "2026-01-01T00:00:00Z"
        }});
        assert!(serde_json::from_value::<IncidentEvent>(old.clone()).is_err());

        let upcast = upcast(&all(), serialized("IncidentOpened", "1.0", old));

        assert_eq!(upcast.event_version, "1.1");
        match serde_json::from_value::<IncidentEvent>(upcast.payload).unwrap() {
            IncidentEvent::IncidentOpened { tool_source, .. } => {
                assert_eq!(tool_source.as_str(), UNKNOWN_TOOL_SOURCE);
            }
            other => panic!("unexpected event {other:?}"),
        }
    }

    #[test]
    fn current_events_are_left_alone() {
        let payload = serde_json::json!({"AlertAttached": {"tool_source": "zabbix"}});
        let event = serialized("AlertAttached", "1.1", payload.clone());
        assert!(!needs_upcast(&all(), "AlertAttached", "1.1"));
        assert_eq!(upcast(&all(), event).payload, payload);
    }
}
