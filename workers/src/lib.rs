//! alertledger's process managers: consumers of the global log that issue
//! commands or call the outside world (correlator, runbook dispatcher, SSM
//! executor, approval expirer, sealer). Each is checkpointed, idempotent, and
//! runs once per database under a PostgreSQL advisory lock.
//!
//! It depends on `domain` and `projections`, never on `api`.
