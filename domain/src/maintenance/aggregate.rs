//! The maintenance window's state and rules.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::status::{Reported, StatusChange};
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
    /// Whether it is in force, as its status events reported it.
    #[serde(default)]
    reported: Reported,
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

    /// The occurrence its events last reported in force, if any.
    pub fn reported_in_force(&self) -> Option<super::Occurrence> {
        self.reported.in_force
    }

    /// When its next occurrence boundary is due as of `now` (`None`: none
    /// will be, or it is deleted): the window closer's due list.
    pub fn next_boundary(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.deleted {
            return None;
        }
        self.reported.next_boundary(self.spec.as_ref()?, now)
    }

    /// The status event of `change`.
    fn status_event(
        tenant_id: TenantId,
        window_id: WindowId,
        change: StatusChange,
        at: DateTime<Utc>,
    ) -> MaintenanceWindowEvent {
        let (active, occurrence) = match change {
            StatusChange::Active(occurrence) => (true, occurrence),
            StatusChange::Inactive(occurrence) => (false, occurrence),
        };
        MaintenanceWindowEvent::MaintenanceWindowStatusChanged {
            tenant_id,
            window_id,
            active,
            occurrence_start: occurrence.starts_at,
            occurrence_end: occurrence.ends_at,
            at,
        }
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
        let mut events = Vec::new();
        match command {
            MaintenanceWindowCommand::CreateWindow {
                window_id,
                tenant_id,
                spec,
                actor,
            } => {
                if self.tenant_id.is_some() {
                    return Err(MaintenanceWindowError::AlreadyCreated);
                }
                let status = Reported::default().on_definition(Some(&spec), at);
                events.push(MaintenanceWindowEvent::MaintenanceWindowCreated {
                    tenant_id,
                    window_id,
                    window: spec,
                    actor,
                    at,
                });
                events.extend(
                    status.map(|change| Self::status_event(tenant_id, window_id, change, at)),
                );
            }
            MaintenanceWindowCommand::ChangeWindow { spec, actor } => {
                let (tenant_id, window_id) = self.live()?;
                // Saving the same definition again is not a change.
                if self.spec.as_ref() == Some(&spec) {
                    return Ok(());
                }
                let status = self.reported.on_definition(Some(&spec), at);
                events.push(MaintenanceWindowEvent::MaintenanceWindowChanged {
                    tenant_id,
                    window_id,
                    window: spec,
                    actor,
                    at,
                });
                events.extend(
                    status.map(|change| Self::status_event(tenant_id, window_id, change, at)),
                );
            }
            MaintenanceWindowCommand::DeleteWindow { actor } => {
                let (tenant_id, window_id) = self.live()?;
                // A window deleted while in force stops being in force first.
                let status = self.reported.on_definition(None, at);
                events.extend(
                    status.map(|change| Self::status_event(tenant_id, window_id, change, at)),
                );
                events.push(MaintenanceWindowEvent::MaintenanceWindowDeleted {
                    tenant_id,
                    window_id,
                    actor,
                    at,
                });
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
                events.push(MaintenanceWindowEvent::MaintenanceWindowEnded {
                    tenant_id,
                    window_id,
                    ended_at,
                    at,
                });
            }
            MaintenanceWindowCommand::RecordBoundaries => {
                let (tenant_id, window_id) = self.live()?;
                let spec = self
                    .spec
                    .as_ref()
                    .ok_or(MaintenanceWindowError::NotCreated)?;
                let due = self.reported.due(spec, at);
                if due.is_empty() {
                    return Err(MaintenanceWindowError::NoBoundaryDue);
                }
                events.extend(
                    due.into_iter()
                        .map(|change| Self::status_event(tenant_id, window_id, change, at)),
                );
            }
        }
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            MaintenanceWindowEvent::MaintenanceWindowCreated {
                tenant_id,
                window_id,
                window,
                at,
                ..
            } => {
                self.tenant_id = Some(tenant_id);
                self.window_id = Some(window_id);
                self.spec = Some(window);
                self.reported.move_through(at);
            }
            MaintenanceWindowEvent::MaintenanceWindowChanged { window, at, .. } => {
                self.spec = Some(window);
                // Occurrences the new definition had before it took effect
                // are not reported.
                if self.reported.in_force.is_none() {
                    self.reported.move_through(at);
                }
            }
            MaintenanceWindowEvent::MaintenanceWindowDeleted { .. } => self.deleted = true,
            MaintenanceWindowEvent::MaintenanceWindowEnded { ended_at, .. } => {
                self.ended_through = Some(ended_at);
            }
            MaintenanceWindowEvent::MaintenanceWindowStatusChanged {
                active,
                occurrence_start,
                occurrence_end,
                ..
            } => {
                let occurrence = super::Occurrence {
                    starts_at: occurrence_start,
                    ends_at: occurrence_end,
                };
                self.reported.apply(if active {
                    StatusChange::Active(occurrence)
                } else {
                    StatusChange::Inactive(occurrence)
                });
            }
        }
    }
}
