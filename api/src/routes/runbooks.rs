//! Runbooks (API.md "Incidents, alerts, runbooks, approvals, executions"):
//! define, list, show, change, retire, and run one on an incident.
//!
//! Every change is a `Runbook` event naming its actor. Defining and changing
//! runbooks is configuration (tenant admins and MSP admins); lowering a
//! runbook's risk or changing what a high-risk runbook runs is for MSP admins
//! only (403 otherwise). Running one is for anyone who may operate: low risk
//! starts an execution at once; medium and high risk open an approval
//! request that others decide, pinning the runbook's version and content.

use std::collections::BTreeMap;

use alertledger_domain::approval::ApprovalCommand;
use alertledger_domain::execution::{ExecutionCommand, ExecutionError};
use alertledger_domain::runbook::{
    change_needs_msp_admin, runnable_on, target_instances, NotRunnable, Runbook, RunbookCommand,
    RunbookError, RunbookPin, RunbookSpec,
};
use alertledger_domain::values::{
    AlertSignature, ApprovalId, ExecutionId, IncidentId, Risk, RunbookAction, RunbookId,
    RunbookName, SsmDocumentName, TenantId,
};
use alertledger_projections::page::Page;
use alertledger_projections::remediation::{self, RunbookRow};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use cqrs_es::AggregateError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::list_params::{self, RemediationListQuery};
use super::operate::{execute_with_retries, invalid_field, store_failure};
use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::extract::ApiQuery;
use crate::resource::WithId;
use crate::state::AppState;

/// The body of `POST /api/v1/runbooks`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    tenant_id: String,
    #[serde(flatten)]
    spec: SpecBody,
}

/// What a runbook says, as sent (`PUT` sends it alone).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SpecBody {
    name: String,
    signature: String,
    risk: String,
    document: Option<String>,
    #[serde(default)]
    commands: Vec<String>,
    #[serde(default)]
    parameters: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    auto_execute: bool,
}

impl SpecBody {
    fn parse(self) -> Result<RunbookSpec, ApiError> {
        let document = match self.document.as_deref() {
            Some(raw) => SsmDocumentName::parse(raw).map_err(|e| invalid_field("document", &e))?,
            None => SsmDocumentName::default(),
        };
        Ok(RunbookSpec {
            name: RunbookName::parse(&self.name).map_err(|e| invalid_field("name", &e))?,
            signature: AlertSignature::parse(&self.signature)
                .map_err(|e| invalid_field("signature", &e))?,
            risk: Risk::parse(&self.risk).map_err(|e| invalid_field("risk", &e))?,
            action: RunbookAction::new(document, self.commands, self.parameters)
                .map_err(|e| ApiError::invalid_value(e.field(), e.to_string()))?,
            auto_execute: self.auto_execute,
        })
    }
}

/// `POST /api/v1/runbooks`: defines a runbook for a tenant (201).
#[utoipa::path(
    post,
    path = "/api/v1/runbooks",
    tag = "remediation",
    security(("bearer_jwt" = [])),
    request_body(content = CreateBody),
    responses(
        (status = 201, description = "The runbook", body = crate::openapi::schemas::Runbook),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 415, response = crate::openapi::responses::UnsupportedMediaType),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn create_runbook(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant_id = TenantId::parse(&body.tenant_id).map_err(|_| {
        ApiError::invalid_value("tenant_id", "`tenant_id` must be a tenant id (UUID)")
    })?;
    caller.authorize(Action::Configure, &tenant_id)?;
    let spec = body.spec.parse()?;
    let runbook_id = RunbookId::new_v7();
    let command = RunbookCommand::DefineRunbook {
        runbook_id,
        tenant_id,
        spec,
        actor: caller.actor()?,
    };
    let id = runbook_id.to_string();
    execute_with_retries(
        state.runbooks(),
        &id,
        command,
        caller.event_metadata(&headers),
    )
    .await
    .map_err(runbook_error)?;
    let runbook = state.runbooks().load(&id).await.map_err(runbook_error)?;
    Ok((
        StatusCode::CREATED,
        Json(runbook_json(runbook_id, &runbook)),
    ))
}

