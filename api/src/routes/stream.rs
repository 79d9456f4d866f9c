//! `GET /api/v1/stream`: the live feed as Server-Sent Events.
//!
//! Each event is `id: <position>`, `event: <event type>`, `data: <event
//! JSON>` (the shape of `GET /api/v1/events`). A client resumes after
//! `Last-Event-ID` (which browsers' `EventSource` sends by itself when it
//! reconnects) or `?after=`: what it missed is read from the database, then
//! the stream goes live, with no gap and no duplicate. Heartbeat comments keep
//! proxies from closing an idle stream; `retry:` tells clients how soon to
//! reconnect. A client that falls too far behind gets an `event: resync`
//! naming its last id, and the stream ends so that it reconnects from there.

use std::convert::Infallible;
use std::time::Duration;

use alertledger_eventstore::log::LogFilter;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::events::cursor_after;
use crate::auth::caller::bearer_token;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::feed::{
    until_closed, FeedHub, FeedItem, StreamPermit, StreamRefused, Subscription, FEED_KINDS,
};
use crate::state::AppState;

/// Query string of `GET /api/v1/stream` (all optional).
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// The JWT, for clients that cannot set headers (`EventSource`).
    token: Option<String>,
    after: Option<String>,
    tenant: Option<String>,
    types: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/stream",
    tag = "live",
    security(("bearer_jwt" = []), ("token_query" = [])),
    params(("token" = Option<String>, Query, description = "The JWT, for EventSource (which cannot set headers)"), ("after" = Option<i64>, Query, description = "Resume after this position (or `Last-Event-ID`)"), ("tenant" = Option<Uuid>, Query, description = "Only this tenant (default: every tenant the caller may read)"), ("types" = Option<String>, Query, description = "Comma-separated event types")),
    responses(
        (status = 200, description = "Server-Sent Events: `id: <position>`, `event: <type>`, `data: <json>`; heartbeat comments", content_type = "text/event-stream", body = String),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 429, response = crate::openapi::responses::TooManyRequests)
    )
)]
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Response, ApiError> {
    let token = bearer_token(&headers)
        .or(query.token.as_deref())
        .ok_or_else(|| {
            ApiError::unauthorized("a bearer token (or ?token=) is required for the stream")
        })?;
    let (caller, expires_at) = Caller::from_token(&state, token).await?;
    let filter = feed_filter(&caller, query.tenant.as_deref(), query.types.as_deref())?;
    let hub = state.feed();
    let permit = admit(hub, &caller, &filter)?;
    let subscription = match resume_position(&headers, query.after.as_deref())? {
        Some(position) => {
            let after = cursor_after(hub.reader(), &caller, position).await?;
            Subscription::resume(hub, filter, after, position)
        }
        None => Subscription::live(hub, filter),
    };
    tracing::debug!(user = %caller.user_id, "SSE subscriber connected");
    let revoked = Box::pin(state.revocations().revoked(
        caller.user_id.clone(),
        caller.session_id,
        caller.issued_at,
    ));
    let body = Body::from_stream(sse_body(hub, subscription, expires_at, revoked, permit));
    Ok((
        [
            (CONTENT_TYPE, "text/event-stream"),
            (CACHE_CONTROL, "no-cache"),
            // Tell reverse proxies (nginx) not to buffer the stream.
            (
                axum::http::HeaderName::from_static("x-accel-buffering"),
                "no",
            ),
        ],
        body,
    )
        .into_response())
}

/// Where to resume: `Last-Event-ID` wins over `?after=` (a browser that
/// reconnects keeps the URL of its first connection but sends the newer id).
fn resume_position(headers: &HeaderMap, after: Option<&str>) -> Result<Option<i64>, ApiError> {
    if let Some(raw) = headers.get("last-event-id") {
        let position = raw
            .to_str()
            .ok()
            .map(str::trim)
            .and_then(|raw| raw.parse::<i64>().ok())
            .filter(|position| *position >= 0)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_last_event_id",
                    "`Last-Event-ID` must be an event position (a whole number) sent by this stream",
                )
            })?;
        return Ok(Some(position));
    }
    after
        .map(|raw| {
            raw.trim()
                .parse::<i64>()
                .ok()
                .filter(|position| *position >= 0)
                .ok_or_else(|| {
                    ApiError::invalid_value(
                        "after",
                        "`after` must be an event position (a whole number)",
                    )
                })
        })
        .transpose()
}

/// The tenants (`?tenant=`, within what the caller may read) and event types
/// (`?types=`: stored event types such as `AlertReceived`, or feed kinds such
/// as `new_alert`) a subscriber wants.
pub(crate) fn feed_filter(
    caller: &Caller,
    tenant: Option<&str>,
    types: Option<&str>,
) -> Result<LogFilter, ApiError> {
    let tenants = caller.readable_tenants(tenant)?;
    let event_types = types
        .map(|raw| {
            let mut wanted = Vec::new();
            for name in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if let Some((_, types)) = FEED_KINDS.iter().find(|(kind, _)| *kind == name) {
                    wanted.extend(types.iter().map(|t| (*t).to_owned()));
                } else if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    wanted.push(name.to_owned());
                } else {
                    return Err(ApiError::invalid_value(
                        "types",
                        format!("`types` lists event types or feed kinds; {name:?} is neither"),
                    ));
                }
            }
            Ok(wanted)
        })
        .transpose()?;
    Ok(LogFilter {
        tenants,
        event_types,
    })
}

