//! The runbook dispatcher: a projector over the log that records remediation
//! decisions in the same transaction as its checkpoint and working state
//! (`dispatcher_runbooks`, `executor_queue`), so each is recorded exactly once.
//!
//! - `IncidentOpened`: the tenant's runbook for the incident's signature (the
//!   first defined, not retired, with `auto_execute`) is requested for
//!   execution when its risk is low, or gets an approval request (expiring
//!   after the configured time) when it is medium or high. An asset with no
//!   registered instances gets a comment on the incident instead.
//! - `ApprovalGranted`: the approved runbook is requested for execution, if
//!   it still runs exactly what the request pinned (version and content
//!   hash, see `alertledger_domain::runbook::pin`); else the execution is
//!   recorded as refused (`ExecutionRefused`, with the reason) and nothing
//!   is sent to SSM. Approval requests pin the runbook as it stands and the
//!   instances of the incident's asset.
//! - `ExecutionRequested` queues the execution for the SSM executor; its
//!   outcome takes it off the queue and resolves the incident as self-healed
//!   (success) or escalates it with the reason (failure, timeout, refusal). An
//!   incident a person already resolved is left alone (and an approval
//!   granted after that runs nothing: the incident gets a comment).
//!
//! Runbooks are looked up as the log stood at the incident's position (the
//! dispatcher folds runbook events into `dispatcher_runbooks` itself).

use std::collections::HashMap;
use std::time::Duration;

use alertledger_domain::approval::{Approval, ApprovalCommand, ApprovalEvent};
use alertledger_domain::execution::{Execution, ExecutionCommand, ExecutionEvent};
use alertledger_domain::incident::{
    Incident, IncidentCommand, IncidentError, IncidentEvent, Resolution,
};
use alertledger_domain::runbook::{
    runnable_on, target_instances, NotRunnable, Runbook, RunbookContent, RunbookEvent, RunbookPin,
    RunbookSpec,
};
use alertledger_domain::tenant::Tenant;
use alertledger_domain::values::{
    Actor, ApprovalId, ExecutionId, IncidentId, Note, Risk, RunbookId, TenantId,
};
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::{ConsumerError, LogConsumer, Target};
use alertledger_eventstore::log::LogEvent;
use alertledger_eventstore::store::EventMetadata;
use alertledger_eventstore::unit_of_work::{Loaded, UnitOfWork};
use async_trait::async_trait;
use cqrs_es::Aggregate;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{derived_id, worker_actor, worker_metadata};

/// The dispatcher's checkpoint name and its actor in the audit trail.
pub const DISPATCHER: &str = "runbook-dispatcher";

const EVENT_TYPES: &[&str] = &[
    RunbookEvent::DEFINED,
    RunbookEvent::CHANGED,
    RunbookEvent::RETIRED,
    IncidentEvent::OPENED,
    ApprovalEvent::GRANTED,
    ExecutionEvent::REQUESTED,
    ExecutionEvent::REFUSED,
    ExecutionEvent::SUCCEEDED,
    ExecutionEvent::FAILED,
    ExecutionEvent::TIMED_OUT,
];

/// The dispatcher as a [`LogConsumer`] (run it with a `ConsumerRunner`).
pub struct RunbookDispatcher {
    services: DomainServices,
    approval_ttl: Duration,
}

impl RunbookDispatcher {
    pub fn new(services: DomainServices, approval_ttl: Duration) -> Self {
        Self {
            services,
            approval_ttl,
        }
    }
}

