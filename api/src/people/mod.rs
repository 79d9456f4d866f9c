//! Built-in users: who they are (`users`, written with their events),
//! their passwords ([`password`]), sign-in sessions with rotating refresh
//! tokens ([`sessions`]), the sign-in throttle ([`throttle`]) and the
//! revocation list every process keeps from the log ([`revocation`]).
//!
//! docs/users.md explains the model; the routes are in `routes::users`,
//! `routes::auth` and `routes::me`. The access/refresh token pair is minted
//! by [`People::mint`] from a user id alone, so another way of proving who
//! someone is (single sign-on) can open the same kind of session.

pub mod directory;
pub mod password;
pub mod revocation;
pub mod secret_token;
pub mod sessions;
pub mod throttle;

use std::time::Duration;

use alertledger_domain::user::{User, UserCommand, UserError, UserEvent};
use alertledger_domain::values::{Role, TenantId};
use alertledger_domain::DomainServices;
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::store::EventMetadata;
use alertledger_eventstore::unit_of_work::UnitOfWork;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::auth::jwt::{TokenIssuer, TokenRequest};
use crate::error::ApiError;
pub use revocation::RevocationList;

/// Lifetimes of what sign-in hands out.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Access JWTs (`ALERTLEDGER_ACCESS_TOKEN_TTL`, default 15 min).
    pub access_ttl: Duration,
    /// A session, and so its refresh tokens (`ALERTLEDGER_SESSION_TTL`, default 7 d).
    pub session_ttl: Duration,
    /// An unused invitation (7 d).
    pub invite_ttl: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            session_ttl: Duration::from_secs(7 * 24 * 3_600),
            invite_ttl: Duration::from_secs(7 * 24 * 3_600),
        }
    }
}

/// What the user routes share. Cheap to clone.
#[derive(Clone)]
pub struct People {
    pub settings: AuthSettings,
    /// Signs access tokens (`None`: this process only verifies tokens, as
    /// with a public key configured; sign-in answers 503).
    pub issuer: Option<TokenIssuer>,
    pub revocations: RevocationList,
    pub signal: LogSignal,
    pub services: DomainServices,
}

/// A user as the API shows it (never a hash or a token).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    #[schema(value_type = Vec<Uuid>)]
    pub tenants: Vec<Uuid>,
    pub disabled: bool,
    /// Whether a password is set (`false` while an invitation is open).
    pub has_password: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The columns of [`UserRow`].
pub const USER_COLUMNS: &str =
    "id, email, name, role, tenants, disabled_at IS NOT NULL AS disabled, \
     password_hash IS NOT NULL AS has_password, created_at";

impl UserRow {
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Viewer)
    }

    pub fn tenant_ids(&self) -> Vec<TenantId> {
        self.tenants
            .iter()
            .copied()
            .map(TenantId::from_uuid)
            .collect()
    }
}

/// One user by id.
pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The signed-in state minted for a session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token is valid.
    pub expires_in: u64,
    /// The session (the access token's `sid`).
    pub session_id: Uuid,
}

impl People {
    fn issuer(&self) -> Result<&TokenIssuer, ApiError> {
        self.issuer.as_ref().ok_or_else(|| {
            ApiError::unavailable(
                "this service holds no token signing key (ALERTLEDGER_JWT_SECRET), so it cannot sign anyone in",
            )
        })
    }

    /// An access token for `user` in `session`.
    pub fn access_token(&self, user: &UserRow, session: Uuid) -> Result<String, ApiError> {
        self.issuer()?
            .issue_in_session(
                &TokenRequest {
                    sub: user.id.to_string(),
                    name: user.name.clone(),
                    role: user.role(),
                    tenants: user.tenant_ids(),
                    ttl: self.settings.access_ttl,
                },
                session,
            )
            .map_err(|e| ApiError::internal(&e))
    }

    /// Opens a session for `user` (already proven by password or another
    /// means) and mints its first token pair, within `conn`'s transaction.
    pub async fn mint(
        &self,
        conn: &mut PgConnection,
        user: &UserRow,
        source_ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<TokenPair, ApiError> {
        self.issuer()?;
        let (session, refresh_token) = sessions::open(
            conn,
            user.id,
            self.settings.session_ttl,
            source_ip,
            user_agent,
        )
        .await?;
        Ok(TokenPair {
            access_token: self.access_token(user, session)?,
            refresh_token,
            token_type: "Bearer",
            expires_in: self.settings.access_ttl.as_secs(),
            session_id: session,
        })
    }

    /// Runs `command` on user `id` inside `conn`'s transaction and stages
    /// and writes its events there; the caller commits, then calls
    /// [`People::appended`].
    pub async fn execute(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        command: UserCommand,
        metadata: &EventMetadata,
    ) -> Result<Vec<UserEvent>, ApiError> {
        let mut work = UnitOfWork::default();
        let key = id.to_string();
        let mut loaded = work
            .load::<User>(conn, std::slice::from_ref(&key))
            .await
            .map_err(|e| ApiError::internal(&e))?
            .remove(&key)
            .unwrap_or_default();
        let events = work
            .execute(&key, &mut loaded, command, &self.services, metadata)
            .await
            .map_err(user_error)?;
        work.write(conn).await.map_err(|e| {
            // Two writers to one user at once: the later one is told to retry.
            if e.as_database_error()
                .is_some_and(|db| db.is_unique_violation())
            {
                ApiError::new(
                    axum::http::StatusCode::CONFLICT,
                    "concurrent_change",
                    "the user was changed at the same moment; try again",
                )
            } else {
                ApiError::database(&e)
            }
        })?;
        Ok(events)
    }

    /// Tells the log's followers that events were committed.
    pub fn appended(&self) {
        self.signal.appended();
    }

    /// After a commit of `events`: wakes the log's followers, and applies
    /// revocations to this process's list at once (other processes learn
    /// them from the log within their tail interval).
    pub fn committed(&self, events: &[UserEvent]) {
        for event in events {
            self.revocations.apply(event);
        }
        self.signal.appended();
    }
}

/// A user rule as an API error.
pub fn user_error(error: UserError) -> ApiError {
    match error {
        UserError::Unknown => ApiError::not_found("user_not_found", "no such user"),
        UserError::AlreadyInvited => ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "user_exists",
            error.to_string(),
        ),
        UserError::Disabled => ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "user_disabled",
            error.to_string(),
        ),
    }
}
