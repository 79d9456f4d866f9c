//! JWT verification with the algorithm pinned by configuration, and token
//! issuing for operators (`alertledger token issue`) and the demo.
//!
//! A token whose header names another algorithm (including `none`), whose
//! `iss`/`aud` differ, that has expired or is not yet valid (`nbf`), or
//! (with a maximum lifetime configured, `ALERTLEDGER_JWT_MAX_LIFETIME`) that
//! lives longer than allowed or claims to be issued in the future, is
//! rejected, whatever it claims.

use std::time::Duration;

use alertledger_domain::values::{Role, TenantId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The default `iss` and `aud` of alertledger's tokens.
pub const DEFAULT_ISSUER: &str = "alertledger";
pub const DEFAULT_AUDIENCE: &str = "alertledger";

/// Why a key or token was refused.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("the JWT key is unusable: {0}")]
    Key(String),
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("unknown role {0:?}")]
    UnknownRole(String),
}

/// The verification key and the one algorithm it is used with.
#[derive(Clone)]
pub enum JwtKey {
    /// HS256 with a shared secret (`ALERTLEDGER_JWT_SECRET`).
    Hs256(Vec<u8>),
    /// RS256 or EdDSA with a PEM public key (`ALERTLEDGER_JWT_PUBLIC_KEY`);
    /// the algorithm follows the key's type.
    PublicPem(Vec<u8>),
}

/// The claims alertledger reads from a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub tenants: Vec<TenantId>,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub aud: String,
    /// Not valid before (optional; checked when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// The sign-in session of a token minted by `POST /api/v1/auth/login`
    /// (absent on tokens the CLI mints); revoked sessions are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<uuid::Uuid>,
    /// This token's unique id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// Checks tokens. Cheap to clone.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    /// Longest `exp - iat` accepted (`None`: no limit).
    max_lifetime: Option<Duration>,
}

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECONDS: u64 = 30;

impl JwtVerifier {
    pub fn new(key: &JwtKey, issuer: &str, audience: &str) -> Result<Self, JwtError> {
        let (key, algorithm) = match key {
            JwtKey::Hs256(secret) => {
                if secret.len() < 32 {
                    return Err(JwtError::Key(
                        "the HS256 secret must be at least 32 bytes".to_owned(),
                    ));
                }
                (DecodingKey::from_secret(secret), Algorithm::HS256)
            }
            JwtKey::PublicPem(pem) => match DecodingKey::from_ed_pem(pem) {
                Ok(key) => (key, Algorithm::EdDSA),
                Err(_) => (
                    DecodingKey::from_rsa_pem(pem).map_err(|e| {
                        JwtError::Key(format!("not an Ed25519 or RSA public key in PEM: {e}"))
                    })?,
                    Algorithm::RS256,
                ),
            },
        };
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        // A token minted for later (`nbf`) is not valid before then.
        validation.validate_nbf = true;
        Ok(Self {
            key,
            validation,
            max_lifetime: None,
        })
    }

    /// Refuses tokens whose `exp - iat` exceeds `max` (and tokens issued in
    /// the future, which would otherwise stretch that window).
    pub fn with_max_lifetime(mut self, max: Option<Duration>) -> Self {
        self.max_lifetime = max;
        self
    }

    /// The claims of a valid token.
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| JwtError::Invalid(e.to_string()))?;
        if let Some(max) = self.max_lifetime {
            let max_seconds = i64::try_from(max.as_secs()).unwrap_or(i64::MAX);
            let leeway = i64::try_from(LEEWAY_SECONDS).unwrap_or_default();
            if claims.iat > chrono::Utc::now().timestamp().saturating_add(leeway) {
                return Err(JwtError::Invalid(
                    "the token is issued in the future".into(),
                ));
            }
            if claims.exp.saturating_sub(claims.iat) > max_seconds {
                return Err(JwtError::Invalid(format!(
                    "the token lives longer than the maximum of {max_seconds} s"
                )));
            }
        }
        Ok(claims)
    }
}

/// Parses a lifetime: whole seconds (`3600`) or a number with `s`, `m`, `h`
/// or `d` (`15m`, `12h`, `7d`); at least one second.
pub fn parse_lifetime(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = match raw.char_indices().last() {
        Some((index, c)) if c.is_ascii_alphabetic() => (&raw[..index], c),
        _ => (raw, 's'),
    };
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(format!("{raw:?}: the unit must be s, m, h or d")),
    };
    let seconds = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|seconds| *seconds > 0)
        .ok_or_else(|| format!("{raw:?} is not a lifetime such as 3600, 15m, 12h or 7d"))?;
    Ok(Duration::from_secs(seconds))
}

/// Signs tokens (HS256 secret, or an Ed25519/RSA private key in PEM).
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    algorithm: Algorithm,
    issuer: String,
    audience: String,
}

/// What a new token says about its holder.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub sub: String,
    pub name: String,
    pub role: Role,
    pub tenants: Vec<TenantId>,
    pub ttl: Duration,
}

