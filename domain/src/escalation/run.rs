//! The `Escalation` aggregate: one escalation policy run for one incident
//! (aggregate id = [`EscalationId::for_incident`]). It is started (by an
//! operator, or by a notification rule naming the policy), reaches its
//! levels one step at a time as the escalation worker records them, and
//! stops when the incident is acknowledged or resolved, when the policy is
//! deleted, or after its last step. A stopped escalation can be started
//! again (a new `run`).
//!
//! Every step is recorded once: the aggregate refuses a step at or before
//! the last one recorded in the run, so a worker that restarts between
//! reading its due list and recording cannot repeat a level.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Step;
use crate::services::DomainServices;
use crate::values::{
    Actor, EscalationId, EscalationPolicyId, IncidentId, NotificationChannelId, ScheduleId,
    TenantId,
};

/// Why an escalation started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EscalationCause {
    /// Someone started it (`POST /api/v1/incidents/{id}/escalation`).
    Manual {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// A notification rule naming the policy matched an incident event.
    Rule {
        rule_id: Uuid,
        /// The stored type of the event that matched (`IncidentOpened`, ...).
        event_type: String,
        /// Its log position, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        position: Option<i64>,
    },
}

impl EscalationCause {
    /// The cause as people read it.
    pub fn describe(&self, actor: &Actor) -> String {
        match self {
            Self::Manual { note: Some(note) } => {
                format!("started by {}: {note}", actor.name())
            }
            Self::Manual { note: None } => format!("started by {}", actor.name()),
            Self::Rule {
                rule_id,
                event_type,
                ..
            } => format!("notification rule {rule_id} matched {event_type}"),
        }
    }
}

/// Why an escalation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    IncidentAcknowledged,
    IncidentResolved,
    PolicyDeleted,
    /// The policy was shortened below the next step, or the incident is gone.
    NothingLeft,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IncidentAcknowledged => "incident_acknowledged",
            Self::IncidentResolved => "incident_resolved",
            Self::PolicyDeleted => "policy_deleted",
            Self::NothingLeft => "nothing_left",
        }
    }

    /// A sentence for the timeline.
    pub fn sentence(self) -> &'static str {
        match self {
            Self::IncidentAcknowledged => "the incident was acknowledged",
            Self::IncidentResolved => "the incident was resolved",
            Self::PolicyDeleted => "the escalation policy was deleted",
            Self::NothingLeft => "the policy has no further level",
        }
    }
}

/// One channel a level reached, and how it was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationTarget {
    pub channel_id: NotificationChannelId,
    /// The schedule whose on-call participant this is, for a schedule level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<ScheduleId>,
    /// The participant's name, for a schedule level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
}

/// What a level reached: its targets, resolved at that moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReachedLevel {
    pub step: Step,
    /// When the step was due (the previous step's due time plus its delay).
    pub due_at: DateTime<Utc>,
    pub targets: Vec<EscalationTarget>,
    /// Targets that could not be resolved, and why (a removed channel, a
    /// schedule with nobody on call).
    pub unresolved: Vec<String>,
    /// Why it was reached ("not acknowledged within 10 minutes").
    pub reason: String,
    /// When the next step is due; `None` on the last step.
    pub next_due_at: Option<DateTime<Utc>>,
}

/// What can be asked of an escalation.
#[derive(Debug, Clone, PartialEq)]
pub enum EscalationCommand {
    /// Start (again): refused while it runs.
    StartEscalation {
        tenant_id: TenantId,
        incident_id: IncidentId,
        policy_id: EscalationPolicyId,
        cause: EscalationCause,
        actor: Actor,
    },
    /// Record a step of run `run` (the escalation worker).
    RecordLevelReached { run: u32, reached: ReachedLevel },
    /// Stop run `run`.
    StopEscalation { run: u32, reason: StopReason },
}

/// A fact about an escalation. Variant names are stored and permanent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EscalationEvent {
    EscalationStarted {
        tenant_id: TenantId,
        escalation_id: EscalationId,
        incident_id: IncidentId,
        policy_id: EscalationPolicyId,
        /// 1 for the first start, then one more for each start again.
        run: u32,
        cause: EscalationCause,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// A level was reached: the notifier tells each target.
    EscalationLevelReached {
        tenant_id: TenantId,
        escalation_id: EscalationId,
        incident_id: IncidentId,
        policy_id: EscalationPolicyId,
        run: u32,
        /// 0 on the first pass through the levels, then 1, 2, ... per repeat.
        round: u32,
        /// 1-based.
        level: u32,
        due_at: DateTime<Utc>,
        targets: Vec<EscalationTarget>,
        unresolved: Vec<String>,
        reason: String,
        next_due_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    },
    EscalationStopped {
        tenant_id: TenantId,
        escalation_id: EscalationId,
        incident_id: IncidentId,
        policy_id: EscalationPolicyId,
        run: u32,
        reason: StopReason,
        at: DateTime<Utc>,
    },
}

crate::event_types::event_type_names!(EscalationEvent {
    EscalationStarted => STARTED,
    EscalationLevelReached => LEVEL_REACHED,
    EscalationStopped => STOPPED,
});

impl EscalationEvent {
    /// The incident it is about.
    pub fn incident_id(&self) -> IncidentId {
        match self {
            Self::EscalationStarted { incident_id, .. }
            | Self::EscalationLevelReached { incident_id, .. }
            | Self::EscalationStopped { incident_id, .. } => *incident_id,
        }
    }
}

