//! Every resource object the API returns carries `id` (API.md, second round),
//! beside its older `<kind>_id` field, which stays for existing clients.
//!
//! The read-model rows are stored as JSON by `alertledger-projections`, so the
//! field is added here, on the way out, rather than to the rows themselves.

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// A row with its `id` first, then every field of the row.
#[derive(Debug, Serialize)]
pub struct WithId<T> {
    pub id: Uuid,
    #[serde(flatten)]
    pub row: T,
}

impl<T> WithId<T> {
    pub fn new(id: Uuid, row: T) -> Self {
        Self { id, row }
    }
}

/// `object` with `"id"` set to the value of its `kind_field` (e.g.
/// `alert_id`); anything else is returned as it was.
pub fn with_id(mut object: Value, kind_field: &str) -> Value {
    if let Some(map) = object.as_object_mut() {
        if let Some(id) = map.get(kind_field).cloned() {
            map.insert("id".to_owned(), id);
        }
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_added_beside_the_kind_field() {
        let id = Uuid::new_v4();
        let value = with_id(serde_json::json!({ "alert_id": id, "x": 1 }), "alert_id");
        assert_eq!(value["id"], serde_json::json!(id));
        assert_eq!(value["alert_id"], serde_json::json!(id));
        let row = serde_json::to_value(WithId::new(id, serde_json::json!({ "alert_id": id })))
            .unwrap_or_default();
        assert_eq!(row["id"], row["alert_id"]);
    }
}
