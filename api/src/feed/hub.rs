//! The process's one log tailer, broadcasting what it reads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alertledger_projections::log::{
    LogCursor, LogFilter, LogReader, LogSignal, LogTailer, TailSettings, WakeOn,
};
use axum::body::Bytes;
use futures_util::StreamExt;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::event::FeedEvent;

/// Events the tailer read in one go, in log order, shared by every subscriber.
pub type FeedBatch = Arc<LiveBatch>;

/// One broadcast batch: its events, and the SSE chunks already rendered from
/// it, one per subscriber filter. Subscribers with the same tenants and types
/// (a dashboard's many tabs, a tenant's many clients) then write one shared,
/// reference-counted buffer instead of each filtering the batch and copying
/// its frames into a buffer of its own.
pub struct LiveBatch {
    events: Vec<Arc<FeedEvent>>,
    sse_chunks: Mutex<Vec<(LogFilter, Bytes)>>,
}

/// Distinct filters whose chunks one batch keeps; past this, chunks for new
/// filters are rendered for their subscriber alone (memory stays bounded).
const MAX_CACHED_FILTERS: usize = 32;

impl LiveBatch {
    pub fn new(events: Vec<Arc<FeedEvent>>) -> Self {
        Self {
            events,
            sse_chunks: Mutex::new(Vec::new()),
        }
    }

    pub fn events(&self) -> &[Arc<FeedEvent>] {
        &self.events
    }

    /// The SSE frames of the events `filter` lets through, as one chunk
    /// (empty when none does), rendered once per distinct filter.
    pub fn sse_chunk(&self, filter: &LogFilter) -> Bytes {
        let mut chunks = self
            .sse_chunks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, chunk)) = chunks.iter().find(|(cached, _)| cached == filter) {
            return chunk.clone();
        }
        let mut chunk = Vec::new();
        for event in self.events.iter().filter(|e| filter.matches(&e.event)) {
            chunk.extend_from_slice(&event.sse_frame());
        }
        let chunk = Bytes::from(chunk);
        if chunks.len() < MAX_CACHED_FILTERS {
            chunks.push((filter.clone(), chunk.clone()));
        }
        chunk
    }
}

/// How the feed buffers, beats and advises reconnects.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// Batches a subscriber may fall behind the tailer before it is told to
    /// resync and dropped (the bounded buffer of every subscriber).
    pub buffer_batches: usize,
    /// Interval of SSE heartbeat comments and WebSocket `ping` messages.
    pub heartbeat: Duration,
    /// The `retry:` hint SSE clients wait before reconnecting.
    pub retry: Duration,
    /// Events per database read when a subscriber catches up on history.
    /// Larger batches mean fewer round trips (10,000 missed events arrive in
    /// about half the time with 5,000 as with 1,000, see BENCHMARKS.md) at
    /// the cost of memory: a resuming subscriber holds up to two batches.
    pub history_batch: usize,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            buffer_batches: 1_024,
            heartbeat: Duration::from_secs(15),
            retry: Duration::from_secs(2),
            history_batch: 5_000,
        }
    }
}

/// Follows the log once per process and fans it out. Cheap to clone.
#[derive(Clone)]
pub struct FeedHub {
    inner: Arc<Inner>,
}

struct Inner {
    reader: LogReader,
    settings: FeedSettings,
    /// The sender, and the cursor of the last event it broadcast, changed
    /// together under one lock: a subscriber that takes both at once knows
    /// that everything up to the cursor was broadcast before it subscribed
    /// and everything after it will reach its receiver.
    live: Mutex<Live>,
    closed: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// Subscribers told to resync since the process started.
    resyncs: AtomicU64,
}

struct Live {
    sender: broadcast::Sender<FeedBatch>,
    cursor: LogCursor,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut task) = self.task.lock() {
            if let Some(task) = task.take() {
                task.abort();
            }
        }
    }
}

impl FeedHub {
    /// Starts following the log from its current head.
    pub async fn start(
        reader: LogReader,
        signal: LogSignal,
        settings: FeedSettings,
    ) -> Result<Self, sqlx::Error> {
        let head = reader.head().await?;
        let (sender, _) = broadcast::channel(settings.buffer_batches.max(1));
        let inner = Arc::new(Inner {
            reader: reader.clone(),
            settings,
            live: Mutex::new(Live {
                sender,
                cursor: head,
            }),
            closed: watch::channel(false).0,
            task: Mutex::new(None),
            resyncs: AtomicU64::new(0),
        });
        let tailer = LogTailer::new(
            reader,
            signal,
            TailSettings {
                // Latency matters more here than for projectors: re-read soon
                // after a hint the horizon did not show yet (a transaction
                // still open holds it back), and never back off past 20 ms.
                // Idle, that is 50 cheap index reads a second per process.
                hint_retry: Duration::from_millis(1),
                poll_interval: Duration::from_millis(20),
                wake_on: WakeOn::AllAppends,
                ..TailSettings::default()
            },
        );
        let task = tokio::spawn(follow(Arc::downgrade(&inner), tailer, head));
        if let Ok(mut slot) = inner.task.lock() {
            *slot = Some(task);
        }
        Ok(Self { inner })
    }

