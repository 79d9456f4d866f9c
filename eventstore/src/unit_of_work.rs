//! Commands on aggregates inside a caller's transaction: for log consumers
//! that record decisions (the correlator) together with their checkpoint and
//! state, so a decision is stored exactly once or not at all.
//!
//! Aggregates are loaded from the event store within the transaction, commands
//! run through the aggregate's own `handle` (the same rules as everywhere
//! else), and the resulting events are staged and written with one INSERT.
//! A concurrent writer to the same aggregate makes that INSERT fail on the
//! `(aggregate_type, aggregate_id, sequence)` key and the whole transaction
//! rolls back: optimistic concurrency, as cqrs-es does it.

use std::collections::HashMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use cqrs_es::{Aggregate, DomainEvent};
use sqlx::PgConnection;

use crate::store::EventMetadata;

/// An aggregate's state and the sequence of its last event (0: none yet).
#[derive(Debug, Clone, Default)]
pub struct Loaded<A> {
    pub state: A,
    pub sequence: i64,
}

/// Why aggregates could not be loaded or staged.
#[derive(Debug, thiserror::Error)]
pub enum UnitOfWorkError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored event {aggregate_type}/{aggregate_id}#{sequence} does not decode: {reason}")]
    Decode {
        aggregate_type: String,
        aggregate_id: String,
        sequence: i64,
        reason: String,
    },
}

impl From<UnitOfWorkError> for crate::consumer::ConsumerError {
    fn from(error: UnitOfWorkError) -> Self {
        match error {
            UnitOfWorkError::Database(error) => Self::Database(error),
            UnitOfWorkError::Decode {
                aggregate_type,
                aggregate_id,
                sequence,
                reason,
            } => Self::Corrupt(format!(
                "{aggregate_type}/{aggregate_id}#{sequence} does not decode: {reason}"
            )),
        }
    }
}

struct StagedEvent {
    aggregate_type: &'static str,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: String,
    metadata: String,
}

/// Events staged by commands, written together by [`UnitOfWork::write`].
pub struct UnitOfWork {
    staged: Vec<StagedEvent>,
    upcasters: Vec<Box<dyn EventUpcaster>>,
}

impl Default for UnitOfWork {
    fn default() -> Self {
        Self {
            staged: Vec::new(),
            upcasters: alertledger_domain::upcasters::all(),
        }
    }
}

impl UnitOfWork {
    /// Loads aggregates `ids` of type `A` as committed now (ids without events
    /// get the default state), with one query.
    pub async fn load<A: Aggregate>(
        &self,
        conn: &mut PgConnection,
        ids: &[String],
    ) -> Result<HashMap<String, Loaded<A>>, UnitOfWorkError> {
        let starts = ids
            .iter()
            .map(|id| (id.clone(), Loaded::default()))
            .collect();
        self.load_after(conn, starts).await
    }

    /// Brings known states up to date: for each `(id, state)`, applies the
    /// committed events after `state.sequence` (one query for all). A caller
    /// that keeps committed states between transactions reads only what is
    /// new instead of whole histories.
    pub async fn load_after<A: Aggregate>(
        &self,
        conn: &mut PgConnection,
        starts: Vec<(String, Loaded<A>)>,
    ) -> Result<HashMap<String, Loaded<A>>, UnitOfWorkError> {
        if starts.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<String> = starts.iter().map(|(id, _)| id.clone()).collect();
        let after: Vec<i64> = starts.iter().map(|(_, state)| state.sequence).collect();
        let mut loaded: HashMap<String, Loaded<A>> = starts.into_iter().collect();
        let rows: Vec<(
            String,
            i64,
            String,
            String,
            serde_json::Value,
            serde_json::Value,
        )> = sqlx::query_as(
            "SELECT e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, e.metadata
               FROM UNNEST($2::text[], $3::bigint[]) AS k(aggregate_id, after)
               JOIN events e ON e.aggregate_type = $1 AND e.aggregate_id = k.aggregate_id
                            AND e.sequence > k.after
              ORDER BY e.aggregate_id, e.sequence",
        )
        .bind(A::TYPE)
        .bind(&ids)
        .bind(&after)
        .fetch_all(conn)
        .await?;
        for (aggregate_id, sequence, event_type, event_version, payload, metadata) in rows {
            let stored = SerializedEvent {
                aggregate_id: aggregate_id.clone(),
                sequence: usize::try_from(sequence).unwrap_or_default(),
                aggregate_type: A::TYPE.to_owned(),
                event_type,
                event_version,
                payload,
                metadata,
            };
            let current = alertledger_domain::upcasters::upcast(&self.upcasters, stored);
            let event: A::Event = serde_json::from_value(current.payload).map_err(|error| {
                UnitOfWorkError::Decode {
                    aggregate_type: A::TYPE.to_owned(),
                    aggregate_id: aggregate_id.clone(),
                    sequence,
                    reason: error.to_string(),
                }
            })?;
            let entry = loaded.entry(aggregate_id).or_default();
            entry.state.apply(event);
            entry.sequence = sequence;
        }
        Ok(loaded)
    }

