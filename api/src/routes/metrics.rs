//! `GET /metrics`: Prometheus text exposition, read at scrape time.
//!
//! The figures that matter for operations live in PostgreSQL (projector
//! checkpoints, the log), so each scrape reads them and encodes them with
//! `prometheus-client`; there is nothing to keep in memory between scrapes.

use alertledger_eventstore::consumer::status::statuses;
use alertledger_eventstore::consumer::Checkpoint;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectorLabel {
    projector: String,
}

type GaugeFamily = Family<ProjectorLabel, Gauge<f64, AtomicU64>>;

/// Projector positions and lag, and the log's readable horizon.
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
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
    for status in &statuses {
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
            .set(if status.failed_position.is_some() {
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
    let resyncs: Counter<u64> = Counter::default();
    resyncs.inc_by(state.feed().resyncs());
    registry.register(
        "feed_resyncs",
        "Live-feed clients of this process told to resync (they fell behind)",
        resyncs,
    );

    registry.register(
        "webhook_deliveries",
        "Webhook deliveries this process answered, by source and outcome (accepted, duplicate, \
         rejected, unauthorized, rate_limited)",
        state.deliveries().counts().clone(),
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
