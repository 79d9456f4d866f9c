//! `POST /api/v1/webhooks/{source}`: alerts from monitoring tools, authenticated
//! by a tenant API key, answered 202 only after the receipts are committed.
//! Every delivery is counted by outcome, and a refused one of a known tenant
//! is recorded as a `DeliveryRejected` event (see [`crate::ingest::refusals`]).

use alertledger_domain::tenant::TenantCommand;
use alertledger_domain::values::{ApiKeyId, TenantId, WebhookSource};
use alertledger_eventstore::store::EventMetadata;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::api_key::{hash_api_key, presented_api_key};
use crate::auth::signing::{carries_signature, verify_signature};
use crate::edge::ClientIp;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::ingest::refusals::{Outcome, Refusal};
use crate::ingest::sources::{self, RawDelivery, SnsSubscription, SourcePayload};
use crate::ingest::Delivery;
use crate::log_safe::LogSafe;
use crate::resource::with_id;
use crate::state::AppState;
use crate::tenant_admin::tenant_error;
use crate::tenant_directory::KeyOwner;

/// Largest webhook body accepted.
pub const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

/// Headers that carry a tool's own delivery id, in order of preference.
const DELIVERY_KEY_HEADERS: [&str; 3] = ["idempotency-key", "x-delivery-id", "webhook-id"];

#[derive(Debug, Deserialize)]
pub struct WebhookQuery {
    api_key: Option<String>,
}

/// Where a delivery got before it was answered: the tenant, once its key is
/// known (a refusal is then recorded for it), and the body once read.
#[derive(Default)]
struct Progress {
    owner: Option<KeyOwner>,
    source: Option<WebhookSource>,
    body: Option<Bytes>,
}

#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{source}",
    tag = "webhooks",
    security(("api_key_bearer" = []), ("api_key_header" = []), ("api_key_query" = [])),
    params(("source" = String, Path, description = "`generic`, `alertmanager`, `datadog`, `cloudwatch`, `zabbix` or `pagerduty`"), ("Idempotency-Key" = Option<String>, Header, description = "The delivery key (also `X-Delivery-ID`, `webhook-id`)"), ("X-Timestamp" = Option<String>, Header, description = "Signing: unix seconds"), ("X-Signature" = Option<String>, Header, description = "Signing: `sha256=<hex HMAC>`")),
    request_body(content = Object, description = "The source's own payload (see docs/webhook-sources.md); `cloudwatch` takes SNS `text/plain`", content_type = "application/json"),
    responses(
        (status = 202, description = "Stored (or a duplicate delivery: its original result)", body = crate::openapi::schemas::WebhookAccepted),
        (status = 200, description = "An SNS subscription confirmation was handled", body = Object),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 415, response = crate::openapi::responses::UnsupportedMediaType),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 429, response = crate::openapi::responses::TooManyRequests),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn receive(
    State(state): State<AppState>,
    Path(source): Path<String>,
    ApiQuery(query): ApiQuery<WebhookQuery>,
    client_ip: ClientIp,
    headers: HeaderMap,
    // Last, and read only once the key is known and within its tenant's
    // rate limit: a caller without a key cannot make the server buffer a body.
    request: Request,
) -> Response {
    let mut progress = Progress::default();
    let result = accept(
        &state,
        &source,
        &query,
        &client_ip,
        &headers,
        request,
        &mut progress,
    )
    .await;
    let label = progress.source.map_or("unknown", |source| source.as_str());
    match result {
        Ok((outcome, answer)) => {
            state.deliveries().count(label, outcome);
            answer.into_response()
        }
        Err(error) => {
            state
                .deliveries()
                .count(label, Outcome::of_refusal(error.status()));
            // A 5xx is our failure (the tool retries it); a 429 is counted
            // only, or a flood would be written to the log it is kept from.
            let recorded =
                error.status().is_client_error() && error.status() != StatusCode::TOO_MANY_REQUESTS;
            if let (true, Some(owner), Some(source)) = (recorded, progress.owner, progress.source) {
                let body = progress.body.unwrap_or_default();
                let body = &body;
                state
                    .deliveries()
                    .record(Refusal {
                        tenant_id: owner.tenant_id,
                        key_id: owner.key_id,
                        source,
                        error: &error,
                        body,
                        request_id: request_id(&headers),
                        source_ip: client_ip.0.map(|ip| ip.to_string()),
                        secret: presented_api_key(&headers, query.api_key.as_deref()),
                    })
                    .await;
            }
            error.into_response()
        }
    }
}

