//! The alert's state and rules.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{AlertCommand, AlertError, AlertEvent};
use crate::services::DomainServices;
use crate::values::{AlertId, AlertStatus, IncidentId, TenantId, WindowId};

/// One alert, folded from its events (only what the rules need).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    received: Option<Received>,
    acknowledged_at: Option<DateTime<Utc>>,
    incident_id: Option<IncidentId>,
    /// The maintenance window holding it back, while one does.
    #[serde(default)]
    suppressed_by: Option<WindowId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Received {
    tenant_id: TenantId,
    alert_id: AlertId,
    status: AlertStatus,
}

impl Alert {
    /// The alert's tenant, once received.
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.received.as_ref().map(|r| r.tenant_id)
    }

    /// The alert's id as recorded at receipt.
    pub fn alert_id(&self) -> Option<AlertId> {
        self.received.as_ref().map(|r| r.alert_id)
    }

    /// Whether the source still reports it firing, once received.
    pub fn status(&self) -> Option<AlertStatus> {
        self.received.as_ref().map(|r| r.status)
    }

    /// The incident it was correlated into, if any.
    pub fn incident_id(&self) -> Option<IncidentId> {
        self.incident_id
    }

    /// The maintenance window holding it back, while one does.
    pub fn suppressed_by(&self) -> Option<WindowId> {
        self.suppressed_by
    }

    /// When it was first acknowledged, if it was.
    pub fn acknowledged_at(&self) -> Option<DateTime<Utc>> {
        self.acknowledged_at
    }

    fn received(&self) -> Result<&Received, AlertError> {
        self.received.as_ref().ok_or(AlertError::NotReceived)
    }
}

impl Aggregate for Alert {
    const TYPE: &'static str = "Alert";
    type Command = AlertCommand;
    type Event = AlertEvent;
    type Error = AlertError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let at = services.now();
        let event = match command {
            AlertCommand::ReceiveAlert {
                alert_id,
                tenant_id,
                delivery_key,
                source,
                asset,
                signature,
                severity,
                message,
                tool_source,
                status,
                labels,
                occurred_at,
                fingerprint,
                asset_known,
                normalization_warnings,
            } => {
                if self.received.is_some() {
                    return Err(AlertError::AlreadyReceived);
                }
                AlertEvent::AlertReceived {
                    tenant_id,
                    alert_id,
                    delivery_key,
                    source,
                    asset,
                    signature,
                    severity,
                    message,
                    tool_source,
                    status,
                    labels,
                    occurred_at,
                    fingerprint,
                    asset_known,
                    normalization_warnings,
                    at,
                }
            }
            AlertCommand::AcknowledgeAlert { actor, note } => {
                let tenant_id = self.received()?.tenant_id;
                if self.acknowledged_at.is_some() {
                    return Err(AlertError::AlreadyAcknowledged);
                }
                AlertEvent::AlertAcknowledged {
                    tenant_id,
                    actor,
                    note,
                    at,
                }
            }
            AlertCommand::CorrelateAlert {
                incident_id,
                reason,
            } => {
                let tenant_id = self.received()?.tenant_id;
                if let Some(existing) = self.incident_id {
                    return Err(AlertError::AlreadyCorrelated {
                        incident_id: existing,
                    });
                }
                AlertEvent::AlertCorrelated {
                    tenant_id,
                    incident_id,
                    reason,
                    at,
                }
            }
            AlertCommand::SuppressAlert {
                window_id,
                until,
                reason,
            } => {
                let tenant_id = self.received()?.tenant_id;
                if let Some(incident_id) = self.incident_id {
                    return Err(AlertError::AlreadyCorrelated { incident_id });
                }
                if let Some(window_id) = self.suppressed_by {
                    return Err(AlertError::AlreadySuppressed { window_id });
                }
                AlertEvent::AlertSuppressed {
                    tenant_id,
                    window_id,
                    until,
                    reason,
                    at,
                }
            }
            AlertCommand::LiftSuppression { window_id, reason } => {
                let tenant_id = self.received()?.tenant_id;
                if self.suppressed_by != Some(window_id) {
                    return Err(AlertError::NotSuppressed { window_id });
                }
                AlertEvent::AlertSuppressionLifted {
                    tenant_id,
                    window_id,
                    reason,
                    at,
                }
            }
            AlertCommand::ResolveAlertFromSource {
                resolved_at,
                delivery_key,
            } => {
                let received = self.received()?;
                if received.status == AlertStatus::Resolved {
                    return Err(AlertError::AlreadyResolved);
                }
                AlertEvent::AlertResolvedBySource {
                    tenant_id: received.tenant_id,
                    resolved_at,
                    delivery_key,
                    at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            AlertEvent::AlertReceived {
                tenant_id,
                alert_id,
                status,
                ..
            } => {
                self.received = Some(Received {
                    tenant_id,
                    alert_id,
                    status,
                });
            }
            AlertEvent::AlertAcknowledged { at, .. } => self.acknowledged_at = Some(at),
            AlertEvent::AlertCorrelated { incident_id, .. } => self.incident_id = Some(incident_id),
            AlertEvent::AlertSuppressed { window_id, .. } => self.suppressed_by = Some(window_id),
            AlertEvent::AlertSuppressionLifted { .. } => self.suppressed_by = None,
            AlertEvent::AlertResolvedBySource { .. } => {
                if let Some(received) = self.received.as_mut() {
                    received.status = AlertStatus::Resolved;
                }
            }
        }
    }
}
