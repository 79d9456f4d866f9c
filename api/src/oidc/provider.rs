//! The identity provider as this service sees it: its discovery document
//! (`/.well-known/openid-configuration`), its signing keys (JWKS) and the
//! verification of the tokens it signs.
//!
//! Keys are cached. A token signed with a `kid` the cache does not hold
//! makes the provider's key set be fetched again (the provider rotated its
//! keys), at most once per `jwks_refetch_interval`, so a stream of tokens
//! with made-up `kid`s cannot make this service hammer the provider. A
//! refetch replaces the whole set: a key the provider withdrew stops
//! verifying. Accepted algorithms are RS256, ES256 and EdDSA; each key is
//! used only with the algorithm its type implies (and its `alg`, if it has
//! one), whatever a token's header says.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::{Mutex, RwLock};

use super::settings::{check_url, OidcSettings};
use super::OidcError;

/// Largest answer read from the provider (discovery, keys, tokens).
const MAX_ANSWER_BYTES: usize = 512 * 1024;

/// The parts of the discovery document this service uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

/// A verification key and the one algorithm it is used with.
#[derive(Clone)]
struct VerificationKey {
    key: DecodingKey,
    algorithm: Algorithm,
}

#[derive(Default)]
struct KeyCache {
    by_kid: HashMap<String, VerificationKey>,
    /// Keys published without a `kid` (used only for tokens without one).
    unnamed: Vec<VerificationKey>,
    fetched_at: Option<Instant>,
}

/// One identity provider. Cheap to clone.
#[derive(Clone)]
pub struct OidcProvider {
    inner: Arc<Inner>,
}

struct Inner {
    settings: OidcSettings,
    http: reqwest::Client,
    metadata: RwLock<Option<Arc<ProviderMetadata>>>,
    keys: RwLock<KeyCache>,
    /// Held while the keys are fetched, so concurrent misses fetch once.
    refetch: Mutex<()>,
    /// Times the key set was fetched (tests, `/metrics`-style curiosity).
    fetches: std::sync::atomic::AtomicU64,
}

impl OidcProvider {
    pub fn new(settings: OidcSettings) -> Result<Self, OidcError> {
        let http = reqwest::Client::builder()
            .timeout(settings.http_timeout)
            .connect_timeout(settings.http_timeout)
            // Only the configured provider's own endpoints are called.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("alertledger/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OidcError::Http(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                http,
                metadata: RwLock::new(None),
                keys: RwLock::new(KeyCache::default()),
                refetch: Mutex::new(()),
                fetches: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.inner.settings
    }

    /// How many times the key set was fetched so far.
    pub fn key_fetches(&self) -> u64 {
        self.inner
            .fetches
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The discovery document, fetched once and kept (a failed fetch is
    /// tried again on the next use).
    pub async fn metadata(&self) -> Result<Arc<ProviderMetadata>, OidcError> {
        if let Some(metadata) = self.inner.metadata.read().await.as_ref() {
            return Ok(Arc::clone(metadata));
        }
        let mut slot = self.inner.metadata.write().await;
        if let Some(metadata) = slot.as_ref() {
            return Ok(Arc::clone(metadata));
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.inner.settings.issuer.trim_end_matches('/')
        );
        let metadata: ProviderMetadata = self.get_json(&url).await?;
        // OpenID Connect Discovery 1.0, 4.3: the document's issuer must be
        // exactly the one configured, or its tokens would not match either.
        if metadata.issuer != self.inner.settings.issuer {
            return Err(OidcError::Discovery(format!(
                "the discovery document names issuer {:?}, not the configured {:?}",
                metadata.issuer, self.inner.settings.issuer
            )));
        }
        for (name, url) in [
            ("authorization_endpoint", &metadata.authorization_endpoint),
            ("token_endpoint", &metadata.token_endpoint),
            ("jwks_uri", &metadata.jwks_uri),
        ] {
            check_url("discovery document", url)
                .map_err(|e| OidcError::Discovery(format!("{name}: {e}")))?;
        }
        let metadata = Arc::new(metadata);
        *slot = Some(Arc::clone(&metadata));
        Ok(metadata)
    }

    /// GETs `url` and decodes its JSON answer (2xx only, bounded size).
    async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let response = self
            .inner
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| OidcError::Http(describe(e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(OidcError::Http(format!("{url} answered {status}")));
        }
        let body = read_bounded(response).await?;
        serde_json::from_slice(&body)
            .map_err(|e| OidcError::Http(format!("{url} answered unreadable JSON: {e}")))
    }

    /// POSTs a form to `url`; the status and the JSON answer (bounded).
    pub(crate) async fn post_form(
        &self,
        url: &str,
        basic_auth: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> Result<(reqwest::StatusCode, Value), OidcError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .inner
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body);
        if let Some((user, password)) = basic_auth {
            request = request.basic_auth(user, Some(password));
        }
        let response = request
            .send()
            .await
            .map_err(|e| OidcError::Http(describe(e)))?;
        let status = response.status();
        let body = read_bounded(response).await?;
        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// Verifies a token the provider signed, for one of `audiences`; its
    /// claims. Checks the signature, `iss`, `aud`, `exp` and `nbf`.
    pub async fn verify(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Result<Map<String, Value>, OidcError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| OidcError::Token(format!("unreadable token header: {e}")))?;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA
        ) {
            return Err(OidcError::Token(format!(
                "algorithm {:?} is not accepted (RS256, ES256, EdDSA)",
                header.alg
            )));
        }
        let key = self.key_for(header.kid.as_deref(), header.alg).await?;
        let settings = &self.inner.settings;
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = settings.leeway.as_secs();
        validation.validate_nbf = true;
        jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(|e| OidcError::Token(e.to_string()))
    }

