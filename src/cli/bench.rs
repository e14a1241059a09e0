//! `provisiond bench`: measure provisiond against the machine's own ceilings (see
//! `crate::bench`). Progress goes to stderr; the report (table or JSON) to stdout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::bench::{self, Options};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BenchFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A smoke run in under a minute: 2 s windows, 200 terminations/s for 3 s.
    #[arg(long)]
    pub quick: bool,
    /// Output: a table or JSON.
    #[arg(long, value_enum, default_value = "table")]
    pub format: BenchFormat,
    /// Concurrent requests / publishing tasks [default: 64].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Measuring window of each ceiling and of ingest, e.g. `15s` [default: 15s, quick 2s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Termination arrival rates per second, comma-separated [default: 200,1000; quick 200].
    #[arg(long, value_delimiter = ',')]
    pub rates: Option<Vec<u32>>,
    /// How long terminations arrive at each rate [default: 10s, quick 3s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub deprovision_duration: Option<Duration>,
    /// Receiver processes (`serve --role receiver`, each on its own port) in the ingest
    /// phase; the load client's connections are spread over them round-robin.
    #[arg(long, default_value_t = 1)]
    pub receivers: usize,
    /// Worker processes (`serve --role worker`) draining the backlog together in the
    /// processing phase.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Also write the JSON report to this file (whatever `--format` prints).
    #[arg(long)]
    pub json_out: Option<PathBuf>,
}

/// `path` is the `--config` given, if any: without one the bench uses the defaults of
/// `provisiond.example.toml` (overlaid by `PROVISIOND__…` variables).
pub async fn run(path: Option<&Path>, args: &BenchArgs) -> anyhow::Result<()> {
    let (config, source) = bench::load_config(path)?;
    let mut options = Options::new(args.quick);
    if let Some(concurrency) = args.concurrency {
        options.concurrency = concurrency;
    }
    if let Some(duration) = args.duration {
        options.duration = duration;
    }
    if let Some(rates) = &args.rates {
        anyhow::ensure!(rates.iter().all(|r| *r > 0), "--rates must be positive");
        options.rates = rates.clone();
    }
    anyhow::ensure!(args.receivers >= 1, "--receivers must be at least 1");
    anyhow::ensure!(args.workers >= 1, "--workers must be at least 1");
    options.receivers = args.receivers;
    options.workers = args.workers;
    if let Some(duration) = args.deprovision_duration {
        options.deprovision_duration = duration;
    }
    let report = bench::run(&config, source, &options).await?;
    if let Some(path) = &args.json_out {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n")
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    match args.format {
        BenchFormat::Table => print!("{}", report.table()),
        BenchFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(())
}
