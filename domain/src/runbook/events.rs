//! What happened to a runbook. Variant names are stored and permanent.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::RunbookSpec;
use crate::values::{Actor, RunbookId, TenantId};

/// A fact about a runbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RunbookEvent {
    /// The runbook was created.
    RunbookDefined {
        tenant_id: TenantId,
        runbook_id: RunbookId,
        runbook: RunbookSpec,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// What it says was replaced.
    RunbookChanged {
        tenant_id: TenantId,
        runbook: RunbookSpec,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// It was taken out of use.
    RunbookRetired {
        tenant_id: TenantId,
        actor: Actor,
        at: DateTime<Utc>,
    },
}

impl RunbookEvent {
    /// The tenant the event belongs to.
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Self::RunbookDefined { tenant_id, .. }
            | Self::RunbookChanged { tenant_id, .. }
            | Self::RunbookRetired { tenant_id, .. } => *tenant_id,
        }
    }
}

crate::event_types::event_type_names!(RunbookEvent {
    RunbookDefined => DEFINED,
    RunbookChanged => CHANGED,
    RunbookRetired => RETIRED,
});

impl DomainEvent for RunbookEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        crate::EVENT_VERSION.to_owned()
    }
}