async fn accept(
    state: &AppState,
    source: &str,
    query: &WebhookQuery,
    client_ip: &ClientIp,
    headers: &HeaderMap,
    request: Request,
    progress: &mut Progress,
) -> Result<(Outcome, (StatusCode, Json<Value>)), ApiError> {
    // The key is checked first, so a valid key on an unknown source is a 404
    // (nothing recorded) and any request without one a 401.
    let parsed = WebhookSource::parse(source)
        .ok()
        .filter(|source| sources::SUPPORTED.contains(source))
        .ok_or_else(|| {
            let supported: Vec<&str> = sources::SUPPORTED.iter().map(|s| s.as_str()).collect();
            ApiError::not_found(
                "unknown_source",
                format!(
                    "no webhook source {source:?}; supported: {}",
                    supported.join(", ")
                ),
            )
        });
    progress.source = parsed.as_ref().ok().copied();

    let key = presented_api_key(headers, query.api_key.as_deref()).ok_or_else(|| {
        ApiError::unauthorized(
            "an API key is required (Authorization: Bearer, X-API-Key or ?api_key=)",
        )
    })?;
    let owner = state
        .directory()
        .key_owner(&hash_api_key(key))
        .ok_or_else(|| ApiError::unauthorized("the API key is unknown or revoked"))?;
    progress.owner = Some(owner);
    let source = parsed?;
    let limit = state.directory().rate_limit(&owner.tenant_id);
    state
        .rate_limiter()
        .check(owner.tenant_id, limit)
        .map_err(ApiError::rate_limited)?;

    let body = Bytes::from_request(request, state).await;
    if let Ok(body) = &body {
        progress.body = Some(body.clone());
    }
    require_media_type(source, headers)?;
    let body = body.as_ref().map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body exceeds {WEBHOOK_BODY_LIMIT} bytes"),
            )
            .with_details(json!({ "limit": "body_bytes", "max": WEBHOOK_BODY_LIMIT }))
        } else {
            ApiError::bad_request("unreadable_body", rejection.body_text())
        }
    })?;
    // AWS cannot add our HMAC headers: with AWS's signing certificate
    // configured, an SNS message's own signature (checked by the parser)
    // stands in for them on a tenant that requires signing.
    let sns_signed = source == WebhookSource::Cloudwatch
        && state.source_settings().sns_signing_cert.is_some()
        && !carries_signature(headers);
    let signed_id = if sns_signed {
        None
    } else {
        verify_signature_if_needed(state, owner.tenant_id, headers, body).await?
    };

    let severity_map = state.directory().severity_map(&owner.tenant_id);
    let raw = RawDelivery {
        body,
        headers,
        received_at: chrono::Utc::now(),
        severity_map: &severity_map,
    };
    let settings = state.source_settings();
    // Only SNS deliveries look at pinned topics (an empty set allocates nothing).
    let pinned_sns_topics = if source == WebhookSource::Cloudwatch {
        state.directory().sns_topics(&owner.tenant_id)
    } else {
        std::collections::BTreeSet::new()
    };
    let alerts = match sources::parse(source, &raw, settings, &pinned_sns_topics)? {
        SourcePayload::Alerts(alerts) => alerts,
        SourcePayload::SubscriptionConfirmation(subscription) => {
            let answer =
                record_subscription(state, owner.tenant_id, owner.key_id, subscription).await?;
            return Ok((Outcome::Accepted, answer));
        }
    };
    let max = settings.max_alerts_per_delivery;
    if alerts.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_alerts",
            format!(
                "the delivery holds {} alerts; at most {max} per delivery (split it)",
                alerts.len()
            ),
        )
        .with_details(json!({ "limit": "alerts_per_delivery", "max": max, "got": alerts.len() })));
    }
    // The rate limit counts alerts: the request took one token, the rest of
    // its alerts take theirs now.
    let more = u32::try_from(alerts.len().saturating_sub(1)).unwrap_or(u32::MAX);
    state
        .rate_limiter()
        .check_more(owner.tenant_id, limit, more)
        .map_err(|wait| match wait {
            Some(wait) => ApiError::rate_limited(wait),
            None => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "the delivery holds {} alerts, more than the tenant's burst of {}; \
                     split it or raise the rate limit",
                    alerts.len(),
                    limit.burst()
                ),
            )
            .with_details(json!({ "limit": "rate_limit_burst", "max": limit.burst() })),
        })?;

    let delivery = Delivery {
        tenant_id: owner.tenant_id,
        key_id: owner.key_id,
        source,
        request_key: signed_id.or_else(|| request_key(headers)),
        request_id: request_id(headers),
        source_ip: client_ip.0.map(|ip| ip.to_string()),
    };
    let ingested = state.ingestor().ingest(&delivery, alerts).await?;
    let duplicates = ingested.iter().filter(|a| a.duplicate).count();
    tracing::info!(
        tenant_id = %delivery.tenant_id, source = source.as_str(),
        accepted = ingested.len() - duplicates, duplicates, "webhook accepted"
    );
    let outcome = if !ingested.is_empty() && duplicates == ingested.len() {
        Outcome::Duplicate
    } else {
        Outcome::Accepted
    };
    Ok((
        outcome,
        (
            StatusCode::ACCEPTED,
            Json(json!({
                "accepted": ingested.len() - duplicates,
                "duplicates": duplicates,
                "alerts": ingested
                    .iter()
                    .map(|alert| with_id(json!(alert), "alert_id"))
                    .collect::<Vec<_>>(),
            })),
        ),
    ))
}