/// `GET /api/v1/runbooks?tenant=&limit=&cursor=`: newest first, retired ones flagged.
#[utoipa::path(
    get,
    path = "/api/v1/runbooks",
    tag = "remediation",
    security(("bearer_jwt" = [])),
    params(("tenant" = Option<Uuid>, Query, description = "Only this tenant"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)"), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page")),
    responses(
        (status = 200, description = "Runbooks (items have every field of the detail, plus `created_at`, `created_by`, `updated_at`, `updated_by`, `last_position`)", body = crate::openapi::schemas::Page<crate::openapi::schemas::Runbook>),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_runbooks(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RemediationListQuery>,
) -> Result<Json<Page<WithId<RunbookRow>>>, ApiError> {
    let query = query.parse(&caller, &[])?;
    let page = remediation::list_runbooks(state.pool(), &query)
        .await
        .map_err(list_params::query_error)?;
    Ok(Json(page.map(|row| WithId::new(row.runbook_id, row))))
}

/// `GET /api/v1/runbooks/{id}`: as it stands now (from its events).
#[utoipa::path(
    get,
    path = "/api/v1/runbooks/{id}",
    tag = "remediation",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The runbook's id")),
    responses(
        (status = 200, description = "The runbook", body = crate::openapi::schemas::Runbook),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn show_runbook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (runbook_id, runbook) = readable_runbook(&state, &caller, &id).await?;
    Ok(Json(runbook_json(runbook_id, &runbook)))
}

/// `PUT /api/v1/runbooks/{id}`: replaces what it says.
#[utoipa::path(
    put,
    path = "/api/v1/runbooks/{id}",
    tag = "remediation",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The runbook's id")),
    request_body(content = SpecBody),
    responses(
        (status = 200, description = "The runbook as changed", body = crate::openapi::schemas::Runbook),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 415, response = crate::openapi::responses::UnsupportedMediaType),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn change_runbook(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SpecBody>,
) -> Result<Json<Value>, ApiError> {
    let spec = body.parse()?;
    let (_, runbook) = readable_runbook(&state, &caller, &id).await?;
    if let (Some(tenant), Some(current)) = (runbook.tenant_id(), runbook.spec()) {
        // Said before the domain would refuse it, with the caller's role.
        if let Some(why) = change_needs_msp_admin(current, &spec) {
            caller.authorize(Action::Configure, &tenant)?;
            caller.authorize(Action::GuardedRunbookChange(why), &tenant)?;
        }
    }
    configure_runbook(&state, &caller, &headers, &id, |actor| {
        RunbookCommand::ChangeRunbook { spec, actor }
    })
    .await
}

/// `DELETE /api/v1/runbooks/{id}`: retires it (its history stays).
#[utoipa::path(
    delete,
    path = "/api/v1/runbooks/{id}",
    tag = "remediation",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The runbook's id")),
    responses(
        (status = 200, description = "The runbook, retired", body = crate::openapi::schemas::Runbook),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn retire_runbook(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    configure_runbook(&state, &caller, &headers, &id, |actor| {
        RunbookCommand::RetireRunbook { actor }
    })
    .await
}

/// Runs a configuration command on runbook `raw_id` for a caller who may
/// configure its tenant; answers with the runbook as it then stands.
async fn configure_runbook(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    raw_id: &str,
    command: impl FnOnce(alertledger_domain::values::Actor) -> RunbookCommand,
) -> Result<Json<Value>, ApiError> {
    let (runbook_id, runbook) = readable_runbook(state, caller, raw_id).await?;
    let tenant = runbook.tenant_id().ok_or_else(runbook_not_found)?;
    caller.authorize(Action::Configure, &tenant)?;
    let command = command(caller.actor()?);
    let key = runbook_id.to_string();
    execute_with_retries(
        state.runbooks(),
        &key,
        command,
        caller.event_metadata(headers),
    )
    .await
    .map_err(runbook_error)?;
    let runbook = state.runbooks().load(&key).await.map_err(runbook_error)?;
    Ok(Json(runbook_json(runbook_id, &runbook)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteBody {
    incident_id: String,
}

/// `POST /api/v1/runbooks/{id}/execute` `{"incident_id"}`: 202 with the
/// execution (low risk) or with the approval request (medium, high).
#[utoipa::path(
    post,
    path = "/api/v1/runbooks/{id}/execute",
    tag = "remediation",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The runbook's id")),
    request_body(content = ExecuteBody),
    responses(
        (status = 202, description = "The execution (low risk) or the approval request (medium, high)", body = crate::openapi::schemas::ExecutionOrApproval),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 415, response = crate::openapi::responses::UnsupportedMediaType),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn execute_runbook(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ExecuteBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (runbook_id, runbook) = readable_runbook(&state, &caller, &id).await?;
    let (Some(tenant_id), Some(risk)) = (runbook.tenant_id(), runbook.spec().map(|spec| spec.risk))
    else {
        return Err(runbook_not_found());
    };
    caller.authorize(Action::RunRunbook(risk), &tenant_id)?;
    // Said before the incident is looked up, so a retired runbook answers
    // the same whatever incident is named; `runnable_on` below holds the rule.
    if runbook.is_retired() {
        return Err(not_runnable(&NotRunnable::RunbookUnavailable));
    }
    let incident_not_found = || ApiError::not_found("incident_not_found", "no such incident");
    let incident_id = IncidentId::parse(&body.incident_id).map_err(|_| incident_not_found())?;
    let incident = state
        .incidents()
        .load(&incident_id.to_string())
        .await
        .map_err(|error| store_failure(error, "incident"))?;
    if incident.tenant_id() != Some(tenant_id) {
        return Err(incident_not_found());
    }
    let spec = runnable_on(&runbook, &incident)
        .map_err(|reason| not_runnable(&reason))?
        .clone();
    let metadata = caller.event_metadata(&headers);
    let actor = caller.actor()?;
    let tenant = state
        .tenants()
        .load(&tenant_id.to_string())
        .await
        .map_err(|error| store_failure(error, "tenant"))?;
    if spec.risk.requires_approval() {
        // What the approver will see and approve: this version, this content,
        // these instances (none yet registered: an empty list).
        let targets = target_instances(&incident, &tenant).unwrap_or_default();
        let pin = RunbookPin::of(&runbook, &targets).ok_or_else(runbook_not_found)?;
        let approval_id = ApprovalId::new_v7();
        let ttl = chrono::Duration::from_std(state.remediation().approval_ttl)
            .unwrap_or_else(|_| chrono::Duration::hours(1));
        let expires_at = state.services().now() + ttl;
        let command = ApprovalCommand::RequestApproval {
            approval_id,
            tenant_id,
            runbook_id,
            incident_id,
            risk: spec.risk,
            requested_by: actor,
            expires_at,
            pin: pin.clone(),
        };
        execute_with_retries(
            state.approvals(),
            &approval_id.to_string(),
            command,
            metadata,
        )
        .await
        .map_err(|error| match error {
            AggregateError::UserError(rule) => conflict("approval_refused", &rule),
            other => store_failure(other, "approval"),
        })?;
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({
                "id": approval_id,
                "approval_id": approval_id,
                "status": "pending",
                "risk": spec.risk,
                "runbook_id": runbook_id,
                "incident_id": incident_id,
                "expires_at": expires_at,
                "runbook_version": pin.version,
                "runbook_content_sha256": pin.content_sha256,
                "runbook_content": pin.content,
            })),
        ));
    }
    let instance_ids =
        target_instances(&incident, &tenant).map_err(|reason| not_runnable(&reason))?;
    let execution_id = ExecutionId::new_v7();
    let command = ExecutionCommand::RequestExecution {
        execution_id,
        tenant_id,
        runbook_id,
        incident_id,
        approval_id: None,
        document: spec.action.document().as_str().to_owned(),
        commands: spec.action.commands().to_vec(),
        parameters: spec.action.parameters().clone(),
        instance_ids: instance_ids.clone(),
        requested_by: actor,
    };
    execute_with_retries(
        state.executions(),
        &execution_id.to_string(),
        command,
        metadata,
    )
    .await
    .map_err(|error| match error {
        AggregateError::UserError(rule) => conflict::<ExecutionError>("execution_refused", &rule),
        other => store_failure(other, "execution"),
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "id": execution_id,
            "execution_id": execution_id,
            "status": "requested",
            "runbook_id": runbook_id,
            "incident_id": incident_id,
            "instance_ids": instance_ids,
        })),
    ))
}

