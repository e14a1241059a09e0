//! `provisiond db grants|prune`: the database roles' side of least privilege.
//!
//! `grants` prints the SQL that gives the runtime role exactly what it needs (it does not
//! connect); `prune` is the owner's maintenance, the deletes the runtime may not do.

use clap::Subcommand;

use crate::config::Config;
use crate::store::{grants, reconcile};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Print the GRANTs of the runtime role (run them as the schema's owner after each
    /// `migrate`): no DELETE anywhere, `events` and `inbox` insert-only.
    Grants {
        /// The role `serve` and the operator commands connect as (must own nothing).
        #[arg(long)]
        role: String,
    },
    /// As the owner: delete what the runtime leaves behind and no longer reads (the
    /// employee ids seen by reconcile runs that ended).
    Prune {
        /// Also prune runs still `running` that started longer ago than this (crashed).
        #[arg(long, default_value = "1d", value_parser = humantime::parse_duration)]
        stale_after: std::time::Duration,
    },
}

pub async fn run(config: Config, command: DbCommand) -> anyhow::Result<()> {
    match command {
        DbCommand::Grants { role } => {
            let role = grants::RoleName::parse(&role)?;
            print!("{}", grants::script(&role));
        }
        DbCommand::Prune { stale_after } => {
            let pool = crate::store::pool(&config.database)?;
            let pruned = reconcile::prune_seen(&pool, stale_after).await?;
            pool.close().await;
            println!("pruned {pruned} reconcile_seen row(s)");
        }
    }
    Ok(())
}
