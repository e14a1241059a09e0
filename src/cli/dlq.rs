//! `provisiond dlq list|show|replay|discard`: the dead-letter log from the command line,
//! through the same queries as the admin API (`--format json` prints the same JSON).

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::employee::Format;
use crate::config::Config;
use crate::queue::{Endpoints, MessageKey, Publisher, Topology};
use crate::services::dead_letters::{self as ops, Detail, Filter, Status, Summary};
use crate::services::since::parse_since;
use crate::store::dead_letters::Reason;
use crate::store::{jobs, Actor};

/// How long `dlq replay` waits for the broker before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Dead letters, newest first.
    List {
        /// Only dead letters of this source.
        #[arg(long)]
        source: Option<String>,
        /// permanent_error, attempts_exhausted, delivery_limit or unparseable.
        #[arg(long, value_parser = reason_arg)]
        reason: Option<Reason>,
        /// dead, replayed or discarded.
        #[arg(long, value_parser = status_arg)]
        status: Option<Status>,
        /// Dead-lettered since: an RFC 3339 time or a duration ago (30d, 2h, 15m).
        #[arg(long, value_parser = since_arg)]
        since: Option<DateTime<Utc>>,
        /// At most this many, newest first.
        #[arg(long, default_value_t = ops::DEFAULT_LIMIT,
              value_parser = clap::value_parser!(i64).range(1..=ops::MAX_LIMIT))]
        limit: i64,
        /// Output: a table or JSON.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// One dead letter with its body, headers, error chain and actions.
    Show {
        /// The dead letter's id (from `dlq list`).
        id: i64,
        /// Output: a table or JSON.
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
    },
    /// Republish dead letters as they were received, with a fresh attempt count.
    Replay(ReplayArgs),
    /// Mark a dead letter as not to be replayed.
    Discard {
        /// The dead letter's id (from `dlq list`).
        id: i64,
        /// Why (recorded with the actor).
        #[arg(long)]
        reason: String,
        /// Who is acting (default: the OS user).
        #[arg(long)]
        actor: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The ids to replay (any status but discarded). Or select dead ones with a filter.
    #[arg(conflicts_with_all = ["all", "source", "reason", "since"])]
    pub ids: Vec<i64>,
    /// Every dead letter whose status is `dead`.
    #[arg(long, conflicts_with_all = ["source", "reason", "since"])]
    pub all: bool,
    /// Dead ones from this source.
    #[arg(long)]
    pub source: Option<String>,
    /// Dead ones with this reason.
    #[arg(long, value_parser = reason_arg)]
    pub reason: Option<Reason>,
    /// Dead ones dead-lettered since (RFC 3339 or a duration ago: 30d, 2h, 15m).
    #[arg(long, value_parser = since_arg)]
    pub since: Option<DateTime<Utc>>,
    /// Needed for a bulk replay (`--all` or a filter).
    #[arg(long)]
    pub yes: bool,
    /// Who is acting (default: the OS user).
    #[arg(long)]
    pub actor: Option<String>,
}

pub async fn run(config: Config, command: DlqCommand) -> anyhow::Result<()> {
    let pool = crate::store::pool(&config.database)?;
    match command {
        DlqCommand::List {
            source,
            reason,
            status,
            since,
            limit,
            format,
        } => {
            let filter = Filter {
                source,
                reason,
                status,
                since,
                limit: Some(limit),
            };
            let rows = ops::list(&pool, &filter).await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                Format::Table => print_list(&rows),
            }
        }
        DlqCommand::Show { id, format } => {
            let Some(detail) = ops::get(&pool, id).await? else {
                anyhow::bail!("no dead letter with id {id}");
            };
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&detail)?),
                Format::Table => print_detail(&detail),
            }
        }
        DlqCommand::Replay(args) => replay(&config, &pool, args).await?,
        DlqCommand::Discard { id, reason, actor } => {
            let actor = Actor::named(actor.unwrap_or_else(super::os_user));
            ops::discard(&pool, id, &actor, &reason).await?;
            println!("discarded dead letter {id}");
        }
    }
    Ok(())
}

async fn replay(config: &Config, pool: &PgPool, args: ReplayArgs) -> anyhow::Result<()> {
    let actor = Actor::named(args.actor.clone().unwrap_or_else(super::os_user));
    let bulk = args.ids.is_empty();
    let filter_request = serde_json::json!({
        "all": args.all,
        "source": args.source,
        "reason": args.reason.map(Reason::as_str),
        "since": args.since,
    });
    let ids = if bulk {
        if !args.all && args.source.is_none() && args.reason.is_none() && args.since.is_none() {
            anyhow::bail!("give dead-letter ids, or --all, --source, --reason or --since");
        }
        let filter = Filter {
            source: args.source.clone(),
            reason: args.reason,
            since: args.since,
            ..Filter::default()
        };
        let ids = ops::dead_ids(pool, &filter).await?;
        if ids.is_empty() {
            println!("no dead letters match; replayed 0");
            return Ok(());
        }
        if !args.yes {
            anyhow::bail!(
                "{} would be replayed; run again with --yes to replay them",
                count(ids.len())
            );
        }
        ids
    } else {
        args.ids
    };

    let key = MessageKey::for_config(config)?;
    let token = CancellationToken::new();
    let topology = Topology::for_config(config);
    let rabbitmq = &config.rabbitmq;
    let url = Endpoints::new(rabbitmq.broker_urls());
    let (publisher, task) =
        Publisher::start(url, topology, rabbitmq.confirm_timeout, key, token.clone());
    let replayed = async {
        publisher
            .wait_connected(CONNECT_TIMEOUT)
            .await
            .context("cannot reach the broker")?;
        let replayed = if bulk {
            replay_job(pool, &publisher, &ids, &actor, &filter_request).await?
        } else {
            ops::replay(pool, &publisher, &ids, &actor).await?
        };
        anyhow::Ok(replayed)
    }
    .await;
    token.cancel();
    let _ = task.await;
    let replayed = replayed?;
    let list: Vec<String> = replayed.iter().map(i64::to_string).collect();
    if list.is_empty() {
        println!("replayed 0");
    } else {
        println!("replayed {}: {}", count(list.len()), list.join(", "));
    }
    Ok(())
}

