//! Building a projection from history: into shadow tables swapped in
//! atomically (readers never see an empty or half-built view), or into a
//! schema of its own that shows the read model as it stood at a point in the
//! past (`--until`, and `kpis?as_of=`).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::checkpoint::Checkpoint;
use super::runner::{imported_decisions, upcast_all};
use super::{quarantine, staging, ConsumerError, LogConsumer, Target};
use crate::log::{LogCursor, LogEvent, LogFilter, LogReader};

/// Where history stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Up to and including the event at this position (in log order).
    Position(i64),
    /// Events recorded at or before this time (`recorded_at`, the start of
    /// the writing transaction).
    Time(DateTime<Utc>),
}

impl std::str::FromStr for Until {
    type Err = String;

    /// A position (`12345`) or an RFC 3339 time (`2026-11-01T00:00:00Z`).
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if let Ok(position) = raw.parse::<i64>() {
            return Ok(Self::Position(position));
        }
        DateTime::parse_from_rfc3339(raw)
            .map(|time| Self::Time(time.with_timezone(&Utc)))
            .map_err(|_| format!("{raw:?} is neither a log position nor an RFC 3339 time"))
    }
}

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct HistoryOptions {
    /// Stop here (`None`: everything readable now).
    pub until: Option<Until>,
    /// Only these tenants' events (`None`: all).
    pub tenants: Option<Vec<Uuid>>,
    /// Events per transaction.
    pub batch_size: Option<usize>,
    /// Rows per table kept in memory before they are written early (default
    /// [`staging::DEFAULT_LIMIT`]).
    pub staging_limit: Option<usize>,
}

/// What a build did.
#[derive(Debug, Clone, PartialEq)]
pub struct RebuildReport {
    pub projection: &'static str,
    /// The schema holding the result (`public` after a swap).
    pub schema: String,
    pub events: i64,
    pub elapsed: Duration,
    /// Position of the last event applied (0 for none).
    pub last_position: i64,
}

