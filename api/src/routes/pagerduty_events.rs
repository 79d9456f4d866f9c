//! PagerDuty's Events API v2 where PagerDuty's own clients post, so they work
//! unchanged when their base URL is `<base>/api/v1/webhooks/pagerduty`:
//! `POST .../v2/enqueue` (trigger, acknowledge, resolve: the `pagerduty`
//! source's parser and the ingest path every webhook takes) and
//! `POST .../v2/change/enqueue` (a change event, recorded as
//! `ChangeEventReceived`).
//!
//! These routes speak PagerDuty's dialect:
//! - the body's `routing_key` is the tenant API key when no key header is
//!   sent (looked up by its hash like every API key, so the comparison takes
//!   the same time whatever the key), and never stored: it is redacted from a
//!   refused delivery's excerpt and from a change's custom details;
//! - success is `202 {"status": "success", "message": "Event processed",
//!   "dedup_key"}` plus our own fields;
//! - errors carry PagerDuty's `{"status", "message", "errors"}` beside API.md's
//!   `error` object, and an invalid event is 400 as PagerDuty answers it (our
//!   422 becomes 400 here; `error.code` still tells them apart).

use alertledger_domain::change_report::{ChangeReportCommand, ReceivedChange};
use alertledger_domain::values::WebhookSource;
use alertledger_eventstore::store::EventMetadata;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::webhooks::{
    admit, request_id, settle, store_alerts, Admitted, Body, Inbound, Progress, Stored,
};
use crate::auth::api_key::presented_api_key;
use crate::edge::ClientIp;
use crate::error::ApiError;
use crate::ingest::refusals::Outcome;
use crate::ingest::sources::{pagerduty, RawDelivery};
use crate::resource::with_id;
use crate::state::AppState;

/// What these routes read of a body before it is parsed: the key it may
/// carry and the dedup key to answer with. Anything unreadable here is left
/// to the parser, which names the problem.
#[derive(Debug, Default, Deserialize)]
struct Envelope {
    #[serde(default)]
    routing_key: Option<String>,
    #[serde(default)]
    dedup_key: Option<Value>,
}

impl Envelope {
    fn of(body: &Result<Bytes, BytesRejection>) -> Self {
        body.as_ref()
            .ok()
            .and_then(|body| serde_json::from_slice(body).ok())
            .unwrap_or_default()
    }

    fn routing_key(&self) -> Option<&str> {
        self.routing_key
            .as_deref()
            .map(str::trim)
            .filter(|key| !key.is_empty())
    }

