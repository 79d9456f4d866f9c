//! Maintenance windows in the correlator: an arriving alert that a window in
//! force covers is recorded as suppressed (`AlertSuppressed`, with the
//! window) and held in `correlator_suppressed` instead of being placed.
//! When the window's occurrence ends (`MaintenanceWindowEnded`, recorded by
//! the window closer), or the window changes or is deleted, the alerts it
//! held that still fire are lifted (`AlertSuppressionLifted`, with the
//! reason) and placed as if they had just arrived, at that event's time.
//! Every input is a log event and every instant is an event's `at`, so a
//! replay of the log makes the same decisions.

use alertledger_domain::alert::{AlertCommand, AlertEvent};
use alertledger_domain::maintenance::{AlertFacts, MaintenanceWindowEvent};
use alertledger_domain::values::{AlertStatus, Labels, WindowId};
use alertledger_eventstore::consumer::ConsumerError;
use alertledger_eventstore::log::LogEvent;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::{metadata_for, CorrelationBatch, KeyId, Trigger};
use crate::correlator::state::{SuppressedAlert, WaitingAlert, WindowState};

/// A window that covers an alert now, and until when.
struct Cover {
    window_id: Uuid,
    name: String,
    until: DateTime<Utc>,
}

impl CorrelationBatch<'_> {
    /// Suppresses the alert if a window in force at `at` covers it; whether it did.
    pub(super) async fn suppress_if_covered(
        &mut self,
        cause: &LogEvent,
        alert: &WaitingAlert,
        labels: &Labels,
        at: DateTime<Utc>,
    ) -> Result<bool, ConsumerError> {
        let tenant_id = cause.tenant_id;
        let Some(cover) = self.cover(tenant_id, alert, labels, at) else {
            return Ok(false);
        };
        let reason = format!(
            "maintenance window {} ({}) is in force until {}",
            cover.window_id,
            cover.name,
            cover.until.to_rfc3339()
        );
        self.execute_on_alert(
            cause,
            alert.alert_id,
            AlertCommand::SuppressAlert {
                window_id: WindowId::from_uuid(cover.window_id),
                until: cover.until,
                reason,
            },
        )
        .await?;
        self.held.insert(
            alert.alert_id,
            Some(SuppressedAlert {
                tenant_id,
                alert_id: alert.alert_id,
                window_id: cover.window_id,
                until: cover.until,
                alert: alert.clone(),
                labels: labels.clone(),
            }),
        );
        Ok(true)
    }

    /// The first window (by id) in force at `at` that covers the alert.
    fn cover(
        &mut self,
        tenant_id: Uuid,
        alert: &WaitingAlert,
        labels: &Labels,
        at: DateTime<Utc>,
    ) -> Option<Cover> {
        let facts = AlertFacts {
            asset: &alert.asset,
            signature: &alert.signature,
            severity: alert.severity,
            source: &alert.tool_source,
            labels,
        };
        let tenant = self.tenant(tenant_id);
        tenant.windows.iter().find_map(|window| {
            if !window.spec.matches(&facts) {
                return None;
            }
            let occurrence = window.spec.occurrence_at(at)?;
            // An occurrence whose end is already recorded holds nothing more.
            if window
                .ended_through
                .is_some_and(|through| occurrence.ends_at <= through)
            {
                return None;
            }
            Some(Cover {
                window_id: window.window_id,
                name: window.spec.name().to_owned(),
                until: occurrence.ends_at,
            })
        })
    }

    /// Folds a window event into the tenant's windows and lifts what it no
    /// longer holds.
    pub(super) async fn window_changed(
        &mut self,
        cause: &LogEvent,
        change: MaintenanceWindowEvent,
    ) -> Result<(), ConsumerError> {
        // Status changes are for the live feed; this consumer does not
        // subscribe to them, and its decisions follow the ends it records.
        if matches!(
            change,
            MaintenanceWindowEvent::MaintenanceWindowStatusChanged { .. }
        ) {
            return Ok(());
        }
        let tenant_id = cause.tenant_id;
        self.dirty_tenants.insert(tenant_id);
        match change {
            MaintenanceWindowEvent::MaintenanceWindowCreated {
                window_id, window, ..
            } => {
                let windows = &mut self.tenant(tenant_id).windows;
                windows.retain(|w| w.window_id != Uuid::from(window_id));
                windows.push(WindowState {
                    window_id: window_id.into(),
                    spec: window,
                    ended_through: None,
                });
                windows.sort_by_key(|w| w.window_id);
                Ok(())
            }
            MaintenanceWindowEvent::MaintenanceWindowChanged {
                window_id,
                window,
                at,
                ..
            } => {
                let id = Uuid::from(window_id);
                let mut ended_through = None;
                if let Some(state) = self
                    .tenant(tenant_id)
                    .windows
                    .iter_mut()
                    .find(|w| w.window_id == id)
                {
                    state.spec = window.clone();
                    ended_through = state.ended_through;
                }
                // Alerts the new definition still covers stay held (until
                // its occurrence's end); the others are lifted.
                let mut uncovered = std::collections::HashSet::new();
                for mut held in self.held_by(id).await? {
                    let facts = AlertFacts {
                        asset: &held.alert.asset,
                        signature: &held.alert.signature,
                        severity: held.alert.severity,
                        source: &held.alert.tool_source,
                        labels: &held.labels,
                    };
                    let until = window
                        .occurrence_at(at)
                        .filter(|_| window.matches(&facts))
                        .map(|o| o.ends_at)
                        .filter(|end| ended_through.is_none_or(|through| *end > through));
                    match until {
                        Some(until) if until != held.until => {
                            held.until = until;
                            self.held.insert(held.alert_id, Some(held));
                        }
                        Some(_) => {}
                        None => {
                            uncovered.insert(held.alert_id);
                        }
                    }
                }
                let reason = format!("maintenance window {id} was changed and no longer covers it");
                self.lift(cause, id, at, &reason, |held| {
                    uncovered.contains(&held.alert_id)
                })
                .await
            }
            MaintenanceWindowEvent::MaintenanceWindowDeleted { window_id, at, .. } => {
                let id = Uuid::from(window_id);
                self.tenant(tenant_id).windows.retain(|w| w.window_id != id);
                let reason = format!("maintenance window {id} was deleted");
                self.lift(cause, id, at, &reason, |_| true).await
            }
            MaintenanceWindowEvent::MaintenanceWindowEnded {
                window_id,
                ended_at,
                at,
                ..
            } => {
                let id = Uuid::from(window_id);
                if let Some(state) = self
                    .tenant(tenant_id)
                    .windows
                    .iter_mut()
                    .find(|w| w.window_id == id)
                {
                    state.ended_through =
                        Some(state.ended_through.map_or(ended_at, |t| t.max(ended_at)));
                }
                let reason = format!("maintenance window {id} ended");
                self.lift(cause, id, at, &reason, |held| held.until <= ended_at)
                    .await
            }
            MaintenanceWindowEvent::MaintenanceWindowStatusChanged { .. } => Ok(()),
        }
    }

    /// Lifts the alerts `window` holds that `due` selects, at `now`: each
    /// that still fires and no other window covers is placed as if it had
    /// just arrived; one another window covers is held by that one.
    async fn lift(
        &mut self,
        cause: &LogEvent,
        window: Uuid,
        now: DateTime<Utc>,
        reason: &str,
        due: impl Fn(&SuppressedAlert) -> bool,
    ) -> Result<(), ConsumerError> {
        let mut held = self.held_by(window).await?;
        held.retain(|alert| due(alert));
        held.sort_by_key(|held| (held.alert.at, held.alert_id));
        let ids: Vec<String> = held.iter().map(|h| h.alert_id.to_string()).collect();
        self.load_alerts(&ids).await?;
        for suppressed in held {
            let alert_id = suppressed.alert_id;
            self.held.insert(alert_id, None);
            let still_fires = self
                .alerts
                .get(&alert_id.to_string())
                .is_some_and(|alert| alert.state.status() == Some(AlertStatus::Firing));
            if !still_fires {
                // Resolved while held: it stays recorded as suppressed.
                continue;
            }
            self.execute_on_alert(
                cause,
                alert_id,
                AlertCommand::LiftSuppression {
                    window_id: WindowId::from_uuid(window),
                    reason: reason.to_owned(),
                },
            )
            .await?;
            let mut alert = suppressed.alert;
            alert.at = now;
            if self
                .suppress_if_covered(cause, &alert, &suppressed.labels, now)
                .await?
            {
                continue;
            }
            let tenant = self.tenant(suppressed.tenant_id);
            let key = tenant.policy.aggregation_key().render_parts(
                &alert.asset,
                &alert.signature,
                &alert.tool_source,
                alert.severity,
                &suppressed.labels,
            );
            let auto = tenant.policy.auto_correlate();
            let key_id: KeyId = (suppressed.tenant_id, key);
            if auto {
                self.lifted_because = Some(reason.to_owned());
                let placed = self
                    .place(cause, &key_id, vec![alert], Trigger::Arrival)
                    .await;
                self.lifted_because = None;
                placed?;
            } else {
                self.key(&key_id).await?.pending.push(alert);
                self.dirty_keys.insert(key_id);
            }
        }
        Ok(())
    }

    /// The alerts `window` holds: stored ones, with this batch's changes.
    async fn held_by(&mut self, window: Uuid) -> Result<Vec<SuppressedAlert>, ConsumerError> {
        let stored: Vec<(Json<SuppressedAlert>, DateTime<Utc>)> = sqlx::query_as(&format!(
            "SELECT alert, until FROM {} WHERE window_id = $1",
            self.target.table("correlator_suppressed")
        ))
        .bind(window)
        .fetch_all(&mut *self.conn)
        .await?;
        // `until` as the column holds it: the instant the closer records.
        let mut found: std::collections::HashMap<Uuid, SuppressedAlert> = stored
            .into_iter()
            .map(|(Json(mut row), until)| {
                row.until = until;
                (row.alert_id, row)
            })
            .collect();
        for (alert_id, change) in &self.held {
            match change {
                Some(row) if row.window_id == window => {
                    found.insert(*alert_id, row.clone());
                }
                _ => {
                    found.remove(alert_id);
                }
            }
        }
        Ok(found.into_values().collect())
    }

    /// A held alert resolved at its source: it is held no more (it stays
    /// recorded as suppressed, and is not correlated when the window ends).
    pub(super) fn release_resolved(&mut self, alert_id: Uuid) {
        self.held.insert(alert_id, None);
    }

    /// Runs `command` on the alert (loaded on demand).
    async fn execute_on_alert(
        &mut self,
        cause: &LogEvent,
        alert_id: Uuid,
        command: AlertCommand,
    ) -> Result<Vec<AlertEvent>, ConsumerError> {
        let id = alert_id.to_string();
        self.load_alerts(std::slice::from_ref(&id)).await?;
        let metadata = metadata_for(cause, alert_id);
        let Some(loaded) = self.alerts.get_mut(&id) else {
            return Ok(Vec::new());
        };
        self.work
            .execute(&id, loaded, command, self.services, &metadata)
            .await
            .map_err(|error| ConsumerError::event(cause, error))
    }

    /// Writes this batch's held alerts (inserted, moved or released).
    pub(super) async fn write_held(&mut self) -> Result<(), ConsumerError> {
        let table = self.target.table("correlator_suppressed");
        let mut released = Vec::new();
        let mut kept = Vec::new();
        for (alert_id, change) in std::mem::take(&mut self.held) {
            match change {
                Some(row) => kept.push(row),
                None => released.push(alert_id),
            }
        }
        if !released.is_empty() {
            sqlx::query(&format!("DELETE FROM {table} WHERE alert_id = ANY($1)"))
                .bind(&released)
                .execute(&mut *self.conn)
                .await?;
        }
        for row in kept {
            sqlx::query(&format!(
                "INSERT INTO {table} (alert_id, tenant_id, window_id, until, alert)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (alert_id) DO UPDATE
                 SET window_id = EXCLUDED.window_id, until = EXCLUDED.until, alert = EXCLUDED.alert"
            ))
            .bind(row.alert_id)
            .bind(row.tenant_id)
            .bind(row.window_id)
            .bind(row.until)
            .bind(Json(&row))
            .execute(&mut *self.conn)
            .await?;
        }
        Ok(())
    }
}
