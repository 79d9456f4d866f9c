//! The log consumer behind the escalation worker's due list
//! (`escalation_timers`). A pure fold of the log, in log order, with its
//! checkpoint moved in the same transaction. Escalations imported from
//! another installation's log are left off the list (see `decides_on`).

use alertledger_domain::escalation::{EscalationEvent, StopReason};
use alertledger_domain::incident::IncidentEvent;
use alertledger_eventstore::consumer::{ConsumerError, LogConsumer, Target};
use alertledger_eventstore::log::LogEvent;
use async_trait::async_trait;
use sqlx::PgConnection;
use uuid::Uuid;

/// The consumer's checkpoint name.
pub const TIMERS: &str = "escalation-timers";

const EVENT_TYPES: &[&str] = &[
    EscalationEvent::STARTED,
    EscalationEvent::LEVEL_REACHED,
    EscalationEvent::STOPPED,
    IncidentEvent::ACKNOWLEDGED,
    IncidentEvent::RESOLVED,
];

/// Keeps `escalation_timers` (run it with a `ConsumerRunner`).
#[derive(Debug, Clone, Copy, Default)]
pub struct EscalationTimers;

#[async_trait]
impl LogConsumer for EscalationTimers {
    fn name(&self) -> &'static str {
        TIMERS
    }

    fn tables(&self) -> &'static [&'static str] {
        &["escalation_timers"]
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(EVENT_TYPES)
    }

    /// An escalation brought in by `events import` ran where it came from:
    /// its levels and its stop came along (or it is still running there).
    /// Putting it on this installation's due list would make the escalator
    /// record further levels, and page people, for another installation's
    /// incident. So its start and levels are passed over (no row is made or
    /// moved); stops and acknowledgements still apply, and only ever touch
    /// rows this installation made.
    fn decides_on(&self) -> &'static [&'static str] {
        &[EscalationEvent::STARTED, EscalationEvent::LEVEL_REACHED]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        target: &Target,
        events: &[LogEvent],
    ) -> Result<(), ConsumerError> {
        let table = target.table("escalation_timers");
        for event in events {
            if event.aggregate_type == "Incident" {
                let incident_id = aggregate_uuid(event)?;
                let reason = if event.event_type == IncidentEvent::RESOLVED {
                    StopReason::IncidentResolved
                } else {
                    StopReason::IncidentAcknowledged
                };
                // The worker records the stop at its next round, whatever
                // the time: an acknowledgement always wins over a due level.
                sqlx::query(&format!(
                    "UPDATE {table} SET stop_reason = $2 WHERE incident_id = $1 AND stop_reason IS NULL"
                ))
                .bind(incident_id)
                .bind(reason.as_str())
                .execute(&mut *conn)
                .await?;
                continue;
            }
            let change: EscalationEvent = event.payload_as().map_err(|error| {
                ConsumerError::event(event, format!("undecodable payload: {error}"))
            })?;
            match change {
                EscalationEvent::EscalationStarted {
                    tenant_id,
                    escalation_id,
                    incident_id,
                    policy_id,
                    run,
                    at,
                    ..
                } => {
                    sqlx::query(&format!(
                        "INSERT INTO {table} (escalation_id, tenant_id, incident_id, policy_id, run, due_at, stop_reason, started_position)
                         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)
                         ON CONFLICT (escalation_id) DO UPDATE SET run = EXCLUDED.run, due_at = EXCLUDED.due_at,
                             stop_reason = NULL, started_position = EXCLUDED.started_position"
                    ))
                    .bind(escalation_id.as_uuid())
                    .bind(tenant_id.as_uuid())
                    .bind(incident_id.as_uuid())
                    .bind(policy_id.as_uuid())
                    .bind(run_number(event, run)?)
                    .bind(at)
                    .bind(event.position)
                    .execute(&mut *conn)
                    .await?;
                }
                EscalationEvent::EscalationLevelReached {
                    escalation_id,
                    run,
                    next_due_at: Some(next),
                    ..
                } => {
                    sqlx::query(&format!(
                        "UPDATE {table} SET due_at = $3 WHERE escalation_id = $1 AND run = $2"
                    ))
                    .bind(escalation_id.as_uuid())
                    .bind(run_number(event, run)?)
                    .bind(next)
                    .execute(&mut *conn)
                    .await?;
                }
                EscalationEvent::EscalationLevelReached {
                    escalation_id, run, ..
                }
                | EscalationEvent::EscalationStopped {
                    escalation_id, run, ..
                } => {
                    sqlx::query(&format!(
                        "DELETE FROM {table} WHERE escalation_id = $1 AND run = $2"
                    ))
                    .bind(escalation_id.as_uuid())
                    .bind(run_number(event, run)?)
                    .execute(&mut *conn)
                    .await?;
                }
            }
        }
        Ok(())
    }
}

fn aggregate_uuid(event: &LogEvent) -> Result<Uuid, ConsumerError> {
    Uuid::parse_str(&event.aggregate_id)
        .map_err(|error| ConsumerError::event(event, format!("bad aggregate id: {error}")))
}

fn run_number(event: &LogEvent, run: u32) -> Result<i32, ConsumerError> {
    i32::try_from(run).map_err(|_| ConsumerError::event(event, "run number out of range"))
}
