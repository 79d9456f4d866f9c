//! Signs checkpoints of the sealed tree: when 10,000 leaves are unsigned, at
//! once (one checkpoint per 10,000 while catching up), and otherwise on the
//! last tick before `max_interval` (10 s) has passed since the last
//! checkpoint, if anything new is sealed. Each checkpoint names the previous one's hash; a
//! transaction-level advisory lock keeps the chain single even when several
//! processes run a checkpointer.

use std::sync::Arc;
use std::time::Duration;

use alertledger_seal::{Checkpoint, CheckpointSigner, Hash, SignedCheckpoint};
use alertledger_sealed_log::{self as sealed_log, SealStoreError};
use sqlx::PgPool;

/// Advisory lock key (two-key form: class, then 0) around each checkpoint.
const CHECKPOINT_LOCK_CLASS: i32 = 0x414c_4143; // "ALAC"

/// When to sign.
#[derive(Debug, Clone)]
pub struct CheckpointSettings {
    /// Most leaves one checkpoint adds.
    pub max_leaves: u64,
    /// Longest a sealed leaf waits for a checkpoint.
    pub max_interval: Duration,
    /// How often to look.
    pub tick: Duration,
}

impl Default for CheckpointSettings {
    fn default() -> Self {
        Self {
            max_leaves: 10_000,
            max_interval: Duration::from_secs(10),
            tick: Duration::from_millis(500),
        }
    }
}

/// Signs checkpoints with one key.
#[derive(Debug, Clone)]
pub struct Checkpointer {
    pool: PgPool,
    signer: Arc<CheckpointSigner>,
    settings: CheckpointSettings,
}

impl Checkpointer {
    pub fn new(pool: PgPool, signer: Arc<CheckpointSigner>, settings: CheckpointSettings) -> Self {
        Self {
            pool,
            signer,
            settings,
        }
    }

    /// Signs checkpoints forever; database errors are logged and retried.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(self.settings.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            loop {
                match self.step(false).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(%error, "cannot sign an audit checkpoint; retrying");
                        break;
                    }
                }
            }
        }
    }

    /// Signs every checkpoint due now, and with `force` one over whatever is
    /// sealed too (for tests and the CLI). Returns the newest one signed.
    pub async fn sign_due(&self, force: bool) -> Result<Option<SignedCheckpoint>, SealStoreError> {
        let mut newest = None;
        while let Some(signed) = self.step(force).await? {
            newest = Some(signed);
        }
        Ok(newest)
    }

    /// Signs at most one checkpoint, if one is due.
    async fn step(&self, force: bool) -> Result<Option<SignedCheckpoint>, SealStoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
            .bind(CHECKPOINT_LOCK_CLASS)
            .execute(&mut *tx)
            .await?;
        let latest = sealed_log::latest_checkpoint(&mut tx).await?;
        let sealed = sealed_log::sealed_size(&mut tx).await?;
        let (signed_size, previous, last_time_us) = match &latest {
            Some(stored) => {
                let c = &stored.signed.checkpoint;
                (c.tree_size, c.hash(), c.time_us)
            }
            None => (0, Hash::default(), i64::MIN),
        };
        if sealed <= signed_size {
            return Ok(None);
        }
        let now_us = chrono::Utc::now().timestamp_micros();
        // One tick early, so that checkpoints are never more than
        // `max_interval` apart however the ticks fall.
        let due_after = self
            .settings
            .max_interval
            .saturating_sub(self.settings.tick);
        let interval_us = i64::try_from(due_after.as_micros()).unwrap_or(i64::MAX);
        let size = if sealed - signed_size >= self.settings.max_leaves {
            signed_size + self.settings.max_leaves
        } else if force || now_us.saturating_sub(last_time_us) >= interval_us {
            sealed
        } else {
            return Ok(None);
        };
        let root_hash = sealed_log::root_at(&mut tx, size).await?;
        let last = sealed_log::leaves(&mut tx, size - 1, size).await?;
        let last_position = last.first().map(|leaf| leaf.position).unwrap_or_default();
        let signed = self.signer.sign(Checkpoint {
            tree_size: size,
            root_hash,
            last_position,
            time_us: now_us,
            previous,
        });
        sealed_log::insert_checkpoint(&mut tx, &signed, &self.signer.public_key()).await?;
        tx.commit().await?;
        tracing::debug!(tree_size = size, root = %root_hash, "audit checkpoint signed");
        Ok(Some(signed))
    }
}
