//! Remediation: runbooks run through AWS SSM under risk-based approvals.
//!
//! - [`dispatcher`] — the runbook dispatcher, a projector that records
//!   decisions: when an incident opens and the tenant has an auto-executing
//!   runbook for its signature, a low-risk runbook is requested for execution
//!   at once and a medium- or high-risk one gets an approval request; a
//!   granted approval is turned into an execution; an execution's outcome
//!   resolves the incident as self-healed or escalates it. It also keeps the
//!   executor's queue.
//! - [`executor`] — the SSM executor: drives each queued execution through
//!   SendCommand and GetCommandInvocation polling to its outcome, never
//!   sending a command twice (see its module doc).
//! - [`expirer`] — records the expiry of approvals nobody decided in time.
//!
//! Ids of what the dispatcher creates are derived from what caused them
//! (UUIDv5), so a decision can only ever be recorded once.

pub mod dispatcher;
pub mod executor;
pub mod expirer;

use std::time::Duration;

use alertledger_domain::values::{Actor, Role, UserId};
use alertledger_domain::ValueError;
use alertledger_eventstore::store::EventMetadata;
use uuid::Uuid;

pub use dispatcher::RunbookDispatcher;
pub use executor::{ExecutorSettings, SsmExecutor};
pub use expirer::ApprovalExpirer;

/// How long an approval request stays decidable unless configured otherwise.
pub const DEFAULT_APPROVAL_TTL: Duration = Duration::from_secs(60 * 60);

/// The fixed namespace of ids the dispatcher derives. Permanent.
const DERIVED_ID_NAMESPACE: Uuid = Uuid::from_u128(0x3f6c_51a0_8d2e_4b7a_a1c4_92e0_5d17_c3b8);

/// An id derived from `parts` (the ids of what caused it).
pub(crate) fn derived_id(kind: &str, parts: &[Uuid]) -> Uuid {
    let mut name = Vec::with_capacity(kind.len() + 16 * parts.len());
    name.extend_from_slice(kind.as_bytes());
    for part in parts {
        name.extend_from_slice(part.as_bytes());
    }
    Uuid::new_v5(&DERIVED_ID_NAMESPACE, &name)
}

/// A worker as the actor of what it records (the audit trail names it),
/// e.g. `worker:runbook-dispatcher`.
pub(crate) fn worker_actor(worker: &'static str) -> Result<Actor, ValueError> {
    let user = UserId::parse(&format!("worker:{worker}"))?;
    Ok(Actor::new(user, worker.replace('-', " "), Role::MspAdmin))
}

/// Metadata of what a worker records because of the event at `cause`.
pub(crate) fn worker_metadata(
    worker: &'static str,
    cause: Option<i64>,
    correlation: Option<Uuid>,
) -> EventMetadata {
    EventMetadata {
        actor: Some(format!("worker:{worker}")),
        causation_id: cause.map(|position| position.to_string()),
        correlation_id: correlation.map(|id| id.to_string()),
        ..EventMetadata::default()
    }
}
