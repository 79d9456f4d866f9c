//! Incident commands (API.md "Incidents, alerts, runbooks, approvals,
//! executions"): acknowledge, assign, resolve, escalate, reopen and comment.
//!
//! Each route loads the incident, lets through only callers who may operate on
//! its tenant (another tenant's incident is simply not found), and runs one
//! `IncidentCommand`, so every change is an event naming its actor. The
//! incident's rules (no second acknowledgement, no reopening an open incident,
//! ...) live in the domain; a broken rule is 409 with its own code.

use alertledger_domain::incident::{IncidentCommand, IncidentError, Resolution};
use alertledger_domain::values::{IncidentId, Note, UserId};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use cqrs_es::AggregateError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::operate::{execute_with_retries, invalid_field, operable_tenant, store_failure};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{optional_json, ApiJson};
use crate::state::AppState;

/// The body of a command that takes no input: none at all, or `{}`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct NoInput {}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AssignBody {
    assignee: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ResolveBody {
    note: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EscalateBody {
    reason: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ReopenBody {
    reason: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CommentBody {
    text: String,
}

/// `POST /api/v1/incidents/{id}/acknowledge`: someone is looking at it (ends MTTA).
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/acknowledge",
    tag = "incidents",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The incident's id")),
    request_body(content = Option<NoInput>, description = "None, or `{}`"),
    responses(
        (status = 200, description = "Done; the incident's new status", body = crate::openapi::schemas::IncidentCommandResult),
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
pub async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    optional_json::<NoInput>(&body)?;
    let command = IncidentCommand::AcknowledgeIncident {
        actor: caller.actor()?,
    };
    run(&state, &caller, &headers, &id, command).await
}

/// `POST /api/v1/incidents/{id}/assign` `{"assignee"}`: hands it to a person.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/assign",
    tag = "incidents",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The incident's id")),
    request_body(content = AssignBody),
    responses(
        (status = 200, description = "Done; the incident's new status", body = crate::openapi::schemas::IncidentCommandResult),
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
pub async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<Json<Value>, ApiError> {
    let assignee =
        UserId::parse(&body.assignee).map_err(|error| invalid_field("assignee", &error))?;
    let command = IncidentCommand::AssignIncident {
        assignee,
        actor: caller.actor()?,
    };
    run(&state, &caller, &headers, &id, command).await
}

/// `POST /api/v1/incidents/{id}/resolve` `{"note"?}`: a person closes it.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/resolve",
    tag = "incidents",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The incident's id")),
    request_body(content = Option<ResolveBody>, description = "Optional: a note"),
    responses(
        (status = 200, description = "Done; the incident's new status", body = crate::openapi::schemas::IncidentCommandResult),
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
pub async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: ResolveBody = optional_json(&body)?;
    let command = IncidentCommand::ResolveIncident {
        actor: caller.actor()?,
        note: optional_note("note", body.note.as_deref())?,
        resolution: Resolution::Manual,
    };
    run(&state, &caller, &headers, &id, command).await
}

/// `POST /api/v1/incidents/{id}/escalate` `{"reason"}`: hands it up.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/escalate",
    tag = "incidents",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The incident's id")),
    request_body(content = EscalateBody),
    responses(
        (status = 200, description = "Done; the incident's new status", body = crate::openapi::schemas::IncidentCommandResult),
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
pub async fn escalate(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EscalateBody>,
) -> Result<Json<Value>, ApiError> {
    let command = IncidentCommand::EscalateIncident {
        reason: note("reason", &body.reason)?,
        actor: caller.actor()?,
    };
    run(&state, &caller, &headers, &id, command).await
}

/// `POST /api/v1/incidents/{id}/reopen` `{"reason"?}`: a resolved incident is back.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/reopen",
    tag = "incidents",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The incident's id")),
    request_body(content = Option<ReopenBody>, description = "Optional: a reason"),
    responses(
        (status = 200, description = "Done; the incident's new status", body = crate::openapi::schemas::IncidentCommandResult),
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
pub async fn reopen(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: ReopenBody = optional_json(&body)?;
    let command = IncidentCommand::ReopenIncident {
        actor: caller.actor()?,
        reason: optional_note("reason", body.reason.as_deref())?,
    };
    run(&state, &caller, &headers, &id, command).await
}

/// `POST /api/v1/incidents/{id}/comment` `{"text"}`: adds to the timeline, at
/// any time (also once resolved).
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/comment",
    tag = "incidents",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The incident's id")),
    request_body(content = CommentBody),
    responses(
        (status = 200, description = "Done; the incident's new status", body = crate::openapi::schemas::IncidentCommandResult),
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
pub async fn comment(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CommentBody>,
) -> Result<Json<Value>, ApiError> {
    let command = IncidentCommand::CommentOnIncident {
        text: note("text", &body.text)?,
        actor: caller.actor()?,
    };
    run(&state, &caller, &headers, &id, command).await
}

/// Runs `command` on incident `raw_id` for `caller` and answers with the
/// incident's status after it.
#[tracing::instrument(
    name = "incident_command",
    skip_all,
    fields(incident_id = %raw_id, tenant_id = tracing::field::Empty)
)]
async fn run(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    raw_id: &str,
    command: IncidentCommand,
) -> Result<Json<Value>, ApiError> {
    let incident_id = incident_id(raw_id)?;
    // The canonical spelling: the store keys incidents by it.
    let aggregate_id = incident_id.to_string();
    let store = state.incidents();
    let incident = store.load(&aggregate_id).await.map_err(incident_error)?;
    let tenant_id = operable_tenant(caller, incident.tenant_id(), incident_not_found)?;
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant_id));
    let metadata = caller.event_metadata(headers);
    execute_with_retries(store, &aggregate_id, command, metadata)
        .await
        .map_err(incident_error)?;
    let incident = store.load(&aggregate_id).await.map_err(incident_error)?;
    Ok(Json(
        json!({ "id": incident_id, "incident_id": incident_id, "status": incident.status() }),
    ))
}

/// A path's incident id; a malformed one is simply not found, like an
/// unknown one.
fn incident_id(raw: &str) -> Result<IncidentId, ApiError> {
    IncidentId::parse(raw).map_err(|_| incident_not_found())
}

fn incident_not_found() -> ApiError {
    ApiError::not_found("incident_not_found", "no such incident")
}

/// Free text from body field `field`, or 422 naming it.
fn note(field: &'static str, raw: &str) -> Result<Note, ApiError> {
    Note::parse(raw).map_err(|error| invalid_field(field, &error))
}

/// Optional free text from body field `field`: absent is `None`, present must be valid.
fn optional_note(field: &'static str, raw: Option<&str>) -> Result<Option<Note>, ApiError> {
    raw.map(|raw| note(field, raw)).transpose()
}

/// An incident command's failure as an API error.
fn incident_error(error: AggregateError<IncidentError>) -> ApiError {
    match error {
        AggregateError::UserError(rule) => broken_rule(&rule),
        other => store_failure(other, "incident"),
    }
}

/// 409 with a code per rule (404 for an incident that was never opened).
fn broken_rule(rule: &IncidentError) -> ApiError {
    let code = match rule {
        IncidentError::NotOpened => return incident_not_found(),
        IncidentError::AlreadyAcknowledged => "already_acknowledged",
        IncidentError::AlreadyResolved => "already_resolved",
        IncidentError::NotResolved => "incident_not_resolved",
        IncidentError::CannotAcknowledgeResolved
        | IncidentError::CannotAssignResolved
        | IncidentError::CannotEscalateResolved
        | IncidentError::IncidentResolved => "incident_resolved",
        IncidentError::AlreadyOpened => "already_opened",
        IncidentError::AlertAlreadyAttached { .. } => "alert_already_attached",
        IncidentError::UnknownAlert { .. } => "alert_not_attached",
        // The correlator's and the flap settler's, never a person's.
        IncidentError::AlreadyFlapping => "already_flapping",
        IncidentError::NotFlapping => "not_flapping",
    };
    ApiError::new(StatusCode::CONFLICT, code, rule.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_broken_rule_of_a_person_s_command_is_a_conflict_with_its_own_code() {
        let cases = [
            (IncidentError::AlreadyAcknowledged, "already_acknowledged"),
            (IncidentError::AlreadyResolved, "already_resolved"),
            (IncidentError::NotResolved, "incident_not_resolved"),
            (
                IncidentError::CannotAcknowledgeResolved,
                "incident_resolved",
            ),
            (IncidentError::CannotAssignResolved, "incident_resolved"),
            (IncidentError::CannotEscalateResolved, "incident_resolved"),
        ];
        for (rule, code) in cases {
            let error = broken_rule(&rule);
            assert_eq!(error.status(), StatusCode::CONFLICT, "{rule:?}");
            assert_eq!(error.code(), code, "{rule:?}");
        }
    }

    #[test]
    fn an_incident_that_was_never_opened_is_not_found() {
        let error = incident_error(AggregateError::UserError(IncidentError::NotOpened));
        assert_eq!(error.status(), StatusCode::NOT_FOUND);
        assert_eq!(error.code(), "incident_not_found");
    }

    #[test]
    fn a_conflict_that_outlives_the_retries_is_a_409() {
        let error = incident_error(AggregateError::AggregateConflict);
        assert_eq!(error.status(), StatusCode::CONFLICT);
        assert_eq!(error.code(), "concurrent_change");
    }

    #[test]
    fn a_malformed_incident_id_is_not_found_like_an_unknown_one() {
        let error = incident_id("not-a-uuid").err();
        assert_eq!(error.map(|e| e.code()), Some("incident_not_found"));
    }
}
