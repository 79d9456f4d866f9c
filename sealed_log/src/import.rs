//! `events import`: a verified audit bundle's events into this
//! installation's log (docs/audit-bundle.md, "Importing a bundle").
//!
//! - Nothing is read from a bundle that does not verify (signature, tree,
//!   completeness: [`alertledger_seal::bundle::verify_bundle`]).
//! - An event's identity is its aggregate and sequence (`Alert/<id>#1`);
//!   payload, metadata, type, version and `recorded_at` are kept byte for
//!   byte (as `jsonb` renders them), so its sealed body digest here equals
//!   the one in the bundle.
//! - Events already here with the same identity and content are skipped
//!   (importing twice writes nothing); one with the same identity and other
//!   content refuses the whole import.
//! - Each aggregate's new events must continue what this installation holds
//!   (sequence n+1 after n), and the tenant must exist here or be registered
//!   by the bundle: a partial history is refused rather than half-applied.
//! - Everything is written in one transaction, in bundle order, so the new
//!   positions (this log's own) keep the bundle's order, and a refusal
//!   writes nothing. The transaction is recorded in `event_imports`, which
//!   tells process managers not to decide again on imported history.

use std::collections::HashMap;

use alertledger_seal::bundle::{verify_bundle, BundleError, BundleEvent, BundleFiles};
use alertledger_seal::PublicKey;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// The aggregate type of tenants and the event that registers one (names
/// from the domain, never retyped elsewhere).
const TENANT_AGGREGATE: &str = "Tenant";
const TENANT_REGISTERED: &str = "TenantRegistered";

/// Serialises imports (two at once could interleave their sequences).
const IMPORT_LOCK: i64 = 0x616c_6c65_6467_0001;

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub tenant_id: Uuid,
    /// Events in the bundle.
    pub events: u64,
    /// Newly written here.
    pub written: u64,
    /// Already here, identical (skipped).
    pub present: u64,
    /// The positions this installation gave the written events.
    pub first_position: Option<i64>,
    pub last_position: Option<i64>,
    /// The bundle's checkpoint.
    pub source_tree_size: u64,
    pub source_key_id: String,
}

/// Why nothing was imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the bundle does not verify: {0}")]
    Unverified(#[from] BundleError),
    #[error("events.ndjson line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    #[error("event {id} is already here with other content ({what} differs): refusing to import a conflicting history")]
    Conflict { id: String, what: &'static str },
    #[error("event {id} does not continue this installation's history of {aggregate} (expected sequence {expected}); import a bundle exported from the start (no --from), or the missing range first")]
    Gap {
        id: String,
        aggregate: String,
        expected: i64,
    },
    #[error("tenant {0} does not exist here and the bundle does not register it; export it from the start (no --from) so its TenantRegistered event comes along")]
    UnknownTenant(Uuid),
    #[error("the bundle registers tenant {tenant} with slug {slug:?}, which tenant {holder} already uses here")]
    SlugTaken {
        tenant: Uuid,
        slug: String,
        holder: Uuid,
    },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Verifies `files` (against `pinned`, or the bundle's own key when `None`)
/// and imports its events; see the module doc for the rules.
pub async fn import(
    pool: &PgPool,
    files: &BundleFiles,
    pinned: Option<&PublicKey>,
) -> Result<ImportReport, ImportError> {
    let verified = verify_bundle(files, pinned)?;
    let events = parse_events(&files.events)?;
    let tenant = verified.tenant_id;

    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(IMPORT_LOCK)
        .execute(&mut *tx)
        .await?;

    // The tenant must be registered here, or by the bundle.
    let registered_here: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events WHERE aggregate_type = $1 AND aggregate_id = $2)",
    )
    .bind(TENANT_AGGREGATE)
    .bind(tenant.to_string())
    .fetch_one(&mut *tx)
    .await?;
    let registers = |event: &BundleEvent| {
        event.aggregate_type == TENANT_AGGREGATE
            && event.event_type == TENANT_REGISTERED
            && event.aggregate_id == tenant.to_string()
    };
    if !registered_here && !events.iter().any(registers) {
        return Err(ImportError::UnknownTenant(tenant));
    }

    // What is already here of the bundle's aggregates: (type, id) -> max sequence.
    let mut next_sequence: HashMap<(String, String), i64> = HashMap::new();
    let mut to_write = Vec::new();
    let mut present = 0_u64;
    for event in &events {
        let key = (event.aggregate_type.clone(), event.aggregate_id.clone());
        if !next_sequence.contains_key(&key) {
            let stored: Option<i64> = sqlx::query_scalar(
                "SELECT max(sequence) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
            )
            .bind(&key.0)
            .bind(&key.1)
            .fetch_one(&mut *tx)
            .await?;
            next_sequence.insert(key.clone(), stored.unwrap_or(0) + 1);
        }
        let expected = next_sequence[&key];
        if event.sequence < expected {
            compare_with_stored(&mut tx, event).await?;
            present += 1;
            continue;
        }
        if event.sequence != expected {
            return Err(ImportError::Gap {
                id: event_id(event),
                aggregate: format!("{}/{}", event.aggregate_type, event.aggregate_id),
                expected,
            });
        }
        next_sequence.insert(key, expected + 1);
        to_write.push(event);
    }

    if let Some(registration) = to_write.iter().find(|event| registers(event)) {
        claim_slug(&mut tx, tenant, registration).await?;
    }

    let mut first_position = None;
    let mut last_position = None;
    for event in &to_write {
        let recorded_at =
            DateTime::<Utc>::from_timestamp_micros(event.recorded_at_us).ok_or_else(|| {
                ImportError::Malformed {
                    line: line_of(&events, event),
                    reason: "recorded_at_us is out of range".to_owned(),
                }
            })?;
        // One row at a time: each takes the next position, so positions
        // follow the bundle's order exactly.
        let position: i64 = sqlx::query_scalar(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                                 payload, metadata, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8)
             RETURNING position",
        )
        .bind(&event.aggregate_type)
        .bind(&event.aggregate_id)
        .bind(event.sequence)
        .bind(&event.event_type)
        .bind(&event.event_version)
        .bind(&event.payload)
        .bind(&event.metadata)
        .bind(recorded_at)
        .fetch_one(&mut *tx)
        .await?;
        first_position.get_or_insert(position);
        last_position = Some(position);
    }
    // The bundle was verified, but its text is stored as `jsonb`: if that
    // rendered any payload differently, the event would not be the one
    // sealed there. Checked before committing, so nothing is kept if so.
    for event in &to_write {
        compare_with_stored(&mut tx, event).await?;
    }

    if let (Some(first), Some(last)) = (first_position, last_position) {
        sqlx::query(
            "INSERT INTO event_imports (tenant_id, events_written, events_present,
                 source_tree_size, source_root_hash, source_key_id,
                 source_first_position, source_last_position, first_position, last_position)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(tenant)
        .bind(to_i64(to_write.len() as u64))
        .bind(to_i64(present))
        .bind(to_i64(verified.tree_size))
        .bind(verified.root_hash.to_string())
        .bind(&verified.key_id)
        .bind(verified.first_position)
        .bind(verified.last_position)
        .bind(first)
        .bind(last)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    if first_position.is_some() {
        // Wake the tailers of running services (a hint; they poll anyway).
        let _ = sqlx::query("SELECT pg_notify($1, '')")
            .bind(alertledger_eventstore::log::LOG_CHANNEL)
            .execute(pool)
            .await;
    }
    Ok(ImportReport {
        tenant_id: tenant,
        events: events.len() as u64,
        written: to_write.len() as u64,
        present,
        first_position,
        last_position,
        source_tree_size: verified.tree_size,
        source_key_id: verified.key_id,
    })
}

/// `Alert/<id>#<sequence>`, as quarantine records name events.
fn event_id(event: &BundleEvent) -> String {
    format!(
        "{}/{}#{}",
        event.aggregate_type, event.aggregate_id, event.sequence
    )
}

fn parse_events(text: &str) -> Result<Vec<BundleEvent>, ImportError> {
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|error| ImportError::Malformed {
                line: index + 1,
                reason: error.to_string(),
            })
        })
        .collect()
}

