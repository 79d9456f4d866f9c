//! `--output table`: aligned columns of the fields an operator looks at,
//! picked from the API's JSON by name. Values are shown as they come, except
//! that times lose their sub-seconds and nested values are shortened.

use serde_json::Value;

/// One column: its header and where its value is in an item (a key, or a
/// JSON pointer such as `/resolution/kind`).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub field: &'static str,
}

pub const fn column(header: &'static str, field: &'static str) -> Column {
    Column { header, field }
}

/// The longest a cell may be before it is cut (messages can be long).
const MAX_CELL: usize = 60;

/// Renders `items` under `columns`, two spaces between columns, one line per
/// item; "(none)" under the headers when there is nothing.
pub fn render(columns: &[Column], items: &[Value]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| columns.iter().map(|c| cell(item, c.field)).collect())
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.header.chars().count()).collect();
    for row in &rows {
        for (width, text) in widths.iter_mut().zip(row) {
            *width = (*width).max(text.chars().count());
        }
    }
    let mut out = String::new();
    let headers: Vec<String> = columns.iter().map(|c| c.header.to_owned()).collect();
    push_line(&mut out, &headers, &widths);
    for row in &rows {
        push_line(&mut out, row, &widths);
    }
    if rows.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

/// Renders one object as `field  value` lines.
pub fn render_record(fields: &[Column], item: &Value) -> String {
    let width = fields
        .iter()
        .map(|f| f.header.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for field in fields {
        let value = cell(item, field.field);
        out.push_str(&format!("{:<width$}  {value}\n", field.header));
    }
    out
}

fn push_line(out: &mut String, cells: &[String], widths: &[usize]) {
    let mut line = String::new();
    for (index, (text, width)) in cells.iter().zip(widths).enumerate() {
        if index + 1 == cells.len() {
            line.push_str(text);
        } else {
            line.push_str(&format!("{text:<width$}  "));
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// The text of `field` in `item`: `-` when absent or null.
pub fn cell(item: &Value, field: &str) -> String {
    let value = if field.starts_with('/') {
        item.pointer(field)
    } else {
        item.get(field)
    };
    let text = match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(text)) => short_time(text).unwrap_or_else(|| text.clone()),
        Some(Value::Array(values)) if values.is_empty() => "-".to_owned(),
        Some(Value::Array(values)) => values
            .iter()
            .map(|value| match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    };
    // Control characters (a newline in a message) would break the columns.
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > MAX_CELL {
        let cut: String = text.chars().take(MAX_CELL - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// `2026-11-22T03:07:32.123456Z` → `2026-11-22 03:07:32Z`; `None` for other text.
fn short_time(text: &str) -> Option<String> {
    if text.len() < 20 || text.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|time| {
        time.with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%SZ")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_are_aligned_under_their_headers() {
        let items = [
            json!({"id": "a", "status": "new", "at": "2026-11-22T03:07:32.5Z"}),
            json!({"id": "bbbb", "status": null, "at": "x"}),
        ];
        let text = render(
            &[
                column("ID", "id"),
                column("STATUS", "status"),
                column("AT", "at"),
            ],
            &items,
        );
        assert_eq!(
            text,
            "ID    STATUS  AT\na     new     2026-11-22 03:07:32Z\nbbbb  -       x\n"
        );
    }

    #[test]
    fn an_empty_list_says_so() {
        assert_eq!(render(&[column("ID", "id")], &[]), "ID\n(none)\n");
    }

    #[test]
    fn nested_fields_are_found_by_pointer_and_long_text_is_cut() {
        let item = json!({"resolution": {"kind": "self_healed"}, "message": "x".repeat(100)});
        assert_eq!(cell(&item, "/resolution/kind"), "self_healed");
        assert_eq!(cell(&item, "message").chars().count(), MAX_CELL);
    }
}