/// 409 for a runbook that may not run on the incident, saying why.
fn not_runnable(reason: &NotRunnable) -> ApiError {
    match reason {
        NotRunnable::RunbookUnavailable => ApiError::new(
            StatusCode::CONFLICT,
            "runbook_retired",
            "the runbook has been retired",
        ),
        NotRunnable::IncidentResolved => ApiError::new(
            StatusCode::CONFLICT,
            "incident_resolved",
            "the incident is resolved; reopen it to run a runbook on it",
        ),
        NotRunnable::NoTargetInstances { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "no_target_instances",
            format!("{reason} (PUT /api/v1/tenants/{{id}}/assets/{{asset}})"),
        ),
    }
}

/// The runbook of a path, for a caller who may read its tenant (else 404).
async fn readable_runbook(
    state: &AppState,
    caller: &Caller,
    raw: &str,
) -> Result<(RunbookId, Runbook), ApiError> {
    let runbook_id = RunbookId::parse(raw).map_err(|_| runbook_not_found())?;
    let runbook = state
        .runbooks()
        .load(&runbook_id.to_string())
        .await
        .map_err(runbook_error)?;
    match runbook.tenant_id() {
        Some(tenant) if caller.may_read(&tenant) => Ok((runbook_id, runbook)),
        _ => Err(runbook_not_found()),
    }
}

