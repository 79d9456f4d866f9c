//! The heartbeat checker: finds heartbeats past their deadline in the
//! `heartbeats` table (operational state the API updates once per beat) and
//! raises each one's alert through the ingest path's semantics — an
//! `AlertReceived` with signature `heartbeat_missed` that the correlator
//! places, notifies on and runs runbooks for like any alert — together with
//! `HeartbeatMissed`, in one transaction with the row's new status. When a
//! beat came after the miss, it records a resolved `AlertReceived` with the
//! same fingerprint, resolves the open alerts with that fingerprint (as a
//! tool's resolution does) and records `HeartbeatRecovered`.
//!
//! Deadlines come from the table, not from timers, so a heartbeat that went
//! overdue while no process ran is raised on the next start. One instance
//! runs per database (advisory lock); each heartbeat is decided under its
//! row lock, and the alert's delivery key is derived from the deadline, so
//! nothing is raised twice.

use std::collections::BTreeMap;
use std::time::Duration;

use alertledger_domain::alert::{Alert, AlertCommand};
use alertledger_domain::heartbeat::{
    alert_fingerprint, Heartbeat, HeartbeatCommand, HeartbeatName, HeartbeatStatus,
    MISSED_SIGNATURE,
};
use alertledger_domain::values::{
    AlertId, AlertMessage, AlertSignature, AlertStatus, AssetName, DeliveryKey, Fingerprint,
    HeartbeatId, Labels, Severity, TenantId, ToolSource, ValueError, WebhookSource,
};
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::try_instance_lock;
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::queries;
use alertledger_eventstore::store::EventMetadata;
use alertledger_eventstore::unit_of_work::{Loaded, UnitOfWork, UnitOfWorkError};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The checker's lock name and its actor in the audit trail.
pub const CHECKER: &str = "heartbeat-checker";

/// The tool the alerts of missed heartbeats are reported by.
const TOOL: &str = "heartbeat";

/// Most heartbeats decided per round (the rest wait for the next one).
const ROUND_LIMIT: i64 = 500;

/// Most open alerts one recovery resolves.
const MAX_OPEN_ALERTS: i64 = 100;

/// Why a heartbeat could not be decided.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Load(#[from] UnitOfWorkError),
    #[error("heartbeat {heartbeat_id}: {message}")]
    Rule { heartbeat_id: Uuid, message: String },
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckRound {
    /// Heartbeats found past their deadline (alert raised).
    pub missed: usize,
    /// Missed heartbeats that beat again (alert resolved).
    pub recovered: usize,
}

/// One heartbeat's stored row.
#[derive(Debug, sqlx::FromRow)]
struct HeartbeatRow {
    heartbeat_id: Uuid,
    tenant_id: Uuid,
    name: String,
    timeout_seconds: i32,
    asset: Option<String>,
    labels: Json<BTreeMap<String, String>>,
    last_seen_at: DateTime<Utc>,
    deadline: DateTime<Utc>,
    status: String,
    missed_last_seen_at: Option<DateTime<Utc>>,
    severity: String,
    paused: bool,
}

const COLUMNS: &str = "heartbeat_id, tenant_id, name, timeout_seconds, asset, labels, \
                       last_seen_at, deadline, status, missed_last_seen_at, severity, paused";

/// Looks for due heartbeats every `interval`; one instance per database.
pub struct HeartbeatChecker {
    pool: PgPool,
    signal: LogSignal,
    services: DomainServices,
    interval: Duration,
}

impl HeartbeatChecker {
    pub fn new(
        pool: PgPool,
        signal: LogSignal,
        services: DomainServices,
        interval: Duration,
    ) -> Self {
        Self {
            pool,
            signal,
            services,
            interval,
        }
    }

