//! Where an incident stands and how it ended.

use serde::{Deserialize, Serialize};

use crate::values::ExecutionId;

/// An incident's status, as the API filters on it (`?status=in_progress`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Opened, nobody has looked at it yet.
    #[default]
    New,
    /// Someone acknowledged it.
    Acknowledged,
    /// Someone is assigned to it.
    InProgress,
    /// Handed up (manually, or because a runbook failed).
    Escalated,
    /// Closed.
    Resolved,
}

impl IncidentStatus {
    /// The API spelling (`new`, `acknowledged`, `in_progress`, `escalated`, `resolved`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Acknowledged => "acknowledged",
            Self::InProgress => "in_progress",
            Self::Escalated => "escalated",
            Self::Resolved => "resolved",
        }
    }
}

impl std::fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an incident was resolved; self-healed ones count as auto-remediated in KPIs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resolution {
    /// A person resolved it.
    Manual,
    /// A runbook execution fixed it.
    SelfHealed {
        /// The execution that succeeded.
        execution_id: ExecutionId,
    },
    /// Every alert was resolved at its source and the tenant's policy
    /// resolves such incidents automatically.
    SourceResolved,
}
