//! The boundary recorder: records `MaintenanceWindowStatusChanged` for every
//! occurrence start and end of every window (one-off and recurring), so the
//! live feed carries a window's state, not only its definition.
//!
//! Its due list is the windows' own events, folded in memory: at start it
//! reads every window event of the log, then only the new ones each round,
//! and asks a window whose next boundary has passed to record it
//! (`RecordBoundaries`; the aggregate decides what is due, from its events).
//! So a boundary passed while no process ran is recorded on the next start.
//! One event per window occurrence boundary, none per alert.

use std::collections::HashMap;

use alertledger_domain::maintenance::{
    MaintenanceWindow, MaintenanceWindowCommand, MaintenanceWindowError, MaintenanceWindowEvent,
};
use alertledger_domain::{upcasters, DomainServices};
use alertledger_eventstore::log::{LogCursor, LogFilter, LogReader};
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use chrono::{DateTime, Utc};
use cqrs_es::persist::EventUpcaster;
use cqrs_es::{Aggregate, AggregateError};

use super::closer::CLOSER;

/// Window events read per query.
const READ_BATCH: usize = 500;

/// How long a window whose boundary turned out not to be due waits before
/// it is asked again (unless its events change it meanwhile).
const NOT_DUE_BACKOFF: chrono::Duration = chrono::Duration::seconds(60);

/// One window as the recorder follows it.
#[derive(Default)]
struct Followed {
    window: MaintenanceWindow,
    /// When to ask it to record its boundaries.
    due_at: Option<DateTime<Utc>>,
}

/// Follows the windows' events and records their due boundaries.
pub struct BoundaryRecorder {
    reader: LogReader,
    windows: AggregateStore<MaintenanceWindow>,
    services: DomainServices,
    upcasters: Vec<Box<dyn EventUpcaster>>,
    filter: LogFilter,
    cursor: LogCursor,
    followed: HashMap<String, Followed>,
}

impl BoundaryRecorder {
    pub fn new(
        reader: LogReader,
        windows: AggregateStore<MaintenanceWindow>,
        services: DomainServices,
    ) -> Self {
        Self {
            reader,
            windows,
            services,
            upcasters: upcasters::all(),
            filter: LogFilter {
                tenants: None,
                event_types: Some(
                    MaintenanceWindowEvent::TYPES
                        .iter()
                        .map(|t| (*t).to_owned())
                        .collect(),
                ),
            },
            cursor: LogCursor::START,
            followed: HashMap::new(),
        }
    }

    /// Reads the window events appended since the last round, then records
    /// the boundaries due as of the injected clock's now; how many windows
    /// recorded some.
    pub async fn record_due(&mut self) -> Result<usize, sqlx::Error> {
        self.catch_up().await?;
        let now = self.services.now();
        let mut due: Vec<String> = self
            .followed
            .iter()
            .filter(|(_, followed)| followed.due_at.is_some_and(|at| at <= now))
            .map(|(id, _)| id.clone())
            .collect();
        due.sort();
        let mut recorded = 0;
        for id in due {
            let metadata = EventMetadata {
                actor: Some(format!("worker:{CLOSER}")),
                correlation_id: Some(id.clone()),
                ..EventMetadata::default()
            };
            match self
                .windows
                .execute(&id, MaintenanceWindowCommand::RecordBoundaries, metadata)
                .await
            {
                // Its new events come back on the next round's read.
                Ok(()) => recorded += 1,
                // This process's view was behind, or the rules found
                // nothing: the window's next boundary as now seen, and never
                // sooner than a back-off.
                Err(AggregateError::UserError(
                    MaintenanceWindowError::NoBoundaryDue | MaintenanceWindowError::Deleted,
                )) => {
                    if let Some(followed) = self.followed.get_mut(&id) {
                        followed.due_at = followed
                            .window
                            .next_boundary(now)
                            .map(|at| at.max(now + NOT_DUE_BACKOFF));
                    }
                }
                // A concurrent change (it is asked again next round).
                Err(error) => {
                    tracing::warn!(window = %id, %error, "cannot record window boundaries")
                }
            }
        }
        Ok(recorded)
    }

    /// Folds the window events appended since the last read.
    async fn catch_up(&mut self) -> Result<(), sqlx::Error> {
        let now = self.services.now();
        let mut changed = Vec::new();
        loop {
            let batch = self
                .reader
                .read(self.cursor, READ_BATCH, &self.filter)
                .await?;
            let full = batch.events.len() >= READ_BATCH;
            for event in batch.events {
                let id = event.aggregate_id.clone();
                let decoded = event
                    .upcast(&self.upcasters)
                    .and_then(|event| event.payload_as::<MaintenanceWindowEvent>());
                match decoded {
                    Ok(event) => {
                        self.followed
                            .entry(id.clone())
                            .or_default()
                            .window
                            .apply(event);
                        changed.push(id);
                    }
                    // Not a window event this build knows: nothing to follow.
                    Err(error) => tracing::warn!(window = %id, %error, "unreadable window event"),
                }
            }
            self.cursor = batch.next;
            if !full {
                break;
            }
        }
        for id in changed {
            if let Some(followed) = self.followed.get_mut(&id) {
                followed.due_at = followed.window.next_boundary(now);
            }
        }
        // Deleted windows have nothing more to record.
        self.followed
            .retain(|_, followed| !followed.window.is_deleted());
        Ok(())
    }
}
