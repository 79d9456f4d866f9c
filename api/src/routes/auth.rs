//! Signing in with a password (API.md "People"): login, refresh, logout,
//! accepting an invitation, changing one's password.
//!
//! Login and refresh are the only routes without credentials besides
//! health and webhooks; login is throttled per account and per client
//! address (`people::throttle`), and an unknown email costs the same
//! argon2id work as a wrong password. Successful and failed logins are not
//! events (they would add a log write per sign-in and flood the audit
//! trail); revocations are, because every process must learn them
//! (docs/users.md).

use alertledger_domain::values::{Actor, UserId};
use axum::extract::State;
use axum::http::header::USER_AGENT;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::Caller;
use crate::edge::ClientIp;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::people::directory::{revoke_sessions, set_password};
use crate::people::sessions::{self, Refresh};
use crate::people::{find, password, secret_token, throttle, TokenPair, UserRow};
use crate::state::AppState;

use super::users::parse_email;

/// `POST /api/v1/auth/login` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Login {
    email: String,
    password: String,
}

/// `POST /api/v1/auth/refresh` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RefreshBody {
    refresh_token: String,
}

/// `POST /api/v1/auth/accept-invite` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AcceptInvite {
    invite_token: String,
    /// The first password (at least 12 characters).
    password: String,
}

/// `POST /api/v1/auth/password` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChangePassword {
    current: String,
    new: String,
}

/// The user as the actor of what they do to their own account.
pub(crate) fn self_actor(user: &UserRow) -> Result<Actor, ApiError> {
    let id = UserId::parse(&user.id.to_string())
        .map_err(|_| ApiError::unauthorized("not a usable user id"))?;
    Ok(Actor::new(id, user.name.clone(), user.role()))
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn metadata(
    user: &UserRow,
    headers: &HeaderMap,
    ip: Option<std::net::IpAddr>,
) -> alertledger_eventstore::store::EventMetadata {
    alertledger_eventstore::store::EventMetadata {
        actor: Some(format!("user:{}", user.id)),
        request_id: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        source_ip: ip.map(|ip| ip.to_string()),
        ..Default::default()
    }
}

fn wrong_credentials() -> ApiError {
    ApiError::unauthorized("wrong email or password")
}

/// `POST /api/v1/auth/login`: a token pair for an email and password.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    security(()),
    request_body(content = Login),
    responses(
        (status = 200, description = "Signed in: a short-lived access JWT (with `sid` and `jti`) and a rotating refresh token", body = TokenPair),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 415, response = crate::openapi::responses::UnsupportedMediaType),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 429, response = crate::openapi::responses::TooManyRequests),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Login>,
) -> Result<Json<TokenPair>, ApiError> {
    let email = parse_email(&body.email)?;
    let ip_text = ip.map(|ip| ip.to_string());
    let mut keys = vec![throttle::account_key(&email)];
    if let Some(ip) = &ip_text {
        keys.push(throttle::ip_key(ip));
    }
    let pool = state.pool();
    if let Some(wait) = throttle::locked_for(pool, &keys).await? {
        return Err(ApiError::rate_limited(wait));
    }
    let found: Option<(Uuid, Option<String>, bool)> = sqlx::query_as(
        "SELECT id, password_hash, disabled_at IS NOT NULL FROM users WHERE email = $1",
    )
    .bind(&email)
    .fetch_optional(pool)
    .await?;
    let stored = found
        .as_ref()
        .filter(|(_, _, disabled)| !disabled)
        .and_then(|(_, hash, _)| hash.clone());
    let usable = stored.is_some();
    let matches = password::verify_blocking(body.password, stored).await;
    let user = match found {
        Some((id, _, _)) if usable && matches => find(pool, id).await?,
        _ => None,
    };
    let Some(user) = user else {
        throttle::record_failure(pool, &keys[0], throttle::ACCOUNT_FREE_FAILURES).await?;
        if let Some(ip_key) = keys.get(1) {
            throttle::record_failure(pool, ip_key, throttle::IP_FREE_FAILURES).await?;
        }
        tracing::info!(ip = ?ip_text, "a sign-in failed");
        return Err(wrong_credentials());
    };
    throttle::clear(pool, &keys[0]).await?;
    let mut tx = pool.begin().await?;
    let pair = state
        .people()
        .mint(&mut tx, &user, ip_text, user_agent(&headers))
        .await?;
    tx.commit().await?;
    Ok(Json(pair))
}

/// `POST /api/v1/auth/refresh`: a new token pair for a refresh token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    security(()),
    request_body(content = RefreshBody),
    responses(
        (status = 200, description = "A new access token and a new refresh token (the one sent is used up). Sending a used refresh token again revokes its whole session.", body = TokenPair),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 415, response = crate::openapi::responses::UnsupportedMediaType),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<Json<TokenPair>, ApiError> {
    let people = state.people();
    let mut tx = state.pool().begin().await?;
    match sessions::rotate(&mut tx, body.refresh_token.trim()).await? {
        Refresh::Rotated {
            session,
            user_id,
            refresh_token,
        } => {
            let user = find(state.pool(), user_id)
                .await?
                .filter(|user| !user.disabled)
                .ok_or_else(|| ApiError::unauthorized("the refresh token is invalid or expired"))?;
            let access_token = people.access_token(&user, session)?;
            tx.commit().await?;
            Ok(Json(TokenPair {
                access_token,
                refresh_token,
                token_type: "Bearer",
                expires_in: people.settings.access_ttl.as_secs(),
                session_id: session,
            }))
        }
        Refresh::Reused { session, user_id } => {
            // A used token came back: someone holds a copy. End the family.
            let events = match find(state.pool(), user_id).await? {
                Some(user) => {
                    let actor = self_actor(&user)?;
                    let metadata = metadata(&user, &headers, ip);
                    revoke_sessions(
                        people,
                        &mut tx,
                        user_id,
                        &[session],
                        "refresh_token_reused",
                        actor,
                        &metadata,
                    )
                    .await?
                }
                None => Vec::new(),
            };
            tx.commit().await?;
            people.committed(&events);
            tracing::warn!(%session, "a used refresh token was presented again; its session is revoked");
            Err(ApiError::unauthorized(
                "the refresh token was already used; its session is revoked, sign in again",
            ))
        }
        Refresh::Refused => Err(ApiError::unauthorized(
            "the refresh token is invalid or expired",
        )),
    }
}

