//! `alertledger`: the service binary. Parses the command line, installs
//! tracing, and hands over to one of [`commands`].

mod cli;
mod commands;
mod database;
mod security;
mod shutdown;

use clap::Parser;

use crate::cli::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    alertledger_platform::telemetry::init_tracing(cli.global.log_format());
    // Every command runs inside this future, on the main thread: an embedded
    // PostgreSQL is tied to the thread that starts it (see `database`).
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(&cli.global, args).await,
        Command::Demo(args) => commands::demo::run(&cli.global, args).await,
        Command::Migrate(args) => commands::migrate::run(&cli.global, args).await,
        Command::Token(args) => commands::token::run(&cli.global, args),
        Command::Tenant(args) => commands::tenant::run(&cli.global, args).await,
        Command::Projections(args) => commands::projections::run(args).await,
        Command::Audit(args) => commands::audit::run(&cli.global, args).await,
        Command::Events(args) => commands::events::run(&cli.global, args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
