//! The sealed log in PostgreSQL: the audit Merkle tree's leaves
//! (`audit_leaves`), the roots of its large perfect subtrees (`audit_nodes`)
//! and its signed checkpoints (`audit_checkpoints`), with the queries that
//! build proofs from them.
//!
//! # Layout
//!
//! - this module — reading and appending leaves, nodes and checkpoints; roots
//!   and inclusion/consistency proofs at any checkpointed size.
//! - [`verify`] — `audit verify`: recompute every leaf from the stored events
//!   and check the sealed leaves and every checkpoint against them.
//! - [`checkpoint_files`] — copies of the signed checkpoints outside the
//!   database (`ALERTLEDGER_CHECKPOINT_DIR`), and reading them back.
//! - [`export`] — one tenant's audit bundle (docs/audit-bundle.md).
//! - [`import`] — a verified bundle's events into another installation.
//!
//! The hashing itself, the proofs' shapes and the signatures live in the pure
//! `alertledger-seal` crate; the sealer that appends is a worker.

pub mod checkpoint_files;
pub mod export;
pub mod import;
pub mod verify;

use std::collections::HashMap;

use alertledger_seal::checkpoint::CheckpointError;
use alertledger_seal::encoding::sealed_leaf_hash;
use alertledger_seal::tree::{self, ProofError, Subtree};
use alertledger_seal::{Checkpoint, CompactRange, Hash, PublicKey, SignedCheckpoint};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

/// Subtrees of at least `2^NODE_LEVEL` leaves are stored in `audit_nodes`;
/// smaller ones are recomputed from at most 128 leaves.
pub const NODE_LEVEL: u32 = 8;

/// One row of `audit_leaves`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredLeaf {
    pub leaf_index: u64,
    pub position: i64,
    pub tenant_id: Uuid,
    pub body_digest: Hash,
}

impl StoredLeaf {
    /// The leaf's hash in the tree.
    pub fn leaf_hash(&self) -> Hash {
        sealed_leaf_hash(self.position, self.tenant_id, &self.body_digest)
    }
}

/// Why the sealed log could not be read or does not hold together.
#[derive(Debug, thiserror::Error)]
pub enum SealStoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the sealed log is inconsistent: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Proof(#[from] ProofError),
}

fn corrupt(reason: impl std::fmt::Display) -> SealStoreError {
    SealStoreError::Corrupt(reason.to_string())
}

fn to_u64(value: i64, what: &str) -> Result<u64, SealStoreError> {
    u64::try_from(value).map_err(|_| corrupt(format!("negative {what} {value}")))
}

fn to_i64(value: u64) -> i64 {
    // Tree sizes and indexes come from bigint columns: they fit.
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn hash_column(row: &PgRow, column: &str) -> Result<Hash, SealStoreError> {
    let bytes: Vec<u8> = row.try_get(column)?;
    Hash::from_slice(&bytes).map_err(|_| corrupt(format!("{column} is not 32 bytes")))
}

fn leaf_from_row(row: &PgRow) -> Result<StoredLeaf, SealStoreError> {
    Ok(StoredLeaf {
        leaf_index: to_u64(row.try_get("leaf_index")?, "leaf index")?,
        position: row.try_get("position")?,
        tenant_id: row.try_get("tenant_id")?,
        body_digest: hash_column(row, "body_digest")?,
    })
}

/// How many leaves are sealed.
pub async fn sealed_size(conn: &mut PgConnection) -> Result<u64, SealStoreError> {
    let last: Option<i64> =
        sqlx::query_scalar("SELECT leaf_index FROM audit_leaves ORDER BY leaf_index DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    Ok(match last {
        Some(index) => to_u64(index, "leaf index")? + 1,
        None => 0,
    })
}

