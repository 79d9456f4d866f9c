//! The remediation read models: `runbooks`, `approvals`, `executions`, and
//! `remediation_timeline` (approval and execution events as entries of their
//! incident's timeline), kept from the Runbook, Approval and Execution
//! aggregates' events, with the queries behind the runbook, approval and
//! execution routes.

use std::collections::HashMap;

use alertledger_domain::approval::ApprovalEvent;
use alertledger_domain::execution::ExecutionEvent;
use alertledger_domain::runbook::{RunbookEvent, RunbookSpec};
use alertledger_domain::values::{Actor, Risk};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::decode::{
    aggregate_uuid, metadata_actor, payload, payload_fields, rows_of_aggregates, same_tenant,
};
use super::incidents::TimelineRow;
use super::page::{bounded, decode_cursor, fetch_limit, Page, QueryError, DEFAULT_LIMIT};
use alertledger_eventstore::consumer::rows::{insert, upsert, ReadModelRow};
use alertledger_eventstore::consumer::{ConsumerError, LogConsumer, Target};
use alertledger_eventstore::log::LogEvent;

/// Keeps the remediation tables.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemediationProjection;

const EVENT_TYPES: &[&str] = &[
    RunbookEvent::DEFINED,
    RunbookEvent::CHANGED,
    RunbookEvent::RETIRED,
    ApprovalEvent::REQUESTED,
    ApprovalEvent::GRANTED,
    ApprovalEvent::REJECTED,
    ApprovalEvent::EXPIRED,
    ExecutionEvent::REQUESTED,
    ExecutionEvent::REFUSED,
    ExecutionEvent::DISPATCHING,
    ExecutionEvent::DISPATCHED,
    ExecutionEvent::INVOCATION_UPDATED,
    ExecutionEvent::SUCCEEDED,
    ExecutionEvent::FAILED,
    ExecutionEvent::TIMED_OUT,
];

/// One row of `runbooks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunbookRow {
    pub runbook_id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub signature: String,
    pub risk: Risk,
    pub document: String,
    pub commands: Vec<String>,
    pub parameters: serde_json::Value,
    pub auto_execute: bool,
    pub retired: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    pub last_position: i64,
}

impl ReadModelRow for RunbookRow {
    const TABLE: &'static str = "runbooks";
    const KEY: &'static [&'static str] = &["runbook_id"];
    const COLUMNS: &'static [&'static str] = &[
        "runbook_id",
        "tenant_id",
        "name",
        "signature",
        "risk",
        "document",
        "commands",
        "parameters",
        "auto_execute",
        "retired",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
        "last_position",
    ];
}

/// One row of `approvals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRow {
    pub approval_id: Uuid,
    pub tenant_id: Uuid,
    pub runbook_id: Uuid,
    pub incident_id: Uuid,
    pub risk: Risk,
    pub status: String,
    pub requested_by: String,
    pub requester_name: String,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    /// The runbook version the request pinned (null for requests recorded
    /// before approvals pinned it).
    pub runbook_version: Option<i64>,
    /// SHA-256 of the pinned content (see `RunbookContent::sha256`).
    pub runbook_content_sha256: Option<String>,
    /// What the approver approves: `{document, commands, parameters, risk,
    /// instance_ids}`.
    pub runbook_content: Option<serde_json::Value>,
    pub last_position: i64,
}

impl ReadModelRow for ApprovalRow {
    const TABLE: &'static str = "approvals";
    const KEY: &'static [&'static str] = &["approval_id"];
    const COLUMNS: &'static [&'static str] = &[
        "approval_id",
        "tenant_id",
        "runbook_id",
        "incident_id",
        "risk",
        "status",
        "requested_by",
        "requester_name",
        "requested_at",
        "expires_at",
        "decided_by",
        "decided_at",
        "reason",
        "runbook_version",
        "runbook_content_sha256",
        "runbook_content",
        "last_position",
    ];
}

