use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    provisiond::telemetry::init_tracing();
    let cli = provisiond::cli::Cli::parse();
    match provisiond::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
