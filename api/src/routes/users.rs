//! Built-in users (API.md "People"): invite, list (paged), show, change,
//! disable and enable, and an administrator's password reset.
//!
//! `msp_admin` manages every user. `tenant_admin` sees the users who share
//! a tenant with them and manages those whose tenants are all theirs (never
//! an `msp_admin`); it grants no role above its own and no tenant it does
//! not hold. Anyone else is 403. Every change is a `User` event with its
//! actor; passwords and tokens never enter the log (see docs/users.md).

use alertledger_domain::user::UserCommand;
use alertledger_domain::values::{Role, TenantId};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::{Caller, TenantScope};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::people::directory::{self, NewUser};
use crate::people::{find, password, UserRow, USER_COLUMNS};
use crate::state::AppState;

/// `POST /api/v1/users` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateUser {
    email: String,
    name: String,
    /// `msp_admin`, `tenant_admin`, `technician` or `viewer`.
    role: String,
    /// Tenant ids (at least one, except for `msp_admin`, who sees all).
    #[serde(default)]
    #[schema(value_type = Vec<Uuid>)]
    tenants: Vec<String>,
    /// The first password (at least 12 characters); without it the answer
    /// carries a one-time `invite_token` for `POST /api/v1/auth/accept-invite`.
    password: Option<String>,
}

/// `PATCH /api/v1/users/{id}` body: what to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeUser {
    name: Option<String>,
    role: Option<String>,
    #[schema(value_type = Option<Vec<Uuid>>)]
    tenants: Option<Vec<String>>,
    /// `false` enables a disabled user (tokens issued before the disabling
    /// stay refused); `true` disables, as `DELETE` does.
    disabled: Option<bool>,
}

/// `GET /api/v1/users` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UserListQuery {
    /// Page size, 1 to 500 (default 50).
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `POST /api/v1/users/{id}/password-reset` answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PasswordReset {
    /// The user.
    id: Uuid,
    /// One-time token for `POST /api/v1/auth/accept-invite`, shown once.
    reset_token: String,
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// A user, with `invite_token` once when created without a password.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct UserView {
    id: Uuid,
    user_id: Uuid,
    email: String,
    name: String,
    role: String,
    tenants: Vec<Uuid>,
    disabled: bool,
    has_password: bool,
    created_at: chrono::DateTime<chrono::Utc>,
    /// Only in the answer to the invitation, only when no password was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    invite_token: Option<String>,
}

/// A user as the API shows it.
pub fn view(row: UserRow) -> Value {
    json!(UserView {
        id: row.id,
        user_id: row.id,
        email: row.email,
        name: row.name,
        role: row.role,
        tenants: row.tenants,
        disabled: row.disabled,
        has_password: row.has_password,
        created_at: row.created_at,
        invite_token: None,
    })
}

/// Roles in order of power.
fn rank(role: Role) -> u8 {
    match role {
        Role::Viewer => 0,
        Role::Technician => 1,
        Role::TenantAdmin => 2,
        Role::MspAdmin => 3,
    }
}

/// Only user administrators (msp_admin, tenant_admin) get past here.
fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if matches!(caller.role, Role::MspAdmin | Role::TenantAdmin) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "the {} role may not manage users",
            caller.role.as_str()
        )))
    }
}

/// Whether `caller` may see `user` (shares a tenant, or is an MSP admin).
fn may_see(caller: &Caller, user: &UserRow) -> bool {
    match &caller.scope {
        TenantScope::All => true,
        TenantScope::Only(mine) => user
            .tenants
            .iter()
            .any(|t| mine.contains(&TenantId::from_uuid(*t))),
    }
}

/// Allows `caller` to change `user`, or says why not (404 when invisible).
fn may_manage(caller: &Caller, user: &UserRow) -> Result<(), ApiError> {
    require_admin(caller)?;
    if !may_see(caller, user) {
        return Err(ApiError::not_found("user_not_found", "no such user"));
    }
    if caller.role == Role::MspAdmin {
        return Ok(());
    }
    let TenantScope::Only(mine) = &caller.scope else {
        return Ok(());
    };
    if rank(user.role()) > rank(caller.role) {
        return Err(ApiError::forbidden(
            "a tenant_admin may not change a user whose role is above its own",
        ));
    }
    if !user
        .tenants
        .iter()
        .all(|t| mine.contains(&TenantId::from_uuid(*t)))
    {
        return Err(ApiError::forbidden(
            "the user holds tenants this tenant_admin does not; only an msp_admin may change them",
        ));
    }
    Ok(())
}