/// One instance's latest invocation, as kept in `executions.invocations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvocationView {
    pub status: String,
    pub response_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub at: DateTime<Utc>,
}

/// One row of `executions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRow {
    pub execution_id: Uuid,
    pub tenant_id: Uuid,
    pub runbook_id: Uuid,
    pub incident_id: Uuid,
    pub approval_id: Option<Uuid>,
    pub document: String,
    pub commands: Vec<String>,
    pub parameters: serde_json::Value,
    pub instance_ids: Vec<String>,
    pub status: String,
    pub command_id: Option<String>,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    pub error_code: Option<String>,
    pub invocations: HashMap<String, InvocationView>,
    pub last_position: i64,
}

impl ReadModelRow for ExecutionRow {
    const TABLE: &'static str = "executions";
    const KEY: &'static [&'static str] = &["execution_id"];
    const COLUMNS: &'static [&'static str] = &[
        "execution_id",
        "tenant_id",
        "runbook_id",
        "incident_id",
        "approval_id",
        "document",
        "commands",
        "parameters",
        "instance_ids",
        "status",
        "command_id",
        "requested_by",
        "requested_at",
        "dispatched_at",
        "finished_at",
        "failure_reason",
        "error_code",
        "invocations",
        "last_position",
    ];
}

/// An entry of `remediation_timeline` (same columns as `incident_timeline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RemediationEntry(TimelineRow);

impl ReadModelRow for RemediationEntry {
    const TABLE: &'static str = "remediation_timeline";
    const KEY: &'static [&'static str] = TimelineRow::KEY;
    const COLUMNS: &'static [&'static str] = TimelineRow::COLUMNS;
}

/// The rows a batch works on.
#[derive(Default)]
struct Batch {
    runbooks: HashMap<Uuid, RunbookRow>,
    approvals: HashMap<Uuid, ApprovalRow>,
    executions: HashMap<Uuid, ExecutionRow>,
    timeline: Vec<RemediationEntry>,
}

#[async_trait]
impl LogConsumer for RemediationProjection {
    fn name(&self) -> &'static str {
        "remediation"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "runbooks",
            "approvals",
            "executions",
            "remediation_timeline",
        ]
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(EVENT_TYPES)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        target: &Target,
        events: &[LogEvent],
    ) -> Result<(), ConsumerError> {
        let of_type = |kind: &str| -> Vec<LogEvent> {
            events
                .iter()
                .filter(|event| event.aggregate_type == kind)
                .cloned()
                .collect()
        };
        let (runbook_ids, runbooks) = rows_of_aggregates(
            conn,
            target,
            &of_type("Runbook"),
            "runbook_id",
            |row: &RunbookRow| row.runbook_id,
        )
        .await?;
        let (approval_ids, approvals) = rows_of_aggregates(
            conn,
            target,
            &of_type("Approval"),
            "approval_id",
            |row: &ApprovalRow| row.approval_id,
        )
        .await?;
        let (execution_ids, executions) = rows_of_aggregates(
            conn,
            target,
            &of_type("Execution"),
            "execution_id",
            |row: &ExecutionRow| row.execution_id,
        )
        .await?;
        let mut batch = Batch {
            runbooks,
            approvals,
            executions,
            timeline: Vec::new(),
        };
        for event in events {
            match event.aggregate_type.as_str() {
                "Runbook" => fold_runbook(&mut batch, event)?,
                "Approval" => fold_approval(&mut batch, event)?,
                "Execution" => fold_execution(&mut batch, event)?,
                other => {
                    return Err(ConsumerError::event(
                        event,
                        format!("unexpected aggregate type {other}"),
                    ))
                }
            }
        }
        let runbooks: Vec<RunbookRow> = runbook_ids
            .iter()
            .filter_map(|id| batch.runbooks.remove(id))
            .collect();
        let approvals: Vec<ApprovalRow> = approval_ids
            .iter()
            .filter_map(|id| batch.approvals.remove(id))
            .collect();
        let executions: Vec<ExecutionRow> = execution_ids
            .iter()
            .filter_map(|id| batch.executions.remove(id))
            .collect();
        upsert(conn, target, &runbooks).await?;
        upsert(conn, target, &approvals).await?;
        upsert(conn, target, &executions).await?;
        insert(conn, target, &batch.timeline).await
    }
}

