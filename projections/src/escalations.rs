//! `escalation_timeline`: the events of each incident's escalations
//! (started, each level reached with its reason and targets, stopped) as
//! entries of the incident's timeline, merged with `incident_timeline` by
//! position when an incident is shown.

use alertledger_domain::escalation::{EscalationEvent, EscalationTarget};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use super::decode::{metadata_actor, payload, payload_fields};
use super::incidents::TimelineRow;
use alertledger_eventstore::consumer::rows::{insert, ReadModelRow};
use alertledger_eventstore::consumer::{ConsumerError, LogConsumer, Target};
use alertledger_eventstore::log::LogEvent;

/// Keeps `escalation_timeline`.
#[derive(Debug, Clone, Copy, Default)]
pub struct EscalationsProjection;

/// An entry of `escalation_timeline` (same columns as `incident_timeline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct EscalationEntry(TimelineRow);

impl ReadModelRow for EscalationEntry {
    const TABLE: &'static str = "escalation_timeline";
    const KEY: &'static [&'static str] = TimelineRow::KEY;
    const COLUMNS: &'static [&'static str] = TimelineRow::COLUMNS;
}

#[async_trait]
impl LogConsumer for EscalationsProjection {
    fn name(&self) -> &'static str {
        "escalations"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["escalation_timeline"]
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(EscalationEvent::TYPES)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        target: &Target,
        events: &[LogEvent],
    ) -> Result<(), ConsumerError> {
        let mut entries = Vec::with_capacity(events.len());
        for event in events {
            let change: EscalationEvent = payload(event)?;
            let (at, summary) = match &change {
                EscalationEvent::EscalationStarted {
                    policy_id,
                    run,
                    cause,
                    actor,
                    at,
                    ..
                } => (
                    *at,
                    format!(
                        "Escalation policy {policy_id} started (run {run}): {}",
                        cause.describe(actor)
                    ),
                ),
                EscalationEvent::EscalationLevelReached {
                    round,
                    level,
                    targets,
                    unresolved,
                    reason,
                    at,
                    ..
                } => (
                    *at,
                    level_sentence(*round, *level, targets, unresolved, reason),
                ),
                EscalationEvent::EscalationStopped { reason, at, .. } => {
                    (*at, format!("Escalation stopped: {}", reason.sentence()))
                }
            };
            entries.push(EscalationEntry(TimelineRow {
                position: event.position,
                incident_id: *change.incident_id().as_uuid(),
                tenant_id: event.tenant_id,
                at,
                event_type: event.event_type.clone(),
                actor: metadata_actor(event),
                summary,
                details: payload_fields(event)?,
            }));
        }
        insert(conn, target, &entries).await
    }
}

/// "Escalated to level 2: not acknowledged within 10 minutes; notifying
/// Bob (on call), 1 channel".
fn level_sentence(
    round: u32,
    level: u32,
    targets: &[EscalationTarget],
    unresolved: &[String],
    reason: &str,
) -> String {
    let mut sentence = format!("Escalated to level {level}");
    if round > 0 {
        sentence.push_str(&format!(" (repeat {round})"));
    }
    sentence.push_str(&format!(": {reason}"));
    let named: Vec<String> = targets
        .iter()
        .map(|target| match &target.participant {
            Some(name) => format!("{name} (on call)"),
            None => format!("channel {}", target.channel_id),
        })
        .collect();
    if named.is_empty() {
        sentence.push_str("; nobody to notify");
    } else {
        sentence.push_str(&format!("; notifying {}", named.join(", ")));
    }
    for problem in unresolved {
        sentence.push_str(&format!("; {problem}"));
    }
    sentence
}