/// Allows `caller` to grant `role` and `tenants` (403 beyond its own).
fn may_grant(caller: &Caller, role: Role, tenants: &[TenantId]) -> Result<(), ApiError> {
    if rank(role) > rank(caller.role) {
        return Err(ApiError::forbidden(format!(
            "a {} may not grant the {} role",
            caller.role.as_str(),
            role.as_str()
        )));
    }
    if let TenantScope::Only(mine) = &caller.scope {
        if let Some(foreign) = tenants.iter().find(|t| !mine.contains(t)) {
            return Err(ApiError::forbidden(format!(
                "a tenant_admin may only grant its own tenants, not {foreign}"
            )));
        }
    }
    Ok(())
}

fn parse_role(raw: &str) -> Result<Role, ApiError> {
    Role::parse(raw).map_err(|_| {
        ApiError::invalid_value(
            "role",
            "`role` must be one of msp_admin, tenant_admin, technician, viewer",
        )
    })
}

/// Tenant ids that exist; a role below msp_admin needs at least one.
fn parse_tenants(state: &AppState, raw: &[String], role: Role) -> Result<Vec<TenantId>, ApiError> {
    let mut tenants = Vec::with_capacity(raw.len());
    for raw in raw {
        let tenant = TenantId::parse(raw).map_err(|_| {
            ApiError::invalid_value("tenants", format!("{raw:?} is not a tenant id (UUID)"))
        })?;
        if state.directory().tenant(&tenant).is_none() {
            return Err(ApiError::invalid_value(
                "tenants",
                format!("there is no tenant {tenant}"),
            ));
        }
        if !tenants.contains(&tenant) {
            tenants.push(tenant);
        }
    }
    if tenants.is_empty() && role != Role::MspAdmin {
        return Err(ApiError::invalid_value(
            "tenants",
            "a user below msp_admin needs at least one tenant",
        ));
    }
    Ok(tenants)
}

/// `local@domain.tld`, without spaces, at most 254 characters; lower-cased.
pub fn parse_email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        });
    if valid {
        Ok(email)
    } else {
        Err(ApiError::invalid_value(
            "email",
            "`email` must be an address such as ada@example.com",
        ))
    }
}

fn parse_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_value(
            "name",
            "`name` must be 1 to 200 printable characters",
        ));
    }
    Ok(name.to_owned())
}

fn parse_user_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw.trim()).map_err(|_| ApiError::not_found("user_not_found", "no such user"))
}

/// `POST /api/v1/users`: invite a user.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    security(("bearer_jwt" = [])),
    request_body(content = CreateUser),
    responses(
        (status = 201, description = "The new user; `invite_token` (shown once) when no password was given", body = UserView),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 415, response = crate::openapi::responses::UnsupportedMediaType),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_admin(&caller)?;
    let email = parse_email(&body.email)?;
    let name = parse_name(&body.name)?;
    let role = parse_role(&body.role)?;
    let tenants = parse_tenants(&state, &body.tenants, role)?;
    if let Some(password) = &body.password {
        password::check_strength(password, &email)
            .map_err(|why| ApiError::invalid_value("password", format!("`password` {why}")))?;
    }
    may_grant(&caller, role, &tenants)?;
    let (row, invite_token) = directory::invite(
        state.people(),
        state.pool(),
        NewUser {
            id: Uuid::now_v7(),
            email,
            name,
            role,
            tenants,
            password: body.password,
        },
        caller.actor()?,
        &caller.event_metadata(&headers),
    )
    .await?;
    let mut answer = view(row);
    if let Some(token) = invite_token {
        answer["invite_token"] = json!(token);
    }
    Ok((StatusCode::CREATED, Json(answer)))
}

