//! The read side of alertledger and the log it is built from.
//!
//! - [`log`] — the global event log: [`log::LogCursor`], batch reads in commit-safe
//!   log order, a tailing stream, and the wake-up signal that tells tailers (in
//!   this and other processes) that something was appended.
//! - [`receipts`] — the hot append path for alert receipts: many receipts in one
//!   transaction, idempotent on the alert's aggregate id.
//! - [`store`] — command execution on every other aggregate (cqrs-es over
//!   postgres-es), with event metadata and log hints.
//! - [`unit_of_work`] — commands on aggregates inside a caller's transaction
//!   (decisions stored together with a worker's checkpoint).
//! - [`projector`] — checkpointed projectors over the log, their rebuild from
//!   history, and their status.
//! - [`read_models`] — the tables projectors keep (alerts, incidents, audit
//!   trail, KPIs) and the queries the API answers from.
//! - [`sealed_log`] — the audit Merkle tree's leaves, subtree roots and
//!   signed checkpoints in PostgreSQL; proofs, `audit verify` and bundle export.

pub mod log;
pub mod projector;
pub mod read_models;
pub mod receipts;
pub mod sealed_log;
pub mod store;
pub mod unit_of_work;