    /// The key for `kid` and `algorithm`, fetching the key set again when it
    /// is unknown and the last fetch is old enough.
    async fn key_for(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<VerificationKey, OidcError> {
        if let Some(key) = self.cached(kid, algorithm).await? {
            return Ok(key);
        }
        let _fetching = self.inner.refetch.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.cached(kid, algorithm).await? {
            return Ok(key);
        }
        let due = self
            .inner
            .keys
            .read()
            .await
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.inner.settings.jwks_refetch_interval);
        if !due {
            return Err(OidcError::Token(format!(
                "no key {kid:?} in the provider's key set (fetched again at most every {} s)",
                self.inner.settings.jwks_refetch_interval.as_secs()
            )));
        }
        self.fetch_keys().await?;
        self.cached(kid, algorithm)
            .await?
            .ok_or_else(|| OidcError::Token(format!("the provider publishes no key {kid:?}")))
    }

    /// The cached key, if any; an error when the key exists but is of
    /// another algorithm than the token's.
    async fn cached(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<Option<VerificationKey>, OidcError> {
        let cache = self.inner.keys.read().await;
        let found = match kid {
            Some(kid) => cache.by_kid.get(kid).cloned(),
            None => {
                let mut matching = cache.unnamed.iter().filter(|k| k.algorithm == algorithm);
                match (matching.next(), matching.next()) {
                    (Some(key), None) => Some(key.clone()),
                    _ => None,
                }
            }
        };
        match found {
            Some(key) if key.algorithm != algorithm => Err(OidcError::Token(format!(
                "the token says {algorithm:?} but its key is for {:?}",
                key.algorithm
            ))),
            other => Ok(other),
        }
    }

    /// Fetches the key set and replaces the cache with it.
    async fn fetch_keys(&self) -> Result<(), OidcError> {
        let metadata = self.metadata().await?;
        self.inner
            .fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let fetched = self.get_json::<Value>(&metadata.jwks_uri).await;
        let mut cache = self.inner.keys.write().await;
        // A failed fetch counts too: it is not retried at once either.
        cache.fetched_at = Some(Instant::now());
        let set: JwkSet = match fetched {
            Ok(Value::Object(mut object)) => {
                // One unusable key (another type, a curve we do not take)
                // must not hide the others.
                let keys = match object.remove("keys") {
                    Some(Value::Array(keys)) => keys,
                    _ => Vec::new(),
                };
                JwkSet {
                    keys: keys
                        .into_iter()
                        .filter_map(|key| serde_json::from_value::<Jwk>(key).ok())
                        .collect(),
                }
            }
            Ok(_) => return Err(OidcError::Http("the key set is not a JSON object".into())),
            Err(error) => return Err(error),
        };
        cache.by_kid.clear();
        cache.unnamed.clear();
        for jwk in &set.keys {
            let Some(key) = verification_key(jwk) else {
                continue;
            };
            match &jwk.common.key_id {
                Some(kid) => {
                    cache.by_kid.insert(kid.clone(), key);
                }
                None => cache.unnamed.push(key),
            }
        }
        tracing::info!(
            keys = cache.by_kid.len() + cache.unnamed.len(),
            "fetched the identity provider's signing keys"
        );
        Ok(())
    }
}

/// The key of a JWK usable for signatures, with its algorithm.
fn verification_key(jwk: &Jwk) -> Option<VerificationKey> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let (algorithm, name) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            (Algorithm::EdDSA, KeyAlgorithm::EdDSA)
        }
        _ => return None,
    };
    // A key that names its algorithm is used with that one only.
    if jwk.common.key_algorithm.is_some_and(|named| named != name) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerificationKey { key, algorithm })
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, OidcError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| OidcError::Http(describe(e)))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(OidcError::Http(format!(
                "the provider's answer exceeds {MAX_ANSWER_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An HTTP error with its causes, never a query string (a code may be in it).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut parts = vec![error.to_string()];
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.join(": ")
}
