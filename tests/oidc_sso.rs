//! Single sign-on with OpenID Connect against an identity provider
//! stand-in written here (axum on loopback): discovery, a key set that
//! rotates, an authorization endpoint and a token endpoint that checks the
//! client's credentials and the PKCE verifier against the challenge.
//!
//! Covered: the dashboard's code flow with PKCE end to end (and a wrong
//! verifier, a missing browser cookie, a replayed state refused); the
//! provider's access tokens as API bearer tokens with RS256, ES256 and
//! EdDSA; key rotation (a new `kid` refetches the keys, a withdrawn one is
//! refused) and the refetch's rate limit; `aud` as an array; a wrong
//! audience and an unknown issuer refused; a known person's bearer token
//! refused once their user is disabled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alertledger_api::oidc::{pkce_challenge, ClaimMapping, ClientSecret, OidcSettings};
use alertledger_domain::values::Role;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use support::TestApp;

const CLIENT_ID: &str = "alertledger-test-client";
const CLIENT_SECRET: &str = "stand-in-client-secret";
/// The audience of the provider's access tokens for our API.
const API_AUDIENCE: &str = "api://alertledger";

/// One signing key of the stand-in.
struct SigningKey {
    kid: String,
    algorithm: Algorithm,
    key: EncodingKey,
    jwk: Jwk,
}

/// How jsonwebtoken reads a PEM private key of one family.
type KeyFromPem = fn(&[u8]) -> jsonwebtoken::errors::Result<EncodingKey>;

impl SigningKey {
    fn generate(kid: &str, algorithm: Algorithm) -> Self {
        let (rcgen_alg, from_pem): (_, KeyFromPem) = match algorithm {
            Algorithm::RS256 => (&rcgen::PKCS_RSA_SHA256, EncodingKey::from_rsa_pem),
            Algorithm::ES256 => (&rcgen::PKCS_ECDSA_P256_SHA256, EncodingKey::from_ec_pem),
            Algorithm::EdDSA => (&rcgen::PKCS_ED25519, EncodingKey::from_ed_pem),
            other => panic!("the stand-in signs no {other:?}"),
        };
        let pair = rcgen::KeyPair::generate_for(rcgen_alg).unwrap();
        let key = from_pem(pair.serialize_pem().as_bytes()).unwrap();
        let mut jwk = if algorithm == Algorithm::EdDSA {
            // jsonwebtoken reads only PKCS#8 v1 Ed25519 keys here; rcgen
            // writes v2 (with the public key), so the JWK is built by hand.
            serde_json::from_value(json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key_raw()),
            }))
            .unwrap()
        } else {
            Jwk::from_encoding_key(&key, algorithm).unwrap()
        };
        jwk.common.key_id = Some(kid.to_owned());
        // As Entra ID publishes its keys: no `alg`, only the key type.
        jwk.common.key_algorithm = None::<KeyAlgorithm>;
        Self {
            kid: kid.to_owned(),
            algorithm,
            key,
            jwk,
        }
    }
}

/// A code the authorization endpoint handed out.
struct Grant {
    nonce: String,
    challenge: String,
    redirect_uri: String,
    claims: Value,
}

struct IdpState {
    issuer: String,
    redirect_uri: String,
    /// Published keys (the key set); signing may use any of them.
    keys: Vec<SigningKey>,
    /// The kid the token endpoint signs ID tokens with.
    id_token_kid: String,
    /// Who signs in at the authorization endpoint.
    person: Value,
    codes: HashMap<String, Grant>,
    jwks_fetches: u64,
    /// Set: the token endpoint writes this `iss` into its ID tokens.
    forged_issuer: Option<String>,
}

/// The identity provider stand-in.
#[derive(Clone)]
struct Idp {
    state: Arc<Mutex<IdpState>>,
    issuer: String,
}

