//! The `alertledger` binary's library: the application builder and the
//! command line. `main.rs` only parses arguments and calls [`run`].
//!
//! # Layout
//!
//! - [`startup`] — [`startup::Application`]: the API, the consumer runtime
//!   with every projection and worker, and the time-driven workers, built
//!   once for `serve`, `demo`, the tests and the benchmarks.
//! - [`cli`] — the command line (every flag also from the environment).
//! - [`config`] — the configuration file and `*_FILE` secrets under the
//!   command line.
//! - [`commands`] — one module per subcommand.
//! - [`client`] — the operator commands' HTTP client (they never open the
//!   database).
//! - `database` — finding or starting PostgreSQL (embedded when none answers).
//! - `security` — JWT, master and audit signing keys from configuration.

pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
mod database;
mod security;
mod shutdown;
pub mod startup;

use crate::cli::{Cli, Command};

/// Runs one command line to its end.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => commands::serve::run(&cli.global, args).await,
        Command::Demo(args) => commands::demo::run(&cli.global, args).await,
        Command::Migrate(args) => commands::migrate::run(&cli.global, args).await,
        Command::Token(args) => commands::token::run(&cli.global, args),
        Command::Tenant(args) => commands::tenant::run(&cli.global, args).await,
        Command::Projections(args) => commands::projections::run(args).await,
        Command::Audit(args) => commands::audit::run(&cli.global, args).await,
        Command::Events(args) => commands::events::run(&cli.global, args).await,
        Command::Incidents(args) => Ok(commands::incidents::run(args).await?),
        Command::Alerts(args) => Ok(commands::alerts::run(args).await?),
        Command::Approvals(args) => Ok(commands::approvals::run(args).await?),
        Command::Runbooks(args) => Ok(commands::runbooks::run(args).await?),
    }
}
