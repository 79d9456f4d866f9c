//! alertledger's event store: how events are written, how the one global log
//! is read back in a stable order, and the runtime that feeds that log to
//! every consumer (read-model projections and process managers alike).
//!
//! It knows the domain's aggregates and event types, and the database schema;
//! it knows no read model, no HTTP and no worker.
//!
//! # Layout
//!
//! - [`store`] — command execution on aggregates (cqrs-es over postgres-es,
//!   plain event-store mode) with [`store::EventMetadata`], and the wake-up
//!   hint after each commit.
//! - [`receipts`] — the hot append path for alert receipts: typed receipts
//!   serialized here, coalesced across concurrent requests into one
//!   multi-row insert, idempotent on the aggregate id.
//! - [`unit_of_work`] — commands on aggregates inside a caller's transaction
//!   (decisions stored together with a consumer's checkpoint).
//! - [`log`] — the global log: [`log::LogCursor`], batch reads in
//!   commit-safe order, a tailing stream, and the wake-up signal shared by
//!   tailers in this and other processes.
//! - [`consumer`] — the consumer runtime: the [`consumer::LogConsumer`]
//!   trait, checkpoints, one runner per consumer (advisory-locked, so one
//!   active instance per database), the daemon that runs a list of them,
//!   rebuilds from history (shadow tables, staging, COPY) and status.
//! - [`alarms`] — workers that stopped on purpose (a rewritten seal), for
//!   `/readyz` and `/metrics`.
//! - [`queries`] — the few reads of stored events' JSON that are not the log
//!   (a tool's resolution finding the alerts it refers to).

pub mod alarms;
pub mod consumer;
pub mod log;
pub mod queries;
pub mod receipts;
pub mod store;
pub mod unit_of_work;
