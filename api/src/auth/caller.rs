//! The authenticated person or dashboard behind a request.

use alertledger_domain::values::{Actor, Role, TenantId, UserId};
use alertledger_eventstore::store::EventMetadata;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::jwt::{JwtError, JwtVerifier};
use crate::error::ApiError;
use crate::state::AppState;

/// Which tenants a caller may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    /// Every tenant (`msp_admin`).
    All,
    /// Only these.
    Only(Vec<TenantId>),
}

/// A caller proven by a valid JWT.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub name: String,
    pub role: Role,
    pub scope: TenantScope,
    /// Where the request came from (behind trusted proxies, the client).
    pub source_ip: Option<std::net::IpAddr>,
    /// The sign-in session of a token minted by login (`sid`), if any.
    pub session_id: Option<uuid::Uuid>,
    /// When the token was issued (`iat`, seconds since the epoch).
    pub issued_at: i64,
}

impl Caller {
    /// The caller as the domain records it on the events it causes.
    pub fn actor(&self) -> Result<Actor, ApiError> {
        let user_id = UserId::parse(&self.user_id)
            .map_err(|_| ApiError::unauthorized("the token's subject is not a usable user id"))?;
        Ok(Actor::new(user_id, self.name.clone(), self.role))
    }

    /// Who asked, and in which request, for the metadata of the events a
    /// request causes (the audit trail's `actor` is `user:<sub>`).
    pub fn event_metadata(&self, headers: &HeaderMap) -> EventMetadata {
        EventMetadata {
            actor: Some(format!("user:{}", self.user_id)),
            request_id: headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            source_ip: self.source_ip.map(|ip| ip.to_string()),
            ..EventMetadata::default()
        }
    }

    /// The tenants a read covers: `?tenant=` when the caller may read it
    /// (another tenant is 404, its existence never revealed), else every tenant
    /// the caller may read (`None`: all of them, for an MSP admin).
    pub fn readable_tenants(
        &self,
        requested: Option<&str>,
    ) -> Result<Option<Vec<uuid::Uuid>>, ApiError> {
        let Some(raw) = requested else {
            return Ok(match &self.scope {
                TenantScope::All => None,
                TenantScope::Only(tenants) => Some(tenants.iter().map(|t| *t.as_uuid()).collect()),
            });
        };
        let tenant = TenantId::parse(raw).map_err(|_| {
            ApiError::invalid_value("tenant", "`tenant` must be a tenant id (UUID)")
        })?;
        if !self.may_read(&tenant) {
            return Err(ApiError::not_found("tenant_not_found", "no such tenant"));
        }
        Ok(Some(vec![*tenant.as_uuid()]))
    }

    /// Whether this caller may see anything of `tenant`.
    pub fn may_read(&self, tenant: &TenantId) -> bool {
        match &self.scope {
            TenantScope::All => true,
            TenantScope::Only(tenants) => tenants.contains(tenant),
        }
    }
}

impl Caller {
    /// The caller a token proves, and the token's expiry (seconds since the
    /// epoch), which long-lived feed connections honour by closing. A token
    /// of a revoked session or of a disabled user is refused. With single
    /// sign-on configured, a token of the identity provider (its `iss`) is
    /// verified against the provider's keys instead.
    pub async fn from_token(state: &AppState, token: &str) -> Result<(Self, i64), ApiError> {
        let (caller, expires_at) = match Self::from_verified_token(state.jwt(), token) {
            Ok(verified) => verified,
            Err(refused) => match state.oidc() {
                Some(oidc) if oidc.claims_issuer(token) => {
                    Self::from_provider_token(state, oidc, token).await?
                }
                _ => return Err(refused),
            },
        };
        if caller.is_revoked(state.revocations()) {
            return Err(ApiError::unauthorized("the bearer token has been revoked"));
        }
        Ok((caller, expires_at))
    }

    /// Whether the revocation list refuses this caller's token.
    pub fn is_revoked(&self, list: &crate::people::RevocationList) -> bool {
        list.is_revoked(&self.user_id, self.session_id.as_ref(), self.issued_at)
    }

    /// The caller of an access token of the identity provider: role and
    /// tenants from its claims (the configured mapping); a person who signed
    /// in before acts as their user (a disabled one is refused), anyone
    /// else as `oidc:<sub>`.
    async fn from_provider_token(
        state: &AppState,
        oidc: &crate::oidc::Oidc,
        token: &str,
    ) -> Result<(Self, i64), ApiError> {
        use crate::oidc::OidcError;
        let claims = oidc
            .verify_access_token(token)
            .await
            .map_err(|error| match error {
                OidcError::Http(_) | OidcError::Discovery(_) => {
                    tracing::error!(%error, "cannot check a token of the identity provider");
                    ApiError::unavailable(
                        "the identity provider cannot be reached to check the token",
                    )
                }
                error => {
                    tracing::debug!(%error, "rejected a token of the identity provider");
                    ApiError::unauthorized("the bearer token is invalid or expired")
                }
            })?;
        let settings = oidc.settings();
        let person = settings
            .mapping
            .person(&settings.issuer, &claims, state.directory());
        let role = crate::oidc::accounts::admissible(&person)?;
        let user_id =
            match crate::oidc::accounts::linked_user(state.pool(), &person.issuer, &person.subject)
                .await?
            {
                Some((_, true)) => {
                    return Err(ApiError::unauthorized(
                        "the bearer token's user is disabled",
                    ))
                }
                Some((id, false)) => id.to_string(),
                None => format!("oidc:{}", person.subject),
            };
        let scope = if role == Role::MspAdmin {
            TenantScope::All
        } else {
            TenantScope::Only(person.tenants)
        };
        let caller = Self {
            user_id,
            name: person.name,
            role,
            scope,
            source_ip: None,
            session_id: None,
            issued_at: person.issued_at,
        };
        Ok((caller, person.expires_at))
    }

    /// The caller of a token whose signature and claims verify (revocation
    /// is not checked).
    pub fn from_verified_token(jwt: &JwtVerifier, token: &str) -> Result<(Self, i64), ApiError> {
        let claims = jwt.verify(token).map_err(|error| {
            tracing::debug!(%error, "rejected a token");
            ApiError::unauthorized("the bearer token is invalid or expired")
        })?;
        let role = Role::parse(&claims.role).map_err(|_| {
            ApiError::unauthorized(JwtError::UnknownRole(claims.role.clone()).to_string())
        })?;
        let scope = if role == Role::MspAdmin {
            TenantScope::All
        } else {
            TenantScope::Only(claims.tenants)
        };
        let caller = Self {
            user_id: claims.sub,
            name: claims.name,
            role,
            scope,
            source_ip: None,
            session_id: claims.sid,
            issued_at: claims.iat,
        };
        Ok((caller, claims.exp))
    }
}

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers)
            .ok_or_else(|| ApiError::unauthorized("a bearer token is required"))?;
        let source_ip = parts
            .extensions
            .get::<crate::edge::ClientIp>()
            .and_then(|client| client.0);
        Self::from_token(state, token)
            .await
            .map(|(caller, _)| Self {
                source_ip,
                ..caller
            })
    }
}
