//! `POST /api/v1/webhooks/{source}`: alerts from monitoring tools, authenticated
//! by a tenant API key, answered 202 only after the receipts are committed.
//! Every delivery is counted by outcome, and a refused one of a known tenant
//! is recorded as a `DeliveryRejected` event (see [`crate::ingest::refusals`]).

use alertledger_domain::tenant::TenantCommand;
use alertledger_domain::values::{ApiKeyId, Fingerprint, RateLimit, TenantId, WebhookSource};
use alertledger_eventstore::store::EventMetadata;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
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
use crate::ingest::{Delivery, IngestedAlert};
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
    pub(crate) api_key: Option<String>,
}

/// Where a delivery got before it was answered: the tenant, once its key is
/// known (a refusal is then recorded for it), and the body once read.
#[derive(Default)]
pub(crate) struct Progress {
    owner: Option<KeyOwner>,
    source: Option<WebhookSource>,
    body: Option<Bytes>,
}

/// A delivery's body, as its route has it.
pub(crate) enum Body {
    /// Not read yet: [`admit`] reads it only once the key is known and within
    /// its tenant's rate limit, so a caller without a key cannot make the
    /// server buffer a body.
    Unread(Box<Request>),
    /// Read already (PagerDuty's dialect carries its key in the body).
    Read(Result<Bytes, BytesRejection>),
}

/// One webhook request as the routes of every dialect take it.
pub(crate) struct Inbound<'a> {
    /// The source as the route names it (unknown: 404 after the key check).
    pub source: &'a str,
    /// The API key the tool presented (header, query, or for PagerDuty's
    /// dialect the body's `routing_key`).
    pub api_key: Option<&'a str>,
    pub client_ip: &'a ClientIp,
    pub headers: &'a HeaderMap,
}

/// A delivery that passed every check before parsing: its tenant, the raw
/// body, and the delivery key a signature covers.
pub(crate) struct Admitted {
    pub owner: KeyOwner,
    pub source: WebhookSource,
    pub body: Bytes,
    pub signed_id: Option<String>,
    limit: RateLimit,
}

/// What a stored alert delivery amounts to, before a route answers it in
/// its dialect.
pub(crate) enum Stored {
    Alerts {
        ingested: Vec<IngestedAlert>,
        /// The fingerprint of each alert the delivery held, in order.
        fingerprints: Vec<Fingerprint>,
    },
    /// An SNS subscription request, answered as is.
    Subscription(Value),
}

