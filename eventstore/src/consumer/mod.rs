//! The consumer runtime: checkpointed readers of the global log, whether they
//! keep read models (projections) or record decisions and call out (process
//! managers). Each applies a batch and moves its checkpoint in one
//! transaction, so its effect is exactly once.
//!
//! - [`LogConsumer`] — what a consumer does with a batch of events.
//! - [`ConsumerRunner`] — runs one consumer: takes its advisory lock (one
//!   active instance per database), follows the log, applies batches, and
//!   stops with a clear error on an event it cannot apply (recorded on its
//!   checkpoint) until that event applies or an operator quarantines it.
//! - [`ConsumerDaemon`] — runs a list of consumers, one runner task each, and
//!   reports what each is doing.
//! - [`rebuild`] — builds consumers from history into shadow tables and swaps
//!   them in atomically, or keeps them apart (`--until`).
//! - [`rows`], [`staging`], [`copy`] — load/fold/upsert helpers so a batch
//!   costs a few statements, rows staged in memory during a rebuild, and
//!   written with `COPY`.
//! - [`status`] — position and lag of every consumer.
//! - [`quarantine`] — the events an operator quarantined per consumer, read
//!   from the log (the live runner and rebuilds skip exactly those).

mod checkpoint;
pub mod copy;
mod daemon;
pub mod quarantine;
pub mod rebuild;
pub mod rows;
mod runner;
pub mod staging;
pub mod status;

use async_trait::async_trait;
use sqlx::PgConnection;

use crate::log::LogEvent;

pub use checkpoint::Checkpoint;
pub use daemon::ConsumerDaemon;
pub use runner::{
    refused_by_read_model, try_instance_lock, ConsumerRunner, RunnerSettings, RunnerState, Step,
};

/// A consumer of the global log that writes tables.
///
/// `apply` gets the events of one batch in log order and writes them through
/// `conn`, which is inside the transaction that also moves the checkpoint: if
/// anything fails, none of the batch happened.
#[async_trait]
pub trait LogConsumer: Send + Sync + 'static {
    /// Stable name: the checkpoint key and the CLI's `projections rebuild NAME`.
    fn name(&self) -> &'static str;

    /// The tables it owns, which a rebuild recreates in a shadow schema.
    fn tables(&self) -> &'static [&'static str];

    /// The event types it reads (`None`: every event); others are never fetched.
    fn event_types(&self) -> Option<&'static [&'static str]> {
        None
    }

    /// Whether it can be rebuilt from history. Workers that append events
    /// (the correlator) cannot: replaying them would decide again.
    fn rebuildable(&self) -> bool {
        true
    }

    /// Whether it wants events in their current shape (upcast). The sealer
    /// does not: it seals the bytes exactly as stored.
    fn upcast_events(&self) -> bool {
        true
    }

    /// The event types it reacts to by deciding: appending events of its own
    /// or acting outside. Events brought in by `events import` (their
    /// transaction is in `event_imports`) already carry the decisions taken
    /// where they came from, so the runner (and a rebuild, so it builds the
    /// same tables) passes over these types in them; every other type (state
    /// it folds) is applied as usual.
    fn decides_on(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether it appends events to the log (so tailers should be woken after
    /// each batch it commits).
    fn appends_events(&self) -> bool {
        false
    }

    /// Applies `events` (already upcast) to the tables in `target`.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        target: &Target,
        events: &[LogEvent],
    ) -> Result<(), ConsumerError>;

    /// Called after the transaction of the last `apply` committed, for
    /// projections that keep committed state in memory between batches.
    async fn committed(&self) {}
}

/// Where a projection writes: the live tables (schema `public`) or a shadow
/// schema during a rebuild. Projections name every table through
/// [`Target::table`], never bare. A build from history also stages rows in
/// memory ([`staging`]).
#[derive(Debug, Clone)]
pub struct Target {
    schema: String,
    staging: Option<std::sync::Arc<staging::Staging>>,
}

impl PartialEq for Target {
    fn eq(&self, other: &Self) -> bool {
        self.schema == other.schema
            && match (&self.staging, &other.staging) {
                (None, None) => true,
                (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

impl Eq for Target {}

impl Target {
    /// The live read models.
    pub fn live() -> Self {
        Self {
            schema: "public".to_owned(),
            staging: None,
        }
    }

    /// A named schema (must be a plain lowercase identifier).
    pub fn schema(schema: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            staging: None,
        }
    }

    /// A named schema being built from history, its rows staged in memory
    /// (up to `limit` per table) until [`staging::Staging::flush`].
    pub(crate) fn staged(schema: impl Into<String>, limit: usize) -> Self {
        Self {
            schema: schema.into(),
            staging: Some(std::sync::Arc::new(staging::Staging::new(limit))),
        }
    }

    /// The staging of a build from history, if this is one.
    pub fn staging(&self) -> Option<&staging::Staging> {
        self.staging.as_deref()
    }

    /// The schema's name.
    pub fn schema_name(&self) -> &str {
        &self.schema
    }

    /// `table` qualified by this target's schema, ready to splice into SQL.
    pub fn table(&self, table: &str) -> String {
        format!("\"{}\".\"{}\"", self.schema, table)
    }
}

/// Why a batch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// The event cannot be applied (unknown shape, or it contradicts the read
    /// model): the projector stops here rather than skip it.
    #[error("cannot apply event at position {position} ({event_type}): {reason}")]
    Event {
        position: i64,
        event_type: String,
        reason: String,
    },
    /// A stored event the projection needed (e.g. to load an aggregate) does
    /// not decode: the projector stops, as for an event it cannot apply.
    #[error("stored event {0}")]
    Corrupt(String),
    /// The database failed; the batch is retried.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl ConsumerError {
    /// An event that cannot be applied, with the reason.
    pub fn event(event: &LogEvent, reason: impl std::fmt::Display) -> Self {
        Self::Event {
            position: event.position,
            event_type: event.event_type.clone(),
            reason: reason.to_string(),
        }
    }
}

/// Waits until projector `name` has applied (or read past) the event at
/// `position`, polling its checkpoint; `false` if `timeout` passed first.
/// For requests that want to answer after a worker acted on what they wrote.
pub async fn wait_until_applied(
    pool: &sqlx::PgPool,
    name: &str,
    position: i64,
    timeout: std::time::Duration,
) -> Result<bool, sqlx::Error> {
    let reader = crate::log::LogReader::new(pool.clone());
    let Some(target) = reader.cursor_after_position(position).await? else {
        return Ok(false);
    };
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(checkpoint) = Checkpoint::find(pool, name).await? {
            if checkpoint.cursor >= target {
                return Ok(true);
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