impl TokenIssuer {
    pub fn hs256(secret: &[u8], issuer: &str, audience: &str) -> Result<Self, JwtError> {
        if secret.len() < 32 {
            return Err(JwtError::Key(
                "the HS256 secret must be at least 32 bytes".to_owned(),
            ));
        }
        Ok(Self {
            key: EncodingKey::from_secret(secret),
            algorithm: Algorithm::HS256,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    pub fn from_private_pem(pem: &[u8], issuer: &str, audience: &str) -> Result<Self, JwtError> {
        let (key, algorithm) = match EncodingKey::from_ed_pem(pem) {
            Ok(key) => (key, Algorithm::EdDSA),
            Err(_) => (
                EncodingKey::from_rsa_pem(pem).map_err(|e| {
                    JwtError::Key(format!("not an Ed25519 or RSA private key in PEM: {e}"))
                })?,
                Algorithm::RS256,
            ),
        };
        Ok(Self {
            key,
            algorithm,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// A signed token for `request`, valid from now for `request.ttl`.
    pub fn issue(&self, request: &TokenRequest) -> Result<String, JwtError> {
        self.sign(request, None)
    }

    /// An access token of sign-in session `sid`, with a unique `jti`.
    pub fn issue_in_session(
        &self,
        request: &TokenRequest,
        sid: uuid::Uuid,
    ) -> Result<String, JwtError> {
        self.sign(request, Some(sid))
    }

    fn sign(&self, request: &TokenRequest, sid: Option<uuid::Uuid>) -> Result<String, JwtError> {
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(request.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: request.sub.clone(),
            name: request.name.clone(),
            role: request.role.as_str().to_owned(),
            tenants: request.tenants.clone(),
            exp: now.saturating_add(ttl),
            iat: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            nbf: sid.map(|_| now),
            sid,
            jti: sid.map(|_| uuid::Uuid::now_v7().to_string()),
        };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.key)
            .map_err(|e| JwtError::Key(e.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn request(ttl: Duration) -> TokenRequest {
        TokenRequest {
            sub: "u1".into(),
            name: "Ada".into(),
            role: Role::Technician,
            tenants: vec![TenantId::new_v7()],
            ttl,
        }
    }

    fn verifier() -> JwtVerifier {
        JwtVerifier::new(
            &JwtKey::Hs256(SECRET.to_vec()),
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
        )
        .unwrap()
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let issuer = TokenIssuer::hs256(SECRET, DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
        let request = request(Duration::from_secs(60));
        let claims = verifier().verify(&issuer.issue(&request).unwrap()).unwrap();
        assert_eq!(claims.sub, "u1");
        assert_eq!(claims.role, "technician");
        assert_eq!(claims.tenants, request.tenants);
    }

    #[test]
    fn wrong_audience_issuer_or_secret_are_rejected() {
        let request = request(Duration::from_secs(60));
        let other_audience = TokenIssuer::hs256(SECRET, DEFAULT_ISSUER, "someone-else").unwrap();
        let other_issuer = TokenIssuer::hs256(SECRET, "evil", DEFAULT_AUDIENCE).unwrap();
        let other_secret = TokenIssuer::hs256(
            b"ffffffffffffffffffffffffffffffff",
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
        )
        .unwrap();
        for issuer in [other_audience, other_issuer, other_secret] {
            assert!(verifier().verify(&issuer.issue(&request).unwrap()).is_err());
        }
    }

    #[test]
    fn an_expired_token_is_rejected() {
        let issuer = TokenIssuer::hs256(SECRET, DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
        let mut claims = verifier()
            .verify(&issuer.issue(&request(Duration::from_secs(60))).unwrap())
            .unwrap();
        claims.exp = chrono::Utc::now().timestamp() - 3_600;
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(verifier().verify(&token).is_err());
    }

    #[test]
    fn an_unsigned_alg_none_token_is_rejected() {
        let issuer = TokenIssuer::hs256(SECRET, DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
        let token = issuer.issue(&request(Duration::from_secs(60))).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(verifier().verify(&format!("{header}.{payload}.")).is_err());
    }

    const ED_PRIVATE: &[u8] = include_bytes!("testdata/test-only-ed25519-private.pem");
    const ED_PUBLIC: &[u8] = include_bytes!("testdata/test-only-ed25519-public.pem");

    #[test]
    fn an_eddsa_token_verifies_against_the_configured_public_key() {
        let issuer =
            TokenIssuer::from_private_pem(ED_PRIVATE, DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
        let verifier = JwtVerifier::new(
            &JwtKey::PublicPem(ED_PUBLIC.to_vec()),
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
        )
        .unwrap();
        let claims = verifier
            .verify(&issuer.issue(&request(Duration::from_secs(60))).unwrap())
            .unwrap();
        assert_eq!(claims.name, "Ada");
    }

    #[test]
    fn a_token_of_another_algorithm_than_the_configured_one_is_rejected() {
        // HS256 token, EdDSA configured.
        let hs = TokenIssuer::hs256(SECRET, DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
        let ed_verifier = JwtVerifier::new(
            &JwtKey::PublicPem(ED_PUBLIC.to_vec()),
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
        )
        .unwrap();
        assert!(ed_verifier
            .verify(&hs.issue(&request(Duration::from_secs(60))).unwrap())
            .is_err());
        // HS384 token with the right secret, HS256 configured.
        let claims = verifier()
            .verify(&hs.issue(&request(Duration::from_secs(60))).unwrap())
            .unwrap();
        let hs384 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS384),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(verifier().verify(&hs384).is_err());
        // EdDSA token, HS256 configured.
        let ed =
            TokenIssuer::from_private_pem(ED_PRIVATE, DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
        assert!(verifier()
            .verify(&ed.issue(&request(Duration::from_secs(60))).unwrap())
            .is_err());
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        for token in ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "e30.e30.e30"] {
            assert!(verifier().verify(token).is_err(), "{token:?}");
        }
    }

    #[test]
    fn short_hs256_secrets_are_refused() {
        assert!(JwtVerifier::new(
            &JwtKey::Hs256(b"short".to_vec()),
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE
        )
        .is_err());
    }
}
