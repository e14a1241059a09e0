use clap::Parser;

/// mimalloc rather than glibc's malloc: allocation was the largest share of a receiver's
/// own CPU per webhook (docs/performance.md, "Receiver CPU per request").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
