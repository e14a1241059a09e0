//! `provisiond employee show SOURCE ID`.

use clap::{Subcommand, ValueEnum};

use crate::config::Config;
use crate::services::employees;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum EmployeeCommand {
    /// Current state per target and the event trail.
    Show {
        /// The source the employee came from (its `[[sources]]` name).
        source: String,
        /// The employee's id at that source.
        employee_id: String,
        /// Output: a table or JSON.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

pub async fn run(config: Config, command: EmployeeCommand) -> anyhow::Result<()> {
    let EmployeeCommand::Show {
        source,
        employee_id,
        format,
    } = command;
    let pool = crate::store::pool(&config.database)?;
    let Some(view) = employees::load(&pool, &source, &employee_id).await? else {
        anyhow::bail!("no employee `{employee_id}` from source `{source}`");
    };
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&view)?),
        Format::Table => print_table(&view),
    }
    Ok(())
}

fn print_table(view: &employees::EmployeeView) {
    println!("{} / {}: {}", view.source, view.employee_id, view.status);
    let scheduled = [
        ("termination", &view.scheduled_termination),
        ("activation (start date)", &view.scheduled_activation),
    ];
    for (what, change) in scheduled {
        if let Some(change) = change {
            let due = change.due_at.to_rfc3339();
            println!(
                "scheduled {what}: due {due} ({})",
                printable(&change.event_id)
            );
        }
    }
    if let Some(held) = &view.held_termination {
        let (id, at) = (held.id, held.held_at.to_rfc3339());
        println!(
            "termination HELD by the mass-change guard since {at} (hold {id}): {}",
            held.reason
        );
    }
    println!("\nTARGET              STATUS       UPDATED");
    for t in &view.targets {
        println!(
            "{:<19} {:<12} {}",
            t.target,
            t.status,
            t.updated_at.to_rfc3339()
        );
    }
    println!("\nEVENT                                     KIND        OUTCOME    OCCURRED");
    for e in &view.events {
        let kind = e.kind.as_deref().unwrap_or("-");
        let occurred = e.occurred_at.map_or("-".into(), |t| t.to_rfc3339());
        let skew = if e.clock_skew { "  (clock skew)" } else { "" };
        println!(
            "{:<41} {:<11} {:<10} {occurred}{skew}",
            printable(&e.event_id),
            kind,
            e.outcome
        );
    }
    if view.actions.is_empty() {
        return;
    }
    println!();
    println!(
        "ACTION EVENT                              TARGET              ACTION      STATUS      ATT"
    );
    for a in &view.actions {
        println!(
            "{:<41} {:<19} {:<11} {:<11} {:>3}  {}",
            printable(&a.event_id),
            a.target,
            a.action,
            a.status,
            a.attempts,
            printable(a.error.as_deref().unwrap_or(""))
        );
    }
}

/// Sender- and target-controlled text without control characters, so it cannot drive
/// the operator's terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
