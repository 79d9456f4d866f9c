//! `GET /api/v1/events`: the raw log, in log order, scoped to the caller's tenants.
//! With `Accept: application/x-ndjson` it streams every matching event after
//! `after` as an export.

use alertledger_domain::values::TenantId;
use alertledger_eventstore::log::{LogCursor, LogEvent, LogFilter, LogReader};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::auth::{Caller, TenantScope};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;
const EXPORT_BATCH: usize = 2_000;

/// Query string of `GET /api/v1/events` (all optional, parsed by hand for
/// precise errors).
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    after: Option<String>,
    limit: Option<String>,
    tenant: Option<String>,
    types: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "analysts",
    security(("bearer_jwt" = [])),
    params(("after" = Option<i64>, Query, description = "Events after this position, in log order"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)"), ("tenant" = Option<Uuid>, Query, description = "Only this tenant (default: every tenant the caller may read)"), ("types" = Option<String>, Query, description = "Comma-separated event types")),
    responses(
        (status = 200, description = "Raw events in log order; with `Accept: application/x-ndjson`, every matching event as an export stream", content((crate::openapi::schemas::Page<crate::openapi::schemas::Event> = "application/json"), (String = "application/x-ndjson"))),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    let filter = filter_for(&caller, &query)?;
    let after = resume_cursor(state.log(), &caller, query.after.as_deref()).await?;
    let wants_ndjson = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/x-ndjson"));
    if wants_ndjson {
        return Ok(export(state.log().clone(), after, filter));
    }

    let limit = parse_limit(query.limit.as_deref())?;
    let batch = state.log().read(after, limit, &filter).await?;
    let next_cursor = (batch.events.len() == limit)
        .then(|| batch.events.last().map(|e| e.position.to_string()))
        .flatten();
    let items = batch.events.iter().map(EventView::from).collect();
    Ok(Json(EventPage { items, next_cursor }).into_response())
}

/// A page of events: `{"items": [...], "next_cursor": "..." | null}`.
#[derive(Serialize)]
struct EventPage<'a> {
    items: Vec<EventView<'a>>,
    next_cursor: Option<String>,
}

/// The JSON shape of one event (API.md); payload and metadata are embedded as
/// stored, without re-encoding.
#[derive(Serialize)]
pub struct EventView<'a> {
    position: i64,
    at: chrono::DateTime<chrono::Utc>,
    tenant_id: uuid::Uuid,
    aggregate_type: &'a str,
    aggregate_id: &'a str,
    sequence: i64,
    event_type: &'a str,
    event_version: &'a str,
    payload: &'a RawValue,
    metadata: &'a RawValue,
}

impl<'a> From<&'a LogEvent> for EventView<'a> {
    fn from(event: &'a LogEvent) -> Self {
        Self {
            position: event.position,
            at: event.recorded_at,
            tenant_id: event.tenant_id,
            aggregate_type: &event.aggregate_type,
            aggregate_id: &event.aggregate_id,
            sequence: event.sequence,
            event_type: &event.event_type,
            event_version: &event.event_version,
            payload: &event.payload,
            metadata: &event.metadata,
        }
    }
}

fn parse_limit(raw: Option<&str>) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.parse::<usize>() {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(ApiError::invalid_value(
            "limit",
            format!("`limit` must be a whole number from 1 to {MAX_LIMIT}"),
        )),
    }
}

/// The tenants and event types the caller asked for, within what it may read.
fn filter_for(caller: &Caller, query: &EventsQuery) -> Result<LogFilter, ApiError> {
    let tenants = caller.readable_tenants(query.tenant.as_deref())?;
    let event_types = query.types.as_deref().map(|raw| {
        raw.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    });
    Ok(LogFilter {
        tenants,
        event_types,
    })
}

/// The cursor after the client's `after` position. An unknown position, or one
/// of a tenant the caller may not read, is 404 (its existence is not revealed).
async fn resume_cursor(
    log: &LogReader,
    caller: &Caller,
    after: Option<&str>,
) -> Result<LogCursor, ApiError> {
    let Some(raw) = after else {
        return Ok(LogCursor::START);
    };
    let position: i64 = raw.parse().ok().filter(|p| *p >= 0).ok_or_else(|| {
        ApiError::invalid_value(
            "after",
            "`after` must be an event position (a whole number)",
        )
    })?;
    cursor_after(log, caller, position).await
}

/// The cursor after the event at `position` (0: the start of the log). An
/// unknown position, or one of a tenant the caller may not read, is 404 (its
/// existence is not revealed).
pub(crate) async fn cursor_after(
    log: &LogReader,
    caller: &Caller,
    position: i64,
) -> Result<LogCursor, ApiError> {
    let unknown = || {
        ApiError::not_found(
            "position_not_found",
            format!("no event at position {position}"),
        )
    };
    if position > 0 && !matches!(caller.scope, TenantScope::All) {
        let tenant = log
            .tenant_of_position(position)
            .await?
            .ok_or_else(unknown)?;
        if !caller.may_read(&TenantId::from_uuid(tenant)) {
            return Err(unknown());
        }
    }
    log.cursor_after_position(position)
        .await?
        .ok_or_else(unknown)
}

/// Streams every matching event after `after` as NDJSON, batch by batch.
fn export(log: LogReader, after: LogCursor, filter: LogFilter) -> Response {
    let chunks = log.scan(after, EXPORT_BATCH, filter).map(|batch| {
        batch
            .map(|events| {
                let mut chunk = Vec::new();
                for event in &events {
                    // Writing JSON into a Vec cannot fail.
                    let _ = serde_json::to_writer(&mut chunk, &EventView::from(event));
                    chunk.push(b'\n');
                }
                Bytes::from(chunk)
            })
            .inspect_err(|error| tracing::error!(%error, "event export failed mid-stream"))
    });
    (
        [(CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(chunks),
    )
        .into_response()
}
