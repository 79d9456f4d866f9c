//! The read models: plain tables analysts query with SQL, each kept by a
//! projector from the global log and rebuildable from it, with the queries the
//! API answers from.
//!
//! - [`alerts`] — `alerts`: one row per received alert.
//! - [`incidents`] — `incidents` (one row per incident, with its alerts,
//!   priority and tools) and `incident_timeline` (its events, in order, with a
//!   sentence and the correlation reason).
//! - [`page`] — keyset pagination with opaque cursors, shared by the lists.

pub mod alerts;
mod decode;
pub mod incidents;
pub mod page;

use std::sync::Arc;

use crate::projector::Projection;

/// Every read-model projection, for the service to run and the CLI to rebuild.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(alerts::AlertsProjection),
        Arc::new(incidents::IncidentsProjection),
    ]
}
