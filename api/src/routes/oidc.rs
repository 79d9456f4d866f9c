//! Single sign-on routes (docs/single-sign-on.md): whether SSO is on, the
//! redirect to the identity provider, and the callback that turns the
//! provider's answer into one of our sign-in sessions.
//!
//! The callback hands the tokens to the dashboard in the URL fragment
//! (`/#access_token=..&refresh_token=..&expires_in=..`): a fragment is never
//! sent to a server, so the tokens reach no log or proxy, and the redirect
//! says `Referrer-Policy: no-referrer` and `Cache-Control: no-store`. A
//! sign-in that fails sends the browser to the dashboard too
//! (`/#sso_error=<code>`, the code an API error would carry), whose login
//! form says what went wrong: a person who followed the provider's redirect
//! should not land on a JSON error body.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::edge::ClientIp;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::oidc::{accounts, Oidc, OidcError, BROWSER_COOKIE};
use crate::state::AppState;

/// Where the dashboard's SSO button points.
pub const LOGIN_PATH: &str = "/api/v1/auth/oidc/login";
/// The path of the callback, which `ALERTLEDGER_OIDC_REDIRECT_URL` names.
pub const CALLBACK_PATH: &str = "/api/v1/auth/oidc/callback";
/// The cookie's path: only the callback needs it back.
const COOKIE_PATH: &str = "/api/v1/auth/oidc";

/// `GET /api/v1/auth/oidc` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OidcStatus {
    /// Whether single sign-on is configured.
    pub enabled: bool,
    /// Where to send the browser to sign in (only when enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_url: Option<&'static str>,
}

/// `GET /api/v1/auth/oidc/callback` query (the provider's answer).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CallbackQuery {
    /// The authorization code.
    code: Option<String>,
    /// The state this service sent.
    state: Option<String>,
    /// The provider's refusal (e.g. `access_denied`).
    error: Option<String>,
}

/// `GET /api/v1/auth/oidc`: whether single sign-on is on, and where it starts.
#[utoipa::path(
    get,
    path = "/api/v1/auth/oidc",
    tag = "auth",
    security(()),
    responses(
        (status = 200, description = "`enabled`, and `login_url` when it is", body = OidcStatus)
    )
)]
pub async fn status(State(state): State<AppState>) -> Json<OidcStatus> {
    let enabled = state.oidc().is_some();
    Json(OidcStatus {
        enabled,
        login_url: enabled.then_some(LOGIN_PATH),
    })
}

fn configured(state: &AppState) -> Result<&Oidc, ApiError> {
    state.oidc().ok_or_else(not_configured)
}

fn not_configured() -> ApiError {
    ApiError::not_found(
        "sso_not_configured",
        "single sign-on is not configured (ALERTLEDGER_OIDC_ISSUER)",
    )
}

/// An SSO failure as an API error (the cause logged, not answered).
fn sso_error(error: OidcError) -> ApiError {
    match error {
        OidcError::Http(_) | OidcError::Discovery(_) => {
            tracing::error!(%error, "single sign-on cannot reach the identity provider");
            ApiError::unavailable("the identity provider cannot be reached; try again shortly")
        }
        OidcError::Token(_) | OidcError::TokenEndpoint(_) => {
            tracing::warn!(%error, "a single sign-on was refused");
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "sso_refused",
                "the identity provider's answer could not be verified; sign in again",
            )
        }
        OidcError::UnknownLogin => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "sso_login_unknown",
            error.to_string(),
        ),
        OidcError::Database(e) => ApiError::database(&e),
    }
}

