//! The sealer: follows the committed log in log order and appends each
//! event's leaf (docs/audit-bundle.md has the encoding) to the audit Merkle
//! tree, with the subtree roots it completes, in the same transaction as its
//! checkpoint. It runs like any projector (one active instance per database,
//! batches of the runner), so appends never wait for it.
//!
//! - [`Sealer`] — the projection.
//! - [`checkpointer`] — signs a checkpoint of the sealed tree at least every
//!   10 s or 10,000 leaves.
//!
//! It seals events exactly as stored (no upcasting): the seal is over history
//! as written, which `audit verify` recomputes from the same bytes.

pub mod checkpointer;

use alertledger_eventstore::consumer::{ConsumerError, LogConsumer, Target};
use alertledger_eventstore::log::LogEvent;
use alertledger_seal::encoding::EventFields;
use alertledger_seal::tree::Subtree;
use alertledger_seal::{CompactRange, Hash};
use alertledger_sealed_log::{self as sealed_log, SealStoreError, StoredLeaf, NODE_LEVEL};
use async_trait::async_trait;
use sqlx::PgConnection;
use tokio::sync::Mutex;

/// The sealer's projector name (its checkpoint row and advisory lock).
pub const SEALER: &str = "sealer";

/// Appends every event's leaf to the audit tree.
#[derive(Debug, Default)]
pub struct Sealer {
    tree: Mutex<TreeState>,
}

/// The tree as of the last committed batch, and as of the batch in flight.
#[derive(Debug, Default)]
struct TreeState {
    committed: Option<CompactRange>,
    pending: Option<CompactRange>,
}

impl Sealer {
    pub fn new() -> Self {
        Self::default()
    }
}

/// The leaf fields of an event as the log reader hands it over.
pub fn event_fields(event: &LogEvent) -> EventFields<'_> {
    EventFields {
        position: event.position,
        tenant_id: event.tenant_id,
        aggregate_type: &event.aggregate_type,
        aggregate_id: &event.aggregate_id,
        sequence: event.sequence,
        event_type: &event.event_type,
        event_version: &event.event_version,
        payload: event.payload.get().as_bytes(),
        metadata: event.metadata.get().as_bytes(),
        recorded_at_us: event.recorded_at.timestamp_micros(),
    }
}

fn store_error(error: SealStoreError) -> ConsumerError {
    match error {
        SealStoreError::Database(error) => ConsumerError::Database(error),
        other => ConsumerError::Corrupt(format!("sealed log: {other}")),
    }
}

#[async_trait]
impl LogConsumer for Sealer {
    fn name(&self) -> &'static str {
        SEALER
    }

    fn tables(&self) -> &'static [&'static str] {
        &["audit_leaves", "audit_nodes"]
    }

    /// The seal is history itself: rebuilding it would re-seal whatever the
    /// log holds now, tampered or not.
    fn rebuildable(&self) -> bool {
        false
    }

    fn upcast_events(&self) -> bool {
        false
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        target: &Target,
        events: &[LogEvent],
    ) -> Result<(), ConsumerError> {
        if *target != Target::live() {
            return Err(ConsumerError::Corrupt(
                "the sealer only writes the live seal".to_owned(),
            ));
        }
        let mut state = self.tree.lock().await;
        // The batch lock serialises batches; the size check catches another
        // process (or a rolled-back batch) having moved the tree meanwhile.
        let size = sealed_log::sealed_size(conn).await.map_err(store_error)?;
        let mut tree = match state.committed.as_ref() {
            Some(tree) if tree.size() == size => tree.clone(),
            _ => sealed_log::compact_range(conn, size)
                .await
                .map_err(store_error)?,
        };
        let mut leaves = Vec::with_capacity(events.len());
        let mut nodes: Vec<(Subtree, Hash)> = Vec::new();
        for event in events {
            let fields = event_fields(event);
            let body_digest = fields.body_digest();
            let leaf = StoredLeaf {
                leaf_index: tree.size(),
                position: event.position,
                tenant_id: event.tenant_id,
                body_digest,
            };
            tree.append_with(leaf.leaf_hash(), |subtree, hash| {
                if subtree.level >= NODE_LEVEL {
                    nodes.push((subtree, *hash));
                }
            });
            leaves.push(leaf);
        }
        sealed_log::append(conn, &leaves, &nodes)
            .await
            .map_err(store_error)?;
        state.pending = Some(tree);
        Ok(())
    }

    async fn committed(&self) {
        let mut state = self.tree.lock().await;
        if let Some(tree) = state.pending.take() {
            state.committed = Some(tree);
        }
    }
}
