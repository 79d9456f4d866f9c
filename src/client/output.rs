//! Printing answers as `--output` asks: the API's JSON body as it came
//! (`json`), or a table of the useful fields (`table`).

use std::io::Write;

use serde_json::Value;

use super::table::{self, Column};
use super::ClientError;
use crate::cli::OutputFormat;

/// A list answer (`{"items", "next_cursor"}`) under `columns`; the next
/// page's cursor goes to stderr so the table stays clean for `grep`.
pub fn list(format: OutputFormat, page: &Value, columns: &[Column]) -> Result<(), ClientError> {
    match format {
        OutputFormat::Json => json(page),
        OutputFormat::Table => {
            let items = page
                .get("items")
                .and_then(Value::as_array)
                .ok_or_else(|| ClientError::Unexpected("the list answer has no `items`".into()))?;
            write(&table::render(columns, items))?;
            if let Some(cursor) = page.get("next_cursor").and_then(Value::as_str) {
                note(&format!("more: run again with --cursor {cursor}"));
            }
            Ok(())
        }
    }
}

/// One resource as `field  value` lines, then `extra` (e.g. a timeline).
pub fn record(
    format: OutputFormat,
    item: &Value,
    fields: &[Column],
    extra: Option<String>,
) -> Result<(), ClientError> {
    match format {
        OutputFormat::Json => json(item),
        OutputFormat::Table => {
            let mut text = table::render_record(fields, item);
            if let Some(extra) = extra {
                text.push('\n');
                text.push_str(&extra);
            }
            write(&text)
        }
    }
}

/// The answer to a command: a sentence in a table's place.
pub fn done(format: OutputFormat, answer: &Value, sentence: &str) -> Result<(), ClientError> {
    match format {
        OutputFormat::Json => json(answer),
        OutputFormat::Table => write(&format!("{sentence}\n")),
    }
}

/// The JSON body as is, one document per line.
pub fn json(value: &Value) -> Result<(), ClientError> {
    write(&format!("{value}\n"))
}

/// Writes to stdout and flushes (a pipe to `head` may close: not an error
/// worth a panic, but nothing more can be printed either).
pub fn write(text: &str) -> Result<(), ClientError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|error| ClientError::Unexpected(format!("cannot write to stdout: {error}")))
}

/// A remark for the person, on stderr.
#[allow(clippy::print_stderr)]
pub fn note(text: &str) {
    eprintln!("{text}");
}
