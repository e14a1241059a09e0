//! `provisiond audit deprovision|verify`: the evidence for security teams.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use chrono::Utc;
use clap::{Subcommand, ValueEnum};

use crate::config::Config;
use crate::services::audit::log_check::LogCheck;
use crate::services::audit::{pdf, render, report};
use crate::store::audit_log;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
    Html,
    /// The HTML page printed by headless Chromium; needs `--output` or a redirected stdout.
    Pdf,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Deprovision latency: counts, exact percentiles, SLA breaches, incomplete terminations.
    Deprovision {
        /// Terminations whose SLA clock started since: RFC 3339 or a duration ago (30d, 2h).
        #[arg(long, default_value = report::DEFAULT_SINCE)]
        since: String,
        /// …and before (default: now). RFC 3339 or a duration ago.
        #[arg(long)]
        until: Option<String>,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// The SLA (default: audit.deprovision_sla), e.g. 15m, 1h, 4h.
        #[arg(long)]
        sla: Option<String>,
        /// Output: a table, JSON, CSV or a self-contained HTML page.
        #[arg(long, value_enum, default_value = "table")]
        format: ReportFormat,
        /// Who prepares the report, named on it (default: the OS user, else `cli`).
        #[arg(long)]
        prepared_by: Option<String>,
        /// Write the report to this file instead of stdout.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Seal pending rows, walk the audit log's hash chain and check that every applied
    /// termination in `events` is covered by it; exits non-zero naming the first row that
    /// does not match and the events that are not covered.
    Verify {
        /// Do not seal pending rows first (e.g. when running as a read-only role).
        #[arg(long)]
        no_seal: bool,
        /// Output: text or JSON.
        #[arg(long, value_enum, default_value = "text")]
        format: VerifyFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum VerifyFormat {
    Text,
    Json,
}

/// Uncovered events named in the error message (the JSON output lists up to 1000).
const UNCOVERED_NAMED: usize = 20;

impl AuditCommand {
    /// What can be refused from the arguments alone, before the configuration or the
    /// database is touched: a PDF is binary and would garble a terminal.
    pub fn check_arguments(&self) -> anyhow::Result<()> {
        if let AuditCommand::Deprovision {
            format: ReportFormat::Pdf,
            output: None,
            ..
        } = self
        {
            if std::io::stdout().is_terminal() {
                anyhow::bail!(
                    "--format pdf writes binary data: give --output FILE or redirect stdout \
                     (> report.pdf)"
                );
            }
        }
        Ok(())
    }
}

pub async fn run(config: Config, command: AuditCommand) -> anyhow::Result<()> {
    let pool = crate::store::pool(&config.database)?;
    match command {
        AuditCommand::Deprovision {
            since,
            until,
            source,
            sla,
            format,
            prepared_by,
            output,
        } => {
            let params = report::Params::parse(
                Some(&since),
                until.as_deref(),
                source.as_deref(),
                sla.as_deref(),
                config.audit.deprovision_sla,
                Utc::now(),
            )
            .map_err(anyhow::Error::msg)?
            .organisation(config.audit.organisation.as_deref())
            .prepared_by(Some(&prepared_by.unwrap_or_else(os_user)))
            .time_zone(config.audit.time_zone);
            let report = report::build(&pool, &params)
                .await
                .context("cannot read the deprovision report from the database")?;
            let bytes = match format {
                ReportFormat::Table => render::table(&report).into_bytes(),
                ReportFormat::Json => {
                    let mut text = serde_json::to_string_pretty(&report)?;
                    text.push('\n');
                    text.into_bytes()
                }
                ReportFormat::Csv => render::csv(&report).into_bytes(),
                ReportFormat::Html => render::html(&report).into_bytes(),
                ReportFormat::Pdf => {
                    let browser = pdf::find_chromium(config.audit.chromium.as_deref())?;
                    pdf::print(&render::html(&report), &browser, pdf::PRINT_TIMEOUT).await?
                }
            };
            match &output {
                Some(path) => std::fs::write(path, &bytes)
                    .with_context(|| format!("cannot write the report to {}", path.display()))?,
                None => {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(&bytes)?;
                    stdout.flush()?;
                }
            }
        }
        AuditCommand::Verify { no_seal, format } => verify(&pool, no_seal, format).await?,
    }
    pool.close().await;
    Ok(())
}

/// The person running the command, as the OS knows them (`USER`, `LOGNAME`, `USERNAME`),
/// else `cli`.
fn os_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "cli".to_owned())
}

