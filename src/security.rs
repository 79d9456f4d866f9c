//! JWT keys from configuration. In development a missing secret is replaced by
//! an ephemeral one, loudly; in production it is a start-up error.

use alertledger_api::auth::jwt::{JwtKey, JwtVerifier, TokenIssuer};
use alertledger_api::auth::signing::MasterKey;
use anyhow::{bail, Context};
use base64::Engine;
use rand::RngCore;

use crate::cli::GlobalArgs;

/// The verifier, and an issuer when this process holds the signing secret.
pub struct JwtSetup {
    pub verifier: JwtVerifier,
    pub issuer: Option<TokenIssuer>,
    pub ephemeral: bool,
}

pub fn jwt_setup(global: &GlobalArgs) -> anyhow::Result<JwtSetup> {
    let (issuer, audience) = (global.jwt_issuer.as_str(), global.jwt_audience.as_str());
    if let Some(path) = &global.jwt_public_key {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read JWT public key {}", path.display()))?;
        return Ok(JwtSetup {
            verifier: JwtVerifier::new(&JwtKey::PublicPem(pem), issuer, audience)?,
            issuer: None,
            ephemeral: false,
        });
    }
    // An empty variable (e.g. from docker compose) means "not set".
    let configured = global
        .jwt_secret
        .as_deref()
        .filter(|secret| !secret.is_empty());
    let (secret, ephemeral) = match configured {
        Some(secret) => (secret.as_bytes().to_vec(), false),
        None if global.environment.is_production() => {
            bail!("ALERTLEDGER_JWT_SECRET or ALERTLEDGER_JWT_PUBLIC_KEY must be set in production")
        }
        None => {
            let mut bytes = [0_u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            tracing::warn!(
                "NO JWT SECRET CONFIGURED: using an ephemeral one. Tokens stop working when this \
                 process exits. Set ALERTLEDGER_JWT_SECRET (32+ bytes) for anything but a trial."
            );
            let secret = base64::engine::general_purpose::STANDARD.encode(bytes);
            (secret.into_bytes(), true)
        }
    };
    Ok(JwtSetup {
        verifier: JwtVerifier::new(&JwtKey::Hs256(secret.clone()), issuer, audience)?,
        issuer: Some(TokenIssuer::hs256(&secret, issuer, audience)?),
        ephemeral,
    })
}

/// The master key for webhook secrets. In development a missing key is replaced
/// by an ephemeral one, loudly: secrets stored under it are unreadable after a
/// restart.
pub fn master_key(global: &GlobalArgs) -> anyhow::Result<MasterKey> {
    match global.master_key.as_deref().filter(|key| !key.is_empty()) {
        Some(encoded) => MasterKey::from_base64(encoded)
            .map_err(|e| anyhow::anyhow!("ALERTLEDGER_MASTER_KEY must be base64 of 32 bytes: {e}")),
        None if global.environment.is_production() => {
            bail!("ALERTLEDGER_MASTER_KEY must be set in production (base64 of 32 random bytes)")
        }
        None => {
            tracing::warn!(
                "NO MASTER KEY CONFIGURED: webhook signing secrets are encrypted under an ephemeral key \
                 and become unusable when this process exits. Set ALERTLEDGER_MASTER_KEY \
                 (e.g. `openssl rand -base64 32`)."
            );
            Ok(MasterKey::generate())
        }
    }
}
