//! Signs checkpoints of the sealed tree: when 10,000 leaves are unsigned, at
//! once (one checkpoint per 10,000 while catching up), and otherwise on the
//! last tick before `max_interval` (10 s) has passed since the last
//! checkpoint, if anything new is sealed. Each checkpoint names the previous one's hash; a
//! transaction-level advisory lock keeps the chain single even when several
//! processes run a checkpointer.
//!
//! It signs only a tree that extends the last checkpoint it trusts (H3 of
//! issue 16, docs/threat-model.md): the last one it signed, or adopted from
//! another process after checking its signature and consistency. Before each
//! signature it checks the RFC 6962 consistency proof from that tree head to
//! the new tree, so someone who rewrote or wiped and resealed the seal tables
//! (with the owner's credentials) cannot get the service's key to sign the
//! rewritten history. On such a finding it stops for good: an error log line,
//! the `checkpointer` alarm (`/readyz` 503, `/metrics`), no more signatures.
//!
//! At start it trusts the newest checkpoint file of the checkpoint directory
//! (`ALERTLEDGER_CHECKPOINT_DIR`, outside the database) when one is set, and
//! otherwise the newest checkpoint in the database (trust on first use).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alertledger_eventstore::alarms::Alarms;
use alertledger_seal::tree::verify_consistency;
use alertledger_seal::{Checkpoint, CheckpointSigner, Hash, SignedCheckpoint};
use alertledger_sealed_log::checkpoint_files::{self, CheckpointFileError};
use alertledger_sealed_log::{self as sealed_log, SealStoreError};
use sqlx::{PgConnection, PgPool};
use tokio::sync::Mutex;

/// Advisory lock key (two-key form: class, then 0) around each checkpoint.
const CHECKPOINT_LOCK_CLASS: i32 = 0x414c_4143; // "ALAC"

/// The checkpointer's name in alarms, logs and metrics.
pub const CHECKPOINTER: &str = "checkpointer";

/// The alarm raised while checkpoint files cannot be written.
pub const CHECKPOINT_FILES: &str = "checkpoint_files";

/// When to sign, and where else to keep what was signed.
#[derive(Debug, Clone)]
pub struct CheckpointSettings {
    /// Most leaves one checkpoint adds.
    pub max_leaves: u64,
    /// Longest a sealed leaf waits for a checkpoint.
    pub max_interval: Duration,
    /// How often to look.
    pub tick: Duration,
    /// `ALERTLEDGER_CHECKPOINT_DIR`: every signed checkpoint is also written
    /// here, one file each (docs/audit-bundle.md, "Checkpoint files").
    pub directory: Option<PathBuf>,
}

impl Default for CheckpointSettings {
    fn default() -> Self {
        Self {
            max_leaves: 10_000,
            max_interval: Duration::from_secs(10),
            tick: Duration::from_millis(500),
            directory: None,
        }
    }
}

/// Why no checkpoint was signed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointerError {
    #[error(transparent)]
    Store(#[from] SealStoreError),
    /// The seal no longer extends the last trusted checkpoint: it was reset
    /// or rewritten. The checkpointer refuses to sign from then on.
    #[error("the sealed log does not extend the last trusted checkpoint (tree size {trusted_size}): {reason}")]
    Rewritten { trusted_size: u64, reason: String },
    #[error("checkpoint directory: {0}")]
    Directory(#[from] CheckpointFileError),
}

impl From<sqlx::Error> for CheckpointerError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(SealStoreError::Database(error))
    }
}

/// The tree head every new checkpoint must extend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TrustedHead {
    size: u64,
    root: Hash,
}

/// What the checkpointer knows between steps.
#[derive(Debug, Default)]
struct State {
    /// `None` until the first step loads it.
    trusted: Option<Option<TrustedHead>>,
    /// Set once a rewrite was found: nothing is signed any more.
    halted: Option<String>,
}

