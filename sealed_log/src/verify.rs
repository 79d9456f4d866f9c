//! `audit verify`: recompute every sealed leaf from the stored events, in log
//! order, compare it with the sealed leaf, rebuild the tree, and check every
//! checkpoint's signature, chain link, last position and root. Stops at the
//! first leaf where anything differs and names its position.
//!
//! Events are read in ranges cut at sealed leaves, by several tasks at once
//! (each on its own connection, each hashing what it read), and handed on in
//! log order; leaves are read in pages by another task. So PostgreSQL, row
//! decoding and SHA-256 overlap and spread over the cores, while the
//! comparison sees one ordered stream, exactly as a single scan would give.
//!
//! With a tenant, only that tenant's events are re-hashed (others' payloads are
//! not even fetched); every other event's position and tenant are still
//! matched against its leaf, and the tree is rebuilt from the sealed leaves of
//! the others, so checkpoints are checked all the same.

use std::collections::VecDeque;
use std::fmt;

use alertledger_seal::encoding::EventFields;
use alertledger_seal::{CompactRange, Hash, PublicKey};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{all_checkpoints, leaf_by_position, SealStoreError, StoredCheckpoint, StoredLeaf};
use alertledger_eventstore::log::Xid8;

/// What to verify, and against which keys.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Re-hash only this tenant's events.
    pub tenant: Option<Uuid>,
    /// Keys whose signatures are accepted on checkpoints.
    pub trusted_keys: Vec<PublicKey>,
    /// Sealed leaves per range (and rows per page of the unsealed tail).
    pub page_size: usize,
    /// Ranges fetched and hashed at once, each on its own connection.
    pub workers: usize,
    /// Tree heads kept outside the database (`audit verify --checkpoints
    /// DIR`, the checkpoint files): each must be signed by a trusted key and
    /// match the tree rebuilt from the events at its size.
    pub external_heads: Vec<ExternalHead>,
}

/// A signed tree head from outside the database, and where it came from.
#[derive(Debug, Clone)]
pub struct ExternalHead {
    /// Names it in reports (a checkpoint file's path).
    pub source: String,
    pub signed: alertledger_seal::SignedCheckpoint,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            tenant: None,
            trusted_keys: Vec::new(),
            page_size: 10_000,
            workers: 2,
            external_heads: Vec::new(),
        }
    }
}

/// The kind of difference found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscrepancyKind {
    /// The row's content is not what was sealed.
    Changed,
    /// A sealed row is gone.
    Missing,
    /// A row that was never sealed sits inside the sealed history.
    Inserted,
    /// Rows were moved: a sealed row (or its content) is at another place.
    Reordered,
    /// A checkpoint is not signed by a trusted key, breaks the chain, or does
    /// not match the tree rebuilt from the events.
    Checkpoint,
    /// A checkpoint kept outside the database (a checkpoint file) is not
    /// signed by a trusted key or does not match the tree rebuilt from the
    /// events: the database's history is not what was signed then.
    ExternalCheckpoint,
}

impl DiscrepancyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Changed => "changed row",
            Self::Missing => "missing row",
            Self::Inserted => "inserted row",
            Self::Reordered => "re-ordered row",
            Self::Checkpoint => "bad checkpoint",
            Self::ExternalCheckpoint => "checkpoint file mismatch",
        }
    }
}

/// The first place where the log and its seal disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    pub kind: DiscrepancyKind,
    /// The event position named.
    pub position: i64,
    /// The leaf where it showed.
    pub leaf_index: u64,
    pub detail: String,
}

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at position {} (leaf {}): {}",
            self.kind.as_str(),
            self.position,
            self.leaf_index,
            self.detail
        )
    }
}

