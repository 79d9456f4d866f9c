//! The audit trail: `audit_entries`, one row per event of every aggregate
//! (configuration changes included) saying who did what to what, and when.
//!
//! - [`AuditProjection`] — the projector (name `audit`): derives each entry from
//!   the event alone and appends the batch with one insert.
//! - [`list`] — the `GET /api/v1/audit` query: filters, newest first, with an
//!   opaque cursor.
//!
//! Secret material never reaches the table: fields that hold hashes,
//! ciphertexts or secrets are dropped from `details` (see [`is_secret_field`]).

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use alertledger_eventstore::consumer::rows::{self, ReadModelRow};
use alertledger_eventstore::consumer::{ConsumerError, LogConsumer, Target};
use alertledger_eventstore::log::LogEvent;

/// Entries per page unless the caller asks otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// The most entries one page may hold.
pub const MAX_LIMIT: usize = 500;

/// Keeps `audit_entries`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditProjection;

#[async_trait]
impl LogConsumer for AuditProjection {
    fn name(&self) -> &'static str {
        "audit"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["audit_entries"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        target: &Target,
        events: &[LogEvent],
    ) -> Result<(), ConsumerError> {
        let entries = events.iter().map(entry_of).collect::<Result<Vec<_>, _>>()?;
        rows::insert(conn, target, &entries).await
    }
}

/// One row of `audit_entries`, as stored and as served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub position: i64,
    /// When it happened (the event's `at`, else when it was recorded).
    pub at: DateTime<Utc>,
    pub tenant_id: Uuid,
    /// `user:<id>`, `api_key:<id>`, `worker:<name>`, `cli:<user>` or `system`.
    pub actor: String,
    /// The event type in snake_case, e.g. `incident_acknowledged`.
    pub action: String,
    /// `<aggregate type>:<aggregate id>`, e.g. `incident:<id>`.
    pub target: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The event's fields without secret material.
    pub details: Value,
}

impl ReadModelRow for AuditEntry {
    const TABLE: &'static str = "audit_entries";
    const KEY: &'static [&'static str] = &["position"];
    const COLUMNS: &'static [&'static str] = &[
        "position",
        "at",
        "tenant_id",
        "actor",
        "action",
        "target",
        "aggregate_type",
        "aggregate_id",
        "details",
    ];
}

/// Payload fields that name who acted, in the order they are looked for when
/// the metadata has no actor.
const PAYLOAD_ACTOR_FIELDS: &[&str] = &["actor", "resolved_by", "requested_by", "approver"];

/// The audit entry of one event. The payload must be an externally tagged
/// event (`{"Variant": {fields}}`); anything else stops the projector.
fn entry_of(event: &LogEvent) -> Result<AuditEntry, ConsumerError> {
    let payload: Map<String, Value> = event.payload_as().map_err(|error| {
        ConsumerError::event(event, format!("payload is not an object: {error}"))
    })?;
    let mut variants = payload.into_iter();
    let fields = match (variants.next(), variants.next()) {
        (Some((_, Value::Object(fields))), None) => fields,
        _ => {
            return Err(ConsumerError::event(
                event,
                "payload is not one event variant with its fields",
            ))
        }
    };
    // Metadata is a string map; a value of another type is ignored, not fatal.
    // Only the actor is read (no map is built for the rest).
    #[derive(Deserialize, Default)]
    struct Metadata {
        actor: Option<Value>,
    }
    let metadata: Metadata = event.metadata_as().unwrap_or_default();

    let at = fields
        .get("at")
        .and_then(Value::as_str)
        .and_then(|raw| DateTime::parse_from_rfc3339(raw).ok())
        .map_or(event.recorded_at, |at| at.with_timezone(&Utc));
    let actor = metadata
        .actor
        .as_ref()
        .and_then(Value::as_str)
        .filter(|actor| !actor.is_empty())
        .map(str::to_owned)
        .or_else(|| payload_actor(&fields))
        .unwrap_or_else(|| "system".to_owned());

    Ok(AuditEntry {
        position: event.position,
        // PostgreSQL keeps microseconds; the row must equal what is read back.
        at: at.trunc_subsecs(6),
        tenant_id: event.tenant_id,
        actor,
        action: snake_case(&event.event_type),
        target: format!(
            "{}:{}",
            snake_case(&event.aggregate_type),
            event.aggregate_id
        ),
        aggregate_type: event.aggregate_type.clone(),
        aggregate_id: event.aggregate_id.clone(),
        details: Value::Object(without_secrets(fields)),
    })
}

/// `user:<id>` of the first actor the payload names (`Actor` is serialized as
/// `{"user_id", "name", "role"}`).
fn payload_actor(fields: &Map<String, Value>) -> Option<String> {
    PAYLOAD_ACTOR_FIELDS.iter().find_map(|field| {
        fields
            .get(*field)
            .and_then(|actor| actor.get("user_id"))
            .and_then(Value::as_str)
            .map(|user_id| format!("user:{user_id}"))
    })
}

/// Whether a field holds secret material that must not be shown to anyone
/// reading the audit trail (e.g. `ApiKeyIssued.key_hash`: a hash of a
/// high-entropy key is as good as the key for matching it).
/// Identifiers of secrets (`secret_id`, `key_id`) are not secret.
pub fn is_secret_field(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "hash",
        "secret",
        "ciphertext",
        "nonce",
        "api_key",
        "password",
        "token",
        "private_key",
    ];
    const SUFFIXES: &[&str] = &[
        "_hash",
        "_secret",
        "_ciphertext",
        "_nonce",
        "_password",
        "_token",
        "_private_key",
    ];
    // Compared case-insensitively in place: this runs for every field of
    // every event, so it allocates nothing.
    let name = name.as_bytes();
    EXACT
        .iter()
        .any(|exact| name.eq_ignore_ascii_case(exact.as_bytes()))
        || SUFFIXES.iter().any(|suffix| {
            name.len() >= suffix.len()
                && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
        })
}

