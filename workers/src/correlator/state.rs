//! The correlator's working state (tables `correlator_tenants`,
//! `correlator_keys` and `correlator_suppressed`), as rows the batch loads,
//! folds and writes back.

use alertledger_domain::maintenance::WindowSpec;
use alertledger_domain::values::{CorrelationPolicy, FlappingPolicy, Labels, Severity};
use alertledger_eventstore::consumer::rows::ReadModelRow;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A tenant's policy and critical assets as of the correlator's position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TenantRow {
    pub tenant_id: Uuid,
    pub policy: CorrelationPolicy,
    pub critical_assets: Vec<String>,
    /// The tenant's maintenance windows in force, as of the same position.
    #[serde(default)]
    pub windows: Vec<WindowState>,
    /// The tenant's flapping policy, as of the same position.
    #[serde(default)]
    pub flapping: FlappingPolicy,
}

impl ReadModelRow for TenantRow {
    const TABLE: &'static str = "correlator_tenants";
    const KEY: &'static [&'static str] = &["tenant_id"];
    const COLUMNS: &'static [&'static str] = &[
        "tenant_id",
        "policy",
        "critical_assets",
        "windows",
        "flapping",
    ];
}

/// One alert key's recent state changes and flapping mark (table
/// `correlator_flaps`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FlapRow {
    pub tenant_id: Uuid,
    pub key: String,
    /// `firing` or `resolved`: the status of the key's latest alert.
    pub last_status: String,
    /// Receipt times of its switches inside the window, oldest first.
    pub changes: Vec<DateTime<Utc>>,
    pub last_change_at: Option<DateTime<Utc>>,
    /// The window of the policy last applied (how long it must stay stable).
    pub window_minutes: i32,
    /// The incident marked flapping for this key, while it flaps.
    pub flapping_incident: Option<Uuid>,
    pub flapping_since: Option<DateTime<Utc>>,
}

impl ReadModelRow for FlapRow {
    const TABLE: &'static str = "correlator_flaps";
    const KEY: &'static [&'static str] = &["tenant_id", "key"];
    const COLUMNS: &'static [&'static str] = &[
        "tenant_id",
        "key",
        "last_status",
        "changes",
        "last_change_at",
        "window_minutes",
        "flapping_incident",
        "flapping_since",
    ];
}

/// One maintenance window as the correlator knows it from the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WindowState {
    pub window_id: Uuid,
    pub spec: WindowSpec,
    /// The latest occurrence end recorded (`MaintenanceWindowEnded`): an
    /// occurrence ending by then suppresses nothing more.
    pub ended_through: Option<DateTime<Utc>>,
}

/// An alert a window holds back, until its occurrence ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SuppressedAlert {
    pub tenant_id: Uuid,
    pub alert_id: Uuid,
    pub window_id: Uuid,
    pub until: DateTime<Utc>,
    /// What placing it later needs (its `at` is its receipt time).
    pub alert: WaitingAlert,
    pub labels: Labels,
}

impl TenantRow {
    pub fn new(tenant_id: Uuid) -> Self {
        Self {
            tenant_id,
            policy: CorrelationPolicy::default(),
            critical_assets: Vec::new(),
            windows: Vec::new(),
            flapping: FlappingPolicy::default(),
        }
    }
}

/// One aggregation key of one tenant: its open incident and waiting alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct KeyRow {
    pub tenant_id: Uuid,
    pub key: String,
    pub incident_id: Option<Uuid>,
    pub opened_at: Option<DateTime<Utc>>,
    pub last_alert_at: Option<DateTime<Utc>>,
    pub severity: Option<Severity>,
    pub tool_sources: Vec<String>,
    pub alert_count: i32,
    pub critical: bool,
    pub pending: Vec<WaitingAlert>,
}

impl ReadModelRow for KeyRow {
    const TABLE: &'static str = "correlator_keys";
    const KEY: &'static [&'static str] = &["tenant_id", "key"];
    const COLUMNS: &'static [&'static str] = &[
        "tenant_id",
        "key",
        "incident_id",
        "opened_at",
        "last_alert_at",
        "severity",
        "tool_sources",
        "alert_count",
        "critical",
        "pending",
    ];
}

impl KeyRow {
    pub fn new(tenant_id: Uuid, key: String) -> Self {
        Self {
            tenant_id,
            key,
            incident_id: None,
            opened_at: None,
            last_alert_at: None,
            severity: None,
            tool_sources: Vec::new(),
            alert_count: 0,
            critical: false,
            pending: Vec::new(),
        }
    }

    /// Forgets the open incident (resolved, or a new one takes its place).
    pub fn close_incident(&mut self) {
        self.incident_id = None;
        self.opened_at = None;
        self.last_alert_at = None;
        self.severity = None;
        self.tool_sources.clear();
        self.alert_count = 0;
        self.critical = false;
    }

    /// Counts `alert` into the open incident's priority inputs.
    pub fn count(&mut self, alert: &WaitingAlert, critical: bool) {
        self.alert_count += 1;
        self.last_alert_at = Some(
            self.last_alert_at
                .map_or(alert.at, |last| last.max(alert.at)),
        );
        self.severity = Some(match self.severity {
            Some(current) if current.base_priority() >= alert.severity.base_priority() => current,
            _ => alert.severity,
        });
        if !self.tool_sources.contains(&alert.tool_source) {
            self.tool_sources.push(alert.tool_source.clone());
            self.tool_sources.sort();
        }
        self.critical |= critical;
    }
}

/// An alert the correlator has seen but not yet put into an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WaitingAlert {
    pub alert_id: Uuid,
    /// When it was received (windows are measured in receipt time).
    pub at: DateTime<Utc>,
    pub severity: Severity,
    pub tool_source: String,
    pub asset: String,
    pub signature: String,
}
