//! What happened to an alert. Variant names are stored and permanent.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::values::{
    Actor, AlertId, AlertMessage, AlertSignature, AlertStatus, AssetName, CorrelationReason,
    DeliveryKey, Fingerprint, IncidentId, Labels, NormalizationWarning, Note, Severity, TenantId,
    ToolSource, WebhookSource, WindowId,
};

/// A fact about an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AlertEvent {
    /// The alert was received (possibly already resolved at the source).
    AlertReceived {
        tenant_id: TenantId,
        alert_id: AlertId,
        delivery_key: DeliveryKey,
        source: WebhookSource,
        asset: AssetName,
        signature: AlertSignature,
        severity: Severity,
        message: AlertMessage,
        tool_source: ToolSource,
        status: AlertStatus,
        labels: Labels,
        occurred_at: DateTime<Utc>,
        fingerprint: Fingerprint,
        asset_known: bool,
        /// What was odd in the tool's payload and stored with a default
        /// (absent in events stored before lenient ingestion).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        normalization_warnings: Vec<NormalizationWarning>,
        /// When we received it.
        at: DateTime<Utc>,
    },
    /// A person acknowledged the alert.
    AlertAcknowledged {
        tenant_id: TenantId,
        actor: Actor,
        note: Option<Note>,
        at: DateTime<Utc>,
    },
    /// The correlator put the alert into an incident, for the recorded reason.
    AlertCorrelated {
        tenant_id: TenantId,
        incident_id: IncidentId,
        reason: CorrelationReason,
        at: DateTime<Utc>,
    },
    /// The correlator held the alert back: a maintenance window in force
    /// covers it (until `until`, the end of the window's occurrence). It
    /// opens and joins no incident while suppressed.
    AlertSuppressed {
        tenant_id: TenantId,
        window_id: WindowId,
        until: DateTime<Utc>,
        reason: String,
        at: DateTime<Utc>,
    },
    /// The window that held the alert ended (or changed or was deleted)
    /// while the alert still fired: it is correlated now, as if just arrived.
    AlertSuppressionLifted {
        tenant_id: TenantId,
        window_id: WindowId,
        reason: String,
        at: DateTime<Utc>,
    },
    /// The source reported the alert resolved.
    AlertResolvedBySource {
        tenant_id: TenantId,
        resolved_at: DateTime<Utc>,
        delivery_key: Option<DeliveryKey>,
        at: DateTime<Utc>,
    },
}

impl AlertEvent {
    /// The tenant the event belongs to.
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Self::AlertReceived { tenant_id, .. }
            | Self::AlertAcknowledged { tenant_id, .. }
            | Self::AlertCorrelated { tenant_id, .. }
            | Self::AlertSuppressed { tenant_id, .. }
            | Self::AlertSuppressionLifted { tenant_id, .. }
            | Self::AlertResolvedBySource { tenant_id, .. } => *tenant_id,
        }
    }
}

crate::event_types::event_type_names!(AlertEvent {
    AlertReceived => RECEIVED,
    AlertAcknowledged => ACKNOWLEDGED,
    AlertCorrelated => CORRELATED,
    AlertResolvedBySource => RESOLVED_BY_SOURCE,
    AlertSuppressed => SUPPRESSED,
    AlertSuppressionLifted => SUPPRESSION_LIFTED,
});

impl DomainEvent for AlertEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        crate::EVENT_VERSION.to_owned()
    }
}
