//! Single sign-on with OpenID Connect (docs/single-sign-on.md): the
//! dashboard's sign-in through the authorization-code flow with PKCE, and
//! the provider's access tokens accepted as API bearer tokens.
//!
//! - [`settings`] — `ALERTLEDGER_OIDC_*` and the claim mapping tables.
//! - [`provider`] — discovery, the provider's keys (cached, refetched on an
//!   unknown `kid`), token verification, calls to the provider.
//! - [`claims`] — claims to a person: subject, email, role, tenants.
//! - [`accounts`] — which user a person is (linking and provisioning).
//! - this module — the sign-in in flight (state, nonce, PKCE verifier,
//!   browser binding) and the code exchange.
//!
//! Written on jsonwebtoken and reqwest rather than the `openidconnect`
//! crate: one JOSE library (already used for our own tokens, on the
//! aws-lc-rs backend already built) verifies both ID tokens and access
//! tokens (which `openidconnect` does not verify), and the key cache's
//! refetch-on-unknown-`kid` with a rate limit is ours to control, where
//! `openidconnect` keeps the key set fetched at discovery.

pub mod accounts;
pub mod claims;
pub mod provider;
pub mod settings;

use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::people::secret_token;
pub use provider::OidcProvider;
pub use settings::{ClaimMapping, ClientSecret, OidcSettings};

/// The cookie that ties a sign-in in flight to the browser that began it.
pub const BROWSER_COOKIE: &str = "alertledger_oidc";

/// Why single sign-on failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("cannot reach the identity provider: {0}")]
    Http(String),
    #[error("the identity provider's discovery document is unusable: {0}")]
    Discovery(String),
    #[error("the token is not valid: {0}")]
    Token(String),
    #[error("the identity provider refused the code: {0}")]
    TokenEndpoint(String),
    #[error("the sign-in is unknown, used, expired or was begun in another browser")]
    UnknownLogin,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A sign-in begun: where to send the browser, and the cookie to set.
#[derive(Debug)]
pub struct LoginStart {
    pub authorize_url: String,
    /// The browser binding, for the HttpOnly cookie.
    pub browser_secret: String,
}

/// What the provider's token endpoint answered, verified.
#[derive(Debug)]
pub struct LoginResult {
    /// The ID token's claims (signature, issuer, audience, expiry and nonce
    /// checked).
    pub claims: Map<String, Value>,
}

/// Single sign-on as the routes use it. Cheap to clone.
#[derive(Clone)]
pub struct Oidc {
    provider: OidcProvider,
}

impl Oidc {
    pub fn new(settings: OidcSettings) -> Result<Self, OidcError> {
        Ok(Self {
            provider: OidcProvider::new(settings)?,
        })
    }

    pub fn provider(&self) -> &OidcProvider {
        &self.provider
    }

    pub fn settings(&self) -> &OidcSettings {
        self.provider.settings()
    }

    /// Whether an (unverified) token claims to come from this provider: only
    /// those are verified against it.
    pub fn claims_issuer(&self, token: &str) -> bool {
        let Some(payload) = token.split('.').nth(1) else {
            return false;
        };
        let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else {
            return false;
        };
        #[derive(serde::Deserialize)]
        struct Issuer {
            iss: Option<String>,
        }
        serde_json::from_slice::<Issuer>(&bytes)
            .ok()
            .and_then(|claims| claims.iss)
            .is_some_and(|iss| iss == self.settings().issuer)
    }

    /// Verifies an access token of the provider sent as an API bearer token.
    pub async fn verify_access_token(&self, token: &str) -> Result<Map<String, Value>, OidcError> {
        self.provider
            .verify(token, &self.settings().audiences)
            .await
    }

