//! `provisiond hold list | release | reject`: terminations the mass-change guard held.

use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::queue::{Endpoints, MessageKey, Publisher, Topology};
use crate::services::holds::{decide_many, Decision};
use crate::store::holds;
use crate::store::Actor;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Held terminations (open ones unless `--status`).
    List {
        /// Only holds of this source.
        #[arg(long)]
        source: Option<String>,
        /// `held` (default), `released`, `rejected` or `all`.
        #[arg(long, default_value = "held")]
        status: String,
        /// Output: a table or JSON.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Apply held terminations.
    Release(DecideArgs),
    /// Keep the employees' access; the deprovision report keeps listing them.
    Reject(DecideArgs),
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    /// Hold ids (from `hold list`).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub ids: Vec<i64>,
    /// Every open hold (of `--source`, if given); needs `--yes`.
    #[arg(long)]
    pub all: bool,
    /// With `--all`: only the holds of this source.
    #[arg(long, requires = "all")]
    pub source: Option<String>,
    /// Confirm a decision on every open hold (with `--all`).
    #[arg(long)]
    pub yes: bool,
    /// Why (recorded in the audit log).
    #[arg(long)]
    pub reason: String,
    /// Who decides (default: `$USER`).
    #[arg(long)]
    pub actor: Option<String>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(config: Config, command: HoldCommand) -> anyhow::Result<()> {
    let pool = crate::store::pool(&config.database)?;
    let (args, decision) = match command {
        HoldCommand::List {
            source,
            status,
            format,
        } => {
            let status = (status != "all").then_some(status.as_str());
            let rows = holds::list(&pool, status, source.as_deref()).await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                Format::Table => {
                    println!(
                        "{:>6} {:<16} {:<28} {:<9} {:<25} REASON",
                        "ID", "SOURCE", "EMPLOYEE", "STATUS", "HELD AT"
                    );
                    for r in &rows {
                        println!(
                            "{:>6} {:<16} {:<28} {:<9} {:<25} {}",
                            r.id,
                            r.source,
                            r.employee_id.escape_default().to_string(),
                            r.status,
                            r.held_at.to_rfc3339(),
                            r.reason
                        );
                    }
                }
            }
            return Ok(());
        }
        HoldCommand::Release(args) => (args, Decision::Release),
        HoldCommand::Reject(args) => (args, Decision::Reject),
    };
    if args.reason.trim().is_empty() {
        anyhow::bail!("--reason must say why");
    }
    let ids = if args.all {
        let ids = holds::held_ids(&pool, args.source.as_deref()).await?;
        if !args.yes {
            anyhow::bail!(
                "{} held terminations would be {}; run again with --yes",
                ids.len(),
                decision.as_str()
            );
        }
        ids
    } else {
        args.ids
    };
    let actor = Actor::named(args.actor.unwrap_or_else(super::os_user));
    let reason = args.reason.trim();
    let decided = if decision == Decision::Release {
        let token = CancellationToken::new();
        let rabbitmq = &config.rabbitmq;
        let topology = Topology::for_config(&config);
        let (publisher, task) = Publisher::start(
            Endpoints::new(rabbitmq.broker_urls()),
            topology,
            rabbitmq.confirm_timeout,
            MessageKey::for_config(&config)?,
            token.clone(),
        );
        let decided = async {
            publisher
                .wait_connected(CONNECT_TIMEOUT)
                .await
                .context("cannot reach the broker")?;
            decide_many(&pool, Some(&publisher), &ids, decision, &actor, reason).await
        }
        .await;
        token.cancel();
        let _ = task.await;
        decided?
    } else {
        decide_many(&pool, None, &ids, decision, &actor, reason).await?
    };
    let list: Vec<String> = decided.iter().map(i64::to_string).collect();
    println!("{} {}: {}", decision.as_str(), list.len(), list.join(", "));
    Ok(())
}