/// The caller's built-in user and session, for routes about one's own account.
async fn own_account(state: &AppState, caller: &Caller) -> Result<Option<UserRow>, ApiError> {
    let Ok(id) = Uuid::try_parse(&caller.user_id) else {
        return Ok(None);
    };
    Ok(find(state.pool(), id).await?)
}

/// `POST /api/v1/auth/logout`: revokes the bearer's session.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    security(("bearer_jwt" = [])),
    responses(
        (status = 204, description = "The session is revoked: its refresh token stops working at once, its access tokens are refused by every process within moments"),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let (Some(session), Some(user)) = (caller.session_id, own_account(&state, &caller).await?)
    else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_session",
            "this token belongs to no sign-in session (it was minted, not signed in); it ends when it expires",
        ));
    };
    let people = state.people();
    let mut tx = state.pool().begin().await?;
    let events = revoke_sessions(
        people,
        &mut tx,
        user.id,
        &[session],
        "logout",
        caller.actor()?,
        &caller.event_metadata(&headers),
    )
    .await?;
    tx.commit().await?;
    people.committed(&events);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/auth/accept-invite`: set the first password, and sign in.
#[utoipa::path(
    post,
    path = "/api/v1/auth/accept-invite",
    tag = "auth",
    security(()),
    request_body(content = AcceptInvite),
    responses(
        (status = 200, description = "The password is set and the user signed in", body = TokenPair),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 415, response = crate::openapi::responses::UnsupportedMediaType),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn accept_invite(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AcceptInvite>,
) -> Result<Json<TokenPair>, ApiError> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM users WHERE invite_token_hash = $1 AND invite_expires_at > now()
            AND disabled_at IS NULL",
    )
    .bind(secret_token::digest(body.invite_token.trim()))
    .fetch_optional(state.pool())
    .await?;
    let user = match id {
        Some(id) => find(state.pool(), id).await?,
        None => None,
    }
    .ok_or_else(|| ApiError::unauthorized("the invite token is invalid, used or expired"))?;
    password::check_strength(&body.password, &user.email)
        .map_err(|why| ApiError::invalid_value("password", format!("`password` {why}")))?;
    let people = state.people();
    let mut tx = state.pool().begin().await?;
    // Used up in this transaction: a second acceptance finds nothing.
    let claimed = sqlx::query(
        "UPDATE users SET invite_token_hash = NULL WHERE id = $1 AND invite_token_hash IS NOT NULL",
    )
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() == 0 {
        return Err(ApiError::unauthorized(
            "the invite token is invalid, used or expired",
        ));
    }
    let metadata = metadata(&user, &headers, ip);
    let events = set_password(
        people,
        &mut tx,
        user.id,
        body.password,
        None,
        self_actor(&user)?,
        &metadata,
    )
    .await?;
    let user = UserRow {
        has_password: true,
        ..user
    };
    let pair = people
        .mint(
            &mut tx,
            &user,
            ip.map(|ip| ip.to_string()),
            user_agent(&headers),
        )
        .await?;
    tx.commit().await?;
    people.committed(&events);
    Ok(Json(pair))
}

/// `POST /api/v1/auth/password`: change one's own password; every other
/// session of the user is revoked.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password",
    tag = "auth",
    security(("bearer_jwt" = [])),
    request_body(content = ChangePassword),
    responses(
        (status = 204, description = "Changed; the user's other sessions are revoked"),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 415, response = crate::openapi::responses::UnsupportedMediaType),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 429, response = crate::openapi::responses::TooManyRequests),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    let Some(user) = own_account(&state, &caller).await?.filter(|u| !u.disabled) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_password_account",
            "this token's subject is not a built-in user with a password",
        ));
    };
    let pool = state.pool();
    let key = throttle::account_key(&user.email);
    if let Some(wait) = throttle::locked_for(pool, std::slice::from_ref(&key)).await? {
        return Err(ApiError::rate_limited(wait));
    }
    let stored: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(user.id)
            .fetch_one(pool)
            .await?;
    if !password::verify_blocking(body.current, stored).await {
        throttle::record_failure(pool, &key, throttle::ACCOUNT_FREE_FAILURES).await?;
        return Err(ApiError::invalid_value(
            "current",
            "`current` is not the current password",
        ));
    }
    password::check_strength(&body.new, &user.email)
        .map_err(|why| ApiError::invalid_value("new", format!("`new` {why}")))?;
    let people = state.people();
    let mut tx = pool.begin().await?;
    let events = set_password(
        people,
        &mut tx,
        user.id,
        body.new,
        caller.session_id,
        caller.actor()?,
        &caller.event_metadata(&headers),
    )
    .await?;
    tx.commit().await?;
    people.committed(&events);
    Ok(StatusCode::NO_CONTENT)
}
