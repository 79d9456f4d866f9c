//! Sign-in sessions and their rotating refresh tokens (`auth_sessions`,
//! `auth_refresh_tokens`).
//!
//! A session is one sign-in: its id is the access tokens' `sid` and the
//! refresh token family. Each refresh hands out a new refresh token and
//! marks the presented one used; presenting a used one again means the token
//! was copied, so the whole family (the session) is revoked. The session's
//! `expires_at` is fixed at sign-in: refreshing never extends it.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::secret_token;

/// A session as `GET /api/v1/me/sessions` shows it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SessionRow {
    pub id: Uuid,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Opens a session for `user_id` lasting `ttl`; returns its id and first
/// refresh token.
pub async fn open(
    conn: &mut PgConnection,
    user_id: Uuid,
    ttl: std::time::Duration,
    source_ip: Option<String>,
    user_agent: Option<String>,
) -> Result<(Uuid, String), sqlx::Error> {
    let session = Uuid::now_v7();
    let refresh = secret_token::generate();
    sqlx::query(
        "WITH s AS (
             INSERT INTO auth_sessions (id, user_id, expires_at, source_ip, user_agent)
             VALUES ($1, $2, now() + make_interval(secs => $3), $4, $5) RETURNING id)
         INSERT INTO auth_refresh_tokens (token_hash, session_id) SELECT $6, id FROM s",
    )
    .bind(session)
    .bind(user_id)
    .bind(ttl.as_secs_f64())
    .bind(source_ip)
    .bind(user_agent.map(|ua| ua.chars().take(300).collect::<String>()))
    .bind(secret_token::digest(&refresh))
    .execute(conn)
    .await?;
    Ok((session, refresh))
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Refresh {
    /// A new refresh token for the session.
    Rotated {
        session: Uuid,
        user_id: Uuid,
        refresh_token: String,
    },
    /// The token was already used: the family must be revoked.
    Reused { session: Uuid, user_id: Uuid },
    /// Unknown, expired, or of a revoked session.
    Refused,
}

/// Rotates `token` within `conn`'s transaction.
pub async fn rotate(conn: &mut PgConnection, token: &str) -> Result<Refresh, sqlx::Error> {
    let digest = secret_token::digest(token);
    // Marks the token used only if it is the current one of a live session.
    let current: Option<(Uuid, Uuid)> = sqlx::query_as(
        "UPDATE auth_refresh_tokens r SET used_at = now()
           FROM auth_sessions s
          WHERE r.token_hash = $1 AND r.used_at IS NULL AND s.id = r.session_id
            AND s.revoked_at IS NULL AND s.expires_at > now()
         RETURNING s.id, s.user_id",
    )
    .bind(&digest)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((session, user_id)) = current {
        let refresh_token = secret_token::generate();
        sqlx::query("INSERT INTO auth_refresh_tokens (token_hash, session_id) VALUES ($1, $2)")
            .bind(secret_token::digest(&refresh_token))
            .bind(session)
            .execute(&mut *conn)
            .await?;
        sqlx::query("UPDATE auth_sessions SET last_used_at = now() WHERE id = $1")
            .bind(session)
            .execute(&mut *conn)
            .await?;
        return Ok(Refresh::Rotated {
            session,
            user_id,
            refresh_token,
        });
    }
    let used: Option<(Uuid, Uuid, bool)> = sqlx::query_as(
        "SELECT s.id, s.user_id, s.revoked_at IS NULL FROM auth_refresh_tokens r
           JOIN auth_sessions s ON s.id = r.session_id
          WHERE r.token_hash = $1 AND r.used_at IS NOT NULL",
    )
    .bind(&digest)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match used {
        Some((session, user_id, true)) => Refresh::Reused { session, user_id },
        _ => Refresh::Refused,
    })
}

/// Marks `sessions` revoked (those not already); returns the ones it revoked.
pub async fn revoke(
    conn: &mut PgConnection,
    sessions: &[Uuid],
    reason: &str,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $2
          WHERE id = ANY($1) AND revoked_at IS NULL RETURNING id",
    )
    .bind(sessions)
    .bind(reason)
    .fetch_all(conn)
    .await
}

/// The user's live sessions, newest first.
pub async fn active(pool: &PgPool, user_id: Uuid) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, created_at, last_used_at, expires_at, source_ip, user_agent
           FROM auth_sessions
          WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
          ORDER BY created_at DESC",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}

/// Ids of the user's live sessions (all of them, or all but `except`).
pub async fn active_ids(
    conn: &mut PgConnection,
    user_id: Uuid,
    except: Option<Uuid>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM auth_sessions
          WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
            AND ($2::uuid IS NULL OR id <> $2)",
    )
    .bind(user_id)
    .bind(except)
    .fetch_all(conn)
    .await
}
