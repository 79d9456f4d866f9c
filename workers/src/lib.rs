//! alertledger's process managers: consumers of the global log that record
//! decisions or call the outside world.
//!
//! # Layout
//!
//! - [`correlator`] — alert receipts → incidents, each decision with its reason.
//! - [`remediation`] — runbook dispatcher, SSM executor and approval expirer.
//! - [`maintenance`] — the window closer (records window ends that hold alerts).
//! - [`escalation`] — escalation timers from the log and the escalator that
//!   records each level reached (issue 18).
//! - [`heartbeat`] — the heartbeat checker (raises and resolves the alerts
//!   of heartbeats that went quiet).
//! - [`notifier`] — notification rules on incident events, and delivery
//!   from an outbox with retries (issue 18).
//! - [`sealer`] — every event's leaf into the audit Merkle tree, and signed
//!   checkpoints of it.
//! - [`background`] — what the workers add to a process: their log
//!   consumers (for the consumer runtime) and the time-driven workers.
//!
//! Rules for every worker here: it keeps a checkpoint in the log's order
//! (moved in the same transaction as what it records), is idempotent when it
//! re-reads events after a restart, and takes a PostgreSQL advisory lock so
//! that only one instance runs per database. It depends on `domain`, the
//! event store and its consumer runtime, the sealed log and SSM, never on
//! `api`; of the read models only the approvals list (the expirer's due
//! list).

pub mod background;
pub mod correlator;
pub mod escalation;
pub mod heartbeat;
pub mod maintenance;
pub mod notifier;
pub mod remediation;
pub mod sealer;
