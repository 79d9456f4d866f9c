//! The correlator: turns alert receipts into incidents, recording every
//! decision and its reason as events.
//!
//! It is a projector over the log (see `alertledger_eventstore::consumer`)
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
//!   once `min_alerts` wait, an incident opens with all of them (an alert that
//!   falls out of the window before that stays uncorrelated: noise);
//! - with `auto_correlate` off, alerts only wait; a `CorrelationRequested`
//!   event (from `POST /incidents/correlate`) groups every waiting alert;
//! - a source resolution is noted on the incident; when all its alerts are
//!   resolved and the policy has `auto_resolve`, the incident is resolved;
//! - a resolved incident takes no more alerts: the next one opens a new one
//!   (also after a reopen: a reopened incident is a person's to finish).
//!
//! Maintenance windows (see `batch::suppression`): an alert a window in
//! force covers is recorded as suppressed and placed only when the window
//! ends (or changes or goes), as if it had just arrived then.
//!
//! Flapping (see `batch::flapping`): a key whose alerts switch between
//! firing and resolved more often than the tenant's flapping policy allows
//! marks its incident flapping (`IncidentFlapping`); the [`settler`] records
//! the end once the key has been stable for the policy's window.
//!
//! Windows are measured in receipt time (the `at` of `AlertReceived`), so the
//! same log always yields the same decisions. The priority score follows the
//! product rule and is recomputed on every attach (recorded when it changes).

mod batch;
pub mod settler;
mod state;

pub use settler::{FlapSettler, SETTLER};

use alertledger_domain::alert::AlertEvent;
use alertledger_domain::incident::IncidentEvent;
use alertledger_domain::maintenance::MaintenanceWindowEvent;
use alertledger_domain::tenant::TenantEvent;
use std::collections::HashMap;
use std::sync::Mutex;

use alertledger_domain::incident::Incident;
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::{ConsumerError, LogConsumer, Target};
use alertledger_eventstore::log::LogEvent;
use alertledger_eventstore::unit_of_work::Loaded;
use async_trait::async_trait;
use sqlx::PgConnection;

pub use batch::CORRELATOR as CORRELATOR_ACTOR;

/// The events the correlator reads.
const EVENT_TYPES: &[&str] = &[
    AlertEvent::RECEIVED,
    AlertEvent::RESOLVED_BY_SOURCE,
    TenantEvent::CORRELATION_POLICY_CHANGED,
    TenantEvent::ASSET_UPSERTED,
    TenantEvent::CORRELATION_REQUESTED,
    TenantEvent::FLAPPING_POLICY_CHANGED,
    IncidentEvent::RESOLVED,
    IncidentEvent::FLAPPING_ENDED,
    MaintenanceWindowEvent::CREATED,
    MaintenanceWindowEvent::CHANGED,
    MaintenanceWindowEvent::DELETED,
    MaintenanceWindowEvent::ENDED,
];

/// The correlator as a [`LogConsumer`] (run it with a `ConsumerRunner`).
pub struct Correlator {
    services: DomainServices,
    incidents: Mutex<IncidentCache>,
}

/// Incident states as last committed, so a batch reads only the events an
/// incident gained since (a busy incident can hold thousands of alerts).
/// Entries are checked against the store by sequence before use, so writes
/// by people or other processes are never missed.
#[derive(Default)]
pub(crate) struct IncidentCache {
    /// Each state with the number of the batch that last touched it.
    committed: HashMap<String, (u64, Loaded<Incident>)>,
    /// States the last batch left, until its transaction commits.
    pending: HashMap<String, Loaded<Incident>>,
    batches: u64,
}

/// Past this many cached incidents, the least recently touched half goes
/// (busy incidents, the expensive ones to reload, stay).
const CACHE_LIMIT: usize = 20_000;

impl IncidentCache {
    /// The committed state of `id` to start from (default: none known).
    pub(crate) fn start(&self, id: &str) -> Loaded<Incident> {
        self.committed
            .get(id)
            .map(|(_, state)| state.clone())
            .unwrap_or_default()
    }

    /// Keeps what the last batch left, now that it committed.
    fn commit(&mut self) {
        self.batches += 1;
        let batch = self.batches;
        let pending = std::mem::take(&mut self.pending);
        self.committed
            .extend(pending.into_iter().map(|(id, state)| (id, (batch, state))));
        if self.committed.len() > CACHE_LIMIT {
            let mut touched: Vec<u64> = self.committed.values().map(|(b, _)| *b).collect();
            let middle = touched.len() / 2;
            let (_, median, _) = touched.select_nth_unstable(middle);
            let cutoff = *median;
            self.committed.retain(|_, (b, _)| *b > cutoff);
        }
    }
}

impl Correlator {
    /// Its checkpoint name.
    pub const NAME: &'static str = "correlator";

    pub fn new(services: DomainServices) -> Self {
        Self {
            services,
            incidents: Mutex::new(IncidentCache::default()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, IncidentCache> {
        // A panic while holding the lock leaves only a cache behind: keep using it.
        self.incidents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl LogConsumer for Correlator {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "correlator_tenants",
            "correlator_keys",
            "correlator_suppressed",
            "correlator_flaps",
        ]
    }

    fn event_types(&self) -> Option<&'static [&'static str]> {
        Some(EVENT_TYPES)
    }

    /// Imported receipts were correlated where they came from (their
    /// `AlertCorrelated` and incident events came along); policy and asset
    /// changes are still folded into the working state.
    fn decides_on(&self) -> &'static [&'static str] {
        &[
            AlertEvent::RECEIVED,
            AlertEvent::RESOLVED_BY_SOURCE,
            TenantEvent::CORRELATION_REQUESTED,
            IncidentEvent::FLAPPING_ENDED,
        ]
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
    ) -> Result<(), ConsumerError> {
        self.cache().pending.clear();
        let touched =
            batch::CorrelationBatch::new(conn, &self.services, target.clone(), &self.incidents)
                .run(events)
                .await?;
        self.cache().pending = touched;
        Ok(())
    }

    async fn committed(&self) {
        self.cache().commit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overfull_cache_drops_the_least_recently_touched_half() {
        let mut cache = IncidentCache::default();
        for batch in 0..CACHE_LIMIT + 1 {
            cache
                .pending
                .insert(format!("cold-{batch}"), Loaded::default());
            // A busy incident is touched by every batch.
            cache.pending.insert("busy".to_owned(), Loaded::default());
            cache.commit();
        }
        assert!(cache.committed.len() <= CACHE_LIMIT / 2 + 2);
        assert!(cache.committed.contains_key("busy"));
        assert!(cache.committed.contains_key(&format!("cold-{CACHE_LIMIT}")));
        assert!(!cache.committed.contains_key("cold-0"));
    }
}
