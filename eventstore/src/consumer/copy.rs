//! Writing read-model rows with `COPY ... FROM STDIN` (text format): the bulk
//! path of rebuilds, which spares PostgreSQL the JSON parse of every row that
//! an `INSERT` over `jsonb_populate_recordset` needs.
//!
//! Each row is serialized to JSON as [`super::rows`] does, and each column's
//! JSON value is rendered as the text the column's input function reads,
//! which is what `jsonb_populate_recordset` hands the same function: the
//! stored values are identical on both paths.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::value::RawValue;
use sqlx::PgConnection;

use super::rows::{quoted, ReadModelRow};
use super::{ConsumerError, Target};

/// How a column's JSON value becomes COPY text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnKind {
    /// `json`/`jsonb`: the JSON text itself.
    Json,
    /// Any array type (`uuid[]`, `text[]`): a PostgreSQL array literal.
    Array,
    /// Everything else: a string as it is, a number or boolean as JSON writes it.
    Scalar,
}

/// Bytes sent per `CopyData` message.
const CHUNK: usize = 1 << 20;

/// Appends `rows` to `R`'s table in `target` with one `COPY`. A row whose key
/// exists fails the statement (and with it the transaction).
pub async fn copy_rows<R: ReadModelRow>(
    conn: &mut PgConnection,
    target: &Target,
    rows: &[R],
) -> Result<(), ConsumerError> {
    copy_rows_into(conn, &target.table(R::TABLE), target, rows).await
}

/// As [`copy_rows`], into `table` (already qualified), which has `R`'s
/// columns with the types of `R`'s table in `target`.
pub(crate) async fn copy_rows_into<R: ReadModelRow>(
    conn: &mut PgConnection,
    table: &str,
    target: &Target,
    rows: &[R],
) -> Result<(), ConsumerError> {
    if rows.is_empty() {
        return Ok(());
    }
    let kinds = column_kinds::<R>(conn, target).await?;
    let columns = quoted(R::COLUMNS);
    let mut copy = conn
        .copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN"))
        .await?;
    let mut buffer = Vec::with_capacity(CHUNK + 4096);
    for row in rows {
        if let Err(reason) = encode_row_into(&mut buffer, row, &kinds) {
            copy.abort(reason.clone()).await?;
            return Err(ConsumerError::Corrupt(format!(
                "a {} row cannot be written: {reason}",
                R::TABLE
            )));
        }
        if buffer.len() >= CHUNK {
            copy.send(std::mem::take(&mut buffer)).await?;
            buffer.reserve(CHUNK + 4096);
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// The kind of each of `R`'s columns, read from the table's definition.
async fn column_kinds<R: ReadModelRow>(
    conn: &mut PgConnection,
    target: &Target,
) -> Result<Vec<ColumnKind>, ConsumerError> {
    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
           FROM pg_attribute a
          WHERE a.attrelid = format('%I.%I', $1::text, $2::text)::regclass
            AND a.attnum > 0 AND NOT a.attisdropped",
    )
    .bind(target.schema_name())
    .bind(R::TABLE)
    .fetch_all(&mut *conn)
    .await?;
    R::COLUMNS
        .iter()
        .map(|column| {
            let (_, type_name) =
                types
                    .iter()
                    .find(|(name, _)| name == column)
                    .ok_or_else(|| {
                        ConsumerError::Corrupt(format!("table {} has no column {column}", R::TABLE))
                    })?;
            Ok(kind_of(type_name))
        })
        .collect()
}

fn kind_of(type_name: &str) -> ColumnKind {
    if type_name.ends_with("[]") {
        ColumnKind::Array
    } else if type_name == "jsonb" || type_name == "json" {
        ColumnKind::Json
    } else {
        ColumnKind::Scalar
    }
}

/// Appends one COPY text line (tab-separated columns, `\N` for NULL).
///
/// The row is serialized to JSON text once and its columns are taken from
/// that text as raw values, so no JSON tree is built (a row's `jsonb`
/// columns can be large).
fn encode_row_into<R: ReadModelRow>(
    out: &mut Vec<u8>,
    row: &R,
    kinds: &[ColumnKind],
) -> Result<(), String> {
    let json = serde_json::to_vec(row).map_err(|e| e.to_string())?;
    let fields: HashMap<&str, &RawValue> = serde_json::from_slice(&json)
        .map_err(|_| "the row does not serialize to a JSON object".to_owned())?;
    for (index, (column, kind)) in R::COLUMNS.iter().zip(kinds).enumerate() {
        if index > 0 {
            out.push(b'\t');
        }
        let raw = fields.get(column).map_or("null", |value| value.get());
        encode_value(out, column, *kind, raw)?;
    }
    out.push(b'\n');
    Ok(())
}

/// One column's value, given as JSON text.
fn encode_value(
    out: &mut Vec<u8>,
    column: &str,
    kind: ColumnKind,
    raw: &str,
) -> Result<(), String> {
    let bad = |what: &str| format!("column {column}: {what}");
    if raw == "null" {
        out.extend_from_slice(b"\\N");
        return Ok(());
    }
    match kind {
        // Compact JSON as serde_json writes it: what `jsonb` reads.
        ColumnKind::Json => escape_into(out, raw.as_bytes()),
        ColumnKind::Array => {
            let items: Vec<&RawValue> =
                serde_json::from_str(raw).map_err(|_| bad("expects an array"))?;
            let mut literal = Vec::with_capacity(2 + items.len() * 40);
            literal.push(b'{');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    literal.push(b',');
                }
                match scalar(item.get()).map_err(|_| bad("nested values are not supported"))? {
                    ColumnText::Null => literal.extend_from_slice(b"NULL"),
                    ColumnText::Text(text) => quoted_element(&mut literal, &text),
                    ColumnText::Plain(text) => literal.extend_from_slice(text.as_bytes()),
                }
            }
            literal.push(b'}');
            escape_into(out, &literal);
        }
        ColumnKind::Scalar => {
            match scalar(raw).map_err(|_| bad("cannot hold a JSON object or array"))? {
                ColumnText::Null => out.extend_from_slice(b"\\N"),
                ColumnText::Text(text) => escape_into(out, text.as_bytes()),
                ColumnText::Plain(text) => out.extend_from_slice(text.as_bytes()),
            }
        }
    }
    Ok(())
}