impl Idp {
    async fn start(redirect_uri: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!(
            "http://127.0.0.1:{}/tenant-1/v2.0",
            listener.local_addr().unwrap().port()
        );
        let keys = vec![
            SigningKey::generate("rsa-1", Algorithm::RS256),
            SigningKey::generate("ec-1", Algorithm::ES256),
            SigningKey::generate("ed-1", Algorithm::EdDSA),
        ];
        let state = Arc::new(Mutex::new(IdpState {
            issuer: issuer.clone(),
            redirect_uri: redirect_uri.to_owned(),
            keys,
            id_token_kid: "rsa-1".to_owned(),
            person: Value::Null,
            codes: HashMap::new(),
            jwks_fetches: 0,
            forged_issuer: None,
        }));
        let router = Router::new()
            .route(
                "/tenant-1/v2.0/.well-known/openid-configuration",
                get(discovery),
            )
            .route("/tenant-1/v2.0/keys", get(jwks))
            .route("/tenant-1/v2.0/authorize", get(authorize))
            .route("/tenant-1/v2.0/token", post(token))
            .with_state(Arc::clone(&state));
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { state, issuer }
    }

    fn set_person(&self, person: Value) {
        self.state.lock().unwrap().person = person;
    }

    fn jwks_fetches(&self) -> u64 {
        self.state.lock().unwrap().jwks_fetches
    }

    /// Withdraws `old` and publishes a new RSA key `new`.
    fn rotate(&self, old: &str, new: &str) {
        let mut state = self.state.lock().unwrap();
        state.keys.retain(|key| key.kid != old);
        state.keys.push(SigningKey::generate(new, Algorithm::RS256));
        state.id_token_kid = new.to_owned();
    }

    /// A token signed with the published key `kid`.
    fn sign(&self, kid: &str, claims: &Value) -> String {
        let state = self.state.lock().unwrap();
        let key = state
            .keys
            .iter()
            .find(|key| key.kid == kid)
            .unwrap_or_else(|| panic!("no key {kid}"));
        sign_with(key, claims)
    }

    /// An access token for our API with `claims` over sensible defaults.
    fn access_token(&self, kid: &str, extra: Value) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": self.issuer,
            "aud": API_AUDIENCE,
            "sub": "idp-person-42",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "name": "Grace Hopper",
            "roles": ["AlertLedger.Technician"],
        });
        for (name, value) in extra.as_object().unwrap() {
            claims[name] = value.clone();
        }
        self.sign(kid, &claims)
    }
}

fn sign_with(key: &SigningKey, claims: &Value) -> String {
    let mut header = Header::new(key.algorithm);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.key).unwrap()
}

async fn discovery(State(state): State<Arc<Mutex<IdpState>>>) -> Json<Value> {
    let issuer = state.lock().unwrap().issuer.clone();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/keys"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(state): State<Arc<Mutex<IdpState>>>) -> Json<Value> {
    let mut state = state.lock().unwrap();
    state.jwks_fetches += 1;
    let keys: Vec<&Jwk> = state.keys.iter().map(|key| &key.jwk).collect();
    Json(json!({ "keys": keys }))
}

fn idp_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

async fn authorize(
    State(state): State<Arc<Mutex<IdpState>>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    let param = |name: &str| query.get(name).cloned().unwrap_or_default();
    if param("response_type") != "code"
        || param("client_id") != CLIENT_ID
        || param("redirect_uri") != state.redirect_uri
        || param("code_challenge_method") != "S256"
        || param("code_challenge").len() != 43
        || !param("scope").split(' ').any(|s| s == "openid")
        || param("state").is_empty()
        || param("nonce").is_empty()
    {
        return idp_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let code = uuid::Uuid::new_v4().to_string();
    let claims = state.person.clone();
    state.codes.insert(
        code.clone(),
        Grant {
            nonce: param("nonce"),
            challenge: param("code_challenge"),
            redirect_uri: param("redirect_uri"),
            claims,
        },
    );
    let mut location = url::Url::parse(&state.redirect_uri).unwrap();
    location
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &param("state"));
    (StatusCode::FOUND, [("location", location.to_string())]).into_response()
}

