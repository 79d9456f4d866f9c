//! Creating users and setting passwords: the `users` row and the user's
//! events in one transaction, so neither exists without the other.

use alertledger_domain::user::{UserCommand, UserEvent};
use alertledger_domain::values::{Actor, Role, TenantId};
use alertledger_eventstore::store::EventMetadata;
use axum::http::StatusCode;
use uuid::Uuid;

use super::{find, password, secret_token, People, UserRow};
use crate::error::ApiError;

/// A user to invite, already validated.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: Uuid,
    /// Lower-cased.
    pub email: String,
    pub name: String,
    pub role: Role,
    pub tenants: Vec<TenantId>,
    /// The first password; without one, an invite token is returned.
    pub password: Option<String>,
}

/// Invites `user`; returns the stored user and, when no password was given,
/// the one-time invite token that sets the first one.
pub async fn invite(
    people: &People,
    pool: &sqlx::PgPool,
    user: NewUser,
    actor: Actor,
    metadata: &EventMetadata,
) -> Result<(UserRow, Option<String>), ApiError> {
    let hash = match &user.password {
        Some(password) => Some(
            password::hash_blocking(password.clone())
                .await
                .map_err(|e| ApiError::internal(&std::io::Error::other(e)))?,
        ),
        None => None,
    };
    let invite_token = hash.is_none().then(secret_token::generate);
    let mut tx = pool.begin().await?;
    let tenants: Vec<Uuid> = user.tenants.iter().map(|t| *t.as_uuid()).collect();
    let inserted = sqlx::query(
        "INSERT INTO users (id, email, name, role, tenants, password_hash, password_changed_at,
                            invite_token_hash, invite_expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6 IS NULL THEN NULL ELSE now() END,
                 $7, CASE WHEN $7 IS NULL THEN NULL ELSE now() + make_interval(secs => $8) END)
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(user.id)
    .bind(&user.email)
    .bind(&user.name)
    .bind(user.role.as_str())
    .bind(&tenants)
    .bind(&hash)
    .bind(invite_token.as_deref().map(secret_token::digest))
    .bind(people.settings.invite_ttl.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "email_taken",
            "a user with this email already exists",
        )
        .with_details(serde_json::json!({ "field": "email" })));
    }
    people
        .execute(
            &mut tx,
            user.id,
            UserCommand::Invite {
                user_id: user.id,
                email: user.email.clone(),
                name: user.name.clone(),
                role: user.role,
                tenants: user.tenants.clone(),
                actor: actor.clone(),
            },
            metadata,
        )
        .await?;
    if hash.is_some() {
        people
            .execute(
                &mut tx,
                user.id,
                UserCommand::RecordPasswordSet { actor },
                metadata,
            )
            .await?;
    }
    tx.commit().await?;
    people.appended();
    let row = find(pool, user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("user_not_found", "no such user"))?;
    Ok((row, invite_token))
}

/// Sets `user_id`'s password to `new` (already checked for strength) and
/// records it; revokes every live session but `keep`. Within `tx`.
pub async fn set_password(
    people: &People,
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    new: String,
    keep: Option<Uuid>,
    actor: Actor,
    metadata: &EventMetadata,
) -> Result<Vec<UserEvent>, ApiError> {
    let hash = password::hash_blocking(new)
        .await
        .map_err(|e| ApiError::internal(&std::io::Error::other(e)))?;
    sqlx::query(
        "UPDATE users SET password_hash = $2, password_changed_at = now(),
                          invite_token_hash = NULL, invite_expires_at = NULL
          WHERE id = $1",
    )
    .bind(user_id)
    .bind(hash)
    .execute(&mut *tx)
    .await?;
    people
        .execute(
            tx,
            user_id,
            UserCommand::RecordPasswordSet {
                actor: actor.clone(),
            },
            metadata,
        )
        .await?;
    let others = super::sessions::active_ids(tx, user_id, keep).await?;
    revoke_sessions(
        people,
        tx,
        user_id,
        &others,
        "password_changed",
        actor,
        metadata,
    )
    .await
}

/// Revokes `sessions` of `user_id` (their refresh tokens at once, their
/// access tokens in every process once the event is read). Within `tx`.
pub async fn revoke_sessions(
    people: &People,
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    sessions: &[Uuid],
    reason: &str,
    actor: Actor,
    metadata: &EventMetadata,
) -> Result<Vec<UserEvent>, ApiError> {
    let revoked = super::sessions::revoke(tx, sessions, reason).await?;
    if revoked.is_empty() {
        return Ok(Vec::new());
    }
    people
        .execute(
            tx,
            user_id,
            UserCommand::RevokeSessions {
                session_ids: revoked,
                reason: reason.to_owned(),
                actor,
            },
            metadata,
        )
        .await
}
