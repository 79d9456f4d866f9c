//! The hot append path for alert receipts.
//!
//! An alert's aggregate id is derived from (tenant, delivery key), so a receipt
//! is always the first event (sequence 1) of its aggregate and idempotency is the
//! primary key: many receipts go into one multi-row insert with
//! `ON CONFLICT DO NOTHING`, and the rows that were not inserted are the
//! duplicates. A concurrent transaction inserting the same key makes ours wait
//! for its outcome, so exactly one receipt per delivery key is ever stored.
//!
//! [`ReceiptBatcher`] takes typed [`Receipt`]s (domain events with their
//! metadata), serializes them in the caller's task, coalesces the receipts of
//! many concurrent requests into such inserts and answers each request after
//! its transaction commits. [`ReceiptRow`] is the stored form, for callers
//! that already hold serialized events (benchmarks, tests).
//! Within one transaction receipts take positions in aggregate-id order (the
//! lock order), not arrival order.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use cqrs_es::{Aggregate, DomainEvent};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::log::LogSignal;
use crate::store::EventMetadata;

/// One receipt to store: the first event of a new aggregate, e.g. an
/// `AlertReceived` for the alert whose id derives from its delivery key.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt<E> {
    pub aggregate_id: String,
    pub event: E,
    pub metadata: EventMetadata,
}

impl<E: DomainEvent> Receipt<E> {
    /// The stored form: payload and metadata as JSON text (parsed once, by
    /// PostgreSQL), so the hot path builds no JSON trees.
    fn into_row(self) -> Result<ReceiptRow, AppendError> {
        Ok(ReceiptRow {
            event_type: self.event.event_type(),
            event_version: self.event.event_version(),
            payload: serde_json::to_string(&self.event)
                .map_err(|error| AppendError::Serialize(error.to_string()))?,
            metadata: self.metadata.to_json_text(),
            aggregate_id: self.aggregate_id,
        })
    }
}

/// One receipt in its stored form: the first event of an aggregate, payload
/// and metadata as serialized JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptRow {
    pub aggregate_id: String,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub metadata: String,
}

/// What became of one receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptOutcome {
    pub aggregate_id: String,
    /// Position of the stored receipt: this one's, or the original's for a duplicate.
    pub position: i64,
    /// Whether a receipt with this aggregate id had already been stored.
    pub duplicate: bool,
}

/// Why receipts could not be stored. Nothing of the batch was written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppendError {
    #[error("database error while appending receipts: {0}")]
    Database(Arc<sqlx::Error>),
    #[error("the receipt appender has shut down")]
    ShutDown,
    #[error("receipt {0} was neither stored nor found afterwards")]
    Lost(String),
    #[error("a receipt's event does not serialize: {0}")]
    Serialize(String),
}

impl From<sqlx::Error> for AppendError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(Arc::new(error))
    }
}

/// Stores `rows` of aggregate type `aggregate_type` atomically: one INSERT
/// statement, so one round trip when nothing is a duplicate.
///
/// Returns one outcome per row, in order. Rows repeating an aggregate id (within
/// the batch or of an earlier receipt) are duplicates carrying the stored
/// receipt's position.
pub async fn append_receipts(
    pool: &PgPool,
    aggregate_type: &str,
    rows: &[ReceiptRow],
) -> Result<Vec<ReceiptOutcome>, AppendError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // First occurrence of each aggregate id is the one offered for insert.
    let mut first_index: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
    let mut unique = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        if !first_index.contains_key(row.aggregate_id.as_str()) {
            first_index.insert(&row.aggregate_id, index);
            unique.push(row);
        }
    }

    // Inserting in one global key order means two batches that share keys wait
    // on each other in the same order and cannot deadlock.
    unique.sort_unstable_by(|a, b| a.aggregate_id.cmp(&b.aggregate_id));

    let mut ids = Vec::with_capacity(unique.len());
    let mut types = Vec::with_capacity(unique.len());
    let mut versions = Vec::with_capacity(unique.len());
    let mut payloads = Vec::with_capacity(unique.len());
    let mut metadata = Vec::with_capacity(unique.len());
    for row in &unique {
        ids.push(row.aggregate_id.as_str());
        types.push(row.event_type.as_str());
        versions.push(row.event_version.as_str());
        payloads.push(row.payload.as_str());
        metadata.push(row.metadata.as_str());
    }

    let inserted: Vec<(String, i64)> = sqlx::query_as(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT $1, r.aggregate_id, 1, r.event_type, r.event_version, r.payload::jsonb, r.metadata::jsonb
           FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                WITH ORDINALITY AS r(aggregate_id, event_type, event_version, payload, metadata, ord)
          ORDER BY r.ord
         ON CONFLICT (aggregate_type, aggregate_id, sequence) DO NOTHING
         RETURNING aggregate_id, position",
    )
    .bind(aggregate_type)
    .bind(&ids)
    .bind(&types)
    .bind(&versions)
    .bind(&payloads)
    .bind(&metadata)
    .fetch_all(pool)
    .await?;

    let mut stored: HashMap<String, (i64, bool)> = inserted
        .into_iter()
        .map(|(id, position)| (id, (position, false)))
        .collect();
    let existing: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    if !existing.is_empty() {
        // Their first receipt had committed before our insert returned (a
        // conflicting insert waits for the other transaction's outcome), so this
        // later statement sees it.
        let found: Vec<(String, i64)> = sqlx::query_as(
            "SELECT aggregate_id, position FROM events
              WHERE aggregate_type = $1 AND aggregate_id = ANY($2) AND sequence = 1",
        )
        .bind(aggregate_type)
        .bind(&existing)
        .fetch_all(pool)
        .await?;
        stored.extend(
            found
                .into_iter()
                .map(|(id, position)| (id, (position, true))),
        );
    }

    rows.iter()
        .enumerate()
        .map(|(index, row)| {
            let (position, stored_before) = stored
                .get(&row.aggregate_id)
                .copied()
                .ok_or_else(|| AppendError::Lost(row.aggregate_id.clone()))?;
            let repeated_in_batch = first_index.get(row.aggregate_id.as_str()) != Some(&index);
            Ok(ReceiptOutcome {
                aggregate_id: row.aggregate_id.clone(),
                position,
                duplicate: stored_before || repeated_in_batch,
            })
        })
        .collect()
}

