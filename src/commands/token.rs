//! `alertledger token issue`: a signed token for an operator or a dashboard.

use alertledger_api::auth::jwt::{TokenIssuer, TokenRequest};
use alertledger_domain::values::{Role, TenantId};
use anyhow::{bail, Context};

use crate::cli::{GlobalArgs, IssueTokenArgs, TokenArgs, TokenCommand};

pub fn run(global: &GlobalArgs, args: TokenArgs) -> anyhow::Result<()> {
    match args.command {
        TokenCommand::Issue(issue) => {
            let token = issue_token(global, &issue)?;
            // The token alone on the last line of stdout, for scripts.
            #[allow(clippy::print_stdout)]
            {
                println!("{token}");
            }
            Ok(())
        }
    }
}

fn issue_token(global: &GlobalArgs, args: &IssueTokenArgs) -> anyhow::Result<String> {
    let (issuer, audience) = (global.jwt_issuer.as_str(), global.jwt_audience.as_str());
    let signer = match (&args.private_key, &global.jwt_secret) {
        (Some(path), _) => {
            let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            TokenIssuer::from_private_pem(&pem, issuer, audience)?
        }
        (None, Some(secret)) => TokenIssuer::hs256(secret.as_bytes(), issuer, audience)?,
        (None, None) => bail!(
            "set ALERTLEDGER_JWT_SECRET (the service's HS256 secret) or pass --private-key to sign tokens"
        ),
    };
    let role = Role::parse(&args.role).map_err(|e| anyhow::anyhow!("{e}"))?;
    let tenants = args
        .tenants
        .iter()
        .map(|raw| TenantId::parse(raw).map_err(|e| anyhow::anyhow!("--tenant {raw:?}: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(signer.issue(&TokenRequest {
        sub: args.sub.clone(),
        name: args.name.clone(),
        role,
        tenants,
        ttl: args.ttl,
    })?)
}
