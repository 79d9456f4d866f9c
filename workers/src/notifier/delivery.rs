//! [`DeliveryWorker`]: sends the outbox's pending notifications that are
//! due, with retries.
//!
//! A round claims due rows with one `UPDATE ... RETURNING` that reserves the
//! next attempt number and leases the row ([`LEASE`]: its `due_at` moves
//! past the longest attempt), so no transaction stays open during a send
//! and no two workers (or processes) send one row at once. After the
//! attempt, one transaction records it (`notification_attempts`) and either
//! finishes the row with `NotificationDelivered`/`NotificationFailed` or sets
//! when to try again (exponential backoff with jitter, [`super::RetryPolicy`]).
//!
//! After a crash, a row that was being sent is claimed again when its lease
//! ends, with the same notification id (`webhook-id`), so the receiver can
//! tell a repeat; a delivered row is final and never claimed again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alertledger_domain::notification::{
    ChannelSettings, NotificationDelivery, NotificationDeliveryCommand,
};
use alertledger_domain::values::{NotificationChannelId, TenantId};
use alertledger_domain::DomainServices;
use alertledger_eventstore::log::{LogSignal, WakeOn};
use alertledger_eventstore::unit_of_work::UnitOfWork;
use alertledger_notify::send::ATTEMPT_TIMEOUT;
use alertledger_notify::{
    AttemptError, ChannelSecret, ChannelSecretCipher, ChannelSecretStore, Notification, Senders,
};
use rand::Rng;
use sqlx::types::Json;
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

use super::NotifierSettings;
use crate::remediation::worker_metadata;

/// The delivery worker's actor name in the audit trail.
pub const DELIVERY: &str = "notifier-delivery";

/// How long a claimed row is left alone: longer than one attempt can take.
pub const LEASE: Duration = Duration::from_secs(60);

/// Most rows claimed per round.
const ROUND_LIMIT: i64 = 200;

const _: () = assert!(ATTEMPT_TIMEOUT.as_secs() * 2 < LEASE.as_secs());

/// What delivering needs beyond the database: the key that opens channel
/// secrets and the senders.
#[derive(Clone)]
pub struct NotifierDelivery {
    pub cipher: ChannelSecretCipher,
    pub senders: Senders,
}

impl std::fmt::Debug for NotifierDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NotifierDelivery(<cipher>, senders)")
    }
}

/// Sends due notifications; any number may run (claims are atomic).
#[derive(Clone)]
pub struct DeliveryWorker {
    pool: PgPool,
    signal: LogSignal,
    services: DomainServices,
    secrets: ChannelSecretStore,
    senders: Senders,
    settings: NotifierSettings,
    permits: Arc<Semaphore>,
}

/// A channel's settings and secret, loaded once per round.
type ChannelParts = (ChannelSettings, ChannelSecret);

/// A claimed row as selected: id, tenant, channel, message, digest, attempt.
type ClaimedRow = (Uuid, Uuid, Uuid, Json<Notification>, Json<Vec<String>>, i32);

/// One claimed row.
struct Claimed {
    notification_id: Uuid,
    tenant_id: Uuid,
    channel_id: Uuid,
    message: Notification,
    held_back: Vec<String>,
    attempt: i32,
}

/// How one attempt went, as recorded.
enum Outcome {
    Delivered { code: u16 },
    Retry { error: AttemptError },
    Failed { code: Option<u16>, error: String },
}

impl DeliveryWorker {
    pub fn new(
        pool: PgPool,
        signal: LogSignal,
        services: DomainServices,
        delivery: NotifierDelivery,
        settings: NotifierSettings,
    ) -> Self {
        Self {
            secrets: ChannelSecretStore::new(pool.clone(), delivery.cipher),
            senders: delivery.senders,
            permits: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            pool,
            signal,
            services,
            settings,
        }
    }

