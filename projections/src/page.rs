//! Keyset pagination shared by the list queries: a page of rows and an opaque
//! cursor that encodes the sort key of the last row returned.
//!
//! The cursor is base64url (no padding) of the sort key as JSON. Clients treat
//! it as opaque; the server reads it back exactly, so a page starts strictly
//! after the previous one and rows inserted meanwhile cause no duplicates.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Rows per page unless the caller asks otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// The most rows one page may have.
pub const MAX_LIMIT: usize = 500;

/// One page of a list: `{"items": [...], "next_cursor": "..." | null}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts; `None` when this page is the last.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Maps every item, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }

    /// A page from up to `limit + 1` rows fetched in order: the extra row only
    /// tells that more follow, and the cursor is the key of the last row kept.
    pub(crate) fn from_rows<K: Serialize>(
        mut rows: Vec<T>,
        limit: usize,
        key_of: impl Fn(&T) -> K,
    ) -> Self {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(|last| encode_cursor(&key_of(last)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
}

/// Why a list query could not run.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The cursor was not one this server issued for this list and sort.
    #[error("the cursor is malformed or belongs to another list")]
    InvalidCursor,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// The opaque cursor for sort key `key`.
pub(crate) fn encode_cursor<K: Serialize>(key: &K) -> String {
    // A sort key is plain data (numbers, strings, timestamps): it always serializes.
    let json = serde_json::to_vec(key).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// The sort key a cursor encodes.
pub(crate) fn decode_cursor<K: DeserializeOwned>(cursor: &str) -> Result<K, QueryError> {
    let json = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| QueryError::InvalidCursor)?;
    serde_json::from_slice(&json).map_err(|_| QueryError::InvalidCursor)
}

/// `limit` bounded to 1..=[`MAX_LIMIT`] (callers validate user input first;
/// this only keeps a query from asking for nothing or everything).
pub(crate) fn bounded(limit: usize) -> usize {
    limit.clamp(1, MAX_LIMIT)
}

/// A PostgreSQL `LIMIT` for `limit` rows plus the one that tells whether more follow.
pub(crate) fn fetch_limit(limit: usize) -> i64 {
    i64::try_from(limit + 1).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Key {
        n: i64,
        s: String,
    }

    #[test]
    fn a_cursor_decodes_to_the_key_it_encodes() {
        let key = Key {
            n: 42,
            s: "web01|HighCPU".into(),
        };
        let cursor = encode_cursor(&key);
        assert!(cursor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(decode_cursor::<Key>(&cursor).ok(), Some(key));
    }

    #[test]
    fn garbage_and_foreign_keys_are_invalid_cursors() {
        assert!(matches!(
            decode_cursor::<Key>("not base64!"),
            Err(QueryError::InvalidCursor)
        ));
        let other = encode_cursor(&[1, 2, 3]);
        assert!(matches!(
            decode_cursor::<Key>(&other),
            Err(QueryError::InvalidCursor)
        ));
    }

    #[test]
    fn a_page_keeps_limit_rows_and_points_after_the_last_only_when_more_follow() {
        let page = Page::from_rows(vec![1, 2, 3], 2, |n| *n);
        assert_eq!(page.items, [1, 2]);
        assert_eq!(
            page.next_cursor
                .as_deref()
                .map(decode_cursor::<i32>)
                .and_then(Result::ok),
            Some(2)
        );
        let last = Page::from_rows(vec![1, 2], 2, |n| *n);
        assert_eq!(last.next_cursor, None);
    }
}
