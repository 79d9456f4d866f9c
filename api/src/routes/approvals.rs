//! Approvals (API.md): list, show, approve, reject.
//!
//! Who may decide is the domain's rule, applied to the caller's role as the
//! event records it: a technician never (medium and high need more), a
//! tenant admin medium risk, only an MSP admin high risk, and nobody their
//! own request. An expired, rejected or already decided approval cannot be
//! used (409). An approval approves exactly what was reviewed: a request
//! pins the runbook's version and content (shown here as `runbook_version`,
//! `runbook_content_sha256`, `runbook_content`), and approving a request
//! whose runbook or target instances changed since is 409 `runbook_changed`
//! naming what changed. A granted approval is turned into an execution by
//! the runbook dispatcher, which checks the pin again.

use alertledger_domain::approval::{Approval, ApprovalCommand, ApprovalError};
use alertledger_domain::runbook::{target_instances, RunbookPin};
use alertledger_domain::values::{ApprovalId, Note};
use alertledger_projections::page::Page;
use alertledger_projections::remediation::{self, ApprovalRow};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use cqrs_es::AggregateError;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::list_params::{self, RemediationListQuery};
use super::operate::{execute_with_retries, invalid_field, store_failure};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::optional_json;
use crate::extract::ApiQuery;
use crate::resource::WithId;
use crate::state::AppState;

const STATUSES: &[&str] = &["pending", "granted", "rejected", "expired"];

/// `GET /api/v1/approvals?status=pending&tenant=&limit=&cursor=`: newest first.
#[utoipa::path(
    get,
    path = "/api/v1/approvals",
    tag = "remediation",
    security(("bearer_jwt" = [])),
    params(("status" = Option<String>, Query, description = "`pending`, `granted`, `rejected` or `expired`"), ("tenant" = Option<Uuid>, Query, description = "Only this tenant (default: every tenant the caller may read)"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)"), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page")),
    responses(
        (status = 200, description = "Approval requests, newest first (items have every field of the detail)", body = crate::openapi::schemas::Page<crate::openapi::schemas::Approval>),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_approvals(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RemediationListQuery>,
) -> Result<Json<Page<WithId<ApprovalRow>>>, ApiError> {
    let query = query.parse(&caller, STATUSES)?;
    let page = remediation::list_approvals(state.pool(), &query)
        .await
        .map_err(list_params::query_error)?;
    Ok(Json(page.map(|row| WithId::new(row.approval_id, row))))
}

/// `GET /api/v1/approvals/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/approvals/{id}",
    tag = "remediation",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The approval's id")),
    responses(
        (status = 200, description = "The approval request", body = crate::openapi::schemas::Approval),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn show_approval(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WithId<ApprovalRow>>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| approval_not_found())?;
    let row = remediation::find_approval(state.pool(), id)
        .await
        .map_err(|error| ApiError::database(&error))?
        .filter(|row| caller.may_read(&row.tenant_id.into()))
        .ok_or_else(approval_not_found)?;
    Ok(Json(WithId::new(row.approval_id, row)))
}

/// The optional body of a decision.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    reason: Option<String>,
}

/// `POST /api/v1/approvals/{id}/approve` `{"reason"?}`.
#[utoipa::path(
    post,
    path = "/api/v1/approvals/{id}/approve",
    tag = "remediation",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The approval's id")),
    request_body(content = Option<DecisionBody>, description = "Optional: a reason"),
    responses(
        (status = 200, description = "Granted", body = crate::openapi::schemas::ApprovalDecision),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let reason = reason(&body)?;
    let approver = caller.actor()?;
    decide(
        &state,
        &caller,
        &headers,
        &id,
        Decision::Grant(approver, reason),
    )
    .await
}

/// `POST /api/v1/approvals/{id}/reject` `{"reason"?}`.
#[utoipa::path(
    post,
    path = "/api/v1/approvals/{id}/reject",
    tag = "remediation",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The approval's id")),
    request_body(content = Option<DecisionBody>, description = "Optional: a reason"),
    responses(
        (status = 200, description = "Rejected", body = crate::openapi::schemas::ApprovalDecision),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let reason = reason(&body)?;
    let command = ApprovalCommand::RejectApproval {
        approver: caller.actor()?,
        reason,
    };
    decide(&state, &caller, &headers, &id, Decision::Reject(command)).await
}