/// `GET /api/v1/users`: the users the caller may see.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    security(("bearer_jwt" = [])),
    params(UserListQuery),
    responses(
        (status = 200, description = "Users sharing a tenant with the caller (every user for an msp_admin), by email, a page at a time", body = crate::openapi::schemas::Page<UserView>),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UserListQuery>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&caller)?;
    let limit = super::list_params::limit(query.limit.as_deref())?;
    // The cursor is the last email of the previous page (emails are unique).
    let after: Option<String> = query
        .cursor
        .as_deref()
        .map(|cursor| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(cursor.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_cursor",
                        "`cursor` is not a cursor this list returned; start again without it",
                    )
                    .with_details(json!({ "field": "cursor" }))
                })
        })
        .transpose()?;
    let tenants: Option<Vec<Uuid>> = match &caller.scope {
        TenantScope::All => None,
        TenantScope::Only(mine) => Some(mine.iter().map(|t| *t.as_uuid()).collect()),
    };
    let mut rows: Vec<UserRow> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users
          WHERE ($1::uuid[] IS NULL OR tenants && $1::uuid[])
            AND ($2::text IS NULL OR email > $2)
          ORDER BY email
          LIMIT $3"
    ))
    .bind(tenants)
    .bind(after)
    .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
    .fetch_all(state.pool())
    .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = more
        .then(|| rows.last())
        .flatten()
        .map(|last| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&last.email));
    let items: Vec<Value> = rows.into_iter().map(view).collect();
    Ok(Json(json!({ "items": items, "next_cursor": next_cursor })))
}

/// `GET /api/v1/users/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn show_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&caller)?;
    let row = visible_user(&state, &caller, &id).await?;
    Ok(Json(view(row)))
}

async fn visible_user(state: &AppState, caller: &Caller, id: &str) -> Result<UserRow, ApiError> {
    let id = parse_user_id(id)?;
    find(state.pool(), id)
        .await?
        .filter(|row| may_see(caller, row))
        .ok_or_else(|| ApiError::not_found("user_not_found", "no such user"))
}

/// `PATCH /api/v1/users/{id}`: change name, role or tenants.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "users",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body(content = ChangeUser),
    responses(
        (status = 200, description = "The user as changed", body = UserView),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 413, response = crate::openapi::responses::PayloadTooLarge),
        (status = 415, response = crate::openapi::responses::UnsupportedMediaType),
        (status = 422, response = crate::openapi::responses::Unprocessable),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn change_user(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ChangeUser>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&caller)?;
    let user = visible_user(&state, &caller, &id).await?;
    let name = body.name.as_deref().map(parse_name).transpose()?;
    let role = body.role.as_deref().map(parse_role).transpose()?;
    let effective_role = role.unwrap_or_else(|| user.role());
    let tenants = body
        .tenants
        .as_deref()
        .map(|raw| parse_tenants(&state, raw, effective_role))
        .transpose()?;
    if role.is_some()
        && tenants.is_none()
        && effective_role != Role::MspAdmin
        && user.tenants.is_empty()
    {
        return Err(ApiError::invalid_value(
            "tenants",
            "a user below msp_admin needs at least one tenant",
        ));
    }
    may_manage(&caller, &user)?;
    may_grant(
        &caller,
        effective_role,
        tenants.as_deref().unwrap_or(&user.tenant_ids()),
    )?;
    if body.disabled == Some(true) {
        if name.is_some() || role.is_some() || tenants.is_some() {
            return Err(ApiError::invalid_value(
                "disabled",
                "disabling changes nothing else: send `disabled` alone (or DELETE the user)",
            ));
        }
        return disable(&state, &caller, &headers, user).await;
    }
    let enable = body.disabled == Some(false) && user.disabled;
    if user.disabled && !enable {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "user_disabled",
            "the user is disabled (send `\"disabled\": false` to enable it)",
        ));
    }
    let actor = caller.actor()?;
    let metadata = caller.event_metadata(&headers);
    let people = state.people();
    let mut tx = state.pool().begin().await?;
    if enable {
        sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1")
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
        let command = UserCommand::Enable {
            actor: actor.clone(),
        };
        people.execute(&mut tx, user.id, command, &metadata).await?;
    }
    if let Some(name) = name {
        sqlx::query("UPDATE users SET name = $2 WHERE id = $1")
            .bind(user.id)
            .bind(&name)
            .execute(&mut *tx)
            .await?;
        let command = UserCommand::Rename {
            name,
            actor: actor.clone(),
        };
        people.execute(&mut tx, user.id, command, &metadata).await?;
    }
    if let Some(role) = role {
        sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
            .bind(user.id)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
        let command = UserCommand::ChangeRole {
            role,
            actor: actor.clone(),
        };
        people.execute(&mut tx, user.id, command, &metadata).await?;
    }
    if let Some(tenants) = tenants {
        let ids: Vec<Uuid> = tenants.iter().map(|t| *t.as_uuid()).collect();
        sqlx::query("UPDATE users SET tenants = $2 WHERE id = $1")
            .bind(user.id)
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        let command = UserCommand::ChangeTenants { tenants, actor };
        people.execute(&mut tx, user.id, command, &metadata).await?;
    }
    tx.commit().await?;
    people.appended();
    let row = find(state.pool(), user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("user_not_found", "no such user"))?;
    Ok(Json(view(row)))
}

