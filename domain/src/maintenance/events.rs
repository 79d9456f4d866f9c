//! What happened to a maintenance window. Variant names are stored and permanent.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::WindowSpec;
use crate::values::{Actor, TenantId, WindowId};

/// A fact about a maintenance window (or a silence, which is one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MaintenanceWindowEvent {
    /// The window was defined.
    MaintenanceWindowCreated {
        tenant_id: TenantId,
        window_id: WindowId,
        window: WindowSpec,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// Its definition was replaced.
    MaintenanceWindowChanged {
        tenant_id: TenantId,
        window_id: WindowId,
        window: WindowSpec,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// It was deleted (its suppressed alerts are correlated then).
    MaintenanceWindowDeleted {
        tenant_id: TenantId,
        window_id: WindowId,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// An occurrence ending at `ended_at` is over; the correlator then
    /// correlates the alerts it still held. Recorded by the window closer
    /// once the time has come, so replay needs no clock.
    MaintenanceWindowEnded {
        tenant_id: TenantId,
        window_id: WindowId,
        ended_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// The window came into force (`active`) for the occurrence
    /// `[occurrence_start, occurrence_end)`, or is no longer in force
    /// (`occurrence_end`: when it stopped). Recorded at each occurrence's
    /// start and end by the window closer, and with a definition that puts
    /// the window in or out of force at once; a change that moves the
    /// current occurrence is `active` again with the new occurrence. The
    /// live feed's `maintenance_window_status_changed`; the correlator does
    /// not read it (its decisions follow `MaintenanceWindowEnded`).
    MaintenanceWindowStatusChanged {
        tenant_id: TenantId,
        window_id: WindowId,
        active: bool,
        occurrence_start: DateTime<Utc>,
        occurrence_end: DateTime<Utc>,
        at: DateTime<Utc>,
    },
}

impl MaintenanceWindowEvent {
    /// The tenant the event belongs to.
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Self::MaintenanceWindowCreated { tenant_id, .. }
            | Self::MaintenanceWindowChanged { tenant_id, .. }
            | Self::MaintenanceWindowDeleted { tenant_id, .. }
            | Self::MaintenanceWindowEnded { tenant_id, .. }
            | Self::MaintenanceWindowStatusChanged { tenant_id, .. } => *tenant_id,
        }
    }
}

crate::event_types::event_type_names!(MaintenanceWindowEvent {
    MaintenanceWindowCreated => CREATED,
    MaintenanceWindowChanged => CHANGED,
    MaintenanceWindowDeleted => DELETED,
    MaintenanceWindowEnded => ENDED,
    MaintenanceWindowStatusChanged => STATUS_CHANGED,
});

impl DomainEvent for MaintenanceWindowEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        crate::EVENT_VERSION.to_owned()
    }
}
