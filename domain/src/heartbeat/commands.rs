//! What can be asked of a heartbeat.

use chrono::{DateTime, Utc};

use super::{HeartbeatName, HeartbeatSettings};
use crate::values::{Actor, AlertId, HeartbeatId, TenantId};

/// A request to record something about a heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub enum HeartbeatCommand {
    /// Its first beat: remember it with its settings.
    Register {
        tenant_id: TenantId,
        heartbeat_id: HeartbeatId,
        name: HeartbeatName,
        settings: HeartbeatSettings,
    },
    /// A beat carried other settings than those recorded.
    ChangeSettings { settings: HeartbeatSettings },
    /// No beat came by `deadline`: alert `alert_id` was raised.
    RecordMissed {
        last_seen_at: DateTime<Utc>,
        deadline: DateTime<Utc>,
        alert_id: AlertId,
    },
    /// A beat came again at `seen_at`: alert `resolved_by` resolves the missed one.
    RecordRecovered {
        seen_at: DateTime<Utc>,
        resolved_by: AlertId,
    },
    /// Raise no miss until resumed (a tenant admin).
    Pause { actor: Actor },
    /// Expect beats again (a tenant admin).
    Resume { actor: Actor },
    /// Forget it (a tenant admin); the open alerts of its miss,
    /// `resolved_alerts`, are resolved in the same transaction.
    Delete {
        actor: Actor,
        resolved_alerts: Vec<AlertId>,
    },
}
