//! Quarantine of one log event for one consumer: the only way an operator
//! moves a read model (or worker) past an event it cannot apply.
//!
//! Each quarantine is an aggregate of its own, keyed `<consumer>@<position>`,
//! so the same event cannot be quarantined twice for a consumer and every
//! quarantine is a recorded, audited event naming who did it and why. The
//! consumer runtime derives its skip list from these events, so a rebuild
//! from the log skips exactly what the live consumer skipped.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::services::DomainServices;
use crate::values::{Actor, Note, TenantId};

/// The aggregate id of the quarantine of `position` for `consumer`.
pub fn quarantine_id(consumer: &str, position: i64) -> String {
    format!("{consumer}@{position}")
}

/// Consumer names are code-defined identifiers (`alerts`, `correlator`):
/// 1..=64 of `a-z 0-9 _ -`.
fn valid_consumer(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Quarantine one event for one consumer.
#[derive(Debug, Clone, PartialEq)]
pub enum QuarantineCommand {
    QuarantineEvent {
        /// The tenant of the quarantined event (the record stays in its history).
        tenant_id: TenantId,
        consumer: String,
        position: i64,
        /// `<aggregate type>/<aggregate id>#<sequence>` of the event.
        event_id: String,
        event_type: String,
        reason: Note,
        actor: Actor,
    },
}

/// What was quarantined. The variant name is stored and permanent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QuarantineEvent {
    /// `consumer` skips the event at `position` from now on, and so does
    /// every rebuild of it.
    ConsumerEventQuarantined {
        tenant_id: TenantId,
        consumer: String,
        position: i64,
        event_id: String,
        event_type: String,
        reason: Note,
        actor: Actor,
        at: DateTime<Utc>,
    },
}

impl QuarantineEvent {
    /// The tenant the quarantined event belongs to.
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Self::ConsumerEventQuarantined { tenant_id, .. } => *tenant_id,
        }
    }
}

crate::event_types::event_type_names!(QuarantineEvent {
    ConsumerEventQuarantined => QUARANTINED,
});

impl DomainEvent for QuarantineEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        crate::EVENT_VERSION.to_owned()
    }
}

/// Why a quarantine was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuarantineError {
    #[error("the event at position {position} is already quarantined for {consumer}")]
    AlreadyQuarantined { consumer: String, position: i64 },
    #[error("consumer names are 1..=64 of a-z, 0-9, _ and -")]
    InvalidConsumer,
    #[error("a log position is at least 1")]
    InvalidPosition,
}

/// One quarantine: whether it was recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsumerQuarantine {
    recorded: bool,
}

impl Aggregate for ConsumerQuarantine {
    const TYPE: &'static str = "ConsumerQuarantine";
    type Command = QuarantineCommand;
    type Event = QuarantineEvent;
    type Error = QuarantineError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let QuarantineCommand::QuarantineEvent {
            tenant_id,
            consumer,
            position,
            event_id,
            event_type,
            reason,
            actor,
        } = command;
        if !valid_consumer(&consumer) {
            return Err(QuarantineError::InvalidConsumer);
        }
        if position < 1 {
            return Err(QuarantineError::InvalidPosition);
        }
        if self.recorded {
            return Err(QuarantineError::AlreadyQuarantined { consumer, position });
        }
        sink.write(
            QuarantineEvent::ConsumerEventQuarantined {
                tenant_id,
                consumer,
                position,
                event_id,
                event_type,
                reason,
                actor,
                at: services.now(),
            },
            self,
        )
        .await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            QuarantineEvent::ConsumerEventQuarantined { .. } => self.recorded = true,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::testing::{actor, now, services, tenant_id};
    use crate::values::Role;

    fn command(consumer: &str, position: i64) -> QuarantineCommand {
        QuarantineCommand::QuarantineEvent {
            tenant_id: tenant_id(),
            consumer: consumer.to_owned(),
            position,
            event_id: "Alert/a#1".to_owned(),
            event_type: "AlertReceived".to_owned(),
            reason: Note::parse("year 0 timestamp").unwrap(),
            actor: actor("cli:op", Role::MspAdmin),
        }
    }

    fn recorded() -> QuarantineEvent {
        QuarantineEvent::ConsumerEventQuarantined {
            tenant_id: tenant_id(),
            consumer: "alerts".to_owned(),
            position: 7,
            event_id: "Alert/a#1".to_owned(),
            event_type: "AlertReceived".to_owned(),
            reason: Note::parse("year 0 timestamp").unwrap(),
            actor: actor("cli:op", Role::MspAdmin),
            at: now(),
        }
    }

    #[test]
    fn a_quarantine_is_recorded_with_its_actor_and_reason() {
        TestFramework::<ConsumerQuarantine>::with(services())
            .given_no_previous_events()
            .when(command("alerts", 7))
            .then_expect_events(vec![recorded()]);
    }

    #[test]
    fn the_same_event_cannot_be_quarantined_twice() {
        TestFramework::<ConsumerQuarantine>::with(services())
            .given(vec![recorded()])
            .when(command("alerts", 7))
            .then_expect_error(QuarantineError::AlreadyQuarantined {
                consumer: "alerts".to_owned(),
                position: 7,
            });
    }

    #[test]
    fn names_and_positions_are_checked() {
        TestFramework::<ConsumerQuarantine>::with(services())
            .given_no_previous_events()
            .when(command("Alerts; DROP", 7))
            .then_expect_error(QuarantineError::InvalidConsumer);
        TestFramework::<ConsumerQuarantine>::with(services())
            .given_no_previous_events()
            .when(command("alerts", 0))
            .then_expect_error(QuarantineError::InvalidPosition);
    }
}
