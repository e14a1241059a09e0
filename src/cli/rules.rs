//! `provisiond rules test --event FILE [--source NAME]`: normalize a sample body the way the
//! worker would and print the rules' decision for it.

use std::path::PathBuf;

use chrono::Utc;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::config::{Config, SourceConfig};
use crate::domain::event::Normalized;
use crate::domain::SourceKind;
use crate::normalize::normalize;
use crate::provision::rules::Rules;

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Print the decision for a sample event (a sender's body) as JSON.
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The file holding the body a sender would post.
    #[arg(long)]
    pub event: PathBuf,
    /// The configured source whose kind reads the body (default: the first
    /// `standard-webhooks` source).
    #[arg(long)]
    pub source: Option<String>,
}

pub fn run(config: &Config, command: &RulesCommand) -> anyhow::Result<()> {
    match command {
        RulesCommand::Test(args) => test(config, args),
    }
}

fn test(config: &Config, args: &TestArgs) -> anyhow::Result<()> {
    let source = source(config, args.source.as_deref())?;
    let rules = Rules::new(&config.rules, config.default.as_ref());
    let body = std::fs::read(&args.event)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.event.display()))?;
    let normalized = normalize(source.kind, &body, Utc::now()).map_err(|e| {
        anyhow::anyhow!(
            "cannot read {} as a `{}` event: {e}",
            args.event.display(),
            source.kind.as_str()
        )
    })?;
    let output = match normalized {
        Normalized::Employee(event) => json!({
            "employee_id": event.employee_id,
            "kind": event.kind,
            "attributes": event.attributes,
            "decision": rules.decide(&event),
        }),
        Normalized::Ignored { reason, .. } => json!({ "ignored": reason }),
        Normalized::DirectoryDeleted { directory_id, .. } => {
            json!({ "directory_deleted": directory_id })
        }
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

fn source<'a>(config: &'a Config, name: Option<&str>) -> anyhow::Result<&'a SourceConfig> {
    if let Some(name) = name {
        return config
            .source(name)
            .ok_or_else(|| anyhow::anyhow!("no source named `{name}` in the configuration"));
    }
    config
        .sources
        .iter()
        .find(|s| s.kind == SourceKind::StandardWebhooks)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no `standard-webhooks` source is configured; pass --source NAME to say how \
                 to read the event"
            )
        })
}