/// `audit verify`: seal, walk the chain, check coverage; print in `format`, fail when the
/// chain is broken or an applied termination is not covered.
async fn verify(pool: &sqlx::PgPool, no_seal: bool, format: VerifyFormat) -> anyhow::Result<()> {
    let mut sealed_now = 0;
    if !no_seal {
        match audit_log::seal_pending(pool).await {
            Ok(n) => sealed_now = n,
            Err(error) => eprintln!("warning: cannot seal pending rows: {error}"),
        }
    }
    let chain = audit_log::verify(pool)
        .await
        .context("cannot read the audit log")?;
    let coverage = audit_log::coverage(pool)
        .await
        .context("cannot read the events the audit log must cover")?;
    match format {
        VerifyFormat::Json => {
            let value = verification_json(sealed_now, &chain, &coverage)?;
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        VerifyFormat::Text => print_verification(sealed_now, &chain, &coverage),
    }
    let mut problems = Vec::new();
    if let Some(broken) = &chain.broken {
        problems.push(format!(
            "{} ({} row(s) before it verified)",
            broken.message, chain.rows
        ));
    }
    if coverage.uncovered_total > 0 {
        problems.push(uncovered_message(&coverage));
    }
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// The stable JSON of `audit verify --format json`: the deprovision report's `audit_log`
/// (the same check) and `sealed_now`.
fn verification_json(
    sealed_now: usize,
    chain: &audit_log::Verification,
    coverage: &audit_log::Coverage,
) -> anyhow::Result<serde_json::Value> {
    let check = LogCheck::new(chain, coverage.clone(), Utc::now());
    let mut value = serde_json::to_value(check)?;
    value["sealed_now"] = sealed_now.into();
    Ok(value)
}

fn print_verification(
    sealed_now: usize,
    chain: &audit_log::Verification,
    coverage: &audit_log::Coverage,
) {
    if sealed_now > 0 {
        eprintln!("sealed {sealed_now} pending audit log row(s)");
    }
    if chain.broken.is_none() {
        match chain.head {
            Some((id, seq, hash)) => println!(
                "audit log intact: {} row(s) verified; head is row {id} at position {seq}, hash {}",
                chain.rows,
                hex::encode(hash)
            ),
            None => println!("audit log intact: 0 rows"),
        }
    }
    if chain.unsealed > 0 {
        println!(
            "{} row(s) not sealed yet, not covered by this check",
            chain.unsealed
        );
    }
    if coverage.uncovered_total == 0 {
        println!(
            "every applied termination is covered: {} in the chain, {} waiting to be sealed",
            coverage.covered, coverage.pending
        );
    }
}

/// "N applied termination(s) … not covered …: events row 12 (hris/ev_1), …".
fn uncovered_message(coverage: &audit_log::Coverage) -> String {
    let named: Vec<String> = coverage
        .uncovered
        .iter()
        .take(UNCOVERED_NAMED)
        .map(|u| format!("events row {} ({}/{})", u.id, u.source, u.event_id))
        .collect();
    let more = coverage.uncovered_total - named.len() as i64;
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "{} applied termination(s) in events are not covered by the audit log \
         (no directory deactivation recorded): {}{more}",
        coverage.uncovered_total,
        named.join(", ")
    )
}