    /// Runs `command` on `aggregate` (id `id`) and stages its events; on a
    /// rule violation nothing is staged and the state is left as it was.
    pub async fn execute<A: Aggregate + Clone>(
        &mut self,
        id: &str,
        aggregate: &mut Loaded<A>,
        command: A::Command,
        services: &A::Services,
        metadata: &EventMetadata,
    ) -> Result<Vec<A::Event>, A::Error> {
        let before = aggregate.state.clone();
        let sink = EventSink::default();
        if let Err(error) = aggregate.state.handle(command, services, &sink).await {
            aggregate.state = before;
            return Err(error);
        }
        let events = sink.collect().await;
        let metadata = metadata.to_json_text();
        for event in &events {
            aggregate.sequence += 1;
            self.staged.push(StagedEvent {
                aggregate_type: A::TYPE,
                aggregate_id: id.to_owned(),
                sequence: aggregate.sequence,
                event_type: event.event_type(),
                event_version: event.event_version(),
                // Domain events are plain data and always serialize.
                payload: serde_json::to_string(event).unwrap_or_else(|_| "null".to_owned()),
                metadata: metadata.clone(),
            });
        }
        Ok(events)
    }

    /// How many events are staged.
    pub fn len(&self) -> usize {
        self.staged.len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.staged.is_empty()
    }

    /// Writes every staged event in staging order with one statement.
    pub async fn write(&mut self, conn: &mut PgConnection) -> Result<usize, sqlx::Error> {
        if self.staged.is_empty() {
            return Ok(0);
        }
        let staged = std::mem::take(&mut self.staged);
        let mut types = Vec::with_capacity(staged.len());
        let mut ids = Vec::with_capacity(staged.len());
        let mut sequences = Vec::with_capacity(staged.len());
        let mut event_types = Vec::with_capacity(staged.len());
        let mut versions = Vec::with_capacity(staged.len());
        let mut payloads = Vec::with_capacity(staged.len());
        let mut metadata = Vec::with_capacity(staged.len());
        for event in &staged {
            types.push(event.aggregate_type);
            ids.push(event.aggregate_id.as_str());
            sequences.push(event.sequence);
            event_types.push(event.event_type.as_str());
            versions.push(event.event_version.as_str());
            payloads.push(event.payload.as_str());
            metadata.push(event.metadata.as_str());
        }
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             SELECT r.aggregate_type, r.aggregate_id, r.sequence, r.event_type, r.event_version,
                    r.payload::jsonb, r.metadata::jsonb
               FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[])
                    WITH ORDINALITY AS r(aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, ord)
              ORDER BY r.ord",
        )
        .bind(&types)
        .bind(&ids)
        .bind(&sequences)
        .bind(&event_types)
        .bind(&versions)
        .bind(&payloads)
        .bind(&metadata)
        .execute(conn)
        .await?;
        Ok(staged.len())
    }
}
