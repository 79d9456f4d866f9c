//! The sealed log's public surface (docs/audit-bundle.md):
//!
//! - `GET /api/v1/audit/public-key` — the key that signs checkpoints. Public
//!   by nature, so it needs no credentials: auditors fetch it to pin it.
//! - `GET /api/v1/audit/proof?position=N` — the inclusion proof of one event
//!   in the latest checkpoint; the event's tenant must be readable (else 404).
//! - `GET /api/v1/audit/consistency?from=SIZE&to=SIZE` — that the tree of
//!   `from` leaves is a prefix of the tree of `to` leaves. Hashes only, no
//!   tenant's data: any authenticated caller.

use alertledger_domain::values::TenantId;
use alertledger_seal::{Hash, PublicKey, SignedCheckpoint};
use alertledger_sealed_log::{self as sealed_log, SealStoreError, StoredCheckpoint};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::auth::policy::Action;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;

/// `GET /api/v1/audit/public-key`.
#[derive(Debug, Serialize)]
pub struct PublicKeyBody {
    pub algorithm: &'static str,
    pub key_id: String,
    /// SPKI PEM, as `openssl pkey -pubin` reads it.
    pub public_key_pem: String,
    /// The raw 32-byte key, base64.
    pub public_key_base64: String,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit/public-key",
    tag = "analysts",
    security(()),
    responses(
        (status = 200, description = "The key that signs audit checkpoints", body = crate::openapi::schemas::AuditPublicKey)
    )
)]
pub async fn public_key(State(state): State<AppState>) -> Result<Json<PublicKeyBody>, ApiError> {
    let key: &PublicKey = state.audit_public_key();
    let pem = key.to_pem().map_err(|e| ApiError::internal(&e))?;
    Ok(Json(PublicKeyBody {
        algorithm: "Ed25519",
        key_id: key.key_id(),
        public_key_pem: pem,
        public_key_base64: key.to_base64(),
    }))
}

#[derive(Debug, Deserialize)]
pub struct ProofParams {
    position: Option<String>,
}

/// A checkpoint as the API shows it: its fields, signature and signed body.
#[derive(Debug, Serialize)]
pub struct CheckpointBody {
    #[serde(flatten)]
    pub signed: SignedCheckpoint,
    /// The exact text that was signed.
    pub body: String,
}

impl From<StoredCheckpoint> for CheckpointBody {
    fn from(stored: StoredCheckpoint) -> Self {
        Self {
            body: stored.signed.checkpoint.body(),
            signed: stored.signed,
        }
    }
}

/// `GET /api/v1/audit/proof?position=N`.
#[derive(Debug, Serialize)]
pub struct InclusionProofBody {
    pub position: i64,
    pub tenant_id: uuid::Uuid,
    pub leaf_index: u64,
    pub body_digest: Hash,
    pub leaf_hash: Hash,
    pub tree_size: u64,
    pub root_hash: Hash,
    /// RFC 6962 audit path, leaf to root.
    pub audit_path: Vec<Hash>,
    pub checkpoint: CheckpointBody,
}

fn store_error(error: SealStoreError) -> ApiError {
    match error {
        SealStoreError::Database(error) => ApiError::database(&error),
        other => ApiError::internal(&other),
    }
}

fn not_sealed(message: &str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "not_yet_sealed", message)
}

