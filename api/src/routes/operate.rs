//! What the operator command routes (incidents, alerts) share: deciding whether
//! the caller may act on a loaded aggregate's tenant, running the command with
//! retries when another request changed the same aggregate at the same moment,
//! and turning store failures and invalid fields into API errors.

use alertledger_domain::values::{TenantId, ValueError};
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use cqrs_es::{Aggregate, AggregateError};

use crate::auth::{Action, Caller};
use crate::error::ApiError;

/// How many times a command is run when it keeps losing the race for its
/// aggregate; each run reloads the aggregate, so the rules see the winner's events.
const MAX_ATTEMPTS: u32 = 3;

/// The tenant of an aggregate the caller may operate on.
///
/// An aggregate without events, or of a tenant the caller cannot read, is
/// `not_found` (so another tenant's ids are never revealed); a readable tenant
/// with a role that may not operate is 403.
pub(crate) fn operable_tenant(
    caller: &Caller,
    tenant: Option<TenantId>,
    not_found: fn() -> ApiError,
) -> Result<TenantId, ApiError> {
    let tenant = tenant
        .filter(|tenant| caller.may_read(tenant))
        .ok_or_else(not_found)?;
    caller.authorize(Action::Operate, &tenant)?;
    Ok(tenant)
}

/// Runs `command` on aggregate `id`, running it again (on a fresh load) when a
/// concurrent commit to the same aggregate wins; after [`MAX_ATTEMPTS`] the
/// conflict is returned.
pub(crate) async fn execute_with_retries<A>(
    store: &AggregateStore<A>,
    id: &str,
    command: A::Command,
    metadata: EventMetadata,
) -> Result<(), AggregateError<A::Error>>
where
    A: Aggregate,
    A::Command: Clone,
{
    let mut attempt = 1;
    loop {
        match store.execute(id, command.clone(), metadata.clone()).await {
            Err(AggregateError::AggregateConflict) if attempt < MAX_ATTEMPTS => {
                tracing::debug!(aggregate_id = id, attempt, "lost a race; running again");
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// A store failure other than a broken rule: 409 for a conflict that outlived
/// the retries, 503 when the database is unreachable, else 500.
pub(crate) fn store_failure<E: std::error::Error>(
    error: AggregateError<E>,
    what: &str,
) -> ApiError {
    match error {
        AggregateError::AggregateConflict => ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "concurrent_change",
            format!("the {what} kept changing while this request ran; retry"),
        ),
        AggregateError::DatabaseConnectionError(cause) | AggregateError::UnexpectedError(cause) => {
            match cause.downcast_ref::<sqlx::Error>() {
                Some(database) => ApiError::database(database),
                None => ApiError::internal(cause.as_ref()),
            }
        }
        other => ApiError::internal(&other),
    }
}

/// 422 for a body field whose value is invalid, named as the body names it
/// (the value type may call it something else, e.g. `note` for a comment's `text`).
pub(crate) fn invalid_field(field: &'static str, error: &ValueError) -> ApiError {
    ApiError::invalid_value(field, format!("invalid {field}: {}", error.problem()))
}
