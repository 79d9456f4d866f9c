//! The heartbeat's state and rules.

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{
    HeartbeatCommand, HeartbeatError, HeartbeatEvent, HeartbeatName, HeartbeatSettings,
    HeartbeatStatus,
};
use crate::services::DomainServices;
use crate::values::{AlertId, HeartbeatId, TenantId};

/// One heartbeat, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    registered: Option<Registered>,
    /// The alert raised when it was last missed, while it is.
    missed_alert: Option<AlertId>,
    /// Paused by a tenant admin: no miss is raised.
    #[serde(default)]
    paused: bool,
    /// Deleted by a tenant admin (until a beat registers it again).
    #[serde(default)]
    deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Registered {
    tenant_id: TenantId,
    heartbeat_id: HeartbeatId,
    name: HeartbeatName,
    settings: HeartbeatSettings,
}

impl Heartbeat {
    /// Its settings, once registered (and not deleted).
    pub fn settings(&self) -> Option<&HeartbeatSettings> {
        self.registered().ok().map(|r| &r.settings)
    }

    /// Whether a tenant admin paused it.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The alert its current miss raised, if it is missed.
    pub fn missed_alert(&self) -> Option<AlertId> {
        self.missed_alert
    }

    /// Whether it is missed now.
    pub fn status(&self) -> HeartbeatStatus {
        if self.missed_alert.is_some() {
            HeartbeatStatus::Missed
        } else {
            HeartbeatStatus::Ok
        }
    }

    fn registered(&self) -> Result<&Registered, HeartbeatError> {
        self.registered
            .as_ref()
            .filter(|_| !self.deleted)
            .ok_or(HeartbeatError::NotRegistered)
    }
}

impl Aggregate for Heartbeat {
    const TYPE: &'static str = "Heartbeat";
    type Command = HeartbeatCommand;
    type Event = HeartbeatEvent;
    type Error = HeartbeatError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let at = services.now();
        let event = match command {
            HeartbeatCommand::Register {
                tenant_id,
                heartbeat_id,
                name,
                settings,
            } => {
                // A deleted heartbeat is registered anew by its next beat.
                if self.registered().is_ok() {
                    return Err(HeartbeatError::AlreadyRegistered);
                }
                HeartbeatEvent::HeartbeatRegistered {
                    tenant_id,
                    heartbeat_id,
                    name,
                    timeout_seconds: settings.timeout_seconds,
                    asset: settings.asset,
                    labels: settings.labels,
                    severity: settings.severity,
                    at,
                }
            }
            HeartbeatCommand::ChangeSettings { settings } => {
                let registered = self.registered()?;
                // The same settings again record nothing.
                if registered.settings == settings {
                    return Ok(());
                }
                HeartbeatEvent::HeartbeatChanged {
                    tenant_id: registered.tenant_id,
                    heartbeat_id: registered.heartbeat_id,
                    timeout_seconds: settings.timeout_seconds,
                    asset: settings.asset,
                    labels: settings.labels,
                    severity: settings.severity,
                    at,
                }
            }
            HeartbeatCommand::RecordMissed {
                last_seen_at,
                deadline,
                alert_id,
            } => {
                let registered = self.registered()?;
                if self.missed_alert.is_some() {
                    return Err(HeartbeatError::AlreadyMissed);
                }
                if self.paused {
                    return Err(HeartbeatError::Paused);
                }
                HeartbeatEvent::HeartbeatMissed {
                    tenant_id: registered.tenant_id,
                    heartbeat_id: registered.heartbeat_id,
                    name: registered.name.clone(),
                    last_seen_at,
                    deadline,
                    alert_id,
                    at,
                }
            }
            HeartbeatCommand::RecordRecovered {
                seen_at,
                resolved_by,
            } => {
                let registered = self.registered()?;
                let Some(missed_alert_id) = self.missed_alert else {
                    return Err(HeartbeatError::NotMissed);
                };
                HeartbeatEvent::HeartbeatRecovered {
                    tenant_id: registered.tenant_id,
                    heartbeat_id: registered.heartbeat_id,
                    name: registered.name.clone(),
                    seen_at,
                    missed_alert_id,
                    resolved_by,
                    at,
                }
            }
            HeartbeatCommand::Pause { actor } => {
                let registered = self.registered()?;
                // Pausing a paused heartbeat changes nothing.
                if self.paused {
                    return Ok(());
                }
                HeartbeatEvent::HeartbeatPaused {
                    tenant_id: registered.tenant_id,
                    heartbeat_id: registered.heartbeat_id,
                    name: registered.name.clone(),
                    actor,
                    at,
                }
            }
            HeartbeatCommand::Resume { actor } => {
                let registered = self.registered()?;
                if !self.paused {
                    return Ok(());
                }
                HeartbeatEvent::HeartbeatResumed {
                    tenant_id: registered.tenant_id,
                    heartbeat_id: registered.heartbeat_id,
                    name: registered.name.clone(),
                    actor,
                    at,
                }
            }
            HeartbeatCommand::Delete {
                actor,
                resolved_alerts,
            } => {
                let registered = self.registered()?;
                HeartbeatEvent::HeartbeatDeleted {
                    tenant_id: registered.tenant_id,
                    heartbeat_id: registered.heartbeat_id,
                    name: registered.name.clone(),
                    resolved_alerts,
                    actor,
                    at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            HeartbeatEvent::HeartbeatRegistered {
                tenant_id,
                heartbeat_id,
                name,
                timeout_seconds,
                asset,
                labels,
                severity,
                ..
            } => {
                // Registered anew after a deletion: nothing of before holds.
                *self = Self {
                    registered: Some(Registered {
                        tenant_id,
                        heartbeat_id,
                        name,
                        settings: HeartbeatSettings {
                            timeout_seconds,
                            asset,
                            labels,
                            severity,
                        },
                    }),
                    ..Self::default()
                };
            }
            HeartbeatEvent::HeartbeatChanged {
                timeout_seconds,
                asset,
                labels,
                severity,
                ..
            } => {
                if let Some(registered) = self.registered.as_mut() {
                    registered.settings = HeartbeatSettings {
                        timeout_seconds,
                        asset,
                        labels,
                        severity,
                    };
                }
            }
            HeartbeatEvent::HeartbeatMissed { alert_id, .. } => self.missed_alert = Some(alert_id),
            HeartbeatEvent::HeartbeatRecovered { .. } => self.missed_alert = None,
            HeartbeatEvent::HeartbeatPaused { .. } => self.paused = true,
            HeartbeatEvent::HeartbeatResumed { .. } => self.paused = false,
            HeartbeatEvent::HeartbeatDeleted { .. } => {
                self.deleted = true;
                self.missed_alert = None;
                self.paused = false;
            }
        }
    }
}