    /// A receiver of every batch broadcast from now on, and the cursor of the
    /// last event broadcast before it (the live position).
    pub fn subscribe(&self) -> (broadcast::Receiver<FeedBatch>, LogCursor) {
        let live = self
            .inner
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (live.sender.subscribe(), live.cursor)
    }

    pub fn reader(&self) -> &LogReader {
        &self.inner.reader
    }

    pub fn settings(&self) -> &FeedSettings {
        &self.inner.settings
    }

    /// A watch on whether the hub is closed (the server is shutting down);
    /// see [`until_closed`].
    pub fn closed(&self) -> watch::Receiver<bool> {
        self.inner.closed.subscribe()
    }

    /// Ends every open stream (on shutdown: SSE and WebSocket connections
    /// never end by themselves).
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
    }

    /// Counts a subscriber told to resync (for `/metrics`).
    pub(crate) fn count_resync(&self) {
        self.inner.resyncs.fetch_add(1, Ordering::Relaxed);
    }

    /// Subscribers told to resync since the process started.
    pub fn resyncs(&self) -> u64 {
        self.inner.resyncs.load(Ordering::Relaxed)
    }

    /// Subscribers currently attached.
    pub fn subscribers(&self) -> usize {
        self.inner
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .sender
            .receiver_count()
    }
}

/// The tailer loop: read, broadcast, remember the live position. Never waits
/// for subscribers: a broadcast send does not block, and one that falls
/// behind finds out on its next receive.
async fn follow(hub: std::sync::Weak<Inner>, tailer: LogTailer, from: LogCursor) {
    let mut batches = std::pin::pin!(tailer.batches(from, LogFilter::all()));
    while let Some(batch) = batches.next().await {
        let events = match batch {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "the live feed could not read the log; retrying");
                continue;
            }
        };
        let Some(last) = events.last().map(|event| event.cursor()) else {
            continue;
        };
        let batch: FeedBatch = Arc::new(LiveBatch::new(
            events
                .into_iter()
                .map(|event| Arc::new(FeedEvent::new(event)))
                .collect(),
        ));
        let Some(hub) = hub.upgrade() else {
            return;
        };
        let mut live = hub
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // No receiver is fine: the batch is simply not kept.
        let _ = live.sender.send(batch);
        live.cursor = last;
    }
}

/// Resolves once the hub behind `closed` is closed or gone, so that open
/// streams end and the server can finish.
pub async fn until_closed(closed: &mut watch::Receiver<bool>) {
    let _ = closed.wait_for(|closed| *closed).await;
}

#[cfg(test)]
mod tests {
    use alertledger_projections::log::LogEvent;
    use serde_json::value::to_raw_value;
    use uuid::Uuid;

    use super::*;

    fn event(position: i64, tenant_id: Uuid, event_type: &str) -> Arc<FeedEvent> {
        let raw = |value: serde_json::Value| to_raw_value(&value).unwrap_or_else(|e| panic!("{e}"));
        Arc::new(FeedEvent::new(LogEvent {
            position,
            transaction_id: 7,
            recorded_at: chrono::Utc::now(),
            tenant_id,
            aggregate_type: "Alert".to_owned(),
            aggregate_id: format!("a{position}"),
            sequence: 1,
            event_type: event_type.to_owned(),
            event_version: "1.0".to_owned(),
            payload: raw(serde_json::json!({ event_type: { "tenant_id": tenant_id } })),
            metadata: raw(serde_json::json!({})),
        }))
    }

    #[test]
    fn a_batch_renders_one_shared_chunk_per_filter() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let batch = LiveBatch::new(vec![
            event(1, a, "AlertReceived"),
            event(2, b, "AlertReceived"),
            event(3, a, "AlertCorrelated"),
        ]);
        let tenant_a = LogFilter::tenants(vec![a]);
        let first = batch.sse_chunk(&tenant_a);
        let second = batch.sse_chunk(&tenant_a.clone());
        // The same buffer, not a copy.
        assert_eq!(first.as_ptr(), second.as_ptr());
        let expected: Vec<u8> = [&batch.events()[0], &batch.events()[2]]
            .iter()
            .flat_map(|event| event.sse_frame().to_vec())
            .collect();
        assert_eq!(first.as_ref(), expected.as_slice());

        let receipts_of_b = LogFilter {
            tenants: Some(vec![b]),
            event_types: Some(vec!["AlertReceived".to_owned()]),
        };
        assert_eq!(
            batch.sse_chunk(&receipts_of_b).as_ref(),
            batch.events()[1].sse_frame().as_ref()
        );
        let nobody = LogFilter::tenants(vec![Uuid::from_u128(3)]);
        assert!(batch.sse_chunk(&nobody).is_empty());
    }
}