    /// Runs in the background until the handle is aborted (an abort
    /// mid-send leaves the row leased; it is sent again after [`LEASE`]).
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(self) {
        let mut wake = self.signal.subscribe(WakeOn::AllAppends);
        loop {
            wake.borrow_and_update();
            match self.deliver_due().await {
                Ok(sent) if sent > 0 => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "notification delivery round failed"),
            }
            let _ = tokio::time::timeout(self.settings.poll_interval, wake.changed()).await;
        }
    }

    /// Claims every due row (up to a round's limit), makes one attempt on
    /// each (several at once) and records how each went; how many.
    pub async fn deliver_due(&self) -> Result<usize, sqlx::Error> {
        let claimed = self.claim().await?;
        let count = claimed.len();
        // Each channel's settings and secret once per round, not per message.
        let mut channels: HashMap<(Uuid, Uuid), Arc<Result<ChannelParts, AttemptError>>> =
            HashMap::new();
        for row in &claimed {
            if let std::collections::hash_map::Entry::Vacant(slot) =
                channels.entry((row.tenant_id, row.channel_id))
            {
                slot.insert(Arc::new(self.channel(row.tenant_id, row.channel_id).await));
            }
        }
        let mut running = JoinSet::new();
        for row in claimed {
            let worker = self.clone();
            let permits = self.permits.clone();
            let channel = channels
                .get(&(row.tenant_id, row.channel_id))
                .cloned()
                .unwrap_or_else(|| {
                    Arc::new(Err(AttemptError::Misconfigured(
                        "the channel was not loaded".to_owned(),
                    )))
                });
            running.spawn(async move {
                let _permit = permits.acquire_owned().await;
                worker.attempt(row, &channel).await
            });
        }
        while let Some(done) = running.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "cannot record a notification attempt"),
                Err(error) => tracing::warn!(%error, "notification attempt task failed"),
            }
        }
        Ok(count)
    }

    async fn claim(&self) -> Result<Vec<Claimed>, sqlx::Error> {
        let now = self.services.now();
        let lease = chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::minutes(1));
        let rows: Vec<ClaimedRow> = sqlx::query_as(
            "UPDATE notification_outbox o
                    SET attempts = o.attempts + 1, due_at = $2
                  WHERE o.notification_id IN (
                        SELECT notification_id FROM notification_outbox
                         WHERE status = 'pending' AND due_at <= $1
                         ORDER BY due_at LIMIT $3
                           FOR UPDATE SKIP LOCKED)
              RETURNING o.notification_id, o.tenant_id, o.channel_id, o.message, o.held_back,
                        o.attempts",
        )
        .bind(now)
        .bind(now + lease)
        .bind(ROUND_LIMIT)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    notification_id,
                    tenant_id,
                    channel_id,
                    Json(message),
                    Json(held_back),
                    attempt,
                )| {
                    Claimed {
                        notification_id,
                        tenant_id,
                        channel_id,
                        message,
                        held_back,
                        attempt,
                    }
                },
            )
            .collect())
    }

    /// One attempt on one claimed row, then its record.
    async fn attempt(
        &self,
        row: Claimed,
        channel: &Result<ChannelParts, AttemptError>,
    ) -> Result<(), sqlx::Error> {
        let attempt = u32::try_from(row.attempt).unwrap_or(u32::MAX);
        let outcome = match self.send(&row, channel).await {
            Ok(code) => Outcome::Delivered { code },
            Err(error) if error.is_retryable() && self.settings.retry.allows_after(attempt) => {
                Outcome::Retry { error }
            }
            Err(error) => Outcome::Failed {
                code: error.code(),
                error: error.to_string(),
            },
        };
        self.record(&row, attempt, outcome).await
    }

    /// A channel's settings (as the notifier folded them) and its secret.
    async fn channel(
        &self,
        tenant_id: Uuid,
        channel_id: Uuid,
    ) -> Result<ChannelParts, AttemptError> {
        let tenant = TenantId::from_uuid(tenant_id);
        let channel = NotificationChannelId::from_uuid(channel_id);
        let settings: Option<Json<ChannelSettings>> = sqlx::query_scalar(
            "SELECT settings FROM notifier_channels WHERE channel_id = $1 AND tenant_id = $2",
        )
        .bind(channel_id)
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| AttemptError::Transport(format!("database: {error}")))?;
        let Some(Json(settings)) = settings else {
            return Err(AttemptError::Misconfigured(
                "the channel was removed".to_owned(),
            ));
        };
        let secret = self.secrets.load(tenant, channel).await.map_err(|error| {
            AttemptError::Misconfigured(format!("the channel's secret cannot be read: {error}"))
        })?;
        Ok((settings, secret))
    }

    async fn send(
        &self,
        row: &Claimed,
        channel: &Result<ChannelParts, AttemptError>,
    ) -> Result<u16, AttemptError> {
        let (settings, secret) = channel.as_ref().map_err(Clone::clone)?;
        let mut message = row.message.clone();
        message.held_back = row.held_back.clone();
        let accepted = self.senders.send(&message, settings, secret).await?;
        Ok(accepted.code)
    }

    async fn record(
        &self,
        row: &Claimed,
        attempt: u32,
        outcome: Outcome,
    ) -> Result<(), sqlx::Error> {
        let now = self.services.now();
        let (code, error) = match &outcome {
            Outcome::Delivered { code } => (Some(*code), None),
            Outcome::Retry { error } => (error.code(), Some(error.to_string())),
            Outcome::Failed { code, error } => (*code, Some(error.clone())),
        };
        tracing::info!(
            notification_id = %row.notification_id,
            tenant_id = %row.tenant_id,
            channel_id = %row.channel_id,
            attempt,
            code,
            error = error.as_deref().unwrap_or(""),
            "notification attempt"
        );
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO notification_attempts (notification_id, attempt, at, code, error)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(row.notification_id)
        .bind(row.attempt)
        .bind(now)
        .bind(code.map(i32::from))
        .bind(&error)
        .execute(&mut *tx)
        .await?;
        let held_back = u32::try_from(row.held_back.len()).unwrap_or(u32::MAX);
        let (command, status) = match outcome {
            Outcome::Retry { .. } => {
                let delay = self
                    .settings
                    .retry
                    .delay(attempt, rand::thread_rng().gen::<f64>());
                let due =
                    now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
                sqlx::query(
                    "UPDATE notification_outbox SET due_at = $2, last_error = $3
                      WHERE notification_id = $1 AND status = 'pending'",
                )
                .bind(row.notification_id)
                .bind(due)
                .bind(&error)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(());
            }
            Outcome::Delivered { code } => (
                NotificationDeliveryCommand::RecordDelivered {
                    attempts: attempt,
                    code: Some(code),
                    held_back,
                },
                "delivered",
            ),
            Outcome::Failed { error, .. } => (
                NotificationDeliveryCommand::RecordFailed {
                    attempts: attempt,
                    error,
                    held_back,
                },
                "failed",
            ),
        };
        let mut work = UnitOfWork::default();
        let id = row.notification_id.to_string();
        let mut loaded = work
            .load::<NotificationDelivery>(&mut tx, std::slice::from_ref(&id))
            .await
            .map_err(|error| match error {
                alertledger_eventstore::unit_of_work::UnitOfWorkError::Database(error) => error,
                other => sqlx::Error::Protocol(other.to_string()),
            })?;
        let Some(aggregate) = loaded.get_mut(&id) else {
            return Ok(());
        };
        let metadata = worker_metadata(DELIVERY, None, Some(row.message.incident_id));
        if let Err(refused) = work
            .execute(&id, aggregate, command, &self.services, &metadata)
            .await
        {
            // Already final (another process recorded it): nothing to add.
            tracing::warn!(notification_id = %row.notification_id, %refused, "notification outcome not recorded");
            return Ok(());
        }
        work.write(&mut tx).await?;
        sqlx::query(
            "UPDATE notification_outbox SET status = $2, finished_at = $3, last_error = $4
              WHERE notification_id = $1",
        )
        .bind(row.notification_id)
        .bind(status)
        .bind(now)
        .bind(&error)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.signal.appended();
        Ok(())
    }
}
