//! `GET /api/v1/notifications?incident=&status=&tenant=&limit=&cursor=`:
//! the notifications of the tenants the caller may read, newest first, each
//! with its state and attempts (see `alertledger_projections::notifications`).

use alertledger_projections::notifications::{self, NotificationQuery, NotificationRow};
use alertledger_projections::page::Page;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use uuid::Uuid;

use super::list_params;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::resource::WithId;
use crate::state::AppState;

/// The statuses `?status=` accepts.
const STATUSES: &[&str] = &["pending", "delivered", "failed", "policy_matched"];

/// Query string of the list (parsed by hand so a bad value is a 422 naming it).
#[derive(Debug, Deserialize)]
pub struct NotificationsQuery {
    incident: Option<String>,
    status: Option<String>,
    tenant: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/notifications",
    tag = "notifications",
    security(("bearer_jwt" = [])),
    params(("incident" = Option<Uuid>, Query, description = "Only this incident's notifications"), ("status" = Option<String>, Query, description = "`pending`, `delivered`, `failed` or `policy_matched`"), ("tenant" = Option<Uuid>, Query, description = "Only this tenant (default: every tenant the caller may read)"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)"), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page")),
    responses(
        (status = 200, description = "Notifications, newest first", body = crate::openapi::schemas::Page<crate::openapi::schemas::NotificationState>),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
#[tracing::instrument(name = "list_notifications", skip_all, fields(user = %caller.user_id))]
pub async fn list_notifications(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<NotificationsQuery>,
) -> Result<Json<Page<WithId<NotificationRow>>>, ApiError> {
    let incident = query
        .incident
        .as_deref()
        .map(|raw| {
            Uuid::try_parse(raw.trim()).map_err(|_| {
                ApiError::invalid_value("incident", "`incident` must be an incident id (UUID)")
            })
        })
        .transpose()?;
    let status = match query.status.as_deref().map(str::trim) {
        None => None,
        Some(status) if STATUSES.contains(&status) => Some(status.to_owned()),
        Some(_) => {
            return Err(ApiError::invalid_value(
                "status",
                format!("`status` must be one of {}", STATUSES.join(", ")),
            ))
        }
    };
    let query = NotificationQuery {
        tenants: caller.readable_tenants(query.tenant.as_deref())?,
        incident,
        status,
        limit: list_params::limit(query.limit.as_deref())?,
        cursor: query.cursor,
    };
    let page = notifications::list(state.pool(), &query)
        .await
        .map_err(list_params::query_error)?;
    Ok(Json(page.map(|row| WithId::new(row.notification_id, row))))
}