/// A JSON scalar as column text.
enum ColumnText<'a> {
    Null,
    /// A string, unescaped.
    Text(Cow<'a, str>),
    /// A number as written, or `t`/`f`.
    Plain(&'a str),
}

fn scalar(raw: &str) -> Result<ColumnText<'_>, ()> {
    match raw.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<Cow<'_, str>>(raw)
            .map(ColumnText::Text)
            .map_err(|_| ()),
        Some(b'{' | b'[') | None => Err(()),
        _ => Ok(match raw {
            "null" => ColumnText::Null,
            "true" => ColumnText::Plain("t"),
            "false" => ColumnText::Plain("f"),
            number => ColumnText::Plain(number),
        }),
    }
}

/// An array element in double quotes, with `"` and `\` escaped.
fn quoted_element(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    for byte in text.bytes() {
        if byte == b'"' || byte == b'\\' {
            out.push(b'\\');
        }
        out.push(byte);
    }
    out.push(b'"');
}

/// COPY text escaping: backslash, newline, carriage return and tab.
fn escape_into(out: &mut Vec<u8>, text: &[u8]) {
    for &byte in text {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(byte),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(kind: ColumnKind, value: serde_json::Value) -> String {
        let mut out = Vec::new();
        encode_value(&mut out, "c", kind, &value.to_string()).unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn values_render_as_copy_text() {
        assert_eq!(encoded(ColumnKind::Scalar, serde_json::Value::Null), "\\N");
        assert_eq!(
            encoded(ColumnKind::Scalar, serde_json::json!("a\tb\nc\\d")),
            "a\\tb\\nc\\\\d"
        );
        assert_eq!(encoded(ColumnKind::Scalar, serde_json::json!(42)), "42");
        assert_eq!(encoded(ColumnKind::Scalar, serde_json::json!(true)), "t");
        assert_eq!(
            encoded(ColumnKind::Json, serde_json::json!({"k": "line\nbreak"})),
            "{\"k\":\"line\\\\nbreak\"}"
        );
        assert_eq!(
            encoded(ColumnKind::Array, serde_json::json!(["a", "b\"c", "d\\e"])),
            "{\"a\",\"b\\\\\"c\",\"d\\\\\\\\e\"}"
        );
        assert_eq!(encoded(ColumnKind::Array, serde_json::json!([])), "{}");
        assert_eq!(
            encoded(ColumnKind::Array, serde_json::json!([1, null])),
            "{1,NULL}"
        );
        let mut out = Vec::new();
        assert!(encode_value(&mut out, "c", ColumnKind::Scalar, "{\"a\":1}").is_err());
        assert!(encode_value(&mut out, "c", ColumnKind::Array, "[[1]]").is_err());
    }

    #[test]
    fn type_names_map_to_kinds() {
        assert_eq!(kind_of("uuid[]"), ColumnKind::Array);
        assert_eq!(kind_of("text[]"), ColumnKind::Array);
        assert_eq!(kind_of("jsonb"), ColumnKind::Json);
        assert_eq!(kind_of("numeric(20,3)"), ColumnKind::Scalar);
        assert_eq!(kind_of("timestamp with time zone"), ColumnKind::Scalar);
    }
}