/// What was checked, and the first discrepancy if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub tenant: Option<Uuid>,
    /// Sealed leaves compared with their events.
    pub leaves_checked: u64,
    /// Events whose leaf was recomputed from their content.
    pub events_rehashed: u64,
    pub checkpoints_checked: usize,
    /// External heads (checkpoint files) matched against the rebuilt tree.
    pub external_heads_checked: usize,
    /// The newest checkpoint (tree size and root), if any.
    pub latest_checkpoint: Option<(u64, Hash)>,
    /// Readable events after the sealed ones (the sealer's lag; not an error).
    pub unsealed_events: u64,
    pub discrepancy: Option<Discrepancy>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.discrepancy.is_none()
    }
}

/// One event as verification needs it: where it is and its body digest
/// (`None` when its content was not fetched, in tenant mode).
#[derive(Debug, Clone, Copy)]
struct EventDigest {
    position: i64,
    tenant_id: Uuid,
    body_digest: Option<Hash>,
}

/// Verifies the whole sealed log (or one tenant's part of it).
pub async fn verify(
    pool: &PgPool,
    options: &VerifyOptions,
) -> Result<VerifyReport, SealStoreError> {
    let mut conn = pool.acquire().await?;
    let checkpoints = all_checkpoints(&mut conn).await?;
    let checkpoint_problems = check_checkpoint_chain(&checkpoints, &options.trusted_keys);
    let horizon: Xid8 = sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())")
        .fetch_one(&mut *conn)
        .await?;
    drop(conn);

    let page = options.page_size.max(1);
    let boundaries = range_boundaries(pool, page).await?;
    let mut events = PageStream::new(spawn_event_pages(
        pool.clone(),
        horizon,
        options.tenant,
        page,
        boundaries,
        options.workers,
    ));
    let mut leaves = PageStream::new(spawn_leaf_pages(pool.clone(), page));

    let mut report = VerifyReport {
        tenant: options.tenant,
        leaves_checked: 0,
        events_rehashed: 0,
        checkpoints_checked: 0,
        external_heads_checked: 0,
        latest_checkpoint: checkpoints
            .last()
            .map(|c| (c.signed.checkpoint.tree_size, c.signed.checkpoint.root_hash)),
        unsealed_events: 0,
        discrepancy: None,
    };
    let mut external: Vec<&ExternalHead> = options.external_heads.iter().collect();
    external.sort_by_key(|head| head.signed.checkpoint.tree_size);
    for head in &external {
        if let Err(error) = head.signed.verify(&options.trusted_keys) {
            report.discrepancy = Some(external_discrepancy(head, format!("signature: {error}")));
            return Ok(report);
        }
    }
    let mut next_external = 0_usize;
    let mut tree = CompactRange::new();
    let mut next_checkpoint = 0_usize;
    let mut index = 0_u64;
    while let Some(leaf) = leaves.next().await? {
        if leaf.leaf_index != index {
            report.discrepancy = Some(Discrepancy {
                kind: DiscrepancyKind::Missing,
                position: leaf.position,
                leaf_index: index,
                detail: format!("the sealed leaves jump from {index} to {}", leaf.leaf_index),
            });
            return Ok(report);
        }
        let Some(event) = events.next().await? else {
            report.discrepancy = Some(Discrepancy {
                kind: DiscrepancyKind::Missing,
                position: leaf.position,
                leaf_index: index,
                detail: "the sealed event is no longer in the log".to_owned(),
            });
            return Ok(report);
        };
        if let Some(found) = compare(pool, index, &leaf, &event).await? {
            report.discrepancy = Some(found);
            return Ok(report);
        }
        let leaf_hash = match event.body_digest {
            Some(digest) => {
                report.events_rehashed += 1;
                alertledger_seal::encoding::sealed_leaf_hash(
                    event.position,
                    event.tenant_id,
                    &digest,
                )
            }
            None => leaf.leaf_hash(),
        };
        tree.append(leaf_hash);
        index += 1;
        report.leaves_checked = index;

        while let Some(stored) = checkpoints.get(next_checkpoint) {
            let checkpoint = &stored.signed.checkpoint;
            if checkpoint.tree_size != index {
                break;
            }
            let problem = checkpoint_problems[next_checkpoint]
                .clone()
                .or_else(|| {
                    (checkpoint.last_position != leaf.position).then(|| {
                        format!(
                            "it names position {} as its last, leaf {} is position {}",
                            checkpoint.last_position,
                            index - 1,
                            leaf.position
                        )
                    })
                })
                .or_else(|| {
                    (checkpoint.root_hash != tree.root()).then(|| {
                        format!(
                            "its root {} is not the root {} rebuilt from the events (the sealed leaves were rewritten too)",
                            checkpoint.root_hash,
                            tree.root()
                        )
                    })
                });
            if let Some(detail) = problem {
                report.discrepancy = Some(checkpoint_discrepancy(stored, detail));
                return Ok(report);
            }
            next_checkpoint += 1;
            report.checkpoints_checked = next_checkpoint;
        }
        while let Some(head) = external.get(next_external) {
            let checkpoint = &head.signed.checkpoint;
            if checkpoint.tree_size != index {
                break;
            }
            if checkpoint.root_hash != tree.root() || checkpoint.last_position != leaf.position {
                report.discrepancy = Some(external_discrepancy(
                    head,
                    format!(
                        "it signed root {} over {index} leaves ending at position {}; the events \
                         rebuild root {} ending at position {}",
                        checkpoint.root_hash,
                        checkpoint.last_position,
                        tree.root(),
                        leaf.position
                    ),
                ));
                return Ok(report);
            }
            next_external += 1;
            report.external_heads_checked = next_external;
        }
    }
    if let Some(head) = external.get(next_external) {
        report.discrepancy = Some(external_discrepancy(
            head,
            format!(
                "it covers {} leaves but only {index} are sealed (the sealed log was reset or cut short)",
                head.signed.checkpoint.tree_size
            ),
        ));
        return Ok(report);
    }
    if let Some(stored) = checkpoints.get(next_checkpoint) {
        report.discrepancy = Some(checkpoint_discrepancy(
            stored,
            format!(
                "it covers {} leaves but only {index} are sealed (sealed leaves were removed)",
                stored.signed.checkpoint.tree_size
            ),
        ));
        return Ok(report);
    }
    while events.next().await?.is_some() {
        report.unsealed_events += 1;
    }
    Ok(report)
}

