//! The read models: plain tables analysts query with SQL, each kept by a
//! projection from the global log and rebuildable from it, with the queries
//! the API answers from. Nothing here writes events or calls out: the log
//! and the consumer runtime that feeds these folds live in
//! `alertledger-eventstore`.
//!
//! # Layout
//!
//! - [`alerts`] — `alerts`: one row per received alert.
//! - [`incidents`] — `incidents` (one row per incident, with its priority and
//!   tools), `incident_alerts` (its members) and `incident_timeline` (its
//!   events, in order, with a sentence and the correlation reason).
//! - [`audit`] — the audit trail (`audit_entries`): every event as who did
//!   what to which target, when.
//! - [`kpis`] — KPIs per tenant per day (`kpi_daily`, `kpi_incidents`), also
//!   as history stood at a past time.
//! - [`remediation`] — `runbooks`, `approvals`, `executions` and
//!   `remediation_timeline` (their events on the incident's timeline).
//! - [`escalations`] — `escalation_timeline` (escalation events on the
//!   incident's timeline: levels reached with their reason and targets).
//! - [`notifications`] — `notifications` (one row per notification and its
//!   state) and `notification_timeline` (their events on the incident's timeline).
//! - [`page`] — keyset pagination with opaque cursors, shared by the lists.
//!
//! Each projection is a [`LogConsumer`]; [`all`] lists them for the
//! application builder (which runs them) and the CLI (which rebuilds them).

pub mod alerts;
pub mod audit;
mod decode;
pub mod deliveries;
pub mod escalations;
pub mod incidents;
pub mod kpis;
pub mod notifications;
pub mod page;
pub mod remediation;
pub mod sns_subscriptions;

use std::sync::Arc;

use alertledger_eventstore::consumer::LogConsumer;

/// Every read-model projection.
pub fn all() -> Vec<Arc<dyn LogConsumer>> {
    vec![
        Arc::new(alerts::AlertsProjection),
        Arc::new(incidents::IncidentsProjection),
        Arc::new(audit::AuditProjection),
        Arc::new(kpis::KpiProjection),
        Arc::new(remediation::RemediationProjection),
        Arc::new(escalations::EscalationsProjection),
        Arc::new(notifications::NotificationsProjection),
    ]
}
