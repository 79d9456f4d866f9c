//! Alert commands (API.md "Incidents, alerts, runbooks, approvals,
//! executions"): a person acknowledges an alert, with an optional note.
//!
//! The route loads the alert, lets through only callers who may operate on its
//! tenant (another tenant's alert is simply not found), and runs one
//! `AlertCommand`, so the acknowledgement is an event naming its actor.

use alertledger_domain::alert::{AlertCommand, AlertError};
use alertledger_domain::values::{AlertId, Note};
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
use crate::extract::optional_json;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct AcknowledgeBody {
    note: Option<String>,
}

/// `POST /api/v1/alerts/{id}/acknowledge` `{"note"?}`: a person saw the alert.
/// Answers when the acknowledgement was recorded.
#[tracing::instrument(
    name = "alert_command",
    skip_all,
    fields(alert_id = %id, tenant_id = tracing::field::Empty)
)]
#[utoipa::path(
    post,
    path = "/api/v1/alerts/{id}/acknowledge",
    tag = "alerts",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The alert's id")),
    request_body(content = Option<AcknowledgeBody>, description = "Optional: a note"),
    responses(
        (status = 200, description = "Acknowledged", body = crate::openapi::schemas::AlertAcknowledged),
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
    let body: AcknowledgeBody = optional_json(&body)?;
    let note = body
        .note
        .as_deref()
        .map(|raw| Note::parse(raw).map_err(|error| invalid_field("note", &error)))
        .transpose()?;
    let command = AlertCommand::AcknowledgeAlert {
        actor: caller.actor()?,
        note,
    };

    let alert_id = alert_id(&id)?;
    // The canonical spelling: the store keys alerts by it.
    let aggregate_id = alert_id.to_string();
    let store = state.alerts();
    let alert = store.load(&aggregate_id).await.map_err(alert_error)?;
    let tenant_id = operable_tenant(&caller, alert.tenant_id(), alert_not_found)?;
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant_id));
    let metadata = caller.event_metadata(&headers);
    execute_with_retries(store, &aggregate_id, command, metadata)
        .await
        .map_err(alert_error)?;
    let alert = store.load(&aggregate_id).await.map_err(alert_error)?;
    Ok(Json(
        json!({ "id": alert_id, "alert_id": alert_id, "acknowledged_at": alert.acknowledged_at() }),
    ))
}

/// A path's alert id; a malformed one is simply not found, like an unknown one.
fn alert_id(raw: &str) -> Result<AlertId, ApiError> {
    AlertId::parse(raw).map_err(|_| alert_not_found())
}

fn alert_not_found() -> ApiError {
    ApiError::not_found("alert_not_found", "no such alert")
}

/// An alert command's failure as an API error.
fn alert_error(error: AggregateError<AlertError>) -> ApiError {
    match error {
        AggregateError::UserError(rule) => broken_rule(&rule),
        other => store_failure(other, "alert"),
    }
}

/// 409 with a code per rule (404 for an alert that was never received).
fn broken_rule(rule: &AlertError) -> ApiError {
    let code = match rule {
        AlertError::NotReceived => return alert_not_found(),
        AlertError::AlreadyAcknowledged => "already_acknowledged",
        AlertError::AlreadyReceived => "already_received",
        AlertError::AlreadyCorrelated { .. } => "already_correlated",
        AlertError::AlreadyResolved => "already_resolved",
        AlertError::AlreadySuppressed { .. } => "already_suppressed",
        AlertError::NotSuppressed { .. } => "not_suppressed",
    };
    ApiError::new(StatusCode::CONFLICT, code, rule.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledging_an_acknowledged_alert_is_a_conflict() {
        let error = alert_error(AggregateError::UserError(AlertError::AlreadyAcknowledged));
        assert_eq!(error.status(), StatusCode::CONFLICT);
        assert_eq!(error.code(), "already_acknowledged");
    }

    #[test]
    fn an_alert_never_received_or_with_a_malformed_id_is_not_found() {
        let never = alert_error(AggregateError::UserError(AlertError::NotReceived));
        assert_eq!(never.status(), StatusCode::NOT_FOUND);
        assert_eq!(never.code(), "alert_not_found");
        let malformed = alert_id("42").err();
        assert_eq!(malformed.map(|e| e.code()), Some("alert_not_found"));
    }
}