    /// Begins a sign-in: a fresh state, nonce, PKCE verifier and browser
    /// binding, kept in the database until the callback (any replica may
    /// receive it), and the provider's authorization URL.
    pub async fn begin(&self, pool: &PgPool) -> Result<LoginStart, OidcError> {
        let metadata = self.provider.metadata().await?;
        let settings = self.settings();
        let state = secret_token::generate();
        let nonce = secret_token::generate();
        let verifier = secret_token::generate();
        let browser_secret = secret_token::generate();
        sqlx::query(
            "INSERT INTO oidc_pending_logins (state_hash, browser_hash, nonce, code_verifier, expires_at)
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
        )
        .bind(secret_token::digest(&state))
        .bind(secret_token::digest(&browser_secret))
        .bind(&nonce)
        .bind(&verifier)
        .bind(settings.login_ttl.as_secs_f64())
        .execute(pool)
        .await?;
        // Abandoned sign-ins go with the next one.
        sqlx::query("DELETE FROM oidc_pending_logins WHERE expires_at < now()")
            .execute(pool)
            .await?;
        let mut url = url::Url::parse(&metadata.authorization_endpoint)
            .map_err(|e| OidcError::Discovery(format!("authorization_endpoint: {e}")))?;
        let mut scopes = settings.scopes.clone();
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".to_owned());
        }
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &settings.client_id)
            .append_pair("redirect_uri", &settings.redirect_url)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(LoginStart {
            authorize_url: url.into(),
            browser_secret,
        })
    }

    /// Finishes a sign-in at the callback: the pending sign-in of `state`
    /// (used up, and only from the browser holding `browser_secret`), the
    /// code exchanged at the token endpoint with the PKCE verifier, and the
    /// ID token verified (with its nonce).
    pub async fn finish(
        &self,
        pool: &PgPool,
        state: &str,
        browser_secret: Option<&str>,
        code: &str,
    ) -> Result<LoginResult, OidcError> {
        // Used up whatever follows: a state works once, also when expired.
        let pending: Option<(String, String, String, bool)> = sqlx::query_as(
            "DELETE FROM oidc_pending_logins WHERE state_hash = $1
             RETURNING browser_hash, nonce, code_verifier, expires_at > now()",
        )
        .bind(secret_token::digest(state))
        .fetch_optional(pool)
        .await?;
        let Some((browser_hash, nonce, verifier, live)) = pending else {
            return Err(OidcError::UnknownLogin);
        };
        let same_browser =
            browser_secret.is_some_and(|secret| secret_token::digest(secret) == browser_hash);
        if !same_browser || !live {
            return Err(OidcError::UnknownLogin);
        }
        let metadata = self.provider.metadata().await?;
        let settings = self.settings();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", settings.redirect_url.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        // client_secret_basic unless the provider takes only
        // client_secret_post (RFC 6749 2.3.1: basic is the default).
        let post_only = metadata
            .token_endpoint_auth_methods_supported
            .as_ref()
            .is_some_and(|methods| {
                methods.iter().any(|m| m == "client_secret_post")
                    && !methods.iter().any(|m| m == "client_secret_basic")
            });
        let secret = settings.client_secret.expose();
        // RFC 6749 2.3.1: id and secret are form-encoded before Basic.
        let (user, password) = (form_encode(&settings.client_id), form_encode(secret));
        let (status, answer) = if post_only {
            let mut with_secret = form.to_vec();
            with_secret.push(("client_id", settings.client_id.as_str()));
            with_secret.push(("client_secret", secret));
            self.provider
                .post_form(&metadata.token_endpoint, None, &with_secret)
                .await?
        } else {
            self.provider
                .post_form(
                    &metadata.token_endpoint,
                    Some((user.as_str(), password.as_str())),
                    &form,
                )
                .await?
        };
        if !status.is_success() {
            let error = answer
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no error code");
            return Err(OidcError::TokenEndpoint(format!("{status}: {error}")));
        }
        let id_token = answer
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| OidcError::TokenEndpoint("the answer carries no id_token".into()))?;
        let claims = self
            .provider
            .verify(id_token, std::slice::from_ref(&settings.client_id))
            .await?;
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce.as_str()) {
            return Err(OidcError::Token(
                "the ID token's nonce is not the one of this sign-in".into(),
            ));
        }
        // OpenID Connect Core 3.1.3.7: with several audiences, `azp` (when
        // present) must be this client.
        if let Some(azp) = claims.get("azp").and_then(Value::as_str) {
            if azp != settings.client_id {
                return Err(OidcError::Token(format!(
                    "the ID token was issued to {azp:?}, not this client"
                )));
            }
        }
        Ok(LoginResult { claims })
    }
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_rfc_7636s_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