async fn token(
    State(state): State<Arc<Mutex<IdpState>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let mut state = state.lock().unwrap();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return idp_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let param = |name: &str| form.get(name).cloned().unwrap_or_default();
    if param("grant_type") != "authorization_code" {
        return idp_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    // A code works once.
    let Some(grant) = state.codes.remove(&param("code")) else {
        return idp_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    if grant.redirect_uri != param("redirect_uri") {
        return idp_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    // RFC 7636 4.6: BASE64URL(SHA256(verifier)) must be the challenge.
    if pkce_challenge(&param("code_verifier")) != grant.challenge {
        return idp_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let now = chrono::Utc::now().timestamp();
    let issuer = state
        .forged_issuer
        .clone()
        .unwrap_or_else(|| state.issuer.clone());
    let mut id_claims = json!({
        "iss": issuer,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": grant.nonce,
    });
    for (name, value) in grant.claims.as_object().unwrap() {
        id_claims[name] = value.clone();
    }
    let key = state
        .keys
        .iter()
        .find(|key| key.kid == state.id_token_kid)
        .unwrap();
    let id_token = sign_with(key, &id_claims);
    Json(json!({
        "access_token": "opaque-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

/// A free loopback port for the application, so its callback URL is known
/// before it starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Sso {
    app: TestApp,
    idp: Idp,
    tenant: support::TestTenant,
    /// A client that follows no redirect.
    browser: reqwest::Client,
}

async fn start(refetch_interval: Duration) -> Sso {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/api/v1/auth/oidc/callback");
    let idp = Idp::start(&redirect).await;
    let mut settings = OidcSettings::new(
        &idp.issuer,
        CLIENT_ID,
        ClientSecret::new(CLIENT_SECRET),
        &redirect,
    )
    .unwrap();
    settings.audiences = vec![API_AUDIENCE.to_owned()];
    settings.jwks_refetch_interval = refetch_interval;
    settings.mapping = ClaimMapping {
        roles: vec![
            ("AlertLedger.Technician".to_owned(), Role::Technician),
            ("AlertLedger.Admin".to_owned(), Role::TenantAdmin),
        ],
        tenants_claim: "groups".to_owned(),
        tenants: vec![("group-acme-ops".to_owned(), "sso-acme".to_owned())],
        ..ClaimMapping::default()
    };
    let app = TestApp::spawn_with_api(move |api| {
        api.listen = format!("127.0.0.1:{port}").parse().unwrap();
        api.oidc = Some(settings);
    })
    .await;
    let tenant = app.create_tenant("sso-acme").await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Sso {
        app,
        idp,
        tenant,
        browser,
    }
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// Runs the browser's part of the code flow up to the callback URL the
/// provider redirects to, with the binding cookie the login route set.
async fn authorize_in_browser(sso: &Sso) -> (String, String) {
    let status: Value = sso
        .browser
        .get(sso.app.url("/api/v1/auth/oidc"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        status,
        json!({"enabled": true, "login_url": "/api/v1/auth/oidc/login"})
    );
    let login = sso
        .browser
        .get(sso.app.url(status["login_url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let set_cookie = login
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let authorize_url = location(&login);
    assert!(authorize_url.starts_with(&format!("{}/authorize?", sso.idp.issuer)));
    assert!(authorize_url.contains("code_challenge_method=S256"));
    let at_idp = sso.browser.get(&authorize_url).send().await.unwrap();
    assert_eq!(at_idp.status(), 302, "{}", at_idp.text().await.unwrap());
    let callback = location(&at_idp);
    assert!(callback.starts_with(&sso.app.url("/api/v1/auth/oidc/callback?")));
    (callback, cookie)
}

/// The code of a failed sign-in: the callback sends the browser back to the
/// dashboard (`/#sso_error=<code>`), never to a JSON error body, and drops
/// the binding cookie.
fn sso_error(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 303, "a failed sign-in redirects too");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookie = response
        .headers()
        .get("set-cookie")
        .map(|value| value.to_str().unwrap().to_owned());
    if let Some(cookie) = cookie {
        assert!(cookie.contains("Max-Age=0"), "{cookie}");
    }
    let mut fields = fragment(&location(response));
    assert!(
        !fields.contains_key("access_token"),
        "a failed sign-in carries no token"
    );
    fields
        .remove("sso_error")
        .expect("the fragment names the error")
}

/// The tokens of the dashboard redirect's fragment.
fn fragment(location: &str) -> HashMap<String, String> {
    let fragment = location
        .strip_prefix("/#")
        .unwrap_or_else(|| panic!("not a redirect to the dashboard: {location}"));
    url::form_urlencoded::parse(fragment.as_bytes())
        .into_owned()
        .collect()
}

async fn me(sso: &Sso, token: &str) -> (u16, Value) {
    let response = sso
        .app
        .client
        .get(sso.app.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn ada() -> Value {
    json!({
        "sub": "idp-ada",
        "email": "Ada@Acme.example",
        "email_verified": true,
        "name": "Ada Lovelace",
        "roles": ["AlertLedger.Technician", "Unrelated.Role"],
        "groups": ["group-acme-ops", "group-unknown"],
    })
}

#[tokio::test]
async fn the_code_flow_with_pkce_signs_a_person_in_and_mints_our_session() {
    let sso = start(Duration::from_secs(30)).await;
    sso.idp.set_person(ada());
    let (callback, cookie) = authorize_in_browser(&sso).await;

    // Without the cookie of the browser that began it, the sign-in is refused
    // (and its state is used up).
    let (other_callback, _) = authorize_in_browser(&sso).await;
    let stolen = sso.browser.get(&other_callback).send().await.unwrap();
    assert_eq!(sso_error(&stolen), "sso_login_unknown");

    let done = sso
        .browser
        .get(&callback)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303, "{:?}", done.text().await);
    assert_eq!(done.headers()["cache-control"], "no-store");
    let tokens = fragment(&location(&done));
    assert!(tokens["expires_in"].parse::<u64>().unwrap() > 0);

    // Our own session: /me shows the mapped role and tenants.
    let (status, who) = me(&sso, &tokens["access_token"]).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["role"], "technician");
    assert_eq!(who["tenants"], json!([sso.tenant.id]));
    assert_eq!(who["email"], "ada@acme.example");
    assert!(who["session_id"].is_string());

    // The refresh token is one of ours and rotates.
    let refreshed = sso
        .app
        .client
        .post(sso.app.url("/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": tokens["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);

    // The same callback again: the state was used up.
    let replay = sso
        .browser
        .get(&callback)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(sso_error(&replay), "sso_login_unknown");

    // The user was provisioned with its link, both as events.
    let user_id = who["id"].as_str().unwrap().to_owned();
    assert_eq!(sso.app.stored("UserInvited").await, 1);
    assert_eq!(sso.app.stored("UserIdentityLinked").await, 1);

    // A second sign-in finds the same user, now with the admin role.
    let mut promoted = ada();
    promoted["roles"] = json!(["AlertLedger.Admin"]);
    sso.idp.set_person(promoted);
    let (callback, cookie) = authorize_in_browser(&sso).await;
    let done = sso
        .browser
        .get(&callback)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let tokens = fragment(&location(&done));
    let (_, who) = me(&sso, &tokens["access_token"]).await;
    assert_eq!(who["id"], user_id.as_str());
    assert_eq!(who["role"], "tenant_admin");
    assert_eq!(sso.app.stored("UserInvited").await, 1);
    assert_eq!(sso.app.stored("UserRoleChanged").await, 1);

    // A known person's bearer token from the provider is their user, until
    // the user is disabled.
    let bearer = sso.idp.access_token(
        "rsa-1",
        json!({"sub": "idp-ada", "groups": ["group-acme-ops"]}),
    );
    let (status, who) = me(&sso, &bearer).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["id"], user_id.as_str());
    let msp = sso.app.token(Role::MspAdmin, &[]);
    let disabled = sso
        .app
        .client
        .delete(sso.app.url(&format!("/api/v1/users/{user_id}")))
        .bearer_auth(&msp)
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    assert_eq!(me(&sso, &bearer).await.0, 401);
    assert_eq!(me(&sso, &tokens["access_token"]).await.0, 401);
    // And the disabled user cannot sign in through the provider either.
    let (callback, cookie) = authorize_in_browser(&sso).await;
    let refused = sso
        .browser
        .get(&callback)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(sso_error(&refused), "user_disabled");
}

#[tokio::test]
async fn the_token_endpoint_refuses_a_wrong_pkce_verifier_and_the_sign_in_fails() {
    let sso = start(Duration::from_secs(30)).await;
    sso.idp.set_person(ada());
    let (callback, cookie) = authorize_in_browser(&sso).await;
    // Someone who learned the code but not the verifier: the stand-in checks
    // the verifier against the challenge sent at the authorization endpoint.
    sqlx::query("UPDATE oidc_pending_logins SET code_verifier = 'not-the-verifier-of-this-challenge-0123456789'")
        .execute(sso.app.db.pool())
        .await
        .unwrap();
    let refused = sso
        .browser
        .get(&callback)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(sso_error(&refused), "sso_refused");
    assert_eq!(sso.app.stored("UserInvited").await, 0);
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_refused_at_the_callback() {
    let sso = start(Duration::from_secs(30)).await;
    sso.idp.set_person(ada());
    sso.idp.state.lock().unwrap().forged_issuer = Some("https://evil.example/v2.0".to_owned());
    let (callback, cookie) = authorize_in_browser(&sso).await;
    let refused = sso
        .browser
        .get(&callback)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(sso_error(&refused), "sso_refused");
    assert_eq!(sso.app.stored("UserInvited").await, 0);
}

#[tokio::test]
async fn a_refusal_by_the_provider_or_a_broken_answer_sends_the_browser_to_the_login_form() {
    let sso = start(Duration::from_secs(30)).await;
    sso.idp.set_person(ada());
    let (callback, cookie) = authorize_in_browser(&sso).await;
    let callback_path = sso.app.url("/api/v1/auth/oidc/callback");
    let state = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    // The person said no at the provider (RFC 6749 4.1.2.1).
    let denied = sso
        .browser
        .get(format!(
            "{callback_path}?error=access_denied&error_description=no&state={state}"
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(sso_error(&denied), "sso_denied");
    // An answer without its code.
    let broken = sso
        .browser
        .get(format!("{callback_path}?state={state}"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(sso_error(&broken), "missing_field");
    // Nothing of the request is echoed into the fragment.
    let odd = sso
        .browser
        .get(format!("{callback_path}?error=%3Cscript%3E&state={state}"))
        .send()
        .await
        .unwrap();
    assert_eq!(sso_error(&odd), "sso_denied");
    assert_eq!(sso.app.stored("UserInvited").await, 0);
    // The sign-in the refusal interrupted still works once (its state was
    // not used by the refusals).
    let done = sso
        .browser
        .get(&callback)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert!(fragment(&location(&done)).contains_key("access_token"));
}

#[tokio::test]
async fn provider_access_tokens_are_bearer_tokens_with_rs256_es256_and_eddsa() {
    let sso = start(Duration::from_secs(30)).await;
    for kid in ["rsa-1", "ec-1", "ed-1"] {
        let token = sso.idp.access_token(kid, json!({"groups": ["sso-acme"]}));
        let (status, who) = me(&sso, &token).await;
        assert_eq!(status, 200, "{kid}: {who}");
        assert_eq!(who["role"], "technician");
        assert_eq!(who["tenants"], json!([sso.tenant.id]));
        // Nobody signed in as this person: a caller of its own, never one of
        // our user ids.
        assert_eq!(who["id"], "oidc:idp-person-42");
    }
    // The tenant scope holds: another tenant's incidents are out of reach.
    let other = sso.app.create_tenant("sso-other").await;
    let token = sso
        .idp
        .access_token("ec-1", json!({"groups": ["sso-acme"]}));
    let response = sso
        .app
        .client
        .get(
            sso.app
                .url(&format!("/api/v1/incidents?tenant={}", other.id)),
        )
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // The live feed takes it too (as browsers' EventSource sends it).
    let stream = sso
        .app
        .client
        .get(sso.app.url(&format!("/api/v1/stream?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    drop(stream);
    // A token mapping to no role is refused.
    let token = sso.idp.access_token(
        "ed-1",
        json!({"roles": ["Unrelated"], "groups": ["sso-acme"]}),
    );
    assert_eq!(me(&sso, &token).await.0, 403);
}

#[tokio::test]
async fn an_array_audience_is_accepted_and_a_wrong_audience_or_issuer_is_refused() {
    let sso = start(Duration::from_secs(30)).await;
    let groups = json!(["sso-acme"]);
    let array = sso.idp.access_token(
        "rsa-1",
        json!({"aud": ["https://graph.example", API_AUDIENCE], "groups": groups}),
    );
    assert_eq!(me(&sso, &array).await.0, 200);
    let wrong = sso.idp.access_token(
        "rsa-1",
        json!({"aud": "https://graph.example", "groups": groups}),
    );
    assert_eq!(me(&sso, &wrong).await.0, 401);
    let wrong_array = sso.idp.access_token(
        "rsa-1",
        json!({"aud": ["https://graph.example", CLIENT_ID], "groups": groups}),
    );
    assert_eq!(me(&sso, &wrong_array).await.0, 401);
    // Signed with the provider's own key, but claiming another issuer.
    let unknown_issuer = sso.idp.access_token(
        "rsa-1",
        json!({"iss": "https://login.evil.example/v2.0", "groups": groups}),
    );
    assert_eq!(me(&sso, &unknown_issuer).await.0, 401);
    // Expired beyond the leeway.
    let now = chrono::Utc::now().timestamp();
    let expired = sso.idp.access_token(
        "rsa-1",
        json!({"exp": now - 3_600, "iat": now - 7_200, "nbf": now - 7_200, "groups": groups}),
    );
    assert_eq!(me(&sso, &expired).await.0, 401);
    // Not valid yet.
    let early = sso
        .idp
        .access_token("rsa-1", json!({"nbf": now + 3_600, "groups": groups}));
    assert_eq!(me(&sso, &early).await.0, 401);
}

#[tokio::test]
async fn a_rotated_key_set_is_refetched_for_a_new_kid_and_a_withdrawn_key_is_refused() {
    let sso = start(Duration::ZERO).await;
    let groups = json!({"groups": ["sso-acme"]});
    let old = sso.idp.access_token("rsa-1", groups.clone());
    assert_eq!(me(&sso, &old).await.0, 200);
    assert_eq!(sso.idp.jwks_fetches(), 1);
    // Cached: another token with a known kid fetches nothing.
    assert_eq!(
        me(&sso, &sso.idp.access_token("ec-1", groups.clone()))
            .await
            .0,
        200
    );
    assert_eq!(sso.idp.jwks_fetches(), 1);

    sso.idp.rotate("rsa-1", "rsa-2");
    let new = sso.idp.access_token("rsa-2", groups.clone());
    assert_eq!(me(&sso, &new).await.0, 200);
    assert_eq!(sso.idp.jwks_fetches(), 2);
    // The old key left the provider's set, so it left ours.
    assert_eq!(me(&sso, &old).await.0, 401);
}

#[tokio::test]
async fn unknown_kids_refetch_the_key_set_at_most_once_per_interval() {
    let sso = start(Duration::from_secs(3_600)).await;
    let groups = json!({"groups": ["sso-acme"]});
    assert_eq!(
        me(&sso, &sso.idp.access_token("rsa-1", groups.clone()))
            .await
            .0,
        200
    );
    assert_eq!(sso.idp.jwks_fetches(), 1);
    sso.idp.rotate("rsa-1", "rsa-2");
    // Within the interval, a token of an unknown kid is refused without
    // asking the provider: a flood of made-up kids costs it nothing.
    for _ in 0..5 {
        let token = sso.idp.access_token("rsa-2", groups.clone());
        assert_eq!(me(&sso, &token).await.0, 401);
    }
    assert_eq!(sso.idp.jwks_fetches(), 1);
}

#[tokio::test]
async fn without_single_sign_on_the_status_says_so_and_the_login_is_404() {
    let app = TestApp::spawn().await;
    let status: Value = app
        .client
        .get(app.url("/api/v1/auth/oidc"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status, json!({"enabled": false}));
    let login = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/api/v1/auth/oidc/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 404);
    // A callback that reaches a server without SSO goes to the login form.
    let callback = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/api/v1/auth/oidc/callback?code=x&state=y"))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), 303);
    assert_eq!(
        callback.headers()["location"],
        "/#sso_error=sso_not_configured"
    );
}
