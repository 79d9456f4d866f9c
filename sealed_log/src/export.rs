//! One tenant's audit bundle (docs/audit-bundle.md): its events over a range
//! of the sealed log, the leaves from the range's start to the checkpoint
//! that covers it, the compact range before it, the checkpoint and its key.

use alertledger_seal::bundle::{BundleEvent, BundleLeaf, BundleParts};
use alertledger_seal::PublicKey;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::{checkpoint_covering, compact_range, latest_checkpoint, leaf_by_position, leaves};
use super::{to_i64, to_u64, SealStoreError};

/// One end of an export range: an event position or a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeBound {
    Position(i64),
    Time(DateTime<Utc>),
}

impl std::str::FromStr for RangeBound {
    type Err = String;

    /// A whole number is a position; anything else must be RFC 3339.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        if let Ok(position) = raw.parse::<i64>() {
            return Ok(Self::Position(position));
        }
        DateTime::parse_from_rfc3339(raw)
            .map(|time| Self::Time(time.with_timezone(&Utc)))
            .map_err(|_| format!("{raw:?} is neither a log position nor an RFC 3339 time"))
    }
}

/// Why a bundle cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no checkpoint covers the requested range yet (checkpoints follow the log within about 10 s); try again shortly")]
    NotCheckpointed,
    #[error("the event at position {0} is not sealed (no such event, or the sealer has not reached it yet)")]
    NotSealed(i64),
    #[error("the checkpoint's recorded key is unusable: {0}")]
    Key(String),
    #[error(transparent)]
    Store(#[from] SealStoreError),
}

impl From<sqlx::Error> for ExportError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(SealStoreError::Database(error))
    }
}

/// Builds the bundle of `tenant`'s events between `from` and `to` (inclusive;
/// default: the whole checkpointed log).
pub async fn export(
    pool: &PgPool,
    tenant: Uuid,
    from: Option<RangeBound>,
    to: Option<RangeBound>,
) -> Result<BundleParts, ExportError> {
    let mut conn = pool.acquire().await?;
    let latest = latest_checkpoint(&mut conn)
        .await?
        .ok_or(ExportError::NotCheckpointed)?;
    let first_leaf = match from {
        None => 0,
        Some(bound) => first_leaf_from(&mut conn, bound).await?,
    };
    let end_leaf = match to {
        None => latest.signed.checkpoint.tree_size,
        Some(bound) => end_leaf_to(&mut conn, bound).await?,
    }
    .max(first_leaf);
    let checkpoint = checkpoint_covering(&mut conn, end_leaf.max(1))
        .await?
        .ok_or(ExportError::NotCheckpointed)?;
    let size = checkpoint.signed.checkpoint.tree_size;
    let public_key =
        PublicKey::from_pem(&checkpoint.public_key).map_err(|e| ExportError::Key(e.to_string()))?;
    let prefix = compact_range(&mut conn, first_leaf).await?;
    let leaves = leaves(&mut conn, first_leaf, size)
        .await?
        .into_iter()
        .map(|leaf| BundleLeaf {
            leaf_index: leaf.leaf_index,
            position: leaf.position,
            tenant_id: leaf.tenant_id,
            body_digest: leaf.body_digest,
        })
        .collect();
    let events = tenant_events(&mut conn, tenant, first_leaf, end_leaf).await?;
    Ok(BundleParts {
        tenant_id: tenant,
        first_leaf,
        end_leaf,
        prefix,
        leaves,
        events,
        checkpoint: checkpoint.signed,
        public_key,
    })
}

async fn first_leaf_from(conn: &mut PgConnection, bound: RangeBound) -> Result<u64, ExportError> {
    match bound {
        RangeBound::Position(position) => leaf_by_position(conn, position)
            .await?
            .map(|leaf| leaf.leaf_index)
            .ok_or(ExportError::NotSealed(position)),
        RangeBound::Time(time) => {
            let first: Option<i64> = sqlx::query_scalar(
                "SELECT min(l.leaf_index) FROM audit_leaves l
                   JOIN events e ON e.position = l.position WHERE e.recorded_at >= $1",
            )
            .bind(time)
            .fetch_one(&mut *conn)
            .await?;
            match first {
                Some(index) => Ok(to_u64(index, "leaf index")?),
                None => Ok(super::sealed_size(conn).await?),
            }
        }
    }
}

async fn end_leaf_to(conn: &mut PgConnection, bound: RangeBound) -> Result<u64, ExportError> {
    match bound {
        RangeBound::Position(position) => leaf_by_position(conn, position)
            .await?
            .map(|leaf| leaf.leaf_index + 1)
            .ok_or(ExportError::NotSealed(position)),
        RangeBound::Time(time) => {
            let last: Option<i64> = sqlx::query_scalar(
                "SELECT max(l.leaf_index) FROM audit_leaves l
                   JOIN events e ON e.position = l.position WHERE e.recorded_at <= $1",
            )
            .bind(time)
            .fetch_one(&mut *conn)
            .await?;
            match last {
                Some(index) => Ok(to_u64(index, "leaf index")? + 1),
                None => Ok(0),
            }
        }
    }
}

/// The tenant's events among leaves `start..end`, as stored now (payload and
/// metadata as PostgreSQL renders the `jsonb`, the bytes that were sealed).
async fn tenant_events(
    conn: &mut PgConnection,
    tenant: Uuid,
    start: u64,
    end: u64,
) -> Result<Vec<BundleEvent>, ExportError> {
    let rows = sqlx::query(
        "SELECT l.leaf_index, e.position, e.tenant_id, e.aggregate_type, e.aggregate_id,
                e.sequence, e.event_type, e.event_version, e.recorded_at,
                e.payload::text AS payload, e.metadata::text AS metadata
           FROM audit_leaves l JOIN events e ON e.position = l.position
          WHERE l.tenant_id = $1 AND l.leaf_index >= $2 AND l.leaf_index < $3
          ORDER BY l.leaf_index",
    )
    .bind(tenant)
    .bind(to_i64(start))
    .bind(to_i64(end))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let recorded_at: DateTime<Utc> = row.try_get("recorded_at")?;
            Ok(BundleEvent {
                leaf_index: to_u64(row.try_get("leaf_index")?, "leaf index")?,
                position: row.try_get("position")?,
                tenant_id: row.try_get("tenant_id")?,
                aggregate_type: row.try_get("aggregate_type")?,
                aggregate_id: row.try_get("aggregate_id")?,
                sequence: row.try_get("sequence")?,
                event_type: row.try_get("event_type")?,
                event_version: row.try_get("event_version")?,
                recorded_at_us: recorded_at.timestamp_micros(),
                payload: row.try_get("payload")?,
                metadata: row.try_get("metadata")?,
            })
        })
        .collect::<Result<Vec<_>, SealStoreError>>()
        .map_err(ExportError::from)
}
