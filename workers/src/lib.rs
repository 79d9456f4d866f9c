//! Home of alertledger's process managers: consumers of the global log that
//! issue commands or call the outside world (correlator, runbook dispatcher,
//! SSM executor, approval expirer, sealer).
//!
//! Rules for every worker here: it keeps a checkpoint in the log's order, is
//! idempotent when it re-reads events after a restart, and takes a PostgreSQL
//! advisory lock so that only one instance runs per database. It depends on
//! `domain` and `projections`, never on `api`.
