//! Reading a vendor's JSON object field by field, with errors that name the
//! field by its full path (`alerts[1].labels.severity`) so whoever owns the
//! tool's configuration can fix it: a missing field is 400 `missing_field`, a
//! present but unusable one 422 `invalid_value`.

use std::collections::BTreeMap;

use alertledger_domain::values::ValueError;
use serde_json::{json, Map, Value};

use crate::error::ApiError;

/// One JSON object and the path it sits at (empty, or ending in `.`).
#[derive(Debug, Clone)]
pub(super) struct Fields<'a> {
    object: &'a Map<String, Value>,
    path: String,
}

impl<'a> Fields<'a> {
    /// The body's top-level object, or 400.
    pub(super) fn root(body: &'a Value) -> Result<Self, ApiError> {
        match body {
            Value::Object(object) => Ok(Self::at(object, String::new())),
            _ => Err(ApiError::bad_request(
                "malformed_body",
                "the body must be a JSON object",
            )),
        }
    }

    /// An object found at `path` (a prefix such as `[2].`).
    pub(super) fn at(object: &'a Map<String, Value>, path: String) -> Self {
        Self { object, path }
    }

    /// The full path of one of this object's fields.
    pub(super) fn name(&self, field: &str) -> String {
        format!("{}{field}", self.path)
    }

    /// The field's value; JSON `null` counts as absent.
    pub(super) fn get(&self, field: &str) -> Option<&'a Value> {
        self.object.get(field).filter(|value| !value.is_null())
    }

    pub(super) fn required_str(&self, field: &str) -> Result<&'a str, ApiError> {
        self.optional_str(field)?.ok_or_else(|| self.missing(field))
    }

    pub(super) fn optional_str(&self, field: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(raw)) => Ok(Some(raw)),
            Some(_) => Err(self.invalid_message(field, "must be a string")),
        }
    }

    /// A string with something in it: tools' templates leave an empty string
    /// where a variable had no value, which means the same as absent.
    pub(super) fn non_empty_str(&self, field: &str) -> Result<Option<&'a str>, ApiError> {
        Ok(self
            .optional_str(field)?
            .filter(|raw| !raw.trim().is_empty()))
    }

    /// A string or a number, as text: a template variable lands as either
    /// depending on whether the template quoted it. Empty counts as absent.
    pub(super) fn text(&self, field: &str) -> Result<Option<String>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(raw)) if raw.trim().is_empty() => Ok(None),
            Some(Value::String(raw)) => Ok(Some(raw.trim().to_owned())),
            Some(Value::Number(number)) => Ok(Some(number.to_string())),
            Some(_) => Err(self.invalid_message(field, "must be a string or a number")),
        }
    }

    /// A nested object, if present.
    pub(super) fn object(&self, field: &str) -> Result<Option<Fields<'a>>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Object(object)) => Ok(Some(Self::at(object, self.name(field) + "."))),
            Some(_) => Err(self.invalid_message(field, "must be an object")),
        }
    }

    pub(super) fn required_object(&self, field: &str) -> Result<Fields<'a>, ApiError> {
        self.object(field)?.ok_or_else(|| self.missing(field))
    }

    /// A required array whose entries are all objects.
    pub(super) fn objects(&self, field: &str) -> Result<Vec<Fields<'a>>, ApiError> {
        let items = match self.get(field) {
            None => return Err(self.missing(field)),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(self.invalid_message(field, "must be an array")),
        };
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let path = format!("{}[{index}]", self.name(field));
                match item {
                    Value::Object(object) => Ok(Self::at(object, path + ".")),
                    _ => Err(invalid(&path, "must be an object")),
                }
            })
            .collect()
    }

    /// The object's entries, which must all be strings (labels, annotations).
    pub(super) fn string_map(&self) -> Result<BTreeMap<String, String>, ApiError> {
        self.object
            .iter()
            .map(|(key, value)| match value {
                Value::String(value) => Ok((key.clone(), value.clone())),
                _ => Err(self.invalid_message(key, "must be a string")),
            })
            .collect()
    }

    /// 400 naming a required field that is absent.
    pub(super) fn missing(&self, field: &str) -> ApiError {
        let name = self.name(field);
        ApiError::bad_request("missing_field", format!("missing field `{name}`"))
            .with_details(json!({ "field": name }))
    }

    /// 422 naming a field whose value a value type rejected.
    pub(super) fn invalid(&self, field: &str, error: &ValueError) -> ApiError {
        self.invalid_message(field, error.problem())
    }

    /// 422 naming a field and what is wrong with it.
    pub(super) fn invalid_message(&self, field: &str, problem: impl AsRef<str>) -> ApiError {
        invalid(&self.name(field), problem.as_ref())
    }
}

fn invalid(name: &str, problem: &str) -> ApiError {
    ApiError::invalid_value(name, format!("invalid `{name}`: {problem}"))
}
