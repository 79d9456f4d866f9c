//! Runs one projection against the live log.

use std::sync::Arc;
use std::time::Duration;

use cqrs_es::persist::EventUpcaster;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;

use super::checkpoint::{Checkpoint, INSTANCE_LOCK_CLASS};
use super::{quarantine, ConsumerError, LogConsumer, Target};
use crate::log::{LogEvent, LogFilter, LogReader, LogSignal, WakeOn, Xid8};

/// How a runner reads, waits and retries.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Most events per batch (one transaction).
    pub batch_size: usize,
    /// Longest wait between reads when no append hint arrives.
    pub poll_interval: Duration,
    /// How often a standby instance tries to become the active one.
    pub standby_retry: Duration,
    /// Longest wait before retrying after a database error (doubles up to it).
    pub max_error_backoff: Duration,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            batch_size: 1_000,
            poll_interval: Duration::from_millis(500),
            standby_retry: Duration::from_secs(2),
            max_error_backoff: Duration::from_secs(30),
        }
    }
}

/// What a runner is doing, for status pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunnerState {
    /// Not started yet.
    Starting,
    /// Another process holds this projector's lock; waiting to take over.
    Standby,
    /// Active: following the log.
    Running,
    /// Stopped on an event it cannot apply (the message names it).
    Failed(String),
}

impl RunnerState {
    /// A short word for status output.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Standby => "standby",
            Self::Running => "running",
            Self::Failed(_) => "failed",
        }
    }
}

/// The result of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Applied this many events; more may be readable at once.
    Applied { events: usize, full: bool },
    /// Nothing new was readable.
    Idle,
}

/// Runs one [`LogConsumer`]: one batch per transaction, checkpoint included.
#[derive(Clone)]
pub struct ConsumerRunner {
    pool: PgPool,
    reader: LogReader,
    signal: LogSignal,
    projection: Arc<dyn LogConsumer>,
    filter: LogFilter,
    settings: RunnerSettings,
    upcasters: Arc<Vec<Box<dyn EventUpcaster>>>,
}

impl ConsumerRunner {
    pub fn new(
        pool: PgPool,
        signal: LogSignal,
        projection: Arc<dyn LogConsumer>,
        settings: RunnerSettings,
    ) -> Self {
        let filter = LogFilter {
            tenants: None,
            event_types: projection
                .event_types()
                .map(|types| types.iter().map(|t| (*t).to_owned()).collect()),
        };
        Self {
            reader: LogReader::new(pool.clone()),
            pool,
            signal,
            projection,
            filter,
            settings,
            upcasters: Arc::new(alertledger_domain::upcasters::all()),
        }
    }

