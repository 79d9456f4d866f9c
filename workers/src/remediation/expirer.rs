//! The approval expirer: records `ApprovalExpired` for pending approvals past
//! their expiry, so lists and the audit trail show them as expired. (An
//! approval past its time can never be decided anyway: the aggregate refuses.)

use std::time::Duration;

use alertledger_domain::approval::{Approval, ApprovalCommand, ApprovalError};
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::try_instance_lock;
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::store::AggregateStore;
use alertledger_projections::remediation::overdue_approvals;
use cqrs_es::AggregateError;
use sqlx::PgPool;
use tokio::task::JoinHandle;

use super::worker_metadata;

/// The expirer's lock name and its actor in the audit trail.
pub const EXPIRER: &str = "approval-expirer";

/// Most approvals expired per round.
const ROUND_LIMIT: i64 = 500;

/// Looks for overdue approvals every `interval`; one instance per database.
pub struct ApprovalExpirer {
    pool: PgPool,
    approvals: AggregateStore<Approval>,
    services: DomainServices,
    interval: Duration,
}

impl ApprovalExpirer {
    pub fn new(
        pool: PgPool,
        signal: LogSignal,
        services: DomainServices,
        interval: Duration,
    ) -> Self {
        Self {
            approvals: AggregateStore::new(pool.clone(), services.clone(), signal),
            pool,
            services,
            interval,
        }
    }

    /// Runs in the background until the handle is aborted.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(self) {
        let _instance_lock = loop {
            match try_instance_lock(&self.pool, EXPIRER).await {
                Ok(Some(connection)) => break connection,
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "approval expirer cannot take its lock"),
            }
            tokio::time::sleep(self.interval).await;
        };
        loop {
            if let Err(error) = self.expire_overdue().await {
                tracing::warn!(%error, "approval expirer round failed");
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// Records the expiry of every overdue pending approval; how many.
    pub async fn expire_overdue(&self) -> Result<usize, sqlx::Error> {
        let overdue = overdue_approvals(&self.pool, self.services.now(), ROUND_LIMIT).await?;
        let mut expired = 0;
        for approval_id in overdue {
            let metadata = worker_metadata(EXPIRER, None, Some(approval_id));
            match self
                .approvals
                .execute(
                    &approval_id.to_string(),
                    ApprovalCommand::ExpireApproval,
                    metadata,
                )
                .await
            {
                Ok(()) => expired += 1,
                // Decided meanwhile (the read model lagged): nothing to do.
                Err(AggregateError::UserError(ApprovalError::AlreadyDecided { .. })) => {}
                Err(error) => {
                    tracing::warn!(approval = %approval_id, %error, "cannot expire approval")
                }
            }
        }
        Ok(expired)
    }
}
