//! provisiond itself, measured in separate processes: ingest (a receiver fills the queue),
//! processing (a worker drains that backlog) and deprovision latency (one `--role all`
//! process under open-loop terminations).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::time::Instant;

use super::child::{Launch, Provisiond};
use super::cpu;
use super::load::{ClosedLoop, CpuProbe, LoadClient, Sent};
use super::payload::{Employee, Senders};
use super::report;
use super::stats::{self, Latency};
use crate::startup::Role;

/// How often the bench looks at the database while it waits for provisiond.
const POLL: Duration = Duration::from_millis(200);

/// Ingest: `receivers` processes `serve --role receiver` (nothing consumes), each on a
/// port of its own, and unique signed webhooks posted at fixed concurrency, connection *i*
/// to receiver *i mod receivers*. Everything accepted stays queued for the processing
/// phase. The receivers' CPU time (all of them) is read when the window opens and when it
/// closes. Returns the run and the largest peak RSS.
pub async fn ingest(
    launch: &Launch,
    http: &reqwest::Client,
    senders: Arc<Senders>,
    receivers: usize,
    concurrency: usize,
    window: (Duration, Duration),
) -> anyhow::Result<(ClosedLoop, u64)> {
    let (warmup, duration) = window;
    let mut processes = Vec::with_capacity(receivers);
    for index in 0..receivers {
        processes.push(launch.start(Role::Receiver, index)?);
    }
    for process in &mut processes {
        process.wait_ready(http).await?;
    }
    let bases = processes.iter().map(|p| p.address.clone()).collect();
    let client = LoadClient::spread(bases, concurrency)?;
    let make = move |seq| senders.hire(&senders.employee("ing", seq), seq);
    let run = client
        .closed_loop(
            concurrency,
            warmup,
            duration,
            make,
            Some(cpu_of(&processes)),
        )
        .await;
    drop(client);
    let rss = stop_all(processes).await?;
    if run.accepted == 0 {
        let error = run.first_error.clone().unwrap_or_default();
        anyhow::bail!("provisiond accepted no webhook: {error}");
    }
    Ok((run, rss))
}

/// The CPU time of some processes, summed.
fn cpu_of(processes: &[Provisiond]) -> CpuProbe {
    let pids: Vec<u32> = processes.iter().map(Provisiond::pid).collect();
    Arc::new(move || pids.iter().filter_map(|&pid| cpu::process_ns(pid)).sum())
}

/// Check that each process is still alive, then stop them all; the largest peak RSS.
async fn stop_all(mut processes: Vec<Provisiond>) -> anyhow::Result<u64> {
    for process in &mut processes {
        process.check_alive()?;
    }
    let mut rss = 0;
    for process in processes {
        rss = rss.max(process.stop().await?);
    }
    Ok(rss)
}

#[derive(Debug, Clone, Default)]
pub struct Processing {
    pub events: u64,
    pub applied: u64,
    pub per_sec: f64,
    pub span: Duration,
    /// True when the backlog was not fully drained before the deadline.
    pub incomplete: bool,
    /// The workers' CPU microseconds per event recorded (see [`processing`]).
    pub cpu_us_per_event: f64,
}

