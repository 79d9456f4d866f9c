//! The maintenance window's state and rules.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{MaintenanceWindowCommand, MaintenanceWindowError, MaintenanceWindowEvent, WindowSpec};
use crate::services::DomainServices;
use crate::values::{TenantId, WindowId};

/// One window, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceWindow {
    tenant_id: Option<TenantId>,
    window_id: Option<WindowId>,
    spec: Option<WindowSpec>,
    deleted: bool,
    /// The latest occurrence end recorded.
    ended_through: Option<DateTime<Utc>>,
}

impl MaintenanceWindow {
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.tenant_id
    }

    pub fn spec(&self) -> Option<&WindowSpec> {
        self.spec.as_ref()
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted
    }

    fn live(&self) -> Result<(TenantId, WindowId), MaintenanceWindowError> {
        let (Some(tenant_id), Some(window_id)) = (self.tenant_id, self.window_id) else {
            return Err(MaintenanceWindowError::NotCreated);
        };
        if self.deleted {
            return Err(MaintenanceWindowError::Deleted);
        }
        Ok((tenant_id, window_id))
    }
}

impl Aggregate for MaintenanceWindow {
    const TYPE: &'static str = "MaintenanceWindow";
    type Command = MaintenanceWindowCommand;
    type Event = MaintenanceWindowEvent;
    type Error = MaintenanceWindowError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let at = services.now();
        let event = match command {
            MaintenanceWindowCommand::CreateWindow {
                window_id,
                tenant_id,
                spec,
                actor,
            } => {
                if self.tenant_id.is_some() {
                    return Err(MaintenanceWindowError::AlreadyCreated);
                }
                MaintenanceWindowEvent::MaintenanceWindowCreated {
                    tenant_id,
                    window_id,
                    window: spec,
                    actor,
                    at,
                }
            }
            MaintenanceWindowCommand::ChangeWindow { spec, actor } => {
                let (tenant_id, window_id) = self.live()?;
                // Saving the same definition again is not a change.
                if self.spec.as_ref() == Some(&spec) {
                    return Ok(());
                }
                MaintenanceWindowEvent::MaintenanceWindowChanged {
                    tenant_id,
                    window_id,
                    window: spec,
                    actor,
                    at,
                }
            }
            MaintenanceWindowCommand::DeleteWindow { actor } => {
                let (tenant_id, window_id) = self.live()?;
                MaintenanceWindowEvent::MaintenanceWindowDeleted {
                    tenant_id,
                    window_id,
                    actor,
                    at,
                }
            }
            MaintenanceWindowCommand::RecordEnd { ended_at } => {
                let (tenant_id, window_id) = self.live()?;
                if self
                    .ended_through
                    .is_some_and(|through| through >= ended_at)
                {
                    return Err(MaintenanceWindowError::EndAlreadyRecorded);
                }
                if ended_at > at {
                    return Err(MaintenanceWindowError::NotEnded);
                }
                MaintenanceWindowEvent::MaintenanceWindowEnded {
                    tenant_id,
                    window_id,
                    ended_at,
                    at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            MaintenanceWindowEvent::MaintenanceWindowCreated {
                tenant_id,
                window_id,
                window,
                ..
            } => {
                self.tenant_id = Some(tenant_id);
                self.window_id = Some(window_id);
                self.spec = Some(window);
            }
            MaintenanceWindowEvent::MaintenanceWindowChanged { window, .. } => {
                self.spec = Some(window);
            }
            MaintenanceWindowEvent::MaintenanceWindowDeleted { .. } => self.deleted = true,
            MaintenanceWindowEvent::MaintenanceWindowEnded { ended_at, .. } => {
                self.ended_through = Some(ended_at);
            }
        }
    }
}