/// `DELETE /api/v1/users/{id}`: disable the user. Their sessions end and
/// every token issued to them so far is refused, in every process.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    tag = "users",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user, disabled", body = UserView),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn disable_user(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&caller)?;
    let user = visible_user(&state, &caller, &id).await?;
    may_manage(&caller, &user)?;
    disable(&state, &caller, &headers, user).await
}

/// Disables `user` (already checked manageable by `caller`).
async fn disable(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    user: UserRow,
) -> Result<Json<Value>, ApiError> {
    if caller.user_id == user.id.to_string() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "cannot_disable_self",
            "you cannot disable your own account; ask another administrator",
        ));
    }
    if user.disabled {
        return Ok(Json(view(user)));
    }
    let actor = caller.actor()?;
    let metadata = caller.event_metadata(headers);
    let people = state.people();
    let mut tx = state.pool().begin().await?;
    sqlx::query(
        "UPDATE users SET disabled_at = now(), invite_token_hash = NULL, invite_expires_at = NULL
          WHERE id = $1",
    )
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    let sessions = crate::people::sessions::active_ids(&mut tx, user.id, None).await?;
    crate::people::sessions::revoke(&mut tx, &sessions, "user_disabled").await?;
    let events = people
        .execute(&mut tx, user.id, UserCommand::Disable { actor }, &metadata)
        .await?;
    tx.commit().await?;
    people.committed(&events);
    let row = find(state.pool(), user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("user_not_found", "no such user"))?;
    Ok(Json(view(row)))
}

/// `POST /api/v1/users/{id}/password-reset`: an administrator clears the
/// user's password, signs them out everywhere, and gets a one-time token
/// that sets a new one (`POST /api/v1/auth/accept-invite`).
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/password-reset",
    tag = "users",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The password is cleared and every session of the user revoked; `reset_token` (shown once) sets a new password through `POST /api/v1/auth/accept-invite`", body = PasswordReset),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 403, response = crate::openapi::responses::Forbidden),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 409, response = crate::openapi::responses::Conflict),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<PasswordReset>, ApiError> {
    require_admin(&caller)?;
    let user = visible_user(&state, &caller, &id).await?;
    may_manage(&caller, &user)?;
    if caller.user_id == user.id.to_string() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "cannot_reset_self",
            "change your own password with POST /api/v1/auth/password",
        ));
    }
    if user.disabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "user_disabled",
            "the user is disabled (enable it first)",
        ));
    }
    let actor = caller.actor()?;
    let metadata = caller.event_metadata(&headers);
    let people = state.people();
    let token = crate::people::secret_token::generate();
    let mut tx = state.pool().begin().await?;
    let expires_at: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "UPDATE users SET password_hash = NULL, password_changed_at = now(),
                          invite_token_hash = $2,
                          invite_expires_at = now() + make_interval(secs => $3)
          WHERE id = $1 RETURNING invite_expires_at",
    )
    .bind(user.id)
    .bind(crate::people::secret_token::digest(&token))
    .bind(people.settings.invite_ttl.as_secs_f64())
    .fetch_one(&mut *tx)
    .await?;
    let mut events = people
        .execute(
            &mut tx,
            user.id,
            UserCommand::ResetPassword {
                actor: actor.clone(),
            },
            &metadata,
        )
        .await?;
    let sessions = crate::people::sessions::active_ids(&mut tx, user.id, None).await?;
    events.extend(
        directory::revoke_sessions(
            people,
            &mut tx,
            user.id,
            &sessions,
            "password_reset",
            actor,
            &metadata,
        )
        .await?,
    );
    tx.commit().await?;
    people.committed(&events);
    Ok(Json(PasswordReset {
        id: user.id,
        reset_token: token,
        expires_at,
    }))
}