/// Signs checkpoints with one key.
#[derive(Debug, Clone)]
pub struct Checkpointer {
    pool: PgPool,
    signer: Arc<CheckpointSigner>,
    settings: CheckpointSettings,
    alarms: Alarms,
    state: Arc<Mutex<State>>,
}

impl Checkpointer {
    pub fn new(pool: PgPool, signer: Arc<CheckpointSigner>, settings: CheckpointSettings) -> Self {
        Self::with_alarms(pool, signer, settings, Alarms::default())
    }

    /// A checkpointer that raises its alarm on `alarms` when it stops.
    pub fn with_alarms(
        pool: PgPool,
        signer: Arc<CheckpointSigner>,
        settings: CheckpointSettings,
        alarms: Alarms,
    ) -> Self {
        Self {
            pool,
            signer,
            settings,
            alarms,
            state: Arc::default(),
        }
    }

    /// Signs checkpoints until the seal turns out rewritten; database errors
    /// are logged and retried.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(self.settings.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            loop {
                match self.step(false).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => break,
                    Err(CheckpointerError::Rewritten { .. }) => {
                        // Logged and alarmed by `step`; staying up keeps
                        // /readyz answering 503 with the reason.
                        return;
                    }
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
    pub async fn sign_due(
        &self,
        force: bool,
    ) -> Result<Option<SignedCheckpoint>, CheckpointerError> {
        let mut newest = None;
        while let Some(signed) = self.step(force).await? {
            newest = Some(signed);
        }
        Ok(newest)
    }

    /// Why this checkpointer stopped signing, if it did.
    pub async fn halted(&self) -> Option<String> {
        self.state.lock().await.halted.clone()
    }

    /// Signs at most one checkpoint, if one is due.
    async fn step(&self, force: bool) -> Result<Option<SignedCheckpoint>, CheckpointerError> {
        let mut state = self.state.lock().await;
        if let Some(reason) = &state.halted {
            return Err(CheckpointerError::Rewritten {
                trusted_size: trusted_size(&state),
                reason: reason.clone(),
            });
        }
        match self.step_locked(&mut state, force).await {
            Err(CheckpointerError::Rewritten {
                trusted_size,
                reason,
            }) => {
                tracing::error!(
                    component = CHECKPOINTER,
                    trusted_tree_size = trusted_size,
                    %reason,
                    "THE SEALED LOG WAS RESET OR REWRITTEN: the checkpointer refuses to sign \
                     and stops. Compare the database with the checkpoint files \
                     (`alertledger audit verify --checkpoints DIR`) before anything else."
                );
                self.alarms.raise(
                    CHECKPOINTER,
                    format!(
                        "the sealed log does not extend the last trusted checkpoint \
                         (tree size {trusted_size}): {reason}; no checkpoint is signed any more"
                    ),
                );
                state.halted = Some(reason.clone());
                Err(CheckpointerError::Rewritten {
                    trusted_size,
                    reason,
                })
            }
            other => other,
        }
    }

