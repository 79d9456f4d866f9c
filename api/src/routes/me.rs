//! The caller's own profile: who I am, my sessions, signing one out.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::{Caller, TenantScope};
use crate::error::ApiError;
use crate::people::directory::revoke_sessions;
use crate::people::sessions::{self, SessionRow};
use crate::people::{find, UserRow};
use crate::state::AppState;

/// `GET /api/v1/me` answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The token's subject.
    id: String,
    user_id: String,
    name: String,
    role: String,
    /// The tenants the caller holds (an msp_admin reads every tenant: `all_tenants`).
    tenants: Vec<Uuid>,
    all_tenants: bool,
    /// Set for built-in users (absent for tokens minted by the CLI).
    email: Option<String>,
    /// The sign-in session of this token, if it has one.
    session_id: Option<Uuid>,
}

async fn own_user(state: &AppState, caller: &Caller) -> Result<Option<UserRow>, ApiError> {
    match Uuid::try_parse(&caller.user_id) {
        Ok(id) => Ok(find(state.pool(), id).await?),
        Err(_) => Ok(None),
    }
}

/// `GET /api/v1/me`: who I am.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "users",
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The caller as the token proves them", body = Me),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<Me>, ApiError> {
    let user = own_user(&state, &caller).await?;
    let (tenants, all_tenants) = match &caller.scope {
        TenantScope::All => (Vec::new(), true),
        TenantScope::Only(tenants) => (tenants.iter().map(|t| *t.as_uuid()).collect(), false),
    };
    Ok(Json(Me {
        id: caller.user_id.clone(),
        user_id: caller.user_id.clone(),
        name: user
            .as_ref()
            .map_or(caller.name.clone(), |u| u.name.clone()),
        role: caller.role.as_str().to_owned(),
        tenants,
        all_tenants,
        email: user.map(|u| u.email),
        session_id: caller.session_id,
    }))
}

/// `GET /api/v1/me/sessions`: my live sign-in sessions.
#[utoipa::path(
    get,
    path = "/api/v1/me/sessions",
    tag = "users",
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "Live sessions, newest first; `current` marks this token's", body = crate::openapi::schemas::Page<SessionRow>),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let rows = match own_user(&state, &caller).await? {
        Some(user) => sessions::active(state.pool(), user.id).await?,
        None => Vec::new(),
    };
    let items: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            let current = Some(row.id) == caller.session_id;
            let mut item = json!(row);
            item["current"] = json!(current);
            item
        })
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": null })))
}

/// `DELETE /api/v1/me/sessions/{id}`: sign one of my sessions out.
#[utoipa::path(
    delete,
    path = "/api/v1/me/sessions/{id}",
    tag = "users",
    security(("bearer_jwt" = [])),
    params(("id" = Uuid, Path, description = "The session's id")),
    responses(
        (status = 204, description = "The session is revoked"),
        (status = 401, response = crate::openapi::responses::Unauthorized),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn revoke_session(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::not_found("session_not_found", "no such session");
    let session = Uuid::try_parse(id.trim()).map_err(|_| not_found())?;
    let user = own_user(&state, &caller).await?.ok_or_else(not_found)?;
    let mine = sessions::active(state.pool(), user.id)
        .await?
        .iter()
        .any(|row| row.id == session);
    if !mine {
        return Err(not_found());
    }
    let people = state.people();
    let mut tx = state.pool().begin().await?;
    let events = revoke_sessions(
        people,
        &mut tx,
        user.id,
        &[session],
        "signed_out",
        caller.actor()?,
        &caller.event_metadata(&headers),
    )
    .await?;
    tx.commit().await?;
    people.committed(&events);
    Ok(StatusCode::NO_CONTENT)
}