impl Stored {
    pub(crate) fn outcome(&self) -> Outcome {
        match self {
            Stored::Alerts { ingested, .. }
                if !ingested.is_empty() && ingested.iter().all(|a| a.duplicate) =>
            {
                Outcome::Duplicate
            }
            _ => Outcome::Accepted,
        }
    }
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
    // Last: the body is read only once the key is known (see `Body::Unread`).
    request: Request,
) -> Response {
    let inbound = Inbound {
        source: &source,
        api_key: presented_api_key(&headers, query.api_key.as_deref()),
        client_ip: &client_ip,
        headers: &headers,
    };
    let mut progress = Progress::default();
    let result = async {
        let admitted = admit(
            &state,
            &inbound,
            Body::Unread(Box::new(request)),
            &mut progress,
        )
        .await?;
        store_alerts(&state, &inbound, &admitted).await
    }
    .await;
    match settle(&state, &inbound, &progress, result, Stored::outcome).await {
        Ok(Stored::Alerts { ingested, .. }) => {
            let duplicates = ingested.iter().filter(|a| a.duplicate).count();
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
            )
                .into_response()
        }
        Ok(Stored::Subscription(answer)) => (StatusCode::ACCEPTED, Json(answer)).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Counts a delivery by its outcome and, when it was refused for a known
/// tenant, records the refusal (the presented API key redacted from the
/// excerpt). Every dialect's route ends here.
pub(crate) async fn settle<T>(
    state: &AppState,
    inbound: &Inbound<'_>,
    progress: &Progress,
    result: Result<T, ApiError>,
    outcome: impl FnOnce(&T) -> Outcome,
) -> Result<T, ApiError> {
    let label = progress.source.map_or("unknown", |source| source.as_str());
    match &result {
        Ok(stored) => state.deliveries().count(label, outcome(stored)),
        Err(error) => {
            state
                .deliveries()
                .count(label, Outcome::of_refusal(error.status()));
            // A 5xx is our failure (the tool retries it); a 429 is counted
            // only, or a flood would be written to the log it is kept from.
            let recorded =
                error.status().is_client_error() && error.status() != StatusCode::TOO_MANY_REQUESTS;
            if let (true, Some(owner), Some(source)) = (recorded, progress.owner, progress.source) {
                let empty = Bytes::new();
                let body = progress.body.as_ref().unwrap_or(&empty);
                state
                    .deliveries()
                    .record(Refusal {
                        tenant_id: owner.tenant_id,
                        key_id: owner.key_id,
                        source,
                        error,
                        body,
                        request_id: request_id(inbound.headers),
                        source_ip: inbound.client_ip.0.map(|ip| ip.to_string()),
                        secret: inbound.api_key,
                    })
                    .await;
            }
        }
    }
    result
}

/// Every check before parsing: the API key (first, so a valid key on an
/// unknown source is a 404 with nothing recorded and any request without
/// one a 401), the source, the rate limit, then the body: its media type,
/// size and signature.
pub(crate) async fn admit(
    state: &AppState,
    inbound: &Inbound<'_>,
    body: Body,
    progress: &mut Progress,
) -> Result<Admitted, ApiError> {
    let source = inbound.source;
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

    let owner = key_owner(state, inbound, progress)?;
    let source = parsed?;
    let limit = within_rate_limit(state, owner)?;

    let body = match body {
        Body::Unread(request) => Bytes::from_request(*request, state).await,
        Body::Read(body) => body,
    };
    if let Ok(body) = &body {
        progress.body = Some(body.clone());
    }
    require_media_type(source, inbound.headers)?;
    let body = body.map_err(|rejection| {
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
        && !carries_signature(inbound.headers);
    let signed_id = if sns_signed {
        None
    } else {
        verify_signature_if_needed(state, owner.tenant_id, inbound.headers, &body).await?
    };
    Ok(Admitted {
        owner,
        source,
        body,
        signed_id,
        limit,
    })
}

/// The tenant whose API key the request presented (401 without one, or
/// with an unknown or revoked one), noted in `progress` so that a later
/// refusal is recorded for that tenant.
pub(crate) fn key_owner(
    state: &AppState,
    inbound: &Inbound<'_>,
    progress: &mut Progress,
) -> Result<KeyOwner, ApiError> {
    let key = inbound.api_key.ok_or_else(|| {
        ApiError::unauthorized(
            "an API key is required (Authorization: Bearer, X-API-Key or ?api_key=)",
        )
    })?;
    let owner = state
        .directory()
        .key_owner(&hash_api_key(key))
        .ok_or_else(|| ApiError::unauthorized("the API key is unknown or revoked"))?;
    progress.owner = Some(owner);
    Ok(owner)
}

/// Takes one token of the tenant's rate limit (429 with `Retry-After` when
/// none is left); the limit in force.
pub(crate) fn within_rate_limit(state: &AppState, owner: KeyOwner) -> Result<RateLimit, ApiError> {
    let limit = state.directory().rate_limit(&owner.tenant_id);
    state
        .rate_limiter()
        .check(owner.tenant_id, limit)
        .map_err(ApiError::rate_limited)?;
    Ok(limit)
}

/// Parses an admitted delivery with its source's parser and stores its
/// alerts (all or nothing).
pub(crate) async fn store_alerts(
    state: &AppState,
    inbound: &Inbound<'_>,
    admitted: &Admitted,
) -> Result<Stored, ApiError> {
    let owner = admitted.owner;
    let source = admitted.source;
    let severity_map = state.directory().severity_map(&owner.tenant_id);
    let raw = RawDelivery {
        body: &admitted.body,
        headers: inbound.headers,
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
            return Ok(Stored::Subscription(answer));
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
    let limit = admitted.limit;
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
        request_key: admitted
            .signed_id
            .clone()
            .or_else(|| request_key(inbound.headers)),
        request_id: request_id(inbound.headers),
        source_ip: inbound.client_ip.0.map(|ip| ip.to_string()),
    };
    let fingerprints = alerts.iter().map(|a| a.fingerprint.clone()).collect();
    let ingested = state.ingestor().ingest(&delivery, alerts).await?;
    let duplicates = ingested.iter().filter(|a| a.duplicate).count();
    tracing::info!(
        tenant_id = %delivery.tenant_id, source = source.as_str(),
        accepted = ingested.len() - duplicates, duplicates, "webhook accepted"
    );
    Ok(Stored::Alerts {
        ingested,
        fingerprints,
    })
}

/// The tool's own delivery id, if it sent one.
fn request_key(headers: &HeaderMap) -> Option<String> {
    DELIVERY_KEY_HEADERS
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .map(|key| key.trim().to_owned())
        .filter(|key| !key.is_empty())
}

pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
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
) -> Result<Value, ApiError> {
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
    Ok(json!({
        "subscription_confirmation": {
            "topic_arn": subscription.topic_arn,
            "message_id": subscription.message_id,
            "subscribe_url": subscription.subscribe_url,
        },
        "message": "recorded; confirm the subscription by visiting subscribe_url",
    }))
}

/// Checks the request's signature on its raw bytes when the tenant requires
/// signing, or when the tool signed anyway (a bad signature is never ignored).
/// Returns the `webhook-id` a Standard Webhooks signature covers: it is the
/// delivery key, so a captured signed request replayed with a new unsigned
/// `Idempotency-Key` is still the same delivery (a duplicate).
pub(crate) async fn verify_signature_if_needed(
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