fn actor_id(actor: &Actor) -> String {
    actor.user_id().as_str().to_owned()
}

fn fold_runbook(batch: &mut Batch, event: &LogEvent) -> Result<(), ConsumerError> {
    let runbook_id = aggregate_uuid(event)?;
    let change: RunbookEvent = payload(event)?;
    let fill = |row: &mut RunbookRow, spec: RunbookSpec| -> Result<(), ConsumerError> {
        row.name = spec.name.as_str().to_owned();
        row.signature = spec.signature.as_str().to_owned();
        row.risk = spec.risk;
        row.document = spec.action.document().as_str().to_owned();
        row.commands = spec.action.commands().to_vec();
        row.parameters = serde_json::to_value(spec.action.parameters())
            .map_err(|error| ConsumerError::event(event, error))?;
        row.auto_execute = spec.auto_execute;
        Ok(())
    };
    match change {
        RunbookEvent::RunbookDefined {
            tenant_id,
            runbook,
            actor,
            at,
            ..
        } => {
            if batch.runbooks.contains_key(&runbook_id) {
                return Err(ConsumerError::event(event, "runbook defined twice"));
            }
            let mut row = RunbookRow {
                runbook_id,
                tenant_id: *tenant_id.as_uuid(),
                name: String::new(),
                signature: String::new(),
                risk: runbook.risk,
                document: String::new(),
                commands: Vec::new(),
                parameters: serde_json::Value::Null,
                auto_execute: false,
                retired: false,
                created_at: at,
                created_by: actor_id(&actor),
                updated_at: at,
                updated_by: actor_id(&actor),
                last_position: event.position,
            };
            fill(&mut row, runbook)?;
            batch.runbooks.insert(runbook_id, row);
        }
        RunbookEvent::RunbookChanged {
            runbook, actor, at, ..
        } => {
            let row = existing(&mut batch.runbooks, runbook_id, event)?;
            fill(row, runbook)?;
            row.updated_at = at;
            row.updated_by = actor_id(&actor);
            row.last_position = event.position;
        }
        RunbookEvent::RunbookRetired { actor, at, .. } => {
            let row = existing(&mut batch.runbooks, runbook_id, event)?;
            row.retired = true;
            row.updated_at = at;
            row.updated_by = actor_id(&actor);
            row.last_position = event.position;
        }
    }
    Ok(())
}