#[async_trait]
impl LogConsumer for RunbookDispatcher {
    fn name(&self) -> &'static str {
        DISPATCHER
    }

    fn tables(&self) -> &'static [&'static str] {
        &["dispatcher_runbooks", "executor_queue"]
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(EVENT_TYPES)
    }

    /// Imported incidents, approvals and executions were dispatched where
    /// they came from (their requests and outcomes came along): running them
    /// here would send a command twice. Runbook definitions are still folded.
    fn decides_on(&self) -> &'static [&'static str] {
        &[
            IncidentEvent::OPENED,
            ApprovalEvent::GRANTED,
            ExecutionEvent::REQUESTED,
            ExecutionEvent::REFUSED,
            ExecutionEvent::SUCCEEDED,
            ExecutionEvent::FAILED,
            ExecutionEvent::TIMED_OUT,
        ]
    }

    fn rebuildable(&self) -> bool {
        false
    }

    fn appends_events(&self) -> bool {
        true
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        target: &Target,
        events: &[LogEvent],
    ) -> Result<(), ConsumerError> {
        let mut batch = Batch {
            conn,
            target,
            dispatcher: self,
            work: UnitOfWork::default(),
            incidents: HashMap::new(),
            approvals: HashMap::new(),
            executions: HashMap::new(),
        };
        for event in events {
            batch.apply(event).await?;
        }
        let Batch { conn, mut work, .. } = batch;
        work.write(conn).await?;
        Ok(())
    }
}

/// One batch: its connection, staged events and the aggregates it touched.
struct Batch<'a> {
    conn: &'a mut PgConnection,
    target: &'a Target,
    dispatcher: &'a RunbookDispatcher,
    work: UnitOfWork,
    incidents: HashMap<String, Loaded<Incident>>,
    approvals: HashMap<String, Loaded<Approval>>,
    executions: HashMap<String, Loaded<Execution>>,
}

/// The runbook the dispatcher found for an incident.
struct Match {
    runbook_id: Uuid,
    risk: Risk,
}