/// Tuning of the [`ReceiptBatcher`].
#[derive(Debug, Clone)]
pub struct BatcherSettings {
    /// Most receipts coalesced into one transaction.
    pub max_rows: usize,
    /// Transactions in flight at once.
    pub writers: usize,
    /// Requests that may wait for a writer.
    pub queue: usize,
}

impl Default for BatcherSettings {
    fn default() -> Self {
        Self {
            max_rows: 2_000,
            writers: 4,
            queue: 4_096,
        }
    }
}

type Reply = oneshot::Sender<Result<Vec<ReceiptOutcome>, AppendError>>;

struct Request {
    rows: Vec<ReceiptRow>,
    reply: Reply,
}

/// Coalesces the receipts (first events of aggregates of type `A`) of
/// concurrent requests into shared transactions. Cheap to clone; the writers
/// stop once every clone is dropped and the queue is drained.
pub struct ReceiptBatcher<A> {
    requests: mpsc::Sender<Request>,
    aggregate: PhantomData<fn() -> A>,
}

impl<A> Clone for ReceiptBatcher<A> {
    fn clone(&self) -> Self {
        Self {
            requests: self.requests.clone(),
            aggregate: PhantomData,
        }
    }
}

impl<A: Aggregate> ReceiptBatcher<A> {
    /// Starts `settings.writers` writer tasks on `pool`; each commit is
    /// announced on `signal`.
    pub fn start(pool: PgPool, signal: LogSignal, settings: BatcherSettings) -> Self {
        let (requests, queue) = mpsc::channel(settings.queue.max(1));
        let queue = Arc::new(Mutex::new(queue));
        let settings = Arc::new(settings);
        for _ in 0..settings.writers.max(1) {
            tokio::spawn(write_loop(
                pool.clone(),
                signal.clone(),
                A::TYPE,
                Arc::clone(&settings),
                Arc::clone(&queue),
            ));
        }
        Self {
            requests,
            aggregate: PhantomData,
        }
    }

    /// Stores `receipts` (all or nothing) and answers once they are
    /// committed, one outcome per receipt in order.
    pub async fn append(
        &self,
        receipts: Vec<Receipt<A::Event>>,
    ) -> Result<Vec<ReceiptOutcome>, AppendError> {
        let rows = receipts
            .into_iter()
            .map(Receipt::into_row)
            .collect::<Result<Vec<_>, _>>()?;
        self.append_rows(rows).await
    }

    /// Stores receipts already in their stored form, as [`Self::append`] does.
    pub async fn append_rows(
        &self,
        rows: Vec<ReceiptRow>,
    ) -> Result<Vec<ReceiptOutcome>, AppendError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { rows, reply })
            .await
            .map_err(|_| AppendError::ShutDown)?;
        answer.await.map_err(|_| AppendError::ShutDown)?
    }
}

async fn write_loop(
    pool: PgPool,
    signal: LogSignal,
    aggregate_type: &'static str,
    settings: Arc<BatcherSettings>,
    queue: Arc<Mutex<mpsc::Receiver<Request>>>,
) {
    loop {
        let requests = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut rows = first.rows.len();
            let mut requests = vec![first];
            while rows < settings.max_rows {
                match queue.try_recv() {
                    Ok(next) => {
                        rows += next.rows.len();
                        requests.push(next);
                    }
                    Err(_) => break,
                }
            }
            requests
        };
        write_requests(&pool, &signal, aggregate_type, requests).await;
    }
}

/// Writes coalesced requests in one transaction. Should that fail, each request
/// is retried alone, so one request's problem never fails its neighbours.
async fn write_requests(
    pool: &PgPool,
    signal: &LogSignal,
    aggregate_type: &str,
    requests: Vec<Request>,
) {
    if requests.len() == 1 {
        return write_alone(pool, signal, aggregate_type, requests).await;
    }
    // Move (not copy) every request's rows into one batch; remember the split.
    let mut replies = Vec::with_capacity(requests.len());
    let mut rows = Vec::new();
    for request in requests {
        replies.push((request.reply, request.rows.len()));
        rows.extend(request.rows);
    }
    match append_receipts(pool, aggregate_type, &rows).await {
        Ok(outcomes) => {
            signal.appended_receipts();
            let mut outcomes = outcomes.into_iter();
            for (reply, count) in replies {
                let _ = reply.send(Ok(outcomes.by_ref().take(count).collect()));
            }
        }
        Err(_) => {
            let mut rows = rows.into_iter();
            let requests = replies
                .into_iter()
                .map(|(reply, count)| Request {
                    rows: rows.by_ref().take(count).collect(),
                    reply,
                })
                .collect();
            write_alone(pool, signal, aggregate_type, requests).await;
        }
    }
}

/// Writes each request in a transaction of its own.
async fn write_alone(
    pool: &PgPool,
    signal: &LogSignal,
    aggregate_type: &str,
    requests: Vec<Request>,
) {
    for request in requests {
        let result = append_receipts(pool, aggregate_type, &request.rows).await;
        if result.is_ok() {
            signal.appended_receipts();
        }
        let _ = request.reply.send(result);
    }
}