fn fold_approval(batch: &mut Batch, event: &LogEvent) -> Result<(), ConsumerError> {
    let approval_id = aggregate_uuid(event)?;
    let change: ApprovalEvent = payload(event)?;
    if let ApprovalEvent::ApprovalRequested {
        tenant_id,
        runbook_id,
        incident_id,
        risk,
        requested_by,
        expires_at,
        at,
        pin,
        ..
    } = &change
    {
        if batch.approvals.contains_key(&approval_id) {
            return Err(ConsumerError::event(event, "approval requested twice"));
        }
        batch.approvals.insert(
            approval_id,
            ApprovalRow {
                approval_id,
                tenant_id: *tenant_id.as_uuid(),
                runbook_id: *runbook_id.as_uuid(),
                incident_id: *incident_id.as_uuid(),
                risk: *risk,
                status: "pending".to_owned(),
                requested_by: actor_id(requested_by),
                requester_name: requested_by.name().to_owned(),
                requested_at: *at,
                expires_at: *expires_at,
                decided_by: None,
                decided_at: None,
                reason: None,
                runbook_version: pin
                    .as_ref()
                    .map(|pin| i64::try_from(pin.version).unwrap_or(i64::MAX)),
                runbook_content_sha256: pin.as_ref().map(|pin| pin.content_sha256.clone()),
                runbook_content: pin
                    .as_ref()
                    .map(|pin| serde_json::to_value(&pin.content))
                    .transpose()
                    .map_err(|error| ConsumerError::event(event, error))?,
                last_position: event.position,
            },
        );
    }
    let row = existing(&mut batch.approvals, approval_id, event)?;
    let (summary, at) = match change {
        ApprovalEvent::ApprovalRequested {
            risk,
            requested_by,
            expires_at,
            at,
            pin,
            ..
        } => (
            format!(
                "Approval requested by {} to run {} risk runbook {}{} (expires {})",
                requested_by.name(),
                risk,
                row.runbook_id,
                pin.map_or(String::new(), |pin| format!(
                    " version {} (sha256 {})",
                    pin.version, pin.content_sha256
                )),
                expires_at.to_rfc3339()
            ),
            at,
        ),
        ApprovalEvent::ApprovalGranted {
            approver,
            reason,
            at,
            ..
        }
        | ApprovalEvent::ApprovalRejected {
            approver,
            reason,
            at,
            ..
        } => {
            let granted = event.event_type == ApprovalEvent::GRANTED;
            row.status = if granted { "granted" } else { "rejected" }.to_owned();
            row.decided_by = Some(actor_id(&approver));
            row.decided_at = Some(at);
            row.reason = reason.map(|note| note.as_str().to_owned());
            (
                format!(
                    "Runbook run {} by {}",
                    if granted { "approved" } else { "rejected" },
                    approver.name()
                ),
                at,
            )
        }
        ApprovalEvent::ApprovalExpired { at, .. } => {
            row.status = "expired".to_owned();
            row.decided_at = Some(at);
            ("Approval expired undecided".to_owned(), at)
        }
    };
    same_tenant(event, row.tenant_id)?;
    row.last_position = event.position;
    let incident_id = row.incident_id;
    batch.timeline.push(entry(event, incident_id, at, summary)?);
    Ok(())
}

