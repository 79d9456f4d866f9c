//! What can be asked of an incident.

use super::Resolution;
use chrono::{DateTime, Utc};

use crate::values::{
    Actor, AlertId, AlertSignature, AssetName, CorrelationReason, IncidentId, Note, PriorityScore,
    Severity, TenantId, ToolSource, UserId, WindowId,
};

/// A request to open or change an incident.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentCommand {
    /// Open an incident for an alert the correlator found no home for.
    OpenIncident {
        incident_id: IncidentId,
        tenant_id: TenantId,
        /// The rendered aggregation key alerts of this incident share.
        key: String,
        first_alert: AlertId,
        asset: AssetName,
        signature: AlertSignature,
        severity: Severity,
        priority: PriorityScore,
        reason: CorrelationReason,
        /// The tool that reported the first alert.
        tool_source: ToolSource,
    },
    /// Add a correlated alert, with the recomputed priority if the correlator has one.
    AttachAlert {
        alert_id: AlertId,
        reason: CorrelationReason,
        priority: Option<PriorityScore>,
        /// The tool that reported it.
        tool_source: ToolSource,
    },
    /// Someone is looking at it.
    AcknowledgeIncident { actor: Actor },
    /// Hand it to a person.
    AssignIncident { assignee: UserId, actor: Actor },
    /// Add a note to the timeline (allowed at any time, also once resolved).
    CommentOnIncident { text: Note, actor: Actor },
    /// Record that its key was silenced by window `window_id` until `until`.
    RecordSilence {
        window_id: WindowId,
        until: DateTime<Utc>,
        reason: Option<Note>,
        actor: Actor,
    },
    /// Hand it up.
    EscalateIncident { reason: Note, actor: Actor },
    /// Close it.
    ResolveIncident {
        actor: Actor,
        note: Option<Note>,
        resolution: Resolution,
    },
    /// Open it again after it was resolved.
    ReopenIncident { actor: Actor, reason: Option<Note> },
    /// One of its alerts was resolved at the source.
    RecordAlertResolved { alert_id: AlertId },
    /// The correlator found its key flapping (see `IncidentFlapping`).
    MarkFlapping {
        key: String,
        changes: u32,
        window_minutes: u32,
        since: DateTime<Utc>,
        reason: String,
    },
    /// Its key has been stable since `stable_since` for the policy's window.
    EndFlapping {
        stable_since: DateTime<Utc>,
        reason: String,
    },
}
