//! Read models for analysts: plain tables kept by projectors from the log, and
//! the queries the API serves from them.
//!
//! - [`audit`] — the audit trail (`audit_entries`).
//! - [`kpis`] — KPIs per tenant per day (`kpi_daily`, `kpi_incidents`), also
//!   as history stood at a past time.

pub mod audit;
pub mod kpis;

use std::sync::Arc;

use crate::projector::Projection;

/// The audit and KPI projectors, for the service to run (one
/// [`crate::projector::ProjectorRunner`] each) and the CLI to rebuild.
pub fn audit_and_kpis() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(audit::AuditProjection),
        Arc::new(kpis::KpiProjection),
    ]
}