fn fold_execution(batch: &mut Batch, event: &LogEvent) -> Result<(), ConsumerError> {
    let execution_id = aggregate_uuid(event)?;
    let change: ExecutionEvent = payload(event)?;
    if let ExecutionEvent::ExecutionRequested {
        tenant_id,
        runbook_id,
        incident_id,
        approval_id,
        document,
        commands,
        parameters,
        instance_ids,
        requested_by,
        at,
        ..
    }
    | ExecutionEvent::ExecutionRefused {
        tenant_id,
        runbook_id,
        incident_id,
        approval_id,
        document,
        commands,
        parameters,
        instance_ids,
        requested_by,
        at,
        ..
    } = &change
    {
        if batch.executions.contains_key(&execution_id) {
            return Err(ConsumerError::event(event, "execution requested twice"));
        }
        batch.executions.insert(
            execution_id,
            ExecutionRow {
                execution_id,
                tenant_id: *tenant_id.as_uuid(),
                runbook_id: *runbook_id.as_uuid(),
                incident_id: *incident_id.as_uuid(),
                approval_id: approval_id.map(|id| *id.as_uuid()),
                document: document.clone(),
                commands: commands.clone(),
                parameters: serde_json::to_value(parameters)
                    .map_err(|error| ConsumerError::event(event, error))?,
                instance_ids: instance_ids
                    .iter()
                    .map(|id| id.as_str().to_owned())
                    .collect(),
                status: "requested".to_owned(),
                command_id: None,
                requested_by: actor_id(requested_by),
                requested_at: *at,
                dispatched_at: None,
                finished_at: None,
                failure_reason: None,
                error_code: None,
                invocations: HashMap::new(),
                last_position: event.position,
            },
        );
    }
    let row = existing(&mut batch.executions, execution_id, event)?;
    let (summary, at) = match change {
        ExecutionEvent::ExecutionRequested {
            document,
            instance_ids,
            requested_by,
            at,
            ..
        } => (
            format!(
                "Runbook execution requested by {}: {document} on {}",
                requested_by.name(),
                instance_ids
                    .iter()
                    .map(|id| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            at,
        ),
        ExecutionEvent::ExecutionRefused { reason, at, .. } => {
            row.status = "refused".to_owned();
            row.finished_at = Some(at);
            let summary = format!("Runbook run refused: {reason}");
            row.failure_reason = Some(reason);
            (summary, at)
        }
        ExecutionEvent::ExecutionDispatching { at, .. } => {
            row.status = "dispatching".to_owned();
            ("Sending the command to AWS SSM".to_owned(), at)
        }
        ExecutionEvent::ExecutionDispatched { command_id, at, .. } => {
            row.status = "dispatched".to_owned();
            row.command_id = Some(command_id.as_str().to_owned());
            row.dispatched_at = Some(at);
            (format!("SSM accepted command {command_id}"), at)
        }
        ExecutionEvent::InvocationUpdated {
            instance_id,
            status,
            response_code,
            stdout_excerpt,
            stderr_excerpt,
            at,
            ..
        } => {
            row.invocations.insert(
                instance_id.as_str().to_owned(),
                InvocationView {
                    status: status.as_str().to_owned(),
                    response_code,
                    stdout: stdout_excerpt,
                    stderr: stderr_excerpt,
                    at,
                },
            );
            let code = response_code.map_or(String::new(), |code| format!(" (exit code {code})"));
            (format!("{instance_id}: {status}{code}"), at)
        }
        ExecutionEvent::ExecutionSucceeded { at, .. } => {
            row.status = "succeeded".to_owned();
            row.finished_at = Some(at);
            ("Runbook succeeded on every instance".to_owned(), at)
        }
        ExecutionEvent::ExecutionFailed {
            reason,
            error_code,
            at,
            ..
        } => {
            row.status = "failed".to_owned();
            row.finished_at = Some(at);
            let summary = format!("Runbook failed: {reason}");
            row.failure_reason = Some(reason);
            row.error_code = error_code;
            (summary, at)
        }
        ExecutionEvent::ExecutionTimedOut { at, .. } => {
            row.status = "timed_out".to_owned();
            row.finished_at = Some(at);
            ("Runbook timed out".to_owned(), at)
        }
    };
    same_tenant(event, row.tenant_id)?;
    row.last_position = event.position;
    let incident_id = row.incident_id;
    batch.timeline.push(entry(event, incident_id, at, summary)?);
    Ok(())
}

fn existing<'a, R>(
    rows: &'a mut HashMap<Uuid, R>,
    id: Uuid,
    event: &LogEvent,
) -> Result<&'a mut R, ConsumerError> {
    rows.get_mut(&id).ok_or_else(|| {
        ConsumerError::event(
            event,
            format!("{} {id} was never created", event.aggregate_type),
        )
    })
}

fn entry(
    event: &LogEvent,
    incident_id: Uuid,
    at: DateTime<Utc>,
    summary: String,
) -> Result<RemediationEntry, ConsumerError> {
    Ok(RemediationEntry(TimelineRow {
        position: event.position,
        incident_id,
        tenant_id: event.tenant_id,
        at,
        event_type: event.event_type.clone(),
        actor: metadata_actor(event),
        summary,
        details: payload_fields(event)?,
    }))
}

// ----- queries -----

/// What the remediation list routes ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct RemediationQuery {
    /// The tenants to list (`None`: every tenant, for an MSP admin).
    pub tenants: Option<Vec<Uuid>>,
    /// For approvals and executions: only this status.
    pub status: Option<String>,
    /// Rows per page (1..=500).
    pub limit: usize,
    pub cursor: Option<String>,
}

