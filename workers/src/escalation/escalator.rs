//! The escalator: every `interval`, records what is due in
//! `escalation_timers` (one instance per database, under an advisory lock).
//!
//! For each due escalation it loads the `Escalation`, the incident and the
//! tenant's `EscalationSetup` as they stand, and records either
//!
//! - `EscalationStopped`, when the incident was acknowledged or resolved
//!   (checked here too, not only through the due list, so a level is not
//!   recorded after an acknowledgement the consumer has yet to read), or the
//!   policy was deleted, or it has no further level; or
//! - `EscalationLevelReached` for the next step: its reason ("not
//!   acknowledged within 10 minutes"), the targets resolved now (a schedule
//!   level becomes the channel of whoever is on call; removed channels and
//!   empty schedules are listed as unresolved) and when the step after it
//!   is due (this step's due time plus this level's delay).
//!
//! The time comes from the injected clock; due times are derived from the
//! recorded events, so a step that fell due while no process ran is recorded
//! on the next start, once.
//!
//! An acknowledgement committed between this check and the write is not
//! seen (the two are on different streams, and nothing here can make the
//! acknowledgement's transaction conflict with this one), so a level can
//! still be recorded just after it in log order. Nobody is paged for such a
//! level: the notifier reads the log in order and refuses to page for a
//! level that follows the incident's acknowledgement or resolution
//! ([`crate::notifier::rules::level_overtaken`]), and the next round here
//! stops the escalation.

use std::time::Duration;

use alertledger_domain::escalation::{
    minutes_text, Escalation, EscalationCommand, EscalationError, EscalationSetup,
    EscalationTarget, LevelTargets, ReachedLevel, Step, StopReason,
};
use alertledger_domain::incident::{Incident, IncidentStatus};
use alertledger_domain::notification::NotificationSetup;
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::try_instance_lock;
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use chrono::{DateTime, Utc};
use cqrs_es::AggregateError;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The escalator's lock name and its actor in the audit trail.
pub const ESCALATOR: &str = "escalator";

/// Most escalations handled per round.
const ROUND_LIMIT: i64 = 500;

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
pub enum EscalatorError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// One due row of `escalation_timers`.
#[derive(Debug, sqlx::FromRow)]
struct Due {
    escalation_id: Uuid,
    tenant_id: Uuid,
    incident_id: Uuid,
    run: i32,
    stop_reason: Option<String>,
}

/// A step the escalator decided and has yet to record
/// ([`Escalator::plan_due`], then [`Escalator::record`]).
#[derive(Debug, Clone)]
pub struct PlannedStep {
    pub escalation_id: Uuid,
    pub tenant_id: Uuid,
    pub incident_id: Uuid,
    /// `RecordLevelReached` or `StopEscalation`.
    pub command: EscalationCommand,
}

/// What the escalator decided for one escalation.
enum Decision {
    Stop(StopReason),
    Reach(ReachedLevel),
    /// Not yet (the log consumer lags, or the step is not due).
    Wait,
}

/// Records due escalation steps; see the module doc.
pub struct Escalator {
    pool: PgPool,
    escalations: AggregateStore<Escalation>,
    incidents: AggregateStore<Incident>,
    setups: AggregateStore<EscalationSetup>,
    channels: AggregateStore<NotificationSetup>,
    services: DomainServices,
    interval: Duration,
}

impl Escalator {
    pub fn new(
        pool: PgPool,
        signal: LogSignal,
        services: DomainServices,
        interval: Duration,
    ) -> Self {
        Self {
            escalations: AggregateStore::new(pool.clone(), services.clone(), signal.clone()),
            incidents: AggregateStore::new(pool.clone(), services.clone(), signal.clone()),
            setups: AggregateStore::new(pool.clone(), services.clone(), signal.clone()),
            channels: AggregateStore::new(pool.clone(), services.clone(), signal.clone()),
            pool,
            services,
            interval,
        }
    }

