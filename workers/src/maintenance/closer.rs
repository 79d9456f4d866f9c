//! The window closer: records `MaintenanceWindowEnded` for each window whose
//! held alerts (`correlator_suppressed`) are due, so the correlator lets them
//! go in log order. Its due list is that table, not a timer, so an end that
//! passed while no process ran is recorded on the next start. Each round it
//! also runs the [`BoundaryRecorder`] (every window's starts and ends, for
//! the live feed).

use std::time::Duration;

use alertledger_domain::maintenance::{
    MaintenanceWindow, MaintenanceWindowCommand, MaintenanceWindowError,
};
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::try_instance_lock;
use alertledger_eventstore::log::{LogReader, LogSignal};
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use chrono::{DateTime, Utc};
use cqrs_es::AggregateError;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::boundaries::BoundaryRecorder;

/// The closer's lock name and its actor in the audit trail.
pub const CLOSER: &str = "window-closer";

/// Most window ends recorded per round.
const ROUND_LIMIT: i64 = 500;

/// Looks for due window ends every `interval`; one instance per database.
pub struct WindowCloser {
    pool: PgPool,
    windows: AggregateStore<MaintenanceWindow>,
    services: DomainServices,
    interval: Duration,
    boundaries: BoundaryRecorder,
}

impl WindowCloser {
    pub fn new(
        pool: PgPool,
        signal: LogSignal,
        services: DomainServices,
        interval: Duration,
    ) -> Self {
        Self {
            windows: AggregateStore::new(pool.clone(), services.clone(), signal.clone()),
            boundaries: BoundaryRecorder::new(
                LogReader::new(pool.clone()),
                AggregateStore::new(pool.clone(), services.clone(), signal),
                services.clone(),
            ),
            pool,
            services,
            interval,
        }
    }

    /// Runs in the background until the handle is aborted.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(mut self) {
        let _instance_lock = loop {
            match try_instance_lock(&self.pool, CLOSER).await {
                Ok(Some(connection)) => break connection,
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "window closer cannot take its lock"),
            }
            tokio::time::sleep(self.interval).await;
        };
        loop {
            if let Err(error) = self.close_due().await {
                tracing::warn!(%error, "window closer round failed");
            }
            if let Err(error) = self.boundaries.record_due().await {
                tracing::warn!(%error, "window boundary round failed");
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// Records the end of every due occurrence that holds alerts; how many.
    pub async fn close_due(&self) -> Result<usize, sqlx::Error> {
        let due: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
            "SELECT window_id, max(until) FROM correlator_suppressed
              WHERE until <= $1 GROUP BY window_id ORDER BY window_id LIMIT $2",
        )
        .bind(self.services.now())
        .bind(ROUND_LIMIT)
        .fetch_all(&self.pool)
        .await?;
        let mut closed = 0;
        for (window_id, ended_at) in due {
            let metadata = EventMetadata {
                actor: Some(format!("worker:{CLOSER}")),
                correlation_id: Some(window_id.to_string()),
                ..EventMetadata::default()
            };
            match self
                .windows
                .execute(
                    &window_id.to_string(),
                    MaintenanceWindowCommand::RecordEnd { ended_at },
                    metadata,
                )
                .await
            {
                Ok(()) => closed += 1,
                // Recorded already (the correlator has yet to act on it), or
                // deleted (the correlator lets its alerts go on that event).
                Err(AggregateError::UserError(
                    MaintenanceWindowError::EndAlreadyRecorded
                    | MaintenanceWindowError::Deleted
                    | MaintenanceWindowError::NotEnded,
                )) => {}
                Err(error) => {
                    tracing::warn!(window = %window_id, %error, "cannot record window end")
                }
            }
        }
        Ok(closed)
    }
}
