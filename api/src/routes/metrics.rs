//! `GET /metrics`: Prometheus text exposition, read at scrape time.
//!
//! The figures that matter for operations live in PostgreSQL (projector
//! checkpoints, the log), so each scrape reads them and encodes them with
//! `prometheus-client`; there is nothing to keep in memory between scrapes.

use alertledger_eventstore::consumer::status::statuses;
use alertledger_eventstore::consumer::Checkpoint;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};
use std::sync::atomic::AtomicU64;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectorLabel {
    projector: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabel {
    component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumerLabel {
    consumer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabel {
    channel_type: String,
    outcome: String,
}

type GaugeFamily = Family<ProjectorLabel, Gauge<f64, AtomicU64>>;

/// Projector positions and lag, and the log's readable horizon. With a
/// metrics token configured, only for `Authorization: Bearer <token>`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Prometheus text exposition", content_type = "application/openmetrics-text", body = String),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(expected) = state.metrics_token() {
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Compared as digests, so the time taken says nothing about the token.
        if Sha256::digest(presented.as_bytes()) != Sha256::digest(expected.as_bytes()) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "/metrics needs the metrics token (Authorization: Bearer <token>)",
            ));
        }
    }
    let pool = state.pool();
    let stored = Checkpoint::all(pool)
        .await
        .map_err(|e| ApiError::database(&e))?;
    let names: Vec<&str> = stored.iter().map(|c| c.name.as_str()).collect();
    let statuses = statuses(pool, &names)
        .await
        .map_err(|e| ApiError::database(&e))?;
    let head = state.log().head().await?;

    let mut registry = Registry::with_prefix("alertledger");
    let position = GaugeFamily::default();
    let applied = GaugeFamily::default();
    let lag_events = GaugeFamily::default();
    let lag_seconds = GaugeFamily::default();
    let failed = GaugeFamily::default();
    let stalled = Family::<ConsumerLabel, Gauge<f64, AtomicU64>>::default();
    let stalled_position = Family::<ConsumerLabel, Gauge<f64, AtomicU64>>::default();
    for status in &statuses {
        let consumer = ConsumerLabel {
            consumer: status.name.clone(),
        };
        let is_stalled = status.last_error.is_some();
        stalled
            .get_or_create(&consumer)
            .set(if is_stalled { 1.0 } else { 0.0 });
        if let (true, Some(position)) = (is_stalled, status.failed_position) {
            stalled_position
                .get_or_create(&consumer)
                .set(position as f64);
        }
        let label = ProjectorLabel {
            projector: status.name.clone(),
        };
        position.get_or_create(&label).set(status.position as f64);
        applied
            .get_or_create(&label)
            .set(status.events_applied as f64);
        lag_events
            .get_or_create(&label)
            .set(status.lag_events as f64);
        lag_seconds.get_or_create(&label).set(status.lag_seconds);
        failed
            .get_or_create(&label)
            .set(if status.last_error.is_some() {
                1.0
            } else {
                0.0
            });
    }
    registry.register(
        "projector_position",
        "Position of the last event the projector applied",
        position,
    );
    registry.register(
        "projector_events_applied",
        "Events the projector has applied",
        applied,
    );
    registry.register(
        "projector_lag_events",
        "Committed events not yet applied",
        lag_events,
    );
    registry.register(
        "projector_lag_seconds",
        "Age of the oldest committed event not yet applied",
        lag_seconds,
    );
    registry.register(
        "projector_failed",
        "1 when the projector stopped on an event",
        failed,
    );
    registry.register(
        "consumer_stalled",
        "1 when the log consumer stopped on an event it cannot apply (see /readyz)",
        stalled,
    );
    registry.register(
        "consumer_stalled_position",
        "Log position of the event a stalled consumer stopped on",
        stalled_position,
    );
    let horizon: Gauge<f64, AtomicU64> = Gauge::default();
    horizon.set(head.transaction_id() as f64);
    registry.register(
        "log_readable_transaction",
        "Transactions below this id are readable in the log",
        horizon,
    );

    let subscribers: Gauge<f64, AtomicU64> = Gauge::default();
    subscribers.set(state.feed().subscribers() as f64);
    registry.register(
        "feed_subscribers",
        "SSE and WebSocket clients following the live feed of this process",
        subscribers,
    );
    let streams: Gauge<f64, AtomicU64> = Gauge::default();
    streams.set(state.feed().streams().open() as f64);
    registry.register(
        "feed_streams_open",
        "Live streams (SSE and WebSocket) of this process counted against the per-user and per-tenant caps",
        streams,
    );
    let refused: Counter<u64> = Counter::default();
    refused.inc_by(state.feed().streams().refused());
    registry.register(
        "feed_streams_refused",
        "Live streams of this process refused with 429 because a per-user or per-tenant cap was full",
        refused,
    );
    let resyncs: Counter<u64> = Counter::default();
    resyncs.inc_by(state.feed().resyncs());
    registry.register(
        "feed_resyncs",
        "Live-feed clients of this process told to resync (they fell behind)",
        resyncs,
    );

    // 1 while a worker of this process stopped on purpose; the checkpointer
    // always has a series, so an alert rule can watch it.
    let alarms = Family::<ComponentLabel, Gauge<f64, AtomicU64>>::default();
    alarms
        .get_or_create(&ComponentLabel {
            component: "checkpointer".to_owned(),
        })
        .set(0.0);
    for alarm in state.alarms().raised() {
        alarms
            .get_or_create(&ComponentLabel {
                component: alarm.component.to_owned(),
            })
            .set(1.0);
    }
    registry.register(
        "alarm",
        "1 when the component stopped on purpose (e.g. the checkpointer found the seal rewritten)",
        alarms,
    );
    registry.register(
        "webhook_deliveries",
        "Webhook deliveries this process answered, by source and outcome (accepted, duplicate, \
         rejected, unauthorized, rate_limited)",
        state.deliveries().counts().clone(),
    );
    // Notifications by channel type and outcome (pending, delivered,
    // failed, policy_matched), and their attempts, from the read model and
    // the notifier's attempt rows.
    let notifications = Family::<NotificationLabel, Counter<u64>>::default();
    let attempts = Family::<NotificationLabel, Counter<u64>>::default();
    for (channel_type, outcome, count, tried) in
        alertledger_projections::notifications::counts(pool)
            .await
            .map_err(|e| ApiError::database(&e))?
    {
        let label = NotificationLabel {
            channel_type,
            outcome,
        };
        notifications
            .get_or_create(&label)
            .inc_by(u64::try_from(count).unwrap_or_default());
        attempts
            .get_or_create(&label)
            .inc_by(u64::try_from(tried).unwrap_or_default());
    }
    registry.register(
        "notifications",
        "Notifications by channel type and current outcome (pending, delivered, failed, policy_matched)",
        notifications,
    );
    registry.register(
        "notification_attempts",
        "Delivery attempts of notifications, by channel type and the notification's current outcome",
        attempts,
    );
    let auth_failures: Counter<u64> = Counter::default();
    auth_failures.inc_by(state.auth_failures().failures());
    registry.register(
        "auth_failures",
        "Requests with a credential this process answered 401 (unknown or revoked API key, bad or expired token, wrong metrics token)",
        auth_failures,
    );
    let auth_refused: Counter<u64> = Counter::default();
    auth_refused.inc_by(state.auth_failures().refused());
    registry.register(
        "auth_failures_refused",
        "Requests refused 429 because their client address failed to authenticate too often",
        auth_refused,
    );
    let auth_tracked: Gauge<f64, AtomicU64> = Gauge::default();
    auth_tracked.set(state.auth_failures().tracked() as f64);
    registry.register(
        "auth_failure_addresses",
        "Client addresses with recent failed authentications being remembered",
        auth_tracked,
    );

    let mut body = String::new();
    encode(&mut body, &registry).map_err(|e| ApiError::internal(&e))?;
    Ok((
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