fn external_discrepancy(head: &ExternalHead, detail: String) -> Discrepancy {
    let checkpoint = &head.signed.checkpoint;
    Discrepancy {
        kind: DiscrepancyKind::ExternalCheckpoint,
        position: checkpoint.last_position,
        leaf_index: checkpoint.tree_size.saturating_sub(1),
        detail: format!(
            "{} (checkpoint of tree size {}): {detail}",
            head.source, checkpoint.tree_size
        ),
    }
}

fn checkpoint_discrepancy(stored: &StoredCheckpoint, detail: String) -> Discrepancy {
    let checkpoint = &stored.signed.checkpoint;
    Discrepancy {
        kind: DiscrepancyKind::Checkpoint,
        position: checkpoint.last_position,
        leaf_index: checkpoint.tree_size.saturating_sub(1),
        detail: format!("checkpoint of tree size {}: {detail}", checkpoint.tree_size),
    }
}

/// Signature and chain of every checkpoint, in order: `Some(reason)` for
/// each one that fails.
fn check_checkpoint_chain(
    checkpoints: &[StoredCheckpoint],
    trusted: &[PublicKey],
) -> Vec<Option<String>> {
    let mut previous = Hash::default();
    checkpoints
        .iter()
        .map(|stored| {
            let problem = match stored.signed.verify(trusted) {
                Err(error) => Some(format!("signature: {error}")),
                Ok(()) if stored.signed.checkpoint.previous != previous => Some(format!(
                    "it names {} as the previous checkpoint, which is {}",
                    stored.signed.checkpoint.previous, previous
                )),
                Ok(()) => None,
            };
            previous = stored.signed.checkpoint.hash();
            problem
        })
        .collect()
}

