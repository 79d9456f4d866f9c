//! A tenant's AWS SNS set-up (CloudWatch alarms arrive through SNS):
//! - `GET /api/v1/tenants/{id}/sns-subscriptions`: subscription requests
//!   (`SubscriptionConfirmation` messages) with the `SubscribeURL` an
//!   operator visits to confirm them. The service never fetches that URL
//!   itself: it comes from a request body, and fetching URLs a sender chose
//!   would let anyone holding an API key make the service request any
//!   address it can reach (SSRF), inside its network included.
//! - `PUT`/`GET /api/v1/tenants/{id}/sns-topics`: the topic ARNs the tenant
//!   accepts messages from (a `SnsTopicsPinned` event with its actor); with
//!   any pinned, a message from another topic is refused with 403 and kept
//!   as a rejected delivery (see `ingest::sources::sns`).

use std::collections::BTreeSet;

use alertledger_domain::tenant::TenantCommand;
use alertledger_domain::values::{SnsTopicArn, MAX_PINNED_SNS_TOPICS};
use alertledger_projections::page::Page;
use alertledger_projections::sns_subscriptions::{self, SubscriptionQuery, SubscriptionStatus};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::list_params;
use super::tenants::{execute, tenant_id};
use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::resource::with_id;
use crate::state::AppState;

/// Query string of the subscription list.
#[derive(Debug, Deserialize)]
pub struct SubscriptionsQuery {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// Tenant admin and up: a `SubscribeURL` confirms a subscription, which is
/// a configuration change.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{id}/sns-subscriptions",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id"), ("status" = Option<String>, Query, description = "`pending` or `expired` (default: both)"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)"), ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page")),
    responses(
        (status = 200, description = "Subscription requests, newest first", body = crate::openapi::schemas::Page<crate::openapi::schemas::SnsSubscription>),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiQuery(query): ApiQuery<SubscriptionsQuery>,
) -> Result<Json<Page<Value>>, ApiError> {
    let tenant_id = tenant_id(&tenant)?;
    caller.authorize(Action::Configure, &tenant_id)?;
    let status = match query.status.as_deref().map(str::trim) {
        None => None,
        Some(raw) => Some(SubscriptionStatus::parse(raw).ok_or_else(|| {
            ApiError::invalid_value("status", "`status` must be one of pending, expired")
        })?),
    };
    let query = SubscriptionQuery {
        tenant: *tenant_id.as_uuid(),
        status,
        now: chrono::Utc::now(),
        limit: list_params::limit(query.limit.as_deref())?,
        cursor: query.cursor,
    };
    let page = sns_subscriptions::list(state.pool(), &query)
        .await
        .map_err(list_params::query_error)?;
    Ok(Json(page.map(|row| with_id(json!(row), "message_id"))))
}

/// The body of `PUT /sns-topics`.
#[derive(Debug, Deserialize)]
pub struct PinBody {
    topic_arns: Vec<Value>,
}

/// `PUT`: replaces the pinned topics (an empty list: any topic again).
/// Tenant admin and up; each ARN is checked (422 naming `topic_arns[i]`).
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{id}/sns-topics",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    request_body(content = crate::openapi::schemas::SnsTopics, description = "At most 100 SNS topic ARNs"),
    responses(
        (status = 200, description = "The pinned topics", body = crate::openapi::schemas::SnsTopics),
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
pub async fn put_topics(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<PinBody>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = tenant_id(&tenant)?;
    caller.authorize(Action::Configure, &tenant_id)?;
    if body.topic_arns.len() > MAX_PINNED_SNS_TOPICS {
        return Err(ApiError::invalid_value(
            "topic_arns",
            format!("at most {MAX_PINNED_SNS_TOPICS} topics may be pinned"),
        ));
    }
    let mut topic_arns = BTreeSet::new();
    for (i, raw) in body.topic_arns.iter().enumerate() {
        let field = format!("topic_arns[{i}]");
        let arn = raw
            .as_str()
            .ok_or_else(|| {
                ApiError::invalid_value(field.clone(), format!("`{field}` must be a string"))
            })
            .and_then(|raw| {
                SnsTopicArn::parse(raw).map_err(|error| {
                    ApiError::invalid_value(
                        field.clone(),
                        format!("invalid `{field}`: {}", error.problem()),
                    )
                })
            })?;
        topic_arns.insert(arn);
    }
    let command = TenantCommand::PinSnsTopics {
        topic_arns: topic_arns.clone(),
        actor: caller.actor()?,
    };
    execute(&state, &caller, &headers, tenant_id, command).await?;
    Ok(Json(json!({ "topic_arns": topic_arns })))
}

/// `GET`: the pinned topics; anyone who may read the tenant.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{id}/sns-topics",
    tag = "tenants",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The pinned topics (empty: any topic)", body = crate::openapi::schemas::SnsTopics),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn get_topics(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant_id = tenant_id(&tenant)?;
    caller.authorize(Action::Read, &tenant_id)?;
    let tenant = state
        .tenants()
        .load(&tenant_id.to_string())
        .await
        .map_err(|error| ApiError::internal(&error))?;
    if tenant.name().is_none() {
        return Err(ApiError::not_found("tenant_not_found", "no such tenant"));
    }
    Ok(Json(json!({ "topic_arns": tenant.sns_topics() })))
}