    fn dedup_key(&self) -> Option<&str> {
        self.dedup_key
            .as_ref()
            .and_then(Value::as_str)
            .filter(|key| !key.trim().is_empty())
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/webhooks/pagerduty/v2/enqueue",
    tag = "webhooks",
    security((), ("api_key_bearer" = []), ("api_key_header" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "The delivery key (also `X-Delivery-ID`, `webhook-id`)")),
    request_body(content = Object, description = "A PagerDuty Events API v2 event: `routing_key` (the tenant API key when no key header is sent), `event_action` trigger/acknowledge/resolve, `dedup_key`, `payload{summary, source, severity, timestamp, component, group, class, custom_details}` (see docs/webhook-sources.md)", content_type = "application/json"),
    responses(
        (status = 202, description = "Stored (or a duplicate delivery: its original result), as PagerDuty answers it", body = crate::openapi::schemas::PagerDutyAccepted),
        (status = 400, response = crate::openapi::responses::PagerDutyBadRequest),
        (status = 401, response = crate::openapi::responses::PagerDutyUnauthorized),
        (status = 409, response = crate::openapi::responses::PagerDutyConflict),
        (status = 413, response = crate::openapi::responses::PagerDutyPayloadTooLarge),
        (status = 415, response = crate::openapi::responses::PagerDutyUnsupportedMediaType),
        // The error body: the route's own 429 adds PagerDuty's fields to it,
        // the edge's (a client address out of its failed-authentication
        // budget, answered before any route) does not.
        (status = 429, response = crate::openapi::responses::TooManyRequests),
        (status = 503, response = crate::openapi::responses::PagerDutyUnavailable)
    )
)]
pub async fn enqueue(
    State(state): State<AppState>,
    client_ip: ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let envelope = Envelope::of(&body);
    let inbound = inbound(&envelope, &client_ip, &headers);
    let mut progress = Progress::default();
    let result = async {
        let admitted = admit(&state, &inbound, Body::Read(body), &mut progress).await?;
        store_alerts(&state, &inbound, &admitted).await
    }
    .await
    .map_err(as_invalid_event);
    let stored = match settle(&state, &inbound, &progress, result, Stored::outcome).await {
        Ok(stored) => stored,
        Err(error) => return pagerduty_error(error),
    };
    match stored {
        Stored::Alerts {
            ingested,
            fingerprints,
        } => {
            let duplicates = ingested.iter().filter(|a| a.duplicate).count();
            // The key sent, else the one the parser derived for a trigger
            // without one (its fingerprint is `pagerduty:<key>`).
            let dedup_key = envelope.dedup_key().map(str::to_owned).or_else(|| {
                fingerprints.first().map(|fingerprint| {
                    let fingerprint = fingerprint.as_str();
                    fingerprint
                        .strip_prefix("pagerduty:")
                        .unwrap_or(fingerprint)
                        .to_owned()
                })
            });
            (
                StatusCode::ACCEPTED,
                Json(json!({
                    "status": "success",
                    "message": "Event processed",
                    "dedup_key": dedup_key,
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
        // The pagerduty parser yields alerts only; answered as the generic
        // route would, should that ever change.
        Stored::Subscription(answer) => (StatusCode::ACCEPTED, Json(answer)).into_response(),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/webhooks/pagerduty/v2/change/enqueue",
    tag = "webhooks",
    security((), ("api_key_bearer" = []), ("api_key_header" = [])),
    request_body(content = Object, description = "A PagerDuty change event: `routing_key` (the tenant API key when no key header is sent), `payload{summary, source, timestamp, custom_details}`, `links[{href, text}]`; recorded as a `ChangeEventReceived` event", content_type = "application/json"),
    responses(
        (status = 202, description = "The change is recorded", body = crate::openapi::schemas::PagerDutyChangeAccepted),
        (status = 400, response = crate::openapi::responses::PagerDutyBadRequest),
        (status = 401, response = crate::openapi::responses::PagerDutyUnauthorized),
        (status = 409, response = crate::openapi::responses::PagerDutyConflict),
        (status = 413, response = crate::openapi::responses::PagerDutyPayloadTooLarge),
        (status = 415, response = crate::openapi::responses::PagerDutyUnsupportedMediaType),
        // The error body: the route's own 429 adds PagerDuty's fields to it,
        // the edge's (a client address out of its failed-authentication
        // budget, answered before any route) does not.
        (status = 429, response = crate::openapi::responses::TooManyRequests),
        (status = 503, response = crate::openapi::responses::PagerDutyUnavailable)
    )
)]
pub async fn change_enqueue(
    State(state): State<AppState>,
    client_ip: ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let envelope = Envelope::of(&body);
    let inbound = inbound(&envelope, &client_ip, &headers);
    let mut progress = Progress::default();
    let result = async {
        let admitted = admit(&state, &inbound, Body::Read(body), &mut progress).await?;
        record_change(&state, &inbound, &admitted).await
    }
    .await
    .map_err(as_invalid_event);
    match settle(&state, &inbound, &progress, result, |_| Outcome::Accepted).await {
        Ok(change_id) => (
            StatusCode::ACCEPTED,
            Json(json!({
                "status": "success",
                "message": "Change event processed",
                "id": change_id,
                "change_id": change_id,
            })),
        )
            .into_response(),
        Err(error) => pagerduty_error(error),
    }
}

/// The request as the shared webhook path takes it: a key header wins over
/// the body's `routing_key`.
fn inbound<'a>(
    envelope: &'a Envelope,
    client_ip: &'a ClientIp,
    headers: &'a HeaderMap,
) -> Inbound<'a> {
    Inbound {
        source: WebhookSource::Pagerduty.as_str(),
        api_key: presented_api_key(headers, None).or_else(|| envelope.routing_key()),
        client_ip,
        headers,
    }
}

/// Records an admitted change event as `ChangeEventReceived`.
async fn record_change(
    state: &AppState,
    inbound: &Inbound<'_>,
    admitted: &Admitted,
) -> Result<Uuid, ApiError> {
    let owner = admitted.owner;
    let severity_map = state.directory().severity_map(&owner.tenant_id);
    let change = pagerduty::parse_change(&RawDelivery {
        body: &admitted.body,
        headers: inbound.headers,
        received_at: chrono::Utc::now(),
        severity_map: &severity_map,
    })?;
    let mut custom_details = change.custom_details;
    if let (Some(details), Some(key)) = (custom_details.as_mut(), inbound.api_key) {
        redact(details, key);
    }
    let change_id = Uuid::now_v7();
    let received = ReceivedChange {
        tenant_id: owner.tenant_id,
        change_id,
        via: admitted.source,
        key_id: owner.key_id,
        summary: change.summary,
        source: change.source,
        timestamp: change.timestamp,
        custom_details,
        links: change.links,
        normalization_warnings: change.warnings,
    };
    let metadata = EventMetadata {
        actor: Some(format!("api_key:{}", owner.key_id)),
        request_id: request_id(inbound.headers),
        source_ip: inbound.client_ip.0.map(|ip| ip.to_string()),
        ..EventMetadata::default()
    };
    state
        .changes()
        .execute(
            &change_id.to_string(),
            ChangeReportCommand::Record(received),
            metadata,
        )
        .await
        .map_err(|error| {
            tracing::error!(%error, tenant_id = %owner.tenant_id, "could not record a change event");
            ApiError::unavailable("the change event could not be recorded; try again shortly")
        })?;
    tracing::info!(tenant_id = %owner.tenant_id, %change_id, "change event recorded");
    Ok(change_id)
}

/// Replaces the API key wherever a string holds it (a tool that templated
/// its routing key into the details must not get it stored).
fn redact(value: &mut Value, key: &str) {
    match value {
        Value::String(text) if text.contains(key) => *text = text.replace(key, "[redacted]"),
        Value::Array(items) => items.iter_mut().for_each(|item| redact(item, key)),
        Value::Object(fields) => fields.values_mut().for_each(|field| redact(field, key)),
        _ => {}
    }
}

/// PagerDuty answers every invalid event 400.
fn as_invalid_event(error: ApiError) -> ApiError {
    if error.status() == StatusCode::UNPROCESSABLE_ENTITY {
        error.with_status(StatusCode::BAD_REQUEST)
    } else {
        error
    }
}

/// The error with PagerDuty's `status`, `message` and `errors` beside ours.
fn pagerduty_error(error: ApiError) -> Response {
    error.into_response_with(|error| {
        let status = error.status();
        let (kind, message) = match status {
            StatusCode::BAD_REQUEST
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNSUPPORTED_MEDIA_TYPE => ("invalid event", "Event object is invalid"),
            StatusCode::UNAUTHORIZED => ("unauthorized", error.message()),
            StatusCode::TOO_MANY_REQUESTS => ("throttled", error.message()),
            StatusCode::CONFLICT => ("conflict", error.message()),
            _ => ("unavailable", error.message()),
        };
        let mut body = Map::new();
        body.insert("status".to_owned(), json!(kind));
        body.insert("message".to_owned(), json!(message));
        body.insert("errors".to_owned(), json!([error.message()]));
        body
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_redacted_wherever_a_detail_holds_it() {
        let mut details = json!({"a": "key alk_secret!", "b": ["alk_secret"], "c": {"d": 1}});
        redact(&mut details, "alk_secret");
        assert_eq!(
            details,
            json!({"a": "key [redacted]!", "b": ["[redacted]"], "c": {"d": 1}})
        );
    }

    #[test]
    fn an_invalid_value_is_pagerdutys_400_with_both_error_shapes() {
        let error = as_invalid_event(ApiError::invalid_value("event_action", "unknown action"));
        let response = pagerduty_error(error);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn the_envelope_reads_only_string_keys() {
        let body: Result<Bytes, BytesRejection> = Ok(Bytes::from_static(
            br#"{"routing_key": " k1 ", "dedup_key": 5}"#,
        ));
        let envelope = Envelope::of(&body);
        assert_eq!(envelope.routing_key(), Some("k1"));
        assert_eq!(envelope.dedup_key(), None);
        let body: Result<Bytes, BytesRejection> = Ok(Bytes::from_static(b"not json"));
        assert_eq!(Envelope::of(&body).routing_key(), None);
    }
}