/// Compares the event in leaf `index`'s place with the sealed leaf.
async fn compare(
    pool: &PgPool,
    index: u64,
    leaf: &StoredLeaf,
    event: &EventDigest,
) -> Result<Option<Discrepancy>, SealStoreError> {
    let found = |kind, position, detail: String| {
        Some(Discrepancy {
            kind,
            position,
            leaf_index: index,
            detail,
        })
    };
    if event.position != leaf.position {
        // Which of the two is out of place decides the kind.
        let sealed_still_there: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE position = $1)")
                .bind(leaf.position)
                .fetch_one(pool)
                .await?;
        if !sealed_still_there {
            return Ok(found(
                DiscrepancyKind::Missing,
                leaf.position,
                "the sealed event is no longer in the log".to_owned(),
            ));
        }
        let mut conn = pool.acquire().await?;
        return Ok(match leaf_by_position(&mut conn, event.position).await? {
            None => found(
                DiscrepancyKind::Inserted,
                event.position,
                format!(
                    "this event was never sealed, yet it stands in the log where position {} was sealed",
                    leaf.position
                ),
            ),
            Some(sealed) => found(
                DiscrepancyKind::Reordered,
                leaf.position,
                format!(
                    "sealed here, but position {} (sealed as leaf {}) stands in its place now",
                    event.position, sealed.leaf_index
                ),
            ),
        });
    }
    if event.tenant_id != leaf.tenant_id {
        return Ok(found(
            DiscrepancyKind::Changed,
            event.position,
            format!(
                "sealed for tenant {}, now belongs to tenant {}",
                leaf.tenant_id, event.tenant_id
            ),
        ));
    }
    let Some(digest) = event.body_digest else {
        return Ok(None);
    };
    if digest == leaf.body_digest {
        return Ok(None);
    }
    // Content that was sealed elsewhere means rows were moved, not edited.
    let elsewhere: Option<i64> = sqlx::query_scalar(
        "SELECT position FROM audit_leaves WHERE body_digest = $1 AND position <> $2 LIMIT 1",
    )
    .bind(digest.0.to_vec())
    .bind(event.position)
    .fetch_optional(pool)
    .await?;
    Ok(match elsewhere {
        Some(original) => found(
            DiscrepancyKind::Reordered,
            event.position,
            format!("this row holds the content sealed at position {original}"),
        ),
        None => found(
            DiscrepancyKind::Changed,
            event.position,
            "its content does not hash to the sealed leaf".to_owned(),
        ),
    })
}

/// Items of pages arriving on a channel, one at a time.
struct PageStream<T> {
    pages: mpsc::Receiver<Result<Vec<T>, SealStoreError>>,
    current: VecDeque<T>,
}

impl<T> PageStream<T> {
    fn new(pages: mpsc::Receiver<Result<Vec<T>, SealStoreError>>) -> Self {
        Self {
            pages,
            current: VecDeque::new(),
        }
    }

    async fn next(&mut self) -> Result<Option<T>, SealStoreError> {
        loop {
            if let Some(item) = self.current.pop_front() {
                return Ok(Some(item));
            }
            match self.pages.recv().await {
                Some(page) => self.current = page?.into(),
                None => return Ok(None),
            }
        }
    }
}

fn spawn_leaf_pages(
    pool: PgPool,
    page: usize,
) -> mpsc::Receiver<Result<Vec<StoredLeaf>, SealStoreError>> {
    let (sender, receiver) = mpsc::channel(2);
    tokio::spawn(async move {
        let mut after = -1_i64;
        loop {
            let rows = sqlx::query(
                "SELECT leaf_index, position, tenant_id, body_digest FROM audit_leaves
                  WHERE leaf_index > $1 ORDER BY leaf_index LIMIT $2",
            )
            .bind(after)
            .bind(i64::try_from(page).unwrap_or(i64::MAX))
            .fetch_all(&pool)
            .await;
            let leaves = rows.map_err(SealStoreError::from).and_then(|rows| {
                rows.iter()
                    .map(super::leaf_from_row)
                    .collect::<Result<Vec<_>, _>>()
            });
            let last = match &leaves {
                Ok(leaves) if leaves.len() < page => None,
                Ok(leaves) => leaves.last().map(|l| l.leaf_index),
                Err(_) => None,
            };
            let failed = leaves.is_err();
            if sender.send(leaves).await.is_err() || failed {
                return;
            }
            match last {
                Some(index) => after = i64::try_from(index).unwrap_or(i64::MAX),
                None => return,
            }
        }
    });
    receiver
}

