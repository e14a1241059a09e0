//! `provisiond audit deprovision|verify`: the evidence for security teams.

use anyhow::Context;
use chrono::Utc;
use clap::{Subcommand, ValueEnum};

use crate::audit::{render, report};
use crate::config::Config;
use crate::store::audit_log;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
    Html,
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
        #[arg(long, value_enum, default_value = "table")]
        format: ReportFormat,
    },
    /// Seal pending rows, then walk the audit log's hash chain; exits non-zero naming the
    /// first row that does not match.
    Verify {
        /// Do not seal pending rows first (e.g. when running as a read-only role).
        #[arg(long)]
        no_seal: bool,
    },
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
        } => {
            let params = report::Params::parse(
                Some(&since),
                until.as_deref(),
                source.as_deref(),
                sla.as_deref(),
                config.audit.deprovision_sla,
                Utc::now(),
            )
            .map_err(anyhow::Error::msg)?;
            let report = report::build(&pool, &params)
                .await
                .context("cannot read the deprovision report from the database")?;
            match format {
                ReportFormat::Table => print!("{}", render::table(&report)),
                ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                ReportFormat::Csv => print!("{}", render::csv(&report)),
                ReportFormat::Html => print!("{}", render::html(&report)),
            }
        }
        AuditCommand::Verify { no_seal } => {
            if !no_seal {
                match audit_log::seal_pending(&pool).await {
                    Ok(0) => {}
                    Ok(n) => eprintln!("sealed {n} pending audit log row(s)"),
                    Err(error) => eprintln!("warning: cannot seal pending rows: {error}"),
                }
            }
            let result = audit_log::verify(&pool)
                .await
                .context("cannot read the audit log")?;
            if let Some(broken) = result.broken {
                anyhow::bail!(
                    "{} ({} row(s) before it verified)",
                    broken.message,
                    result.rows
                );
            }
            match result.head {
                Some((id, seq, hash)) => println!(
                    "audit log intact: {} row(s) verified; head is row {id} at position {seq}, hash {}",
                    result.rows,
                    hex::encode(hash)
                ),
                None => println!("audit log intact: 0 rows"),
            }
            if result.unsealed > 0 {
                println!(
                    "{} row(s) not sealed yet, not covered by this check",
                    result.unsealed
                );
            }
        }
    }
    pool.close().await;
    Ok(())
}