impl DomainEvent for EscalationEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        crate::EVENT_VERSION.to_owned()
    }
}

/// Why a command on an escalation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscalationError {
    #[error("the escalation is already running")]
    AlreadyRunning,
    #[error("the escalation is not running")]
    NotRunning,
    #[error("run {0} is not the current run")]
    OtherRun(u32),
    #[error("this step is already recorded")]
    StepAlreadyRecorded,
    #[error("the escalation belongs to another incident or policy")]
    WrongIncident,
}

/// Where the escalation stands in its current run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub run: u32,
    pub started_at: DateTime<Utc>,
    /// Why it started, as people read it (the reason of level 1, round 0).
    pub cause: String,
    /// The last step recorded, if any, and when it was due.
    pub last_step: Option<Step>,
    pub last_due_at: Option<DateTime<Utc>>,
    /// When the next step is due (`None` once the last step was recorded).
    pub next_due_at: Option<DateTime<Utc>>,
    pub running: bool,
}

/// One escalation, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    ids: Option<(TenantId, EscalationId, IncidentId, EscalationPolicyId)>,
    state: Option<RunState>,
}

impl Escalation {
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.ids.map(|ids| ids.0)
    }

    pub fn incident_id(&self) -> Option<IncidentId> {
        self.ids.map(|ids| ids.2)
    }

    pub fn policy_id(&self) -> Option<EscalationPolicyId> {
        self.ids.map(|ids| ids.3)
    }

    /// The current (or last) run.
    pub fn run(&self) -> Option<&RunState> {
        self.state.as_ref()
    }

    pub fn is_running(&self) -> bool {
        self.state.as_ref().is_some_and(|state| state.running)
    }

    fn current(
        &self,
        run: u32,
    ) -> Result<
        (
            TenantId,
            EscalationId,
            IncidentId,
            EscalationPolicyId,
            &RunState,
        ),
        EscalationError,
    > {
        let (Some((tenant_id, escalation_id, incident_id, policy_id)), Some(state)) =
            (self.ids, self.state.as_ref())
        else {
            return Err(EscalationError::NotRunning);
        };
        if state.run != run {
            return Err(EscalationError::OtherRun(run));
        }
        if !state.running {
            return Err(EscalationError::NotRunning);
        }
        Ok((tenant_id, escalation_id, incident_id, policy_id, state))
    }
}

impl Aggregate for Escalation {
    const TYPE: &'static str = "Escalation";
    type Command = EscalationCommand;
    type Event = EscalationEvent;
    type Error = EscalationError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let at = services.now();
        let event = match command {
            EscalationCommand::StartEscalation {
                tenant_id,
                incident_id,
                policy_id,
                cause,
                actor,
            } => {
                if let Some((own_tenant, _, own_incident, own_policy)) = self.ids {
                    if (own_tenant, own_incident, own_policy) != (tenant_id, incident_id, policy_id)
                    {
                        return Err(EscalationError::WrongIncident);
                    }
                }
                if self.is_running() {
                    return Err(EscalationError::AlreadyRunning);
                }
                EscalationEvent::EscalationStarted {
                    tenant_id,
                    escalation_id: EscalationId::for_incident(&incident_id, &policy_id),
                    incident_id,
                    policy_id,
                    run: self.state.as_ref().map_or(1, |state| state.run + 1),
                    cause,
                    actor,
                    at,
                }
            }
            EscalationCommand::RecordLevelReached { run, reached } => {
                let (tenant_id, escalation_id, incident_id, policy_id, state) =
                    self.current(run)?;
                if state.last_step.is_some_and(|last| reached.step <= last) {
                    return Err(EscalationError::StepAlreadyRecorded);
                }
                EscalationEvent::EscalationLevelReached {
                    tenant_id,
                    escalation_id,
                    incident_id,
                    policy_id,
                    run,
                    round: reached.step.round,
                    level: reached.step.level,
                    due_at: reached.due_at,
                    targets: reached.targets,
                    unresolved: reached.unresolved,
                    reason: reached.reason,
                    next_due_at: reached.next_due_at,
                    at,
                }
            }
            EscalationCommand::StopEscalation { run, reason } => {
                let (tenant_id, escalation_id, incident_id, policy_id, _) = self.current(run)?;
                EscalationEvent::EscalationStopped {
                    tenant_id,
                    escalation_id,
                    incident_id,
                    policy_id,
                    run,
                    reason,
                    at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            EscalationEvent::EscalationStarted {
                tenant_id,
                escalation_id,
                incident_id,
                policy_id,
                run,
                cause,
                actor,
                at,
            } => {
                self.ids = Some((tenant_id, escalation_id, incident_id, policy_id));
                self.state = Some(RunState {
                    run,
                    started_at: at,
                    cause: cause.describe(&actor),
                    last_step: None,
                    last_due_at: None,
                    next_due_at: Some(at),
                    running: true,
                });
            }
            EscalationEvent::EscalationLevelReached {
                round,
                level,
                due_at,
                next_due_at,
                ..
            } => {
                if let Some(state) = self.state.as_mut() {
                    state.last_step = Some(Step { round, level });
                    state.last_due_at = Some(due_at);
                    state.next_due_at = next_due_at;
                    state.running = next_due_at.is_some();
                }
            }
            EscalationEvent::EscalationStopped { .. } => {
                if let Some(state) = self.state.as_mut() {
                    state.running = false;
                    state.next_due_at = None;
                }
            }
        }
    }
}