/// A point in log order: after the event at `position` of `transaction`.
type Cursor = (Xid8, i64);

/// Cursors that cut the log into ranges of about `page` sealed leaves each:
/// the events of leaves `page-1`, `2*page-1`, ... Only strictly increasing
/// ones are kept, so the ranges always partition log order, whatever
/// (tampered) rows the boundaries land on.
async fn range_boundaries(pool: &PgPool, page: usize) -> Result<Vec<Cursor>, SealStoreError> {
    let step = i64::try_from(page).unwrap_or(i64::MAX);
    let rows: Vec<(Xid8, i64)> = sqlx::query_as(
        "SELECT e.transaction_id, e.position
           FROM generate_series($1::bigint - 1,
                                (SELECT coalesce(max(leaf_index), -1) FROM audit_leaves),
                                $1::bigint) AS g (i)
           JOIN audit_leaves l ON l.leaf_index = g.i
           JOIN events e ON e.position = l.position
          ORDER BY g.i",
    )
    .bind(step)
    .fetch_all(pool)
    .await?;
    let mut boundaries: Vec<Cursor> = Vec::with_capacity(rows.len());
    for cursor in rows {
        if boundaries.last().is_none_or(|last| cursor > *last) {
            boundaries.push(cursor);
        }
    }
    Ok(boundaries)
}

/// Every event below `horizon` in log order, decoded and hashed, as pages.
///
/// The sealed part is cut into ranges at `boundaries`; `workers` tasks each
/// fetch and hash every `workers`-th range on a connection of their own, so
/// PostgreSQL's work and the hashing spread over the cores, and the ranges are
/// handed on in order. What follows the last boundary (the newest sealed
/// events and any not yet sealed) is read after them in keyset pages.
fn spawn_event_pages(
    pool: PgPool,
    horizon: Xid8,
    tenant: Option<Uuid>,
    page: usize,
    boundaries: Vec<Cursor>,
    workers: usize,
) -> mpsc::Receiver<Result<Vec<EventDigest>, SealStoreError>> {
    let (sender, receiver) = mpsc::channel(2);
    let content = |column: &str| match tenant {
        Some(_) => format!("CASE WHEN tenant_id = $4 THEN {column} END"),
        None => column.to_owned(),
    };
    let columns = format!(
        "position, transaction_id, tenant_id, aggregate_type, aggregate_id, sequence,
         event_type, event_version, {}, {}, recorded_at",
        content("payload"),
        content("metadata")
    );
    // $1, $2: after this cursor; $3: horizon; $4: tenant (or unused);
    // $5, $6: up to this cursor (ranges) / $5: limit (tail).
    let ranged = format!(
        "SELECT {columns} FROM events
          WHERE (transaction_id, position) > ($1, $2) AND transaction_id < $3
            AND (transaction_id, position) <= ($5, $6) AND ($4::uuid IS NULL OR true)
          ORDER BY transaction_id, position"
    );
    let tail = format!(
        "SELECT {columns} FROM events
          WHERE (transaction_id, position) > ($1, $2) AND transaction_id < $3
            AND ($4::uuid IS NULL OR true)
          ORDER BY transaction_id, position
          LIMIT $5"
    );
    let workers = workers.max(1);
    let mut starts = Vec::with_capacity(boundaries.len());
    let mut previous: Cursor = (Xid8(0), 0);
    for boundary in &boundaries {
        starts.push((previous, *boundary));
        previous = *boundary;
    }
    let tail_start = previous;
    let mut ranges_of: Vec<mpsc::Receiver<Result<Vec<EventDigest>, SealStoreError>>> = Vec::new();
    for worker in 0..workers {
        let (range_sender, range_receiver) = mpsc::channel(1);
        ranges_of.push(range_receiver);
        let mine: Vec<(Cursor, Cursor)> = starts
            .iter()
            .skip(worker)
            .step_by(workers)
            .copied()
            .collect();
        let (pool, sql) = (pool.clone(), ranged.clone());
        tokio::spawn(async move {
            for (after, upto) in mine {
                let rows = sqlx::query(&sql)
                    .bind(after.0)
                    .bind(after.1)
                    .bind(horizon)
                    .bind(tenant)
                    .bind(upto.0)
                    .bind(upto.1)
                    .fetch_all(&pool)
                    .await;
                let digests = hash_rows(rows);
                let failed = digests.is_err();
                if range_sender.send(digests).await.is_err() || failed {
                    return;
                }
            }
        });
    }
    tokio::spawn(async move {
        // The ranges, in order: range j comes from worker j % workers.
        for j in 0..starts.len() {
            let Some(digests) = ranges_of[j % workers].recv().await else {
                return;
            };
            let failed = digests.is_err();
            if sender.send(digests).await.is_err() || failed {
                return;
            }
        }
        // Then the tail, in keyset pages.
        let mut after = tail_start;
        loop {
            let rows = sqlx::query(&tail)
                .bind(after.0)
                .bind(after.1)
                .bind(horizon)
                .bind(tenant)
                .bind(i64::try_from(page).unwrap_or(i64::MAX))
                .fetch_all(&pool)
                .await;
            let next = match &rows {
                Ok(rows) if rows.len() >= page => rows.last().and_then(|row| {
                    Some((
                        row.try_get::<Xid8, _>(1).ok()?,
                        row.try_get::<i64, _>(0).ok()?,
                    ))
                }),
                _ => None,
            };
            let digests = hash_rows(rows);
            let failed = digests.is_err();
            if sender.send(digests).await.is_err() || failed {
                return;
            }
            match next {
                Some(cursor) => after = cursor,
                None => return,
            }
        }
    });
    receiver
}

