//! The flap settler: records `IncidentFlappingEnded` for each incident whose
//! key has been stable (no switch between firing and resolved) for its
//! flapping window, read from the correlator's `correlator_flaps`. Like the
//! window closer it only proposes an instant from stored state; the
//! correlator folds the event in log order (and marks the incident again
//! should a switch it had not seen yet come first), so a restart loses no
//! end and a replay decides the same.

use std::time::Duration;

use alertledger_domain::incident::{Incident, IncidentCommand, IncidentError};
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::try_instance_lock;
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use chrono::{DateTime, Utc};
use cqrs_es::AggregateError;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The settler's lock name and its actor in the audit trail.
pub const SETTLER: &str = "flap-settler";

/// Most flapping ends recorded per round.
const ROUND_LIMIT: i64 = 500;

/// Looks for keys stable for their window every `interval`; one instance
/// per database.
pub struct FlapSettler {
    pool: PgPool,
    incidents: AggregateStore<Incident>,
    services: DomainServices,
    interval: Duration,
}

impl FlapSettler {
    pub fn new(
        pool: PgPool,
        signal: LogSignal,
        services: DomainServices,
        interval: Duration,
    ) -> Self {
        Self {
            incidents: AggregateStore::new(pool.clone(), services.clone(), signal),
            pool,
            services,
            interval,
        }
    }

    /// Runs in the background until the handle is aborted.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(self) {
        let _instance_lock = loop {
            match try_instance_lock(&self.pool, SETTLER).await {
                Ok(Some(connection)) => break connection,
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "flap settler cannot take its lock"),
            }
            tokio::time::sleep(self.interval).await;
        };
        loop {
            if let Err(error) = self.settle_due().await {
                tracing::warn!(%error, "flap settler round failed");
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// Records the end of every flapping whose key has been stable for its
    /// window as of the injected clock's now; how many.
    pub async fn settle_due(&self) -> Result<usize, sqlx::Error> {
        let due: Vec<(Uuid, String, DateTime<Utc>, i32)> = sqlx::query_as(
            "SELECT flapping_incident, key, last_change_at, window_minutes FROM correlator_flaps
              WHERE flapping_incident IS NOT NULL AND last_change_at IS NOT NULL
                AND last_change_at + make_interval(mins => window_minutes) <= $1
              ORDER BY last_change_at LIMIT $2",
        )
        .bind(self.services.now())
        .bind(ROUND_LIMIT)
        .fetch_all(&self.pool)
        .await?;
        let mut settled = 0;
        for (incident_id, key, stable_since, window_minutes) in due {
            let metadata = EventMetadata {
                actor: Some(format!("worker:{SETTLER}")),
                correlation_id: Some(incident_id.to_string()),
                ..EventMetadata::default()
            };
            let command = IncidentCommand::EndFlapping {
                stable_since,
                reason: format!(
                    "key {key} has not switched between firing and resolved since {} \
                     ({window_minutes} minutes)",
                    stable_since.to_rfc3339()
                ),
            };
            match self
                .incidents
                .execute(&incident_id.to_string(), command, metadata)
                .await
            {
                Ok(()) => settled += 1,
                // Recorded already; the correlator has yet to fold it.
                Err(AggregateError::UserError(IncidentError::NotFlapping)) => {}
                Err(error) => {
                    tracing::warn!(incident = %incident_id, %error, "cannot record a flapping end")
                }
            }
        }
        Ok(settled)
    }
}
