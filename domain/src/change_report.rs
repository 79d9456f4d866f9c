//! The change report aggregate: one change a tool told us about (a deploy, a
//! configuration push), as PagerDuty's Change Events API
//! (`/v2/change/enqueue`) carries it. Kept as one event under a fresh
//! aggregate id, never changed afterwards, so triage can later set changes
//! beside the incidents that followed them.
//!
//! The event holds what the tool said (summary, source, timestamp, custom
//! details, links), never the routing key that authenticated it.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::services::DomainServices;
use crate::values::{ApiKeyId, NormalizationWarning, TenantId, WebhookSource};

/// Most characters of a change summary (PagerDuty's own limit is 1024).
pub const MAX_SUMMARY_CHARS: usize = 1024;

/// A link a change event carries (`{"href", "text"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeLink {
    pub href: String,
    pub text: Option<String>,
}

/// What is recorded of a reported change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceivedChange {
    pub tenant_id: TenantId,
    pub change_id: Uuid,
    /// The tool dialect it came in (`pagerduty`).
    pub via: WebhookSource,
    /// The API key that authenticated it.
    pub key_id: ApiKeyId,
    /// `payload.summary`: what changed, in the tool's words.
    pub summary: String,
    /// `payload.source`: where the change happened, if the tool said.
    pub source: Option<String>,
    /// `payload.timestamp`: when the change happened, if the tool said and it
    /// could be read (else a warning says why it is missing).
    pub timestamp: Option<DateTime<Utc>>,
    /// `payload.custom_details`, as sent.
    pub custom_details: Option<serde_json::Value>,
    pub links: Vec<ChangeLink>,
    /// What was odd in the payload and left out.
    #[serde(default)]
    pub normalization_warnings: Vec<NormalizationWarning>,
}

/// A fact about a reported change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChangeReportEvent {
    /// A tool reported a change.
    ChangeEventReceived {
        #[serde(flatten)]
        change: ReceivedChange,
        at: DateTime<Utc>,
    },
}

crate::event_types::event_type_names!(ChangeReportEvent {
    ChangeEventReceived => RECEIVED,
});

impl DomainEvent for ChangeReportEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        crate::EVENT_VERSION.to_owned()
    }
}

/// What can be asked of a change report.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeReportCommand {
    /// Record a change a tool reported.
    Record(ReceivedChange),
}

/// Why a change report command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeReportError {
    #[error("the change is already recorded")]
    AlreadyRecorded,
    #[error("a change needs a summary")]
    EmptySummary,
}

/// A reported change, once recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeReport {
    recorded: bool,
}

impl Aggregate for ChangeReport {
    const TYPE: &'static str = "ChangeReport";
    type Command = ChangeReportCommand;
    type Event = ChangeReportEvent;
    type Error = ChangeReportError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        if self.recorded {
            return Err(ChangeReportError::AlreadyRecorded);
        }
        let ChangeReportCommand::Record(change) = command;
        if change.summary.trim().is_empty() {
            return Err(ChangeReportError::EmptySummary);
        }
        let event = ChangeReportEvent::ChangeEventReceived {
            change,
            at: services.now(),
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ChangeReportEvent::ChangeEventReceived { .. } => self.recorded = true,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::testing::{now, services, tenant_id};

    fn change(summary: &str) -> ReceivedChange {
        ReceivedChange {
            tenant_id: tenant_id(),
            change_id: Uuid::from_u128(0xc),
            via: WebhookSource::Pagerduty,
            key_id: ApiKeyId::from_uuid(Uuid::from_u128(0xa)),
            summary: summary.to_owned(),
            source: Some("ci.example.com".to_owned()),
            timestamp: None,
            custom_details: Some(serde_json::json!({"build": 42})),
            links: vec![ChangeLink {
                href: "https://ci.example.com/42".to_owned(),
                text: None,
            }],
            normalization_warnings: Vec::new(),
        }
    }

    fn received(change: ReceivedChange) -> ChangeReportEvent {
        ChangeReportEvent::ChangeEventReceived { change, at: now() }
    }

    #[test]
    fn a_reported_change_is_recorded_as_sent() {
        TestFramework::<ChangeReport>::with(services())
            .given_no_previous_events()
            .when(ChangeReportCommand::Record(change("Deployed build 42")))
            .then_expect_events(vec![received(change("Deployed build 42"))]);
    }

    #[test]
    fn a_change_is_recorded_only_once() {
        TestFramework::<ChangeReport>::with(services())
            .given(vec![received(change("Deployed build 42"))])
            .when(ChangeReportCommand::Record(change("Deployed build 42")))
            .then_expect_error(ChangeReportError::AlreadyRecorded);
    }

    #[test]
    fn a_change_without_summary_is_refused() {
        TestFramework::<ChangeReport>::with(services())
            .given_no_previous_events()
            .when(ChangeReportCommand::Record(change("  ")))
            .then_expect_error(ChangeReportError::EmptySummary);
    }
}
