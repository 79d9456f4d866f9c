//! What happened to a heartbeat. Variant names are stored and permanent.
//! There is deliberately no event per beat (see the module doc).

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::settings::default_severity;
use super::HeartbeatName;
use crate::values::{Actor, AlertId, AssetName, HeartbeatId, Labels, Severity, TenantId};

/// A fact about a heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HeartbeatEvent {
    /// Its first beat arrived; from now on it is expected to beat within
    /// `timeout_seconds`.
    HeartbeatRegistered {
        tenant_id: TenantId,
        heartbeat_id: HeartbeatId,
        name: HeartbeatName,
        timeout_seconds: u32,
        asset: Option<AssetName>,
        labels: Labels,
        /// The severity of the alert a miss raises (`high` in events stored
        /// before it was a setting).
        #[serde(default = "default_severity")]
        severity: Severity,
        at: DateTime<Utc>,
    },
    /// A beat carried new settings.
    HeartbeatChanged {
        tenant_id: TenantId,
        heartbeat_id: HeartbeatId,
        timeout_seconds: u32,
        asset: Option<AssetName>,
        labels: Labels,
        /// The severity of the alert a miss raises (`high` in events stored
        /// before it was a setting).
        #[serde(default = "default_severity")]
        severity: Severity,
        at: DateTime<Utc>,
    },
    /// No beat came by `deadline` (last beat at `last_seen_at`): alert
    /// `alert_id` (signature `heartbeat_missed`) was raised.
    HeartbeatMissed {
        tenant_id: TenantId,
        heartbeat_id: HeartbeatId,
        name: HeartbeatName,
        last_seen_at: DateTime<Utc>,
        deadline: DateTime<Utc>,
        alert_id: AlertId,
        at: DateTime<Utc>,
    },
    /// A beat came again at `seen_at`; the resolved alert `resolved_by`
    /// (same fingerprint) resolves the missed one.
    HeartbeatRecovered {
        tenant_id: TenantId,
        heartbeat_id: HeartbeatId,
        name: HeartbeatName,
        seen_at: DateTime<Utc>,
        missed_alert_id: AlertId,
        resolved_by: AlertId,
        at: DateTime<Utc>,
    },
    /// A tenant admin paused it: no miss is raised until it is resumed.
    HeartbeatPaused {
        tenant_id: TenantId,
        heartbeat_id: HeartbeatId,
        name: HeartbeatName,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// A tenant admin resumed it: its next beat is due a timeout from now.
    HeartbeatResumed {
        tenant_id: TenantId,
        heartbeat_id: HeartbeatId,
        name: HeartbeatName,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// A tenant admin deleted it; the open alerts of its last miss,
    /// `resolved_alerts`, were resolved with it. A later beat registers it
    /// anew.
    HeartbeatDeleted {
        tenant_id: TenantId,
        heartbeat_id: HeartbeatId,
        name: HeartbeatName,
        resolved_alerts: Vec<AlertId>,
        actor: Actor,
        at: DateTime<Utc>,
    },
}

impl HeartbeatEvent {
    /// The tenant the event belongs to.
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Self::HeartbeatRegistered { tenant_id, .. }
            | Self::HeartbeatChanged { tenant_id, .. }
            | Self::HeartbeatMissed { tenant_id, .. }
            | Self::HeartbeatRecovered { tenant_id, .. }
            | Self::HeartbeatPaused { tenant_id, .. }
            | Self::HeartbeatResumed { tenant_id, .. }
            | Self::HeartbeatDeleted { tenant_id, .. } => *tenant_id,
        }
    }
}

crate::event_types::event_type_names!(HeartbeatEvent {
    HeartbeatRegistered => REGISTERED,
    HeartbeatChanged => CHANGED,
    HeartbeatMissed => MISSED,
    HeartbeatRecovered => RECOVERED,
    HeartbeatPaused => PAUSED,
    HeartbeatResumed => RESUMED,
    HeartbeatDeleted => DELETED,
});

impl DomainEvent for HeartbeatEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        crate::EVENT_VERSION.to_owned()
    }
}