fn line_of(events: &[BundleEvent], event: &BundleEvent) -> usize {
    events
        .iter()
        .position(|candidate| std::ptr::eq(candidate, event))
        .map_or(0, |index| index + 1)
}

/// Requires the stored event with `event`'s identity to have its content.
async fn compare_with_stored(
    tx: &mut sqlx::PgConnection,
    event: &BundleEvent,
) -> Result<(), ImportError> {
    let row = sqlx::query(
        "SELECT event_type, event_version, payload::text AS payload, metadata::text AS metadata,
                recorded_at, tenant_id
           FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
    )
    .bind(&event.aggregate_type)
    .bind(&event.aggregate_id)
    .bind(event.sequence)
    .fetch_one(&mut *tx)
    .await?;
    let recorded_at: DateTime<Utc> = row.try_get("recorded_at")?;
    let differs = if row.try_get::<String, _>("event_type")? != event.event_type {
        Some("event type")
    } else if row.try_get::<String, _>("event_version")? != event.event_version {
        Some("event version")
    } else if row.try_get::<String, _>("payload")? != event.payload {
        Some("payload")
    } else if row.try_get::<String, _>("metadata")? != event.metadata {
        Some("metadata")
    } else if recorded_at.timestamp_micros() != event.recorded_at_us {
        Some("recorded_at")
    } else if row.try_get::<Uuid, _>("tenant_id")? != event.tenant_id {
        Some("tenant")
    } else {
        None
    };
    match differs {
        Some(what) => Err(ImportError::Conflict {
            id: event_id(event),
            what,
        }),
        None => Ok(()),
    }
}

/// Claims the registered slug here (as `POST /tenants` does), refusing one
/// another tenant of this installation holds.
async fn claim_slug(
    tx: &mut sqlx::PgConnection,
    tenant: Uuid,
    registration: &BundleEvent,
) -> Result<(), ImportError> {
    let payload: serde_json::Value =
        serde_json::from_str(&registration.payload).map_err(|error| ImportError::Malformed {
            line: 0,
            reason: format!("TenantRegistered payload: {error}"),
        })?;
    let Some(slug) = payload
        .pointer("/TenantRegistered/slug")
        .and_then(serde_json::Value::as_str)
    else {
        return Err(ImportError::Malformed {
            line: 0,
            reason: "TenantRegistered has no slug".to_owned(),
        });
    };
    sqlx::query(
        "INSERT INTO tenant_slugs (slug, tenant_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(slug)
    .bind(tenant)
    .execute(&mut *tx)
    .await?;
    let holder: Uuid = sqlx::query_scalar("SELECT tenant_id FROM tenant_slugs WHERE slug = $1")
        .bind(slug)
        .fetch_one(&mut *tx)
        .await?;
    if holder != tenant {
        return Err(ImportError::SlugTaken {
            tenant,
            slug: slug.to_owned(),
            holder,
        });
    }
    Ok(())
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