/// Why a build failed. Nothing live was changed.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("projection {0} cannot be rebuilt: it records decisions as events")]
    NotRebuildable(&'static str),
    #[error("no event has position {0}")]
    UnknownPosition(i64),
    #[error("schema name {0:?} must be 1..=48 of a-z, 0-9 and _, starting with a letter")]
    InvalidSchema(String),
    #[error("schema {0} already exists")]
    SchemaExists(String),
    #[error(transparent)]
    LogConsumer(#[from] ConsumerError),
}

impl From<sqlx::Error> for RebuildError {
    fn from(error: sqlx::Error) -> Self {
        Self::LogConsumer(ConsumerError::Database(error))
    }
}

const DEFAULT_BATCH: usize = 5_000;

/// Rebuilds `projection` from the whole log into shadow tables, then swaps them
/// in for the live ones in one transaction that also replaces its checkpoint;
/// the live projector pauses only for the swap.
pub async fn rebuild_live(
    pool: &PgPool,
    projection: Arc<dyn LogConsumer>,
    batch_size: Option<usize>,
) -> Result<RebuildReport, RebuildError> {
    only_report(rebuild_all_live(pool, vec![projection], batch_size).await?)
}

/// The one report of a build of one projection.
fn only_report(mut reports: Vec<RebuildReport>) -> Result<RebuildReport, RebuildError> {
    reports
        .pop()
        .ok_or(RebuildError::LogConsumer(ConsumerError::Corrupt(
            "a build of one projection reported nothing".to_owned(),
        )))
}

/// Rebuilds every projection of `projections` as [`rebuild_live`] does, from
/// one pass over the log: each batch read is handed to every projection, and
/// each builds its shadow tables on a connection of its own, at the same time
/// as the others. Each is then swapped in, one after the other.
pub async fn rebuild_all_live(
    pool: &PgPool,
    projections: Vec<Arc<dyn LogConsumer>>,
    batch_size: Option<usize>,
) -> Result<Vec<RebuildReport>, RebuildError> {
    let started = Instant::now();
    let jobs: Vec<Job> = projections
        .into_iter()
        .map(|projection| Job {
            // Consumer names may hold `-` (`escalation-timers`); schema
            // names here may not.
            schema: format!(
                "rebuild_{}_{}",
                projection.name().replace('-', "_"),
                short_id()
            ),
            projection,
        })
        .collect();
    let options = HistoryOptions {
        batch_size,
        ..HistoryOptions::default()
    };
    let built = build(pool, &jobs, &options).await?;
    let mut reports = Vec::with_capacity(jobs.len());
    let mut pending = jobs.iter().zip(built);
    while let Some((job, built)) = pending.next() {
        match swap_in(pool, job.projection.as_ref(), &job.schema, built, &options).await {
            Ok(built) => reports.push(RebuildReport {
                projection: job.projection.name(),
                schema: "public".to_owned(),
                events: built.events,
                elapsed: started.elapsed(),
                last_position: built.last_position,
            }),
            Err(error) => {
                drop_schema(pool, &job.schema).await;
                for (job, _) in pending {
                    drop_schema(pool, &job.schema).await;
                }
                return Err(error);
            }
        }
    }
    Ok(reports)
}

/// Builds `projection` as history stood at `options.until` into the new schema
/// `schema` (left in place for SQL; drop it with [`drop_schema`]).
pub async fn build_history(
    pool: &PgPool,
    projection: Arc<dyn LogConsumer>,
    schema: &str,
    options: &HistoryOptions,
) -> Result<RebuildReport, RebuildError> {
    only_report(build_history_all(pool, vec![projection], schema, options).await?)
}

/// Builds every projection of `projections` into the one new schema `schema`,
/// from one pass over the log, as [`build_history`] builds one.
pub async fn build_history_all(
    pool: &PgPool,
    projections: Vec<Arc<dyn LogConsumer>>,
    schema: &str,
    options: &HistoryOptions,
) -> Result<Vec<RebuildReport>, RebuildError> {
    let started = Instant::now();
    let jobs: Vec<Job> = projections
        .into_iter()
        .map(|projection| Job {
            projection,
            schema: schema.to_owned(),
        })
        .collect();
    let built = build(pool, &jobs, options).await?;
    Ok(jobs
        .iter()
        .zip(built)
        .map(|(job, built)| RebuildReport {
            projection: job.projection.name(),
            schema: schema.to_owned(),
            events: built.events,
            elapsed: started.elapsed(),
            last_position: built.last_position,
        })
        .collect())
}

/// A fresh schema name for a throw-away build (`prefix_<random>`).
pub fn scratch_schema(prefix: &str) -> String {
    format!("{prefix}_{}", short_id())
}

/// Drops a schema a build made, with its tables; failures are only logged
/// (a leftover schema holds no live data).
pub async fn drop_schema(pool: &PgPool, schema: &str) {
    if valid_schema(schema).is_err() {
        return;
    }
    if let Err(error) = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(pool)
        .await
    {
        tracing::warn!(schema, %error, "cannot drop a rebuild schema");
    }
}

/// One projection to build, and the schema it builds into.
struct Job {
    projection: Arc<dyn LogConsumer>,
    schema: String,
}

/// Where a build stopped.
#[derive(Debug, Clone)]
struct Built {
    cursor: LogCursor,
    events: i64,
    last_position: i64,
    last_event_at: Option<DateTime<Utc>>,
    /// The quarantined positions the build skipped (all it knew of).
    skipped: BTreeSet<i64>,
}

impl Built {
    fn new() -> Self {
        Self {
            cursor: LogCursor::START,
            events: 0,
            last_position: 0,
            last_event_at: None,
            skipped: BTreeSet::new(),
        }
    }

    fn record(&mut self, events: &[LogEvent]) {
        if let Some(last) = events.last() {
            self.cursor = last.cursor();
            self.last_position = last.position;
            self.last_event_at = Some(last.recorded_at);
        }
        self.events += i64::try_from(events.len()).unwrap_or(i64::MAX);
    }
}

/// Builds every job's tables from history; on failure, drops the schemas it
/// made.
async fn build(
    pool: &PgPool,
    jobs: &[Job],
    options: &HistoryOptions,
) -> Result<Vec<Built>, RebuildError> {
    for job in jobs {
        if !job.projection.rebuildable() {
            return Err(RebuildError::NotRebuildable(job.projection.name()));
        }
        valid_schema(&job.schema)?;
    }
    let reader = LogReader::new(pool.clone());
    let until = match options.until {
        Some(Until::Position(position)) => Some(StopAt::Cursor(
            reader
                .cursor_after_position(position)
                .await?
                .ok_or(RebuildError::UnknownPosition(position))?,
        )),
        Some(Until::Time(time)) => Some(StopAt::Time(time)),
        None => None,
    };
    analyze_log_if_stale(pool).await?;
    let mut schemas: Vec<&str> = jobs.iter().map(|job| job.schema.as_str()).collect();
    schemas.dedup();
    let mut made = Vec::new();
    let result = async {
        for schema in &schemas {
            create_schema(pool, schema).await?;
            made.push(*schema);
        }
        for job in jobs {
            create_shadow_tables(pool, job.projection.as_ref(), &job.schema).await?;
        }
        let built = fill(pool, &reader, jobs, options, until).await?;
        for job in jobs {
            create_secondary_indexes(pool, job.projection.as_ref(), &job.schema).await?;
        }
        Ok(built)
    }
    .await;
    if result.is_err() {
        for schema in made {
            drop_schema(pool, schema).await;
        }
    }
    result
}

/// Refreshes the planner's statistics of `events` when autovacuum has not
/// caught up with it (never analysed, or a tenth of it written since).
///
/// A build reads the whole log in log order, filtered by event type. Without
/// statistics the planner takes a type filter for very selective and answers
/// every batch with a bitmap scan and a sort of all the rest of the log
/// (hundreds of milliseconds a batch at a million events) instead of walking
/// the log-order index; one `ANALYZE` (a sample, about a second) prevents it.
async fn analyze_log_if_stale(pool: &PgPool) -> Result<(), sqlx::Error> {
    let stale: Option<bool> = sqlx::query_scalar(
        "SELECT coalesce(last_analyze, last_autoanalyze) IS NULL
                OR n_mod_since_analyze > greatest(1000, c.reltuples / 10)
           FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
          WHERE s.relid = 'public.events'::regclass",
    )
    .fetch_optional(pool)
    .await?;
    if stale.unwrap_or(false) {
        sqlx::query("ANALYZE public.events").execute(pool).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum StopAt {
    Cursor(LogCursor),
    Time(DateTime<Utc>),
}

/// Reads the log once, up to `until`, and hands every batch to one task per
/// job, which applies its projection's events to its staged tables.
async fn fill(
    pool: &PgPool,
    reader: &LogReader,
    jobs: &[Job],
    options: &HistoryOptions,
    until: Option<StopAt>,
) -> Result<Vec<Built>, RebuildError> {
    let batch_size = options.batch_size.unwrap_or(DEFAULT_BATCH);
    let mut sinks = Vec::with_capacity(jobs.len());
    for job in jobs {
        let (sender, batches) = tokio::sync::mpsc::channel::<Arc<Vec<LogEvent>>>(2);
        let target = Target::staged(
            job.schema.clone(),
            options.staging_limit.unwrap_or(staging::DEFAULT_LIMIT),
        );
        let task = tokio::spawn(fill_one(
            pool.clone(),
            Arc::clone(&job.projection),
            target,
            batches,
        ));
        sinks.push((sender, task));
    }
    let scan_filter = LogFilter {
        tenants: options.tenants.clone(),
        event_types: union_of_types(jobs),
    };
    // Upcast once here for every projection (the sinks share the batch).
    let upcasters = alertledger_domain::upcasters::all();
    let mut batches = std::pin::pin!(reader.scan(LogCursor::START, batch_size, scan_filter));
    let mut read_error: Option<RebuildError> = None;
    'read: while let Some(batch) = batches.next().await {
        let mut events = match batch {
            Ok(events) => events,
            Err(error) => {
                read_error = Some(error.into());
                break;
            }
        };
        let mut reached_end = false;
        match until {
            Some(StopAt::Cursor(stop)) => {
                if let Some(beyond) = events.iter().position(|event| event.cursor() > stop) {
                    events.truncate(beyond);
                    reached_end = true;
                }
            }
            Some(StopAt::Time(time)) => events.retain(|event| event.recorded_at <= time),
            None => {}
        }
        if !events.is_empty() {
            let events = match upcast_all(&upcasters, events) {
                Ok(events) => Arc::new(events),
                Err(error) => {
                    read_error = Some(error.into());
                    break;
                }
            };
            for (sender, _) in &sinks {
                // A sink that stopped failed: its error is reported below.
                if sender.send(Arc::clone(&events)).await.is_err() {
                    break 'read;
                }
            }
        }
        if reached_end {
            break;
        }
    }
    let mut built = Vec::with_capacity(sinks.len());
    let mut first_error = read_error;
    for (sender, task) in sinks {
        drop(sender);
        match task.await {
            Ok(Ok(done)) => built.push(done),
            Ok(Err(error)) => {
                first_error.get_or_insert(error);
            }
            Err(join_error) => std::panic::resume_unwind(join_error.into_panic()),
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(built),
    }
}

/// One job's share of the fill: its events of each (already upcast) batch,
/// applied in a transaction each; then the staged rows written.
async fn fill_one(
    pool: PgPool,
    projection: Arc<dyn LogConsumer>,
    target: Target,
    mut batches: tokio::sync::mpsc::Receiver<Arc<Vec<LogEvent>>>,
) -> Result<Built, RebuildError> {
    let wanted = LogFilter {
        tenants: None,
        event_types: own_types(projection.as_ref()),
    };
    // What the live consumer skips, this build skips too (see [`quarantine`]);
    // a quarantine recorded during the build is caught by the swap's catch-up
    // only for later events, so the swap checks the list again.
    let quarantined = {
        let mut conn = pool.acquire().await?;
        quarantine::positions(&mut conn, projection.name()).await?
    };
    let mut built = Built::new();
    built.skipped.clone_from(&quarantined);
    while let Some(batch) = batches.recv().await {
        // A projection that takes the whole batch (the audit trail takes
        // every event) reads the shared batch; others copy out their events.
        let keep = |event: &LogEvent| {
            wanted.matches(event) && !skipped(&quarantined, projection.name(), event)
        };
        let mut events: Cow<'_, [LogEvent]> = if batch.iter().all(keep) {
            Cow::Borrowed(batch.as_slice())
        } else {
            Cow::Owned(batch.iter().filter(|event| keep(event)).cloned().collect())
        };
        if events.is_empty() {
            continue;
        }
        let mut tx = pool.begin().await?;
        // What the live runner passes over as imported decisions, so does
        // the build (else a rebuilt due list would hold imported escalations).
        let decides_on = projection.decides_on();
        let imported = imported_decisions(&mut tx, decides_on, &events).await?;
        if !imported.is_empty() {
            events = Cow::Owned(
                events
                    .iter()
                    .filter(|event| !imported_decision(&imported, decides_on, event))
                    .cloned()
                    .collect(),
            );
        }
        // Nothing reads the shadow tables before the swap, whose own commit
        // is durable: a crash before it only means building again.
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        projection.apply(&mut tx, &target, &events).await?;
        tx.commit().await?;
        built.record(&events);
    }
    if let Some(staging) = target.staging() {
        let mut tx = pool.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        staging.flush(&mut tx, &target, None).await?;
        tx.commit().await?;
    }
    Ok(built)
}

/// The event types any job reads (`None`: one of them reads every event).
fn union_of_types(jobs: &[Job]) -> Option<Vec<String>> {
    let mut union = Vec::new();
    for job in jobs {
        union.extend(own_types(job.projection.as_ref())?);
    }
    union.sort();
    union.dedup();
    Some(union)
}

fn own_types(projection: &dyn LogConsumer) -> Option<Vec<String>> {
    projection
        .event_types()
        .map(|types| types.iter().map(|t| (*t).to_owned()).collect())
}

fn filter_of(projection: &dyn LogConsumer, options: &HistoryOptions) -> LogFilter {
    LogFilter {
        tenants: options.tenants.clone(),
        event_types: own_types(projection),
    }
}

/// Creates `schema`, which must not exist yet.
async fn create_schema(pool: &PgPool, schema: &str) -> Result<(), RebuildError> {
    let mut tx = pool.begin().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(schema)
            .fetch_one(&mut *tx)
            .await?;
    if exists {
        return Err(RebuildError::SchemaExists(schema.to_owned()));
    }
    sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn create_shadow_tables(
    pool: &PgPool,
    projection: &dyn LogConsumer,
    schema: &str,
) -> Result<(), RebuildError> {
    let mut tx = pool.begin().await?;
    for table in projection.tables() {
        // Everything but the indexes, then the primary key alone (upserts need
        // it): secondary indexes are built once, after the fill, which is far
        // cheaper than maintaining them row by row.
        sqlx::query(&format!(
            "CREATE TABLE \"{schema}\".\"{table}\" (LIKE public.\"{table}\" INCLUDING ALL EXCLUDING INDEXES)"
        ))
        .execute(&mut *tx)
        .await?;
        let primary_key: Option<String> = sqlx::query_scalar(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint
              WHERE conrelid = format('public.%I', $1::text)::regclass AND contype = 'p'",
        )
        .bind(table)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(primary_key) = primary_key {
            sqlx::query(&format!(
                "ALTER TABLE \"{schema}\".\"{table}\" ADD {primary_key}"
            ))
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Creates on the shadow tables every secondary index the live tables have,
/// under the same names (index names are per schema; they move with the table).
async fn create_secondary_indexes(
    pool: &PgPool,
    projection: &dyn LogConsumer,
    schema: &str,
) -> Result<(), RebuildError> {
    for table in projection.tables() {
        let definitions: Vec<String> = sqlx::query_scalar(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
              WHERE i.indrelid = format('public.%I', $1::text)::regclass AND NOT i.indisprimary
              ORDER BY i.indexrelid",
        )
        .bind(table)
        .fetch_all(pool)
        .await?;
        for definition in definitions {
            let live = format!(" ON public.{table} ");
            let shadow = format!(" ON \"{schema}\".{table} ");
            sqlx::query(&definition.replacen(&live, &shadow, 1))
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

/// Catches the shadow tables up with the live log under the projector's batch
/// lock, swaps them in and moves the checkpoint, all in one transaction.
async fn swap_in(
    pool: &PgPool,
    projection: &dyn LogConsumer,
    shadow: &str,
    mut built: Built,
    options: &HistoryOptions,
) -> Result<Built, RebuildError> {
    let reader = LogReader::new(pool.clone());
    let target = Target::schema(shadow);
    let upcasters = alertledger_domain::upcasters::all();
    let filter = filter_of(projection, options);
    let batch_size = options.batch_size.unwrap_or(DEFAULT_BATCH);

    let mut tx = pool.begin().await?;
    Checkpoint::lock(&mut tx, projection.name()).await?;
    let quarantined = quarantine::positions(&mut tx, projection.name()).await?;
    if let Some(position) = quarantined
        .range(..=built.last_position)
        .find(|position| !built.skipped.contains(position))
    {
        // Quarantined during the build, after the fill had applied it: the
        // result would differ from the live consumer's. Build again.
        return Err(RebuildError::LogConsumer(ConsumerError::Corrupt(format!(
            "the event at position {position} was quarantined during the rebuild; run it again"
        ))));
    }
    loop {
        let batch = reader.read(built.cursor, batch_size, &filter).await?;
        let read_count = batch.events.len();
        let decides_on = projection.decides_on();
        let imported = imported_decisions(&mut tx, decides_on, &batch.events).await?;
        let read: Vec<LogEvent> = batch
            .events
            .into_iter()
            .filter(|event| {
                !skipped(&quarantined, projection.name(), event)
                    && !imported_decision(&imported, decides_on, event)
            })
            .collect();
        let events = upcast_all(&upcasters, read)?;
        if !events.is_empty() {
            projection.apply(&mut tx, &target, &events).await?;
            built.record(&events);
        }
        built.cursor = batch.next;
        if read_count < batch_size {
            break;
        }
    }
    swap_tables(&mut tx, projection, shadow).await?;
    Checkpoint::replace(
        &mut tx,
        projection.name(),
        built.cursor,
        built.events,
        built.last_event_at.map(|at| (built.last_position, at)),
    )
    .await?;
    tx.commit().await?;
    Ok(built)
}

async fn swap_tables(
    conn: &mut PgConnection,
    projection: &dyn LogConsumer,
    shadow: &str,
) -> Result<(), sqlx::Error> {
    let retired = format!("{shadow}_retired");
    sqlx::query(&format!("CREATE SCHEMA \"{retired}\""))
        .execute(&mut *conn)
        .await?;
    for table in projection.tables() {
        // LIKE copies column comments but not the table's own.
        let comment: Option<String> = sqlx::query_scalar(
            "SELECT obj_description(format('public.%I', $1::text)::regclass, 'pg_class')",
        )
        .bind(table)
        .fetch_one(&mut *conn)
        .await?;
        if let Some(comment) = comment {
            sqlx::query(&format!(
                "COMMENT ON TABLE \"{shadow}\".\"{table}\" IS {}",
                quote_literal(&comment)
            ))
            .execute(&mut *conn)
            .await?;
        }
        sqlx::query(&format!(
            "ALTER TABLE public.\"{table}\" SET SCHEMA \"{retired}\""
        ))
        .execute(&mut *conn)
        .await?;
        sqlx::query(&format!(
            "ALTER TABLE \"{shadow}\".\"{table}\" SET SCHEMA public"
        ))
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(&format!("DROP SCHEMA \"{retired}\" CASCADE"))
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!("DROP SCHEMA \"{shadow}\""))
        .execute(&mut *conn)
        .await?;
    // The swapped-in tables are new and carry no grants: give the service
    // role (migration 0025) its privileges on them in the same transaction,
    // so the running service never sees a table it may not read.
    sqlx::query(
        "DO $$ BEGIN
             IF to_regprocedure('public.alertledger_grant_service_privileges()') IS NOT NULL THEN
                 PERFORM public.alertledger_grant_service_privileges();
             END IF;
         END $$",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn valid_schema(schema: &str) -> Result<(), RebuildError> {
    let mut chars = schema.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if starts_with_letter && rest_ok && schema.len() <= 48 && schema != "public" {
        Ok(())
    } else {
        Err(RebuildError::InvalidSchema(schema.to_owned()))
    }
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Whether `event` is of a type the consumer decides on and was brought in
/// by an import (one of `imported`'s transactions).
fn imported_decision(imported: &HashSet<u64>, decides_on: &[&str], event: &LogEvent) -> bool {
    imported.contains(&event.transaction_id) && decides_on.contains(&event.event_type.as_str())
}

/// Whether `consumer` skips `event` because it was quarantined; says so in
/// the log (nothing is skipped silently).
fn skipped(quarantined: &BTreeSet<i64>, consumer: &str, event: &LogEvent) -> bool {
    let skip = quarantined.contains(&event.position);
    if skip {
        tracing::warn!(
            projector = consumer,
            position = event.position,
            event_type = %event.event_type,
            "rebuild passes over a quarantined event"
        );
    }
    skip
}

fn short_id() -> String {
    Uuid::new_v4().simple().to_string()[..12].to_owned()
}
