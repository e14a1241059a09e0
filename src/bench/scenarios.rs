//! provisiond itself, measured in separate processes: ingest (a receiver fills the queue),
//! processing (a worker drains that backlog) and deprovision latency (one `--role all`
//! process under open-loop terminations).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::time::Instant;

use super::child::Launch;
use super::load::{ClosedLoop, LoadClient};
use super::payload::{Employee, Senders};
use super::stats::{self, Latency};
use crate::startup::Role;

/// How often the bench looks at the database while it waits for provisiond.
const POLL: Duration = Duration::from_millis(200);

/// Ingest: `serve --role receiver` (nothing consumes), unique signed webhooks posted at
/// fixed concurrency. Everything accepted stays queued for the processing phase.
pub async fn ingest(
    launch: &Launch,
    http: &reqwest::Client,
    senders: Arc<Senders>,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<(ClosedLoop, u64)> {
    let mut receiver = launch.start(Role::Receiver)?;
    receiver.wait_ready(http).await?;
    let client = LoadClient::new(receiver.address.clone(), concurrency)?;
    let make = move |seq| senders.hire(&senders.employee("ing", seq), seq);
    let run = client
        .closed_loop(concurrency, warmup, duration, make)
        .await;
    drop(client);
    receiver.check_alive()?;
    let rss = receiver.stop().await?;
    if run.accepted == 0 {
        let error = run.first_error.clone().unwrap_or_default();
        anyhow::bail!("provisiond accepted no webhook: {error}");
    }
    Ok((run, rss))
}

#[derive(Debug, Clone, Default)]
pub struct Processing {
    pub events: u64,
    pub applied: u64,
    pub per_sec: f64,
    pub span: Duration,
    /// True when the backlog was not fully drained before the deadline.
    pub incomplete: bool,
}

/// Processing: `serve --role worker` drains the backlog of `expected` events. The rate is
/// taken from the database's own clock: events recorded over the time between the first
/// and the last one (`events.processed_at`), so process start-up is not counted.
pub async fn processing(
    launch: &Launch,
    db: &PgPool,
    expected: u64,
    deadline: Duration,
) -> anyhow::Result<(Processing, u64)> {
    let mut worker = launch.start(Role::Worker)?;
    let give_up = Instant::now() + deadline;
    let mut incomplete = false;
    loop {
        worker.check_alive()?;
        // `max(id)` is an index lookup; the exact count (a scan) only once it may be done.
        let highest: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM events")
            .fetch_one(db)
            .await?;
        if highest.unwrap_or(0) as u64 >= expected {
            let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(db)
                .await?;
            if count as u64 >= expected {
                break;
            }
        }
        if Instant::now() >= give_up {
            incomplete = true;
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let rss = worker.stop().await?;
    let (events, applied, first, last): (i64, i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE outcome = 'applied'), \
             min(processed_at), max(processed_at) FROM events",
        )
        .fetch_one(db)
        .await?;
    let span = match (first, last) {
        (Some(first), Some(last)) => (last - first).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    };
    let result = Processing {
        events: events as u64,
        applied: applied as u64,
        per_sec: stats::rate((applied as u64).saturating_sub(1), span),
        span,
        incomplete,
    };
    Ok((result, rss))
}

#[derive(Debug, Clone, Default)]
pub struct Deprovision {
    pub rate: u32,
    pub latency: Latency,
    /// Terminations sent, and answered 202.
    pub sent: usize,
    pub accepted: usize,
    /// Accepted terminations not applied before the deadline.
    pub missing: usize,
    /// Hires that had to be created first.
    pub hired: usize,
}

/// What the deprovision test runs.
#[derive(Debug, Clone)]
pub struct DeprovisionPlan<'a> {
    /// The directory target's name (rows of `accounts`).
    pub directory: &'a str,
    /// Concurrency of the hiring that comes first.
    pub concurrency: usize,
    pub rates: &'a [u32],
    /// How long terminations arrive at each rate.
    pub per_rate: Duration,
}

/// Deprovision latency: one `serve --role all` process. For each rate, hire `rate × secs`
/// employees (closed loop) and wait until their accounts are active; then send their
/// terminations open loop at `rate` per second, each timed from the moment it is sent
/// until its account is deactivated (the later of `accounts.deactivated_at` and the
/// event's `processed_at`, both written in the transaction that commits the change).
pub async fn deprovision(
    launch: &Launch,
    http: &reqwest::Client,
    db: &PgPool,
    senders: Arc<Senders>,
    plan: &DeprovisionPlan<'_>,
) -> anyhow::Result<(Vec<Deprovision>, u64)> {
    let (directory, concurrency, per_rate) = (plan.directory, plan.concurrency, plan.per_rate);
    // The processing phase left tens of thousands of fresh rows: vacuum and analyze them
    // now rather than let autovacuum do it in the middle of the measurement.
    let tables = "inbox, employees, accounts, events, audit_log";
    sqlx::query(&format!("VACUUM (ANALYZE) {tables}"))
        .execute(db)
        .await?;
    let mut app = launch.start(Role::All)?;
    app.wait_ready(http).await?;
    let client = LoadClient::new(app.address.clone(), concurrency)?;
    let mut results = Vec::new();
    for &rate in plan.rates {
        let count = (f64::from(rate) * per_rate.as_secs_f64()).round().max(1.0) as u64;
        let phase = format!("dep{rate}");
        let hiring = senders.clone();
        let hire_phase = phase.clone();
        let make = move |seq| hiring.hire(&hiring.employee(&hire_phase, seq), seq);
        let hires = client.fixed_count(concurrency, count, make).await;
        let employees: Vec<Employee> = hires
            .succeeded
            .iter()
            .map(|&seq| senders.employee(&phase, seq))
            .collect();
        let pattern = format!("{phase}-%");
        let hired = employees.len();
        wait_accounts(&mut app, db, directory, &pattern, "active", hired).await?;
        // Measure the steady state, not the audit sealer catching up with the backlog
        // that the hires and the processing phase left unsealed.
        wait_sealed(&mut app, db).await?;

        let requests = employees
            .iter()
            .enumerate()
            .map(|(i, e)| senders.terminate(e, i as u64))
            .collect();
        let sent = client.open_loop(rate, requests).await;
        let accepted = sent.iter().filter(|s| s.accepted).count();
        let waited = wait_accounts(&mut app, db, directory, &pattern, "deactivated", accepted);
        waited.await?;
        let done = deactivation_times(db, directory, &pattern).await?;
        let mut latencies = Vec::with_capacity(accepted);
        for (employee, sent) in employees.iter().zip(&sent) {
            if !sent.accepted {
                continue;
            }
            let key = (employee.source.clone(), employee.employee_id.clone());
            if let Some(at) = done.get(&key) {
                let ms = (*at - sent.sent_at).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                latencies.push(ms);
            }
        }
        let latency = Latency::from_ms(latencies);
        results.push(Deprovision {
            rate,
            missing: accepted.saturating_sub(latency.count),
            latency,
            sent: sent.len(),
            accepted,
            hired,
        });
    }
    drop(client);
    app.check_alive()?;
    let rss = app.stop().await?;
    Ok((results, rss))
}

/// Wait until `expected` accounts of the phase have `status` (at most a minute after
/// progress stops).
/// Wait until every audit log row is sealed (or a minute passes: then measure anyway).
async fn wait_sealed(app: &mut super::child::Provisiond, db: &PgPool) -> anyhow::Result<()> {
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        app.check_alive()?;
        let unsealed: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM audit_log WHERE seq IS NULL)")
                .fetch_one(db)
                .await?;
        if !unsealed {
            return Ok(());
        }
        if Instant::now() >= give_up {
            tracing::warn!("the audit log is still being sealed; measuring anyway");
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn wait_accounts(
    app: &mut super::child::Provisiond,
    db: &PgPool,
    directory: &str,
    pattern: &str,
    status: &str,
    expected: usize,
) -> anyhow::Result<()> {
    let mut last = -1i64;
    let mut progress = Instant::now();
    loop {
        app.check_alive()?;
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM accounts WHERE target = $1 AND employee_id LIKE $2 AND status = $3",
        )
        .bind(directory)
        .bind(pattern)
        .bind(status)
        .fetch_one(db)
        .await?;
        if count as usize >= expected {
            return Ok(());
        }
        if count != last {
            last = count;
            progress = Instant::now();
        } else if progress.elapsed() > Duration::from_secs(60) {
            tracing::warn!(
                status,
                count,
                expected,
                "accounts stopped changing; giving up"
            );
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// When each deactivated account of the phase was committed: the later of its
/// `deactivated_at` and its termination event's `processed_at` (two plain scans; a join
/// would be planned badly on freshly truncated tables).
async fn deactivation_times(
    db: &PgPool,
    directory: &str,
    pattern: &str,
) -> anyhow::Result<HashMap<(String, String), DateTime<Utc>>> {
    let accounts: Vec<(String, String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT source, employee_id, deactivated_at FROM accounts \
         WHERE target = $1 AND employee_id LIKE $2 AND status = 'deactivated'",
    )
    .bind(directory)
    .bind(pattern)
    .fetch_all(db)
    .await?;
    let events: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT source, employee_id, processed_at FROM events \
         WHERE employee_id LIKE $1 AND kind = 'terminated' AND outcome = 'applied'",
    )
    .bind(pattern)
    .fetch_all(db)
    .await?;
    let mut done: HashMap<(String, String), DateTime<Utc>> = accounts
        .into_iter()
        .filter_map(|(source, id, at)| Some(((source, id), at?)))
        .collect();
    for (source, id, at) in events {
        if let Some(current) = done.get_mut(&(source, id)) {
            *current = (*current).max(at);
        }
    }
    Ok(done)
}