    async fn step_locked(
        &self,
        state: &mut State,
        force: bool,
    ) -> Result<Option<SignedCheckpoint>, CheckpointerError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
            .bind(CHECKPOINT_LOCK_CLASS)
            .execute(&mut *tx)
            .await?;
        let latest = sealed_log::latest_checkpoint(&mut tx).await?;
        if state.trusted.is_none() {
            state.trusted = Some(self.initial_trust(latest.as_ref())?);
        }
        let mut trusted = state.trusted.flatten();
        let sealed = sealed_log::sealed_size(&mut tx).await?;
        // The newest checkpoint in the database must be the trusted one, or
        // a later one (another process's) that extends it.
        if let Some(head) = trusted {
            let rewritten = |reason: String| CheckpointerError::Rewritten {
                trusted_size: head.size,
                reason,
            };
            let Some(stored) = &latest else {
                return Err(rewritten("the checkpoints table is empty".to_owned()));
            };
            let c = &stored.signed.checkpoint;
            if c.tree_size < head.size {
                return Err(rewritten(format!(
                    "the newest checkpoint in the database has tree size {}",
                    c.tree_size
                )));
            }
            if c.tree_size == head.size && c.root_hash != head.root {
                return Err(rewritten(format!(
                    "the checkpoint of tree size {} has root {}, not {}",
                    c.tree_size, c.root_hash, head.root
                )));
            }
            if sealed < head.size {
                return Err(rewritten(format!("only {sealed} leaves are sealed")));
            }
            if c.tree_size > head.size {
                stored
                    .signed
                    .verify(&[self.signer.public_key()])
                    .map_err(|e| {
                        rewritten(format!(
                            "the checkpoint of tree size {} is not signed by this key: {e}",
                            c.tree_size
                        ))
                    })?;
                check_extends(&mut tx, head, c.tree_size, &c.root_hash).await?;
                trusted = Some(TrustedHead {
                    size: c.tree_size,
                    root: c.root_hash,
                });
                state.trusted = Some(trusted);
            }
        }
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
        if let Some(head) = trusted {
            check_extends(&mut tx, head, size, &root_hash).await?;
        }
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
        state.trusted = Some(Some(TrustedHead {
            size,
            root: root_hash,
        }));
        // After the commit, so a file never names a head the database lacks
        // (which would look like a rewrite at the next start).
        if let Some(directory) = &self.settings.directory {
            match checkpoint_files::write(directory, &signed, &self.signer.public_key()) {
                Ok(path) => {
                    self.alarms.clear(CHECKPOINT_FILES);
                    tracing::debug!(file = %path.display(), "checkpoint file written");
                }
                Err(error) => {
                    tracing::error!(%error, tree_size = size, "cannot write the checkpoint file");
                    self.alarms.raise(
                        CHECKPOINT_FILES,
                        format!("cannot write the checkpoint file of tree size {size}: {error}"),
                    );
                }
            }
        }
        tracing::debug!(tree_size = size, root = %root_hash, "audit checkpoint signed");
        Ok(Some(signed))
    }

    /// The tree head trusted at start: the newest checkpoint file when a
    /// directory is configured, else the database's newest checkpoint.
    fn initial_trust(
        &self,
        latest: Option<&sealed_log::StoredCheckpoint>,
    ) -> Result<Option<TrustedHead>, CheckpointerError> {
        if let Some(directory) = &self.settings.directory {
            let files = checkpoint_files::read_all(directory)?;
            if let Some(newest) = files.last() {
                let c = &newest.signed.checkpoint;
                tracing::info!(
                    tree_size = c.tree_size, directory = %directory.display(),
                    "the checkpointer extends the newest checkpoint file"
                );
                return Ok(Some(TrustedHead {
                    size: c.tree_size,
                    root: c.root_hash,
                }));
            }
        }
        Ok(latest.map(|stored| TrustedHead {
            size: stored.signed.checkpoint.tree_size,
            root: stored.signed.checkpoint.root_hash,
        }))
    }
}

fn trusted_size(state: &State) -> u64 {
    state.trusted.flatten().map_or(0, |head| head.size)
}

/// Checks the RFC 6962 consistency proof, built from the sealed tables, that
/// the tree of `size` leaves with `root` extends `head`.
async fn check_extends(
    conn: &mut PgConnection,
    head: TrustedHead,
    size: u64,
    root: &Hash,
) -> Result<(), CheckpointerError> {
    let rewritten = |reason: String| CheckpointerError::Rewritten {
        trusted_size: head.size,
        reason,
    };
    let proof = match sealed_log::consistency_proof(conn, head.size, size).await {
        Ok(proof) => proof,
        Err(SealStoreError::Database(error)) => return Err(error.into()),
        Err(other) => {
            return Err(rewritten(format!(
                "no consistency proof from tree size {} to {size}: {other}",
                head.size
            )))
        }
    };
    verify_consistency(head.size, size, &head.root, root, &proof).map_err(|e| {
        rewritten(format!(
            "the tree of {size} leaves (root {root}) does not extend it: {e}"
        ))
    })
}
