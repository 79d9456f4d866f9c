//! JWT keys, the master key and the audit signing key from configuration. In
//! development a missing secret is replaced by an ephemeral one, loudly; in
//! production it is a start-up error.

use alertledger_api::auth::jwt::{JwtKey, JwtVerifier, TokenIssuer};
use alertledger_api::auth::signing::MasterKey;
use alertledger_seal::{CheckpointSigner, PublicKey};
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
            verifier: JwtVerifier::new(&JwtKey::PublicPem(pem), issuer, audience)?
                .with_max_lifetime(global.jwt_max_lifetime),
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
        verifier: JwtVerifier::new(&JwtKey::Hs256(secret.clone()), issuer, audience)?
            .with_max_lifetime(global.jwt_max_lifetime),
        issuer: Some(TokenIssuer::hs256(&secret, issuer, audience)?),
        ephemeral,
    })
}

/// Lets a process verifying with a public key (`ALERTLEDGER_JWT_PUBLIC_KEY`)
/// also sign sign-ins' access tokens, with the matching private key
/// (`ALERTLEDGER_JWT_PRIVATE_KEY`). Without it, such a process only
/// verifies: sign-in answers 503 (docs/users.md). A private key whose
/// tokens the public key does not verify is a start-up error, as is a
/// private key beside the HS256 secret.
pub fn with_private_key(
    global: &GlobalArgs,
    mut setup: JwtSetup,
    private_key: Option<&std::path::Path>,
) -> anyhow::Result<JwtSetup> {
    let Some(path) = private_key.filter(|path| !path.as_os_str().is_empty()) else {
        return Ok(setup);
    };
    if global.jwt_public_key.is_none() {
        bail!(
            "ALERTLEDGER_JWT_PRIVATE_KEY signs only beside ALERTLEDGER_JWT_PUBLIC_KEY (its public half); \
             with the HS256 secret, the secret signs"
        );
    }
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read the JWT private key {}", path.display()))?;
    let issuer = TokenIssuer::from_private_pem(
        &pem,
        global.jwt_issuer.as_str(),
        global.jwt_audience.as_str(),
    )?;
    // A probe: tokens this key signs must pass the configured public key.
    let probe = issuer.issue(&alertledger_api::auth::jwt::TokenRequest {
        sub: "start-up-probe".to_owned(),
        name: "start-up probe".to_owned(),
        role: alertledger_domain::values::Role::Viewer,
        tenants: Vec::new(),
        ttl: std::time::Duration::from_secs(60),
    })?;
    setup.verifier.verify(&probe).map_err(|e| {
        anyhow::anyhow!(
            "ALERTLEDGER_JWT_PRIVATE_KEY is not the private half of ALERTLEDGER_JWT_PUBLIC_KEY: {e}"
        )
    })?;
    setup.issuer = Some(issuer);
    Ok(setup)
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

/// The key that signs audit checkpoints, from the PEM file named by
/// `ALERTLEDGER_SIGNING_KEY`. In development a missing key is replaced by an
/// ephemeral one, loudly: checkpoints it signs verify only against its public
/// key (GET /api/v1/audit/public-key while the process runs), so `audit
/// verify` without that key reports them as signed by an untrusted key.
pub fn checkpoint_signer(global: &GlobalArgs) -> anyhow::Result<CheckpointSigner> {
    match configured_signing_key(global)? {
        Some(signer) => Ok(signer),
        None if global.environment.is_production() => bail!(
            "ALERTLEDGER_SIGNING_KEY must name an Ed25519 key file in production \
             (create one with `alertledger audit keygen --out FILE`)"
        ),
        None => {
            let signer = generate_signer();
            tracing::warn!(
                key_id = %signer.public_key().key_id(),
                "NO AUDIT SIGNING KEY CONFIGURED: checkpoints are signed with an ephemeral key \
                 that is lost when this process exits, so they cannot be verified later. Create \
                 one with `alertledger audit keygen --out FILE` and set ALERTLEDGER_SIGNING_KEY."
            );
            Ok(signer)
        }
    }
}

/// The configured signing key, if `ALERTLEDGER_SIGNING_KEY` names one.
pub fn configured_signing_key(global: &GlobalArgs) -> anyhow::Result<Option<CheckpointSigner>> {
    let Some(path) = global
        .signing_key
        .as_ref()
        .filter(|path| !path.as_os_str().is_empty())
    else {
        return Ok(None);
    };
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the audit signing key {}", path.display()))?;
    let signer = CheckpointSigner::from_pem(&pem).map_err(|e| {
        anyhow::anyhow!(
            "{} is not an Ed25519 private key in PKCS#8 PEM: {e}",
            path.display()
        )
    })?;
    Ok(Some(signer))
}

/// A new signing key from the operating system's randomness.
pub fn generate_signer() -> CheckpointSigner {
    let mut seed = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let signer = CheckpointSigner::from_seed(seed);
    zeroize::Zeroize::zeroize(&mut seed);
    signer
}

/// Reads an SPKI PEM public key file.
pub fn read_public_key(path: &std::path::Path) -> anyhow::Result<PublicKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the public key {}", path.display()))?;
    PublicKey::from_pem(&pem).map_err(|e| {
        anyhow::anyhow!(
            "{} is not an Ed25519 public key in SPKI PEM: {e}",
            path.display()
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    const ED_PRIVATE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/api/src/auth/testdata/test-only-ed25519-private.pem"
    );
    const ED_PUBLIC: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/api/src/auth/testdata/test-only-ed25519-public.pem"
    );

    fn global(args: &[&str]) -> GlobalArgs {
        let mut all = vec!["alertledger"];
        all.extend_from_slice(args);
        all.push("migrate");
        Cli::try_parse_from(all).unwrap().global
    }

    #[test]
    fn a_public_key_alone_verifies_but_signs_nothing() {
        let global = global(&["--jwt-public-key", ED_PUBLIC]);
        let setup = with_private_key(&global, jwt_setup(&global).unwrap(), None).unwrap();
        assert!(setup.issuer.is_none());
    }

    #[test]
    fn the_matching_private_key_signs_tokens_the_public_key_verifies() {
        let global = global(&["--jwt-public-key", ED_PUBLIC]);
        let setup = with_private_key(
            &global,
            jwt_setup(&global).unwrap(),
            Some(std::path::Path::new(ED_PRIVATE)),
        )
        .unwrap();
        let token = setup
            .issuer
            .expect("an issuer")
            .issue(&alertledger_api::auth::jwt::TokenRequest {
                sub: "u1".into(),
                name: "Ada".into(),
                role: alertledger_domain::values::Role::Viewer,
                tenants: Vec::new(),
                ttl: std::time::Duration::from_secs(60),
            })
            .unwrap();
        assert_eq!(setup.verifier.verify(&token).unwrap().sub, "u1");
    }

    #[test]
    fn a_private_key_of_another_pair_or_beside_the_secret_stops_the_start() {
        let other = std::env::temp_dir().join(format!("other-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&other, generate_signer().to_pem().unwrap()).unwrap();
        let global_pub = global(&["--jwt-public-key", ED_PUBLIC]);
        let mismatch = with_private_key(&global_pub, jwt_setup(&global_pub).unwrap(), Some(&other));
        std::fs::remove_file(&other).unwrap();
        let error = mismatch
            .err()
            .expect("a mismatched key is refused")
            .to_string();
        assert!(error.contains("not the private half"), "{error}");
        let global_secret = global(&["--jwt-secret", "0123456789abcdef0123456789abcdef"]);
        assert!(with_private_key(
            &global_secret,
            jwt_setup(&global_secret).unwrap(),
            Some(std::path::Path::new(ED_PRIVATE)),
        )
        .is_err());
    }
}