    /// The projection's name.
    pub fn name(&self) -> &'static str {
        self.projection.name()
    }

    /// Runs in the background until it fails on an event; `state` tells how it goes.
    pub fn spawn(self) -> (tokio::task::JoinHandle<()>, watch::Receiver<RunnerState>) {
        let (state, watcher) = watch::channel(RunnerState::Starting);
        let handle = tokio::spawn(async move { self.run(state).await });
        (handle, watcher)
    }

    /// Waits to become the active instance, then follows the log. Database
    /// errors are retried with backoff. An event it cannot apply stops it
    /// there: the failure is recorded on its checkpoint (so `/readyz` and
    /// `/metrics` of every process show it) and it only retries that event,
    /// on each append to the log, until the event applies or an operator
    /// quarantines it (`projections quarantine`); it never skips by itself.
    pub async fn run(self, state: watch::Sender<RunnerState>) {
        let name = self.name();
        // Held for as long as this task runs: the lock is the connection's.
        let _instance_lock = self.become_active(&state).await;
        state.send_replace(RunnerState::Running);
        tracing::info!(projector = name, "projector active");

        let mut wake = self.signal.subscribe(WakeOn::AllAppends);
        let mut backoff = Duration::from_millis(100);
        let mut stalled: Option<String> = None;
        loop {
            wake.borrow_and_update();
            match self.step().await {
                Ok(step) => {
                    if stalled.take().is_some() {
                        tracing::info!(
                            projector = name,
                            "projector moved past the event it had stopped on"
                        );
                        state.send_replace(RunnerState::Running);
                    }
                    if !matches!(step, Step::Applied { full: true, .. }) {
                        let _ =
                            tokio::time::timeout(self.settings.poll_interval, wake.changed()).await;
                    }
                }
                Err(ConsumerError::Database(error)) => {
                    tracing::warn!(projector = name, %error, ?backoff, "projector batch failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.settings.max_error_backoff);
                    continue;
                }
                Err(error @ (ConsumerError::Event { .. } | ConsumerError::Corrupt(_))) => {
                    let message = error.to_string();
                    if stalled.as_deref() != Some(message.as_str()) {
                        tracing::error!(projector = name, error = %message, "projector stopped on an event it cannot apply; quarantine it to move on");
                        let position = match &error {
                            ConsumerError::Event { position, .. } => Some(*position),
                            ConsumerError::Corrupt(_) | ConsumerError::Database(_) => None,
                        };
                        if let Err(db) =
                            Checkpoint::record_failure(&self.pool, name, position, &message).await
                        {
                            tracing::error!(projector = name, error = %db, "cannot record the failure");
                            // Try again to record it rather than run unseen.
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(self.settings.max_error_backoff);
                            continue;
                        }
                        state.send_replace(RunnerState::Failed(message.clone()));
                        stalled = Some(message);
                    }
                    // Try the same event again only when the log moved (a
                    // quarantine is an append) or after the standby interval.
                    let _ = tokio::time::timeout(self.settings.standby_retry, wake.changed()).await;
                }
            }
            backoff = Duration::from_millis(100);
        }
    }

    /// Applies everything readable now and returns how many events that was.
    /// For tests, one-off catch-ups and the CLI; does not take the instance lock
    /// (batches stay serialised by the batch lock).
    pub async fn catch_up(&self) -> Result<usize, ConsumerError> {
        let mut total = 0;
        loop {
            match self.step().await? {
                Step::Applied { events, full } => {
                    total += events;
                    if !full {
                        return Ok(total);
                    }
                }
                Step::Idle => return Ok(total),
            }
        }
    }

    /// One batch: lock the checkpoint, read after it, apply, move it, commit.
    ///
    /// Events quarantined for this consumer are passed over (each with a
    /// warning). When the read model refuses a batch (PostgreSQL rejects a
    /// value: [`refused_by_read_model`]), the events are applied one by one,
    /// so the one refused stops the consumer as [`ConsumerError::Event`] at
    /// its own position and those before it are applied.
    pub async fn step(&self) -> Result<Step, ConsumerError> {
        match self.step_limited(self.settings.batch_size).await {
            Err(Attempt::Refused { events, .. }) if events > 1 => {
                let mut applied = 0;
                for _ in 0..events {
                    match self.step_limited(1).await {
                        Ok(Step::Applied { events, .. }) => applied += events,
                        Ok(Step::Idle) => break,
                        Err(Attempt::Refused { error, .. }) => return Err(error),
                        Err(Attempt::Failed(error)) => return Err(error),
                    }
                }
                Ok(Step::Applied {
                    events: applied,
                    full: true,
                })
            }
            Err(Attempt::Refused { error, .. } | Attempt::Failed(error)) => Err(error),
            Ok(step) => Ok(step),
        }
    }

    async fn step_limited(&self, limit: usize) -> Result<Step, Attempt> {
        let name = self.name();
        let mut tx = self.pool.begin().await?;
        let checkpoint = Checkpoint::lock(&mut tx, name).await?;
        let batch = self
            .reader
            .read(checkpoint.cursor, limit, &self.filter)
            .await?;
        if batch.events.is_empty() {
            // Follow the horizon only past events this consumer filtered out
            // (so no later read scans them again). Past transactions that
            // wrote no event, moving would gain nothing and cost a write and
            // a transaction id, which moves every other reader's horizon:
            // idle consumers would keep waking each other to write.
            if batch.next != checkpoint.cursor
                && self
                    .reader
                    .any_event_between(checkpoint.cursor, batch.next)
                    .await?
            {
                Checkpoint::advance(&mut tx, name, batch.next, 0, None).await?;
                tx.commit().await?;
            }
            return Ok(Step::Idle);
        }
        let full = batch.events.len() >= limit;
        let read = batch.events.len();
        let quarantined = quarantine::positions(&mut tx, name).await?;
        let imported =
            imported_decisions(&mut tx, self.projection.decides_on(), &batch.events).await?;
        let events: Vec<LogEvent> = batch
            .events
            .into_iter()
            .filter(|event| {
                if imported.contains(&event.transaction_id)
                    && self
                        .projection
                        .decides_on()
                        .contains(&event.event_type.as_str())
                {
                    tracing::debug!(
                        projector = name,
                        position = event.position,
                        event_type = %event.event_type,
                        "passing over an imported event: its decisions came with it"
                    );
                    return false;
                }
                let skip = quarantined.contains(&event.position);
                if skip {
                    tracing::warn!(
                        projector = name,
                        position = event.position,
                        event_type = %event.event_type,
                        "passing over a quarantined event"
                    );
                }
                !skip
            })
            .collect();
        let events = if self.projection.upcast_events() {
            self.upcast(events)?
        } else {
            events
        };
        if !events.is_empty() {
            if let Err(error) = self
                .projection
                .apply(&mut tx, &Target::live(), &events)
                .await
            {
                return Err(match error {
                    ConsumerError::Database(db) if refused_by_read_model(&db) => {
                        let first = &events[0];
                        Attempt::Refused {
                            events: read,
                            error: ConsumerError::event(
                                first,
                                format!("the read model refused it: {db}"),
                            ),
                        }
                    }
                    other => Attempt::Failed(other),
                });
            }
        }
        let last = events
            .last()
            .map(|event| (event.position, event.recorded_at));
        Checkpoint::advance(&mut tx, name, batch.next, events.len(), last).await?;
        tx.commit().await?;
        self.projection.committed().await;
        if self.projection.appends_events() {
            self.signal.appended();
        }
        Ok(Step::Applied {
            events: events.len(),
            full,
        })
    }

    fn upcast(&self, events: Vec<LogEvent>) -> Result<Vec<LogEvent>, ConsumerError> {
        upcast_all(&self.upcasters, events)
    }

    /// Takes the session-level instance lock on a connection of its own,
    /// retrying until it is free; the lock lives as long as the connection.
    async fn become_active(&self, state: &watch::Sender<RunnerState>) -> PgConnection {
        loop {
            match self.try_instance_lock().await {
                Ok(Some(connection)) => return connection,
                Ok(None) => {
                    if *state.borrow() != RunnerState::Standby {
                        tracing::info!(
                            projector = self.name(),
                            "another instance is active; standing by"
                        );
                        state.send_replace(RunnerState::Standby);
                    }
                }
                Err(error) => {
                    tracing::warn!(projector = self.name(), %error, "cannot take the projector lock");
                }
            }
            tokio::time::sleep(self.settings.standby_retry).await;
        }
    }

    async fn try_instance_lock(&self) -> Result<Option<PgConnection>, sqlx::Error> {
        try_instance_lock(&self.pool, self.name()).await
    }
}