/// The redirect every SSO answer shares: no caching, no referrer.
fn redirect(location: &str, cookie: Option<String>) -> Result<Response, ApiError> {
    let location = HeaderValue::from_str(location)
        .map_err(|_| ApiError::internal(&std::io::Error::other("unusable redirect URL")))?;
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(LOCATION, location);
    if let Some(cookie) = cookie {
        let cookie = HeaderValue::from_str(&cookie)
            .map_err(|_| ApiError::internal(&std::io::Error::other("unusable cookie")))?;
        headers.insert(SET_COOKIE, cookie);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    Ok(response)
}

/// Where a failed sign-in sends the browser: the dashboard, told the
/// error's code (a fixed snake_case word: nothing of the request is echoed).
fn failed_sign_in(oidc: Option<&Oidc>, error: &ApiError) -> Response {
    tracing::info!(code = error.code(), status = %error.status(), "a single sign-on failed; the browser goes back to the dashboard");
    let location = format!("/#sso_error={}", error.code());
    // The binding cookie goes either way: the sign-in it tied is over.
    let cookie = oidc.map(|oidc| cookie(oidc, "", 0));
    redirect(&location, cookie).unwrap_or_else(IntoResponse::into_response)
}

/// The browser-binding cookie: HttpOnly, `SameSite=Lax` (the provider's
/// redirect back is a cross-site top-level GET, which `Strict` would strip),
/// `Secure` when the callback is https, only sent to the SSO paths.
fn cookie(oidc: &Oidc, value: &str, max_age: u64) -> String {
    let secure = if oidc.settings().secure_cookie() {
        "; Secure"
    } else {
        ""
    };
    format!("{BROWSER_COOKIE}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

fn browser_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == BROWSER_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// `GET /api/v1/auth/oidc/login`: sends the browser to the identity provider.
#[utoipa::path(
    get,
    path = "/api/v1/auth/oidc/login",
    tag = "auth",
    security(()),
    responses(
        (status = 303, description = "To the identity provider's authorization endpoint (code flow, PKCE S256, state and nonce); sets the HttpOnly cookie that ties the sign-in to this browser", headers(("location" = String, description = "The provider's authorization URL"))),
        (status = 404, response = crate::openapi::responses::NotFound),
        (status = 503, response = crate::openapi::responses::Unavailable)
    )
)]
pub async fn login(State(state): State<AppState>) -> Result<Response, ApiError> {
    let oidc = configured(&state)?;
    let start = oidc.begin(state.pool()).await.map_err(sso_error)?;
    let max_age = oidc.settings().login_ttl.as_secs();
    redirect(
        &start.authorize_url,
        Some(cookie(oidc, &start.browser_secret, max_age)),
    )
}

/// `GET /api/v1/auth/oidc/callback`: the identity provider's answer. Always
/// a redirect to the dashboard: with the tokens, or with `sso_error`.
#[utoipa::path(
    get,
    path = "/api/v1/auth/oidc/callback",
    tag = "auth",
    security(()),
    params(CallbackQuery),
    responses(
        (status = 303, description = "Signed in: to `/#access_token=..&refresh_token=..&expires_in=..` (the dashboard reads the fragment); the session is one of ours (refresh, logout and revocation as for a password sign-in). Not signed in: to `/#sso_error=<code>`, the code the error body of an API call would carry (`sso_denied`: the provider refused; `sso_login_unknown`: the sign-in is unknown, used, expired or was begun in another browser; `sso_refused`: the provider's answer could not be verified; `sso_no_email`, `sso_email_unverified`, `user_disabled`, `sso_not_configured`, `missing_field`, `unavailable`, ...), which the dashboard's login form explains", headers(("location" = String, description = "The dashboard, with the tokens or the error code in the fragment")))
    )
)]
pub async fn callback(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    query: Result<ApiQuery<CallbackQuery>, ApiError>,
) -> Response {
    let oidc = state.oidc();
    let signed_in = match (oidc, query) {
        (None, _) => Err(not_configured()),
        (Some(_), Err(error)) => Err(error),
        (Some(oidc), Ok(ApiQuery(query))) => sign_in(&state, oidc, ip, &headers, &query).await,
    };
    signed_in.unwrap_or_else(|error| failed_sign_in(oidc, &error))
}

/// Finishes the sign-in the provider answered: our session's tokens in the
/// dashboard's fragment.
async fn sign_in(
    state: &AppState,
    oidc: &Oidc,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    query: &CallbackQuery,
) -> Result<Response, ApiError> {
    if let Some(error) = &query.error {
        let error = crate::log_safe::LogSafe(error.as_str());
        tracing::info!(%error, "the identity provider refused a sign-in");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "sso_denied",
            "the identity provider did not sign you in",
        ));
    }
    let code = query
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing_field", "`code` is missing"))?;
    let login_state = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing_field", "`state` is missing"))?;
    let secret = browser_secret(headers);
    let result = oidc
        .finish(state.pool(), login_state, secret.as_deref(), code)
        .await
        .map_err(sso_error)?;
    let settings = oidc.settings();
    let person = settings
        .mapping
        .person(&settings.issuer, &result.claims, state.directory());
    let metadata = alertledger_eventstore::store::EventMetadata {
        actor: Some(format!("oidc:{}", person.subject)),
        request_id: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        source_ip: ip.map(|ip| ip.to_string()),
        ..Default::default()
    };
    let people = state.people();
    let mut tx = state.pool().begin().await?;
    let (user, events) = accounts::sign_in_user(people, &mut tx, &person, &metadata).await?;
    let user_agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let pair = people
        .mint(&mut tx, &user, ip.map(|ip| ip.to_string()), user_agent)
        .await?;
    tx.commit().await?;
    people.committed(&events);
    tracing::info!(user = %user.id, "signed in through the identity provider");
    let location = format!(
        "/#access_token={}&refresh_token={}&expires_in={}",
        pair.access_token, pair.refresh_token, pair.expires_in
    );
    // The binding is used up: the cookie goes.
    redirect(&location, Some(cookie(oidc, "", 0)))
}