fn hash_rows(rows: Result<Vec<PgRow>, sqlx::Error>) -> Result<Vec<EventDigest>, SealStoreError> {
    rows.map_err(SealStoreError::from)
        .and_then(|rows| rows.iter().map(event_digest).collect())
}

/// Decodes one row and hashes its body (when its content was fetched).
fn event_digest(row: &PgRow) -> Result<EventDigest, SealStoreError> {
    let position: i64 = row.try_get(0)?;
    let tenant_id: Uuid = row.try_get(2)?;
    let payload: Option<&[u8]> = row.try_get_unchecked(8)?;
    let metadata: Option<&[u8]> = row.try_get_unchecked(9)?;
    let body_digest = match (payload, metadata) {
        (Some(payload), Some(metadata)) => {
            let recorded_at: DateTime<Utc> = row.try_get(10)?;
            Some(
                EventFields {
                    position,
                    tenant_id,
                    aggregate_type: row.try_get(3)?,
                    aggregate_id: row.try_get(4)?,
                    sequence: row.try_get(5)?,
                    event_type: row.try_get(6)?,
                    event_version: row.try_get(7)?,
                    payload: jsonb_text(payload)?,
                    metadata: jsonb_text(metadata)?,
                    recorded_at_us: recorded_at.timestamp_micros(),
                }
                .body_digest(),
            )
        }
        _ => None,
    };
    Ok(EventDigest {
        position,
        tenant_id,
        body_digest,
    })
}

/// The JSON text of a binary `jsonb` value: a version byte (1), then the text
/// PostgreSQL renders (the same bytes the log reader hands the sealer).
fn jsonb_text(raw: &[u8]) -> Result<&[u8], SealStoreError> {
    match raw.split_first() {
        Some((1, text)) => Ok(text),
        _ => Err(SealStoreError::Corrupt(
            "a jsonb value in an unknown binary format".to_owned(),
        )),
    }
}
