//! What a tool says about alerts it reported earlier: "resolved" (Alertmanager
//! `status: resolved`, CloudWatch `OK`, Zabbix value 0, PagerDuty `resolve`)
//! and "acknowledged" (PagerDuty `acknowledge`). Both find the tenant's open
//! alerts with the same fingerprint and record the change on each, through the
//! `Alert` aggregate. Both are idempotent: a repeated notification finds the
//! alerts already changed and records nothing.

use std::sync::Arc;

use alertledger_domain::alert::{Alert, AlertCommand, AlertError};
use alertledger_domain::values::{Actor, AlertId, Fingerprint, Role, UserId};
use alertledger_eventstore::queries;
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use chrono::{DateTime, Utc};
use cqrs_es::AggregateError;
use sqlx::PgPool;

use super::ingestor::{Delivery, IngestedAlert};
use crate::error::ApiError;

/// Most open alerts one notification changes (one problem rarely has more).
const MAX_MATCHES: i64 = 100;

/// Applies tools' resolutions and acknowledgements to earlier alerts.
#[derive(Clone)]
pub struct SourceLifecycle {
    pool: PgPool,
    alerts: Arc<AggregateStore<Alert>>,
}

impl SourceLifecycle {
    pub fn new(pool: PgPool, alerts: Arc<AggregateStore<Alert>>) -> Self {
        Self { pool, alerts }
    }

    /// Resolves, as of `resolved_at`, the open firing alerts with `fingerprint`
    /// that began no later than `began_by` (a late resolution never closes a
    /// newer occurrence).
    pub async fn resolve_matching(
        &self,
        delivery: &Delivery,
        fingerprint: &Fingerprint,
        began_by: DateTime<Utc>,
        resolved_at: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let open = self
            .open_alerts(delivery, fingerprint, Some(began_by))
            .await?;
        for alert_id in open {
            let resolve = AlertCommand::ResolveAlertFromSource {
                resolved_at,
                delivery_key: None,
            };
            self.apply(&alert_id, resolve, delivery, AlertError::AlreadyResolved)
                .await?;
        }
        Ok(())
    }

    /// Acknowledges the open alerts with `fingerprint`, reporting each.
    pub async fn acknowledge_matching(
        &self,
        delivery: &Delivery,
        fingerprint: &Fingerprint,
    ) -> Result<Vec<IngestedAlert>, ApiError> {
        let open = self.open_alerts(delivery, fingerprint, None).await?;
        let mut acknowledged = Vec::with_capacity(open.len());
        for alert_id in open {
            let acknowledge = AlertCommand::AcknowledgeAlert {
                actor: source_actor(delivery)?,
                note: None,
            };
            let recorded = self
                .apply(
                    &alert_id,
                    acknowledge,
                    delivery,
                    AlertError::AlreadyAcknowledged,
                )
                .await?;
            let position = queries::last_position::<Alert>(&self.pool, &alert_id)
                .await?
                .ok_or_else(|| ApiError::database(&sqlx::Error::RowNotFound))?;
            let alert_id = AlertId::parse(&alert_id).map_err(|error| ApiError::internal(&error))?;
            acknowledged.push(IngestedAlert {
                alert_id,
                duplicate: !recorded,
                position,
            });
        }
        Ok(acknowledged)
    }

    /// The tenant's firing alerts with `fingerprint` not yet resolved by their
    /// source, newest first; with `began_by`, only those that began by then.
    async fn open_alerts(
        &self,
        delivery: &Delivery,
        fingerprint: &Fingerprint,
        began_by: Option<DateTime<Utc>>,
    ) -> Result<Vec<String>, ApiError> {
        Ok(queries::open_alerts_with_fingerprint(
            &self.pool,
            *delivery.tenant_id.as_uuid(),
            fingerprint.as_str(),
            began_by,
            MAX_MATCHES,
        )
        .await?)
    }

    /// Runs `command` on one alert. `Ok(false)` when the alert already was in
    /// the target state (`already`), so repeats change nothing. A concurrent
    /// change to the same alert is retried once.
    async fn apply(
        &self,
        alert_id: &str,
        command: AlertCommand,
        delivery: &Delivery,
        already: AlertError,
    ) -> Result<bool, ApiError> {
        let metadata = EventMetadata {
            actor: Some(format!("api_key:{}", delivery.key_id)),
            request_id: delivery.request_id.clone(),
            source_ip: delivery.source_ip.clone(),
            correlation_id: Some(alert_id.to_owned()),
            ..EventMetadata::default()
        };
        for attempt in 0..2 {
            match self
                .alerts
                .execute(alert_id, command.clone(), metadata.clone())
                .await
            {
                Ok(()) => return Ok(true),
                Err(AggregateError::UserError(error)) if error == already => return Ok(false),
                Err(AggregateError::AggregateConflict) if attempt == 0 => continue,
                Err(error) => return Err(ApiError::internal(&error)),
            }
        }
        Ok(false)
    }
}

/// The monitoring tool, as the actor of an acknowledgement it sent.
fn source_actor(delivery: &Delivery) -> Result<Actor, ApiError> {
    let user = UserId::parse(&format!("source:{}", delivery.source.as_str()))
        .map_err(|error| ApiError::internal(&error))?;
    Ok(Actor::new(user, delivery.source.as_str(), Role::Technician))
}