/// Appends leaves (indexes consecutive from `leaves[0].leaf_index`) and the
/// subtree roots they completed, in one statement each.
pub async fn append(
    conn: &mut PgConnection,
    leaves: &[StoredLeaf],
    nodes: &[(Subtree, Hash)],
) -> Result<(), SealStoreError> {
    if !leaves.is_empty() {
        let indexes: Vec<i64> = leaves.iter().map(|l| to_i64(l.leaf_index)).collect();
        let positions: Vec<i64> = leaves.iter().map(|l| l.position).collect();
        let tenants: Vec<Uuid> = leaves.iter().map(|l| l.tenant_id).collect();
        let digests: Vec<Vec<u8>> = leaves.iter().map(|l| l.body_digest.0.to_vec()).collect();
        sqlx::query(
            "INSERT INTO audit_leaves (leaf_index, position, tenant_id, body_digest)
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::uuid[], $4::bytea[])",
        )
        .bind(indexes)
        .bind(positions)
        .bind(tenants)
        .bind(digests)
        .execute(&mut *conn)
        .await?;
    }
    if !nodes.is_empty() {
        let levels: Vec<i32> = nodes.iter().map(|(s, _)| s.level as i32).collect();
        let indexes: Vec<i64> = nodes.iter().map(|(s, _)| to_i64(s.index)).collect();
        let hashes: Vec<Vec<u8>> = nodes.iter().map(|(_, h)| h.0.to_vec()).collect();
        sqlx::query(
            "INSERT INTO audit_nodes (level, node_index, hash)
             SELECT * FROM UNNEST($1::int[], $2::bigint[], $3::bytea[])",
        )
        .bind(levels)
        .bind(indexes)
        .bind(hashes)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Leaves `start..end`, in index order.
pub async fn leaves(
    conn: &mut PgConnection,
    start: u64,
    end: u64,
) -> Result<Vec<StoredLeaf>, SealStoreError> {
    let rows = sqlx::query(
        "SELECT leaf_index, position, tenant_id, body_digest FROM audit_leaves
          WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index",
    )
    .bind(to_i64(start))
    .bind(to_i64(end))
    .fetch_all(&mut *conn)
    .await?;
    let leaves = rows
        .iter()
        .map(leaf_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    if leaves.len() as u64 != end.saturating_sub(start) {
        return Err(corrupt(format!(
            "leaves {start}..{end} are not all sealed ({} found)",
            leaves.len()
        )));
    }
    Ok(leaves)
}

/// The sealed leaf of the event at `position`, if it is sealed.
pub async fn leaf_by_position(
    conn: &mut PgConnection,
    position: i64,
) -> Result<Option<StoredLeaf>, SealStoreError> {
    sqlx::query(
        "SELECT leaf_index, position, tenant_id, body_digest FROM audit_leaves WHERE position = $1",
    )
    .bind(position)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(leaf_from_row)
    .transpose()
}

/// The roots of `subtrees` (perfect, within the sealed leaves).
pub async fn subtree_roots(
    conn: &mut PgConnection,
    subtrees: &[Subtree],
) -> Result<HashMap<Subtree, Hash>, SealStoreError> {
    let mut roots = HashMap::with_capacity(subtrees.len());
    let (large, small): (Vec<Subtree>, Vec<Subtree>) =
        subtrees.iter().partition(|s| s.level >= NODE_LEVEL);
    if !large.is_empty() {
        let levels: Vec<i32> = large.iter().map(|s| s.level as i32).collect();
        let indexes: Vec<i64> = large.iter().map(|s| to_i64(s.index)).collect();
        let rows = sqlx::query(
            "SELECT n.level, n.node_index, n.hash
               FROM UNNEST($1::int[], $2::bigint[]) AS wanted (level, node_index)
               JOIN audit_nodes n USING (level, node_index)",
        )
        .bind(levels)
        .bind(indexes)
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            let level: i32 = row.try_get("level")?;
            let subtree = Subtree {
                level: u32::try_from(level).map_err(|_| corrupt("negative level"))?,
                index: to_u64(row.try_get("node_index")?, "node index")?,
            };
            roots.insert(subtree, hash_column(&row, "hash")?);
        }
        if let Some(missing) = large.iter().find(|s| !roots.contains_key(s)) {
            return Err(corrupt(format!(
                "no stored root for the subtree of leaves {}..{}",
                missing.start(),
                missing.end()
            )));
        }
    }
    for subtree in small {
        let mut range = CompactRange::new();
        for leaf in leaves(conn, subtree.start(), subtree.end()).await? {
            range.append(leaf.leaf_hash());
        }
        roots.insert(subtree, range.root());
    }
    Ok(roots)
}

/// The roots of leaf ranges `ranges` (as proofs list them).
pub async fn range_roots(
    conn: &mut PgConnection,
    ranges: &[(u64, u64)],
) -> Result<Vec<Hash>, SealStoreError> {
    let mut wanted = Vec::new();
    for (start, end) in ranges {
        wanted.extend(tree::decompose(*start, *end)?);
    }
    wanted.sort();
    wanted.dedup();
    let roots = subtree_roots(conn, &wanted).await?;
    ranges
        .iter()
        .map(|(start, end)| {
            tree::range_root(*start, *end, &mut |s: Subtree| {
                roots
                    .get(&s)
                    .copied()
                    .ok_or_else(|| corrupt("a subtree root went missing"))
            })
        })
        .collect()
}

/// The root of the tree of the first `size` sealed leaves.
pub async fn root_at(conn: &mut PgConnection, size: u64) -> Result<Hash, SealStoreError> {
    Ok(range_roots(conn, &[(0, size)]).await?.remove(0))
}

/// The tree of the first `size` sealed leaves, ready to append to.
pub async fn compact_range(
    conn: &mut PgConnection,
    size: u64,
) -> Result<CompactRange, SealStoreError> {
    let subtrees = CompactRange::subtrees(size);
    let roots = subtree_roots(conn, &subtrees).await?;
    let hashes = subtrees
        .iter()
        .map(|s| roots.get(s).copied().ok_or_else(|| corrupt("missing root")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CompactRange::from_parts(size, hashes)?)
}

/// The audit path of leaf `index` in the tree of `size` leaves.
pub async fn inclusion_proof(
    conn: &mut PgConnection,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, SealStoreError> {
    range_roots(conn, &tree::inclusion_ranges(index, size)?).await
}

/// The consistency proof from the tree of `first` leaves to that of `second`.
pub async fn consistency_proof(
    conn: &mut PgConnection,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, SealStoreError> {
    range_roots(conn, &tree::consistency_ranges(first, second)?).await
}

/// A checkpoint as stored, with the public key recorded beside it.
#[derive(Debug, Clone)]
pub struct StoredCheckpoint {
    pub signed: SignedCheckpoint,
    /// The key that signed, as recorded at signing; never trusted for
    /// verification (a forger would record theirs).
    pub public_key: String,
}

const CHECKPOINT_COLUMNS: &str =
    "tree_size, root_hash, last_position, time_us, previous_hash, key_id, signature, public_key";

fn checkpoint_from_row(row: &PgRow) -> Result<StoredCheckpoint, SealStoreError> {
    let signature: Vec<u8> = row.try_get("signature")?;
    Ok(StoredCheckpoint {
        signed: SignedCheckpoint {
            checkpoint: Checkpoint {
                tree_size: to_u64(row.try_get("tree_size")?, "tree size")?,
                root_hash: hash_column(row, "root_hash")?,
                last_position: row.try_get("last_position")?,
                time_us: row.try_get("time_us")?,
                previous: hash_column(row, "previous_hash")?,
            },
            key_id: row.try_get("key_id")?,
            signature: <[u8; 64]>::try_from(signature.as_slice())
                .map_err(|_| corrupt("a signature is not 64 bytes"))?,
        },
        public_key: row.try_get("public_key")?,
    })
}

/// The newest checkpoint.
pub async fn latest_checkpoint(
    conn: &mut PgConnection,
) -> Result<Option<StoredCheckpoint>, SealStoreError> {
    sqlx::query(&format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1"
    ))
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(checkpoint_from_row)
    .transpose()
}

/// The smallest checkpoint of at least `size` leaves.
pub async fn checkpoint_covering(
    conn: &mut PgConnection,
    size: u64,
) -> Result<Option<StoredCheckpoint>, SealStoreError> {
    sqlx::query(&format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE tree_size >= $1
          ORDER BY tree_size LIMIT 1"
    ))
    .bind(to_i64(size))
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(checkpoint_from_row)
    .transpose()
}

/// Every checkpoint, oldest first.
pub async fn all_checkpoints(
    conn: &mut PgConnection,
) -> Result<Vec<StoredCheckpoint>, SealStoreError> {
    sqlx::query(&format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY tree_size"
    ))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(checkpoint_from_row)
    .collect()
}

/// Stores a signed checkpoint and the key that signed it.
pub async fn insert_checkpoint(
    conn: &mut PgConnection,
    signed: &SignedCheckpoint,
    public_key: &PublicKey,
) -> Result<(), SealStoreError> {
    let pem = public_key
        .to_pem()
        .map_err(|e: CheckpointError| corrupt(e))?;
    let c = &signed.checkpoint;
    sqlx::query(&format!(
        "INSERT INTO audit_checkpoints ({CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(to_i64(c.tree_size))
    .bind(c.root_hash.0.to_vec())
    .bind(c.last_position)
    .bind(c.time_us)
    .bind(c.previous.0.to_vec())
    .bind(&signed.key_id)
    .bind(signed.signature.to_vec())
    .bind(pem)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
