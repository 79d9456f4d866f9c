//! The command line with the configuration layers beneath it: the optional
//! TOML file (`--config` / `ALERTLEDGER_CONFIG`) and the `*_FILE` secrets
//! (`alertledger_platform::layers`), resolved into environment variables
//! before the arguments are parsed for good. docs/configuration.md lists
//! every setting.

use alertledger_platform::layers::{self, SecretKind, SecretSetting};
use anyhow::Context;
use clap::{CommandFactory, Parser};

use crate::cli::Cli;

/// Every secret with a `*_FILE` variant. The AWS SDK reads its own
/// credentials from the environment; their `*_FILE` variants fill those.
pub const SECRETS: &[SecretSetting] = &[
    value("DATABASE_URL"),
    value("ALERTLEDGER_OWNER_DATABASE_URL"),
    value("ALERTLEDGER_SERVICE_ROLE_PASSWORD"),
    value("ALERTLEDGER_METRICS_TOKEN"),
    value("ALERTLEDGER_MASTER_KEY"),
    value("ALERTLEDGER_JWT_SECRET"),
    value("ALERTLEDGER_OIDC_CLIENT_SECRET"),
    path("ALERTLEDGER_JWT_PUBLIC_KEY"),
    path("ALERTLEDGER_JWT_PRIVATE_KEY"),
    path("ALERTLEDGER_SIGNING_KEY"),
    path("ALERTLEDGER_TLS_KEY"),
    value("ALERTLEDGER_TOKEN"),
    value("AWS_ACCESS_KEY_ID"),
    value("AWS_SECRET_ACCESS_KEY"),
    value("AWS_SESSION_TOKEN"),
];

const fn value(name: &'static str) -> SecretSetting {
    SecretSetting {
        name,
        kind: SecretKind::Value,
    }
}

const fn path(name: &'static str) -> SecretSetting {
    SecretSetting {
        name,
        kind: SecretKind::Path,
    }
}

/// Parses the command line over the configuration file and secret files.
/// Must run before any other thread starts: it sets environment variables.
pub fn parse_command_line() -> anyhow::Result<Cli> {
    // A first pass finds `--config` (and answers --help and usage errors).
    let first = Cli::parse();
    let config = first
        .global
        .config
        .as_ref()
        .filter(|path| !path.as_os_str().is_empty());
    let assignments = layers::resolve(config.map(|p| p.as_path()), &settable(), SECRETS, &|name| {
        std::env::var(name).ok()
    })
    .context("cannot assemble the configuration")?;
    if assignments.is_empty() {
        return Ok(first);
    }
    for (name, value) in assignments {
        // Sound here: no other thread exists yet (the runtime starts later).
        std::env::set_var(name, value);
    }
    Ok(Cli::parse())
}

/// Every environment variable some argument of some command reads.
pub fn settable() -> Vec<String> {
    fn collect(command: &clap::Command, names: &mut Vec<String>) {
        for arg in command.get_arguments() {
            if let Some(name) = arg.get_env().and_then(|name| name.to_str()) {
                if name != "ALERTLEDGER_CONFIG" && !names.iter().any(|known| known == name) {
                    names.push(name.to_owned());
                }
            }
        }
        for sub in command.get_subcommands() {
            collect(sub, names);
        }
    }
    // The log filter is read by the tracing set-up, not by an argument.
    let mut names = vec!["RUST_LOG".to_owned()];
    collect(&Cli::command(), &mut names);
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_of_the_command_line_has_a_file_variant() {
        let names = settable();
        for secret in [
            "DATABASE_URL",
            "ALERTLEDGER_MASTER_KEY",
            "ALERTLEDGER_JWT_SECRET",
            "ALERTLEDGER_SIGNING_KEY",
            "ALERTLEDGER_JWT_PRIVATE_KEY",
        ] {
            assert!(names.iter().any(|name| name == secret), "{secret}");
            assert!(SECRETS.iter().any(|s| s.name == secret), "{secret}");
        }
        assert!(names.iter().any(|name| name == "ALERTLEDGER_LISTEN"));
    }
}