fn runbook_json(runbook_id: RunbookId, runbook: &Runbook) -> Value {
    let spec = runbook.spec();
    json!({
        "id": runbook_id,
        "runbook_id": runbook_id,
        "tenant_id": runbook.tenant_id(),
        "name": spec.map(|s| s.name.as_str()),
        "signature": spec.map(|s| s.signature.as_str()),
        "risk": spec.map(|s| s.risk),
        "document": spec.map(|s| s.action.document().as_str()),
        "commands": spec.map(|s| s.action.commands()),
        "parameters": spec.map(|s| s.action.parameters()),
        "auto_execute": spec.map(|s| s.auto_execute),
        "retired": runbook.is_retired(),
        "version": runbook.version(),
    })
}

fn runbook_not_found() -> ApiError {
    ApiError::not_found("runbook_not_found", "no such runbook")
}

fn runbook_error(error: AggregateError<RunbookError>) -> ApiError {
    match error {
        AggregateError::UserError(RunbookError::NotDefined) => runbook_not_found(),
        AggregateError::UserError(RunbookError::Retired) => ApiError::new(
            StatusCode::CONFLICT,
            "runbook_retired",
            "the runbook has been retired",
        ),
        AggregateError::UserError(rule @ RunbookError::AlreadyDefined) => {
            conflict("runbook_exists", &rule)
        }
        AggregateError::UserError(rule @ RunbookError::NeedsMspAdmin { .. }) => {
            ApiError::forbidden(rule.to_string())
        }
        other => store_failure(other, "runbook"),
    }
}

fn conflict<E: std::fmt::Display>(code: &'static str, rule: &E) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, rule.to_string())
}