/// A slot for one more stream of the caller over the tenants of `filter`,
/// or 429 naming the cap that is full. `Retry-After` is the reconnect hint:
/// a slot frees as soon as another of the caller's streams ends.
pub(crate) fn admit(
    hub: &FeedHub,
    caller: &Caller,
    filter: &LogFilter,
) -> Result<StreamPermit, ApiError> {
    hub.admit(&caller.user_id, filter.tenants.as_deref())
        .map_err(|refused| {
            let details = match &refused {
                StreamRefused::User { limit } => json!({ "limit": limit, "per": "user" }),
                StreamRefused::Tenant { tenant, limit } => {
                    json!({ "limit": limit, "per": "tenant", "tenant_id": tenant })
                }
            };
            ApiError::too_many(
                "too_many_streams",
                refused.to_string(),
                details,
                hub.settings().retry,
            )
        })
}

/// Seconds until the token's `exp` (zero if it has passed).
pub(crate) fn until_expiry(expires_at: i64) -> Duration {
    let now = chrono::Utc::now().timestamp();
    Duration::from_secs(u64::try_from(expires_at.saturating_sub(now)).unwrap_or(0))
}

struct SseState {
    subscription: Subscription,
    heartbeat: tokio::time::Interval,
    closed: tokio::sync::watch::Receiver<bool>,
    expiry: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// Resolves when the token is revoked (logout, user disabled).
    revoked: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    /// The first chunk (the `retry:` hint) is still to be sent.
    opening: Option<Bytes>,
    finished: bool,
    /// This stream's slot against the caps, freed when the body is dropped
    /// (the stream ended or the client went away).
    _permit: StreamPermit,
}

/// The stream's chunks: the `retry:` hint, then batches of events (one chunk
/// per batch, so a burst costs one write), heartbeats, and a last event when
/// the stream ends for a reason the client should know.
fn sse_body(
    hub: &FeedHub,
    subscription: Subscription,
    expires_at: i64,
    revoked: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    permit: StreamPermit,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let settings = hub.settings();
    let beat = settings.heartbeat.max(Duration::from_millis(10));
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = SseState {
        subscription,
        heartbeat,
        closed: hub.closed(),
        expiry: Box::pin(tokio::time::sleep(until_expiry(expires_at))),
        revoked,
        opening: Some(Bytes::from(format!(
            "retry: {}\n: connected\n\n",
            settings.retry.as_millis()
        ))),
        finished: false,
        _permit: permit,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        if state.finished {
            return None;
        }
        if let Some(opening) = state.opening.take() {
            return Some((Ok(opening), state));
        }
        let chunk = tokio::select! {
            biased;
            () = until_closed(&mut state.closed) => {
                state.finished = true;
                closing_event("shutdown", "the server is shutting down; reconnect with your last id", state.subscription.last_position())
            }
            () = &mut state.expiry => {
                state.finished = true;
                closing_event("token_expired", "the token has expired; reconnect with a fresh one", state.subscription.last_position())
            }
            () = &mut state.revoked => {
                state.finished = true;
                closing_event("token_revoked", "the token has been revoked (signed out or disabled)", state.subscription.last_position())
            }
            item = state.subscription.next() => match item {
                Ok(FeedItem::Events(events)) => {
                    let mut chunk = Vec::with_capacity(events.len() * 600);
                    for event in &events {
                        chunk.extend_from_slice(&event.sse_frame());
                    }
                    Bytes::from(chunk)
                }
                Ok(FeedItem::Resync { last_position }) => {
                    state.finished = true;
                    closing_event("resync", "this client fell behind the live feed; reconnect with Last-Event-ID set to last_event_id", last_position)
                }
                Err(error) => {
                    tracing::error!(%error, "the SSE stream could not read the log");
                    state.finished = true;
                    closing_event("resync", "the server could not read the log; reconnect with Last-Event-ID set to last_event_id", state.subscription.last_position())
                }
            },
            _ = state.heartbeat.tick() => Bytes::from_static(b": heartbeat\n\n"),
        };
        Some((Ok(chunk), state))
    })
}

/// `event: <name>` with `{"reason", "message", "last_event_id"}`: the stream
/// ends after it, and the client reconnects with `Last-Event-ID`.
fn closing_event(name: &str, message: &str, last_position: Option<i64>) -> Bytes {
    let data = json!({
        "reason": name,
        "message": message,
        "last_event_id": last_position.map(|p| p.to_string()),
    });
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}
