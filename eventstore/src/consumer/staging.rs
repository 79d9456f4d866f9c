//! Staging of rows during a build from history.
//!
//! A live projector loads the rows a batch touches, folds the batch into them
//! and writes them back: right for a few events at a time, wasteful for a
//! rebuild, where every batch would reload rows the previous batch just
//! wrote. While a projection is built into fresh shadow tables, its rows stay
//! in memory instead: [`super::rows::load`] finds them here, [`super::rows::upsert`]
//! replaces them here, and each table is written once, with `COPY`, when the
//! fill ends ([`Staging::flush`]). Append-only tables ([`super::rows::insert`])
//! skip the staging and are copied batch by batch.
//!
//! Memory stays bounded: a table holding more rows than the staging's limit is
//! flushed early; rows not staged any more are then loaded from the shadow
//! table again, and later flushes upsert instead of append.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::PgConnection;

use super::copy::copy_rows_into;
use super::rows::{quoted, upsert_conflict_clause, ReadModelRow};
use super::{ConsumerError, Target};

/// Rows per table kept in memory before that table is flushed early.
pub const DEFAULT_LIMIT: usize = 500_000;

/// The staged rows of one build, by table.
pub struct Staging {
    tables: Mutex<HashMap<&'static str, Box<dyn StagedTable>>>,
    limit: usize,
}

impl std::fmt::Debug for Staging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staging")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// What a staged read of some keys found.
pub(crate) struct Lookup<R> {
    /// The staged rows among the keys.
    pub found: Vec<R>,
    /// Keys not staged that the table may still hold (it was flushed before);
    /// empty when the table holds nothing that is not staged.
    pub to_load: Vec<Value>,
}

impl Staging {
    pub fn new(limit: usize) -> Self {
        Self {
            tables: Mutex::new(HashMap::new()),
            limit: limit.max(1),
        }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, Box<dyn StagedTable>>> {
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The staged rows of `R` with these keys (JSON objects holding the key
    /// columns), and the keys to look for in the table.
    pub(crate) fn lookup<R: ReadModelRow>(&self, keys: &[Value]) -> Lookup<R> {
        let mut tables = self.tables();
        let Some(staged) = tables
            .get_mut(R::TABLE)
            .and_then(|t| t.as_any().downcast_mut::<Staged<R>>())
        else {
            return Lookup {
                found: Vec::new(),
                to_load: keys.to_vec(),
            };
        };
        let mut found = Vec::new();
        let mut to_load = Vec::new();
        for key in keys {
            match staged.rows.get(&key_of_json::<R>(key)) {
                Some(row) => found.push(row.clone()),
                None if staged.flushed => to_load.push(key.clone()),
                None => {}
            }
        }
        Lookup { found, to_load }
    }

    /// Stages `rows`, replacing the staged rows with their keys. Returns
    /// whether `R`'s table now holds more rows than the limit.
    pub(crate) fn stage<R: ReadModelRow>(&self, rows: &[R]) -> Result<bool, ConsumerError> {
        let mut tables = self.tables();
        let staged = tables
            .entry(R::TABLE)
            .or_insert_with(|| Box::new(Staged::<R>::default()));
        let staged = staged.as_any().downcast_mut::<Staged<R>>().ok_or_else(|| {
            ConsumerError::Corrupt(format!(
                "table {} is staged with another row type",
                R::TABLE
            ))
        })?;
        for row in rows {
            let key = row.staging_key();
            debug_assert_eq!(
                key,
                key_of_json::<R>(&serde_json::to_value(row).unwrap_or_default()),
                "{}::staging_key disagrees with the row's key columns",
                R::TABLE
            );
            staged.rows.insert(key, row.clone());
        }
        Ok(staged.rows.len() > self.limit)
    }

    /// Writes the staged rows of `table` (or of every table) to `target` and
    /// forgets them.
    pub async fn flush(
        &self,
        conn: &mut PgConnection,
        target: &Target,
        table: Option<&'static str>,
    ) -> Result<(), ConsumerError> {
        let names: Vec<&'static str> = match table {
            Some(table) => vec![table],
            None => self.tables().keys().copied().collect(),
        };
        for name in names {
            // Taken out while it is written (no lock is held across an await),
            // put back, emptied and marked flushed, after.
            let Some(mut staged) = self.tables().remove(name) else {
                continue;
            };
            let result = staged.flush(conn, target).await;
            self.tables().insert(name, staged);
            result?;
        }
        Ok(())
    }
}

/// One table's staged rows, whatever their type.
#[async_trait]
trait StagedTable: Send {
    fn as_any(&mut self) -> &mut dyn Any;
    async fn flush(
        &mut self,
        conn: &mut PgConnection,
        target: &Target,
    ) -> Result<(), ConsumerError>;
}

struct Staged<R> {
    rows: HashMap<String, R>,
    /// Rows were written to the table before: later flushes must upsert.
    flushed: bool,
}

impl<R> Default for Staged<R> {
    fn default() -> Self {
        Self {
            rows: HashMap::new(),
            flushed: false,
        }
    }
}

#[async_trait]
impl<R: ReadModelRow> StagedTable for Staged<R> {
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }

    async fn flush(
        &mut self,
        conn: &mut PgConnection,
        target: &Target,
    ) -> Result<(), ConsumerError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows: Vec<R> = std::mem::take(&mut self.rows).into_values().collect();
        if !self.flushed {
            // Everything the table holds came from here: a plain append.
            copy_rows_into(conn, &target.table(R::TABLE), target, &rows).await?;
        } else {
            // Some rows may be in the table already: copy into a scratch
            // table, then upsert from it.
            let scratch = format!("staged_{}", R::TABLE);
            let table = target.table(R::TABLE);
            sqlx::query(&format!(
                "CREATE TEMP TABLE IF NOT EXISTS \"{scratch}\" (LIKE {table} INCLUDING DEFAULTS)"
            ))
            .execute(&mut *conn)
            .await?;
            sqlx::query(&format!("TRUNCATE \"{scratch}\""))
                .execute(&mut *conn)
                .await?;
            copy_rows_into(conn, &format!("\"{scratch}\""), target, &rows).await?;
            let columns = quoted(R::COLUMNS);
            sqlx::query(&format!(
                "INSERT INTO {table} ({columns}) SELECT {columns} FROM \"{scratch}\" {}",
                upsert_conflict_clause::<R>()
            ))
            .execute(&mut *conn)
            .await?;
        }
        self.flushed = true;
        Ok(())
    }
}

/// The key columns of a JSON object (a row, or a key as `load` gets it),
/// strings as they are and other values as JSON, separated by U+001F.
pub fn key_of_json<R: ReadModelRow>(object: &Value) -> String {
    let mut key = String::new();
    for (i, column) in R::KEY.iter().enumerate() {
        if i > 0 {
            key.push('\u{1f}');
        }
        match object.get(*column) {
            Some(Value::String(text)) => key.push_str(text),
            Some(other) => key.push_str(&other.to_string()),
            None => {}
        }
    }
    key
}