/// Tries to become the one active instance of `name` across every process on
/// this database: `Some(connection)` holds the session advisory lock for as
/// long as the connection lives; `None` when another process holds it.
/// Workers that are not projectors (the SSM executor) use it too.
pub async fn try_instance_lock(
    pool: &PgPool,
    name: &str,
) -> Result<Option<PgConnection>, sqlx::Error> {
    let mut connection = PgConnection::connect_with(&pool.connect_options()).await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
        .bind(INSTANCE_LOCK_CLASS)
        .bind(name)
        .fetch_one(&mut connection)
        .await?;
    if locked {
        Ok(Some(connection))
    } else {
        connection.close().await?;
        Ok(None)
    }
}

/// Brings every event of a batch to its current shape; one that cannot be
/// upcast stops the projector at that event.
pub(crate) fn upcast_all(
    upcasters: &[Box<dyn EventUpcaster>],
    events: Vec<LogEvent>,
) -> Result<Vec<LogEvent>, ConsumerError> {
    events
        .into_iter()
        .map(|event| {
            let (position, event_type) = (event.position, event.event_type.clone());
            event
                .upcast(upcasters)
                .map_err(|error| ConsumerError::Event {
                    position,
                    event_type,
                    reason: format!("cannot upcast: {error}"),
                })
        })
        .collect()
}

/// Why one attempt at a batch failed.
enum Attempt {
    /// The read model refused a value of these `events` (`error` names the
    /// first; with one event, that is the one).
    Refused {
        events: usize,
        error: ConsumerError,
    },
    Failed(ConsumerError),
}

impl From<ConsumerError> for Attempt {
    fn from(error: ConsumerError) -> Self {
        Self::Failed(error)
    }
}

impl From<sqlx::Error> for Attempt {
    fn from(error: sqlx::Error) -> Self {
        Self::Failed(ConsumerError::Database(error))
    }
}

/// The transactions among `events`' that imported them (`event_imports`),
/// looked up only when the batch holds a type the consumer decides on.
/// A rebuild passes over the same events as the live runner (see
/// [`super::rebuild`]), so both build the same tables.
pub(crate) async fn imported_decisions(
    conn: &mut PgConnection,
    decides_on: &[&str],
    events: &[LogEvent],
) -> Result<std::collections::HashSet<u64>, sqlx::Error> {
    let candidates: Vec<Xid8> = events
        .iter()
        .filter(|event| decides_on.contains(&event.event_type.as_str()))
        .map(|event| Xid8(event.transaction_id))
        .collect();
    if candidates.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    let imported: Vec<Xid8> = sqlx::query_scalar(
        "SELECT transaction_id FROM event_imports WHERE transaction_id = ANY($1)",
    )
    .bind(&candidates)
    .fetch_all(&mut *conn)
    .await?;
    Ok(imported.into_iter().map(|xid| xid.0).collect())
}

/// Whether PostgreSQL refused the data itself rather than failed: a data
/// exception (class 22: a value out of range, `\u0000` in text or jsonb, a
/// string too long), an integrity violation (23), a program limit (54, e.g.
/// an index row too large), or a stored value that does not decode. Retrying
/// such a batch gives the same answer forever, so it stops the consumer at
/// the event instead (one that a transient failure would never do).
pub fn refused_by_read_model(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| matches!(code.get(..2), Some("22" | "23" | "54"))),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => true,
        _ => false,
    }
}