/// Processing: `workers` processes `serve --role worker` drain the backlog of `expected`
/// events together. The rate is taken from the database's own clock: events recorded over
/// the time between the first and the last one (`events.processed_at`), so process
/// start-up is not counted. So is their CPU: the workers' CPU time (summed) from the first
/// poll that sees an event to the end of the backlog, over the events recorded in between.
pub async fn processing(
    launch: &Launch,
    db: &PgPool,
    expected: u64,
    deadline: Duration,
    workers: usize,
) -> anyhow::Result<(Processing, u64)> {
    let mut processes = Vec::with_capacity(workers);
    for index in 0..workers {
        processes.push(launch.start(Role::Worker, index)?);
    }
    let cpu = cpu_of(&processes);
    // (CPU time, events recorded) when the first event is seen.
    let mut first_seen: Option<(u64, u64)> = None;
    let give_up = Instant::now() + deadline;
    let mut incomplete = false;
    loop {
        for process in &mut processes {
            process.check_alive()?;
        }
        // `max(id)` is an index lookup; the exact count (a scan) only once it may be done,
        // or when the first events appear (a small table then).
        let highest: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM events")
            .fetch_one(db)
            .await?;
        if highest.is_some() && first_seen.is_none() {
            let ns = cpu();
            let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(db)
                .await?;
            first_seen = Some((ns, count as u64));
        }
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
    let cpu_end = cpu();
    let events_end: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(db)
        .await?;
    let rss = stop_all(processes).await?;
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
    // A backlog drained before the first look: the workers' whole lives instead.
    let (cpu_start, events_start) = first_seen
        .filter(|&(_, seen)| seen < events_end as u64)
        .unwrap_or((0, 0));
    let measured = (events_end as u64).saturating_sub(events_start);
    let result = Processing {
        cpu_us_per_event: cpu::us_per(cpu_end.saturating_sub(cpu_start), measured),
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
    /// Where the slowest termination spent its time.
    pub slowest: Option<report::Slowest>,
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
    let mut app = launch.start(Role::All, 0)?;
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
        let mut worst: Option<(f64, report::Slowest)> = None;
        let first_sent = sent.first().map(|s| s.sent_at).unwrap_or_else(Utc::now);
        for (employee, sent) in employees.iter().zip(&sent) {
            if !sent.accepted {
                continue;
            }
            let key = (employee.source.clone(), employee.employee_id.clone());
            if let Some(stamps) = done.get(&key) {
                let micros = (stamps.done() - sent.sent_at).num_microseconds();
                let ms = micros.unwrap_or(0) as f64 / 1000.0;
                latencies.push(ms);
                if worst.as_ref().is_none_or(|(most, _)| ms > *most) {
                    worst = Some((ms, slowest(sent, stamps, first_sent)));
                }
            }
        }
        let latency = Latency::from_ms(latencies);
        results.push(Deprovision {
            rate,
            slowest: worst.map(|(_, slowest)| slowest),
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
async fn wait_sealed(app: &mut Provisiond, db: &PgPool) -> anyhow::Result<()> {
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
    app: &mut Provisiond,
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

/// The timestamps of one termination, from the bench (sent, answered) and from the
/// database (`events.received_at` / `published_at` / `processed_at`,
/// `inbox.inserted_at`, `accounts.deactivated_at`).
#[derive(Debug, Clone, Copy)]
struct Stamps {
    received_at: DateTime<Utc>,
    published_at: Option<DateTime<Utc>>,
    /// `inbox.inserted_at` (`now()`): when the worker's transaction began.
    began_at: Option<DateTime<Utc>>,
    processed_at: DateTime<Utc>,
    deactivated_at: DateTime<Utc>,
}

impl Stamps {
    /// When the deactivation was committed: the later of the account's and the event's
    /// times (same transaction).
    fn done(&self) -> DateTime<Utc> {
        self.deactivated_at.max(self.processed_at)
    }
}

/// The database's timestamps of each deactivated account of the phase and its termination
/// event (two plain scans; a join would be planned badly on freshly truncated tables).
async fn deactivation_times(
    db: &PgPool,
    directory: &str,
    pattern: &str,
) -> anyhow::Result<HashMap<(String, String), Stamps>> {
    let accounts: Vec<(String, String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT source, employee_id, deactivated_at FROM accounts \
         WHERE target = $1 AND employee_id LIKE $2 AND status = 'deactivated'",
    )
    .bind(directory)
    .bind(pattern)
    .fetch_all(db)
    .await?;
    type EventTimes = (
        String,
        String,
        String,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        DateTime<Utc>,
    );
    let events: Vec<EventTimes> = sqlx::query_as(
        "SELECT source, employee_id, event_id, received_at, published_at, processed_at \
         FROM events \
         WHERE employee_id LIKE $1 AND kind = 'terminated' AND outcome = 'applied'",
    )
    .bind(pattern)
    .fetch_all(db)
    .await?;
    // The inbox was emptied before the latency test: only its hires and terminations.
    let inbox: Vec<(String, String, DateTime<Utc>)> =
        sqlx::query_as("SELECT source, event_id, inserted_at FROM inbox")
            .fetch_all(db)
            .await?;
    let began: HashMap<(String, String), DateTime<Utc>> = inbox
        .into_iter()
        .map(|(source, event_id, at)| ((source, event_id), at))
        .collect();
    let deactivated: HashMap<(String, String), DateTime<Utc>> = accounts
        .into_iter()
        .filter_map(|(source, id, at)| Some(((source, id), at?)))
        .collect();
    let mut done = HashMap::new();
    for (source, id, event_id, received_at, published_at, processed_at) in events {
        let began_at = began.get(&(source.clone(), event_id)).copied();
        let key = (source, id);
        if let Some(&deactivated_at) = deactivated.get(&key) {
            let stamps = Stamps {
                received_at,
                published_at,
                began_at,
                processed_at,
                deactivated_at,
            };
            done.insert(key, stamps);
        }
    }
    Ok(done)
}

/// Where the slowest termination of a rate spent its time, in ms from the moment it was
/// sent: each step's end, so a stall shows as one large jump between two steps.
fn slowest(sent: &Sent, stamps: &Stamps, first_sent: DateTime<Utc>) -> report::Slowest {
    let ms = |at: DateTime<Utc>| {
        let micros = (at - sent.sent_at).num_microseconds().unwrap_or(0);
        stats::round(micros as f64 / 1000.0)
    };
    report::Slowest {
        sent_after_secs: stats::round(ms(first_sent).abs() / 1000.0),
        received_ms: ms(stamps.received_at),
        publish_started_ms: stamps.published_at.map(ms),
        answered_202_ms: ms(sent.answered_at),
        transaction_began_ms: stamps.began_at.map(ms),
        processed_ms: ms(stamps.processed_at),
        deactivated_ms: ms(stamps.deactivated_at),
        total_ms: ms(stamps.done()),
    }
}
