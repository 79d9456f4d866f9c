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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Registered {
    tenant_id: TenantId,
    heartbeat_id: HeartbeatId,
    name: HeartbeatName,
    settings: HeartbeatSettings,
}

impl Heartbeat {
    /// Its settings, once registered.
    pub fn settings(&self) -> Option<&HeartbeatSettings> {
        self.registered.as_ref().map(|r| &r.settings)
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
                if self.registered.is_some() {
                    return Err(HeartbeatError::AlreadyRegistered);
                }
                HeartbeatEvent::HeartbeatRegistered {
                    tenant_id,
                    heartbeat_id,
                    name,
                    timeout_seconds: settings.timeout_seconds,
                    asset: settings.asset,
                    labels: settings.labels,
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
                ..
            } => {
                self.registered = Some(Registered {
                    tenant_id,
                    heartbeat_id,
                    name,
                    settings: HeartbeatSettings {
                        timeout_seconds,
                        asset,
                        labels,
                    },
                });
            }
            HeartbeatEvent::HeartbeatChanged {
                timeout_seconds,
                asset,
                labels,
                ..
            } => {
                if let Some(registered) = self.registered.as_mut() {
                    registered.settings = HeartbeatSettings {
                        timeout_seconds,
                        asset,
                        labels,
                    };
                }
            }
            HeartbeatEvent::HeartbeatMissed { alert_id, .. } => self.missed_alert = Some(alert_id),
            HeartbeatEvent::HeartbeatRecovered { .. } => self.missed_alert = None,
        }
    }
}
