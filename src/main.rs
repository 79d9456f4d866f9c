//! `alertledger`: the service binary. Parses the command line, installs
//! tracing, and hands over to [`alertledger::run`].

use alertledger::cli::Cli;
use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    alertledger_platform::telemetry::init_tracing(cli.global.log_format());
    // Every command runs inside this future, on the main thread: an embedded
    // PostgreSQL is tied to the thread that starts it.
    match alertledger::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
