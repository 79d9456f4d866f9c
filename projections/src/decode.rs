//! Reading the parts of a log event that read models fold, with errors that
//! name the event (so the projector stops there instead of skipping it).

use std::collections::{BTreeSet, HashMap};

use serde::de::DeserializeOwned;
use sqlx::PgConnection;
use uuid::Uuid;

use alertledger_eventstore::consumer::rows::{load, ReadModelRow};
use alertledger_eventstore::consumer::{ConsumerError, Target};
use alertledger_eventstore::log::LogEvent;

/// The event's payload as the aggregate's event enum.
pub(crate) fn payload<T: DeserializeOwned>(event: &LogEvent) -> Result<T, ConsumerError> {
    event
        .payload_as()
        .map_err(|error| ConsumerError::event(event, format!("unreadable payload: {error}")))
}

/// The fields of an externally tagged payload (`{"Variant": {fields}}` →
/// `{fields}`), as they are stored.
pub(crate) fn payload_fields(event: &LogEvent) -> Result<serde_json::Value, ConsumerError> {
    let tagged: serde_json::Map<String, serde_json::Value> = event
        .payload_as()
        .map_err(|error| ConsumerError::event(event, format!("unreadable payload: {error}")))?;
    let mut variants = tagged.into_iter();
    match (variants.next(), variants.next()) {
        (Some((_, fields)), None) => Ok(fields),
        _ => Err(ConsumerError::event(
            event,
            "the payload is not one tagged event variant",
        )),
    }
}

/// The aggregate id, which for alerts and incidents is a UUID.
pub(crate) fn aggregate_uuid(event: &LogEvent) -> Result<Uuid, ConsumerError> {
    Uuid::try_parse(&event.aggregate_id).map_err(|_| {
        ConsumerError::event(
            event,
            format!("aggregate id {:?} is not a UUID", event.aggregate_id),
        )
    })
}

/// The `actor` of the event's metadata (`user:<id>`, `api_key:<id>`,
/// `worker:<name>`), if it names one.
pub(crate) fn metadata_actor(event: &LogEvent) -> Option<String> {
    event
        .metadata_as::<HashMap<String, serde_json::Value>>()
        .ok()?
        .remove("actor")?
        .as_str()
        .map(str::to_owned)
}

/// Checks that an event about an existing row belongs to the row's tenant.
pub(crate) fn same_tenant(event: &LogEvent, row_tenant: Uuid) -> Result<(), ConsumerError> {
    if event.tenant_id == row_tenant {
        Ok(())
    } else {
        Err(ConsumerError::event(
            event,
            format!(
                "tenant {} differs from the tenant {row_tenant} the row belongs to",
                event.tenant_id
            ),
        ))
    }
}

/// The rows one per aggregate (alerts, incidents) that a batch touches: every
/// event's aggregate id in order, and the stored rows among them, by id.
/// `key_column` is the table's key (the aggregate's UUID); `id_of` reads it
/// back from a row.
pub(crate) async fn rows_of_aggregates<R: ReadModelRow>(
    conn: &mut PgConnection,
    target: &Target,
    events: &[LogEvent],
    key_column: &str,
    id_of: fn(&R) -> Uuid,
) -> Result<(BTreeSet<Uuid>, HashMap<Uuid, R>), ConsumerError> {
    let mut ids = BTreeSet::new();
    for event in events {
        ids.insert(aggregate_uuid(event)?);
    }
    let keys: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| serde_json::json!({ key_column: id }))
        .collect();
    let rows = load::<R>(conn, target, &keys)
        .await?
        .into_iter()
        .map(|row| (id_of(&row), row))
        .collect();
    Ok((ids, rows))
}
