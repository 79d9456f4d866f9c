//! A projector's row in `projector_checkpoints`.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

use crate::log::LogCursor;
use crate::log::Xid8;

/// Where a projector stands, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub name: String,
    pub cursor: LogCursor,
    pub events_applied: i64,
    /// Position of the last event applied (0: none yet).
    pub last_position: i64,
    /// `recorded_at` of the last event applied.
    pub last_event_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Where it stopped on an event it could not apply, and why.
    pub failed_position: Option<i64>,
    pub last_error: Option<String>,
}

/// Advisory lock classes (first key of the two-key form): one for the
/// per-batch lock, one for the session lock that elects the active instance.
pub(crate) const BATCH_LOCK_CLASS: i32 = 0x414c_5042; // "ALPB"
pub(crate) const INSTANCE_LOCK_CLASS: i32 = 0x414c_5049; // "ALPI"

const COLUMNS: &str = "name, transaction_id, position, events_applied, last_position, \
     last_event_at, updated_at, failed_position, last_error";

impl Checkpoint {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        let transaction: Xid8 = row.try_get("transaction_id")?;
        Ok(Self {
            name: row.try_get("name")?,
            cursor: LogCursor::new(transaction.0, row.try_get("position")?),
            events_applied: row.try_get("events_applied")?,
            last_position: row.try_get("last_position")?,
            last_event_at: row.try_get("last_event_at")?,
            updated_at: row.try_get("updated_at")?,
            failed_position: row.try_get("failed_position")?,
            last_error: row.try_get("last_error")?,
        })
    }

    /// Takes `name`'s batch lock for the rest of the transaction and returns
    /// its checkpoint (created at the start of the log if new). Every batch and
    /// every rebuild swap starts here, so they are serialised across processes.
    ///
    /// The lock is a transaction-level advisory lock rather than `FOR UPDATE`:
    /// a row lock would give the transaction an id before it reads the log,
    /// and a running transaction id holds back the log horizon of every reader.
    pub(crate) async fn lock(conn: &mut PgConnection, name: &str) -> Result<Self, sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(BATCH_LOCK_CLASS)
            .bind(name)
            .execute(&mut *conn)
            .await?;
        let select = format!("SELECT {COLUMNS} FROM projector_checkpoints WHERE name = $1");
        if let Some(row) = sqlx::query(&select)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?
        {
            return Self::from_row(&row);
        }
        let row = sqlx::query(&format!(
            "INSERT INTO projector_checkpoints (name) VALUES ($1) RETURNING {COLUMNS}"
        ))
        .bind(name)
        .fetch_one(&mut *conn)
        .await?;
        Self::from_row(&row)
    }

    /// Moves the locked row to `cursor` after applying `applied` more events,
    /// the last of them `last` (position and recorded_at).
    pub(crate) async fn advance(
        conn: &mut PgConnection,
        name: &str,
        cursor: LogCursor,
        applied: usize,
        last: Option<(i64, DateTime<Utc>)>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE projector_checkpoints
                SET transaction_id = $2, position = $3,
                    events_applied = events_applied + $4,
                    last_position = COALESCE($6, last_position),
                    last_event_at = COALESCE($5, last_event_at),
                    updated_at = now(), failed_position = NULL, last_error = NULL
              WHERE name = $1",
        )
        .bind(name)
        .bind(cursor.xid8())
        .bind(cursor.position())
        .bind(i64::try_from(applied).unwrap_or(i64::MAX))
        .bind(last.map(|(_, at)| at))
        .bind(last.map(|(position, _)| position))
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Replaces the locked row with a rebuild's result.
    pub(crate) async fn replace(
        conn: &mut PgConnection,
        name: &str,
        cursor: LogCursor,
        events_applied: i64,
        last: Option<(i64, DateTime<Utc>)>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE projector_checkpoints
                SET transaction_id = $2, position = $3, events_applied = $4,
                    last_event_at = $5, last_position = COALESCE($6, 0), updated_at = now(),
                    failed_position = NULL, last_error = NULL
              WHERE name = $1",
        )
        .bind(name)
        .bind(cursor.xid8())
        .bind(cursor.position())
        .bind(events_applied)
        .bind(last.map(|(_, at)| at))
        .bind(last.map(|(position, _)| position))
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Records that the projector stopped at `position` because of `error`.
    ///
    /// Inserts the row if need be: a projector that fails on its very first
    /// batch rolled back the row that batch created.
    pub(crate) async fn record_failure(
        pool: &PgPool,
        name: &str,
        position: Option<i64>,
        error: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO projector_checkpoints (name, failed_position, last_error)
             VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE
                SET failed_position = EXCLUDED.failed_position,
                    last_error = EXCLUDED.last_error, updated_at = now()",
        )
        .bind(name)
        .bind(position)
        .bind(error)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Every stored checkpoint, by name.
    pub async fn all(pool: &PgPool) -> Result<Vec<Self>, sqlx::Error> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM projector_checkpoints ORDER BY name"
        ))
        .fetch_all(pool)
        .await?
        .iter()
        .map(Self::from_row)
        .collect()
    }

    /// The checkpoint named `name`, if it was ever stored.
    pub async fn find(pool: &PgPool, name: &str) -> Result<Option<Self>, sqlx::Error> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM projector_checkpoints WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(Self::from_row)
        .transpose()
    }
}
