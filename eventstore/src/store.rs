//! The write side for aggregates other than alert receipts: cqrs-es over
//! postgres-es, in plain event-store mode (no snapshots: cqrs-es 0.5's snapshot
//! and aggregate-store modes apply new events twice), announcing each commit to
//! log tailers.

use std::collections::HashMap;

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventStore};
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;

use crate::log::LogSignal;

/// Who and what caused an event, kept beside its payload (never inside it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventMetadata {
    /// `user:<id>`, `api_key:<id>`, `worker:<name>` or `system`.
    pub actor: Option<String>,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub delivery_key: Option<String>,
    /// The event or command that caused this one.
    pub causation_id: Option<String>,
    /// Groups every event of one flow (e.g. an alert and what it triggered).
    pub correlation_id: Option<String>,
}

impl EventMetadata {
    /// Metadata naming only the actor.
    pub fn by(actor: impl Into<String>) -> Self {
        Self {
            actor: Some(actor.into()),
            ..Self::default()
        }
    }

    /// The string map cqrs-es stores as the event's metadata.
    pub fn into_map(self) -> HashMap<String, String> {
        [
            ("actor", self.actor),
            ("request_id", self.request_id),
            ("source_ip", self.source_ip),
            ("delivery_key", self.delivery_key),
            ("causation_id", self.causation_id),
            ("correlation_id", self.correlation_id),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|value| (key.to_owned(), value)))
        .collect()
    }

    /// The same map as JSON text (for rows written outside cqrs-es).
    pub fn to_json_text(&self) -> String {
        // A map of strings always serializes.
        serde_json::to_string(&self.clone().into_map()).unwrap_or_else(|_| "{}".to_owned())
    }
}

type Framework<A> = CqrsFramework<A, PersistedEventStore<PostgresEventRepository, A>>;

/// Executes commands on aggregates of type `A` and loads their state.
pub struct AggregateStore<A: Aggregate> {
    framework: Framework<A>,
    store: PersistedEventStore<PostgresEventRepository, A>,
    signal: LogSignal,
}

impl<A: Aggregate> AggregateStore<A> {
    /// A store on `pool`; the domain's upcasters bring old event shapes up to
    /// date on read.
    pub fn new(pool: PgPool, services: A::Services, signal: LogSignal) -> Self {
        let event_store = || {
            PersistedEventStore::new_event_store(PostgresEventRepository::new(pool.clone()))
                .with_upcasters(alertledger_domain::upcasters::all())
        };
        Self {
            framework: CqrsFramework::new(event_store(), Vec::new(), services),
            store: event_store(),
            signal,
        }
    }

    /// Runs `command` on aggregate `id` and commits its events.
    ///
    /// A concurrent commit to the same aggregate is reported as
    /// `AggregateError::AggregateConflict`; the caller may retry.
    pub async fn execute(
        &self,
        id: &str,
        command: A::Command,
        metadata: EventMetadata,
    ) -> Result<(), AggregateError<A::Error>> {
        self.framework
            .execute_with_metadata(id, command, metadata.into_map())
            .await?;
        self.signal.appended();
        Ok(())
    }

    /// The current state of aggregate `id` (the default state if it has no events).
    pub async fn load(&self, id: &str) -> Result<A, AggregateError<A::Error>> {
        Ok(self.store.load_aggregate(id).await?.aggregate)
    }

    /// The current state of aggregate `id` and the sequence of its last event
    /// (0 for none): a version that orders it against the aggregate's events.
    pub async fn load_versioned(&self, id: &str) -> Result<(A, i64), AggregateError<A::Error>> {
        let context = self.store.load_aggregate(id).await?;
        let version = i64::try_from(context.current_sequence).unwrap_or(i64::MAX);
        Ok((context.aggregate, version))
    }
}