/// `fields` with every secret field removed, at any depth.
fn without_secrets(mut fields: Map<String, Value>) -> Map<String, Value> {
    scrub_fields(&mut fields);
    fields
}

/// Removes secret fields in place (no map is rebuilt).
fn scrub_fields(fields: &mut Map<String, Value>) {
    fields.retain(|name, _| !is_secret_field(name));
    for value in fields.values_mut() {
        scrub(value);
    }
}

fn scrub(value: &mut Value) {
    match value {
        Value::Object(fields) => scrub_fields(fields),
        Value::Array(items) => items.iter_mut().for_each(scrub),
        _ => {}
    }
}

/// `IncidentAcknowledged` → `incident_acknowledged`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (index, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if index > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// What `GET /api/v1/audit` asks for. Every filter is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only these tenants (`None`: every tenant).
    pub tenants: Option<Vec<Uuid>>,
    /// Exact actor, e.g. `user:u-7`.
    pub actor: Option<String>,
    /// Exact action, e.g. `incident_acknowledged`.
    pub action: Option<String>,
    /// Entries at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Entries at or before this time.
    pub to: Option<DateTime<Utc>>,
    /// Page size ([`DEFAULT_LIMIT`] when `None`; at most [`MAX_LIMIT`]).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Where the next (older) page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Why a page could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The cursor was not one [`list`] handed out.
    #[error("the cursor is malformed")]
    InvalidCursor,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// The entries matching `query`, newest (highest position) first.
pub async fn list(pool: &PgPool, query: &AuditQuery) -> Result<AuditPage, AuditError> {
    let before = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);

    let table = Target::live().table(AuditEntry::TABLE);
    let mut sql: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT to_jsonb(a) FROM {table} a WHERE true"));
    // Only the filters present become conditions, so each query can use the
    // index that fits it.
    if let Some(tenants) = &query.tenants {
        sql.push(" AND a.tenant_id = ANY(")
            .push_bind(tenants.clone())
            .push(")");
    }
    if let Some(actor) = &query.actor {
        sql.push(" AND a.actor = ").push_bind(actor.clone());
    }
    if let Some(action) = &query.action {
        sql.push(" AND a.action = ").push_bind(action.clone());
    }
    if let Some(from) = query.from {
        sql.push(" AND a.at >= ").push_bind(from);
    }
    if let Some(to) = query.to {
        sql.push(" AND a.at <= ").push_bind(to);
    }
    if let Some(before) = before {
        sql.push(" AND a.position < ").push_bind(before);
    }
    // One more than asked tells whether another page follows.
    sql.push(" ORDER BY a.position DESC LIMIT ")
        .push_bind(i64::try_from(limit + 1).unwrap_or(i64::MAX));

    let rows: Vec<Json<AuditEntry>> = sql.build_query_scalar().fetch_all(pool).await?;
    let mut items: Vec<AuditEntry> = rows.into_iter().map(|Json(entry)| entry).collect();
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| encode_cursor(last.position))
    } else {
        None
    };
    Ok(AuditPage { items, next_cursor })
}

/// The opaque cursor after `position`: base64url of its decimal digits.
fn encode_cursor(position: i64) -> String {
    URL_SAFE_NO_PAD.encode(position.to_string())
}

fn decode_cursor(cursor: &str) -> Result<i64, AuditError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|digits| digits.parse::<i64>().ok())
        .filter(|position| *position > 0)
        .ok_or(AuditError::InvalidCursor)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn event_types_become_snake_case_actions() {
        assert_eq!(snake_case("IncidentAcknowledged"), "incident_acknowledged");
        assert_eq!(
            snake_case("CorrelationPolicyChanged"),
            "correlation_policy_changed"
        );
        assert_eq!(snake_case("Tenant"), "tenant");
    }

    #[test]
    fn hashes_and_secrets_are_secret_but_their_ids_are_not() {
        for secret in ["key_hash", "secret", "secret_ciphertext", "nonce", "Token"] {
            assert!(is_secret_field(secret), "{secret}");
        }
        for public in ["key_id", "secret_id", "label", "required", "subscribe_url"] {
            assert!(!is_secret_field(public), "{public}");
        }
    }

    #[test]
    fn secrets_are_removed_at_any_depth() {
        let fields = serde_json::json!({
            "key_id": "k",
            "key_hash": "ab",
            "config": { "role_arn": "arn", "secret": "s", "items": [{ "nonce": "n", "x": 1 }] }
        });
        let Value::Object(fields) = fields else {
            unreachable!()
        };
        assert_eq!(
            Value::Object(without_secrets(fields)),
            serde_json::json!({ "key_id": "k", "config": { "role_arn": "arn", "items": [{ "x": 1 }] } })
        );
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(12_345)).unwrap(), 12_345);
        for bad in ["", "!!", "bm90LWEtbnVtYmVy", &URL_SAFE_NO_PAD.encode("-3")] {
            assert!(matches!(decode_cursor(bad), Err(AuditError::InvalidCursor)));
        }
    }
}
