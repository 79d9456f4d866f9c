//! What single sign-on is configured with (`ALERTLEDGER_OIDC_*`,
//! docs/single-sign-on.md): the identity provider, this service's client
//! registration, and how the provider's claims map onto a role and tenants.

use std::fmt;
use std::time::Duration;

use alertledger_domain::values::Role;
use zeroize::Zeroizing;

/// The client secret: never printed, logged or serialized; wiped on drop.
#[derive(Clone)]
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    /// The secret itself, for the token request only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(redacted)")
    }
}

/// Why the single sign-on settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum OidcConfigError {
    #[error("{name}: {why}")]
    Invalid { name: &'static str, why: String },
}

fn invalid(name: &'static str, why: impl Into<String>) -> OidcConfigError {
    OidcConfigError::Invalid {
        name,
        why: why.into(),
    }
}

/// How the provider's claims become a role and tenants.
#[derive(Debug, Clone)]
pub struct ClaimMapping {
    /// The claim holding role names (a string or an array; a dotted path
    /// such as `realm_access.roles` reaches into objects). Default `roles`.
    pub role_claim: String,
    /// Claim value → role. Empty: the values must be our role names
    /// (`msp_admin`, `tenant_admin`, `technician`, `viewer`).
    pub roles: Vec<(String, Role)>,
    /// The claim holding tenants (a string or an array). Default `tenants`.
    pub tenants_claim: String,
    /// Claim value → tenant id or slug. A value not in the map is taken as
    /// a tenant id or slug itself; values naming no tenant are ignored.
    pub tenants: Vec<(String, String)>,
    /// The claim with the person's email (default `email`; falls back to
    /// `preferred_username` when that is an address).
    pub email_claim: String,
    /// The claim with the display name (default `name`).
    pub name_claim: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            role_claim: "roles".to_owned(),
            roles: Vec::new(),
            tenants_claim: "tenants".to_owned(),
            tenants: Vec::new(),
            email_claim: "email".to_owned(),
            name_claim: "name".to_owned(),
        }
    }
}

/// Single sign-on with one OpenID Connect provider.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The provider's issuer (`ALERTLEDGER_OIDC_ISSUER`), exactly as its
    /// tokens' `iss` and its discovery document's `issuer` carry it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// Where the provider sends the browser back: this service's
    /// `/api/v1/auth/oidc/callback` as the browser reaches it.
    pub redirect_url: String,
    /// Scopes asked for at sign-in (always with `openid`).
    pub scopes: Vec<String>,
    /// The `aud` values accepted on the provider's access tokens sent to the
    /// API as bearer tokens (default: the client id).
    pub audiences: Vec<String>,
    pub mapping: ClaimMapping,
    /// Each call to the provider (discovery, keys, token endpoint).
    pub http_timeout: Duration,
    /// An unknown `kid` refetches the provider's keys at most this often.
    pub jwks_refetch_interval: Duration,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// How long a sign-in may take between the redirect and the callback.
    pub login_ttl: Duration,
}

impl OidcSettings {
    /// Settings with the defaults; the URLs must be https (plain http only
    /// to a loopback host, for a provider on this machine or in tests).
    pub fn new(
        issuer: &str,
        client_id: &str,
        client_secret: ClientSecret,
        redirect_url: &str,
    ) -> Result<Self, OidcConfigError> {
        let issuer = issuer.trim();
        check_url("ALERTLEDGER_OIDC_ISSUER", issuer)?;
        check_url("ALERTLEDGER_OIDC_REDIRECT_URL", redirect_url.trim())?;
        let client_id = client_id.trim();
        if client_id.is_empty() {
            return Err(invalid("ALERTLEDGER_OIDC_CLIENT_ID", "must be set"));
        }
        if client_secret.expose().is_empty() {
            return Err(invalid("ALERTLEDGER_OIDC_CLIENT_SECRET", "must be set"));
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            redirect_url: redirect_url.trim().to_owned(),
            scopes: vec![
                "openid".to_owned(),
                "email".to_owned(),
                "profile".to_owned(),
            ],
            audiences: vec![client_id.to_owned()],
            mapping: ClaimMapping::default(),
            http_timeout: Duration::from_secs(10),
            jwks_refetch_interval: Duration::from_secs(30),
            leeway: Duration::from_secs(60),
            login_ttl: Duration::from_secs(600),
        })
    }

    /// Whether the session cookie must be `Secure` (the callback is https).
    pub fn secure_cookie(&self) -> bool {
        self.redirect_url.starts_with("https://")
    }
}

/// Refuses anything but an https URL, or plain http to a loopback host.
pub fn check_url(name: &'static str, raw: &str) -> Result<url::Url, OidcConfigError> {
    let url = url::Url::parse(raw).map_err(|e| invalid(name, format!("not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        _ => {
            return Err(invalid(
                name,
                "must be an https URL (plain http only to a loopback host)",
            ))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(name, "has no host"));
    }
    Ok(url)
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses `value=target,value=target` (a mapping table in one variable).
/// Values may contain anything but `,` and `=`; surrounding spaces go.
pub fn parse_pairs(
    name: &'static str,
    raw: &str,
) -> Result<Vec<(String, String)>, OidcConfigError> {
    let mut pairs = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (from, to) = entry
            .split_once('=')
            .ok_or_else(|| invalid(name, format!("{entry:?} is not `claim value=target`")))?;
        let (from, to) = (from.trim(), to.trim());
        if from.is_empty() || to.is_empty() {
            return Err(invalid(
                name,
                format!("{entry:?} is not `claim value=target`"),
            ));
        }
        pairs.push((from.to_owned(), to.to_owned()));
    }
    Ok(pairs)
}

/// Parses the role mapping table (`claim value=role`).
pub fn parse_role_map(raw: &str) -> Result<Vec<(String, Role)>, OidcConfigError> {
    parse_pairs("ALERTLEDGER_OIDC_ROLE_MAP", raw)?
        .into_iter()
        .map(|(from, to)| {
            let role = Role::parse(&to).map_err(|_| {
                invalid(
                    "ALERTLEDGER_OIDC_ROLE_MAP",
                    format!("{to:?} is not one of msp_admin, tenant_admin, technician, viewer"),
                )
            })?;
            Ok((from, role))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_client_secret_never_shows_in_debug_output() {
        let settings = OidcSettings::new(
            "https://login.example.com/t1/v2.0",
            "client-1",
            ClientSecret::new("very-secret-value"),
            "https://alerts.example.com/api/v1/auth/oidc/callback",
        )
        .unwrap();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("very-secret-value"), "{printed}");
        assert!(printed.contains("redacted"));
    }

    #[test]
    fn plain_http_is_refused_except_to_loopback() {
        assert!(check_url("X", "http://idp.example.com").is_err());
        assert!(check_url("X", "http://127.0.0.1:8080/realms/a").is_ok());
        assert!(check_url("X", "http://localhost:8080").is_ok());
        assert!(check_url("X", "ftp://idp.example.com").is_err());
        assert!(check_url("X", "https://idp.example.com").is_ok());
    }

    #[test]
    fn mapping_tables_parse_and_bad_entries_are_named() {
        let roles = parse_role_map("AlertLedger.Admin=msp_admin, ops-team = technician").unwrap();
        assert_eq!(
            roles,
            vec![
                ("AlertLedger.Admin".to_owned(), Role::MspAdmin),
                ("ops-team".to_owned(), Role::Technician)
            ]
        );
        assert!(parse_role_map("a=root").is_err());
        assert!(parse_pairs("X", "novalue").is_err());
        assert!(parse_pairs("X", "").unwrap().is_empty());
    }
}
