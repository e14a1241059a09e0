use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = provisiond::cli::Cli::parse();
    provisiond::telemetry::init_tracing_at(cli.default_log_level());
    match provisiond::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", provisiond::cli::report(&error));
            std::process::ExitCode::FAILURE
        }
    }
}
