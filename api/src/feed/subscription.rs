//! One subscriber's catch-up-then-live view of the log.
//!
//! The classic catch-up subscription: take the hub's receiver and its live
//! position *first*, then read history from the database up to (at least)
//! that position, then follow the receiver, skipping whatever history already
//! covered. Log order is stable, so "covered" is one cursor comparison: nothing
//! is lost between history and live, and nothing is sent twice.

use std::sync::Arc;

use alertledger_projections::log::{LogCursor, LogFilter, LogReader};
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
    reader: LogReader,
    filter: LogFilter,
    receiver: broadcast::Receiver<FeedBatch>,
    /// Set while history up to `until` is still to be read from the database.
    history: Option<History>,
    /// Everything up to here was delivered or filtered out: live events at or
    /// before it are the seam's duplicates.
    covered: LogCursor,
    last_position: Option<i64>,
    history_batch: usize,
    /// The receiver lost batches while events were being gathered: the next
    /// call asks the client to resync.
    lagged: bool,
}

/// Most waiting batches gathered into one item.
const MAX_BATCHES_PER_ITEM: usize = 64;

struct History {
    cursor: LogCursor,
    until: LogCursor,
}

impl Subscription {
    /// Events committed from now on.
    pub fn live(hub: &FeedHub, filter: LogFilter) -> Self {
        let (receiver, live) = hub.subscribe();
        Self {
            hub: hub.clone(),
            reader: hub.reader().clone(),
            filter,
            receiver,
            history: None,
            covered: live,
            last_position: None,
            history_batch: hub.settings().history_batch.max(1),
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
            reader: hub.reader().clone(),
            filter,
            receiver,
            history: Some(History {
                cursor: after,
                until: live,
            }),
            covered: after,
            last_position: (after_position > 0).then_some(after_position),
            history_batch: hub.settings().history_batch.max(1),
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
            if let Some(history) = &self.history {
                let batch = self
                    .reader
                    .read(history.cursor, self.history_batch, &self.filter)
                    .await?;
                // Fewer than asked: everything below the horizon (which is at
                // or past the live position) has been read.
                let done = batch.events.len() < self.history_batch || batch.next >= history.until;
                self.covered = self.covered.max(batch.next);
                self.history = (!done).then_some(History {
                    cursor: batch.next,
                    until: history.until,
                });
                if let Some(last) = batch.events.last() {
                    self.last_position = Some(last.position);
                    return Ok(FeedItem::Events(
                        batch
                            .events
                            .into_iter()
                            .map(|event| Arc::new(FeedEvent::new(event)))
                            .collect(),
                    ));
                }
                continue;
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
