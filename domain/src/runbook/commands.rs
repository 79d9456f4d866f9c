//! What can be asked of a runbook.

use serde::{Deserialize, Serialize};

use crate::values::{Actor, AlertSignature, Risk, RunbookAction, RunbookId, RunbookName, TenantId};

/// Everything a runbook says, as defined or changed at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookSpec {
    pub name: RunbookName,
    /// Incidents whose signature equals this one are remedied by the runbook.
    pub signature: AlertSignature,
    pub risk: Risk,
    /// The SSM document with its commands or parameters.
    pub action: RunbookAction,
    /// Whether the dispatcher acts on its own when a matching incident opens
    /// (low risk: runs; medium/high: asks for approval).
    pub auto_execute: bool,
}

/// A request to define, change or retire a runbook.
#[derive(Debug, Clone, PartialEq)]
pub enum RunbookCommand {
    /// Create it.
    DefineRunbook {
        runbook_id: RunbookId,
        tenant_id: TenantId,
        spec: RunbookSpec,
        actor: Actor,
    },
    /// Replace what it says.
    ChangeRunbook { spec: RunbookSpec, actor: Actor },
    /// Take it out of use (its history stays).
    RetireRunbook { actor: Actor },
}