/// A bulk replay as a job (visible at `GET /admin/jobs/{id}` too), with a progress bar
/// on a terminal's stderr. Returns the ids replayed.
async fn replay_job(
    pool: &PgPool,
    publisher: &Publisher,
    ids: &[i64],
    actor: &Actor,
    request: &serde_json::Value,
) -> anyhow::Result<Vec<i64>> {
    let ids = ops::distinct(ids);
    let ids = ids.as_slice();
    let job = jobs::create(pool, jobs::DEAD_LETTER_REPLAY, actor, request, ids.len()).await?;
    let bar = indicatif::ProgressBar::new(ids.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("job {msg} [{bar:40}] {pos}/{len} {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(job.to_string());
    let mut shown = |done: usize| bar.set_position(done as u64);
    let run = ops::run_replay_job(pool, publisher, job, ids, true, actor, &mut shown).await;
    bar.finish_and_clear();
    run?;
    let finished = jobs::get(pool, job).await?.context("the job row is gone")?;
    eprintln!(
        "job {job}: {} ({} of {} done, {} skipped)",
        finished.status, finished.done, finished.total, finished.skipped
    );
    Ok(finished.replayed)
}

fn count(n: usize) -> String {
    match n {
        1 => "1 dead letter".to_owned(),
        n => format!("{n} dead letters"),
    }
}

fn reason_arg(text: &str) -> Result<Reason, String> {
    ops::parse_reason(text)
}

fn status_arg(text: &str) -> Result<Status, String> {
    text.parse()
}

fn since_arg(text: &str) -> Result<DateTime<Utc>, String> {
    parse_since(text, Utc::now())
}

/// At most `width` characters, with `…` when cut.
fn cut(text: &str, width: usize) -> String {
    let text = text.replace('\n', " ");
    if text.chars().count() <= width {
        return text;
    }
    let kept: String = text.chars().take(width.saturating_sub(1)).collect();
    format!("{kept}…")
}

fn print_list(rows: &[Summary]) {
    println!(
        "{:<7} {:<10} {:<28} {:<16} {:<11} {:<18} {:<9} {:>4} {:>4}  {:<20} LAST ERROR",
        "ID",
        "SOURCE",
        "EVENT",
        "EMPLOYEE",
        "KIND",
        "REASON",
        "STATUS",
        "ATT",
        "REPL",
        "DEAD-LETTERED"
    );
    for row in rows {
        println!(
            "{:<7} {:<10} {:<28} {:<16} {:<11} {:<18} {:<9} {:>4} {:>4}  {:<20} {}",
            row.id,
            cut(&row.source, 10),
            cut(&row.event_id, 28),
            cut(row.employee_id.as_deref().unwrap_or("-"), 16),
            cut(row.kind.as_deref().unwrap_or("-"), 11),
            row.reason,
            row.status,
            row.attempts,
            row.replay_count,
            row.dead_lettered_at.format("%Y-%m-%d %H:%M:%SZ"),
            cut(&row.last_error, 60),
        );
    }
}

fn print_detail(detail: &Detail) {
    let s = &detail.summary;
    let time = |t: Option<DateTime<Utc>>| t.map_or("-".to_owned(), |t| t.to_rfc3339());
    println!("dead letter {}: {} ({})", s.id, s.status, s.reason);
    println!("  source           {} ({})", s.source, detail.source_kind);
    println!("  event            {}", s.event_id);
    let employee = s.employee_id.as_deref().unwrap_or("-");
    println!("  employee         {employee}");
    println!("  kind             {}", s.kind.as_deref().unwrap_or("-"));
    println!("  attempts         {}", s.attempts);
    println!("  replays          {}", s.replay_count);
    println!("  first received   {}", s.first_received_at.to_rfc3339());
    println!("  first failed     {}", time(detail.first_failed_at));
    println!("  dead-lettered    {}", s.dead_lettered_at.to_rfc3339());
    println!("  last error       {}", s.last_error);
    let chain = detail.error_chain.as_array().map_or(&[][..], Vec::as_slice);
    for (n, cause) in chain.iter().enumerate() {
        let text = cause
            .as_str()
            .map_or_else(|| cause.to_string(), str::to_owned);
        let label = if n == 0 { "error chain" } else { "" };
        println!("  {label:<16} {text}");
    }
    println!("\nACTION          ACTOR            AT                                 REASON");
    for a in &detail.actions {
        println!(
            "{:<15} {:<16} {:<34} {}",
            a.action,
            cut(&a.actor, 16),
            a.at.to_rfc3339(),
            a.reason.as_deref().unwrap_or("-")
        );
    }
    println!("\nheaders: {}", detail.headers);
    println!("body ({}):\n{}", detail.body_encoding, detail.body);
}