/// The tool's own delivery id, if it sent one.
fn request_key(headers: &HeaderMap) -> Option<String> {
    DELIVERY_KEY_HEADERS
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .map(|key| key.trim().to_owned())
        .filter(|key| !key.is_empty())
}

fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Records an SNS subscription request for an operator to confirm; the
/// `SubscribeURL` is returned, never fetched.
async fn record_subscription(
    state: &AppState,
    tenant_id: TenantId,
    key_id: ApiKeyId,
    subscription: SnsSubscription,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let command = TenantCommand::RecordSnsSubscription {
        topic_arn: subscription.topic_arn.clone(),
        subscribe_url: subscription.subscribe_url.clone(),
        message_id: subscription.message_id.clone(),
    };
    let metadata = EventMetadata::by(format!("api_key:{key_id}"));
    state
        .tenants()
        .execute(&tenant_id.to_string(), command, metadata)
        .await
        .map_err(tenant_error)?;
    tracing::warn!(
        tenant_id = %tenant_id, topic_arn = %LogSafe(&subscription.topic_arn),
        "SNS subscription waiting for confirmation: an operator must visit its SubscribeURL"
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "subscription_confirmation": {
                "topic_arn": subscription.topic_arn,
                "message_id": subscription.message_id,
                "subscribe_url": subscription.subscribe_url,
            },
            "message": "recorded; confirm the subscription by visiting subscribe_url",
        })),
    ))
}

/// Checks the request's signature on its raw bytes when the tenant requires
/// signing, or when the tool signed anyway (a bad signature is never ignored).
/// Returns the `webhook-id` a Standard Webhooks signature covers: it is the
/// delivery key, so a captured signed request replayed with a new unsigned
/// `Idempotency-Key` is still the same delivery (a duplicate).
async fn verify_signature_if_needed(
    state: &AppState,
    tenant: TenantId,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<String>, ApiError> {
    if !state.directory().signing_required(&tenant) && !carries_signature(headers) {
        return Ok(None);
    }
    let active = state.directory().active_secrets(&tenant);
    let secrets = state.secrets().get(tenant, &active).await?;
    let verified = verify_signature(headers, body, &secrets, chrono::Utc::now().timestamp())?;
    tracing::debug!(scheme = verified.scheme.as_str(), secret_id = %verified.secret_id, "webhook signature verified");
    Ok(verified
        .signed_id
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned))
}

fn require_media_type(source: WebhookSource, headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if sources::accepts_media_type(source, &essence) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("expected Content-Type: application/json, got {content_type:?}"),
        ))
    }
}
