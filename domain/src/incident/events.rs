//! What happened to an incident. Variant names are stored and permanent.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::Resolution;
use crate::values::{
    Actor, AlertId, AlertSignature, AssetName, CorrelationReason, IncidentId, Note, PriorityScore,
    Severity, TenantId, ToolSource, UserId, WindowId,
};

/// A fact about an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IncidentEvent {
    /// The incident was opened for its first alert, for the recorded reason.
    IncidentOpened {
        tenant_id: TenantId,
        incident_id: IncidentId,
        key: String,
        first_alert: AlertId,
        asset: AssetName,
        signature: AlertSignature,
        severity: Severity,
        priority: PriorityScore,
        reason: CorrelationReason,
        /// The tool that reported the first alert (since version 1.1).
        tool_source: ToolSource,
        at: DateTime<Utc>,
    },
    /// Another alert joined, for the recorded reason.
    AlertAttached {
        tenant_id: TenantId,
        alert_id: AlertId,
        reason: CorrelationReason,
        /// The tool that reported it (since version 1.1).
        tool_source: ToolSource,
        at: DateTime<Utc>,
    },
    /// The priority score changed.
    PriorityChanged {
        tenant_id: TenantId,
        from: PriorityScore,
        to: PriorityScore,
        reason: String,
        at: DateTime<Utc>,
    },
    /// Someone acknowledged it.
    IncidentAcknowledged {
        tenant_id: TenantId,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// It was assigned to a person.
    IncidentAssigned {
        tenant_id: TenantId,
        assignee: UserId,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// Someone commented.
    IncidentCommented {
        tenant_id: TenantId,
        text: Note,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// Someone silenced its key for a while: maintenance window `window_id`
    /// (with the key as its matchers) holds back its alerts until `until`.
    IncidentSilenced {
        tenant_id: TenantId,
        window_id: WindowId,
        until: DateTime<Utc>,
        reason: Option<Note>,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// It was escalated.
    IncidentEscalated {
        tenant_id: TenantId,
        reason: Note,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// It was resolved.
    IncidentResolved {
        tenant_id: TenantId,
        resolved_by: Actor,
        resolution: Resolution,
        note: Option<Note>,
        at: DateTime<Utc>,
    },
    /// It was reopened after being resolved.
    IncidentReopened {
        tenant_id: TenantId,
        actor: Actor,
        reason: Option<Note>,
        at: DateTime<Utc>,
    },
    /// One of its alerts was resolved at the source.
    IncidentAlertResolved {
        tenant_id: TenantId,
        alert_id: AlertId,
        at: DateTime<Utc>,
    },
    /// Every attached alert is now resolved at the source (auto-resolve may follow).
    AllAlertsResolved {
        tenant_id: TenantId,
        at: DateTime<Utc>,
    },
    /// The correlator found its key flapping: the key's alerts switched
    /// between firing and resolved `changes` times within `window_minutes`
    /// (more than the tenant's flapping policy allows), the last switch at
    /// `since`. It notifies nobody until the flapping ends.
    IncidentFlapping {
        tenant_id: TenantId,
        key: String,
        changes: u32,
        window_minutes: u32,
        since: DateTime<Utc>,
        reason: String,
        at: DateTime<Utc>,
    },
    /// Its key has been stable (no switch) since `stable_since` for the
    /// policy's window: the flapping is over and it notifies again.
    IncidentFlappingEnded {
        tenant_id: TenantId,
        key: String,
        stable_since: DateTime<Utc>,
        reason: String,
        at: DateTime<Utc>,
    },
}

impl IncidentEvent {
    /// The tenant the event belongs to.
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Self::IncidentOpened { tenant_id, .. }
            | Self::AlertAttached { tenant_id, .. }
            | Self::PriorityChanged { tenant_id, .. }
            | Self::IncidentAcknowledged { tenant_id, .. }
            | Self::IncidentAssigned { tenant_id, .. }
            | Self::IncidentCommented { tenant_id, .. }
            | Self::IncidentSilenced { tenant_id, .. }
            | Self::IncidentEscalated { tenant_id, .. }
            | Self::IncidentResolved { tenant_id, .. }
            | Self::IncidentReopened { tenant_id, .. }
            | Self::IncidentAlertResolved { tenant_id, .. }
            | Self::AllAlertsResolved { tenant_id, .. }
            | Self::IncidentFlapping { tenant_id, .. }
            | Self::IncidentFlappingEnded { tenant_id, .. } => *tenant_id,
        }
    }
}

crate::event_types::event_type_names!(IncidentEvent {
    IncidentOpened => OPENED,
    AlertAttached => ALERT_ATTACHED,
    PriorityChanged => PRIORITY_CHANGED,
    IncidentAcknowledged => ACKNOWLEDGED,
    IncidentAssigned => ASSIGNED,
    IncidentCommented => COMMENTED,
    IncidentSilenced => SILENCED,
    IncidentEscalated => ESCALATED,
    IncidentResolved => RESOLVED,
    IncidentReopened => REOPENED,
    IncidentAlertResolved => ALERT_RESOLVED,
    AllAlertsResolved => ALL_ALERTS_RESOLVED,
    IncidentFlapping => FLAPPING,
    IncidentFlappingEnded => FLAPPING_ENDED,
});

impl DomainEvent for IncidentEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        match self {
            Self::IncidentOpened { .. } | Self::AlertAttached { .. } => {
                crate::upcasters::INCIDENT_TOOL_SOURCE_VERSION
            }
            _ => crate::EVENT_VERSION,
        }
        .to_owned()
    }
}
