//! `provisiond sources`: the configured webhook sources, and the subscription handshake
//! tokens they received (Gusto's verification token, to send back to Gusto and paste into
//! the source's `secrets`).

use clap::{Args, ValueEnum};
use serde_json::json;

use crate::config::Config;
use crate::store::handshakes;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct SourcesArgs {
    /// Output: a table or JSON.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

pub async fn run(config: Config, args: &SourcesArgs) -> anyhow::Result<()> {
    let pool = crate::store::pool(&config.database)?;
    let tokens = handshakes::all(&pool).await?;
    let rows: Vec<serde_json::Value> = config
        .sources
        .iter()
        .map(|s| {
            let handshake = tokens.iter().find(|t| t.source == s.name);
            json!({
                "name": s.name,
                "kind": s.kind.as_str(),
                "secrets": s.secrets.len(),
                "tolerance_seconds": s.effective_tolerance().map(|t| t.as_secs()),
                "verification_token": handshake.map(|h| &h.token),
                "verification_received_at": handshake.map(|h| h.received_at),
            })
        })
        .collect();
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Table => {
            println!(
                "{:<20} {:<18} {:>7}  VERIFICATION TOKEN",
                "SOURCE", "KIND", "SECRETS"
            );
            for r in &rows {
                let token = r["verification_token"].as_str().unwrap_or("-");
                let (name, kind) = (r["name"].as_str(), r["kind"].as_str());
                println!(
                    "{:<20} {:<18} {:>7}  {token}",
                    name.unwrap_or("-"),
                    kind.unwrap_or("-"),
                    r["secrets"]
                );
            }
        }
    }
    Ok(())
}
