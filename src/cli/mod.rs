//! The command line: one module per command.

mod audit;
mod bench;
mod db;
mod dlq;
mod employee;
mod hold;
mod openapi;
mod reconcile;
mod rules;
mod sign;
mod sources;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::startup::{Application, Role};

#[derive(Debug, Parser)]
#[command(
    name = "provisiond",
    version,
    about = "HRIS webhooks in, access changes out"
)]
pub struct Cli {
    /// Configuration file (TOML). Every key can be overridden by PROVISIOND__SECTION__KEY.
    #[arg(long, global = true, env = "PROVISIOND_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the receiver and/or the worker pool (applies migrations first).
    Serve {
        /// Which half to run: `all` (receiver and workers), `receiver` (webhooks and the
        /// admin API only) or `worker` (the queue consumers and schedulers only).
        #[arg(long, value_enum, default_value = "all")]
        role: Role,
    },
    /// Create the database if needed and apply migrations.
    Migrate,
    /// Least privilege: the runtime role's grants, and the owner's maintenance.
    Db {
        #[command(subcommand)]
        command: db::DbCommand,
    },
    /// Deprovision latency report and audit log verification.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// The dead-letter log: list, show, replay and discard.
    Dlq {
        #[command(subcommand)]
        command: dlq::DlqCommand,
    },
    /// Inspect employees.
    Employee {
        #[command(subcommand)]
        command: employee::EmployeeCommand,
    },
    /// Try the provisioning rules on a sample event.
    Rules {
        #[command(subcommand)]
        command: rules::RulesCommand,
    },
    /// Compare a source with its sender's employee list; publish what differs.
    Reconcile(reconcile::ReconcileArgs),
    /// Terminations held by the mass-change guard: list, release, reject.
    Hold {
        #[command(subcommand)]
        command: hold::HoldCommand,
    },
    /// Print the headers a sender would send for a body (for testing by hand with curl).
    Sign(sign::SignArgs),
    /// The configured webhook sources and the verification tokens they received.
    Sources(sources::SourcesArgs),
    /// Measure provisiond against this machine's own ceilings (own database and queues).
    Bench(bench::BenchArgs),
    /// Print the OpenAPI 3.1 document of the HTTP interface (needs no configuration).
    Openapi,
}

impl Cli {
    /// `info` for the service, `warn` for one-shot commands whose output is the point.
    pub fn default_log_level(&self) -> &'static str {
        match self.command {
            Command::Serve { .. } | Command::Migrate => "info",
            _ => "warn",
        }
    }
}

impl Command {
    /// Commands that read or write PostgreSQL as soon as they start (`serve` and
    /// `migrate` connect on their own terms; `db grants` and `rules` only print).
    fn reads_database(&self) -> bool {
        matches!(
            self,
            Command::Db {
                command: db::DbCommand::Prune { .. }
            } | Command::Audit { .. }
                | Command::Dlq { .. }
                | Command::Employee { .. }
                | Command::Reconcile(_)
                | Command::Hold { .. }
                | Command::Sources(_)
        )
    }
}

/// Run the parsed command; the process exit code is 0 on `Ok`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Openapi = cli.command {
        return openapi::run();
    }
    if matches!(cli.command, Command::Serve { .. }) && cli.config.is_none() {
        refuse_serve_without_configuration(std::env::vars().map(|(name, _)| name))?;
    }
    if let Command::Audit { command } = &cli.command {
        command.check_arguments()?;
    }
    let config = Config::load(cli.config.as_deref())?;
    if cli.command.reads_database() {
        // One clear message (host, port, database, user, why) instead of a pool timeout.
        crate::store::check(&config.database).await?;
    }
    match cli.command {
        Command::Serve { role } => serve(config, role).await,
        Command::Migrate => migrate(config).await,
        Command::Db { command } => db::run(config, command).await,
        Command::Audit { command } => audit::run(config, command).await,
        Command::Dlq { command } => dlq::run(config, command).await,
        Command::Employee { command } => employee::run(config, command).await,
        Command::Rules { command } => rules::run(&config, &command),
        Command::Reconcile(args) => reconcile::run(config, args).await,
        Command::Hold { command } => hold::run(config, command).await,
        Command::Sign(args) => sign::run(&config, &args),
        Command::Sources(args) => sources::run(config, &args).await,
        Command::Bench(args) => bench::run(cli.config.as_deref(), &args).await,
        Command::Openapi => openapi::run(),
    }
}

async fn serve(config: Config, role: Role) -> anyhow::Result<()> {
    let app = Application::build(config, role).await?;
    app.run(shutdown_signal()).await
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let pool = crate::store::connect(&config.database).await?;
    crate::store::migrate(&pool).await?;
    println!("migrations applied");
    Ok(())
}

/// `serve` needs a configuration: a file (`--config`, `PROVISIOND_CONFIG`) or at least
/// one `PROVISIOND__…` variable (a container's environment). Started with neither, it
/// would run on built-in defaults with no source, answering 404 to every webhook.
fn refuse_serve_without_configuration(
    mut variables: impl Iterator<Item = String>,
) -> anyhow::Result<()> {
    if variables.any(|name| name.starts_with(crate::config::ENV_PREFIX)) {
        return Ok(());
    }
    anyhow::bail!(
        "serve needs a configuration: pass --config FILE (or set PROVISIOND_CONFIG), or set \
         PROVISIOND__SECTION__KEY environment variables; see provisiond.example.toml"
    )
}

/// An error and its causes on one line, each cause once: a cause whose text its wrapper
/// already ends with (`while executing migrations: pool timed out…` over `pool timed
/// out…`) is not printed again.
pub fn report(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// `$USER`, else `$LOGNAME`, else `unknown`: who runs an operator's command.
fn os_user() -> String {
    let names = ["USER", "LOGNAME"]
        .into_iter()
        .filter_map(|v| std::env::var(v).ok());
    let mut names = names.map(|name| name.trim().to_owned());
    names
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

#[cfg(test)]
mod tests;
