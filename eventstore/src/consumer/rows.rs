//! Load, fold, write back: how a projection turns a batch of events into a few
//! statements instead of one per event.
//!
//! A read-model row is a serde struct whose fields are the table's columns.
//! A batch loads the rows its events touch ([`load`]), folds the events into
//! them in memory, and writes the changed rows back with one upsert ([`upsert`])
//! or, for append-only tables, one insert ([`insert`]). PostgreSQL turns the
//! JSON into rows itself (`jsonb_populate_recordset` over the target table's
//! row type), so the same code writes live and shadow tables.
//!
//! During a build from history the target stages rows in memory instead (see
//! [`super::staging`]): the same three calls then read and write the staging,
//! and append-only rows go to the table with `COPY`.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::types::Json;
use sqlx::PgConnection;

use super::copy::copy_rows;
use super::{ConsumerError, Target};

/// A row of a read-model table.
pub trait ReadModelRow:
    Serialize + DeserializeOwned + Clone + Send + Sync + Unpin + 'static
{
    /// The table (unqualified).
    const TABLE: &'static str;
    /// The primary-key columns.
    const KEY: &'static [&'static str];
    /// Every column, key included, as named in the table and in the struct.
    const COLUMNS: &'static [&'static str];

    /// The key columns' values as one string, as a build from history stages
    /// the row (see [`super::staging::key_of_json`]). The default serializes
    /// the whole row; rows that can grow large return their key directly.
    fn staging_key(&self) -> String {
        super::staging::key_of_json::<Self>(&serde_json::to_value(self).unwrap_or_default())
    }
}

/// The rows of `R`'s table whose keys equal those of `keys` (JSON objects with
/// at least the key columns, e.g. `{"alert_id": "..."}`).
pub async fn load<R: ReadModelRow>(
    conn: &mut PgConnection,
    target: &Target,
    keys: &[serde_json::Value],
) -> Result<Vec<R>, ConsumerError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(staging) = target.staging() {
        let mut lookup = staging.lookup::<R>(keys);
        if !lookup.to_load.is_empty() {
            lookup
                .found
                .extend(load_stored::<R>(conn, target, &lookup.to_load).await?);
        }
        return Ok(lookup.found);
    }
    load_stored(conn, target, keys).await
}

/// The rows with these keys as the table holds them.
async fn load_stored<R: ReadModelRow>(
    conn: &mut PgConnection,
    target: &Target,
    keys: &[serde_json::Value],
) -> Result<Vec<R>, ConsumerError> {
    let table = target.table(R::TABLE);
    let key = quoted(R::KEY);
    let join = R::KEY
        .iter()
        .map(|key| format!("t.\"{key}\" = k.\"{key}\""))
        .collect::<Vec<_>>()
        .join(" AND ");
    // Driven from the (few) keys, so each is an index lookup on the table.
    let sql = format!(
        "SELECT to_jsonb(t)
           FROM (SELECT DISTINCT {key} FROM jsonb_populate_recordset(NULL::{table}, $1)) k
           JOIN {table} t ON {join}"
    );
    let rows: Vec<Json<R>> = sqlx::query_scalar(&sql)
        .bind(Json(keys))
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(|Json(row)| row).collect())
}

/// Inserts `rows`, replacing every non-key column of rows that already exist.
pub async fn upsert<R: ReadModelRow>(
    conn: &mut PgConnection,
    target: &Target,
    rows: &[R],
) -> Result<(), ConsumerError> {
    if rows.is_empty() {
        return Ok(());
    }
    if let Some(staging) = target.staging() {
        if staging.stage(rows)? {
            staging.flush(conn, target, Some(R::TABLE)).await?;
        }
        return Ok(());
    }
    let table = target.table(R::TABLE);
    let columns = quoted(R::COLUMNS);
    let sql = format!(
        "INSERT INTO {table} ({columns})
         SELECT {columns} FROM jsonb_populate_recordset(NULL::{table}, $1)
         {}",
        upsert_conflict_clause::<R>()
    );
    sqlx::query(&sql).bind(Json(rows)).execute(conn).await?;
    Ok(())
}

/// `ON CONFLICT (key) DO UPDATE SET` every other column to the new row's.
pub(crate) fn upsert_conflict_clause<R: ReadModelRow>() -> String {
    let others: Vec<&str> = R::COLUMNS
        .iter()
        .copied()
        .filter(|column| !R::KEY.contains(column))
        .collect();
    let action = if others.is_empty() {
        "DO NOTHING".to_owned()
    } else {
        let excluded = others
            .iter()
            .map(|column| format!("EXCLUDED.\"{column}\""))
            .collect::<Vec<_>>()
            .join(", ");
        format!("DO UPDATE SET ({}) = ROW({excluded})", quoted(&others))
    };
    format!("ON CONFLICT ({}) {action}", quoted(R::KEY))
}

/// Inserts `rows` into an append-only table; a row whose key exists is an
/// error (the same event applied twice), never silently ignored.
pub async fn insert<R: ReadModelRow>(
    conn: &mut PgConnection,
    target: &Target,
    rows: &[R],
) -> Result<(), ConsumerError> {
    if rows.is_empty() {
        return Ok(());
    }
    if target.staging().is_some() {
        // Append-only rows are never read back by the fold: straight to the
        // table, in bulk.
        return copy_rows(conn, target, rows).await;
    }
    let table = target.table(R::TABLE);
    let columns = quoted(R::COLUMNS);
    let sql = format!(
        "INSERT INTO {table} ({columns})
         SELECT {columns} FROM jsonb_populate_recordset(NULL::{table}, $1)"
    );
    sqlx::query(&sql).bind(Json(rows)).execute(conn).await?;
    Ok(())
}

/// The columns as a quoted SQL list: `"a", "b"`.
pub(crate) fn quoted(columns: &[&str]) -> String {
    columns
        .iter()
        .map(|column| format!("\"{column}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