#[tracing::instrument(skip_all, fields(position = ?params.position))]
#[utoipa::path(
    get,
    path = "/api/v1/audit/proof",
    tag = "analysts",
    security(("bearer_jwt" = [])),
    params(("position" = i64, Query, minimum = 1, description = "The event's position")),
    responses(
        (status = 200, description = "The event's inclusion proof in the latest checkpoint", body = crate::openapi::schemas::InclusionProof),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn inclusion_proof(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ProofParams>,
) -> Result<Json<InclusionProofBody>, ApiError> {
    let raw = params.position.ok_or_else(|| {
        ApiError::bad_request("missing_field", "`position` is required")
            .with_details(serde_json::json!({ "field": "position" }))
    })?;
    let position: i64 = raw.trim().parse().ok().filter(|p| *p > 0).ok_or_else(|| {
        ApiError::invalid_value("position", "`position` must be a positive whole number")
    })?;
    let unknown = || ApiError::not_found("event_not_found", "no such event");
    let tenant = state
        .log()
        .tenant_of_position(position)
        .await?
        .ok_or_else(unknown)?;
    if !caller.may_read(&TenantId::from_uuid(tenant)) {
        return Err(unknown());
    }
    caller.authorize_role(Action::Read)?;
    let mut conn = state.pool().acquire().await?;
    let leaf = sealed_log::leaf_by_position(&mut conn, position)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            not_sealed("the event is not sealed yet; the sealer follows the log within moments")
        })?;
    let checkpoint = sealed_log::latest_checkpoint(&mut conn)
        .await
        .map_err(store_error)?
        .filter(|c| c.signed.checkpoint.tree_size > leaf.leaf_index)
        .ok_or_else(|| {
            not_sealed("no checkpoint covers the event yet; one is signed at least every 10 s")
        })?;
    let size = checkpoint.signed.checkpoint.tree_size;
    let audit_path = sealed_log::inclusion_proof(&mut conn, leaf.leaf_index, size)
        .await
        .map_err(store_error)?;
    Ok(Json(InclusionProofBody {
        position,
        tenant_id: leaf.tenant_id,
        leaf_index: leaf.leaf_index,
        body_digest: leaf.body_digest,
        leaf_hash: leaf.leaf_hash(),
        tree_size: size,
        root_hash: checkpoint.signed.checkpoint.root_hash,
        audit_path,
        checkpoint: checkpoint.into(),
    }))
}

#[derive(Debug, Deserialize)]
pub struct ConsistencyParams {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /api/v1/audit/consistency?from=&to=`.
#[derive(Debug, Serialize)]
pub struct ConsistencyProofBody {
    pub from: u64,
    pub to: u64,
    pub from_root: Hash,
    pub to_root: Hash,
    /// RFC 6962 consistency proof.
    pub proof: Vec<Hash>,
    /// The newest checkpoint, which `to` may not exceed.
    pub latest_checkpoint: CheckpointBody,
}

fn tree_size(field: &'static str, raw: Option<String>) -> Result<u64, ApiError> {
    let raw = raw.ok_or_else(|| {
        ApiError::bad_request("missing_field", format!("`{field}` is required"))
            .with_details(serde_json::json!({ "field": field }))
    })?;
    raw.trim().parse::<u64>().map_err(|_| {
        ApiError::invalid_value(
            field,
            format!("`{field}` must be a tree size (a whole number)"),
        )
    })
}

#[tracing::instrument(skip_all)]
#[utoipa::path(
    get,
    path = "/api/v1/audit/consistency",
    tag = "analysts",
    security(("bearer_jwt" = [])),
    params(("from" = u64, Query, description = "The smaller tree size"), ("to" = u64, Query, description = "The larger tree size (at most the latest checkpoint's)")),
    responses(
        (status = 200, description = "The consistency proof", body = crate::openapi::schemas::ConsistencyProof),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn consistency_proof(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ConsistencyParams>,
) -> Result<Json<ConsistencyProofBody>, ApiError> {
    caller.authorize_role(Action::Read)?;
    let from = tree_size("from", params.from)?;
    let to = tree_size("to", params.to)?;
    if from > to {
        return Err(ApiError::invalid_value(
            "from",
            "`from` must not exceed `to`",
        ));
    }
    let mut conn = state.pool().acquire().await?;
    let latest = sealed_log::latest_checkpoint(&mut conn)
        .await
        .map_err(store_error)?
        .ok_or_else(|| not_sealed("no checkpoint has been signed yet"))?;
    let signed_size = latest.signed.checkpoint.tree_size;
    if to > signed_size {
        return Err(ApiError::invalid_value(
            "to",
            format!("`to` must not exceed the latest checkpoint's tree size ({signed_size})"),
        ));
    }
    let proof = sealed_log::consistency_proof(&mut conn, from, to)
        .await
        .map_err(store_error)?;
    let from_root = sealed_log::root_at(&mut conn, from)
        .await
        .map_err(store_error)?;
    let to_root = sealed_log::root_at(&mut conn, to)
        .await
        .map_err(store_error)?;
    Ok(Json(ConsistencyProofBody {
        from,
        to,
        from_root,
        to_root,
        proof,
        latest_checkpoint: latest.into(),
    }))
}