impl Batch<'_> {
    async fn apply(&mut self, event: &LogEvent) -> Result<(), ConsumerError> {
        match event.aggregate_type.as_str() {
            "Runbook" => self.runbook_changed(event, decode(event)?).await,
            "Incident" => match decode(event)? {
                IncidentEvent::IncidentOpened {
                    tenant_id,
                    incident_id,
                    signature,
                    ..
                } => {
                    let found = self.runbook_for(tenant_id, signature.as_str()).await?;
                    match found {
                        Some(found) => {
                            self.incident_opened(event, tenant_id, incident_id, found)
                                .await
                        }
                        None => Ok(()),
                    }
                }
                _ => Ok(()),
            },
            "Approval" => match decode(event)? {
                ApprovalEvent::ApprovalGranted {
                    tenant_id,
                    runbook_id,
                    incident_id,
                    ..
                } => {
                    let approval_id = ApprovalId::from_uuid(parse_uuid(event)?);
                    self.request_execution(
                        event,
                        tenant_id,
                        incident_id,
                        runbook_id,
                        Some(approval_id),
                    )
                    .await
                }
                _ => Ok(()),
            },
            "Execution" => self.execution_changed(event, decode(event)?).await,
            other => Err(ConsumerError::event(
                event,
                format!("unexpected aggregate type {other}"),
            )),
        }
    }

    async fn runbook_changed(
        &mut self,
        event: &LogEvent,
        change: RunbookEvent,
    ) -> Result<(), ConsumerError> {
        let table = self.target.table("dispatcher_runbooks");
        let runbook_id = parse_uuid(event)?;
        match change {
            RunbookEvent::RunbookDefined {
                tenant_id, runbook, ..
            } => {
                sqlx::query(&format!(
                    "INSERT INTO {table} (runbook_id, tenant_id, signature, risk, auto_execute, retired, defined_position)
                     VALUES ($1, $2, $3, $4, $5, false, $6)"
                ))
                .bind(runbook_id)
                .bind(tenant_id.as_uuid())
                .bind(runbook.signature.as_str())
                .bind(runbook.risk.as_str())
                .bind(runbook.auto_execute)
                .bind(event.position)
                .execute(&mut *self.conn)
                .await?;
            }
            RunbookEvent::RunbookChanged { runbook, .. } => {
                sqlx::query(&format!(
                    "UPDATE {table} SET signature = $2, risk = $3, auto_execute = $4 WHERE runbook_id = $1"
                ))
                .bind(runbook_id)
                .bind(runbook.signature.as_str())
                .bind(runbook.risk.as_str())
                .bind(runbook.auto_execute)
                .execute(&mut *self.conn)
                .await?;
            }
            RunbookEvent::RunbookRetired { .. } => {
                sqlx::query(&format!(
                    "UPDATE {table} SET retired = true WHERE runbook_id = $1"
                ))
                .bind(runbook_id)
                .execute(&mut *self.conn)
                .await?;
            }
        }
        Ok(())
    }

    async fn runbook_for(
        &mut self,
        tenant_id: TenantId,
        signature: &str,
    ) -> Result<Option<Match>, ConsumerError> {
        let row: Option<(Uuid, String)> = sqlx::query_as(&format!(
            "SELECT runbook_id, risk FROM {} WHERE tenant_id = $1 AND signature = $2
                AND auto_execute AND NOT retired ORDER BY defined_position LIMIT 1",
            self.target.table("dispatcher_runbooks")
        ))
        .bind(tenant_id.as_uuid())
        .bind(signature)
        .fetch_optional(&mut *self.conn)
        .await?;
        Ok(match row {
            Some((runbook_id, risk)) => Some(Match {
                runbook_id,
                risk: risk.parse().map_err(|error| {
                    ConsumerError::Corrupt(format!("dispatcher_runbooks risk {risk:?}: {error}"))
                })?,
            }),
            None => None,
        })
    }

    async fn incident_opened(
        &mut self,
        event: &LogEvent,
        tenant_id: TenantId,
        incident_id: IncidentId,
        found: Match,
    ) -> Result<(), ConsumerError> {
        let runbook_id = RunbookId::from_uuid(found.runbook_id);
        if !found.risk.requires_approval() {
            return self
                .request_execution(event, tenant_id, incident_id, runbook_id, None)
                .await;
        }
        let approval_id = ApprovalId::from_uuid(derived_id(
            "approval",
            &[*incident_id.as_uuid(), found.runbook_id],
        ));
        let ttl = chrono::Duration::from_std(self.dispatcher.approval_ttl)
            .unwrap_or_else(|_| chrono::Duration::hours(1));
        let pin = self
            .pin(tenant_id, incident_id, runbook_id)
            .await?
            .ok_or_else(|| {
                ConsumerError::event(event, format!("runbook {runbook_id} is not defined"))
            })?;
        let command = ApprovalCommand::RequestApproval {
            approval_id,
            tenant_id,
            runbook_id,
            incident_id,
            risk: found.risk,
            requested_by: self.actor(event)?,
            expires_at: self.dispatcher.services.now() + ttl,
            pin,
        };
        let metadata = worker_metadata(
            DISPATCHER,
            Some(event.position),
            Some(*incident_id.as_uuid()),
        );
        let id = approval_id.to_string();
        self.execute::<Approval>(event, &id, command, &metadata)
            .await
    }

    /// Requests an execution of `runbook_id` on the incident's asset's
    /// instances; comments on the incident when that cannot be.
    async fn request_execution(
        &mut self,
        event: &LogEvent,
        tenant_id: TenantId,
        incident_id: IncidentId,
        runbook_id: RunbookId,
        approval_id: Option<ApprovalId>,
    ) -> Result<(), ConsumerError> {
        let metadata = worker_metadata(
            DISPATCHER,
            Some(event.position),
            Some(*incident_id.as_uuid()),
        );
        let runbook: Runbook = self.load_once(&runbook_id.to_string()).await?.state;
        let incident_key = incident_id.to_string();
        let incident = self.incident(&incident_key).await?.state.clone();
        let tenant: Tenant = self.load_once(&tenant_id.to_string()).await?.state;
        let planned = runnable_on(&runbook, &incident).and_then(|spec| {
            target_instances(&incident, &tenant).map(|instances| (spec.clone(), instances))
        });
        let (spec, instance_ids) = match planned {
            Ok(planned) => planned,
            Err(reason) => {
                let text = not_run_comment(runbook_id, runbook.spec(), &reason);
                return self.comment(event, &incident_key, &text, &metadata).await;
            }
        };
        if let Some(approval) = approval_id {
            let current =
                RunbookPin::new(runbook.version(), RunbookContent::of(&spec, &instance_ids));
            if let Some(reason) = self.stale_approval(approval, &current).await? {
                return self
                    .refuse(
                        event,
                        tenant_id,
                        incident_id,
                        runbook_id,
                        approval,
                        &spec,
                        instance_ids,
                        reason,
                    )
                    .await;
            }
        }
        let cause = match approval_id {
            Some(approval) => derived_id("execution-of-approval", &[*approval.as_uuid()]),
            None => derived_id(
                "execution",
                &[*incident_id.as_uuid(), *runbook_id.as_uuid()],
            ),
        };
        let execution_id = ExecutionId::from_uuid(cause);
        let command = ExecutionCommand::RequestExecution {
            execution_id,
            tenant_id,
            runbook_id,
            incident_id,
            approval_id,
            document: spec.action.document().as_str().to_owned(),
            commands: spec.action.commands().to_vec(),
            parameters: spec.action.parameters().clone(),
            instance_ids,
            requested_by: self.actor(event)?,
        };
        let id = execution_id.to_string();
        self.execute::<Execution>(event, &id, command, &metadata)
            .await
    }

    /// Why the granted `approval` does not cover the runbook as it stands
    /// (`current`), if it does not.
    async fn stale_approval(
        &mut self,
        approval: ApprovalId,
        current: &RunbookPin,
    ) -> Result<Option<String>, ConsumerError> {
        let key = approval.to_string();
        let loaded: Loaded<Approval> = match self.approvals.get(&key) {
            Some(loaded) => loaded.clone(),
            None => self.load_once(&key).await?,
        };
        Ok(match loaded.state.pin() {
            Some(pin) => pin.check(current).err().map(|mismatch| mismatch.to_string()),
            None => Some(
                "the approval was requested before approvals pinned the runbook's content; request it again"
                    .to_owned(),
            ),
        })
    }

    /// The pin of `runbook_id` as it stands, run on the incident's targets
    /// (none registered: an empty list, which the approver sees).
    async fn pin(
        &mut self,
        tenant_id: TenantId,
        incident_id: IncidentId,
        runbook_id: RunbookId,
    ) -> Result<Option<RunbookPin>, ConsumerError> {
        let runbook: Runbook = self.load_once(&runbook_id.to_string()).await?.state;
        let incident = self.incident(&incident_id.to_string()).await?.state.clone();
        let tenant: Tenant = self.load_once(&tenant_id.to_string()).await?.state;
        let targets = target_instances(&incident, &tenant).unwrap_or_default();
        Ok(RunbookPin::of(&runbook, &targets))
    }

    /// Records that the run of a granted approval was refused, and why.
    #[allow(clippy::too_many_arguments)]
    async fn refuse(
        &mut self,
        event: &LogEvent,
        tenant_id: TenantId,
        incident_id: IncidentId,
        runbook_id: RunbookId,
        approval: ApprovalId,
        spec: &RunbookSpec,
        instance_ids: Vec<alertledger_domain::values::InstanceId>,
        reason: String,
    ) -> Result<(), ConsumerError> {
        tracing::warn!(%approval, %runbook_id, %reason, "approved runbook run refused");
        let metadata = worker_metadata(
            DISPATCHER,
            Some(event.position),
            Some(*incident_id.as_uuid()),
        );
        let execution_id =
            ExecutionId::from_uuid(derived_id("execution-of-approval", &[*approval.as_uuid()]));
        let command = ExecutionCommand::RefuseExecution {
            execution_id,
            tenant_id,
            runbook_id,
            incident_id,
            approval_id: Some(approval),
            document: spec.action.document().as_str().to_owned(),
            commands: spec.action.commands().to_vec(),
            parameters: spec.action.parameters().clone(),
            instance_ids,
            requested_by: self.actor(event)?,
            reason,
        };
        let id = execution_id.to_string();
        self.execute::<Execution>(event, &id, command, &metadata)
            .await
    }

    async fn execution_changed(
        &mut self,
        event: &LogEvent,
        change: ExecutionEvent,
    ) -> Result<(), ConsumerError> {
        let execution_id = parse_uuid(event)?;
        let queue = self.target.table("executor_queue");
        let outcome = match change {
            ExecutionEvent::ExecutionRequested { tenant_id, .. } => {
                sqlx::query(&format!(
                    "INSERT INTO {queue} (execution_id, tenant_id, queued_position) VALUES ($1, $2, $3)
                     ON CONFLICT (execution_id) DO NOTHING"
                ))
                .bind(execution_id)
                .bind(tenant_id.as_uuid())
                .bind(event.position)
                .execute(&mut *self.conn)
                .await?;
                return Ok(());
            }
            ExecutionEvent::ExecutionSucceeded { incident_id, .. } => {
                (incident_id, Outcome::Healed)
            }
            ExecutionEvent::ExecutionFailed {
                incident_id,
                reason,
                error_code,
                ..
            } => (
                incident_id,
                Outcome::Escalate(match error_code {
                    Some(code) => {
                        format!("Runbook execution {execution_id} failed ({code}): {reason}")
                    }
                    None => format!("Runbook execution {execution_id} failed: {reason}"),
                }),
            ),
            ExecutionEvent::ExecutionRefused {
                incident_id,
                reason,
                ..
            } => (
                incident_id,
                Outcome::Escalate(format!(
                    "Runbook execution {execution_id} was refused: {reason}"
                )),
            ),
            ExecutionEvent::ExecutionTimedOut { incident_id, .. } => (
                incident_id,
                Outcome::Escalate(format!(
                    "Runbook execution {execution_id} did not finish in time"
                )),
            ),
            _ => return Ok(()),
        };
        sqlx::query(&format!("DELETE FROM {queue} WHERE execution_id = $1"))
            .bind(execution_id)
            .execute(&mut *self.conn)
            .await?;
        let (incident_id, outcome) = outcome;
        let actor = self.actor(event)?;
        let command = match outcome {
            Outcome::Healed => IncidentCommand::ResolveIncident {
                actor,
                note: Some(note(
                    event,
                    &format!("Self-healed by runbook execution {execution_id}"),
                )?),
                resolution: Resolution::SelfHealed {
                    execution_id: ExecutionId::from_uuid(execution_id),
                },
            },
            Outcome::Escalate(reason) => IncidentCommand::EscalateIncident {
                reason: note(event, &reason)?,
                actor,
            },
        };
        let metadata = worker_metadata(
            DISPATCHER,
            Some(event.position),
            Some(*incident_id.as_uuid()),
        );
        let key = incident_id.to_string();
        self.incident(&key).await?;
        let incident = self
            .incidents
            .get_mut(&key)
            .ok_or_else(|| missing(event, &key))?;
        match self
            .work
            .execute(
                &key,
                incident,
                command,
                &self.dispatcher.services,
                &metadata,
            )
            .await
        {
            Ok(_) => Ok(()),
            // A person got there first: their decision stands.
            Err(IncidentError::AlreadyResolved | IncidentError::CannotEscalateResolved) => {
                tracing::info!(incident = %key, "incident already resolved; outcome not applied");
                Ok(())
            }
            Err(error) => Err(ConsumerError::event(event, error)),
        }
    }

    async fn comment(
        &mut self,
        event: &LogEvent,
        incident_key: &str,
        text: &str,
        metadata: &EventMetadata,
    ) -> Result<(), ConsumerError> {
        let command = IncidentCommand::CommentOnIncident {
            text: note(event, text)?,
            actor: self.actor(event)?,
        };
        self.incident(incident_key).await?;
        let incident = self
            .incidents
            .get_mut(incident_key)
            .ok_or_else(|| missing(event, incident_key))?;
        self.work
            .execute(
                incident_key,
                incident,
                command,
                &self.dispatcher.services,
                metadata,
            )
            .await
            .map_err(|error| ConsumerError::event(event, error))?;
        Ok(())
    }

    /// Runs a command on an approval or execution this batch may already have touched.
    async fn execute<A>(
        &mut self,
        event: &LogEvent,
        id: &str,
        command: A::Command,
        metadata: &EventMetadata,
    ) -> Result<(), ConsumerError>
    where
        A: Aggregate<Services = DomainServices> + Clone + Default + Tracked,
    {
        if !A::cache(self).contains_key(id) {
            let loaded: Loaded<A> = self.load_once(id).await?;
            A::cache(self).insert(id.to_owned(), loaded);
        }
        let services = self.dispatcher.services.clone();
        let mut loaded = A::cache(self).remove(id).unwrap_or_default();
        let result = self
            .work
            .execute(id, &mut loaded, command, &services, metadata)
            .await;
        A::cache(self).insert(id.to_owned(), loaded);
        match result {
            Ok(_) => Ok(()),
            Err(error) => Err(ConsumerError::event(event, error)),
        }
    }

    async fn incident(&mut self, id: &str) -> Result<&mut Loaded<Incident>, ConsumerError> {
        if !self.incidents.contains_key(id) {
            let loaded = self.load_once(id).await?;
            self.incidents.insert(id.to_owned(), loaded);
        }
        self.incidents
            .get_mut(id)
            .ok_or_else(|| ConsumerError::Corrupt(format!("incident {id} vanished")))
    }

    async fn load_once<A: Aggregate>(&mut self, id: &str) -> Result<Loaded<A>, ConsumerError> {
        let mut loaded = self.work.load::<A>(self.conn, &[id.to_owned()]).await?;
        Ok(loaded.remove(id).unwrap_or_default())
    }

    fn actor(&self, event: &LogEvent) -> Result<Actor, ConsumerError> {
        worker_actor(DISPATCHER).map_err(|error| ConsumerError::event(event, error))
    }
}

