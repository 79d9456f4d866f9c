//! `GET /api/v1/deliveries?status=rejected&source=&tenant=&limit=&cursor=`:
//! refused webhook deliveries of the tenants the caller may read, newest
//! first (see `alertledger_projections::deliveries`).

use alertledger_domain::values::WebhookSource;
use alertledger_projections::deliveries::{self, RejectedDeliveryRow, RejectedQuery};
use alertledger_projections::page::Page;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use super::list_params;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::resource::WithId;
use crate::state::AppState;

/// Query string of the list (parsed by hand so a bad value is a 422 naming it).
#[derive(Debug, Deserialize)]
pub struct DeliveriesQuery {
    status: Option<String>,
    source: Option<String>,
    tenant: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// Only refused deliveries are kept apart: accepted ones are their alerts.
#[utoipa::path(
    get,
    path = "/api/v1/deliveries",
    tag = "webhooks",
    security(("bearer_jwt" = [])),
    params(("status" = Option<String>, Query, description = "`rejected` (the only kind kept apart)"), ("source" = Option<String>, Query, description = "A webhook source"), ("tenant" = Option<Uuid>, Query, description = "Only this tenant (default: every tenant the caller may read)"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)"), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page")),
    responses(
        (status = 200, description = "Refused deliveries, newest first", body = crate::openapi::schemas::Page<crate::openapi::schemas::RejectedDelivery>),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
#[tracing::instrument(name = "list_deliveries", skip_all, fields(user = %caller.user_id))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> Result<Json<Page<WithId<RejectedDeliveryRow>>>, ApiError> {
    match query.status.as_deref().map(str::trim) {
        None | Some("rejected") => {}
        Some(other) => {
            return Err(ApiError::invalid_value(
                "status",
                format!("invalid `status`: {other:?}; only `rejected` deliveries are listed (accepted ones are alerts: GET /api/v1/alerts)"),
            ))
        }
    }
    let source = query
        .source
        .as_deref()
        .map(WebhookSource::parse)
        .transpose()
        .map_err(|error| list_params::invalid("source", &error))?
        .map(|source| source.as_str().to_owned());
    let query = RejectedQuery {
        tenants: caller.readable_tenants(query.tenant.as_deref())?,
        source,
        limit: list_params::limit(query.limit.as_deref())?,
        cursor: query.cursor,
    };
    let page = deliveries::list_rejected(state.pool(), &query)
        .await
        .map_err(list_params::query_error)?;
    Ok(Json(page.map(|row| WithId::new(row.delivery_id, row))))
}