    /// Runs in the background until the handle is aborted.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(self) {
        let _instance_lock = loop {
            match try_instance_lock(&self.pool, ESCALATOR).await {
                Ok(Some(connection)) => break connection,
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "escalator cannot take its lock"),
            }
            tokio::time::sleep(self.interval).await;
        };
        loop {
            if let Err(error) = self.escalate_due().await {
                tracing::warn!(%error, "escalator round failed");
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// Records every due step or stop; how many events it recorded.
    pub async fn escalate_due(&self) -> Result<usize, EscalatorError> {
        let mut recorded = 0;
        for step in self.plan_due().await? {
            match self.record(step).await {
                Ok(true) => recorded += 1,
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "cannot record escalation step"),
            }
        }
        Ok(recorded)
    }

    /// The first half of a round: what each due escalation should record,
    /// decided from the escalation, the incident and the set-up as they
    /// stand now; nothing is written. [`Self::record`] is the second half.
    /// They are apart so a test can acknowledge an incident between them:
    /// the one race the escalator cannot close by itself (an acknowledgement
    /// committed after this check is not seen by its write), which the
    /// notifier closes by paging nobody for a level that follows the
    /// acknowledgement in log order.
    pub async fn plan_due(&self) -> Result<Vec<PlannedStep>, EscalatorError> {
        let now = self.services.now();
        let due: Vec<Due> = sqlx::query_as(
            "SELECT escalation_id, tenant_id, incident_id, run, stop_reason
               FROM escalation_timers
              WHERE stop_reason IS NOT NULL OR due_at <= $1
              ORDER BY due_at, escalation_id LIMIT $2",
        )
        .bind(now)
        .bind(ROUND_LIMIT)
        .fetch_all(&self.pool)
        .await?;
        let mut planned = Vec::with_capacity(due.len());
        for row in due {
            match self.plan(&row, now).await {
                Ok(Some(step)) => planned.push(step),
                Ok(None) => {}
                Err(error) => tracing::warn!(
                    escalation = %row.escalation_id,
                    incident = %row.incident_id,
                    %error,
                    "cannot decide escalation step"
                ),
            }
        }
        Ok(planned)
    }

    /// Decides one escalation's due step, if it has one now.
    #[tracing::instrument(skip_all, fields(tenant_id = %row.tenant_id, escalation = %row.escalation_id))]
    async fn plan(&self, row: &Due, now: DateTime<Utc>) -> Result<Option<PlannedStep>, String> {
        let escalation = self
            .escalations
            .load(&row.escalation_id.to_string())
            .await
            .map_err(|e| e.to_string())?;
        let run = u32::try_from(row.run).map_err(|e| e.to_string())?;
        let command = match self.decide(&escalation, run, row, now).await? {
            Decision::Wait => return Ok(None),
            Decision::Stop(reason) => EscalationCommand::StopEscalation { run, reason },
            Decision::Reach(reached) => EscalationCommand::RecordLevelReached { run, reached },
        };
        Ok(Some(PlannedStep {
            escalation_id: row.escalation_id,
            tenant_id: row.tenant_id,
            incident_id: row.incident_id,
            command,
        }))
    }

    /// Records a planned step; whether it recorded one (`false`: recorded
    /// meanwhile, or the escalation stopped).
    #[tracing::instrument(skip_all, fields(tenant_id = %step.tenant_id, escalation = %step.escalation_id))]
    pub async fn record(&self, step: PlannedStep) -> Result<bool, String> {
        let metadata = EventMetadata {
            actor: Some(format!("worker:{ESCALATOR}")),
            correlation_id: Some(step.incident_id.to_string()),
            ..EventMetadata::default()
        };
        match self
            .escalations
            .execute(&step.escalation_id.to_string(), step.command, metadata)
            .await
        {
            Ok(()) => Ok(true),
            // Recorded meanwhile (another round, before the consumer moved
            // the due list on): nothing to do.
            Err(AggregateError::UserError(
                EscalationError::StepAlreadyRecorded
                | EscalationError::NotRunning
                | EscalationError::OtherRun(_),
            )) => Ok(false),
            Err(error) => Err(error.to_string()),
        }
    }

    async fn decide(
        &self,
        escalation: &Escalation,
        run: u32,
        row: &Due,
        now: DateTime<Utc>,
    ) -> Result<Decision, String> {
        let Some(state) = escalation.run().filter(|s| s.running && s.run == run) else {
            // The due list lags behind the escalation's own events.
            return Ok(Decision::Wait);
        };
        match row.stop_reason.as_deref() {
            Some("incident_resolved") => return Ok(Decision::Stop(StopReason::IncidentResolved)),
            Some(_) => return Ok(Decision::Stop(StopReason::IncidentAcknowledged)),
            None => {}
        }
        let incident = self
            .incidents
            .load(&row.incident_id.to_string())
            .await
            .map_err(|e| e.to_string())?;
        if incident.incident_id().is_none() {
            return Ok(Decision::Stop(StopReason::NothingLeft));
        }
        if incident.status() == IncidentStatus::Resolved {
            return Ok(Decision::Stop(StopReason::IncidentResolved));
        }
        if incident.is_acknowledged() {
            return Ok(Decision::Stop(StopReason::IncidentAcknowledged));
        }
        let Some(due_at) = state.next_due_at.filter(|due| *due <= now) else {
            return Ok(Decision::Wait);
        };
        let setup = self
            .setups
            .load(&row.tenant_id.to_string())
            .await
            .map_err(|e| e.to_string())?;
        let Some(policy_id) = escalation.policy_id() else {
            return Ok(Decision::Wait);
        };
        let Some(policy) = setup.policy(policy_id).map(|record| &record.spec) else {
            return Ok(Decision::Stop(StopReason::PolicyDeleted));
        };
        let step = match state.last_step {
            None => Some(Step::FIRST),
            Some(last) => policy.step_after(last),
        };
        let (Some(step), Some(level)) = (step, step.and_then(|s| policy.level(s.level))) else {
            return Ok(Decision::Stop(StopReason::NothingLeft));
        };
        let reason = match state.last_due_at {
            None => format!("escalation started: {}", state.cause),
            Some(previous) => {
                let waited = u32::try_from((due_at - previous).num_minutes()).unwrap_or(0);
                let mut reason = format!("not acknowledged within {}", minutes_text(waited));
                if step.level == 1 {
                    reason.push_str(&format!("; repeat {} of {}", step.round, policy.repeat()));
                }
                reason
            }
        };
        let channels = self
            .channels
            .load(&row.tenant_id.to_string())
            .await
            .map_err(|e| e.to_string())?;
        let mut targets = Vec::new();
        let mut unresolved = Vec::new();
        match policy.targets(step.level) {
            Some(LevelTargets::Channels(list)) => {
                for channel_id in list {
                    if channels.channel(*channel_id).is_some() {
                        targets.push(EscalationTarget {
                            channel_id: *channel_id,
                            schedule_id: None,
                            participant: None,
                        });
                    } else {
                        unresolved.push(format!("channel {channel_id} was removed"));
                    }
                }
            }
            Some(LevelTargets::Schedule(schedule_id)) => match setup.schedule(schedule_id) {
                None => unresolved.push(format!("schedule {schedule_id} was deleted")),
                Some(record) => match record.spec.on_call(&record.overrides, now) {
                    None => unresolved.push(format!(
                        "nobody is on call in schedule \"{}\"",
                        record.spec.name()
                    )),
                    Some(on_call) if channels.channel(on_call.participant.channel_id).is_none() => {
                        unresolved.push(format!(
                            "the channel of {} (on call in \"{}\") was removed",
                            on_call.participant.name,
                            record.spec.name()
                        ));
                    }
                    Some(on_call) => targets.push(EscalationTarget {
                        channel_id: on_call.participant.channel_id,
                        schedule_id: Some(schedule_id),
                        participant: Some(on_call.participant.name),
                    }),
                },
            },
            None => {}
        }
        let next_due_at = policy
            .step_after(step)
            .map(|_| due_at + chrono::Duration::minutes(i64::from(level.delay_minutes)));
        Ok(Decision::Reach(ReachedLevel {
            step,
            due_at,
            targets,
            unresolved,
            reason,
            next_due_at,
        }))
    }
}
