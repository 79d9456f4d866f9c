//! What can be asked of a maintenance window.

use chrono::{DateTime, Utc};

use super::WindowSpec;
use crate::values::{Actor, TenantId, WindowId};

/// A request to change a maintenance window.
#[derive(Debug, Clone, PartialEq)]
pub enum MaintenanceWindowCommand {
    /// Define it (the aggregate id is the window id).
    CreateWindow {
        window_id: WindowId,
        tenant_id: TenantId,
        spec: WindowSpec,
        actor: Actor,
    },
    /// Replace its definition.
    ChangeWindow { spec: WindowSpec, actor: Actor },
    /// Delete it.
    DeleteWindow { actor: Actor },
    /// Record that the occurrence ending at `ended_at` is over (the closer).
    RecordEnd { ended_at: DateTime<Utc> },
    /// Record the occurrence boundaries passed by now (the closer): the end
    /// of the occurrence reported in force, the latest occurrence that
    /// began and ended unreported, and the start of the one in force now.
    RecordBoundaries,
}
