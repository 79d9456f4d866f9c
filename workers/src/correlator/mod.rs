//! The correlator: turns alert receipts into incidents, recording every
//! decision and its reason as events.
//!
//! It is a projector over the log (see `alertledger_projections::projector`)
//! whose batch records decisions through a unit of work: the decisions, its
//! working state (`correlator_tenants`, `correlator_keys`) and its checkpoint
//! commit in one transaction, so a restart resumes with no lost and no doubled
//! decision. One instance runs per database (advisory lock), and batches are
//! serialised by the checkpoint lock, so alerts of one key always meet exactly
//! one open incident, however many processes serve the API.
//!
//! Rules, per tenant, under the policy in force at the alert's place in the log:
//! - the key is the policy's aggregation template rendered for the alert;
//! - an alert joins the key's open incident when the incident's previous alert
//!   was received at most `time_window_minutes` before it;
//! - otherwise it waits with the key's other waiting alerts of the window, and
//!   once `min_alerts` wait, an incident opens with all of them;
//! - with `auto_correlate` off, alerts only wait; a `CorrelationRequested`
//!   event (from `POST /incidents/correlate`) groups every waiting alert;
//! - a source resolution is noted on the incident; when all its alerts are
//!   resolved and the policy has `auto_resolve`, the incident is resolved;
//! - a resolved incident takes no more alerts: the next one opens a new one.
//!
//! Windows are measured in receipt time (the `at` of `AlertReceived`), so the
//! same log always yields the same decisions. The priority score follows the
//! product rule and is recomputed on every attach (recorded when it changes).

mod batch;
mod state;

use alertledger_domain::DomainServices;
use alertledger_projections::log::LogEvent;
use alertledger_projections::projector::{Projection, ProjectionError, Target};
use async_trait::async_trait;
use sqlx::PgConnection;

pub use batch::CORRELATOR as CORRELATOR_ACTOR;

/// The events the correlator reads.
const EVENT_TYPES: &[&str] = &[
    "AlertReceived",
    "AlertResolvedBySource",
    "CorrelationPolicyChanged",
    "AssetUpserted",
    "CorrelationRequested",
    "IncidentResolved",
];

/// The correlator as a [`Projection`] (run it with a `ProjectorRunner`).
pub struct Correlator {
    services: DomainServices,
}

impl Correlator {
    /// Its checkpoint name.
    pub const NAME: &'static str = "correlator";

    pub fn new(services: DomainServices) -> Self {
        Self { services }
    }
}

#[async_trait]
impl Projection for Correlator {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["correlator_tenants", "correlator_keys"]
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(EVENT_TYPES)
    }

    fn rebuildable(&self) -> bool {
        false
    }

    fn appends_events(&self) -> bool {
        true
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        target: &Target,
        events: &[LogEvent],
    ) -> Result<(), ProjectionError> {
        batch::CorrelationBatch::new(conn, &self.services, target.clone())
            .run(events)
            .await
    }
}
