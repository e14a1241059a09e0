//! `provisiond reconcile SOURCE [--dry-run]` and `provisiond reconcile history`.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::provision::runtime::Runtime;
use crate::queue::{Endpoints, MessageKey, Publisher, Topology};
use crate::reconcile::{scheduler, Difference, RunReport};
use crate::store::reconcile as store;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ReconcileArgs {
    #[command(subcommand)]
    pub command: Option<ReconcileCommand>,
    /// The source to reconcile with its sender's employee list.
    #[arg(required = true)]
    pub source: Option<String>,
    /// Print the differences without publishing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Output: a table or JSON.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum ReconcileCommand {
    /// The latest runs, newest first.
    History {
        /// Only runs of this source.
        #[arg(long)]
        source: Option<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Output: a table or JSON.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(config: Config, args: ReconcileArgs) -> anyhow::Result<()> {
    if let Some(ReconcileCommand::History {
        source,
        limit,
        format,
    }) = args.command
    {
        return history(&config, source.as_deref(), limit, format).await;
    }
    let name = args.source.context("a SOURCE is required")?;
    let source = config
        .sources
        .iter()
        .find(|s| s.name == name)
        .with_context(|| format!("no source `{name}` in the configuration"))?;
    source
        .api
        .as_ref()
        .with_context(|| format!("source `{name}` has no `api`: nothing to list"))?;
    let runtime = Runtime::build(&config)?;
    let pool = crate::store::pool(&config.database)?;
    let format = args.format;
    let mut first = true;
    let mut print = move |diff: &Difference| print_difference(format, diff, &mut first);
    match format {
        Format::Table => println!(
            "{:<36} {:<12} {:<11} {:<11} {:<9} REASON",
            "EMPLOYEE", "DIFFERENCE", "HERE", "THERE", "PUBLISHED"
        ),
        Format::Json => print!("{{\"differences\": ["),
    }
    let report = if args.dry_run {
        scheduler::run_with(&pool, None, &runtime, source, "manual", &mut print).await?
    } else {
        let key = MessageKey::for_config(&config)?;
        let token = CancellationToken::new();
        let rabbitmq = &config.rabbitmq;
        let topology = Topology::for_config(&config);
        let url = Endpoints::new(rabbitmq.broker_urls());
        let (publisher, task) =
            Publisher::start(url, topology, rabbitmq.confirm_timeout, key, token.clone());
        let report = async {
            publisher
                .wait_connected(CONNECT_TIMEOUT)
                .await
                .context("cannot reach the broker")?;
            let publisher = Some(&publisher);
            scheduler::run_with(&pool, publisher, &runtime, source, "manual", &mut print).await
        }
        .await;
        token.cancel();
        let _ = task.await;
        report?
    };
    print_report(format, &report)?;
    if let Some(error) = &report.error {
        anyhow::bail!("reconcile run {} failed: {error}", report.run_id);
    }
    Ok(())
}

fn print_difference(format: Format, diff: &Difference, first: &mut bool) {
    match format {
        Format::Table => println!(
            "{:<36} {:<12} {:<11} {:<11} {:<9} {}",
            printable(&diff.employee_id),
            diff.kind.as_str(),
            diff.here,
            diff.there,
            if diff.published { "yes" } else { "no" },
            diff.reason
        ),
        Format::Json => {
            let separator = if *first { "" } else { "," };
            *first = false;
            let json = serde_json::to_string(diff).unwrap_or_default();
            print!("{separator}\n  {json}");
        }
    }
}

fn print_report(format: Format, report: &RunReport) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            println!("\n], \"run\": {}}}", serde_json::to_string(report)?);
        }
        Format::Table => {
            let c = &report.counts;
            let mode = if report.dry_run { " (dry run)" } else { "" };
            println!(
                "\nrun {}{mode}: {}; listed {}, terminations {}, hires {}, updates {}, published {}",
                report.run_id,
                report.status,
                c.listed,
                c.terminations,
                c.hires,
                c.updates,
                c.published
            );
        }
    }
    std::io::stdout().flush()?;
    Ok(())
}

async fn history(
    config: &Config,
    source: Option<&str>,
    limit: i64,
    format: Format,
) -> anyhow::Result<()> {
    let pool = crate::store::pool(&config.database)?;
    let runs = store::history(&pool, source, limit).await?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&runs)?),
        Format::Table => {
            println!(
                "{:>6} {:<16} {:<10} {:<10} {:<25} {:>8} {:>6} {:>6} {:>6} {:>9}",
                "RUN",
                "SOURCE",
                "STATUS",
                "TRIGGER",
                "STARTED",
                "LISTED",
                "TERM",
                "HIRE",
                "UPDATE",
                "PUBLISHED"
            );
            for r in &runs {
                let status = if r.dry_run {
                    format!("{} (dry)", r.status)
                } else {
                    r.status.clone()
                };
                println!(
                    "{:>6} {:<16} {:<10} {:<10} {:<25} {:>8} {:>6} {:>6} {:>6} {:>9}",
                    r.id,
                    r.source,
                    status,
                    r.trigger,
                    r.started_at.to_rfc3339(),
                    r.listed,
                    r.terminations,
                    r.hires,
                    r.updates,
                    r.published
                );
            }
        }
    }
    Ok(())
}

/// Control characters (a sender's id could carry them) shown escaped.
fn printable(text: &str) -> String {
    text.chars().flat_map(char::escape_default).collect()
}
