//! `provisiond sign SOURCE --body FILE`: the headers a sender would send, signed with the
//! source's first configured secret.

use std::path::PathBuf;
use std::time::SystemTime;

use clap::{Args, ValueEnum};

use crate::config::Config;
use crate::signing::{self, SigningKey};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SignFormat {
    /// `Name: value` lines.
    Headers,
    /// A complete curl command posting the body to `server.listen`.
    Curl,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The configured source name.
    pub source: String,
    /// The file holding the exact body to send.
    #[arg(long)]
    pub body: PathBuf,
    /// Message id for schemes that carry one (default: a random one).
    #[arg(long)]
    pub id: Option<String>,
    /// Output: the headers, or a ready-to-run curl command.
    #[arg(long, value_enum, default_value = "headers")]
    pub format: SignFormat,
}

pub fn run(config: &Config, args: &SignArgs) -> anyhow::Result<()> {
    let Some(source) = config.source(&args.source) else {
        anyhow::bail!("no source named `{}` in the configuration", args.source);
    };
    let body = std::fs::read(&args.body)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.body.display()))?;
    let secret = source
        .secrets
        .first()
        .map(|s| s.expose())
        .unwrap_or_default();
    let key = SigningKey::from_secret(source.kind, secret).map_err(anyhow::Error::msg)?;
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| format!("msg_{}", uuid::Uuid::new_v4().simple()));
    let headers = signing::sign(source.kind, &key, &body, SystemTime::now(), &id);
    match args.format {
        SignFormat::Headers => {
            for (name, value) in headers {
                println!("{name}: {value}");
            }
        }
        SignFormat::Curl => {
            let url = format!("http://{}/webhooks/{}", config.server.listen, source.name);
            print!("curl -sS -X POST '{url}' -H 'content-type: application/json'");
            for (name, value) in headers {
                print!(" -H '{name}: {value}'");
            }
            println!(" --data-binary @'{}'", args.body.display());
        }
    }
    Ok(())
}
