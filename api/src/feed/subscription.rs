//! One subscriber's catch-up-then-live view of the log.
//!
//! The classic catch-up subscription: take the hub's receiver and its live
//! position *first*, then read history from the database up to (at least)
//! that position, then follow the receiver, skipping whatever history already
//! covered. Log order is stable, so "covered" is one cursor comparison: nothing
//! is lost between history and live, and nothing is sent twice.

use std::sync::Arc;

use alertledger_eventstore::log::{LogCursor, LogEvent, LogFilter};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast;

use super::event::FeedEvent;
use super::hub::{FeedBatch, FeedHub};

/// What a subscriber gets next.
#[derive(Debug)]
pub enum FeedItem {
    /// Events of the subscriber's tenants and types, in log order, each once.
    Events(Vec<Arc<FeedEvent>>),
    /// The subscriber fell further behind than the buffer allows: it must
    /// reconnect after `last_position`, the last event it was sent (or the
    /// position it resumed from; `None` when it has neither).
    Resync { last_position: Option<i64> },
}

/// A subscriber's position in history and in the live broadcast.
pub struct Subscription {
    hub: FeedHub,
    filter: LogFilter,
    receiver: broadcast::Receiver<FeedBatch>,
    /// Set while history up to `until` is still to be read from the database.
    history: Option<History>,
    /// Everything up to here was delivered or filtered out: live events at or
    /// before it are the seam's duplicates.
    covered: LogCursor,
    last_position: Option<i64>,
    /// The receiver lost batches while events were being gathered: the next
    /// call asks the client to resync.
    lagged: bool,
}

/// Most waiting batches gathered into one item.
const MAX_BATCHES_PER_ITEM: usize = 64;

/// History still to be sent: batches read ahead from the database (the next
/// one is fetched while the current one is written to the client), up to at
/// least the live position `until`.
struct History {
    batches: std::pin::Pin<Box<dyn Stream<Item = Result<Vec<LogEvent>, sqlx::Error>> + Send>>,
    until: LogCursor,
}

impl Subscription {
    /// Events committed from now on.
    pub fn live(hub: &FeedHub, filter: LogFilter) -> Self {
        let (receiver, live) = hub.subscribe();
        Self {
            hub: hub.clone(),
            filter,
            receiver,
            history: None,
            covered: live,
            last_position: None,
            lagged: false,
        }
    }

    /// Every event after `after` (the cursor of the client's resume
    /// position `after_position`), then live.
    pub fn resume(hub: &FeedHub, filter: LogFilter, after: LogCursor, after_position: i64) -> Self {
        // Subscribe before reading history: what is broadcast from here on
        // reaches the receiver, and history is read at least up to `live`.
        let (receiver, live) = hub.subscribe();
        Self {
            hub: hub.clone(),
            filter: filter.clone(),
            receiver,
            history: Some(History {
                // Reads until the log is drained below the horizon, which is
                // at or past `live`; stopped earlier once `live` is passed.
                // Bounded by count and by bytes: a backlog of large events
                // costs no more memory than one of small ones.
                batches: Box::pin(hub.reader().scan_bounded(
                    after,
                    hub.settings().history_batch.max(1),
                    hub.settings().history_bytes,
                    filter,
                )),
                until: live,
            }),
            covered: after,
            last_position: (after_position > 0).then_some(after_position),
            lagged: false,
        }
    }

    /// The position of the last event delivered (or resumed from).
    pub fn last_position(&self) -> Option<i64> {
        self.last_position
    }

    /// The next events, or a resync. Cancel-safe: state changes only after an
    /// await completes, so a `select!` may drop it and call again.
    pub async fn next(&mut self) -> Result<FeedItem, sqlx::Error> {
        loop {
            if let Some(history) = &mut self.history {
                let Some(batch) = history.batches.next().await else {
                    self.history = None;
                    continue;
                };
                // An error ends the subscription (the client resumes from its
                // last id): going live now would leave a gap.
                let events = batch?;
                let Some(last) = events.last() else {
                    continue;
                };
                // Every matching event up to `last` has been read; live
                // events at or before it are the seam's duplicates.
                self.covered = self.covered.max(last.cursor());
                if last.cursor() >= history.until {
                    self.history = None;
                }
                self.last_position = Some(last.position);
                return Ok(FeedItem::Events(
                    events
                        .into_iter()
                        .map(|event| Arc::new(FeedEvent::new(event)))
                        .collect(),
                ));
            }
            if self.lagged {
                return Ok(self.resync());
            }
            match self.receiver.recv().await {
                Ok(batch) => {
                    let mut events = Vec::new();
                    self.take_matching(&batch, &mut events);
                    // A subscriber that is behind takes every batch already
                    // waiting at once: one write to its client instead of one
                    // per batch, which is what lets it catch up under load.
                    for _ in 0..MAX_BATCHES_PER_ITEM {
                        match self.receiver.try_recv() {
                            Ok(batch) => self.take_matching(&batch, &mut events),
                            Err(broadcast::error::TryRecvError::Empty) => break,
                            Err(_) => {
                                // Lagged or closed: deliver what is in hand,
                                // then resync on the next call.
                                self.lagged = true;
                                break;
                            }
                        }
                    }
                    if let Some(last) = events.last() {
                        self.last_position = Some(last.position());
                        return Ok(FeedItem::Events(events));
                    }
                }
                // Fell behind the bounded buffer, or the hub is gone (the
                // server stops): either way the client should come back.
                Err(
                    broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed,
                ) => return Ok(self.resync()),
            }
        }
    }

    /// Appends the events of `batch` this subscriber wants and has not been
    /// sent yet.
    fn take_matching(&mut self, batch: &FeedBatch, events: &mut Vec<Arc<FeedEvent>>) {
        let covered = self.covered;
        events.extend(
            batch
                .iter()
                .filter(|event| event.cursor() > covered && self.filter.matches(&event.event))
                .cloned(),
        );
        if let Some(last) = batch.last() {
            self.covered = self.covered.max(last.cursor());
        }
    }

    fn resync(&self) -> FeedItem {
        self.hub.count_resync();
        FeedItem::Resync {
            last_position: self.last_position,
        }
    }
}
