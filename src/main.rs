//! `alertledger`: the service binary. Parses the command line over the
//! configuration file, installs tracing, and hands over to [`alertledger::run`].

fn main() -> std::process::ExitCode {
    // Before the runtime starts: the configuration layers set environment
    // variables, which is sound only while this is the only thread.
    let cli = match alertledger::config::parse_command_line() {
        Ok(cli) => cli,
        Err(error) => {
            eprintln!("error: {error:#}");
            return std::process::ExitCode::from(2);
        }
    };
    alertledger_platform::telemetry::init_tracing(cli.global.log_format());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Every command runs inside this future, on the main thread: an embedded
    // PostgreSQL is tied to the thread that starts it.
    match runtime.block_on(alertledger::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The operator commands' errors are a sentence and an exit code
            // scripts rely on (docs/cli.md), not a log line.
            if let Some(client) = error.downcast_ref::<alertledger::client::ClientError>() {
                eprintln!("error: {client}");
                return std::process::ExitCode::from(client.exit_code());
            }
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
