//! The domain of alertledger: aggregates, commands, events, value types and
//! service traits, with no I/O of any kind.
//!
//! # Layout
//!
//! - [`values`]: value types that parse instead of validate (ids, names,
//!   severity, roles, policies, AWS identities). Serde goes through the same
//!   parser, so invalid data can't enter or leave.
//! - [`services`]: the [`Clock`] trait and [`DomainServices`], the one
//!   `Aggregate::Services` of every aggregate.
//! - One module per aggregate, each with `commands` (imperative), `events`
//!   (past tense, permanent names), `aggregate` (`handle` holds every rule,
//!   `apply` only folds), `errors`, and given/when/then tests:
//!   - [`tenant`]: registration, API keys, webhook secrets, policies, assets, AWS role;
//!   - [`alert`]: one received alert, its acknowledgement, correlation and resolution;
//!   - [`incident`]: the incident lifecycle (open, attach, ack, assign, escalate, resolve, reopen);
//!   - [`runbook`]: a tenant's remediation for one alert signature;
//!   - [`approval`]: risk-based approval of a runbook run, with expiry;
//!   - [`execution`]: one SSM run of a runbook and its per-instance invocations;
//!   - [`quarantine`]: an operator's quarantine of one log event for one consumer;
//!   - [`delivery`]: a refused webhook delivery, kept;
//!   - [`change_report`]: a change a tool reported (PagerDuty change events).
//!   - [`user`]: people who sign in: invitations, roles, tenants, disabling, revoked sessions.
//!   - [`notification`]: a tenant's notification channels.
//!   - [`maintenance`]: maintenance windows and silences (suppression periods).
//!   - [`escalation`]: on-call schedules, escalation policies, and each
//!     policy's run for an incident.
//!   - [`heartbeat`]: sources expected to beat; registrations and missed/recovered states.
//! - [`event_types`]: the stored name of every event type, as constants on
//!   each event enum (`AlertEvent::RECEIVED`), and [`event_types::ALL`].
//! - [`upcasters`]: how older stored event shapes are brought up to date on read.
//!
//! Every event is externally tagged (`{"VariantName": {...}}`) and carries
//! `tenant_id` and `at`; the event store derives the tenant column from
//! `$.*.tenant_id`.

pub mod alert;
pub mod approval;
pub mod change_report;
pub mod delivery;
pub mod escalation;
pub mod event_types;
pub mod execution;
pub mod heartbeat;
pub mod incident;
pub mod maintenance;
pub mod notification;
pub mod quarantine;
pub mod runbook;
pub mod services;
pub mod tenant;
pub mod upcasters;
pub mod user;
pub mod values;

#[cfg(test)]
mod testing;

pub use services::{Clock, DomainServices, FixedClock, SystemClock};
pub use values::ValueError;

/// The version every event currently has; bumped per event type with an upcaster.
pub(crate) const EVENT_VERSION: &str = "1.0";
