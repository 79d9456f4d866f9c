//! The process's one log tailer, broadcasting what it reads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alertledger_eventstore::log::{
    LogCursor, LogFilter, LogReader, LogSignal, LogTailer, TailSettings, WakeOn,
};
use futures_util::StreamExt;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::event::FeedEvent;
use super::limits::{StreamCounter, StreamLimits, StreamPermit, StreamRefused};

/// Events the tailer read in one go, in log order, shared by every subscriber.
pub type FeedBatch = Arc<[Arc<FeedEvent>]>;

/// How the feed buffers, beats and advises reconnects.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// Batches a subscriber may fall behind the tailer before it is told to
    /// resync and dropped (the bounded buffer of every subscriber).
    pub buffer_batches: usize,
    /// Most events the tailer reads (and broadcasts) as one batch. Under
    /// load the tailer's reads fill up to this, so it also sets how many
    /// events `buffer_batches` can hold.
    pub tail_batch: usize,
    /// Interval of SSE heartbeat comments and WebSocket `ping` messages.
    pub heartbeat: Duration,
    /// The `retry:` hint SSE clients wait before reconnecting.
    pub retry: Duration,
    /// Events per database read when a subscriber catches up on history.
    /// Larger batches mean fewer round trips (10,000 missed events arrive in
    /// about half the time with 5,000 as with 1,000, see BENCHMARKS.md) at
    /// the cost of memory: a resuming subscriber holds up to three batches.
    pub history_batch: usize,
    /// Bytes of events (payload and metadata) per history read, whatever
    /// their count: what bounds a resuming subscriber's memory when events
    /// are large (it holds up to three such reads: one being sent, one
    /// prefetched, one being fetched).
    pub history_bytes: usize,
    /// Concurrent streams per user and per tenant.
    pub streams: StreamLimits,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            buffer_batches: 1_024,
            tail_batch: 1_000,
            heartbeat: Duration::from_secs(15),
            retry: Duration::from_secs(2),
            history_batch: 5_000,
            history_bytes: 4 * 1024 * 1024,
            streams: StreamLimits::default(),
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
    /// Open streams per user and tenant, against the caps.
    streams: StreamCounter,
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
            settings: settings.clone(),
            live: Mutex::new(Live {
                sender,
                cursor: head,
            }),
            closed: watch::channel(false).0,
            task: Mutex::new(None),
            resyncs: AtomicU64::new(0),
            streams: StreamCounter::new(settings.streams),
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
                batch_size: settings.tail_batch.max(1),
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

    /// A slot for one more stream of `user` over `tenants` (`None`: every
    /// tenant); the stream holds the permit for as long as it runs.
    pub fn admit(
        &self,
        user: &str,
        tenants: Option<&[uuid::Uuid]>,
    ) -> Result<StreamPermit, StreamRefused> {
        self.inner.streams.admit(user, tenants)
    }

    /// The open streams counted against the caps (for `/metrics`).
    pub fn streams(&self) -> &StreamCounter {
        &self.inner.streams
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
        let batch: FeedBatch = events
            .into_iter()
            .map(|event| Arc::new(FeedEvent::new(event)))
            .collect();
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
