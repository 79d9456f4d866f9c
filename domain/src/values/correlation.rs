//! Why the correlator put an alert where it did.

use serde::{Deserialize, Serialize};

use super::IncidentId;

/// The recorded reason of a correlation decision, so an auditor (and the
/// incident timeline) can see why, and replay never recomputes it under a
/// later policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrelationReason {
    /// The rendered aggregation key (e.g. `web01|HighCPU`).
    pub key: String,
    /// The policy's time window when the decision was made.
    pub window_minutes: u32,
    /// What was decided.
    pub decision: CorrelationDecision,
    /// A sentence for people, e.g. "no open incident with key web01|HighCPU in the last 15 minutes".
    pub explanation: String,
}

/// The correlator's decision for one alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CorrelationDecision {
    /// A new incident was opened for it.
    Opened,
    /// It was attached to an existing open incident.
    Attached {
        /// The incident it joined.
        to: IncidentId,
    },
}