enum Outcome {
    Healed,
    Escalate(String),
}

/// The batch's cache of one aggregate type the dispatcher writes to.
trait Tracked: Sized {
    fn cache<'b>(batch: &'b mut Batch<'_>) -> &'b mut HashMap<String, Loaded<Self>>;
}

impl Tracked for Approval {
    fn cache<'b>(batch: &'b mut Batch<'_>) -> &'b mut HashMap<String, Loaded<Self>> {
        &mut batch.approvals
    }
}

impl Tracked for Execution {
    fn cache<'b>(batch: &'b mut Batch<'_>) -> &'b mut HashMap<String, Loaded<Self>> {
        &mut batch.executions
    }
}

fn decode<T: serde::de::DeserializeOwned>(event: &LogEvent) -> Result<T, ConsumerError> {
    event
        .payload_as()
        .map_err(|error| ConsumerError::event(event, format!("undecodable payload: {error}")))
}

fn parse_uuid(event: &LogEvent) -> Result<Uuid, ConsumerError> {
    Uuid::parse_str(&event.aggregate_id)
        .map_err(|error| ConsumerError::event(event, format!("bad aggregate id: {error}")))
}

fn note(event: &LogEvent, text: &str) -> Result<Note, ConsumerError> {
    Note::parse(text).map_err(|error| ConsumerError::event(event, error))
}

fn missing(event: &LogEvent, id: &str) -> ConsumerError {
    ConsumerError::event(event, format!("aggregate {id} not loaded"))
}

/// What the incident's timeline says when the dispatcher runs nothing.
fn not_run_comment(
    runbook_id: RunbookId,
    spec: Option<&RunbookSpec>,
    reason: &NotRunnable,
) -> String {
    match (reason, spec) {
        (NotRunnable::RunbookUnavailable, _) | (_, None) => {
            format!("Runbook {runbook_id} was not run: it is retired or unknown")
        }
        (NotRunnable::IncidentResolved, Some(spec)) => format!(
            "Runbook \"{}\" was not run: the incident was resolved meanwhile",
            spec.name.as_str()
        ),
        (NotRunnable::NoTargetInstances { .. }, Some(spec)) => {
            format!("Runbook \"{}\" was not run: {reason}", spec.name.as_str())
        }
    }
}