impl Default for RemediationQuery {
    fn default() -> Self {
        Self {
            tenants: None,
            status: None,
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

/// A list over one table, newest first by `time_column`, keyed by `id_column`.
async fn list_rows<R: ReadModelRow>(
    pool: &PgPool,
    query: &RemediationQuery,
    time_column: &str,
    id_column: &str,
    key_of: fn(&R) -> (DateTime<Utc>, Uuid),
) -> Result<Page<R>, QueryError> {
    let limit = bounded(query.limit);
    let mut sql = QueryBuilder::<Postgres>::new(format!(
        "SELECT to_jsonb(r) FROM {} r WHERE true",
        Target::live().table(R::TABLE)
    ));
    if let Some(tenants) = &query.tenants {
        sql.push(" AND r.tenant_id = ANY(")
            .push_bind(tenants.clone())
            .push(")");
    }
    if let Some(status) = &query.status {
        sql.push(" AND r.status = ").push_bind(status.clone());
    }
    if let Some(cursor) = &query.cursor {
        let (at, id): (DateTime<Utc>, Uuid) = decode_cursor(cursor)?;
        sql.push(format!(" AND (r.\"{time_column}\", r.\"{id_column}\") < ("))
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    sql.push(format!(
        " ORDER BY r.\"{time_column}\" DESC, r.\"{id_column}\" DESC LIMIT "
    ))
    .push_bind(fetch_limit(limit));
    let rows: Vec<Json<R>> = sql.build_query_scalar().fetch_all(pool).await?;
    let rows: Vec<R> = rows.into_iter().map(|Json(row)| row).collect();
    Ok(Page::from_rows(rows, limit, key_of))
}

/// One page of runbooks (retired ones included, flagged), newest first.
pub async fn list_runbooks(
    pool: &PgPool,
    query: &RemediationQuery,
) -> Result<Page<RunbookRow>, QueryError> {
    list_rows(
        pool,
        query,
        "created_at",
        "runbook_id",
        |row: &RunbookRow| (row.created_at, row.runbook_id),
    )
    .await
}

/// One page of approvals, newest first.
pub async fn list_approvals(
    pool: &PgPool,
    query: &RemediationQuery,
) -> Result<Page<ApprovalRow>, QueryError> {
    list_rows(
        pool,
        query,
        "requested_at",
        "approval_id",
        |row: &ApprovalRow| (row.requested_at, row.approval_id),
    )
    .await
}

/// One page of executions, newest first.
pub async fn list_executions(
    pool: &PgPool,
    query: &RemediationQuery,
) -> Result<Page<ExecutionRow>, QueryError> {
    list_rows(
        pool,
        query,
        "requested_at",
        "execution_id",
        |row: &ExecutionRow| (row.requested_at, row.execution_id),
    )
    .await
}

async fn find_row<R: ReadModelRow>(
    pool: &PgPool,
    id_column: &str,
    id: Uuid,
) -> Result<Option<R>, sqlx::Error> {
    let row: Option<Json<R>> = sqlx::query_scalar(&format!(
        "SELECT to_jsonb(r) FROM {} r WHERE r.\"{id_column}\" = $1",
        Target::live().table(R::TABLE)
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|Json(row)| row))
}

/// The approval `approval_id`, of whichever tenant (callers check they may read it).
pub async fn find_approval(pool: &PgPool, id: Uuid) -> Result<Option<ApprovalRow>, sqlx::Error> {
    find_row(pool, "approval_id", id).await
}

/// The execution `execution_id`, of whichever tenant (callers check they may read it).
pub async fn find_execution(pool: &PgPool, id: Uuid) -> Result<Option<ExecutionRow>, sqlx::Error> {
    find_row(pool, "execution_id", id).await
}

/// The runbook `runbook_id`, of whichever tenant (callers check they may read it).
pub async fn find_runbook(pool: &PgPool, id: Uuid) -> Result<Option<RunbookRow>, sqlx::Error> {
    find_row(pool, "runbook_id", id).await
}

/// Pending approvals past their expiry, oldest first (for the expirer).
pub async fn overdue_approvals(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT approval_id FROM {} WHERE status = 'pending' AND expires_at <= $1
          ORDER BY expires_at LIMIT $2",
        Target::live().table(ApprovalRow::TABLE)
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}