    /// Runs in the background until the handle is aborted.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(self) {
        let _instance_lock = loop {
            match try_instance_lock(&self.pool, CHECKER).await {
                Ok(Some(connection)) => break connection,
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "heartbeat checker cannot take its lock"),
            }
            tokio::time::sleep(self.interval).await;
        };
        loop {
            if let Err(error) = self.check_due().await {
                tracing::warn!(%error, "heartbeat checker round failed");
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// Raises the alert of every heartbeat past its deadline and resolves
    /// the alert of every missed heartbeat that beat again, as of the
    /// injected clock's now.
    pub async fn check_due(&self) -> Result<CheckRound, CheckError> {
        let now = self.services.now();
        let mut round = CheckRound::default();
        let due: Vec<Uuid> = sqlx::query_scalar(
            "SELECT heartbeat_id FROM heartbeats
              WHERE status = 'ok' AND deadline <= $1 AND NOT paused
              ORDER BY deadline LIMIT $2",
        )
        .bind(now)
        .bind(ROUND_LIMIT)
        .fetch_all(&self.pool)
        .await?;
        for heartbeat_id in due {
            match self.decide(heartbeat_id, now).await {
                Ok(Some(HeartbeatStatus::Missed)) => round.missed += 1,
                Ok(_) => {}
                // One heartbeat's trouble must not hold back the others.
                Err(error) => {
                    tracing::warn!(%heartbeat_id, %error, "cannot record a missed heartbeat")
                }
            }
        }
        let back: Vec<Uuid> = sqlx::query_scalar(
            "SELECT heartbeat_id FROM heartbeats
              WHERE status = 'missed' AND last_seen_at > missed_last_seen_at
              ORDER BY last_seen_at LIMIT $1",
        )
        .bind(ROUND_LIMIT)
        .fetch_all(&self.pool)
        .await?;
        for heartbeat_id in back {
            match self.decide(heartbeat_id, now).await {
                Ok(Some(HeartbeatStatus::Ok)) => round.recovered += 1,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%heartbeat_id, %error, "cannot record a recovered heartbeat")
                }
            }
        }
        Ok(round)
    }

    /// Decides one heartbeat under its row lock: the status it moved to,
    /// if it moved.
    async fn decide(
        &self,
        heartbeat_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<HeartbeatStatus>, CheckError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<HeartbeatRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM heartbeats WHERE heartbeat_id = $1 FOR UPDATE"
        ))
        .bind(heartbeat_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let moved = match HeartbeatStatus::parse(&row.status) {
            // A paused heartbeat raises no miss (its row stays, beats
            // still move its deadline).
            Some(HeartbeatStatus::Ok) if row.deadline <= now && !row.paused => {
                self.raise(&mut tx, &row, now).await?;
                Some(HeartbeatStatus::Missed)
            }
            Some(HeartbeatStatus::Missed)
                if row
                    .missed_last_seen_at
                    .is_some_and(|missed| row.last_seen_at > missed) =>
            {
                self.recover(&mut tx, &row, now).await?;
                Some(HeartbeatStatus::Ok)
            }
            // Beaten meanwhile, or decided by an earlier round.
            _ => None,
        };
        tx.commit().await?;
        if moved.is_some() {
            self.signal.appended();
        }
        Ok(moved)
    }

    /// Records the missed heartbeat's alert and `HeartbeatMissed`.
    async fn raise(
        &self,
        conn: &mut PgConnection,
        row: &HeartbeatRow,
        now: DateTime<Utc>,
    ) -> Result<(), CheckError> {
        let rule = |message: String| CheckError::Rule {
            heartbeat_id: row.heartbeat_id,
            message,
        };
        let value = |error: ValueError| rule(error.to_string());
        let tenant_id = TenantId::from_uuid(row.tenant_id);
        let name = HeartbeatName::parse(&row.name).map_err(value)?;
        let delivery_key = DeliveryKey::parse(&format!(
            "heartbeat:{name}:missed:{}",
            row.deadline.timestamp_micros()
        ))
        .map_err(value)?;
        let alert_id = AlertId::for_delivery(&tenant_id, &delivery_key);
        let message = AlertMessage::parse(&format!(
            "heartbeat {name} missed: no beat since {} (timeout {} s)",
            row.last_seen_at.to_rfc3339(),
            row.timeout_seconds
        ))
        .map_err(value)?;
        let receive = self.receipt(
            row,
            &name,
            (&delivery_key, alert_id),
            AlertStatus::Firing,
            message,
            row.deadline,
        )?;
        let mut work = UnitOfWork::default();
        let metadata = metadata(&delivery_key, alert_id);
        let mut alert = load::<Alert>(&work, conn, &alert_id.to_string()).await?;
        work.execute(
            &alert_id.to_string(),
            &mut alert,
            receive,
            &self.services,
            &metadata,
        )
        .await
        .map_err(|error| rule(error.to_string()))?;
        let id = row.heartbeat_id.to_string();
        let mut heartbeat = load::<Heartbeat>(&work, conn, &id).await?;
        work.execute(
            &id,
            &mut heartbeat,
            HeartbeatCommand::RecordMissed {
                last_seen_at: row.last_seen_at,
                deadline: row.deadline,
                alert_id,
            },
            &self.services,
            &metadata,
        )
        .await
        .map_err(|error| rule(error.to_string()))?;
        work.write(conn).await?;
        sqlx::query(
            "UPDATE heartbeats SET status = 'missed', missed_alert_id = $2,
                    missed_last_seen_at = last_seen_at, status_changed_at = $3
              WHERE heartbeat_id = $1",
        )
        .bind(row.heartbeat_id)
        .bind(alert_id.as_uuid())
        .bind(now)
        .execute(&mut *conn)
        .await?;
        tracing::info!(tenant_id = %row.tenant_id, heartbeat = %name, %alert_id, "heartbeat missed");
        Ok(())
    }

    /// Records the resolved alert, resolves the open ones with its
    /// fingerprint, and records `HeartbeatRecovered`.
    async fn recover(
        &self,
        conn: &mut PgConnection,
        row: &HeartbeatRow,
        now: DateTime<Utc>,
    ) -> Result<(), CheckError> {
        let rule = |message: String| CheckError::Rule {
            heartbeat_id: row.heartbeat_id,
            message,
        };
        let value = |error: ValueError| rule(error.to_string());
        let tenant_id = TenantId::from_uuid(row.tenant_id);
        let name = HeartbeatName::parse(&row.name).map_err(value)?;
        let seen_at = row.last_seen_at;
        let delivery_key = DeliveryKey::parse(&format!(
            "heartbeat:{name}:recovered:{}",
            seen_at.timestamp_micros()
        ))
        .map_err(value)?;
        let resolved_id = AlertId::for_delivery(&tenant_id, &delivery_key);
        let message = AlertMessage::parse(&format!(
            "heartbeat {name} recovered: beat at {}",
            seen_at.to_rfc3339()
        ))
        .map_err(value)?;
        let receive = self.receipt(
            row,
            &name,
            (&delivery_key, resolved_id),
            AlertStatus::Resolved,
            message,
            seen_at,
        )?;
        let mut work = UnitOfWork::default();
        let metadata = metadata(&delivery_key, resolved_id);
        let mut resolved = load::<Alert>(&work, conn, &resolved_id.to_string()).await?;
        work.execute(
            &resolved_id.to_string(),
            &mut resolved,
            receive,
            &self.services,
            &metadata,
        )
        .await
        .map_err(|error| rule(error.to_string()))?;
        // As a tool's resolution does: the open alerts of this fingerprint
        // are resolved as of the beat. All of them: each was raised for a
        // silence this beat ends (with clocks of two processes apart, the
        // beat can even be stamped before the missed alert's deadline).
        let open = queries::open_alerts_with_fingerprint(
            &mut *conn,
            row.tenant_id,
            fingerprint(row.heartbeat_id)?.as_str(),
            None,
            MAX_OPEN_ALERTS,
        )
        .await?;
        for alert_id in open {
            let mut alert = load::<Alert>(&work, conn, &alert_id).await?;
            let resolve = AlertCommand::ResolveAlertFromSource {
                resolved_at: seen_at,
                delivery_key: Some(delivery_key.clone()),
            };
            let metadata = EventMetadata {
                correlation_id: Some(alert_id.clone()),
                ..metadata.clone()
            };
            work.execute(&alert_id, &mut alert, resolve, &self.services, &metadata)
                .await
                .map_err(|error| rule(error.to_string()))?;
        }
        let id = row.heartbeat_id.to_string();
        let mut heartbeat = load::<Heartbeat>(&work, conn, &id).await?;
        work.execute(
            &id,
            &mut heartbeat,
            HeartbeatCommand::RecordRecovered {
                seen_at,
                resolved_by: resolved_id,
            },
            &self.services,
            &metadata,
        )
        .await
        .map_err(|error| rule(error.to_string()))?;
        work.write(conn).await?;
        sqlx::query(
            "UPDATE heartbeats SET status = 'ok', missed_alert_id = NULL,
                    missed_last_seen_at = NULL, status_changed_at = $2
              WHERE heartbeat_id = $1",
        )
        .bind(row.heartbeat_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        tracing::info!(tenant_id = %row.tenant_id, heartbeat = %name, "heartbeat recovered");
        Ok(())
    }

    /// The receipt of the heartbeat's alert, as a monitoring tool's would
    /// be normalized: asset = the heartbeat's asset or its name, its
    /// labels, its fingerprint.
    fn receipt(
        &self,
        row: &HeartbeatRow,
        name: &HeartbeatName,
        (delivery_key, alert_id): (&DeliveryKey, AlertId),
        status: AlertStatus,
        message: AlertMessage,
        occurred_at: DateTime<Utc>,
    ) -> Result<AlertCommand, CheckError> {
        let value = |error: ValueError| CheckError::Rule {
            heartbeat_id: row.heartbeat_id,
            message: error.to_string(),
        };
        let asset =
            AssetName::parse(row.asset.as_deref().unwrap_or(name.as_str())).map_err(value)?;
        Ok(AlertCommand::ReceiveAlert {
            alert_id,
            tenant_id: TenantId::from_uuid(row.tenant_id),
            delivery_key: delivery_key.clone(),
            source: WebhookSource::Heartbeat,
            asset,
            signature: AlertSignature::parse(MISSED_SIGNATURE).map_err(value)?,
            severity: Severity::parse(&row.severity).map_err(value)?,
            message,
            tool_source: ToolSource::parse(TOOL).map_err(value)?,
            status,
            labels: Labels::new(row.labels.0.clone()).map_err(value)?,
            occurred_at,
            fingerprint: fingerprint(row.heartbeat_id)?,
            asset_known: false,
            normalization_warnings: Vec::new(),
        })
    }
}

/// The fingerprint every alert of one heartbeat shares (missed and resolved).
fn fingerprint(heartbeat_id: Uuid) -> Result<Fingerprint, CheckError> {
    alert_fingerprint(HeartbeatId::from_uuid(heartbeat_id)).map_err(|error| CheckError::Rule {
        heartbeat_id,
        message: error.to_string(),
    })
}

fn metadata(delivery_key: &DeliveryKey, alert_id: AlertId) -> EventMetadata {
    EventMetadata {
        actor: Some(format!("worker:{CHECKER}")),
        delivery_key: Some(delivery_key.as_str().to_owned()),
        correlation_id: Some(alert_id.to_string()),
        ..EventMetadata::default()
    }
}

async fn load<A: cqrs_es::Aggregate + Default>(
    work: &UnitOfWork,
    conn: &mut PgConnection,
    id: &str,
) -> Result<Loaded<A>, CheckError> {
    Ok(work
        .load::<A>(conn, &[id.to_owned()])
        .await?
        .remove(id)
        .unwrap_or_default())
}
