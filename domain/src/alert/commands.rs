//! What can be asked of an alert.

use chrono::{DateTime, Utc};

use crate::values::{
    Actor, AlertId, AlertMessage, AlertSignature, AlertStatus, AssetName, CorrelationReason,
    DeliveryKey, Fingerprint, IncidentId, Labels, NormalizationWarning, Note, Severity, TenantId,
    ToolSource, WebhookSource, WindowId,
};

/// A request to record or change an alert.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertCommand {
    /// Record a normalized alert from a webhook delivery.
    ReceiveAlert {
        alert_id: AlertId,
        tenant_id: TenantId,
        delivery_key: DeliveryKey,
        source: WebhookSource,
        asset: AssetName,
        signature: AlertSignature,
        severity: Severity,
        message: AlertMessage,
        tool_source: ToolSource,
        status: AlertStatus,
        labels: Labels,
        /// When the tool says the condition began.
        occurred_at: DateTime<Utc>,
        fingerprint: Fingerprint,
        /// Whether the tenant described this asset (so the correlator knows to look it up).
        asset_known: bool,
        /// What was odd in the tool's payload and stored with a default.
        normalization_warnings: Vec<NormalizationWarning>,
    },
    /// A person saw the alert.
    AcknowledgeAlert { actor: Actor, note: Option<Note> },
    /// Record the correlator's decision for this alert.
    CorrelateAlert {
        incident_id: IncidentId,
        reason: CorrelationReason,
    },
    /// Record that a maintenance window holds the alert back.
    SuppressAlert {
        window_id: WindowId,
        until: DateTime<Utc>,
        reason: String,
    },
    /// Record that the window holding the alert no longer does.
    LiftSuppression { window_id: WindowId, reason: String },
    /// The source reported the alert resolved.
    ResolveAlertFromSource {
        /// When the source says it cleared.
        resolved_at: DateTime<Utc>,
        /// The delivery that carried the resolution, if it was a separate one.
        delivery_key: Option<DeliveryKey>,
    },
}