/// What the caller decides.
enum Decision {
    /// Grant, as this approver with this reason (the runbook as it now
    /// stands is looked up to check it against the pin).
    Grant(alertledger_domain::values::Actor, Option<Note>),
    Reject(ApprovalCommand),
}

/// The runbook of `approval` as it stands now, run on its incident's current
/// targets: what a grant is checked against.
async fn runbook_now(state: &AppState, approval: &Approval) -> Result<RunbookPin, ApiError> {
    let (Some(runbook_id), Some(incident_id)) = (approval.runbook_id(), approval.incident_id())
    else {
        return Err(approval_not_found());
    };
    let runbook = state
        .runbooks()
        .load(&runbook_id.to_string())
        .await
        .map_err(|error| store_failure(error, "runbook"))?;
    let incident = state
        .incidents()
        .load(&incident_id.to_string())
        .await
        .map_err(|error| store_failure(error, "incident"))?;
    let tenant = match runbook.tenant_id() {
        Some(tenant_id) => state
            .tenants()
            .load(&tenant_id.to_string())
            .await
            .map_err(|error| store_failure(error, "tenant"))?,
        None => return Err(approval_not_found()),
    };
    let targets = target_instances(&incident, &tenant).unwrap_or_default();
    RunbookPin::of(&runbook, &targets).ok_or_else(approval_not_found)
}

fn reason(body: &[u8]) -> Result<Option<Note>, ApiError> {
    let body: DecisionBody = optional_json(body)?;
    body.reason
        .as_deref()
        .map(|raw| Note::parse(raw).map_err(|error| invalid_field("reason", &error)))
        .transpose()
}

#[tracing::instrument(name = "approval_decision", skip_all, fields(approval_id = %raw_id))]
async fn decide(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    raw_id: &str,
    decision: Decision,
) -> Result<Json<Value>, ApiError> {
    let approval_id = ApprovalId::parse(raw_id).map_err(|_| approval_not_found())?;
    let key = approval_id.to_string();
    let approval = state.approvals().load(&key).await.map_err(approval_error)?;
    match approval.tenant_id() {
        Some(tenant) if caller.may_read(&tenant) => {}
        _ => return Err(approval_not_found()),
    }
    let command = match decision {
        Decision::Grant(approver, reason) => ApprovalCommand::GrantApproval {
            approver,
            reason,
            runbook_now: runbook_now(state, &approval).await?,
        },
        Decision::Reject(command) => command,
    };
    execute_with_retries(
        state.approvals(),
        &key,
        command,
        caller.event_metadata(headers),
    )
    .await
    .map_err(approval_error)?;
    let approval = state.approvals().load(&key).await.map_err(approval_error)?;
    Ok(Json(
        json!({ "id": approval_id, "approval_id": approval_id, "status": approval.status() }),
    ))
}

fn approval_not_found() -> ApiError {
    ApiError::not_found("approval_not_found", "no such approval")
}

/// 403 for who may not decide, 409 for an approval that cannot be used.
fn approval_error(error: AggregateError<ApprovalError>) -> ApiError {
    let rule = match error {
        AggregateError::UserError(rule) => rule,
        other => return store_failure(other, "approval"),
    };
    let message = rule.to_string();
    match rule {
        ApprovalError::NotRequested => approval_not_found(),
        ApprovalError::SelfApproval | ApprovalError::InsufficientRole { .. } => {
            ApiError::forbidden(message)
        }
        ApprovalError::Expired => ApiError::new(StatusCode::CONFLICT, "approval_expired", message),
        ApprovalError::AlreadyDecided { .. } => {
            ApiError::new(StatusCode::CONFLICT, "approval_already_decided", message)
        }
        ApprovalError::RunbookChanged(_) | ApprovalError::NotPinned => {
            ApiError::new(StatusCode::CONFLICT, "runbook_changed", message)
        }
        _ => ApiError::new(StatusCode::CONFLICT, "approval_refused", message),
    }
}
